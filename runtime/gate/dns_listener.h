// The gate's DNS service on one address: UDP (batched) and TCP (length-prefixed) listeners.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "gate/gate_context.h"

namespace acctl::gate {

// Every question is answered by GateContext::answer_dns; nothing is forwarded upstream.
class DnsListeners {
 public:
  explicit DnsListeners(GateContext& gate) : gate_(gate) {}
  ~DnsListeners();
  DnsListeners(const DnsListeners&) = delete;
  DnsListeners& operator=(const DnsListeners&) = delete;

  // Binds UDP and TCP on `address`; each failure is one problem ("listen.dns udp ADDRESS: ...").
  void bind(const SocketAddress& address, std::vector<std::string>& problems);
  // Starts receiving and accepting.
  void start();

 private:
  void receive_udp();
  void answer_udp();
  void accept_tcp();

  GateContext& gate_;
  UniqueFd udp_;
  UniqueFd tcp_;
  // After the descriptors: they stop watching before the descriptors close.
  std::unique_ptr<FdWatch> udp_watch_;
  std::unique_ptr<FdWatch> tcp_watch_;
  std::unique_ptr<Timer> tcp_backoff_;
  std::unique_ptr<uint8_t[]> udp_buffers_;  // kDnsBatch slots of kMaxDatagram bytes
};

}  // namespace acctl::gate
