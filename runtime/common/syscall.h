// Checked system calls for the runtime binaries: results as Result/Status, EINTR retried.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace acctl {

// ok when `rc` is not -1; otherwise sys_error(what, errno). For calls with nothing to retry:
// check(::fchmod(fd, 0600), "fchmod " + path).
Status check(int rc, std::string_view what);

// open(2) with O_CLOEXEC added; the error names the path.
Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode = 0);

// Reads until `size` bytes or end of file; returns how many were read (less than `size` only
// at end of file). EINTR is retried; EAGAIN on a non-blocking descriptor is an error.
Result<size_t> read_full(int fd, void* data, size_t size);

// Reads everything up to end of file.
Result<std::string> read_all(int fd);

// Writes all of `bytes`, continuing after short writes and EINTR. A pipe or socket whose reader
// is gone fails with EPIPE only where SIGPIPE is ignored; otherwise the signal ends the process.
Status write_all(int fd, std::string_view bytes);

// Both ends close-on-exec.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
// pipe2(2) with O_CLOEXEC plus `flags` (e.g. O_NONBLOCK).
Result<Pipe> make_pipe(int flags = 0);

// socket(2) with SOCK_CLOEXEC added to `type`.
Result<UniqueFd> open_socket(int domain, int type, int protocol = 0);

// socketpair(2) (AF_UNIX) with SOCK_CLOEXEC added to `type`.
Result<std::pair<UniqueFd, UniqueFd>> socket_pair(int type);

// argv/envp for exec*(): pointers into `v` (which must outlive them), then a null.
std::vector<char*> exec_strings(const std::vector<std::string>& v);

}  // namespace acctl
