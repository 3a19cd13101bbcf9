// Finds the server name (SNI) in a TLS ClientHello without terminating TLS, from partial input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace acctl::gate {

// A ClientHello may be fragmented over TLS records; each record's payload is at most 2^14 bytes.
inline constexpr size_t kMaxTlsRecordPayload = 16384;
// Post-quantum key shares make hellos of a few KiB; anything past this is refused, not buffered.
inline constexpr size_t kMaxClientHelloLength = 65536;
// Bounds the work of rescanning input that arrives as many tiny records.
inline constexpr size_t kMaxClientHelloRecords = 256;

enum class ClientHelloStatus {
  kNeedMore,   // the bytes so far are a valid prefix; read more and call again
  kSni,        // complete hello with exactly one host_name
  kNoSni,      // complete, valid hello without a server_name extension
  kNotTls,     // the stream does not start with a TLS handshake record (includes SSLv2 hellos)
  kMalformed,  // a TLS handshake record, but the hello is invalid or too large
};

struct ClientHelloScan {
  ClientHelloStatus status = ClientHelloStatus::kNeedMore;
  std::string sni;     // raw bytes of the host_name when status is kSni; normalise before use
  std::string reason;  // why, when status is kNotTls or kMalformed
  // The hello offers Encrypted Client Hello: `sni` is then only the outer, public name and the
  // real destination is hidden, which a name-based policy cannot judge.
  bool offers_ech = false;
};

// Scans everything the client has sent so far. Deterministic and prefix-stable: once a call
// returns anything but kNeedMore, the same answer comes back for any longer input. Cost is
// proportional to the number of records until the hello is complete, so callers may call it on
// every read.
ClientHelloScan scan_client_hello(std::span<const uint8_t> received);

}  // namespace acctl::gate
