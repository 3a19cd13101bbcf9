// IP addresses and CIDR ranges in one 128-bit form (IPv4 held as IPv4-mapped IPv6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace acctl::netpolicy {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // IPv4 a.b.c.d is ::ffff:a.b.c.d
  bool is_v4 = false;

  std::string str() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Strict textual forms only: dotted-decimal IPv4 with four parts, or RFC 4291 IPv6 (no zone).
// Octal, hex and shortened IPv4 forms are rejected: they are how allowlists get bypassed.
std::optional<IpAddress> parse_ip(std::string_view text);

struct Cidr {
  IpAddress base;
  int prefix = 0;  // in the address's own family: 0..32 for IPv4, 0..128 for IPv6

  bool contains(const IpAddress& addr) const;
  // True when every address of `other` is inside this range.
  bool covers(const Cidr& other) const;
  std::string str() const;
};

// Parses "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128). Host bits must be zero.
// On failure returns the reason.
std::variant<Cidr, std::string> parse_cidr(std::string_view text);

}  // namespace acctl::netpolicy
