// flock(2)-based engine locks.
#include "converge/engine_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/hash.h"

namespace acctl {

std::string EngineLock::default_dir(const System& system) {
  if (auto d = system.env("ACCTL_LOCK_DIR")) return *d;
  if (::geteuid() == 0) return "/run/lock/acctl";
  return "/tmp/acctl-" + std::to_string(::geteuid());
}

Result<EngineLock> EngineLock::acquire(const std::string& endpoint, const std::string& dir,
                                       std::chrono::milliseconds timeout,
                                       const std::function<void(int)>& on_wait,
                                       const System& system) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return sys_error("cannot create lock folder " + dir, errno);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
    return Error{0, "lock folder " + dir + " is not a folder owned by this user"};
  const std::string path = dir + "/" + short_hash(endpoint) + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return sys_error("cannot open lock " + path, errno);
  EngineLock lock(fd);
  const auto deadline = system.now() + timeout;
  bool told = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return sys_error("cannot lock " + path, errno);
    if (!told && on_wait) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      on_wait(n > 0 ? std::atoi(buf) : 0);
      told = true;
    }
    if (system.now() >= deadline) {
      Error e{0, "another acctl has held the lock for " + endpoint + " longer than the timeout"};
      e.timed_out = true;
      return e;
    }
    system.sleep_for(std::chrono::milliseconds(50));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;  // the pid is only a hint for the next waiter
  }
  return lock;
}

EngineLock::~EngineLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace acctl
