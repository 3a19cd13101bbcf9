// Built-in special-purpose ranges (RFC 6890 registry) and the IPv6 forms that embed IPv4.
#include "gate/deny_list.h"

#include <array>
#include <optional>
#include <string_view>
#include <vector>

namespace acctl::gate {
namespace {

using netpolicy::Cidr;
using netpolicy::IpAddress;

struct BuiltinRange {
  std::string_view cidr;
  std::string_view category;
};

// Order matters only for the reason given: the first range that contains the address names it.
constexpr std::array kBuiltinRanges = {
    BuiltinRange{"0.0.0.0/8", "unspecified"},
    BuiltinRange{"10.0.0.0/8", "private-address"},
    BuiltinRange{"100.64.0.0/10", "cgnat"},
    BuiltinRange{"127.0.0.0/8", "loopback"},
    BuiltinRange{"169.254.0.0/16", "link-local"},  // includes 169.254.169.254, cloud metadata
    BuiltinRange{"172.16.0.0/12", "private-address"},
    BuiltinRange{"192.0.0.0/24", "reserved"},  // IETF protocol assignments, NAT64 discovery
    BuiltinRange{"192.0.2.0/24", "documentation"},
    BuiltinRange{"192.168.0.0/16", "private-address"},
    BuiltinRange{"198.18.0.0/15", "benchmarking"},  // also used for "fake IP" DNS tricks
    BuiltinRange{"198.51.100.0/24", "documentation"},
    BuiltinRange{"203.0.113.0/24", "documentation"},
    BuiltinRange{"224.0.0.0/4", "multicast"},
    BuiltinRange{"255.255.255.255/32", "broadcast"},
    BuiltinRange{"240.0.0.0/4", "reserved"},
    BuiltinRange{"::/128", "unspecified"},
    BuiltinRange{"::1/128", "loopback"},
    BuiltinRange{"100::/64", "discard"},
    BuiltinRange{"2001:db8::/32", "documentation"},
    BuiltinRange{"fc00::/7", "unique-local"},
    BuiltinRange{"fe80::/10", "link-local"},
    BuiltinRange{"fec0::/10", "site-local"},
    BuiltinRange{"ff00::/8", "multicast"},
};

struct CompiledRange {
  Cidr cidr;
  std::string_view category;
};

// Parsed once per process: the table is constant, so this is not mutable global state.
const std::vector<CompiledRange>& builtin_ranges() {
  static const std::vector<CompiledRange> ranges = [] {
    std::vector<CompiledRange> out;
    for (const BuiltinRange& range : kBuiltinRanges) {
      out.push_back({std::get<Cidr>(netpolicy::parse_cidr(range.cidr)), range.category});
    }
    return out;
  }();
  return ranges;
}

// One address the packets may reach: the dialled address itself or an IPv4 address inside it.
struct View {
  IpAddress address;
  std::string_view form;  // "" for the address itself
};

IpAddress ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress out;
  out.bytes[10] = out.bytes[11] = 0xff;
  out.bytes[12] = a;
  out.bytes[13] = b;
  out.bytes[14] = c;
  out.bytes[15] = d;
  out.is_v4 = true;
  return out;
}

bool starts_with(const IpAddress& address, std::initializer_list<uint8_t> prefix) {
  size_t i = 0;
  for (uint8_t byte : prefix) {
    if (address.bytes[i++] != byte) return false;
  }
  return true;
}

std::vector<View> views_of(const IpAddress& address) {
  std::vector<View> views{{address, ""}};
  if (address.is_v4) return views;
  const auto& b = address.bytes;
  auto v4_at = [&](size_t i) { return ipv4(b[i], b[i + 1], b[i + 2], b[i + 3]); };
  if (starts_with(address, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})) {
    // IPv4-mapped bytes not marked IPv4 (an AAAA answer as the resolver gave it): that IPv4
    // address is where a dial goes, so it is judged as one, not as an IPv6 address.
    views.push_back({v4_at(12), "ipv4-mapped"});
  } else if (starts_with(address, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) {
    views.push_back({v4_at(12), "ipv4-compatible"});
  } else if (starts_with(address, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0})) {
    views.push_back({v4_at(12), "siit"});
  } else if (starts_with(address, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0})) {
    views.push_back({v4_at(12), "nat64"});
  } else if (starts_with(address, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01})) {
    // The local-use NAT64 prefix may be any length from /48 to /96 (RFC 8215), so the IPv4
    // address may sit at any RFC 6052 position: judge every candidate.
    views.push_back({ipv4(b[6], b[7], b[9], b[10]), "nat64"});
    views.push_back({ipv4(b[7], b[9], b[10], b[11]), "nat64"});
    views.push_back({v4_at(9), "nat64"});
    views.push_back({v4_at(12), "nat64"});
  } else if (starts_with(address, {0x20, 0x02})) {
    views.push_back({v4_at(2), "6to4"});
  } else if (starts_with(address, {0x20, 0x01, 0x00, 0x00})) {
    views.push_back({v4_at(4), "teredo-server"});
    views.push_back({ipv4(static_cast<uint8_t>(~b[12]), static_cast<uint8_t>(~b[13]),
                          static_cast<uint8_t>(~b[14]), static_cast<uint8_t>(~b[15])),
                     "teredo-client"});
  }
  return views;
}

std::string describe(std::string_view what, const Cidr& cidr, const View& view) {
  std::string out = std::string(what) + " " + cidr.str();
  if (!view.form.empty()) out += " via " + std::string(view.form) + " " + view.address.str();
  return out;
}

const Cidr* find_allow(const IpAddress& address, std::span<const Cidr> allow_cidrs) {
  for (const Cidr& cidr : allow_cidrs) {
    if (address.is_v4 && !cidr.base.is_v4) continue;
    if (cidr.contains(address)) return &cidr;
  }
  return nullptr;
}

}  // namespace

AddressDecision check_address(const IpAddress& address, std::span<const Cidr> allow_cidrs,
                              std::span<const Cidr> deny_cidrs) {
  const std::vector<View> views = views_of(address);
  for (const View& view : views) {
    for (const Cidr& cidr : deny_cidrs) {
      if (cidr.contains(view.address)) return {false, describe("deny-cidr", cidr, view)};
    }
  }
  const Cidr* admitted_by = nullptr;
  for (const View& view : views) {
    for (const CompiledRange& range : builtin_ranges()) {
      if (!range.cidr.contains(view.address)) continue;
      // An embedded IPv4 address is lifted only by an entry naming IPv4 addresses: "::/0" or
      // "2002::/16" in allowCIDRs must not admit the loopback inside them.
      const Cidr* allow = find_allow(view.address, allow_cidrs);
      if (!allow) return {false, describe(range.category, range.cidr, view)};
      admitted_by = allow;
      break;
    }
  }
  if (admitted_by) return {true, "allow-cidr " + admitted_by->str()};
  return {true, "public"};
}

}  // namespace acctl::gate
