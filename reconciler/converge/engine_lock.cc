// flock(2)-based engine locks.
#include "converge/engine_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "converge/desired.h"

namespace acctl {

std::string EngineLock::lock_dir() {
  if (const char* d = std::getenv("ACCTL_LOCK_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/run/lock/acctl";
  return "/tmp/acctl-" + std::to_string(::geteuid());
}

std::optional<EngineLock> EngineLock::acquire(const std::string& endpoint,
                                              std::chrono::milliseconds timeout,
                                              const std::function<void(int)>& on_wait,
                                              std::string& error) {
  const std::string dir = lock_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create lock folder " + dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    error = "lock folder " + dir + " is not a folder owned by this user";
    return std::nullopt;
  }
  const std::string path = dir + "/" + short_hash(endpoint) + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = "cannot open lock " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  EngineLock lock(fd);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool told = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      error = "cannot lock " + path + ": " + std::strerror(errno);
      return std::nullopt;
    }
    if (!told && on_wait) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      on_wait(n > 0 ? std::atoi(buf) : 0);
      told = true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      error = "another acctl has held the lock for " + endpoint + " longer than the timeout";
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
