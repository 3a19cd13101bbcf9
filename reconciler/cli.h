// acctl's command line: one function per subcommand, each returning the process exit status.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace acctl {

// Exit statuses scripts can rely on.
enum ExitStatus : int {
  kExitOk = 0,
  kExitInvalid = 1,  // manifests have errors (validate), or changes pending (diff)
  kExitUsage = 2,    // bad command line or an internal error
};

struct CliEnv {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  std::string self_path;  // the running binary, to find the project's blueprints
};

int run_cli(const std::vector<std::string>& args, CliEnv& env);

}  // namespace acctl
