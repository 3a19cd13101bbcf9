// The gate's policy for a Host, the text of its config file and of the sandboxes' resolver.
#include "converge/gate_policy.h"

#include <set>

#include <nlohmann/json.hpp>

#include "manifest/names.h"

namespace acctl {
namespace {

using nlohmann::json;

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

std::string gate_config_text(const Host& host, const GatePolicy& gp,
                             const std::map<std::string, std::string>& sandboxes) {
  const EgressPolicySpec& p = gp.policy->spec;
  json cidrs_allow = json::array(), cidrs_deny = json::array(), upstreams = json::array();
  for (const auto& c : p.allow_cidrs) cidrs_allow.push_back(c.str());
  for (const auto& c : p.deny_cidrs) cidrs_deny.push_back(c.str());
  for (const auto& u : p.dns_upstreams) upstreams.push_back(endpoint_text(u));
  json records = json::object();
  for (const auto& [name, ips] : p.dns_records) {
    json list = json::array();
    for (const auto& ip : ips) list.push_back(ip.str());
    records[name] = list;
  }
  const std::string gate = host.spec.gate_ip.str();
  json doc = {{"policy",
               {{"allow", gp.allow},
                {"deny", p.deny},
                {"ports", p.ports},
                {"allowCIDRs", cidrs_allow},
                {"denyCIDRs", cidrs_deny},
                {"dns", {{"upstreams", upstreams}, {"records", records}}},
                {"limits", {{"dnsQPS", p.dns_qps}, {"connections", p.connections}}}}},
              {"gateIP", gate},
              {"listen",
               {{"dns", gate + ":53"},
                {"http", gate + ":80"},
                {"https", gate + ":443"},
                {"proxy", gate + ":3128"},
                {"control", kGateControl}}},
              {"sandboxes", sandboxes},
              {"auditLog", "-"}};
  return doc.dump(2) + "\n";
}

std::vector<std::string> explain_gate_config_change(const std::string& current,
                                                    const std::string& wanted) {
  json have = json::parse(current, nullptr, false);
  json want = json::parse(wanted, nullptr, false);
  if (!have.is_object()) return {current.empty() ? "not written yet" : "unreadable"};
  std::vector<std::string> out;
  for (const auto& [key, what] :
       {std::pair{"policy", "policy changed"}, std::pair{"listen", "listeners changed"},
        std::pair{"gateIP", "gate address changed"}, std::pair{"sandboxes", "sandboxes changed"}}) {
    if (have.value(key, json()) != want.value(key, json())) out.push_back(what);
  }
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
