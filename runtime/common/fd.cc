// UniqueFd: the one place the runtime closes descriptors it owns.
#include "common/fd.h"

#include <unistd.h>

#include <cerrno>

namespace acctl {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

Status UniqueFd::close() {
  if (fd_ < 0) return ok_status();
  const int fd = release();
  // EINTR still released the descriptor (Linux): retrying could close someone else's.
  if (::close(fd) != 0 && errno != EINTR) return sys_error("close", errno);
  return ok_status();
}

}  // namespace acctl
