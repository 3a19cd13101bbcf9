// acctl's command line: one function per subcommand, each returning the process exit status.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/endpoint.h"
#include "engine/engine_api.h"

namespace acctl {

class System;

// Exit statuses scripts can rely on.
enum ExitStatus : int {
  kExitOk = 0,
  kExitInvalid = 1,  // manifests have errors (validate), or changes pending (diff)
  kExitUsage = 2,    // bad command line, an engine or internal error
};

struct CliEnv {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  std::string self_path;  // the running binary, to find the project's blueprints
  // Opens an engine connection; tests hand in a fake. Unset: the libcurl client.
  std::function<Result<std::shared_ptr<engine::EngineApi>>(const engine::EngineOptions&)>
      connect_engine;
  bool terminal = false;  // stdout is a terminal: progress shows steps as they start
  // The environment, clock and sleep; nullptr: the real machine's.
  const System* system = nullptr;
};

int run_cli(const std::vector<std::string>& args, CliEnv& env);

}  // namespace acctl
