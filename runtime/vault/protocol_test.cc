// The vault's framing and payload codec, and the blocking client calls over a socket pair.
#include "vault/protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>

#include "common/syscall.h"

namespace acctl::vault {
namespace {

using namespace std::string_literals;

std::string frame(std::string_view payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16 & 0xff),
                     static_cast<char>(n >> 8 & 0xff), static_cast<char>(n & 0xff)};
  return out + std::string(payload);
}

Message sample() {
  Message m;
  m.set(key::kOp, op::kGitCredential);
  m.set(key::kProtocol, "https");
  m.set(key::kHost, "github.com");
  m.set(key::kPath, "o/r.git");
  return m;
}

TEST(VaultEncode, WritesABigEndianLengthAndTheLines) {
  Message m;
  m.set("op", "ping");
  EXPECT_EQ(encode(m), "\0\0\0\x08op=ping\n"s);
  EXPECT_EQ(encode(Message{}), "\0\0\0\0"s);
}

TEST(VaultMessage, SetReplacesAndGetFinds) {
  Message m;
  m.set("a", "1");
  m.set("b", "2");
  m.set("a", "3");
  ASSERT_EQ(m.fields.size(), 2u);
  EXPECT_EQ(m.get("a"), "3");
  EXPECT_EQ(m.get("c"), std::nullopt);
}

TEST(VaultDecodePayload, RoundTripsWhatEncodeWrites) {
  const Message m = sample();
  auto d = decode_payload(encode_payload(m));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->fields, m.fields);
}

TEST(VaultDecodePayload, ValuesMayHoldAnyByteButNulAndLf) {
  auto d = decode_payload(
      "args=a\x1f"
      "b=c\xff\r\t\n");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->get("args"),
            "a\x1f"
            "b=c\xff\r\t");
  EXPECT_TRUE(decode_payload(""));
  EXPECT_EQ(decode_payload("empty=\n")->get("empty"), "");
}

TEST(VaultDecodePayload, RefusesMalformedPayloads) {
  EXPECT_EQ(decode_payload("op=ping").error().message, "message does not end with a newline");
  EXPECT_EQ(decode_payload("op\n").error().message, "a line has no '='");
  EXPECT_EQ(decode_payload("\n").error().message, "a line has no '='");
  EXPECT_EQ(decode_payload("Op=ping\n").error().message, "a field name is not [a-z-]+");
  EXPECT_EQ(decode_payload("=x\n").error().message, "a field name is not [a-z-]+");
  EXPECT_EQ(decode_payload("op=a\0b\n"s).error().message, "field op has a NUL in its value");
  EXPECT_EQ(decode_payload("op=a\nop=b\n").error().message, "field op appears twice");
  std::string many;
  for (int i = 0; i < 33; ++i)
    many += std::string(static_cast<size_t>(i / 26 + 1), 'a' + i % 26) + "=x\n";
  EXPECT_EQ(decode_payload(many).error().message, "more than 32 fields");
  EXPECT_FALSE(decode_payload(std::string(kMaxPayload + 1, 'a')));
}

TEST(VaultValidate, SaysWhatCannotBeSent) {
  Message m;
  m.fields = {{"op", "a\nstatus=ok"}};
  EXPECT_EQ(validate(m).error().message, "field op has a NUL or LF in its value");
  m.fields = {{"OP", "x"}};
  EXPECT_FALSE(validate(m));
  m.fields = {{"op", "x"}, {"op", "y"}};
  EXPECT_EQ(validate(m).error().message, "field op appears twice");
  m.fields = {{"big", std::string(kMaxPayload, 'x')}};
  EXPECT_FALSE(validate(m));
  EXPECT_TRUE(validate(sample()));
}

TEST(VaultRefusal, IsOneBoundedLine) {
  const Message m = refusal("host \"a\nstatus=ok\" is not known" + std::string(5000, 'x'));
  EXPECT_EQ(m.get(key::kStatus), "refused");
  EXPECT_TRUE(validate(m));
  EXPECT_EQ(m.get(key::kReason)->substr(0, 30), "host \"a?status=ok\" is not know");
  EXPECT_LE(m.get(key::kReason)->size(), 1003u);
}

TEST(VaultArgsField, JoinsWithUnitSeparatorsAndFlattensLines) {
  EXPECT_EQ(args_field({"pr", "create", "--body", "a\nb"}),
            "pr\x1f"
            "create\x1f--body\x1f"
            "a b");
  EXPECT_EQ(args_field({}), "");
}

TEST(VaultFrameReader, AssemblesAFrameFedOneByteAtATime) {
  const std::string bytes = encode(sample());
  FrameReader r;
  for (size_t i = 0; i + 1 < bytes.size(); ++i) {
    EXPECT_GT(r.wanted(), 0u);
    r.feed(bytes.substr(i, 1));
    auto next = r.next();
    ASSERT_TRUE(next);
    EXPECT_FALSE(*next) << i;
  }
  EXPECT_EQ(r.wanted(), 1u);
  r.feed(bytes.substr(bytes.size() - 1));
  auto next = r.next();
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->fields, sample().fields);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(VaultFrameReader, WantedNeverReachesIntoTheNextFrame) {
  FrameReader r;
  EXPECT_EQ(r.wanted(), 4u);
  r.feed("\0\0"s);
  EXPECT_EQ(r.wanted(), 2u);
  r.feed("\0\x08"s);
  EXPECT_EQ(r.wanted(), 8u);
  r.feed("op=ping\n");
  EXPECT_EQ(r.wanted(), 0u);
}

TEST(VaultFrameReader, SplitsTwoFramesFedTogether) {
  Message ping;
  ping.set("op", "ping");
  FrameReader r;
  r.feed(encode(ping) + encode(sample()));
  auto first = r.next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->get("op"), "ping");
  auto second = r.next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->get("host"), "github.com");
  auto none = r.next();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(VaultFrameReader, RefusesAnOversizeLengthAtOnceAndForGood) {
  FrameReader r;
  r.feed("\0\0\x40\x01"s);  // 16385
  auto next = r.next();
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().message, "frame of 16385 bytes is larger than the 16384-byte limit");
  EXPECT_EQ(r.wanted(), 0u);
  r.feed(encode(sample()));
  EXPECT_FALSE(r.next());
}

TEST(VaultFrameReader, AcceptsTheLargestPayload) {
  const std::string payload = "k=" + std::string(kMaxPayload - 3, 'v') + "\n";
  FrameReader r;
  r.feed(frame(payload));
  auto next = r.next();
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_TRUE(*next);
}

TEST(VaultFrameReader, RefusesAGarbagePayload) {
  FrameReader r;
  r.feed(frame("GET / HTTP/1.1\r\n"));
  auto next = r.next();
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().message, "a line has no '='");
}

TEST(VaultClient, SendsAndReceivesOverASocket) {
  auto pair = socket_pair(SOCK_STREAM);
  ASSERT_TRUE(pair);
  ASSERT_TRUE(send_message(pair->first.get(), sample()));
  auto got = receive_message(pair->second.get(), 1000);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->fields, sample().fields);
}

TEST(VaultClient, RefusesToSendAnInvalidMessage) {
  auto pair = socket_pair(SOCK_STREAM);
  ASSERT_TRUE(pair);
  Message m;
  m.set("op", "a\nb");
  EXPECT_FALSE(send_message(pair->first.get(), m));
}

TEST(VaultClient, TimesOutWithoutAReply) {
  auto pair = socket_pair(SOCK_STREAM);
  ASSERT_TRUE(pair);
  ASSERT_TRUE(write_all(pair->first.get(), "\0\0\0\x08op="s));
  const auto start = std::chrono::steady_clock::now();
  auto got = receive_message(pair->second.get(), 100);
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(VaultClient, FailsWhenThePeerClosesEarly) {
  auto pair = socket_pair(SOCK_STREAM);
  ASSERT_TRUE(pair);
  ASSERT_TRUE(write_all(pair->first.get(), "\0\0"s));
  pair->first.reset();
  auto got = receive_message(pair->second.get(), 1000);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message, "the connection was closed before a whole reply came");
}

TEST(VaultClient, ExchangeFailsWithoutADaemon) {
  auto got = exchange("/nonexistent/vault.sock", sample(), 100);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("connect /nonexistent/vault.sock"), std::string::npos);
}

}  // namespace
}  // namespace acctl::vault
