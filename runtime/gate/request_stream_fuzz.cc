// libFuzzer target: the request framer fed whole and in random-sized chunks must forward the same
// bytes and refuse for the same reason; what it forwards is never more than it was given.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gate/request_stream.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

using acctl::gate::BodyFraming;
using acctl::gate::HttpRequestHead;
using acctl::gate::RequestStream;

std::optional<std::string> judge(const HttpRequestHead& head, std::string& bytes) {
  check(bytes.size() == head.length);
  if (head.host() != "a") return std::string("other host");
  return std::nullopt;
}

struct Outcome {
  std::string forwarded;
  std::string refusal;
};

Outcome run(std::string_view stream, BodyFraming first, uint32_t seed) {
  RequestStream s("", 0, first, judge, 512);
  Outcome out;
  size_t given = 0;
  while (given < stream.size()) {
    size_t step = stream.size() - given;
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;
      step = std::min(step, size_t{1} + (seed >> 16) % 64);
    }
    s.append(stream.substr(given, step));
    given += step;
    const bool ok = s.advance();
    out.forwarded += s.forwardable();
    s.consumed(s.forwardable().size());
    check(out.forwarded.size() <= given);
    if (!ok) break;
  }
  out.refusal = s.refusal();
  return out;
}

}  // namespace

// The first byte picks the first request's framing and seeds the chunk sizes.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  BodyFraming first;
  switch (data[0] % 3) {
    case 0:
      break;
    case 1:
      first.kind = BodyFraming::Kind::kLength;
      first.length = data[0] / 3;
      break;
    case 2:
      first.kind = BodyFraming::Kind::kChunked;
      break;
  }
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = run(stream, first, 0);
  const Outcome pieces = run(stream, first, data[0] * 2654435761u + 1);
  // Either way the same bytes are forwarded and the stream is refused or not; the reason's
  // wording may differ (an oversized head is seen as too large sooner or later).
  check(whole.forwarded == pieces.forwarded);
  check(whole.refusal.empty() == pieces.refusal.empty());
  return 0;
}
