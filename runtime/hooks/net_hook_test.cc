// ac_net_hook.so preloaded into a real program, with listeners on loopback standing in for the
// gate (127.0.0.7): no packet leaves the machine. Ports 80 and 443 need root; skipped otherwise.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/fd.h"
#include "support/run_command.h"

namespace {

// A listening socket on ip:port (0: any); -1 when the port cannot be had.
acctl::UniqueFd listen_on(const char* ip, unsigned port, unsigned* bound = nullptr) {
  acctl::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), 16) != 0)
    return acctl::UniqueFd();
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  if (bound) *bound = ntohs(a.sin_port);
  return fd;
}

// The probe's stdout and stderr, run with the hook preloaded.
std::string probe(const std::string& gate, const std::string& args) {
  return acctl::test_support::run_command(std::string("env -i LD_PRELOAD=") + AC_NET_HOOK +
                                          (gate.empty() ? "" : " ACCTL_GATE_ADDR=" + gate) + " " +
                                          NET_HOOK_PROBE + " " + args)
      .output;
}

// Each test has a gate address of its own: ctest runs them side by side.
class NetHook : public ::testing::Test {
 protected:
  bool gate_at(const std::string& ip) {
    gate_ = ip;
    http_ = listen_on(ip.c_str(), 80);
    https_ = listen_on(ip.c_str(), 443);
    return http_ && https_;
  }
  std::string probe(const std::string& args) { return ::probe(gate_, args); }
  std::string gate_;
  acctl::UniqueFd http_, https_;
};
#define GATE_AT(ip) \
  if (!gate_at(ip)) GTEST_SKIP() << "needs ports 80 and 443 on " << (ip) << " (root)"

TEST_F(NetHook, RemoteWebPortsReachTheGateOnTheSamePort) {
  GATE_AT("127.0.0.7");
  EXPECT_EQ(probe("4 192.0.2.1 80"), "connected 127.0.0.7 80\n");
  EXPECT_EQ(probe("4 198.51.100.9 443"), "connected 127.0.0.7 443\n");
}

TEST_F(NetHook, Ipv6SocketsReachTheGateToo) {
  GATE_AT("127.0.0.8");
  EXPECT_EQ(probe("6 2001:db8::1 443"), "connected ::ffff:127.0.0.8 443\n");
  // An IPv6-only socket cannot reach an IPv4 address: an IPv4 socket takes its place.
  EXPECT_EQ(probe("6only 2001:db8::1 80"), "connected 127.0.0.8 80\n");
}

TEST_F(NetHook, OtherPortsAreRefusedWithOneLineNamingThePort) {
  GATE_AT("127.0.0.9");
  const std::string out = probe("4 192.0.2.1 22");
  EXPECT_NE(out.find("acctl: connect to 192.0.2.1 port 22 refused"), std::string::npos) << out;
  EXPECT_NE(out.find("error 111"), std::string::npos) << out;  // ECONNREFUSED
  EXPECT_NE(probe("6 2001:db8::5 5432").find("port 5432 refused"), std::string::npos);
}

TEST_F(NetHook, LoopbackIsUntouchedAndNoGateMeansNoHook) {
  GATE_AT("127.0.0.10");
  unsigned port = 0;
  acctl::UniqueFd local = listen_on("127.0.0.1", 0, &port);
  ASSERT_TRUE(local);
  EXPECT_EQ(probe("4 127.0.0.1 " + std::to_string(port)),
            "connected 127.0.0.1 " + std::to_string(port) + "\n");
  EXPECT_EQ(::probe("", "4 127.0.0.1 " + std::to_string(port)),
            "connected 127.0.0.1 " + std::to_string(port) + "\n");
}

}  // namespace
