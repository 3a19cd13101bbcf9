// Parsing and formatting of sizes and CPU counts.
#include "manifest/quantity.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/ascii.h"

namespace acctl {

std::variant<int64_t, std::string> parse_size(const nlohmann::json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX)
      return "invalid size: too large";
    int64_t n = value.get<int64_t>();
    if (n <= 0) return "invalid size " + value.dump() + ": must be positive";
    return n;
  }
  if (!value.is_string()) return "invalid size: expected a string like 512m or 1.5g";
  const std::string& s = value.get_ref<const std::string&>();
  const std::string bad =
      "invalid size \"" + s + "\": expected a number and a unit (b, k, m, g, t), like 512m or 1.5g";
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string_view number(s.data(), i);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      number.find('.') != number.rfind('.')) {
    return bad;
  }
  double amount = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), amount);
  if (ec != std::errc() || end != number.data() + number.size()) return bad;
  std::string unit;
  for (size_t k = i; k < s.size(); ++k) {
    char c = s[k];
    unit += ascii_lower(c);
  }
  double multiplier = 1;
  if (unit.ends_with("ib") && unit.size() == 3) unit.resize(1);
  if (unit.size() == 2 && unit[1] == 'b' && unit[0] != 'b') unit.resize(1);
  if (unit.size() == 2 && unit[1] == 'i') unit.resize(1);
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k") {
    multiplier = 1024.0;
  } else if (unit == "m") {
    multiplier = 1024.0 * 1024;
  } else if (unit == "g") {
    multiplier = 1024.0 * 1024 * 1024;
  } else if (unit == "t") {
    multiplier = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return bad;
  }
  double bytes = std::floor(amount * multiplier);
  if (bytes <= 0) return "invalid size \"" + s + "\": must be positive";
  if (bytes >= 9.2e18) return "invalid size \"" + s + "\": too large";
  return static_cast<int64_t>(bytes);
}

std::variant<double, std::string> parse_cpus(const nlohmann::json& value) {
  double cpus = 0;
  if (value.is_number()) {
    cpus = value.get<double>();
  } else if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), cpus);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      return "invalid cpus \"" + s + "\": expected a number like 2 or 0.5";
    }
  } else {
    return "invalid cpus: expected a number like 2 or 0.5";
  }
  if (!std::isfinite(cpus) || cpus <= 0) return "cpus must be positive (got " + value.dump() + ")";
  if (cpus > 1e6) return "cpus " + value.dump() + " is not a plausible CPU count";
  if (nano_cpus(cpus) < 1000000) return "cpus must be at least 0.001";
  return cpus;
}

int64_t nano_cpus(double cpus) {
  return static_cast<int64_t>(std::llround(cpus * 1e9));
}

std::string format_size(int64_t bytes) {
  static const char* kUnits[] = {"b", "k", "m", "g", "t"};
  for (int unit = 4; unit >= 1; --unit) {
    const int64_t scale = int64_t{1} << (10 * unit);
    // Use the largest unit that shows the value exactly with at most two decimals.
    if (bytes >= scale && (bytes % scale) * 100 % scale == 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g%s",
                    static_cast<double>(bytes) / static_cast<double>(scale), kUnits[unit]);
      return buf;
    }
  }
  return std::to_string(bytes) + kUnits[0];
}

std::string human_size(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes < 0 ? 0 : bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return buf;
}

}  // namespace acctl
