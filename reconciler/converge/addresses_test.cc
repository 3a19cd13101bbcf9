// Sandbox addresses: kept when held, lowest free otherwise, never the network's own ones.
#include "converge/addresses.h"

#include <gtest/gtest.h>

namespace acctl {
namespace {

DesiredObject sandbox(const std::string& name, const std::string& subnet = "172.20.0.0/16") {
  DesiredObject d;
  d.type = ObjectType::kContainer;
  d.name = "ac-sb-" + name;
  d.owner = "Sandbox/" + name;
  d.address = AddressRequest{"ac-net-h",
                             std::get<netpolicy::Cidr>(netpolicy::parse_cidr(subnet)),
                             {*netpolicy::parse_ip("172.20.0.2")}};
  return d;
}

ObservedObject holding(const std::string& name, const std::string& ip) {
  ObservedObject o;
  o.type = ObjectType::kContainer;
  o.name = "ac-sb-" + name;
  o.addresses["ac-net-h"] = ip;
  return o;
}

std::string address_of(const DesiredState& s, const std::string& name) {
  for (const DesiredObject& d : s.objects) {
    if (d.name == "ac-sb-" + name) return d.container.ipv4_address;
  }
  return "?";
}

TEST(Addresses, NewOnesGetTheLowestFreeInNameOrder) {
  DesiredState want{{sandbox("c"), sandbox("a"), sandbox("b")}, {"h"}, {}};
  ObservedState seen;
  seen.addresses_in_use["ac-net-h"] = {"172.20.0.4"};  // someone else's
  ASSERT_TRUE(assign_addresses(want, seen).ok());
  // .0 network, .1 gateway, .2 reserved (the gate here), .4 taken.
  EXPECT_EQ(address_of(want, "a"), "172.20.0.3");
  EXPECT_EQ(address_of(want, "b"), "172.20.0.5");
  EXPECT_EQ(address_of(want, "c"), "172.20.0.6");
}

TEST(Addresses, HeldAddressesStayWhateverComesNew) {
  DesiredState want{{sandbox("a"), sandbox("z")}, {"h"}, {}};
  ObservedState seen;
  seen.objects = {holding("z", "172.20.0.3")};
  seen.addresses_in_use["ac-net-h"] = {"172.20.0.3"};
  ASSERT_TRUE(assign_addresses(want, seen).ok());
  EXPECT_EQ(address_of(want, "z"), "172.20.0.3");
  EXPECT_EQ(address_of(want, "a"), "172.20.0.4");
}

TEST(Addresses, AFullSubnetIsAnErrorNamingTheSandbox) {
  // A /30 has two host addresses: the gateway and one more, which the gate holds here.
  DesiredState want{{sandbox("a", "172.20.0.0/30")}, {"h"}, {}};
  auto r = assign_addresses(want, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "Sandbox/a: no free address left in 172.20.0.0/30 for ac-sb-a");
}

}  // namespace
}  // namespace acctl
