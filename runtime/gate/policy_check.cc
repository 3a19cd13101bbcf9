// The gate's decision for a client and a destination, step by step, as the proxy takes it.
#include "gate/policy_check.h"

#include "common/ascii.h"
#include "netpolicy/domain.h"

namespace acctl::gate {

EgressCheck check_egress(const GateConfig& config, const std::string& client, std::string_view name,
                         uint16_t port) {
  EgressCheck out;
  const SandboxEntry* sandbox = config.sandbox(client);
  const PolicySource source =
      sandbox ? PolicySource{sandbox->egress_policy, sandbox->blueprint} : PolicySource{};
  const ClientPolicy& policy = config.policy_for(client);
  const std::string lowered = ascii_lower(name);
  const Decision by_name = policy.rules->decide_name(lowered);
  const Decision by_port = policy.rules->decide_port(port);
  out.rules.push_back(by_name.reason);
  out.rules.push_back(by_port.allowed ? "port " + std::to_string(port) + " allowed"
                                      : by_port.reason);
  out.allowed = by_name.allowed && by_port.allowed;
  if (!by_name.allowed) {
    out.to_allow = what_would_allow(by_name, lowered, source);
  } else if (!by_port.allowed) {
    out.to_allow = what_would_allow(by_port, std::to_string(port), source);
  }
  if (!out.allowed) return out;
  const std::string normalized = netpolicy::normalize_name(lowered).value_or(lowered);
  if (const CredentialGrant* grant = policy.credential_for(normalized)) {
    out.rules.push_back(
        std::string("credential host: over TLS the gate terminates it and adds the ") +
        (grant->provider == Provider::kGithub ? "github" : "gitlab") +
        " token to each request it allows (git: " +
        (grant->allow_push ? "push allowed" : "no push") +
        (grant->repositories.empty() ? "" : ", listed repositories only") + ")");
  }
  auto pinned = policy.records.find(normalized);
  if (pinned == policy.records.end()) {
    out.resolved_later = true;
    out.rules.push_back("resolved by the gate when it connects; that address is checked then");
    return out;
  }
  // The proxy dials the first address its policy admits: allowed when any is.
  bool any = false;
  for (const netpolicy::IpAddress& ip : pinned->second) {
    const Decision a = policy.rules->decide_address(ip);
    out.rules.push_back("dns.records " + ip.str() + ": " + a.reason);
    any = any || a.allowed;
    if (!a.allowed && out.to_allow.empty()) out.to_allow = what_would_allow(a, ip.str(), source);
  }
  out.allowed = any;
  if (any) out.to_allow.clear();
  return out;
}

}  // namespace acctl::gate
