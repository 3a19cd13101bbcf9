// The checked system-call helpers: every failure becomes sys_error with the call's errno.
#include "common/syscall.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace acctl {

Status check(int rc, std::string_view what) {
  if (rc == -1) return sys_error(what, errno);
  return ok_status();
}

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return sys_error("open " + path, errno);
  return UniqueFd(fd);
}

Result<size_t> read_full(int fd, void* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, static_cast<char*>(data) + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read", errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<std::string> read_all(int fd) {
  std::string out;
  char buffer[16 * 1024];
  while (true) {
    auto n = read_full(fd, buffer, sizeof buffer);
    if (!n) return n.error();
    out.append(buffer, *n);
    if (*n < sizeof buffer) return out;
  }
}

Status write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write", errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return ok_status();
}

Result<Pipe> make_pipe(int flags) {
  int fds[2];
  if (::pipe2(fds, flags | O_CLOEXEC) != 0) return sys_error("pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<UniqueFd> open_socket(int domain, int type, int protocol) {
  const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return sys_error("socket", errno);
  return UniqueFd(fd);
}

Result<std::pair<UniqueFd, UniqueFd>> socket_pair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0)
    return sys_error("socketpair", errno);
  return std::pair<UniqueFd, UniqueFd>(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

std::vector<char*> exec_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace acctl
