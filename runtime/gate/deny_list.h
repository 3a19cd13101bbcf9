// The built-in address deny list: where the gate never connects unless allowCIDRs says so.
#pragma once

#include <span>
#include <string>

#include "netpolicy/address.h"

namespace acctl::gate {

struct AddressDecision {
  bool allowed = false;
  // "public", "allow-cidr 10.9.0.0/24", "private-address 10.0.0.0/8 via 6to4",
  // "deny-cidr 203.0.113.0/24", ...
  std::string reason;
};

// Judges an address the gate resolved and is about to dial. An IPv6 address that carries an
// IPv4 address (IPv4-compatible, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4, Teredo server and
// client, SIIT ::ffff:0:0/96) is also judged by that IPv4 address, since that is where the
// packets may end up.
//
// - `deny_cidrs` are refused always, even when `allow_cidrs` also covers the address.
// - A built-in range is lifted when an `allow_cidrs` entry contains the address being judged:
//   the dialled address itself, or for an embedded IPv4 address, that IPv4 address. An IPv6
//   entry never admits an IPv4 address: "::/0" in the netpolicy sense contains every
//   IPv4-mapped address, which is not what a user writing it means.
AddressDecision check_address(const netpolicy::IpAddress& address,
                              std::span<const netpolicy::Cidr> allow_cidrs,
                              std::span<const netpolicy::Cidr> deny_cidrs);

}  // namespace acctl::gate
