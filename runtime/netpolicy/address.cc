// Parsing and containment for IP addresses and CIDR ranges.
#include "netpolicy/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace acctl::netpolicy {
namespace {

constexpr int kV4MappedOffset = 12;

// Whether the first `bits` bits (counted in the 128-bit form) of a and b agree.
bool prefix_equal(const IpAddress& a, const IpAddress& b, int bits) {
  int full = bits / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), full) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

int bits128(const Cidr& c) {
  return c.base.is_v4 ? c.prefix + 96 : c.prefix;
}

}  // namespace

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4) {
    inet_ntop(AF_INET, bytes.data() + kV4MappedOffset, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  IpAddress out;
  // inet_pton(AF_INET) takes exactly four decimal parts; it refuses 0x7f.1, 017.0.0.1 and
  // 2130706433.
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), out.bytes.data() + kV4MappedOffset) != 1) return std::nullopt;
    // Leading zeros ("010.0.0.1") are read as octal by some resolvers: refuse them here.
    size_t start = 0;
    while (start < s.size()) {
      size_t dot = s.find('.', start);
      if (dot == std::string::npos) dot = s.size();
      if (dot - start > 1 && s[start] == '0') return std::nullopt;
      start = dot + 1;
    }
    out.bytes[10] = out.bytes[11] = 0xff;
    out.is_v4 = true;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) != 1) return std::nullopt;
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d: one form, so one set of rules applies to it.
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  out.is_v4 = std::memcmp(out.bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0;
  return out;
}

bool Cidr::contains(const IpAddress& addr) const {
  // Families never mix: "::/0" must not admit 127.0.0.1 through its mapped form.
  if (base.is_v4 != addr.is_v4) return false;
  return prefix_equal(base, addr, bits128(*this));
}

bool Cidr::covers(const Cidr& other) const {
  if (base.is_v4 != other.base.is_v4) return false;
  return bits128(other) >= bits128(*this) && prefix_equal(base, other.base, bits128(*this));
}

std::string Cidr::str() const {
  return base.str() + "/" + std::to_string(prefix);
}

std::variant<Cidr, std::string> parse_cidr(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  auto addr = parse_ip(addr_text);
  if (!addr) return "\"" + std::string(addr_text) + "\" is not an IP address";
  // A mapped address written in IPv6 form ("::ffff:10.0.0.0/104") takes an IPv6 prefix length.
  const bool v6_text = addr_text.find(':') != std::string_view::npos;
  const int max_bits = v6_text ? 128 : 32;
  Cidr out{*addr, max_bits};
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
    if (len.empty() || ec != std::errc() || end != len.data() + len.size() || value < 0 ||
        value > max_bits || (len.size() > 1 && len[0] == '0')) {
      return "prefix length \"" + std::string(len) + "\" must be 0.." + std::to_string(max_bits);
    }
    out.prefix = value;
  }
  if (v6_text && out.base.is_v4) {
    if (out.prefix >= 96) {
      out.prefix -= 96;
    } else {
      out.base.is_v4 = false;
    }
  }
  IpAddress network = out.base;
  int bits = bits128(out);
  for (int i = bits; i < 128; ++i) network.bytes[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
  if (!(network == out.base)) {
    return "host bits are set; the range is " + Cidr{network, out.prefix}.str();
  }
  return out;
}

}  // namespace acctl::netpolicy
