// Tests of allowlist pattern syntax and matching, including look-alike names an attacker would try.
#include "netpolicy/domain.h"

#include <gtest/gtest.h>

namespace acctl::netpolicy {
namespace {

TEST(DomainPattern, AcceptsNamesAndOneLeadingWildcard) {
  for (const char* ok : {"github.com", "*.github.com", "a-b.example", "xn--bcher-kva.de", "*.co.uk",
                         "localhost", "a.b.c.d.e.f.example.org", "1password.com", "x.io"}) {
    EXPECT_EQ(check_domain_pattern(ok), std::nullopt) << ok;
  }
}

TEST(DomainPattern, RefusesWithAReason) {
  struct Bad {
    const char* pattern;
    const char* reason;
  };
  for (const Bad& b : std::initializer_list<Bad>{{"*", "bare"},
                                                 {"*.*.example.com", "whole first label"},
                                                 {"a.*.example.com", "whole first label"},
                                                 {"*example.com", "whole first label"},
                                                 {"Foo.com", "upper-case"},
                                                 {"github.com.", "trailing dot"},
                                                 {"a..b.com", "empty label"},
                                                 {".a.com", "empty label"},
                                                 {"-bad.com", "starts or ends"},
                                                 {"bad-.com", "starts or ends"},
                                                 {"exa mple.com", "not allowed"},
                                                 {"under_score.com", "not allowed"},
                                                 {"b\xc3\xbc"
                                                  "cher.de",
                                                  "punycode"},
                                                 {"*.com", "at least two labels"},
                                                 {"1.2.3.4", "IP address"},
                                                 {"0x7f.1", "IP address"},
                                                 {"2130706433", "IP address"},
                                                 {"0x7f000001", "IP address"},
                                                 {"0x7f.0x1", "IP address"},
                                                 {"127.1", "IP address"},
                                                 {"", "empty"}}) {
    auto why = check_domain_pattern(b.pattern);
    ASSERT_TRUE(why.has_value()) << b.pattern;
    EXPECT_NE(why->find(b.reason), std::string::npos) << b.pattern << ": " << *why;
  }
  EXPECT_TRUE(check_domain_pattern(std::string(64, 'a') + ".com").has_value());
  EXPECT_FALSE(check_domain_pattern(std::string(63, 'a') + ".com").has_value());
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";  // 258 characters
  EXPECT_TRUE(check_domain_pattern(long_name + "com").has_value());
}

TEST(DomainMatch, WildcardCoversSubdomainsOnly) {
  EXPECT_TRUE(domain_matches("*.github.com", "api.github.com"));
  EXPECT_TRUE(domain_matches("*.github.com", "a.b.github.com"));
  EXPECT_FALSE(domain_matches("*.github.com", "github.com"));
  EXPECT_FALSE(domain_matches("*.github.com", "evilgithub.com"));
  EXPECT_FALSE(domain_matches("*.github.com", "github.com.evil.com"));
  EXPECT_TRUE(domain_matches("github.com", "github.com"));
  EXPECT_FALSE(domain_matches("github.com", "api.github.com"));
  EXPECT_FALSE(domain_matches("github.com", "github.co"));
}

TEST(NormalizeName, LowerCasesAndDropsOneTrailingDot) {
  EXPECT_EQ(normalize_name("GitHub.COM."), "github.com");
  EXPECT_EQ(normalize_name("github.com"), "github.com");
  EXPECT_EQ(normalize_name("github.com.."), std::nullopt);
  EXPECT_EQ(normalize_name("git hub.com"), std::nullopt);
  EXPECT_EQ(normalize_name("127.0.0.1"), std::nullopt);
  EXPECT_EQ(normalize_name("0X7F000001"), std::nullopt);
  EXPECT_EQ(normalize_name("g\xc4\xb1thub.com"), std::nullopt);  // dotless i look-alike
  EXPECT_EQ(normalize_name(""), std::nullopt);
}

}  // namespace
}  // namespace acctl::netpolicy
