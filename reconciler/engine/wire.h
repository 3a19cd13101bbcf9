// Wire-level pieces of the Docker Engine API that need no connection: encodings and stream
// decoders.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine_api.h"
#include "engine/result.h"

namespace acctl::engine {

// The newest API version acctl speaks and the oldest it accepts (Debian 12's dockerd is 1.41).
inline constexpr std::string_view kMaxApiVersion = "1.41";
inline constexpr std::string_view kMinApiVersion = "1.40";

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);

// Encodes one path part (an id, a name, an image reference): like url_encode but keeps the
// '/', ':' and '@' that image references contain and the engine's router expects verbatim.
std::string path_encode(std::string_view text);

using QueryParams = std::vector<std::pair<std::string, std::string>>;
// "?k=v&k2=v2" with both sides encoded, or "" when there are no parameters.
std::string query_string(const QueryParams& params);

// The engine's `filters` parameter: {"label":{"a=b":true}} (the map form every API >= 1.22 takes).
std::string filters_json(const Filters& filters);

// Compares dotted versions numerically ("1.9" < "1.41"); <0, 0, >0.
int compare_api_versions(std::string_view a, std::string_view b);

// The version to speak with a server whose newest API is `server_api`: min(server, ours), or an
// error naming both versions when the server is older than kMinApiVersion.
Result<std::string> negotiate_api_version(std::string_view server_api);

// Splits the 8-byte-header multiplexed stream of a container without a TTY into stdout/stderr.
// Bytes may arrive in chunks of any size; payload is passed on as soon as it arrives, so one
// frame can reach the callback in several pieces.
class FrameDecoder {
 public:
  using Sink = std::function<bool(LogStream, std::string_view)>;
  // Returns false when the sink asked to stop; a malformed header is reported through error().
  bool feed(std::string_view bytes, const Sink& sink);
  // True when the stream ended cleanly on a frame boundary.
  bool at_boundary() const { return !raw_ && header_len_ == 0 && remaining_ == 0; }
  const std::string& error() const { return error_; }

 private:
  unsigned char header_[8] = {};
  std::size_t header_len_ = 0;
  uint32_t remaining_ = 0;
  LogStream stream_ = LogStream::kStdout;
  bool raw_ = false;  // gave up on framing after a malformed header
  std::string error_;
};

// Cuts a byte stream into '\n'-terminated lines (JSON lines of build, import and events).
class LineSplitter {
 public:
  using Sink = std::function<bool(std::string_view line)>;
  // Returns false when the sink asked to stop.
  bool feed(std::string_view bytes, const Sink& sink);
  // Passes on a last line that had no newline.
  bool finish(const Sink& sink);

 private:
  std::string pending_;
};

// The status line and headers of an HTTP/1.1 response.
struct ResponseHead {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased; repeats joined by ", "
};

// Reads a response head off a connection that HTTP does not own afterwards (an upgraded attach):
// takes bytes in chunks of any size up to the blank line and keeps whatever followed it, which is
// already stream data.
class ResponseHeadReader {
 public:
  enum class State { kIncomplete, kComplete, kMalformed };
  static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

  // Once complete or malformed, further bytes are not looked at.
  State feed(std::string_view bytes);
  State state() const { return state_; }
  const ResponseHead& head() const { return head_; }
  // The bytes that came after the head (complete only).
  const std::string& rest() const { return rest_; }
  const std::string& error() const { return error_; }

 private:
  State parse(std::string_view head_text);

  State state_ = State::kIncomplete;
  std::string buffer_;
  std::size_t line_start_ = 0;  // where the line being scanned for '\n' begins
  ResponseHead head_;
  std::string rest_;
  std::string error_;
};

}  // namespace acctl::engine
