// The client's side of a plain-HTTP connection, request by request: where each body ends and
// the next head begins (RFC 9112 section 6), so that every request head is judged before a byte
// of it goes upstream, not only the first (keep-alive would otherwise carry any Host to the
// upstream the first one chose). Pure: bytes in, forwardable bytes and decisions out.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gate/http_head.h"

namespace acctl::gate {

// How a request's body is delimited.
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength
  // The request asks to switch protocols (Upgrade): after it, the stream is no longer HTTP.
  bool upgrade = false;
};

// A request's framing, or why it is refused: Transfer-Encoding with Content-Length, a
// Transfer-Encoding whose last coding is not chunked, or a Content-Length that is not one
// decimal number are how requests are smuggled past a proxy.
std::variant<BodyFraming, std::string> request_body_framing(const HttpRequestHead& head);

// A later request on a plain-HTTP connection, judged: it must go where the first went (`name`,
// normalised, and `port`: the upstream is dialled already), in the form the listener takes
// (`proxy`: absolute-form, rewritten in `bytes` to origin-form as the first was).
struct LaterRequest {
  std::optional<std::string> refusal;  // nullopt: let through
  std::string host;                    // where it asked to go, when known
  uint16_t port = 0;
};
LaterRequest judge_later_request(const HttpRequestHead& head, std::string& bytes, bool proxy,
                                 uint16_t http_port, const std::string& name, uint16_t port);

class RequestStream {
 public:
  // Judges a later head: nullopt to let it through (it may rewrite `bytes`, the head as sent,
  // e.g. absolute-form to origin-form), else the refusal's reason.
  using Judge =
      std::function<std::optional<std::string>(const HttpRequestHead& head, std::string& bytes)>;

  // `received` holds the first head, already judged (its first `head_len` bytes, as they are to
  // be sent), and whatever followed it; `first` is that head's framing.
  RequestStream(std::string received, size_t head_len, BodyFraming first, Judge judge,
                size_t max_head_bytes = kDefaultMaxHeadBytes);

  // Adds bytes read from the client.
  void append(std::string_view bytes);
  // Moves what can be judged into the forwardable front: body bytes, and heads the judge let
  // through. False once a head was refused or the stream is malformed (see refusal()).
  bool advance();
  const std::string& refusal() const { return refusal_; }

  // Bytes cleared to go upstream, from the front.
  std::string_view forwardable() const { return std::string_view(buffer_).substr(0, cleared_); }
  void consumed(size_t n);
  // Unjudged bytes held back (a head still arriving): stop reading when it is large.
  size_t held() const { return buffer_.size() - cleared_; }
  // How many requests were judged after the first.
  uint64_t later_requests() const { return later_; }

 private:
  bool advance_body();
  bool advance_chunked();
  bool start_request(const BodyFraming& framing);
  bool fail(std::string reason);

  std::string buffer_;  // cleared bytes first, then the unjudged rest
  size_t cleared_ = 0;
  Judge judge_;
  size_t max_head_bytes_;
  HttpHeadReader reader_;  // the head after cleared_, while state_ is kHead
  std::string refusal_;
  uint64_t later_ = 0;

  enum class State { kHead, kLength, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kOpaque };
  State state_ = State::kHead;
  uint64_t remaining_ = 0;  // kLength, kChunkData
  bool upgrade_after_ = false;
};

}  // namespace acctl::gate
