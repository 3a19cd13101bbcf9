// The connect() hook's policy, without a socket.
#include "hooks/net_decision.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace {

const uint32_t kGate = inet_addr("172.20.0.53");

ac_net_target v4(const char* ip, unsigned port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  ac_net_target t;
  ac_net_decide(reinterpret_cast<sockaddr*>(&a), sizeof a, kGate, &t);
  return t;
}
ac_net_target v6(const char* ip, unsigned port, socklen_t len = sizeof(sockaddr_in6)) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  ac_net_target t;
  ac_net_decide(reinterpret_cast<sockaddr*>(&a), len, kGate, &t);
  return t;
}

TEST(NetDecision, WebPortsGoToTheGateKeepingThePort) {
  EXPECT_EQ(v4("1.1.1.1", 443).decision, AC_NET_TO_GATE);
  EXPECT_EQ(v4("192.0.2.7", 80).decision, AC_NET_TO_GATE);
  EXPECT_EQ(v4("192.0.2.7", 80).port, 80u);
  EXPECT_EQ(v6("2001:db8::1", 443).decision, AC_NET_TO_GATE);
}

TEST(NetDecision, OtherPortsAreRefusedNamingAddressAndPort) {
  ac_net_target t = v4("192.0.2.7", 22);
  EXPECT_EQ(t.decision, AC_NET_REFUSE);
  EXPECT_EQ(t.port, 22u);
  EXPECT_STREQ(t.text, "192.0.2.7");
  t = v6("2001:db8::1", 8080);
  EXPECT_EQ(t.decision, AC_NET_REFUSE);
  EXPECT_STREQ(t.text, "2001:db8::1");
  // The gate's own other ports are the gate's to refuse: untouched here.
  EXPECT_EQ(v4("172.20.0.53", 22).decision, AC_NET_UNTOUCHED);
}

TEST(NetDecision, LoopbackTheGateAndLocalAddressesAreUntouched) {
  EXPECT_EQ(v4("127.0.0.1", 8080).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v4("127.9.9.9", 443).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v4("0.0.0.0", 3000).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v4("172.20.0.53", 443).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v6("::1", 5000).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v6("::", 5000).decision, AC_NET_UNTOUCHED);
}

TEST(NetDecision, Ipv4MappedAddressesAreJudgedAsIpv4) {
  EXPECT_EQ(v6("::ffff:172.20.0.53", 443).decision, AC_NET_UNTOUCHED);
  EXPECT_EQ(v6("::ffff:127.0.0.1", 22).decision, AC_NET_UNTOUCHED);
  ac_net_target t = v6("::ffff:169.254.169.254", 80);
  EXPECT_EQ(t.decision, AC_NET_TO_GATE);
  EXPECT_STREQ(t.text, "169.254.169.254");
  EXPECT_EQ(v6("::ffff:10.0.0.1", 25).decision, AC_NET_REFUSE);
}

TEST(NetDecision, ShortOrForeignAddressesAreLeftToConnect) {
  EXPECT_EQ(v6("2001:db8::1", 443, sizeof(sockaddr_in6) - 1).decision, AC_NET_UNTOUCHED);
  sockaddr un{};
  un.sa_family = AF_UNIX;
  ac_net_target t;
  EXPECT_EQ(ac_net_decide(&un, sizeof un, kGate, &t), AC_NET_UNTOUCHED);
  EXPECT_EQ(ac_net_decide(nullptr, 0, kGate, &t), AC_NET_UNTOUCHED);
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  EXPECT_EQ(ac_net_decide(&unspec, sizeof unspec, kGate, &t), AC_NET_UNTOUCHED);
}

}  // namespace
