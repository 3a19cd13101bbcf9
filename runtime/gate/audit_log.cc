// Formats audit records as JSON lines (nlohmann::json) and appends them to the audit file.
#include "gate/audit_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace acctl::gate {

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  const int millis = static_cast<int>(ms.count() % 1000);
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                millis < 0 ? 0 : millis);
  return text;
}

std::string format_audit_line(const AuditRecord& record,
                              std::chrono::system_clock::time_point time) {
  nlohmann::ordered_json line;
  line["time"] = rfc3339_utc(time);
  line["sandbox"] = record.sandbox;
  line["client"] = record.client;
  line["protocol"] = record.protocol;
  line["name"] = record.name;
  line["port"] = record.port;
  if (record.protocol == "dns") line["qtype"] = record.qtype;
  line["resolved"] = record.resolved;
  line["decision"] = record.allowed ? "allow" : "deny";
  line["reason"] = record.reason;
  line["bytesUp"] = record.bytes_up;
  line["bytesDown"] = record.bytes_down;
  line["durationMs"] = record.duration.count();
  // Names come from untrusted clients: replace invalid UTF-8 rather than throw.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

AuditLog::~AuditLog() {
  if (file_ != nullptr && file_ != stdout) std::fclose(file_);
}

std::optional<std::string> AuditLog::open(const std::string& path) {
  std::FILE* file = stdout;
  if (path != "-") {
    file = std::fopen(path.c_str(), "ae");
    if (file == nullptr) return "audit log " + path + ": " + std::strerror(errno);
  }
  if (file_ != nullptr && file_ != stdout) std::fclose(file_);
  file_ = file;
  path_ = path;
  return std::nullopt;
}

void AuditLog::write(const AuditRecord& record, std::chrono::system_clock::time_point time) {
  if (file_ == nullptr) return;
  const std::string line = format_audit_line(record, time);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace acctl::gate
