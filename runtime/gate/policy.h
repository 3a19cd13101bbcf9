// A compiled EgressPolicy: the name, port and address decisions the gate makes per connection.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "gate/deny_list.h"
#include "netpolicy/address.h"

namespace acctl::gate {

// The policy as the gate's config file states it (field names follow the EgressPolicy spec).
struct EgressRules {
  std::vector<std::string> allow;  // "github.com", "*.github.com"
  std::vector<std::string> deny;
  std::vector<uint16_t> ports = {80, 443};
  std::vector<std::string> allow_cidrs;
  std::vector<std::string> deny_cidrs;
};

struct Decision {
  bool allowed = false;
  std::string reason;  // "allow github.com", "deny *.evil.com", "ip-literal", "not-allowed", ...
};

// Where a sandbox's policy comes from, for messages that say what would change a decision.
struct PolicySource {
  std::string egress_policy;  // "web": EgressPolicy/web; "" when the client is no sandbox
  std::string blueprint;      // the Blueprint whose egress names the policy adds, or ""
};

// What would allow what a decide_* call refused, for the agent and its operator: "add x.com (or
// a *. pattern) to EgressPolicy/web spec.allow or Blueprint/pi spec.egress". `subject` is the
// refused name, port or address as the reason is about it. "" when no manifest can (an invalid
// name), or when the client is no sandbox.
std::string what_would_allow(const Decision& refused, std::string_view subject,
                             const PolicySource& from);

// Whether `host` (as a client wrote it: DNS question, Host, SNI, CONNECT target) is an IP
// address in any notation a resolver or socket library might accept: dotted, decimal
// ("2130706433"), hex ("0x7f000001"), octal ("0177.0.0.1"), short ("127.1"), IPv6, bracketed.
bool is_ip_literal(std::string_view host);

class EgressPolicy {
 public:
  // Checks every entry and returns all problems at once, or the compiled policy.
  static std::variant<EgressPolicy, std::vector<std::string>> compile(const EgressRules& rules);

  // Lower-cases and drops one trailing dot before matching. IP literals and names that are not
  // valid host names are refused; deny wins over allow; "*.x.com" does not match "x.com".
  Decision decide_name(std::string_view name) const;
  Decision decide_port(uint16_t port) const;
  Decision decide_address(const netpolicy::IpAddress& address) const;

 private:
  // A set of patterns: exact names and wildcard suffixes, each looked up by hashing, so a
  // decision costs one lookup per label of the name whatever the list's size.
  struct PatternSet {
    // Transparent, so a lookup by string_view builds no string.
    struct NameHash {
      using is_transparent = void;
      size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
    };
    using Names = std::unordered_set<std::string, NameHash, std::equal_to<>>;

    Names exact;
    Names wildcard_parents;  // "github.com" for "*.github.com"

    void add(const std::string& pattern);
    // The pattern that matches `name`, or "" when none does.
    std::string match(std::string_view name) const;
  };

  EgressPolicy() = default;

  PatternSet allow_;
  PatternSet deny_;
  std::vector<uint16_t> ports_;
  std::vector<netpolicy::Cidr> allow_cidrs_;
  std::vector<netpolicy::Cidr> deny_cidrs_;
};

}  // namespace acctl::gate
