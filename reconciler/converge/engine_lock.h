// A machine-wide lock per engine endpoint, so concurrent acctl runs take turns.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "common/result.h"
#include "converge/system.h"

namespace acctl {

// Held while planning and executing against one engine. Backed by flock(2), so a killed acctl
// releases it with its file descriptor: there is no stale lock to clean up.
class EngineLock {
 public:
  // Blocks until the lock for `endpoint` (a file in `dir`) is free or `timeout` passes.
  // `on_wait` is called once if the lock is busy, with the holder's pid when known. Errors: the
  // timeout, or a lock file that cannot be opened.
  static Result<EngineLock> acquire(const std::string& endpoint, const std::string& dir,
                                    std::chrono::milliseconds timeout,
                                    const std::function<void(int holder_pid)>& on_wait,
                                    const System& system);
  EngineLock(EngineLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  EngineLock& operator=(EngineLock&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  EngineLock(const EngineLock&) = delete;
  ~EngineLock();

  // Where lock files live: $ACCTL_LOCK_DIR, else /run/lock/acctl as root, else /tmp/acctl-<uid>.
  static std::string default_dir(const System& system);

 private:
  explicit EngineLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace acctl
