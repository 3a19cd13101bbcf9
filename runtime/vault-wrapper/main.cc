// ac-vault's entry point: see wrapper.h.
#include <csignal>
#include <string>
#include <vector>

#include "vault-wrapper/real_system.h"
#include "vault-wrapper/wrapper.h"

extern char** environ;

int main(int argc, char** argv) {
  // git may close its end of our stdout early: a failed write is then an error we report.
  std::signal(SIGPIPE, SIG_IGN);
  acctl::wrapper::RealSystem sys;
  auto invocation = acctl::wrapper::parse_invocation(std::vector<std::string>(argv, argv + argc));
  if (!invocation) {
    sys.say("acctl vault: " + invocation.error().message);
    return acctl::wrapper::kExitUsage;
  }
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return acctl::wrapper::run(sys, *invocation, env);
}
