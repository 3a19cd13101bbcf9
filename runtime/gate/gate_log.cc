// The gate's log lines through spdlog: the one translation unit that compiles it.
#include "gate/gate_log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace acctl::gate {

void init_gate_log() {
  if (!spdlog::get("ac-gate")) spdlog::set_default_logger(spdlog::stderr_color_mt("ac-gate"));
}

void log_info(std::string_view line) {
  spdlog::info("{}", line);
}
void log_warn(std::string_view line) {
  spdlog::warn("{}", line);
}
void log_error(std::string_view line) {
  spdlog::error("{}", line);
}

}  // namespace acctl::gate
