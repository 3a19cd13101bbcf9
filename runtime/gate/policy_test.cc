// Tests for the compiled egress policy: look-alike names, IP literals, ports and addresses.
#include "gate/policy.h"

#include <gtest/gtest.h>

#include <string>

namespace acctl::gate {
namespace {

EgressPolicy compile(const EgressRules& rules) {
  auto result = EgressPolicy::compile(rules);
  if (auto* problems = std::get_if<std::vector<std::string>>(&result)) {
    ADD_FAILURE() << "policy did not compile: " << problems->front();
    return std::get<EgressPolicy>(EgressPolicy::compile({}));
  }
  return std::get<EgressPolicy>(result);
}

EgressPolicy github_policy() {
  EgressRules rules;
  rules.allow = {"github.com", "*.github.com", "*.githubusercontent.com", "pypi.org"};
  rules.deny = {"gist.github.com", "*.evil.github.com"};
  rules.ports = {443};
  rules.allow_cidrs = {"10.9.0.0/24"};
  rules.deny_cidrs = {"203.0.113.0/24"};
  return compile(rules);
}

TEST(GateEgressPolicy, AllowsListedNamesInAnyCaseAndWithOneTrailingDot) {
  EgressPolicy policy = github_policy();
  for (std::string_view name :
       {"github.com", "GITHUB.COM", "github.com.", "GitHub.Com.", "api.github.com",
        "a.b.c.github.com", "raw.githubusercontent.com", "pypi.org"}) {
    Decision decision = policy.decide_name(name);
    EXPECT_TRUE(decision.allowed) << name << ": " << decision.reason;
  }
  EXPECT_EQ(policy.decide_name("github.com").reason, "allow github.com");
  EXPECT_EQ(policy.decide_name("api.github.com").reason, "allow *.github.com");
}

TEST(GateEgressPolicy, RefusesLookAlikes) {
  EgressPolicy policy = github_policy();
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"github.com.evil.com", "not-allowed"},
      {"evilgithub.com", "not-allowed"},
      {"githubusercontent.com", "not-allowed"},  // the wildcard does not cover its parent
      {"github.co", "not-allowed"},
      {"www.pypi.org", "not-allowed"},  // exact names do not cover subdomains
      {"github.com..", "invalid-name"},
      {".github.com", "invalid-name"},
      {"github..com", "invalid-name"},
      {"g\xc4\xb1thub.com", "invalid-name"},  // dotless i: Unicode must come as punycode
      {"xn--gthub-n4a.com", "not-allowed"},   // and its punycode is a different name
      {"github.com ", "invalid-name"},
      {"*.github.com", "invalid-name"},
      {"", "invalid-name"},
      {".", "invalid-name"},
  };
  for (const auto& [name, reason] : cases) {
    Decision decision = policy.decide_name(std::string(name));
    EXPECT_FALSE(decision.allowed) << name;
    EXPECT_EQ(decision.reason, reason) << name;
  }
  const std::string nul("github.com\0.evil.com", 20);
  EXPECT_EQ(policy.decide_name(nul).reason, "invalid-name");
}

TEST(GateEgressPolicy, DenyWinsOverAllow) {
  EgressPolicy policy = github_policy();
  EXPECT_EQ(policy.decide_name("gist.github.com").reason, "deny gist.github.com");
  EXPECT_EQ(policy.decide_name("GIST.GITHUB.COM.").reason, "deny gist.github.com");
  EXPECT_EQ(policy.decide_name("x.evil.github.com").reason, "deny *.evil.github.com");
  // evil.github.com itself is only matched by the allow wildcard.
  EXPECT_TRUE(policy.decide_name("evil.github.com").allowed);
  EXPECT_TRUE(policy.decide_name("a.gist.github.com").allowed);
}

TEST(GateEgressPolicy, IpLiteralsInEveryNotationAreRefused) {
  EgressRules rules;
  rules.allow = {"github.com"};
  EgressPolicy policy = compile(rules);
  for (std::string_view literal : {"127.0.0.1",
                                   "127.0.0.1.",
                                   "2130706433",
                                   "0x7f000001",
                                   "0X7F000001",
                                   "0x7f.1",
                                   "0177.0.0.1",
                                   "017700000001",
                                   "127.1",
                                   "127.0.1",
                                   "0",
                                   "0x",
                                   "[::1]",
                                   "::1",
                                   "[::ffff:127.0.0.1]",
                                   "::ffff:7f00:1",
                                   "169.254.169.254",
                                   "0xa9.0xfe.0xa9.0xfe",
                                   "4294967296",
                                   "999.999.999.999",
                                   "[github.com]"}) {
    Decision decision = policy.decide_name(literal);
    EXPECT_FALSE(decision.allowed) << literal;
    EXPECT_EQ(decision.reason, "ip-literal") << literal;
  }
  // Names that merely contain digits or hex are names.
  for (std::string_view name : {"0x7f.example", "1.2.3.4.example", "123.github.com", "a.0x1"}) {
    EXPECT_FALSE(is_ip_literal(name)) << name;
  }
  EXPECT_FALSE(is_ip_literal("1.2.3.4.5"));
}

TEST(GateEgressPolicy, Ports) {
  EgressPolicy policy = github_policy();
  EXPECT_TRUE(policy.decide_port(443).allowed);
  EXPECT_FALSE(policy.decide_port(80).allowed);
  EXPECT_EQ(policy.decide_port(22).reason, "port-not-allowed 22");
  EXPECT_TRUE(compile(EgressRules{}).decide_port(80).allowed);  // the spec's default [80, 443]
}

TEST(GateEgressPolicy, Addresses) {
  EgressPolicy policy = github_policy();
  EXPECT_TRUE(policy.decide_address(*netpolicy::parse_ip("140.82.112.3")).allowed);
  EXPECT_TRUE(policy.decide_address(*netpolicy::parse_ip("10.9.0.7")).allowed);
  EXPECT_EQ(policy.decide_address(*netpolicy::parse_ip("10.9.1.7")).reason,
            "private-address 10.0.0.0/8");
  EXPECT_EQ(policy.decide_address(*netpolicy::parse_ip("203.0.113.9")).reason,
            "deny-cidr 203.0.113.0/24");
  EXPECT_FALSE(policy.decide_address(*netpolicy::parse_ip("2002:a9fe:a9fe::")).allowed);
}

TEST(GateEgressPolicy, CompileReportsEveryProblem) {
  EgressRules rules;
  rules.allow = {"GitHub.com", "*", "ok.com", "127.0.0.1"};
  rules.deny = {"*.", "**.x.com"};
  rules.ports = {0, 443};
  rules.allow_cidrs = {"10.0.0.1/8", "banana"};
  rules.deny_cidrs = {"fd00::/200"};
  auto result = EgressPolicy::compile(rules);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(result));
  const auto& problems = std::get<std::vector<std::string>>(result);
  EXPECT_EQ(problems.size(), 9u);
  for (const std::string& problem : problems) EXPECT_FALSE(problem.empty());
}

TEST(GateEgressPolicy, LargeListsStayFast) {
  EgressRules rules;
  for (int i = 0; i < 100000; ++i) {
    rules.allow.push_back("host" + std::to_string(i) + ".example.com");
    rules.allow.push_back("*.zone" + std::to_string(i) + ".example.net");
  }
  EgressPolicy policy = compile(rules);
  EXPECT_TRUE(policy.decide_name("host99999.example.com").allowed);
  EXPECT_TRUE(policy.decide_name("a.b.zone77.example.net").allowed);
  EXPECT_FALSE(policy.decide_name("zone77.example.net").allowed);
  EXPECT_FALSE(policy.decide_name("host100000.example.com").allowed);
}

}  // namespace
}  // namespace acctl::gate
