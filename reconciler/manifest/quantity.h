// Resource quantities as users write them: sizes ("512m", "1.5g") and CPU counts ("2", 0.5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

namespace acctl {

// Bytes from a size: an integer (bytes) or a string "<number>[b|k|m|g|t][i][b]" with binary
// multiples, as Docker reads them ("1.5g" = 1.5 × 2^30). Returns the reason on failure.
std::variant<int64_t, std::string> parse_size(const nlohmann::json& value);

// CPUs from a number or numeric string. Returns the reason on failure.
std::variant<double, std::string> parse_cpus(const nlohmann::json& value);

// The Engine API's NanoCpus for a CPU count (Docker rejects sub-nano precision).
int64_t nano_cpus(double cpus);

// "1.5g", "512m", "300k", "17b": the shortest exact form of a byte count, for plans and tables.
std::string format_size(int64_t bytes);

// For people reading sizes: "0 B", "512 B", "1.5 KiB", "129.8 MiB" (one decimal, binary units).
std::string human_size(int64_t bytes);

}  // namespace acctl
