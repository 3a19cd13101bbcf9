// Tests for the built-in address deny list in every address form, and allowCIDRs exceptions.
#include "gate/deny_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace acctl::gate {
namespace {

using netpolicy::Cidr;

netpolicy::IpAddress ip(std::string_view text) {
  auto parsed = netpolicy::parse_ip(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(netpolicy::IpAddress{});
}

std::vector<Cidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<Cidr> out;
  for (std::string_view text : texts) out.push_back(std::get<Cidr>(netpolicy::parse_cidr(text)));
  return out;
}

AddressDecision check(std::string_view address, std::vector<Cidr> allow = {},
                      std::vector<Cidr> deny = {}) {
  return check_address(ip(address), allow, deny);
}

TEST(GateDenyList, PublicAddressesPass) {
  for (std::string_view address :
       {"140.82.112.3", "1.1.1.1", "2606:4700:4700::1111", "8.8.8.8", "100.63.255.255",
        "100.128.0.0", "172.32.0.1", "169.253.255.255", "64:ff9b::808:808", "2002:808:808::1"}) {
    AddressDecision decision = check(address);
    EXPECT_TRUE(decision.allowed) << address << ": " << decision.reason;
    EXPECT_EQ(decision.reason, "public");
  }
}

TEST(GateDenyList, IPv4Ranges) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"127.0.0.1", "loopback 127.0.0.0/8"},
      {"127.255.255.254", "loopback 127.0.0.0/8"},
      {"10.1.2.3", "private-address 10.0.0.0/8"},
      {"172.16.0.1", "private-address 172.16.0.0/12"},
      {"172.31.255.255", "private-address 172.16.0.0/12"},
      {"192.168.1.1", "private-address 192.168.0.0/16"},
      {"100.64.0.1", "cgnat 100.64.0.0/10"},
      {"100.127.255.255", "cgnat 100.64.0.0/10"},
      {"169.254.169.254", "link-local 169.254.0.0/16"},
      {"0.0.0.0", "unspecified 0.0.0.0/8"},
      {"0.1.2.3", "unspecified 0.0.0.0/8"},
      {"224.0.0.1", "multicast 224.0.0.0/4"},
      {"239.255.255.250", "multicast 224.0.0.0/4"},
      {"255.255.255.255", "broadcast 255.255.255.255/32"},
      {"240.0.0.1", "reserved 240.0.0.0/4"},
      {"192.0.0.170", "reserved 192.0.0.0/24"},
      {"198.18.0.1", "benchmarking 198.18.0.0/15"},
  };
  for (const auto& [address, reason] : cases) {
    AddressDecision decision = check(address);
    EXPECT_FALSE(decision.allowed) << address;
    EXPECT_EQ(decision.reason, reason) << address;
  }
}

TEST(GateDenyList, IPv6Ranges) {
  EXPECT_EQ(check("::1").reason, "loopback ::1/128");
  EXPECT_EQ(check("::").reason, "unspecified ::/128");
  EXPECT_EQ(check("fd00::1").reason, "unique-local fc00::/7");
  EXPECT_EQ(check("fc12::1").reason, "unique-local fc00::/7");
  EXPECT_EQ(check("fe80::1").reason, "link-local fe80::/10");
  EXPECT_EQ(check("febf::1").reason, "link-local fe80::/10");
  EXPECT_EQ(check("ff02::1").reason, "multicast ff00::/8");
  EXPECT_EQ(check("fd00:ec2::254").reason, "unique-local fc00::/7");  // AWS IPv6 metadata
}

TEST(GateDenyList, MappedFormsAreTheIPv4Address) {
  // parse_ip folds these to IPv4, so they get the IPv4 reason with no "via".
  EXPECT_EQ(check("::ffff:127.0.0.1").reason, "loopback 127.0.0.0/8");
  EXPECT_EQ(check("::ffff:a9fe:a9fe").reason, "link-local 169.254.0.0/16");
}

TEST(GateDenyList, MappedBytesNotMarkedIPv4AreStillTheIPv4Address) {
  // As an AAAA answer arrives from a resolver: ::ffff:169.254.169.254 in IPv6 form.
  for (auto [text, reason] : std::vector<std::pair<const char*, const char*>>{
           {"169.254.169.254", "link-local 169.254.0.0/16 via ipv4-mapped 169.254.169.254"},
           {"10.1.2.3", "private-address 10.0.0.0/8 via ipv4-mapped 10.1.2.3"},
           {"127.0.0.1", "loopback 127.0.0.0/8 via ipv4-mapped 127.0.0.1"},
           {"172.20.0.3", "private-address 172.16.0.0/12 via ipv4-mapped 172.20.0.3"}}) {
    netpolicy::IpAddress a = ip(text);
    a.is_v4 = false;
    AddressDecision d = check_address(a, {}, {});
    EXPECT_FALSE(d.allowed) << text;
    EXPECT_EQ(d.reason, reason);
  }
  netpolicy::IpAddress pub = ip("140.82.112.3");
  pub.is_v4 = false;
  EXPECT_TRUE(check_address(pub, {}, {}).allowed);
  // allowCIDRs names IPv4 ranges for them, as for any IPv4 address.
  netpolicy::IpAddress lan = ip("10.9.0.5");
  lan.is_v4 = false;
  EXPECT_TRUE(check_address(lan, cidrs({"10.9.0.0/24"}), {}).allowed);
  EXPECT_FALSE(check_address(lan, cidrs({"::/0"}), {}).allowed);
}

TEST(GateDenyList, EmbeddedIPv4Forms) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"::127.0.0.1", "loopback 127.0.0.0/8 via ipv4-compatible 127.0.0.1"},
      {"::a9fe:a9fe", "link-local 169.254.0.0/16 via ipv4-compatible 169.254.169.254"},
      {"::ffff:0:10.0.0.1", "private-address 10.0.0.0/8 via siit 10.0.0.1"},
      {"64:ff9b::127.0.0.1", "loopback 127.0.0.0/8 via nat64 127.0.0.1"},
      {"64:ff9b::a9fe:a9fe", "link-local 169.254.0.0/16 via nat64 169.254.169.254"},
      {"2002:a00:1::1", "private-address 10.0.0.0/8 via 6to4 10.0.0.1"},
      {"2002:7f00:1::", "loopback 127.0.0.0/8 via 6to4 127.0.0.1"},
      {"2002:6440:1::", "cgnat 100.64.0.0/10 via 6to4 100.64.0.1"},
      // Teredo: server 10.0.0.1 at bits 32..63; or client 127.0.0.1 inverted in the last 32.
      {"2001:0:a00:1::1", "private-address 10.0.0.0/8 via teredo-server 10.0.0.1"},
      {"2001:0:808:808:0:0:80ff:fffe", "loopback 127.0.0.0/8 via teredo-client 127.0.0.1"},
      {"2001:0:808:808:0:0:5601:5601",
       "link-local 169.254.0.0/16 via teredo-client "
       "169.254.169.254"},
  };
  for (const auto& [address, reason] : cases) {
    AddressDecision decision = check(address);
    EXPECT_FALSE(decision.allowed) << address;
    EXPECT_EQ(decision.reason, reason) << address;
  }
  // Public IPv4 inside each form passes.
  for (std::string_view address :
       {"::808:808", "64:ff9b::808:808", "2002:808:808::", "2001:0:808:808::f7f7:f7f7"}) {
    EXPECT_TRUE(check(address).allowed) << address << ": " << check(address).reason;
  }
}

TEST(GateDenyList, LocalUseNat64IsJudgedAtEveryPosition) {
  // 64:ff9b:1::/48 may be split into any prefix from /48 to /96, and a translator reads the
  // IPv4 address from where its own prefix length puts it, so every position must be safe.
  for (std::string_view address : {"64:ff9b:1::a00:1",                 // /96: 10.0.0.1
                                   "64:ff9b:1:a00:0:100::",            // /48: 10.0.0.1
                                   "64:ff9b:1:0:a:0:100:0",            // /64: 10.0.0.1
                                   "64:ff9b:1:7f00:0:100:808:808"}) {  // /48 loopback, /96 public
    AddressDecision decision = check(address);
    EXPECT_FALSE(decision.allowed) << address;
    EXPECT_NE(decision.reason.find(" via nat64 "), std::string::npos) << decision.reason;
  }
  // The price of failing closed: zeros at the /48 position read as 0.0.0.0/8.
  EXPECT_FALSE(check("64:ff9b:1::808:808").allowed);
  EXPECT_TRUE(check("64:ff9b:1:808:8:808:808:808").allowed);
}

TEST(GateDenyList, AllowCidrsLiftTheBuiltinList) {
  const std::vector<Cidr> allow = cidrs({"10.9.0.0/24", "fd00:1::/32"});
  EXPECT_EQ(check("10.9.0.5", allow).reason, "allow-cidr 10.9.0.0/24");
  EXPECT_TRUE(check("10.9.0.5", allow).allowed);
  EXPECT_FALSE(check("10.9.1.5", allow).allowed);
  EXPECT_TRUE(check("fd00:1::5", allow).allowed);
  EXPECT_FALSE(check("fd00:2::5", allow).allowed);
  // The embedded address is covered: the 6to4 form of an allowed address is allowed too.
  EXPECT_TRUE(check("2002:a09:5::", allow).allowed);
  EXPECT_TRUE(check("::ffff:10.9.0.5", allow).allowed);
  // But one allowed embedding does not lift another denied one (Teredo server vs client).
  EXPECT_FALSE(check("2001:0:a09:5::80ff:fffe", allow).allowed);
}

TEST(GateDenyList, BroadIPv6AllowDoesNotAdmitIPv4) {
  // "::/0" contains every IPv4-mapped address in netpolicy's 128-bit form; a user writing it
  // means IPv6 only.
  const std::vector<Cidr> allow = cidrs({"::/0"});
  EXPECT_FALSE(check("127.0.0.1", allow).allowed);
  EXPECT_TRUE(check("fd00::1", allow).allowed);
  // Nor the IPv4 address embedded in an IPv6 one.
  EXPECT_FALSE(check("::127.0.0.1", allow).allowed);
  EXPECT_FALSE(check("2002:a00:1::", cidrs({"2002::/16"})).allowed);
}

TEST(GateDenyList, DenyCidrsWinOverAllowCidrs) {
  const std::vector<Cidr> allow = cidrs({"10.0.0.0/8"});
  const std::vector<Cidr> deny = cidrs({"10.1.0.0/16", "203.0.113.0/24", "8.8.8.0/24"});
  EXPECT_EQ(check("10.1.0.1", allow, deny).reason, "deny-cidr 10.1.0.0/16");
  EXPECT_TRUE(check("10.2.0.1", allow, deny).allowed);
  EXPECT_EQ(check("8.8.8.8", allow, deny).reason, "deny-cidr 8.8.8.0/24");
  EXPECT_EQ(check("64:ff9b::808:808", allow, deny).reason,
            "deny-cidr 8.8.8.0/24 via nat64 8.8.8.8");
}

}  // namespace
}  // namespace acctl::gate
