// Request framing on a plain-HTTP connection: see request_stream.h.
#include "gate/request_stream.h"

#include <algorithm>
#include <cctype>

#include "common/ascii.h"
#include "netpolicy/domain.h"

namespace acctl::gate {

namespace {

// Longest chunk-size line (with extensions) accepted.
constexpr size_t kMaxChunkLine = 4096;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated list items of every field named `name`, lower-cased and trimmed.
std::vector<std::string> list_items(const HttpRequestHead& head, std::string_view name) {
  std::vector<std::string> out;
  for (const HttpHeaderField& f : head.fields) {
    if (!ascii_iequals(f.name, name)) continue;
    std::string_view v = f.value;
    while (true) {
      const size_t comma = v.find(',');
      const std::string_view item = trim(v.substr(0, comma));
      out.push_back(ascii_lower(item));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

}  // namespace

std::variant<BodyFraming, std::string> request_body_framing(const HttpRequestHead& head) {
  BodyFraming f;
  const std::vector<std::string> codings = list_items(head, "transfer-encoding");
  const std::vector<std::string> lengths = list_items(head, "content-length");
  const std::vector<std::string> connection = list_items(head, "connection");
  const bool has_upgrade =
      std::any_of(head.fields.begin(), head.fields.end(),
                  [](const HttpHeaderField& h) { return ascii_iequals(h.name, "upgrade"); });
  f.upgrade =
      has_upgrade && std::find(connection.begin(), connection.end(), "upgrade") != connection.end();
  if (!codings.empty()) {
    if (!lengths.empty()) return std::string("Transfer-Encoding and Content-Length together");
    if (codings.back() != "chunked") return std::string("Transfer-Encoding without chunked last");
    f.kind = BodyFraming::Kind::kChunked;
    return f;
  }
  if (lengths.empty()) return f;
  for (const std::string& l : lengths) {
    if (l.empty() || l.size() > 18 ||
        !std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::string("Content-Length is not a decimal number");
    if (l != lengths.front()) return std::string("Content-Length values differ");
  }
  f.kind = BodyFraming::Kind::kLength;
  f.length = std::stoull(lengths.front());
  return f;
}

LaterRequest judge_later_request(const HttpRequestHead& head, std::string& bytes, bool proxy,
                                 uint16_t http_port, const std::string& name, uint16_t port) {
  LaterRequest out;
  uint16_t default_port = http_port;
  if (proxy) {
    if (head.form != TargetForm::kAbsolute) {
      out.refusal = "not-a-proxy-request";
      return out;
    }
    auto line = origin_form_line(head);
    if (auto* refusal = std::get_if<std::string>(&line)) {
      out.refusal = *refusal;
      return out;
    }
    // Origin-form upstream, as for the first request.
    bytes.replace(0, bytes.find("\r\n"), std::get<OriginFormLine>(line).line);
    default_port = 80;
  }
  auto destination = request_destination(head, default_port);
  if (auto* error = std::get_if<std::string>(&destination)) {
    const bool mismatch = error->find("does not match") != std::string::npos;
    out.refusal = (mismatch ? "host-mismatch: " : "bad-destination: ") + *error;
    return out;
  }
  const HostPort& target = std::get<HostPort>(destination);
  out.host = target.host;
  out.port = target.port;
  const std::string normal =
      netpolicy::normalize_name(ascii_lower(target.host)).value_or(ascii_lower(target.host));
  if (normal != name || target.port != port) {
    out.refusal = "another-host-on-keep-alive: " + target.host + ":" + std::to_string(target.port) +
                  " on a connection to " + name + ":" + std::to_string(port);
  }
  return out;
}

RequestStream::RequestStream(std::string received, size_t head_len, BodyFraming first, Judge judge,
                             size_t max_head_bytes)
    : buffer_(std::move(received)),
      cleared_(std::min(head_len, buffer_.size())),
      judge_(std::move(judge)),
      max_head_bytes_(max_head_bytes),
      reader_(max_head_bytes) {
  start_request(first);
}

void RequestStream::append(std::string_view bytes) {
  buffer_.append(bytes);
}

void RequestStream::consumed(size_t n) {
  n = std::min(n, cleared_);
  buffer_.erase(0, n);
  cleared_ -= n;
}

bool RequestStream::fail(std::string reason) {
  refusal_ = std::move(reason);
  return false;
}

// One request's head is through: its body comes next (or the next head, or opaque bytes).
bool RequestStream::start_request(const BodyFraming& framing) {
  upgrade_after_ = framing.upgrade;
  switch (framing.kind) {
    case BodyFraming::Kind::kNone:
      state_ = upgrade_after_ ? State::kOpaque : State::kHead;
      break;
    case BodyFraming::Kind::kLength:
      remaining_ = framing.length;
      state_ = remaining_ > 0 ? State::kLength : upgrade_after_ ? State::kOpaque : State::kHead;
      break;
    case BodyFraming::Kind::kChunked:
      state_ = State::kChunkSize;
      break;
  }
  return true;
}

bool RequestStream::advance() {
  if (!refusal_.empty()) return false;
  while (true) {
    const size_t before = cleared_;
    const State state_before = state_;
    switch (state_) {
      case State::kOpaque:
        cleared_ = buffer_.size();
        break;
      case State::kLength:
      case State::kChunkData: {
        const uint64_t take = std::min<uint64_t>(remaining_, buffer_.size() - cleared_);
        cleared_ += static_cast<size_t>(take);
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = state_ == State::kChunkData ? State::kChunkDataEnd
                   : upgrade_after_            ? State::kOpaque
                                               : State::kHead;
        }
        break;
      }
      case State::kChunkSize:
      case State::kChunkDataEnd:
      case State::kTrailers:
        if (!advance_chunked()) return false;
        break;
      case State::kHead: {
        if (cleared_ == buffer_.size()) break;
        const std::string_view rest = std::string_view(buffer_).substr(cleared_);
        // The incremental reader: a head arriving a byte at a time costs linear work. (It says
        // kTooLarge itself once the limit is reached without a head end.)
        const HttpHeadParse parse = reader_.scan(rest);
        if (parse.status == HttpHeadStatus::kNeedMore) break;
        if (parse.status != HttpHeadStatus::kComplete)
          return fail("malformed-request: " + parse.reason);
        reader_ = HttpHeadReader(max_head_bytes_);  // the next head starts afresh
        std::string bytes(rest.substr(0, parse.head.length));
        if (auto refused = judge_(parse.head, bytes)) return fail(*refused);
        auto framing = request_body_framing(parse.head);
        if (auto* error = std::get_if<std::string>(&framing)) return fail("bad-framing: " + *error);
        buffer_.replace(cleared_, parse.head.length, bytes);
        cleared_ += bytes.size();
        ++later_;
        start_request(std::get<BodyFraming>(framing));
        break;
      }
    }
    if (cleared_ == before && state_ == state_before) return true;
  }
}

// The framing lines of a chunked body: sizes, the CRLF after each chunk, the trailers.
bool RequestStream::advance_chunked() {
  const std::string_view rest = std::string_view(buffer_).substr(cleared_);
  if (state_ == State::kChunkDataEnd) {
    if (rest.size() < 2) return true;
    if (rest.substr(0, 2) != "\r\n") return fail("bad-framing: a chunk does not end in CRLF");
    cleared_ += 2;
    state_ = State::kChunkSize;
    return true;
  }
  const size_t eol = rest.find("\r\n");
  const size_t limit = state_ == State::kChunkSize ? kMaxChunkLine : max_head_bytes_;
  if (eol == std::string_view::npos) {
    // (A CR last may be the start of the CRLF: it is not part of the line.)
    const size_t have = !rest.empty() && rest.back() == '\r' ? rest.size() - 1 : rest.size();
    if (have > limit) return fail("bad-framing: a chunk line is too long");
    // A bare LF or CR would be read differently by the upstream; a CR last may be half a CRLF.
    const size_t cr = rest.find('\r');
    if (rest.find('\n') != std::string_view::npos ||
        (cr != std::string_view::npos && cr + 1 < rest.size()))
      return fail("bad-framing: a bare CR or LF in a chunk line");
    return true;
  }
  const std::string_view line = rest.substr(0, eol);
  if (line.size() > limit) return fail("bad-framing: a chunk line is too long");
  if (line.find_first_of("\r\n") != std::string_view::npos)
    return fail("bad-framing: a bare CR or LF in a chunk line");
  if (state_ == State::kTrailers) {
    cleared_ += eol + 2;
    if (line.empty()) state_ = upgrade_after_ ? State::kOpaque : State::kHead;
    return true;
  }
  // chunk-size [; extensions]
  size_t digits = 0;
  uint64_t size = 0;
  while (digits < line.size() && std::isxdigit(static_cast<unsigned char>(line[digits]))) {
    if (digits == 15) return fail("bad-framing: a chunk size is too large");
    const char c = ascii_lower(line[digits]);
    size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++digits;
  }
  if (digits == 0) return fail("bad-framing: a chunk size is not hexadecimal");
  std::string_view tail = line.substr(digits);
  while (!tail.empty() && (tail.front() == ' ' || tail.front() == '\t')) tail.remove_prefix(1);
  if (!tail.empty() && tail.front() != ';')
    return fail("bad-framing: a chunk size is followed by something other than an extension");
  cleared_ += eol + 2;
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return true;
}

}  // namespace acctl::gate
