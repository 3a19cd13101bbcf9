// The gate's policy for a Host, the text of its config file and of the sandboxes' resolver.
#include "converge/gate_policy.h"

#include <set>

#include "manifest/names.h"

namespace acctl {
namespace {

std::string endpoint_text(const Endpoint& e) {
  const std::string ip = e.ip.str();
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(e.port);
}

}  // namespace

Result<GatePolicy> gate_policy_for(const Model& model, const Host& host) {
  GatePolicy out;
  std::set<std::string> allow;
  for (const Sandbox& s : model.sandboxes) {
    if (s.spec.host != host.meta.name) continue;
    const EgressPolicy* p = model.find_policy(s.spec.egress_policy);
    if (!p) return Error{0, "Sandbox/" + s.meta.name + ": no EgressPolicy " + s.spec.egress_policy};
    if (out.policy && out.policy != p) {
      return Error{0, "Host/" + host.meta.name + " has one gate, so its Sandboxes must share one " +
                          "EgressPolicy: Sandbox/" + out.first_sandbox + " uses " +
                          out.policy->meta.name + ", Sandbox/" + s.meta.name + " uses " +
                          p->meta.name};
    }
    if (!out.policy) out.first_sandbox = s.meta.name;
    out.policy = p;
    if (const Blueprint* b = model.find_blueprint(s.spec.blueprint)) {
      allow.insert(b->spec.egress.begin(), b->spec.egress.end());
    }
  }
  if (!out.policy) out.policy = model.find_policy("default");
  if (!out.policy && model.policies.size() == 1) out.policy = &model.policies.front();
  if (!out.policy) {
    return Error{0, "Host/" + host.meta.name +
                        " needs an EgressPolicy for its gate: define one named \"default\""};
  }
  allow.insert(out.policy->spec.allow.begin(), out.policy->spec.allow.end());
  out.allow.assign(allow.begin(), allow.end());
  return out;
}

gate::GateConfigFile gate_config_file(const Host& host, const GatePolicy& gp,
                                      const std::map<std::string, std::string>& sandboxes) {
  const EgressPolicySpec& p = gp.policy->spec;
  gate::GateConfigFile f;
  f.policy.allow = gp.allow;
  f.policy.deny = p.deny;
  f.policy.ports.assign(p.ports.begin(), p.ports.end());
  for (const auto& c : p.allow_cidrs) f.policy.allow_cidrs.push_back(c.str());
  for (const auto& c : p.deny_cidrs) f.policy.deny_cidrs.push_back(c.str());
  // Never the sandbox network or the gate itself, whatever allowCIDRs says (validate refuses an
  // allowCIDRs entry that overlaps them): deny entries win over allow entries.
  f.policy.deny_cidrs.push_back(host.spec.subnet.str());
  f.policy.deny_cidrs.push_back(host.spec.gate_ip.str() + "/32");
  for (const auto& u : p.dns_upstreams) f.policy.dns.upstreams.push_back(endpoint_text(u));
  for (const auto& [name, ips] : p.dns_records) {
    auto& list = f.policy.dns.records[name];
    for (const auto& ip : ips) list.push_back(ip.str());
  }
  f.policy.limits.dns_qps = p.dns_qps;
  f.policy.limits.connections = p.connections;
  const std::string gate = host.spec.gate_ip.str();
  f.gate_ip = gate;
  f.listen.dns = gate + ":53";
  f.listen.http = gate + ":80";
  f.listen.https = gate + ":443";
  f.listen.proxy = gate + ":3128";
  f.listen.control = kGateControl;
  f.sandboxes = sandboxes;
  f.audit_log = "-";
  f.audit_required = host.spec.gate_audit_required;
  return f;
}

std::string gate_config_text(const Host& host, const GatePolicy& gp,
                             const std::map<std::string, std::string>& sandboxes) {
  return gate::to_json_text(gate_config_file(host, gp, sandboxes));
}

std::vector<std::string> explain_gate_config_change(const std::string& current,
                                                    const std::string& wanted) {
  auto have = gate::parse_gate_config_file(current);
  auto want = gate::parse_gate_config_file(wanted);
  if (!have || !want) return {current.empty() ? "not written yet" : "unreadable"};
  std::vector<std::string> out;
  if (have->policy != want->policy) out.push_back("policy changed");
  if (have->listen != want->listen) out.push_back("listeners changed");
  if (have->gate_ip != want->gate_ip) out.push_back("gate address changed");
  if (have->sandboxes != want->sandboxes) out.push_back("sandboxes changed");
  if (have->audit_required != want->audit_required)
    out.push_back(want->audit_required ? "audit now required" : "audit now best effort");
  if (out.empty()) out.push_back("changed");
  return out;
}

std::string resolv_conf_text(const Host& host) {
  return "# Written by acctl: every name is resolved by the gate, which answers only allowed "
         "ones.\n"
         "nameserver " +
         host.spec.gate_ip.str() + "\noptions timeout:2 attempts:2\n";
}

}  // namespace acctl
