// Tests of strict address parsing and CIDR containment, in every spelling an attacker might use.
#include "netpolicy/address.h"

#include <gtest/gtest.h>

namespace acctl::netpolicy {
namespace {

Cidr cidr(const char* text) {
  auto r = parse_cidr(text);
  EXPECT_TRUE(std::holds_alternative<Cidr>(r)) << text << ": " << std::get<std::string>(r);
  return std::get<Cidr>(r);
}

std::string cidr_error(const char* text) {
  auto r = parse_cidr(text);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(ParseIp, StrictIpv4Only) {
  EXPECT_TRUE(parse_ip("10.1.2.3")->is_v4);
  EXPECT_EQ(parse_ip("10.1.2.3")->str(), "10.1.2.3");
  for (const char* bad :
       {"0x7f.0.0.1", "017.0.0.1", "127.1", "2130706433", "10.1.2.3.4", "256.0.0.1", " 10.0.0.1",
        "10.0.0.1 ", "010.0.0.1", "", "1.2.3.4/8", "localhost"}) {
    EXPECT_EQ(parse_ip(bad), std::nullopt) << bad;
  }
}

TEST(ParseIp, Ipv6AndMappedForms) {
  EXPECT_FALSE(parse_ip("fd00::1")->is_v4);
  EXPECT_EQ(parse_ip("::1")->str(), "::1");
  auto mapped = parse_ip("::ffff:169.254.169.254");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->is_v4);  // one address, one set of rules
  EXPECT_EQ(*mapped, *parse_ip("169.254.169.254"));
  EXPECT_EQ(parse_ip("::ffff:a9fe:a9fe"), parse_ip("169.254.169.254"));
  EXPECT_EQ(parse_ip("fe80::1%eth0"), std::nullopt);  // zones are not addresses here
  EXPECT_EQ(parse_ip("[::1]"), std::nullopt);
}

TEST(Cidr, ParseAndContain) {
  Cidr ten = cidr("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(*parse_ip("10.255.0.1")));
  EXPECT_FALSE(ten.contains(*parse_ip("11.0.0.1")));
  EXPECT_TRUE(ten.contains(*parse_ip("::ffff:10.0.0.1")));
  EXPECT_FALSE(ten.contains(*parse_ip("fd00::1")));
  Cidr ula = cidr("fc00::/7");
  EXPECT_TRUE(ula.contains(*parse_ip("fd12:3456::1")));
  EXPECT_FALSE(ula.contains(*parse_ip("10.0.0.1")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(*parse_ip("8.8.8.8")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(*parse_ip("2001:db8::1")));
  // An IPv6 range never admits an IPv4 address through its mapped form.
  EXPECT_FALSE(cidr("::/0").contains(*parse_ip("127.0.0.1")));
  EXPECT_FALSE(cidr("::/0").contains(*parse_ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(cidr("::/0").covers(cidr("10.0.0.0/8")));
  Cidr host = cidr("192.168.1.7");
  EXPECT_EQ(host.prefix, 32);
  EXPECT_EQ(host.str(), "192.168.1.7/32");
}

TEST(Cidr, MappedRangeWrittenInIpv6Form) {
  Cidr all_mapped = cidr("::ffff:0.0.0.0/96");
  EXPECT_TRUE(all_mapped.contains(*parse_ip("1.2.3.4")));
  Cidr mapped_ten = cidr("::ffff:10.0.0.0/104");
  EXPECT_TRUE(mapped_ten.base.is_v4);
  EXPECT_EQ(mapped_ten.prefix, 8);
  EXPECT_TRUE(mapped_ten.contains(*parse_ip("10.9.9.9")));
}

TEST(Cidr, Covers) {
  EXPECT_TRUE(cidr("10.0.0.0/8").covers(cidr("10.1.0.0/16")));
  EXPECT_FALSE(cidr("10.1.0.0/16").covers(cidr("10.0.0.0/8")));
  EXPECT_FALSE(cidr("10.0.0.0/8").covers(cidr("11.0.0.0/16")));
}

TEST(Cidr, ErrorsSayWhy) {
  EXPECT_NE(cidr_error("10.0.0.0/33").find("must be 0..32"), std::string::npos);
  EXPECT_NE(cidr_error("fe80::/129").find("must be 0..128"), std::string::npos);
  EXPECT_NE(cidr_error("300.1.2.3/8").find("not an IP address"), std::string::npos);
  EXPECT_NE(cidr_error("10.0.0.1/8").find("host bits are set; the range is 10.0.0.0/8"),
            std::string::npos);
  EXPECT_NE(cidr_error("10.0.0.0/").find("prefix length"), std::string::npos);
  EXPECT_NE(cidr_error("10.0.0.0/08").find("prefix length"), std::string::npos);
  EXPECT_NE(cidr_error("10.0.0.0/-1").find("prefix length"), std::string::npos);
  EXPECT_NE(cidr_error("10.0.0.0/8/9").find("prefix length"), std::string::npos);
}

}  // namespace
}  // namespace acctl::netpolicy
