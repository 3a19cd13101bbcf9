// Lowest-free address assignment over IPv4 subnets, keeping what containers already hold.
#include "converge/addresses.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

namespace acctl {
namespace {

using netpolicy::Cidr;
using netpolicy::IpAddress;

uint32_t v4_of(const IpAddress& ip) {
  return (uint32_t{ip.bytes[12]} << 24) | (uint32_t{ip.bytes[13]} << 16) |
         (uint32_t{ip.bytes[14]} << 8) | ip.bytes[15];
}

std::string v4_text(uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." +
         std::to_string((v >> 8) & 255) + "." + std::to_string(v & 255);
}

std::optional<uint32_t> parse_v4(const std::string& text) {
  auto ip = netpolicy::parse_ip(text);
  if (!ip || !ip->is_v4) return std::nullopt;
  return v4_of(*ip);
}

}  // namespace

Status assign_addresses(DesiredState& desired, const ObservedState& observed) {
  std::map<std::string, const ObservedObject*> containers;
  for (const ObservedObject& o : observed.objects) {
    if (o.type == ObjectType::kContainer) containers[o.name] = &o;
  }
  // Per network: the requests, in name order.
  std::map<std::string, std::vector<DesiredObject*>> by_network;
  for (DesiredObject& d : desired.objects) {
    if (d.type == ObjectType::kContainer && d.address) by_network[d.address->network].push_back(&d);
  }
  for (auto& [network, list] : by_network) {
    std::sort(list.begin(), list.end(),
              [](const DesiredObject* a, const DesiredObject* b) { return a->name < b->name; });
    const Cidr& subnet = list.front()->address->subnet;
    if (!subnet.base.is_v4 || subnet.prefix > 30) {
      return Error{0, list.front()->owner + ": the subnet " + subnet.str() +
                          " has no room for sandbox addresses (an IPv4 /30 or larger is needed)"};
    }
    const uint32_t first = v4_of(subnet.base);
    const uint32_t last =
        first | (subnet.prefix == 0 ? 0xffffffffu : (0xffffffffu >> subnet.prefix));
    std::set<uint32_t> taken = {first, first + 1, last};  // network, gateway, broadcast
    for (const IpAddress& r : list.front()->address->reserved) {
      if (r.is_v4) taken.insert(v4_of(r));
    }
    if (auto in_use = observed.addresses_in_use.find(network);
        in_use != observed.addresses_in_use.end()) {
      for (const std::string& a : in_use->second) {
        if (auto v = parse_v4(a)) taken.insert(*v);
      }
    }
    std::vector<DesiredObject*> fresh;
    for (DesiredObject* d : list) {
      auto it = containers.find(d->name);
      std::optional<uint32_t> held;
      if (it != containers.end()) {
        auto a = it->second->addresses.find(network);
        if (a != it->second->addresses.end()) held = parse_v4(a->second);
      }
      if (held && *held > first + 1 && *held < last) {
        d->container.ipv4_address = v4_text(*held);
        taken.insert(*held);
      } else {
        fresh.push_back(d);
      }
    }
    uint32_t next = first + 2;
    for (DesiredObject* d : fresh) {
      while (next < last && taken.count(next)) ++next;
      if (next >= last) {
        return Error{0, d->owner + ": no free address left in " + subnet.str() + " for " + d->name};
      }
      d->container.ipv4_address = v4_text(next);
      taken.insert(next);
    }
  }
  return ok_status();
}

}  // namespace acctl
