// Tests for the gate's DNS answers: what each kind of question gets back, and what never happens.
#include "gate/dns_responder.h"

#include <gtest/gtest.h>

#include "gate/dns_message.h"

namespace acctl::gate {
namespace {

std::vector<uint8_t> query(std::string_view name, uint16_t qtype, uint16_t qclass = kDnsClassIn,
                           uint16_t flags = 0x0100) {
  std::vector<uint8_t> out = {
      0x12, 0x34, static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags), 0, 1, 0, 0, 0, 0,
      0,    0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    out.push_back(static_cast<uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
  for (uint16_t v : {qtype, qclass}) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

EgressPolicy policy() {
  EgressRules rules;
  rules.allow = {"github.com", "*.github.com"};
  rules.deny = {"gist.github.com"};
  return std::get<EgressPolicy>(EgressPolicy::compile(rules));
}

int rcode(const std::vector<uint8_t>& response) {
  return response.at(3) & 0x0f;
}
int answers(const std::vector<uint8_t>& response) {
  return response.at(6) << 8 | response.at(7);
}

const DnsAnswerSettings kSettings{{172, 20, 0, 53}, 30};

TEST(GateDnsResponder, AllowedARecordPointsAtTheGate) {
  const DnsOutcome out =
      answer_dns_query(query("API.GitHub.com", kDnsTypeA), policy(), kSettings, false);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.result, "answer");
  EXPECT_TRUE(out.allowed);
  EXPECT_EQ(rcode(*out.response), 0);
  EXPECT_EQ(answers(*out.response), 1);
  const std::vector<uint8_t> tail(out.response->end() - 4, out.response->end());
  EXPECT_EQ(tail, (std::vector<uint8_t>{172, 20, 0, 53}));
  EXPECT_EQ(out.response->at(0), 0x12);  // the ID is echoed
}

TEST(GateDnsResponder, AllowedOtherTypesAreEmpty) {
  for (uint16_t qtype : {kDnsTypeAaaa, uint16_t{16} /*TXT*/, uint16_t{255} /*ANY*/}) {
    const DnsOutcome out = answer_dns_query(query("github.com", qtype), policy(), kSettings, false);
    ASSERT_TRUE(out.response);
    EXPECT_EQ(out.result, "nodata") << qtype;
    EXPECT_EQ(rcode(*out.response), 0);
    EXPECT_EQ(answers(*out.response), 0);
  }
}

TEST(GateDnsResponder, EverythingElseIsNxdomain) {
  for (std::string_view name : {"gist.github.com", "evil.com", "github.com.evil.com", "1.2.3.4",
                                "data-to-leak.evil.com", ""}) {
    const DnsOutcome out = answer_dns_query(query(name, kDnsTypeA), policy(), kSettings, false);
    ASSERT_TRUE(out.response) << name;
    EXPECT_EQ(rcode(*out.response), 3) << name;
    EXPECT_FALSE(out.allowed);
  }
}

TEST(GateDnsResponder, OtherClassesAreRefused) {
  const DnsOutcome out =
      answer_dns_query(query("github.com", kDnsTypeA, 3 /*CH*/), policy(), kSettings, false);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(rcode(*out.response), 5);
  EXPECT_FALSE(out.allowed);
}

TEST(GateDnsResponder, RateLimitedQueriesAreRefusedAndGarbageIsDropped) {
  DnsOutcome out = answer_dns_query(query("github.com", kDnsTypeA), policy(), kSettings, true);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(rcode(*out.response), 5);
  EXPECT_EQ(out.result, "rate-limited");
  EXPECT_LE(out.response->size(), query("github.com", kDnsTypeA).size());  // no amplification
  const std::vector<uint8_t> garbage = {1, 2, 3};
  out = answer_dns_query(garbage, policy(), kSettings, false);
  EXPECT_FALSE(out.response);
  EXPECT_EQ(out.result, "dropped");
  // A response is never answered (no reflection loops between resolvers).
  out = answer_dns_query(query("github.com", kDnsTypeA, kDnsClassIn, 0x8100), policy(), kSettings,
                         false);
  EXPECT_FALSE(out.response);
}

TEST(GateDnsResponder, MalformedQueriesWithAHeaderGetFormerr) {
  std::vector<uint8_t> two_questions = query("github.com", kDnsTypeA);
  two_questions[5] = 2;
  const DnsOutcome out = answer_dns_query(two_questions, policy(), kSettings, false);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(rcode(*out.response), 1);
  EXPECT_EQ(out.result, "formerr");
}

}  // namespace
}  // namespace acctl::gate
