// The ac-gate service: binds the configured listeners and runs the event loop until told to stop.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "gate/clock.h"
#include "gate/gate_config.h"

namespace acctl::gate {

class GateService;  // private to gate_server.cc

class GateServer {
 public:
  // Opens the audit log, creates the resolver and binds every listener; returns every problem
  // instead when any of these fails. `config_path` is what SIGHUP and POST /reload re-read.
  static std::variant<std::unique_ptr<GateServer>, std::vector<std::string>> start(
      GateConfig config, std::string config_path, const Clock& clock);
  ~GateServer();

  // Serves until SIGTERM or SIGINT.
  void run();

 private:
  explicit GateServer(std::unique_ptr<GateService> service);
  std::unique_ptr<GateService> service_;
};

}  // namespace acctl::gate
