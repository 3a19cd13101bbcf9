// WrapperSystem's system calls: see real_system.h.
#include "vault-wrapper/real_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/syscall.h"

namespace acctl::wrapper {

namespace {

int64_t monotonic_ms() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

sigset_t supervised_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) sigaddset(&set, sig);
  return set;
}

}  // namespace

Status RealSystem::connect(const std::string& socket) {
  started_ms_ = monotonic_ms();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path)
    return Error{0, "connect " + socket + ": the path is too long for a socket"};
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  auto fd = open_socket(AF_UNIX, SOCK_STREAM);
  if (!fd) return fd.error();
  // Bounds connect (a daemon whose backlog is full) and the send.
  timeval tv{kTimeoutMs / 1000, (kTimeoutMs % 1000) * 1000};
  if (auto s = check(::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv),
                     "setsockopt SO_SNDTIMEO");
      !s)
    return s;
  // No handler is installed while connecting, so EINTR cannot happen; a retried connect would
  // be wrong anyway (the first one goes on in the background).
  if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error("connect " + socket, errno);
  vault_ = std::move(*fd);
  return ok_status();
}

Result<vault::Message> RealSystem::exchange(const vault::Message& request, int timeout_ms) {
  if (!vault_) return Error{0, "not connected"};
  if (auto s = vault::send_message(vault_.get(), request); !s) return s.error();
  const int64_t left = started_ms_ + timeout_ms - monotonic_ms();
  if (left <= 0) {
    Error e{0, "no reply within " + std::to_string(timeout_ms) + " ms"};
    e.timed_out = true;
    return e;
  }
  auto reply = vault::receive_message(vault_.get(), static_cast<int>(left));
  vault_.reset();
  return reply;
}

Result<std::string> RealSystem::read_stdin(size_t max) {
  std::string buffer(max, '\0');
  for (;;) {
    const ssize_t n = ::read(0, buffer.data(), buffer.size());
    if (n >= 0) {
      buffer.resize(static_cast<size_t>(n));
      return buffer;
    }
    if (errno != EINTR) return sys_error("read stdin", errno);
  }
}

Status RealSystem::write_stdout(std::string_view bytes) {
  if (auto w = write_all(1, bytes); !w) return w.error().within("stdout");
  return ok_status();
}

bool RealSystem::is_executable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

Result<std::string> RealSystem::make_private_dir(const std::string& base,
                                                 const std::string& prefix) {
  std::string path = base + "/" + prefix + "XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) return sys_error("mkdtemp " + path, errno);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return sys_error("lstat " + path, errno);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0700) {
    (void)::rmdir(path.c_str());
    return Error{0, path + " is not a private folder of uid " + std::to_string(::geteuid())};
  }
  return path;
}

Status RealSystem::write_new_file(const std::string& path, std::string_view content) {
  auto fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd) return fd.error();
  if (auto w = write_all(fd->get(), content); !w) return w.error().within(path);
  if (auto c = fd->close(); !c) return c.error().within("close " + path);
  return ok_status();
}

Result<std::vector<DirEntry>> RealSystem::list_dir(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!fd) return fd.error();
  DIR* d = ::fdopendir(fd->get());
  if (d == nullptr) return sys_error("fdopendir " + dir, errno);
  const int dfd = fd->release();  // closedir owns it now
  std::vector<DirEntry> out;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) return sys_error("readdir " + dir, err);
      return out;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      ::closedir(d);
      return sys_error("lstat " + dir + "/" + name, err);
    }
    out.push_back({name, S_ISDIR(st.st_mode)});
  }
}

Status RealSystem::unlink(const std::string& path) {
  return check(::unlink(path.c_str()), "unlink " + path);
}

Status RealSystem::rmdir(const std::string& path) {
  return check(::rmdir(path.c_str()), "rmdir " + path);
}

Status RealSystem::block_signals() {
  const sigset_t set = supervised_signals();
  const int rc = ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return rc == 0 ? ok_status() : Status(sys_error("sigprocmask", errno));
}

Result<pid_t> RealSystem::spawn(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env) {
  // Built before fork: the child only makes system calls.
  std::vector<char*> a = exec_strings(argv), e = exec_strings(env);
  const std::string failed = "acctl vault: cannot run " + argv[0] + ": ";
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);  // main() ignores it; the CLI expects the default
    ::execve(a[0], a.data(), e.data());
    const int err = errno;
    (void)!::write(2, failed.data(), failed.size());
    const char* why = ::strerror(err);
    (void)!::write(2, why, ::strlen(why));
    (void)!::write(2, "\n", 1);
    ::_exit(err == ENOENT ? kExitNotInstalled : 126);
  }
  return pid;
}

Result<Signal> RealSystem::wait_signal() {
  const sigset_t set = supervised_signals();
  for (;;) {
    siginfo_t info;
    const int sig = ::sigwaitinfo(&set, &info);
    if (sig >= 0) return Signal{sig, info.si_code == SI_KERNEL};
    if (errno != EINTR) return sys_error("sigwaitinfo", errno);
  }
}

Result<std::optional<int>> RealSystem::reap(pid_t pid) {
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done < 0) return sys_error("waitpid", errno);
  if (done == 0) return std::optional<int>();
  return std::optional<int>(status);
}

void RealSystem::send(pid_t pid, int sig) {
  ::kill(pid, sig);
}

void RealSystem::say(std::string_view line) {
  std::string l(line);
  l += "\n";
  (void)write_all(2, l);
}

}  // namespace acctl::wrapper
