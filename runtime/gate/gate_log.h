// ac-gate's operational log (stderr; stdout may be the audit log), without spdlog in sight.
#pragma once

#include <string_view>

namespace acctl::gate {

// Makes the "ac-gate" stderr logger the default; once, before the first line.
void init_gate_log();

void log_info(std::string_view line);
void log_warn(std::string_view line);
void log_error(std::string_view line);

}  // namespace acctl::gate
