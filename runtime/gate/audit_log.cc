// Formats audit records as JSON lines and appends them to the audit file in batches.
#include "gate/audit_log.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace acctl::gate {
namespace {

// Bytes that JSON carries as they are: printable ASCII other than the quote and the backslash.
bool plain_json_byte(char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

// A JSON string. Names come from untrusted clients: anything beyond plain ASCII (escapes,
// UTF-8, invalid bytes) goes through nlohmann, which replaces invalid UTF-8 rather than throw.
void append_string(std::string& out, std::string_view text) {
  bool plain = true;
  for (char c : text) plain = plain && plain_json_byte(c);
  if (plain) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  out += nlohmann::json(std::string(text))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// At most `max` bytes of `text`, saying how many more there were.
void append_capped(std::string& out, std::string_view text, size_t max) {
  if (text.size() <= max) {
    append_string(out, text);
    return;
  }
  append_string(out, std::string(text.substr(0, max)) + "...[+" +
                         std::to_string(text.size() - max) + " bytes]");
}

template <typename Integer>
void append_number(std::string& out, Integer value) {
  char text[24];
  const auto result = std::to_chars(text, text + sizeof text, value);
  out.append(text, result.ptr);
}

// "YYYY-MM-DDTHH:MM:SS." for one second, kept because a busy log writes thousands of lines in it.
struct SecondPrefix {
  int64_t second = INT64_MIN;
  char text[32] = {};
  size_t length = 0;
};

void append_rfc3339_utc(std::string& out, std::chrono::system_clock::time_point time) {
  thread_local SecondPrefix cache;
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  int64_t second = ms / 1000;
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {  // before 1970: the second is the one below, as gmtime counts
    millis = 0;
  }
  if (second != cache.second) {
    const std::time_t seconds = static_cast<std::time_t>(second);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    const int n = std::snprintf(cache.text, sizeof cache.text, "%04d-%02d-%02dT%02d:%02d:%02d.",
                                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                utc.tm_min, utc.tm_sec);
    cache.length = n > 0 ? static_cast<size_t>(n) : 0;
    cache.second = second;
  }
  out.append(cache.text, cache.length);
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  std::string out;
  append_rfc3339_utc(out, time);
  return out;
}

void append_audit_line(const AuditRecord& record, std::chrono::system_clock::time_point time,
                       std::string& out) {
  out += "{\"time\":\"";
  append_rfc3339_utc(out, time);
  out += "\",\"sandbox\":";
  append_string(out, record.sandbox);
  if (!record.policy.empty()) {
    out += ",\"policy\":";
    append_string(out, record.policy);
  }
  out += ",\"client\":";
  append_string(out, record.client);
  out += ",\"protocol\":";
  append_string(out, record.protocol);
  out += ",\"name\":";
  append_capped(out, record.name, kAuditMaxName);
  out += ",\"port\":";
  append_number(out, record.port);
  if (record.protocol == "dns") {
    out += ",\"qtype\":";
    append_number(out, record.qtype);
  }
  out += ",\"resolved\":";
  append_string(out, record.resolved);
  out +=
      record.allowed ? ",\"decision\":\"allow\",\"reason\":" : ",\"decision\":\"deny\",\"reason\":";
  append_capped(out, record.reason, kAuditMaxReason);
  if (!record.to_allow.empty()) {
    out += ",\"toAllow\":";
    append_capped(out, record.to_allow, kAuditMaxReason);
  }
  out += ",\"bytesUp\":";
  append_number(out, record.bytes_up);
  out += ",\"bytesDown\":";
  append_number(out, record.bytes_down);
  out += ",\"durationMs\":";
  append_number(out, static_cast<int64_t>(record.duration.count()));
  out += "}\n";
}

std::string format_audit_line(const AuditRecord& record,
                              std::chrono::system_clock::time_point time) {
  std::string out;
  append_audit_line(record, time, out);
  return out;
}

AuditLog::~AuditLog() {
  flush();
  if (file_ != nullptr && file_ != stdout) std::fclose(file_);
}

std::optional<std::string> AuditLog::open(const std::string& path) {
  std::FILE* file = stdout;
  if (path != "-") {
    file = std::fopen(path.c_str(), "ae");
    if (file == nullptr) return "audit log " + path + ": " + std::strerror(errno);
  }
  flush();  // what was decided before the reopen belongs to the old file
  if (file_ != nullptr && file_ != stdout) std::fclose(file_);
  file_ = file;
  path_ = path;
  return std::nullopt;
}

void AuditLog::write(const AuditRecord& record, std::chrono::system_clock::time_point time) {
  if (file_ == nullptr) return;
  const bool first_of_batch = pending_.empty();
  append_audit_line(record, time, pending_);
  if (!schedule_flush_ || pending_.size() >= kFlushBytes) {
    flush();
  } else if (first_of_batch) {
    schedule_flush_();
  }
}

void AuditLog::flush() {
  if (pending_.empty()) return;
  if (file_ != nullptr) {
    const size_t written = std::fwrite(pending_.data(), 1, pending_.size(), file_);
    failing_ = written != pending_.size() || std::fflush(file_) != 0;
    if (failing_) {
      ++write_errors_;
      std::clearerr(file_);
    }
  }
  pending_.clear();
}

AuditThrottle::Verdict AuditThrottle::admit(const std::string& client, bool allowed,
                                            TimePoint now) {
  // Forget clients whose buckets are full again and who owe no report, now and then.
  if (++admitted_since_sweep_ >= 4096) {
    admitted_since_sweep_ = 0;
    for (auto it = clients_.begin(); it != clients_.end();) {
      it = it->second.suppressed == 0 && it->second.bucket.full(now) ? clients_.erase(it)
                                                                     : std::next(it);
    }
  }
  auto it = clients_.find(client);
  if (allowed) {
    if (it == clients_.end()) return {};
    Verdict v{true, it->second.suppressed};
    it->second.suppressed = 0;
    return v;
  }
  if (it == clients_.end())
    it = clients_.emplace(client, Client{TokenBucket(rate_, burst_, now), 0}).first;
  Client& c = it->second;
  if (!c.bucket.take(now)) {
    ++c.suppressed;
    ++suppressed_total_;
    return {false, 0};
  }
  Verdict v{true, c.suppressed};
  c.suppressed = 0;
  return v;
}

}  // namespace acctl::gate
