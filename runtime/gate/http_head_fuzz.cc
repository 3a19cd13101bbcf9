// libFuzzer target: the HTTP head reader fed in random-sized chunks, against the one-shot parse.
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "gate/http_head.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

// The first byte seeds the chunk sizes and picks the head limit; the rest is the client's bytes.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acctl::gate;
  if (size == 0) return 0;
  uint32_t state = data[0] * 2654435761u + 1;
  const size_t limit = (data[0] & 1) ? 256 : kDefaultMaxHeadBytes;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  const HttpHeadParse whole = parse_http_head(stream, limit);
  HttpHeadReader reader(limit);
  HttpHeadParse chunked;
  size_t received = 0;
  while (chunked.status == HttpHeadStatus::kNeedMore && received < stream.size()) {
    state = state * 1103515245u + 12345u;
    received = std::min(stream.size(), received + 1 + (state >> 16) % 64);
    chunked = reader.scan(stream.substr(0, received));
  }
  check(chunked.status == whole.status);
  check(chunked.reason == whole.reason);

  if (whole.status == HttpHeadStatus::kComplete) {
    const HttpRequestHead& head = whole.head;
    check(head.length <= stream.size() && head.length <= limit);
    check(stream.substr(0, head.length).ends_with("\r\n\r\n"));
    check(head.method == chunked.head.method && head.target == chunked.head.target);
    check(head.fields.size() == chunked.head.fields.size());
    for (const HttpHeaderField& field : head.fields) {
      for (char c : field.value) check(c != '\r' && c != '\n' && c != '\0');
    }
    // The head alone parses the same; what follows it does not matter.
    const HttpHeadParse alone = parse_http_head(stream.substr(0, head.length), limit);
    check(alone.status == HttpHeadStatus::kComplete && alone.head.target == head.target);
    auto destination = request_destination(head, 80);
    if (auto* where = std::get_if<HostPort>(&destination)) {
      check(!where->host.empty() && where->port != 0);
      check(where->host.find('@') == std::string::npos);
    }
  }
  return 0;
}
