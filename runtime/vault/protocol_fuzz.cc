// libFuzzer target: FrameReader fed whole and in random-sized pieces (never more than it wants)
// must return the same messages and fail the same way; a payload that decodes re-encodes to the
// same bytes and passes validate().
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "vault/protocol.h"

namespace {

using acctl::vault::FrameReader;
using acctl::vault::Message;

void check(bool condition) {
  if (!condition) std::abort();
}

struct Outcome {
  std::vector<Message> messages;
  std::string error;
};

// seed 0: everything at once; otherwise pieces of 1..64 bytes, cut to what the reader wants.
Outcome run(std::string_view stream, uint32_t seed) {
  FrameReader reader;
  Outcome out;
  size_t given = 0;
  while (true) {
    auto next = reader.next();
    if (!next) {
      out.error = next.error().message;
      return out;
    }
    if (*next) {
      check(acctl::vault::validate(**next).ok());
      out.messages.push_back(std::move(**next));
      continue;
    }
    if (given == stream.size()) return out;
    size_t step = stream.size() - given;
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;
      step = std::min({step, size_t{1} + (seed >> 16) % 64, reader.wanted()});
      check(step > 0);
    }
    reader.feed(stream.substr(given, step));
    given += step;
    check(reader.buffered() <= given);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const uint32_t seed = size > 0 ? data[0] * 2654435761u + 1 : 1;
  const Outcome whole = run(bytes, 0);
  const Outcome pieces = run(bytes, seed);
  check(whole.error == pieces.error);
  check(whole.messages.size() == pieces.messages.size());
  for (size_t i = 0; i < whole.messages.size(); ++i)
    check(whole.messages[i].fields == pieces.messages[i].fields);

  // The bytes as one payload: what decodes re-encodes exactly, and frames back to itself.
  auto decoded = acctl::vault::decode_payload(bytes);
  if (decoded) {
    check(acctl::vault::validate(*decoded).ok());
    check(acctl::vault::encode_payload(*decoded) == bytes);
    const Outcome framed = run(acctl::vault::encode(*decoded), seed);
    check(framed.error.empty() && framed.messages.size() == 1);
    check(framed.messages[0].fields == decoded->fields);
  }
  return 0;
}
