// init-guard's entry point: see guard.h.
#include <string>
#include <vector>

#include "init-guard/guard.h"
#include "init-guard/real_system.h"

extern char** environ;

int main(int argc, char** argv) {
  acctl::guard::RealSystem sys;
  auto options = acctl::guard::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  if (!options) {
    sys.say(options.error().message);
    return acctl::guard::kExitGuardFailed;
  }
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return acctl::guard::run(sys, *options, env);
}
