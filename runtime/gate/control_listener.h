// The control port: /healthz, /metrics, POST /reload, for the operator and never for sandboxes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "gate/gate_context.h"

namespace acctl::gate {

class ControlListener {
 public:
  explicit ControlListener(GateContext& gate) : gate_(gate) {}
  ~ControlListener();
  ControlListener(const ControlListener&) = delete;
  ControlListener& operator=(const ControlListener&) = delete;

  // The error reads "ADDRESS: reason".
  Status bind(const SocketAddress& address);
  void start() { accept(); }

 private:
  void accept();

  GateContext& gate_;
  UniqueFd fd_;
  std::unique_ptr<FdWatch> watch_;  // after fd_: stops watching before it closes
  std::unique_ptr<Timer> backoff_;
};

}  // namespace acctl::gate
