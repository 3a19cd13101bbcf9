// HTTP/1.x request heads as the gate reads them: strict, incremental, size-limited (RFC 9112).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace acctl::gate {

inline constexpr size_t kDefaultMaxHeadBytes = 32 * 1024;
inline constexpr size_t kMaxHeaderFields = 128;

enum class TargetForm {
  kOrigin,     // "/path?query"
  kAbsolute,   // "http://host:port/path" (explicit proxy)
  kAuthority,  // "host:port" (CONNECT only)
  kAsterisk,   // "*" (OPTIONS only)
};

struct HttpHeaderField {
  std::string name;   // as sent; compare case-insensitively
  std::string value;  // leading and trailing spaces and tabs removed
};

struct HttpRequestHead {
  std::string method;
  std::string target;
  int minor_version = 1;  // HTTP/1.0 or HTTP/1.1
  TargetForm form = TargetForm::kOrigin;
  std::vector<HttpHeaderField> fields;
  size_t length = 0;  // bytes of the head including the blank line; the body starts here

  // The single Host field's value, or nullopt when there is none.
  std::optional<std::string_view> host() const;
};

enum class HttpHeadStatus { kNeedMore, kComplete, kMalformed, kTooLarge };

struct HttpHeadParse {
  HttpHeadStatus status = HttpHeadStatus::kNeedMore;
  HttpRequestHead head;  // when kComplete
  std::string reason;    // when kMalformed or kTooLarge
};

// Reads the head from everything a client has sent so far. Lines must end in CRLF: a bare LF or
// CR anywhere in the head is refused, because the gate forwards the head unchanged and the
// upstream could split lines differently (request smuggling). obs-fold and control characters
// are refused for the same reason, as are two Host fields and an HTTP/1.1 head without one.
// Keeps how far it has looked, so feeding a head a byte at a time costs linear work.
class HttpHeadReader {
 public:
  explicit HttpHeadReader(size_t max_head_bytes = kDefaultMaxHeadBytes)
      : max_head_bytes_(max_head_bytes) {}

  // `received` must start with the bytes given to the previous call.
  HttpHeadParse scan(std::string_view received);

 private:
  size_t max_head_bytes_;
  size_t checked_ = 0;  // bytes already searched for line endings
};

// One-shot form of HttpHeadReader::scan.
HttpHeadParse parse_http_head(std::string_view received,
                              size_t max_head_bytes = kDefaultMaxHeadBytes);

struct HostPort {
  std::string host;  // without brackets for IPv6 literals; not normalised
  uint16_t port = 0;
  bool ipv6_literal = false;  // was written as "[...]"
};

// Splits an authority ("host", "host:port", "[v6]", "[v6]:port"). Userinfo ("user@host"), an
// empty host or port, port 0 or above 65535, and a bracketed part that is not an IPv6 address
// are refused. Without a port, `default_port` is used; when it is nullopt the port is required.
std::variant<HostPort, std::string> split_authority(std::string_view authority,
                                                    std::optional<uint16_t> default_port);

struct AbsoluteTarget {
  std::string scheme;  // "http" or "https", lower-cased
  HostPort authority;  // port defaults to 80 or 443 by scheme
  std::string path;    // "/" when the target has none
};

// Parses an absolute-form target; only http and https are accepted.
std::variant<AbsoluteTarget, std::string> parse_absolute_target(std::string_view target);

// The request line an origin server is sent for a proxy's absolute-form http:// request
// (RFC 9112 3.2.1: origin-form; only the line changes), without its CRLF.
struct OriginFormLine {
  std::string line;
};
// Or why it is refused: "malformed-request: ..." or "https-needs-connect" (the gate never
// originates TLS: an https:// target must come as CONNECT).
std::variant<OriginFormLine, std::string> origin_form_line(const HttpRequestHead& head);

// Where a request is headed and whether its parts agree: the target's authority for absolute
// and authority form (a Host field, if present, must name the same host and port), otherwise
// the Host field. `default_port` applies to a Host without a port in origin form.
std::variant<HostPort, std::string> request_destination(const HttpRequestHead& head,
                                                        uint16_t default_port);

}  // namespace acctl::gate
