// The audit log: one JSON line per gate decision, for people and tools reviewing egress.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "gate/rate_limiter.h"

namespace acctl::gate {

// Longest name and reason an audit line carries; longer ones are cut and say how much was cut
// ("…[+65280 bytes]"), so a client cannot fill the log with one request.
inline constexpr size_t kAuditMaxName = 256;
inline constexpr size_t kAuditMaxReason = 512;

struct AuditRecord {
  std::string sandbox;   // from the config's sandboxes map, "" when unknown
  std::string policy;    // the sandbox's EgressPolicy, "" when unknown
  std::string client;    // client IP
  std::string protocol;  // dns, http, tls, connect, proxy-http
  std::string name;      // as normalised for the decision; may be an IP literal as sent
  uint16_t port = 0;     // destination port (0 for dns)
  std::string resolved;  // the address dialled, "" when none
  bool allowed = false;
  std::string reason;
  std::string to_allow;     // a refusal by policy: what would allow it ("" when nothing can)
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
// The same line, appended to `out` (the log's hot path: no allocation once `out` has grown).
void append_audit_line(const AuditRecord& record, std::chrono::system_clock::time_point time,
                       std::string& out);

// Refusals per client, rate-limited so that a flood cannot wipe the log (rotation would drop the
// lines before it): each client may log `burst` refusals at once and `per_second` after that;
// the rest are counted, and the count is reported with the client's next line that goes through.
// Allowed decisions always go through (connection caps and the DNS rate bound them).
class AuditThrottle {
 public:
  using TimePoint = TokenBucket::TimePoint;
  AuditThrottle(double per_second = 20, double burst = 200) : rate_(per_second), burst_(burst) {}

  struct Verdict {
    bool write = true;
    uint64_t suppressed_before = 0;  // to report first, when write
  };
  Verdict admit(const std::string& client, bool allowed, TimePoint now);
  uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  struct Client {
    TokenBucket bucket;
    uint64_t suppressed = 0;
  };
  double rate_;
  double burst_;
  std::unordered_map<std::string, Client> clients_;
  uint64_t suppressed_total_ = 0;
  uint64_t admitted_since_sweep_ = 0;
};

// Appends lines to a file (or stdout for "-") in batches. Without a scheduler every line is
// flushed as it is written. With one, lines are buffered: the scheduler is called when the first
// line of a batch is buffered, and its owner calls flush() once the work at hand is done (the
// gate posts it to its event loop, so a batch is what one turn of the loop decided). A batch is
// also written when it reaches kFlushBytes, when the file is reopened and on destruction. Lines
// are written whole and in order; a crash loses at most the current batch (a few milliseconds).
class AuditLog {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;

  explicit AuditLog(std::function<void()> schedule_flush = {})
      : schedule_flush_(std::move(schedule_flush)) {}
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens `path` for appending (after flushing what is buffered for the current file); on
  // failure keeps the current destination and says why.
  std::optional<std::string> open(const std::string& path);
  void write(const AuditRecord& record, std::chrono::system_clock::time_point time);
  // Writes out what is buffered.
  void flush();
  size_t buffered() const { return pending_.size(); }
  // Lines the file refused (a full disk, a closed pipe): counted, shown in /metrics.
  uint64_t write_errors() const { return write_errors_; }
  // The last write failed, and none has succeeded since (a full disk, a closed pipe).
  bool failing() const { return failing_; }
  const std::string& path() const { return path_; }

 private:
  std::function<void()> schedule_flush_;
  std::FILE* file_ = nullptr;
  std::string path_;
  std::string pending_;  // complete lines not yet handed to the file
  uint64_t write_errors_ = 0;
  bool failing_ = false;
};

}  // namespace acctl::gate
