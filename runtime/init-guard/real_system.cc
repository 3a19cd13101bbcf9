// GuardSystem's system calls: see real_system.h.
#include "init-guard/real_system.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "common/syscall.h"

namespace acctl::guard {

namespace {

sigset_t guarded_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2})
    sigaddset(&set, sig);
  return set;
}

}  // namespace

pid_t RealSystem::getpid() {
  return ::getpid();
}
uid_t RealSystem::geteuid() {
  return ::geteuid();
}

Status RealSystem::drop_to(uid_t uid, gid_t gid) {
  if (auto s = check(::setgroups(0, nullptr), "setgroups"); !s) return s;
  if (auto s = check(::setresgid(gid, gid, gid), "setresgid"); !s) return s;
  return check(::setresuid(uid, uid, uid), "setresuid");
}

Status RealSystem::check_dropped(uid_t uid, gid_t gid) {
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (auto c = check(::getresuid(&r, &e, &s), "getresuid"); !c) return c;
  if (auto c = check(::getresgid(&rg, &eg, &sg), "getresgid"); !c) return c;
  if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid) {
    return Error{0, "running as uid " + std::to_string(r) + "/" + std::to_string(e) + "/" +
                        std::to_string(s) + " gid " + std::to_string(rg) + "/" +
                        std::to_string(eg) + "/" + std::to_string(sg) + ", not " +
                        std::to_string(uid) + ":" + std::to_string(gid)};
  }
  const int groups = ::getgroups(0, nullptr);
  if (groups < 0) return sys_error("getgroups", errno);
  if (groups > 1) return Error{0, std::to_string(groups) + " supplementary groups are left"};
  if (groups == 1) {
    gid_t g;
    if (::getgroups(1, &g) != 1 || g != gid)
      return Error{0, "a supplementary group other than " + std::to_string(gid) + " is left"};
  }
  if (::setresuid(0, 0, 0) == 0) return Error{0, "setresuid(0) still succeeds"};
  return ok_status();
}

bool RealSystem::is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> RealSystem::read_file(const std::string& path, size_t limit) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return fd.error();
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = read_full(fd->get(), buf, sizeof buf);
    if (!n) return n.error().within(path);
    out.append(buf, *n);
    if (out.size() > limit)
      return Error{0, path + " is larger than " + std::to_string(limit) + " bytes"};
    if (*n < sizeof buf) return out;
  }
}

bool RealSystem::is_dir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status RealSystem::write_new_file(const std::string& path, const std::string& content,
                                  mode_t mode) {
  auto fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  if (!fd) return fd.error();
  if (auto w = write_all(fd->get(), content); !w) return w.error().within(path);
  if (auto c = check(::fchmod(fd->get(), mode), "fchmod " + path); !c) return c;
  return fd->close();
}

Status RealSystem::chown_dir(const std::string& path, uid_t uid, gid_t gid) {
  // Root here has no DAC_OVERRIDE, so it cannot open the agent's 0700 home to fchown it;
  // AT_SYMLINK_NOFOLLOW changes a symlink planted in its place, never what it points to.
  struct stat st;
  if (auto c = check(::lstat(path.c_str(), &st), "lstat " + path); !c) return c;
  if (!S_ISDIR(st.st_mode)) return Error{0, path + " is not a folder (a symlink is not followed)"};
  return check(::fchownat(AT_FDCWD, path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW), "chown " + path);
}

Result<pid_t> RealSystem::start_daemon(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env, int timeout_ms) {
  auto ready = make_pipe();
  if (!ready) return ready.error();
  std::vector<char*> a = exec_strings(argv), e = exec_strings(env);
  const int write_end = ready->write.get();
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // fd 3 is the ready pipe (dup2 clears close-on-exec); nothing else is inherited.
    if (::dup2(write_end, 3) < 0) ::_exit(kExitGuardFailed);
    ::execve(a[0], a.data(), e.data());
    const std::string line =
        "init-guard: cannot run " + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, line.data(), line.size());
    ::_exit(kExitCannotRun);
  }
  ready->write.reset();
  auto fail = [&](const std::string& why) -> Result<pid_t> {
    ::kill(pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return Error{0, why};
  };
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail("it did not say it listens within " + std::to_string(timeout_ms / 1000) + " s");
    struct pollfd p = {ready->read.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("poll: ") + std::strerror(errno));
    if (n == 0) continue;
    char buf[64];
    const ssize_t r = ::read(ready->read.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(std::string("read: ") + std::strerror(errno));
    if (r == 0) return fail("it exited before it listened (its message is above)");
    got.append(buf, static_cast<size_t>(r));
    if (got.size() > 32) break;
  }
  if (got != "ready\n") return fail("it said something other than ready");
  return pid;
}

Status RealSystem::block_signals() {
  const sigset_t set = guarded_signals();
  const int rc = ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return rc == 0 ? ok_status() : Status(sys_error("sigprocmask", errno));
}

Result<pid_t> RealSystem::spawn(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env) {
  // Built before fork: the child only makes system calls.
  std::vector<char*> a = exec_strings(argv), e = exec_strings(env);
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(a[0], a.data(), e.data());
    const int err = errno;
    const std::string line = "init-guard: cannot run " + argv[0] + ": " + std::strerror(err) + "\n";
    (void)!::write(2, line.data(), line.size());
    ::_exit(err == ENOENT ? kExitNotFound : kExitCannotRun);
  }
  return pid;
}

int RealSystem::exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> a = exec_strings(argv), e = exec_strings(env);
  ::execvpe(a[0], a.data(), e.data());
  return errno;
}

Result<int> RealSystem::wait_signal() {
  const sigset_t set = guarded_signals();
  for (;;) {
    const int sig = ::sigwaitinfo(&set, nullptr);
    if (sig >= 0) return sig;
    if (errno != EINTR) return sys_error("sigwaitinfo", errno);
  }
}

std::optional<std::pair<pid_t, int>> RealSystem::reap() {
  int status = 0;
  pid_t pid;
  do {
    pid = ::waitpid(-1, &status, WNOHANG);
  } while (pid < 0 && errno == EINTR);
  if (pid <= 0) return std::nullopt;
  return std::make_pair(pid, status);
}

void RealSystem::send(pid_t pid, int sig) {
  ::kill(pid, sig);
}

void RealSystem::say(std::string_view line) {
  std::string l(line);
  l += "\n";
  (void)write_all(2, l);
}

}  // namespace acctl::guard
