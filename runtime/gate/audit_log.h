// The audit log: one JSON line per gate decision, for people and tools reviewing egress.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace acctl::gate {

struct AuditRecord {
  std::string sandbox;   // from the config's sandboxes map, "" when unknown
  std::string client;    // client IP
  std::string protocol;  // dns, http, tls, connect, proxy-http
  std::string name;      // as normalised for the decision; may be an IP literal as sent
  uint16_t port = 0;     // destination port (0 for dns)
  std::string resolved;  // the address dialled, "" when none
  bool allowed = false;
  std::string reason;
  uint64_t bytes_up = 0;    // client → upstream
  uint64_t bytes_down = 0;  // upstream → client
  std::chrono::milliseconds duration{0};
  uint16_t qtype = 0;  // dns only
};

// RFC 3339 UTC with milliseconds: "2026-11-30T12:00:00.123Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point time);

// One line of JSON, newline included.
std::string format_audit_line(const AuditRecord& record,
                              std::chrono::system_clock::time_point time);

// Appends lines to a file (or stdout for "-"), flushed per line so a crash loses nothing.
class AuditLog {
 public:
  AuditLog() = default;
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens `path` for appending; on failure keeps the current destination and says why.
  std::optional<std::string> open(const std::string& path);
  void write(const AuditRecord& record, std::chrono::system_clock::time_point time);
  const std::string& path() const { return path_; }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace acctl::gate
