// Accepting proxied connections: batched accept4, counted against the connection caps.
#include "gate/proxy_listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "gate/gate_log.h"
#include "gate/sockets.h"

namespace acctl::gate {
namespace {

// Connections accepted per listener wakeup before other work runs.
constexpr int kAcceptBatch = 64;

const char* name_of(ProxyKind kind) {
  switch (kind) {
    case ProxyKind::kHttp:
      return "http";
    case ProxyKind::kTls:
      return "https";
    case ProxyKind::kProxy:
      return "proxy";
  }
  return "proxy";
}

}  // namespace

ProxyListener::ProxyListener(GateContext& gate, ProxyKind kind, UniqueFd fd)
    : gate_(gate),
      kind_(kind),
      name_(name_of(kind)),
      fd_(std::move(fd)),
      backoff_(gate.loop().make_timer()) {}

Result<std::unique_ptr<ProxyListener>> ProxyListener::bind(GateContext& gate, ProxyKind kind,
                                                           const SocketAddress& address) {
  auto fd = listen_tcp(address);
  if (!fd) return fd.error();
  // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt(2), not one per
  // connection. Best effort, as it was per connection.
  const int one = 1;
  ::setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::unique_ptr<ProxyListener>(new ProxyListener(gate, kind, std::move(*fd)));
}

Status ProxyListener::start() {
  if (!gate_.poller().add(fd_.get(), EPOLLIN, this, 0)) return sys_error("epoll_ctl", errno);
  return ok_status();
}

void ProxyListener::accept() {
  // Bounded, so a connection flood cannot starve the rest of the loop; the listener is
  // level-triggered, so what is left is reported again.
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    // The peer address comes with accept itself (no getpeername), the socket already
    // non-blocking (no fcntl or ioctl).
    const int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // A connection that failed before it was taken, or a signal: take the next one.
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // Usually EMFILE: back off instead of spinning on a listener that stays readable.
      log_warn("accept on " + name_ + ": " + std::strerror(errno));
      gate_.poller().modify(fd_.get(), 0, this, 0);
      backoff_->start_after(std::chrono::milliseconds(100), [this] {
        if (!gate_.poller().modify(fd_.get(), EPOLLIN, this, 0))
          log_error("accept on " + name_ + ": epoll_ctl: " + std::strerror(errno));
      });
      return;
    }
    UniqueFd client(fd);
    std::string client_ip = gate_.client_name(peer, peer_len);
    const bool slot = gate_.acquire_slot(client_ip);
    start_proxy_connection(gate_, std::move(client), kind_, std::move(client_ip), slot);
  }
}

}  // namespace acctl::gate
