// libFuzzer target: SNI extraction fed in random-sized chunks, as TCP reads would deliver it.
#include <algorithm>
#include <cstdlib>

#include "gate/tls_client_hello.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool same(const acctl::gate::ClientHelloScan& a, const acctl::gate::ClientHelloScan& b) {
  return a.status == b.status && a.sni == b.sni && a.reason == b.reason &&
         a.offers_ech == b.offers_ech;
}

}  // namespace

// The first byte seeds the chunk sizes; the rest is what the client sent.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acctl::gate;
  if (size == 0) return 0;
  uint32_t state = data[0] * 2654435761u + 1;
  const std::span<const uint8_t> stream(data + 1, size - 1);
  const ClientHelloScan whole = scan_client_hello(stream);
  check(whole.status != ClientHelloStatus::kSni || !whole.sni.empty());
  check(whole.status == ClientHelloStatus::kSni || whole.sni.empty());
  check(whole.status != ClientHelloStatus::kNotTls || !whole.reason.empty());
  check(whole.status != ClientHelloStatus::kMalformed || !whole.reason.empty());

  // Prefix stability: NeedMore until a verdict, then that same verdict for every longer prefix.
  bool decided = false;
  ClientHelloScan first;
  size_t received = 0;
  while (received < stream.size()) {
    state = state * 1103515245u + 12345u;
    const size_t chunk = 1 + (state >> 16) % 64;
    received = std::min(stream.size(), received + chunk);
    const ClientHelloScan now = scan_client_hello(stream.first(received));
    if (!decided) {
      if (now.status != ClientHelloStatus::kNeedMore) {
        decided = true;
        first = now;
      }
    } else {
      check(same(now, first));
    }
  }
  if (decided)
    check(same(whole, first));
  else
    check(whole.status == ClientHelloStatus::kNeedMore);
  return 0;
}
