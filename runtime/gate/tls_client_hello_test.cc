// Tests for SNI extraction: hand-built hellos, every split point, records, lying lengths.
#include "gate/tls_client_hello.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace acctl::gate {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void append(Bytes& out, const Bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

Bytes extension(uint16_t type, const Bytes& data) {
  Bytes out;
  put16(out, type);
  put16(out, data.size());
  append(out, data);
  return out;
}

// server_name extension with one entry per name (all of type host_name unless given).
Bytes server_name(const std::vector<std::string>& names, uint8_t name_type = 0) {
  Bytes list;
  for (const std::string& name : names) {
    list.push_back(name_type);
    put16(list, name.size());
    list.insert(list.end(), name.begin(), name.end());
  }
  Bytes data;
  put16(data, list.size());
  append(data, list);
  return extension(0, data);
}

// A ClientHello handshake message (header + body) with the given extensions block contents.
Bytes client_hello(const std::vector<Bytes>& extensions, bool with_extensions_block = true,
                   size_t padding = 0) {
  Bytes body = {0x03, 0x03};
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(i));
  body.push_back(32);
  for (int i = 0; i < 32; ++i) body.push_back(0x55);
  put16(body, 4);
  append(body, {0x13, 0x01, 0x13, 0x02});
  append(body, {1, 0});  // one compression method: null
  if (with_extensions_block) {
    Bytes block;
    for (const Bytes& e : extensions) append(block, e);
    if (padding > 0) append(block, extension(21, Bytes(padding, 0)));  // padding extension
    put16(body, block.size());
    append(body, block);
  }
  Bytes message = {1, static_cast<uint8_t>(body.size() >> 16),
                   static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())};
  append(message, body);
  return message;
}

// Wraps a handshake message into TLS records of at most `fragment` payload bytes each.
Bytes records(const Bytes& handshake, size_t fragment = 16384) {
  Bytes out;
  for (size_t at = 0; at < handshake.size(); at += fragment) {
    size_t n = std::min(fragment, handshake.size() - at);
    append(out, {22, 3, 1});
    put16(out, n);
    out.insert(out.end(), handshake.begin() + at, handshake.begin() + at + n);
  }
  return out;
}

ClientHelloScan scan(const Bytes& bytes) {
  return scan_client_hello(bytes);
}

TEST(GateClientHello, FindsTheServerName) {
  ClientHelloScan result = scan(records(client_hello({server_name({"GitHub.com."})})));
  EXPECT_EQ(result.status, ClientHelloStatus::kSni);
  EXPECT_EQ(result.sni, "GitHub.com.");  // raw: normalising is the caller's job
  EXPECT_FALSE(result.offers_ech);
}

TEST(GateClientHello, EverySplitPointNeedsMoreThenAgrees) {
  const Bytes full =
      records(client_hello({extension(10, {0, 2, 0, 29}), server_name({"api.github.com"})}));
  for (size_t n = 0; n < full.size(); ++n) {
    ClientHelloScan partial = scan_client_hello(std::span(full).first(n));
    EXPECT_EQ(partial.status, ClientHelloStatus::kNeedMore) << "prefix " << n;
  }
  ClientHelloScan result = scan(full);
  EXPECT_EQ(result.status, ClientHelloStatus::kSni);
  EXPECT_EQ(result.sni, "api.github.com");
}

TEST(GateClientHello, HandshakeFragmentedOverRecords) {
  const Bytes hello = client_hello({server_name({"example.org"})});
  for (size_t fragment : {1, 2, 3, 4, 5, 7, 64}) {
    const Bytes full = records(hello, fragment);
    if (full.size() / (fragment + 5) > kMaxClientHelloRecords) {
      EXPECT_EQ(scan(full).status, ClientHelloStatus::kMalformed) << fragment;
      continue;
    }
    ClientHelloScan result = scan(full);
    EXPECT_EQ(result.status, ClientHelloStatus::kSni) << fragment;
    EXPECT_EQ(result.sni, "example.org") << fragment;
    for (size_t n = 0; n < full.size(); ++n) {
      ASSERT_EQ(scan_client_hello(std::span(full).first(n)).status, ClientHelloStatus::kNeedMore)
          << fragment << " " << n;
    }
  }
}

TEST(GateClientHello, LargeHelloOverSeveralFullRecords) {
  // A 40 KiB hello (post-quantum key shares, padding) spans three 16 KiB records.
  const Bytes full = records(client_hello({server_name({"big.example"})}, true, 40000));
  EXPECT_GT(full.size(), 2 * 16384u);
  ClientHelloScan result = scan(full);
  EXPECT_EQ(result.status, ClientHelloStatus::kSni);
  EXPECT_EQ(result.sni, "big.example");
}

TEST(GateClientHello, HelloOver64KiBIsMalformed) {
  const Bytes full = records(client_hello({server_name({"big.example"})}, true, 65536));
  // Refused as soon as the handshake header is read, without waiting for the rest.
  EXPECT_EQ(scan_client_hello(std::span(full).first(9)).status, ClientHelloStatus::kMalformed);
}

TEST(GateClientHello, RecordLongerThan16KiBIsMalformed) {
  Bytes full = {22, 3, 1, 0x40, 0x01};  // 16385
  EXPECT_EQ(scan(full).status, ClientHelloStatus::kMalformed);
}

TEST(GateClientHello, NoSniAndNoExtensions) {
  EXPECT_EQ(scan(records(client_hello({extension(10, {0, 2, 0, 29})}))).status,
            ClientHelloStatus::kNoSni);
  EXPECT_EQ(scan(records(client_hello({}, false))).status, ClientHelloStatus::kNoSni);
}

TEST(GateClientHello, TwoHostNamesAreMalformed) {
  ClientHelloScan result = scan(records(client_hello({server_name({"github.com", "evil.com"})})));
  EXPECT_EQ(result.status, ClientHelloStatus::kMalformed);
  EXPECT_EQ(result.reason, "server_name holds more than one host_name");
}

TEST(GateClientHello, TwoServerNameExtensionsAreMalformed) {
  ClientHelloScan result =
      scan(records(client_hello({server_name({"github.com"}), server_name({"evil.com"})})));
  EXPECT_EQ(result.status, ClientHelloStatus::kMalformed);
}

TEST(GateClientHello, EmptyOrForeignNameEntries) {
  EXPECT_EQ(scan(records(client_hello({server_name({""})}))).status, ClientHelloStatus::kMalformed);
  EXPECT_EQ(scan(records(client_hello({server_name({"x.com"}, 7)}))).status,
            ClientHelloStatus::kMalformed);
  EXPECT_EQ(scan(records(client_hello({extension(0, {0, 0})}))).status,
            ClientHelloStatus::kMalformed);
}

TEST(GateClientHello, EchIsReported) {
  ClientHelloScan result =
      scan(records(client_hello({server_name({"public.example"}), extension(0xfe0d, {0, 1})})));
  EXPECT_EQ(result.status, ClientHelloStatus::kSni);
  EXPECT_TRUE(result.offers_ech);
}

TEST(GateClientHello, NotTls) {
  const std::string http = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(scan(Bytes(http.begin(), http.end())).status, ClientHelloStatus::kNotTls);
  // SSLv2-compatible hello: two-byte header with the top bit set, then msg type 1.
  ClientHelloScan v2 = scan(Bytes{0x80, 0x2e, 0x01, 0x03, 0x01});
  EXPECT_EQ(v2.status, ClientHelloStatus::kNotTls);
  EXPECT_EQ(v2.reason, "SSLv2-style hello");
  EXPECT_EQ(scan(Bytes{22, 2, 0}).status, ClientHelloStatus::kNotTls);
  EXPECT_EQ(scan(Bytes{22}).status, ClientHelloStatus::kNeedMore);
}

TEST(GateClientHello, OtherRecordOrMessageTypesInsideTheHello) {
  Bytes full = records(client_hello({server_name({"a.com"})}), 10);
  Bytes alert = full;
  alert[15] = 21;  // the second record claims to be an alert
  EXPECT_EQ(scan(alert).status, ClientHelloStatus::kMalformed);
  Bytes server_hello = full;
  server_hello[5] = 2;
  EXPECT_EQ(scan(server_hello).status, ClientHelloStatus::kMalformed);
  EXPECT_EQ(scan(Bytes{22, 3, 1, 0, 0}).status, ClientHelloStatus::kMalformed);  // empty record
}

TEST(GateClientHello, LengthsThatLie) {
  const Bytes hello = client_hello({server_name({"github.com"})});
  // Offsets in the handshake message: 4 header, 2 version, 32 random, 1+32 session id,
  // 2+4 suites, 2 compression, then the 2-byte extensions length.
  const size_t session_id = 4 + 2 + 32;
  const size_t suites = session_id + 1 + 32;
  const size_t compression = suites + 2 + 4;
  const size_t extensions = compression + 2;
  auto with = [&](size_t offset, uint8_t value) {
    Bytes changed = hello;
    changed[offset] = value;
    return scan(records(changed)).status;
  };
  EXPECT_EQ(with(session_id, 33), ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(session_id, 200), ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(suites + 1, 3), ClientHelloStatus::kMalformed);  // odd
  EXPECT_EQ(with(suites + 1, 0), ClientHelloStatus::kMalformed);  // none
  EXPECT_EQ(with(suites, 0xff), ClientHelloStatus::kMalformed);   // past the end
  EXPECT_EQ(with(compression, 0), ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(extensions + 1, static_cast<uint8_t>(hello[extensions + 1] + 1)),
            ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(extensions + 1, static_cast<uint8_t>(hello[extensions + 1] - 1)),
            ClientHelloStatus::kMalformed);
  // The server_name extension's own lengths: list length and name length.
  const size_t sni_ext = extensions + 2;
  EXPECT_EQ(with(sni_ext + 3, static_cast<uint8_t>(hello[sni_ext + 3] + 1)),
            ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(sni_ext + 5, static_cast<uint8_t>(hello[sni_ext + 5] + 1)),
            ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(sni_ext + 8, static_cast<uint8_t>(hello[sni_ext + 8] + 1)),
            ClientHelloStatus::kMalformed);
  EXPECT_EQ(with(sni_ext + 8, static_cast<uint8_t>(hello[sni_ext + 8] - 1)),
            ClientHelloStatus::kMalformed);
  // Handshake length shorter than the body: the hello ends inside the extensions.
  EXPECT_EQ(with(3, static_cast<uint8_t>(hello[3] - 1)), ClientHelloStatus::kMalformed);
}

TEST(GateClientHello, BytesAfterTheHelloAreIgnored) {
  Bytes full = records(client_hello({server_name({"a.com"})}));
  append(full, {23, 3, 3, 0, 5, 1, 2, 3, 4, 5});  // early data record
  EXPECT_EQ(scan(full).status, ClientHelloStatus::kSni);
}

// A hello from a real TLS stack: `openssl s_client` connects to a loopback listener here, and
// the hello is scanned read by read as it arrives, as the gate will do.
TEST(GateClientHello, OpensslClientHello) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl";
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string command =
      "openssl s_client -connect 127.0.0.1:" + std::to_string(ntohs(address.sin_port)) +
      " -servername Fixture.Example </dev/null >/dev/null 2>&1";
  FILE* client = popen(command.c_str(), "r");
  ASSERT_NE(client, nullptr);
  pollfd ready{listener, POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 10000), 1) << "openssl did not connect";
  const int connection = accept(listener, nullptr, nullptr);
  ASSERT_GE(connection, 0);
  Bytes received;
  ClientHelloScan result;
  while (result.status == ClientHelloStatus::kNeedMore) {
    pollfd readable{connection, POLLIN, 0};
    ASSERT_EQ(poll(&readable, 1, 10000), 1) << "hello incomplete after " << received.size();
    uint8_t buffer[4096];
    const ssize_t n = read(connection, buffer, sizeof buffer);
    ASSERT_GT(n, 0);
    received.insert(received.end(), buffer, buffer + n);
    result = scan(received);
  }
  close(connection);
  close(listener);
  pclose(client);
  EXPECT_EQ(result.status, ClientHelloStatus::kSni) << result.reason;
  EXPECT_EQ(result.sni, "Fixture.Example");
  // The real hello, cut at every byte, only ever needs more.
  for (size_t n = 0; n + 1 < received.size(); ++n) {
    ClientHelloScan partial = scan_client_hello(std::span(received).first(n));
    if (partial.status != ClientHelloStatus::kNeedMore) {
      EXPECT_EQ(partial.status, result.status) << n;
      EXPECT_EQ(partial.sni, result.sni) << n;
    }
  }
}

}  // namespace
}  // namespace acctl::gate
