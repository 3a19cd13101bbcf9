// ac-gate: the sandboxes' egress gate. Loads and checks the config, then serves until stopped.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "gate/ares_resolver.h"
#include "gate/clock.h"
#include "gate/gate_config.h"
#include "gate/gate_server.h"

namespace {

constexpr int kExitUsage = 2;

int usage() {
  std::fprintf(stderr,
               "usage: ac-gate --config FILE        serve\n"
               "       ac-gate --check-config FILE  validate FILE and exit\n");
  return kExitUsage;
}

void print_problems(const std::vector<std::string>& problems) {
  for (const std::string& problem : problems)
    std::fprintf(stderr, "ac-gate: %s\n", problem.c_str());
}

// Thousands of concurrent connections need two descriptors each.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      std::fprintf(stderr, "ac-gate: warning: cannot raise RLIMIT_NOFILE: %s\n",
                   std::strerror(errno));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return usage();
  const std::string_view mode = argv[1];
  const std::string path = argv[2];
  if (mode != "--config" && mode != "--check-config") return usage();

  auto loaded = acctl::gate::load_gate_config(path);
  if (auto* problems = std::get_if<std::vector<std::string>>(&loaded)) {
    print_problems(*problems);
    return kExitUsage;
  }
  if (mode == "--check-config") {
    std::fprintf(stderr, "ac-gate: %s: ok\n", path.c_str());
    return 0;
  }

  // Writes to a closed peer must fail with EPIPE, not kill the gate.
  std::signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();
  if (auto error = acctl::gate::ares_global_init()) {
    print_problems({*error});
    return kExitUsage;
  }
  acctl::gate::RealClock clock;
  auto server = acctl::gate::GateServer::start(std::move(std::get<acctl::gate::GateConfig>(loaded)),
                                               path, clock);
  if (auto* problems = std::get_if<std::vector<std::string>>(&server)) {
    print_problems(*problems);
    return kExitUsage;
  }
  std::get<std::unique_ptr<acctl::gate::GateServer>>(server)->run();
  return 0;
}
