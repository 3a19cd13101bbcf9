// A listening socket of the http, https or proxy listener, accepting into ProxyConnections.
#pragma once

#include <memory>
#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "gate/gate_context.h"
#include "gate/proxy_connection.h"

namespace acctl::gate {

// Lives in the ConnectionPoller level-triggered, so that a bounded accept loop leaves nothing
// behind.
class ProxyListener final : public PollTarget {
 public:
  // Binds `address`; the error reads "ADDRESS: reason".
  static Result<std::unique_ptr<ProxyListener>> bind(GateContext& gate, ProxyKind kind,
                                                     const SocketAddress& address);
  // Adds the socket to the poller; accepting starts with the poller.
  Status start();

  // "http", "https" or "proxy", as in the config's listen section.
  const std::string& name() const { return name_; }
  void on_events(uint32_t, unsigned) override { accept(); }

 private:
  ProxyListener(GateContext& gate, ProxyKind kind, UniqueFd fd);
  void accept();

  GateContext& gate_;
  ProxyKind kind_;
  std::string name_;
  UniqueFd fd_;
  std::unique_ptr<Timer> backoff_;
};

}  // namespace acctl::gate
