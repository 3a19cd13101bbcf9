// The gate's socket plumbing: addresses between netpolicy and sockaddr, listening sockets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "common/fd.h"
#include "common/result.h"
#include "gate/gate_config.h"
#include "netpolicy/address.h"

namespace acctl::gate {

// Fills `out` for `ip`:`port` and returns its length.
socklen_t to_sockaddr(const netpolicy::IpAddress& ip, uint16_t port, sockaddr_storage& out);

// The peer's address; an IPv4-mapped IPv6 peer (a dual-stack listener) is its IPv4 address.
std::optional<netpolicy::IpAddress> ip_of(const sockaddr_storage& peer, socklen_t length);

// A non-blocking TCP listener on `address` (SO_REUSEADDR, backlog 4096). Errors read
// "ADDRESS: reason".
Result<UniqueFd> listen_tcp(const SocketAddress& address);

// A non-blocking UDP socket bound to `address`; errors as listen_tcp's.
Result<UniqueFd> bind_udp(const SocketAddress& address);

}  // namespace acctl::gate
