// ClientHello reassembly across TLS records and the server_name extension (RFC 8446, RFC 6066).
#include "gate/tls_client_hello.h"

#include <algorithm>
#include <bitset>
#include <vector>

namespace acctl::gate {
namespace {

constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderSize = 5;
constexpr size_t kHandshakeHeaderSize = 4;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtEncryptedClientHello = 0xfe0d;
constexpr uint8_t kNameTypeHostName = 0;

ClientHelloScan verdict(ClientHelloStatus status, std::string reason) {
  ClientHelloScan out;
  out.status = status;
  out.reason = std::move(reason);
  return out;
}

// Bounds-checked reader over the reassembled hello body.
class HelloReader {
 public:
  explicit HelloReader(std::span<const uint8_t> data) : data_(data) {}
  size_t remaining() const { return data_.size() - offset_; }
  bool u8(size_t& out) {
    if (remaining() < 1) return false;
    out = data_[offset_++];
    return true;
  }
  bool u16(size_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<size_t>(data_[offset_]) << 8 | data_[offset_ + 1];
    offset_ += 2;
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>& out) {
    if (remaining() < n) return false;
    out = data_.subspan(offset_, n);
    offset_ += n;
    return true;
  }
  bool skip(size_t n) {
    std::span<const uint8_t> ignored;
    return bytes(n, ignored);
  }

 private:
  std::span<const uint8_t> data_;
  size_t offset_ = 0;
};

// Reads server_name's ServerNameList; exactly one host_name is accepted, since servers and the
// gate could otherwise each pick a different one.
ClientHelloScan read_server_name(std::span<const uint8_t> data) {
  HelloReader reader(data);
  size_t list_length = 0;
  if (!reader.u16(list_length) || list_length != reader.remaining() || list_length == 0) {
    return verdict(ClientHelloStatus::kMalformed, "server_name list length is wrong");
  }
  ClientHelloScan out = verdict(ClientHelloStatus::kSni, "");
  int host_names = 0;
  while (reader.remaining() > 0) {
    size_t name_type = 0, name_length = 0;
    std::span<const uint8_t> name;
    if (!reader.u8(name_type) || !reader.u16(name_length) || !reader.bytes(name_length, name)) {
      return verdict(ClientHelloStatus::kMalformed, "server_name entry runs past its list");
    }
    if (name_type != kNameTypeHostName) continue;
    if (++host_names > 1) {
      return verdict(ClientHelloStatus::kMalformed, "server_name holds more than one host_name");
    }
    if (name.empty()) return verdict(ClientHelloStatus::kMalformed, "empty host_name");
    out.sni.assign(name.begin(), name.end());
  }
  if (host_names == 0) {
    return verdict(ClientHelloStatus::kMalformed, "server_name holds no host_name");
  }
  return out;
}

// Parses a complete ClientHello body (after the four-byte handshake header).
ClientHelloScan parse_hello_body(std::span<const uint8_t> body) {
  auto malformed = [](std::string reason) {
    return verdict(ClientHelloStatus::kMalformed, std::move(reason));
  };
  HelloReader reader(body);
  std::span<const uint8_t> version;
  size_t session_id_length = 0, suites_length = 0, compression_length = 0;
  if (!reader.bytes(2, version) || version[0] != 3) return malformed("bad legacy_version");
  if (!reader.skip(32)) return malformed("truncated random");
  if (!reader.u8(session_id_length) || session_id_length > 32 || !reader.skip(session_id_length)) {
    return malformed("bad session_id");
  }
  if (!reader.u16(suites_length) || suites_length == 0 || suites_length % 2 != 0 ||
      !reader.skip(suites_length)) {
    return malformed("bad cipher_suites");
  }
  if (!reader.u8(compression_length) || compression_length == 0 ||
      !reader.skip(compression_length)) {
    return malformed("bad compression_methods");
  }
  // Hellos from before TLS 1.2 may stop here, without an extensions block.
  if (reader.remaining() == 0) return verdict(ClientHelloStatus::kNoSni, "no extensions");

  size_t extensions_length = 0;
  if (!reader.u16(extensions_length) || extensions_length != reader.remaining()) {
    return malformed("extensions length does not match the hello");
  }
  ClientHelloScan out = verdict(ClientHelloStatus::kNoSni, "no server_name extension");
  bool offers_ech = false;
  std::bitset<65536> seen;
  while (reader.remaining() > 0) {
    size_t type = 0, length = 0;
    std::span<const uint8_t> data;
    if (!reader.u16(type) || !reader.u16(length) || !reader.bytes(length, data)) {
      return malformed("extension runs past the hello");
    }
    if (seen.test(type)) return malformed("extension " + std::to_string(type) + " repeated");
    seen.set(type);
    if (type == kExtEncryptedClientHello) offers_ech = true;
    if (type == kExtServerName) {
      out = read_server_name(data);
      if (out.status == ClientHelloStatus::kMalformed) return out;
    }
  }
  out.offers_ech = offers_ech;
  return out;
}

}  // namespace

ClientHelloScan scan_client_hello(std::span<const uint8_t> received) {
  if (received.empty()) return {};
  if (received[0] != kContentHandshake) {
    // An SSLv2 record header has its top bit set; SSLv2 hellos carry no SNI and are obsolete.
    if (received[0] & 0x80) return verdict(ClientHelloStatus::kNotTls, "SSLv2-style hello");
    return verdict(ClientHelloStatus::kNotTls, "not a TLS handshake record");
  }
  if (received.size() >= 2 && received[1] != 3) {
    return verdict(ClientHelloStatus::kNotTls, "record version is not TLS");
  }

  // First pass: walk the record headers, counting handshake bytes, without copying.
  size_t pos = 0;
  size_t records = 0;
  size_t gathered = 0;  // handshake bytes seen so far across records
  uint8_t handshake_header[kHandshakeHeaderSize] = {};
  size_t hello_length = 0;  // handshake header + body, once the header is known
  while (true) {
    const size_t available = received.size() - pos;
    if (available >= 1 && received[pos] != kContentHandshake) {
      return verdict(ClientHelloStatus::kMalformed, "non-handshake record inside the hello");
    }
    if (available >= 2 && received[pos + 1] != 3) {
      return verdict(ClientHelloStatus::kMalformed, "record version is not TLS");
    }
    if (available < kRecordHeaderSize) return {};
    const size_t record_length = static_cast<size_t>(received[pos + 3]) << 8 | received[pos + 4];
    if (record_length == 0) return verdict(ClientHelloStatus::kMalformed, "empty record");
    if (record_length > kMaxTlsRecordPayload) {
      return verdict(ClientHelloStatus::kMalformed, "record longer than 16 KiB");
    }
    if (++records > kMaxClientHelloRecords) {
      return verdict(ClientHelloStatus::kMalformed, "hello split over too many records");
    }
    const size_t payload_available = std::min(record_length, available - kRecordHeaderSize);
    for (size_t i = 0; i < payload_available && gathered + i < kHandshakeHeaderSize; ++i) {
      handshake_header[gathered + i] = received[pos + kRecordHeaderSize + i];
    }
    gathered += payload_available;
    if (gathered >= 1 && handshake_header[0] != kHandshakeClientHello) {
      return verdict(ClientHelloStatus::kMalformed, "first handshake message is not a ClientHello");
    }
    if (hello_length == 0 && gathered >= kHandshakeHeaderSize) {
      const size_t body_length = static_cast<size_t>(handshake_header[1]) << 16 |
                                 static_cast<size_t>(handshake_header[2]) << 8 |
                                 handshake_header[3];
      if (body_length + kHandshakeHeaderSize > kMaxClientHelloLength) {
        return verdict(ClientHelloStatus::kMalformed, "ClientHello longer than 64 KiB");
      }
      hello_length = kHandshakeHeaderSize + body_length;
    }
    if (hello_length != 0 && gathered >= hello_length) break;
    if (payload_available < record_length) return {};
    pos += kRecordHeaderSize + record_length;
  }

  // Second pass: the hello is all here; copy it out of its records and parse it.
  std::vector<uint8_t> hello;
  hello.reserve(hello_length);
  for (size_t at = 0; hello.size() < hello_length;) {
    const size_t record_length = static_cast<size_t>(received[at + 3]) << 8 | received[at + 4];
    const size_t take = std::min(
        {record_length, hello_length - hello.size(), received.size() - at - kRecordHeaderSize});
    const uint8_t* payload = received.data() + at + kRecordHeaderSize;
    hello.insert(hello.end(), payload, payload + take);
    at += kRecordHeaderSize + record_length;
  }
  return parse_hello_body(std::span<const uint8_t>(hello).subspan(kHandshakeHeaderSize));
}

}  // namespace acctl::gate
