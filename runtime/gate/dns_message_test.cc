// Tests for the DNS query parser and response builders, including hostile messages.
#include "gate/dns_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace acctl::gate {
namespace {

using Bytes = std::vector<uint8_t>;

// Builds messages byte by byte, so each test shows exactly what is on the wire.
struct MessageBuilder {
  Bytes bytes;

  MessageBuilder& u8(uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  MessageBuilder& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(v & 0xff); }
  MessageBuilder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                         uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  MessageBuilder& name(const std::vector<std::string>& labels) {
    for (const auto& label : labels) {
      u8(static_cast<uint8_t>(label.size()));
      bytes.insert(bytes.end(), label.begin(), label.end());
    }
    return u8(0);
  }
  MessageBuilder& opt(uint16_t udp_size, uint16_t rdlength = 0) {
    u8(0).u16(kDnsTypeOpt).u16(udp_size).u16(0).u16(0).u16(rdlength);
    for (int i = 0; i < rdlength; ++i) u8(0xaa);
    return *this;
  }
};

Bytes simple_query(const std::vector<std::string>& labels, uint16_t qtype = kDnsTypeA,
                   uint16_t flags = 0x0100) {
  return MessageBuilder{}
      .header(0xbeef, flags, 1, 0, 0, 0)
      .name(labels)
      .u16(qtype)
      .u16(kDnsClassIn)
      .bytes;
}

DnsParseFailure expect_failure(const Bytes& message) {
  auto result = parse_dns_query(message);
  EXPECT_TRUE(std::holds_alternative<DnsParseFailure>(result));
  if (auto* failure = std::get_if<DnsParseFailure>(&result)) return *failure;
  return {};
}

DnsQuery expect_query(const Bytes& message) {
  auto result = parse_dns_query(message);
  if (auto* failure = std::get_if<DnsParseFailure>(&result)) {
    ADD_FAILURE() << "unexpected failure: " << failure->reason;
    return {};
  }
  return std::get<DnsQuery>(result);
}

TEST(GateDnsParse, PlainAQuery) {
  DnsQuery query = expect_query(simple_query({"GitHub", "com"}));
  EXPECT_EQ(query.header.id, 0xbeef);
  EXPECT_TRUE(query.header.recursion_desired);
  EXPECT_EQ(query.question.qtype, kDnsTypeA);
  EXPECT_EQ(query.question.qclass, kDnsClassIn);
  EXPECT_EQ(query.question.dotted_name(), "GitHub.com");  // case kept for the echo
  EXPECT_FALSE(query.has_edns);
}

TEST(GateDnsParse, RootName) {
  DnsQuery query = expect_query(simple_query({}));
  EXPECT_EQ(query.question.dotted_name(), "");
}

TEST(GateDnsParse, LabelHoldingADotHasNoDottedName) {
  // One label "github.com" is not the two-label name github.com.
  DnsQuery query = expect_query(simple_query({"github.com"}));
  EXPECT_EQ(query.question.dotted_name(), std::nullopt);
}

TEST(GateDnsParse, EdnsOptIsReadAndIgnored) {
  Bytes message = MessageBuilder{}
                      .header(7, 0x0100, 1, 0, 0, 1)
                      .name({"example", "com"})
                      .u16(kDnsTypeA)
                      .u16(kDnsClassIn)
                      .opt(4096, 12)
                      .bytes;
  DnsQuery query = expect_query(message);
  EXPECT_TRUE(query.has_edns);
  // The response carries no OPT and none of its data.
  Bytes response = build_a_answer(query, {172, 20, 0, 53}, 60);
  EXPECT_EQ(response[11], 0);  // ARCOUNT low byte
  EXPECT_EQ(std::count(response.begin(), response.end(), 0xaa), 0);
}

TEST(GateDnsParse, QuestionCountOtherThanOneIsFormErr) {
  for (uint16_t qdcount : {0, 2}) {
    MessageBuilder builder;
    builder.header(1, 0x0100, qdcount, 0, 0, 0);
    for (int i = 0; i < qdcount; ++i) builder.name({"a", "com"}).u16(1).u16(1);
    DnsParseFailure failure = expect_failure(builder.bytes);
    ASSERT_TRUE(failure.header.has_value()) << qdcount;
    EXPECT_EQ(failure.rcode, DnsRcode::kFormErr);
    EXPECT_EQ(failure.header->id, 1);
  }
}

TEST(GateDnsParse, AnswerOrAuthorityRecordsInAQueryAreFormErr) {
  Bytes message = simple_query({"a", "com"});
  message[7] = 1;  // ANCOUNT = 1: smuggled data in a query is refused, not ignored
  EXPECT_EQ(expect_failure(message).rcode, DnsRcode::kFormErr);
  message[7] = 0;
  message[9] = 1;  // NSCOUNT = 1
  EXPECT_EQ(expect_failure(message).rcode, DnsRcode::kFormErr);
}

TEST(GateDnsParse, AdditionalThatIsNotOptIsFormErr) {
  Bytes message = MessageBuilder{}
                      .header(1, 0, 1, 0, 0, 1)
                      .name({"a", "com"})
                      .u16(1)
                      .u16(1)
                      .name({"x"})
                      .u16(16)  // TXT
                      .u16(1)
                      .u16(0)
                      .u16(0)
                      .u16(0)
                      .bytes;
  EXPECT_EQ(expect_failure(message).reason, "additional record is not OPT");
}

TEST(GateDnsParse, ResponsesAndShortMessagesGetNoAnswer) {
  EXPECT_FALSE(expect_failure(simple_query({"a", "com"}, 1, 0x8100)).header.has_value());
  EXPECT_FALSE(expect_failure(Bytes{1, 2, 3}).header.has_value());
  EXPECT_FALSE(expect_failure(Bytes{}).header.has_value());
}

TEST(GateDnsParse, NonQueryOpcodeIsNotImp) {
  DnsParseFailure failure = expect_failure(simple_query({"a", "com"}, 1, 0x2800));  // UPDATE
  ASSERT_TRUE(failure.header.has_value());
  EXPECT_EQ(failure.rcode, DnsRcode::kNotImp);
  Bytes response = build_header_only(*failure.header, failure.rcode);
  EXPECT_EQ(response.size(), 12u);
  EXPECT_EQ(response[2] >> 3 & 0x0f, 5);  // opcode echoed
  EXPECT_EQ(response[3] & 0x0f, 4);
}

TEST(GateDnsParse, TruncatedAtEveryLength) {
  Bytes full = MessageBuilder{}
                   .header(1, 0, 1, 0, 0, 1)
                   .name({"www", "example", "com"})
                   .u16(1)
                   .u16(1)
                   .opt(1232, 4)
                   .bytes;
  expect_query(full);
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + n);
    EXPECT_TRUE(std::holds_alternative<DnsParseFailure>(parse_dns_query(cut))) << n;
  }
}

TEST(GateDnsParse, TrailingBytesAreFormErr) {
  Bytes message = simple_query({"a", "com"});
  message.push_back(0);
  EXPECT_EQ(expect_failure(message).reason, "trailing bytes after the last record");
}

TEST(GateDnsParse, LabelLimits) {
  expect_query(simple_query({std::string(63, 'a'), "com"}));
  EXPECT_EQ(expect_failure(simple_query({std::string(64, 'a'), "com"})).reason,
            "question: reserved label type");  // 64 = 0x40, a label type from RFC 2673
  // 0x3f-length labels up to 255 octets in total: four 63-byte labels make 257.
  std::string l63(63, 'b');
  expect_query(simple_query({l63, l63, l63, std::string(61, 'b')}));  // 4*64 - 2 + 1 = 255
  EXPECT_EQ(expect_failure(simple_query({l63, l63, l63, std::string(62, 'b')})).reason,
            "question: name longer than 255 octets");
}

TEST(GateDnsParse, CompressionPointerLoopsAreRefused) {
  // A pointer to the name's own start, i.e. to itself.
  Bytes self = MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u16(0xc00c).u16(1).u16(1).bytes;
  EXPECT_EQ(expect_failure(self).reason, "question: compression pointer does not point backwards");
  // A label then a pointer back to that label: a loop that grows the name.
  Bytes loop =
      MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').u16(0xc00c).u16(1).u16(1).bytes;
  EXPECT_EQ(expect_failure(loop).reason, "question: compression pointer does not point backwards");
  // Forward pointer.
  Bytes forward = MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u16(0xc00e).u8(0).u16(1).u16(1).bytes;
  EXPECT_EQ(expect_failure(forward).reason,
            "question: compression pointer does not point backwards");
  // Into the header.
  Bytes header = MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u16(0xc004).u16(1).u16(1).bytes;
  EXPECT_EQ(expect_failure(header).reason, "question: compression pointer into the header");
  // Out of range and cut in half.
  Bytes far = MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u16(0xffff).u16(1).u16(1).bytes;
  EXPECT_EQ(expect_failure(far).reason, "question: compression pointer does not point backwards");
  Bytes half = MessageBuilder{}.header(1, 0, 1, 0, 0, 0).u8(0xc0).bytes;
  EXPECT_EQ(expect_failure(half).reason,
            "question: compression pointer runs past the end of the message");
}

TEST(GateDnsParse, BackwardPointerInOptOwnerIsFollowed) {
  // The OPT owner points at the question's last byte (the root label): a valid backward
  // pointer resolving to the root name.
  MessageBuilder builder;
  builder.header(1, 0, 1, 0, 0, 1).name({"a", "com"});
  const uint16_t root_at = static_cast<uint16_t>(builder.bytes.size() - 1);
  builder.u16(1).u16(1).u16(0xc000 | root_at).u16(kDnsTypeOpt).u16(512).u16(0).u16(0).u16(0);
  EXPECT_TRUE(expect_query(builder.bytes).has_edns);
  // Pointing at the question's name makes an OPT owner that is not the root.
  MessageBuilder named;
  named.header(1, 0, 1, 0, 0, 1).name({"a", "com"});
  named.u16(1).u16(1).u16(0xc00c).u16(kDnsTypeOpt).u16(512).u16(0).u16(0).u16(0);
  EXPECT_EQ(expect_failure(named.bytes).reason, "OPT record owner is not the root");
}

TEST(GateDnsBuild, AAnswerCopiesIdRdAndQuestion) {
  Bytes message = simple_query({"GiTHub", "com"});
  DnsQuery query = expect_query(message);
  Bytes response = build_a_answer(query, {172, 20, 0, 53}, 30);
  // The question bytes are repeated verbatim after the header.
  ASSERT_GT(response.size(), message.size());
  EXPECT_TRUE(std::equal(message.begin() + 12, message.end(), response.begin() + 12));
  EXPECT_EQ(response[0], 0xbe);
  EXPECT_EQ(response[1], 0xef);
  EXPECT_EQ(response[2], 0x81);  // QR, RD
  EXPECT_EQ(response[3], 0x80);  // RA, NOERROR
  EXPECT_EQ(response[7], 1);     // ANCOUNT
  const Bytes answer(response.begin() + message.size(), response.end());
  EXPECT_EQ(answer, (Bytes{0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 172, 20, 0, 53}));
  // And the response parses as a DNS message with the same question (as a query it is a
  // response, so the parser refuses it for that reason alone).
  EXPECT_EQ(expect_failure(response).reason, "message is a response");
}

TEST(GateDnsBuild, ErrorsAndNodata) {
  DnsQuery query = expect_query(simple_query({"evil", "com"}, kDnsTypeAaaa, 0));
  Bytes nx = build_error(query, DnsRcode::kNxDomain);
  EXPECT_EQ(nx[2], 0x80);  // RD was clear and stays clear
  EXPECT_EQ(nx[3], 0x83);
  EXPECT_EQ(nx[5], 1);  // the question is repeated
  EXPECT_EQ(nx[7], 0);
  Bytes nodata = build_nodata(query);
  EXPECT_EQ(nodata[3], 0x80);
  EXPECT_EQ(nodata[7], 0);
  EXPECT_EQ(build_error(query, DnsRcode::kRefused)[3], 0x85);
  EXPECT_EQ(build_error(query, DnsRcode::kServFail)[3], 0x82);
  EXPECT_EQ(build_error(query, DnsRcode::kFormErr)[3], 0x81);
}

TEST(GateDnsTcp, FramingRoundTripsAndWaitsForWholeFrames) {
  Bytes message = simple_query({"a", "com"});
  Bytes framed = frame_for_tcp(message);
  ASSERT_EQ(framed.size(), message.size() + 2);
  Bytes two = framed;
  two.insert(two.end(), framed.begin(), framed.end());
  for (size_t n = 0; n < framed.size(); ++n) {
    EXPECT_FALSE(next_tcp_frame(std::span(two).first(n)).complete) << n;
  }
  TcpDnsFrame frame = next_tcp_frame(two);
  ASSERT_TRUE(frame.complete);
  EXPECT_EQ(frame.consumed, framed.size());
  EXPECT_TRUE(
      std::equal(frame.message.begin(), frame.message.end(), message.begin(), message.end()));
}

}  // namespace
}  // namespace acctl::gate
