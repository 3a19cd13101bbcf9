// Owning file descriptors for the runtime binaries: closed exactly once, close errors reportable.
#pragma once

#include "common/result.h"

namespace acctl {

// A move-only owner of one descriptor (-1: none). The destructor closes what it still owns and
// ignores the outcome; callers for whom a failed close means lost data (a written file, a
// socket whose last bytes matter) call close() and look at the Status.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives the descriptor up without closing it.
  [[nodiscard]] int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the current descriptor (ignoring the outcome) and owns `fd` instead.
  void reset(int fd = -1);
  // Closes the descriptor and says whether the kernel reported an error (EIO on a file whose
  // data could not be written, say). Either way the descriptor is gone afterwards: close(2) is
  // never retried, since on Linux the descriptor is released even when it fails. Closing an
  // empty UniqueFd is a no-op.
  Status close();

 private:
  int fd_ = -1;
};

}  // namespace acctl
