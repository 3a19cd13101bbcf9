// Socket setup for the gate's listeners, through the checked calls of runtime/common.
#include "gate/sockets.h"

#include <netinet/in.h>

#include <cstring>

#include "common/syscall.h"

namespace acctl::gate {
namespace {

Result<UniqueFd> bound_socket(const SocketAddress& address, int type) {
  sockaddr_storage storage{};
  const socklen_t length = to_sockaddr(address.ip, address.port, storage);
  auto fd = open_socket(storage.ss_family, type | SOCK_NONBLOCK);
  if (!fd) return sys_error(address.str(), fd.error().sys_errno);
  if (type == SOCK_STREAM) {
    const int one = 1;
    if (::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
      return sys_error(address.str(), errno);
  }
  if (::bind(fd->get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0)
    return sys_error(address.str(), errno);
  return fd;
}

}  // namespace

socklen_t to_sockaddr(const netpolicy::IpAddress& ip, uint16_t port, sockaddr_storage& out) {
  out = {};
  if (ip.is_v4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr, ip.bytes.data() + 12, 4);
    return sizeof *v4;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  std::memcpy(&v6->sin6_addr, ip.bytes.data(), 16);
  return sizeof *v6;
}

std::optional<netpolicy::IpAddress> ip_of(const sockaddr_storage& peer, socklen_t length) {
  netpolicy::IpAddress ip;
  if (peer.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    ip.bytes[10] = ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, &v4->sin_addr, 4);
    ip.is_v4 = true;
    return ip;
  }
  if (peer.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    std::memcpy(ip.bytes.data(), &v6->sin6_addr, 16);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    ip.is_v4 = std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0;
    return ip;
  }
  return std::nullopt;
}

Result<UniqueFd> listen_tcp(const SocketAddress& address) {
  auto fd = bound_socket(address, SOCK_STREAM);
  if (!fd) return fd;
  if (::listen(fd->get(), 4096) != 0) return sys_error(address.str(), errno);
  return fd;
}

Result<UniqueFd> bind_udp(const SocketAddress& address) {
  return bound_socket(address, SOCK_DGRAM);
}

}  // namespace acctl::gate
