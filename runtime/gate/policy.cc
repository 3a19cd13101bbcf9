// Compiles an EgressPolicy's lists into hash sets and decides names, ports and addresses.
#include "gate/policy.h"

#include <algorithm>

#include "common/ascii.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// One part of an inet_aton(3) address: decimal, 0x-hex or 0-octal. Out-of-range values still
// count: whether a library wraps or rejects them, the text is a number, not a name.
bool is_aton_part(std::string_view part) {
  if (part.empty()) return false;
  if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    return std::all_of(part.begin() + 2, part.end(), is_hex_digit);  // glibc takes a bare "0x"
  }
  return std::all_of(part.begin(), part.end(), is_digit);
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  if (host.starts_with('[') || host.ends_with(']')) return true;
  if (host.find(':') != std::string_view::npos) return netpolicy::parse_ip(host).has_value();
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  size_t parts = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view part =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!is_aton_part(part)) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts <= 4;
}

void EgressPolicy::PatternSet::add(const std::string& pattern) {
  if (pattern.starts_with("*.")) {
    wildcard_parents.insert(pattern.substr(2));
  } else {
    exact.insert(pattern);
  }
}

std::string EgressPolicy::PatternSet::match(std::string_view name) const {
  if (exact.contains(name)) return std::string(name);
  // "*.x.com" matches names strictly below x.com: try each proper parent of the name.
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    const std::string_view parent = name.substr(dot + 1);
    if (wildcard_parents.contains(parent)) return "*." + std::string(parent);
  }
  return "";
}

std::variant<EgressPolicy, std::vector<std::string>> EgressPolicy::compile(
    const EgressRules& rules) {
  EgressPolicy policy;
  std::vector<std::string> problems;
  auto add_patterns = [&](const std::vector<std::string>& patterns, std::string_view field,
                          PatternSet& into) {
    for (const std::string& pattern : patterns) {
      if (auto error = netpolicy::check_domain_pattern(pattern)) {
        problems.push_back(std::string(field) + " \"" + pattern + "\": " + *error);
      } else {
        into.add(pattern);
      }
    }
  };
  add_patterns(rules.allow, "allow", policy.allow_);
  add_patterns(rules.deny, "deny", policy.deny_);
  for (uint16_t port : rules.ports) {
    if (port == 0) problems.push_back("ports: 0 is not a port");
  }
  policy.ports_ = rules.ports;
  auto add_cidrs = [&](const std::vector<std::string>& texts, std::string_view field,
                       std::vector<netpolicy::Cidr>& into) {
    for (const std::string& text : texts) {
      auto parsed = netpolicy::parse_cidr(text);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        problems.push_back(std::string(field) + " \"" + text + "\": " + *error);
      } else {
        into.push_back(std::get<netpolicy::Cidr>(parsed));
      }
    }
  };
  add_cidrs(rules.allow_cidrs, "allowCIDRs", policy.allow_cidrs_);
  add_cidrs(rules.deny_cidrs, "denyCIDRs", policy.deny_cidrs_);
  if (!problems.empty()) return problems;
  return policy;
}

Decision EgressPolicy::decide_name(std::string_view name) const {
  const std::string lowered = ascii_lower(name);
  if (is_ip_literal(lowered)) return {false, "ip-literal"};
  const std::optional<std::string> normalized = netpolicy::normalize_name(lowered);
  if (!normalized) return {false, "invalid-name"};
  if (std::string pattern = deny_.match(*normalized); !pattern.empty()) {
    return {false, "deny " + pattern};
  }
  if (std::string pattern = allow_.match(*normalized); !pattern.empty()) {
    return {true, "allow " + pattern};
  }
  return {false, "not-allowed"};
}

Decision EgressPolicy::decide_port(uint16_t port) const {
  if (std::find(ports_.begin(), ports_.end(), port) != ports_.end()) return {true, "port-allowed"};
  return {false, "port-not-allowed " + std::to_string(port)};
}

Decision EgressPolicy::decide_address(const netpolicy::IpAddress& address) const {
  AddressDecision decision = check_address(address, allow_cidrs_, deny_cidrs_);
  return {decision.allowed, std::move(decision.reason)};
}

std::string what_would_allow(const Decision& refused, std::string_view subject,
                             const PolicySource& from) {
  if (refused.allowed || from.egress_policy.empty()) return "";
  const std::string policy = "EgressPolicy/" + from.egress_policy;
  const std::string_view reason = refused.reason;
  const std::string what(subject);
  if (reason == "ip-literal")
    return "connect by name (an address is reached through " + policy +
           " spec.dns.records and spec.allowCIDRs)";
  if (reason == "not-allowed") {
    return "add " + what + " (or a *. pattern) to " + policy + " spec.allow" +
           (from.blueprint.empty() ? "" : " or Blueprint/" + from.blueprint + " spec.egress");
  }
  if (reason.starts_with("deny ")) {
    return "it matches " + std::string(reason.substr(5)) + " in " + policy +
           " spec.deny, which wins over allow";
  }
  if (reason.starts_with("port-not-allowed"))
    return "add " + what + " to " + policy + " spec.ports";
  if (reason.starts_with("deny-cidr")) {
    return "the address is in a denied range (" + policy +
           " spec.denyCIDRs, or the sandbox network or gate, which are never reached)";
  }
  if (reason == "invalid-name") return "";
  // A built-in range (private, loopback, link-local, ...).
  return "add a range holding " + what + " to " + policy +
         " spec.allowCIDRs if it is meant to be reached";
}

}  // namespace acctl::gate
