// The gate's policy for a Host, the text of its config file and of the sandboxes' resolver.
#include "converge/gate_policy.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "manifest/names.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;

std::string endpoint_text(const Endpoint& e) {
  const std::string ip = e.ip.str();
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(e.port);
}

// A githubHosts / gitlabHosts entry: its name, and its port when it names one.
std::pair<std::string, uint16_t> split_host(const std::string& entry) {
  const size_t colon = entry.rfind(':');
  if (colon == std::string::npos) return {entry, 0};
  return {entry.substr(0, colon), static_cast<uint16_t>(std::stoi(entry.substr(colon + 1)))};
}

// The credentials the gate adds for a sandbox: one per provider delivered by the gate. GitHub's
// API hosts are the "api." ones (api.github.com, api.ghe.example); every other host is a git
// host. A GitLab host serves its API itself (credential_rules.h).
void add_gate_credentials(const Sandbox& s, SandboxPolicy& sp, std::set<std::string>& allow) {
  for (const auto& [provider, source, hosts] :
       {std::tuple{"github", &s.spec.github, &s.spec.github_hosts},
        std::tuple{"gitlab", &s.spec.gitlab, &s.spec.gitlab_hosts}}) {
    if (!*source || (*source)->delivery != CredentialDelivery::kGate) continue;
    gate::CredentialFile c;
    c.provider = provider;
    for (const std::string& entry : *hosts) {
      const auto [name, port] = split_host(entry);
      const bool api = std::string(provider) == "github" && name.starts_with("api.");
      std::vector<std::string>& list = api ? c.api_hosts : c.git_hosts;
      if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
      allow.insert(name);
      const auto& p = sp.policy->spec.ports;
      if (port != 0 && std::find(p.begin(), p.end(), port) == p.end() &&
          std::find(sp.credential_ports.begin(), sp.credential_ports.end(), port) ==
              sp.credential_ports.end())
        sp.credential_ports.push_back(port);
    }
    c.token_file = gate_token_file(s.meta.name, provider);
    c.allow_push = s.spec.git_allow_push;
    c.repositories = s.spec.git_repositories;
    sp.credentials.push_back(std::move(c));
  }
  std::sort(sp.credential_ports.begin(), sp.credential_ports.end());
}

}  // namespace

std::string gate_token_file(const std::string& sandbox, const std::string& provider) {
  return std::string(kGateConfigMount) + "/secrets/" + sandbox + "/" + provider;
}

std::vector<TrustFile> gate_trust_files(const Host& host) {
  std::vector<TrustFile> out;
  std::set<std::string> taken;
  std::vector<std::string> sources = host.spec.ca_files;
  sources.insert(sources.end(), host.spec.gate_trust.begin(), host.spec.gate_trust.end());
  for (const std::string& source : sources) {
    const fs::path p(source);
    std::string name = p.filename().string();
    for (int n = 2; !taken.insert(name).second; ++n)
      name = p.stem().string() + "-" + std::to_string(n) + p.extension().string();
    out.push_back({source, name});
  }
  return out;
}

gate::TlsFile gate_tls_file(const Host& host) {
  gate::TlsFile tls;
  tls.ca_cert = std::string(kGateConfigMount) + "/tls/ca.pem";
  tls.ca_key = std::string(kGateConfigMount) + "/tls/ca.key";
  for (const TrustFile& t : gate_trust_files(host))
    tls.trust.push_back(std::string(kGateConfigMount) + "/trust/" + t.name);
  return tls;
}

bool has_credentials(const gate::GateConfigFile& file) {
  return std::any_of(file.policies.begin(), file.policies.end(),
                     [](const auto& p) { return !p.second.credentials.empty(); });
}

Result<GatePolicy> gate_policy_for(const Model& model, const Host& host) {
  GatePolicy out;
  const Sandbox* upstreams_from = nullptr;
  std::vector<std::string> upstream_texts;
  bool any = false;
  for (const Sandbox& s : model.sandboxes) {
    if (s.spec.host != host.meta.name) continue;
    const EgressPolicy* p = model.find_policy(s.spec.egress_policy);
    if (!p) return Error{0, "Sandbox/" + s.meta.name + ": no EgressPolicy " + s.spec.egress_policy};
    SandboxPolicy sp;
    sp.policy = p;
    std::set<std::string> allow(p->spec.allow.begin(), p->spec.allow.end());
    if (const Blueprint* b = model.find_blueprint(s.spec.blueprint); b && !b->spec.egress.empty()) {
      sp.blueprint = b->meta.name;
      allow.insert(b->spec.egress.begin(), b->spec.egress.end());
    }
    add_gate_credentials(s, sp, allow);
    sp.allow.assign(allow.begin(), allow.end());
    sp.key = p->meta.name + (sp.blueprint.empty() ? "" : "+" + sp.blueprint);
    if (!sp.credentials.empty()) sp.key += "@" + s.meta.name;
    std::vector<std::string> texts;
    for (const Endpoint& e : p->spec.dns_upstreams) texts.push_back(endpoint_text(e));
    if (!upstreams_from) {
      upstreams_from = &s;
      upstream_texts = texts;
      out.upstreams = p->spec.dns_upstreams;
    } else if (texts != upstream_texts) {
      return Error{0, "Host/" + host.meta.name + "'s gate has one resolver, so its Sandboxes' " +
                          "EgressPolicies must agree on dns.upstreams: Sandbox/" +
                          upstreams_from->meta.name + " uses " +
                          upstreams_from->spec.egress_policy + ", Sandbox/" + s.meta.name +
                          " uses " + p->meta.name};
    }
    const int64_t cap = p->spec.connections;
    out.connections = any ? std::max(out.connections, cap) : cap;
    any = true;
    out.sandboxes[s.meta.name] = std::move(sp);
  }
  if (!any) {
    const EgressPolicy* p = model.find_policy("default");
    if (!p && model.policies.size() == 1) p = &model.policies.front();
    if (p) {
      out.upstreams = p->spec.dns_upstreams;
      out.connections = p->spec.connections;
    }
  }
  return out;
}

namespace {

// The policy file of one EgressPolicy as a sandbox gets it: its names plus `allow`.
gate::PolicyFile sandbox_policy_file(const Host& host, const SandboxPolicy& sp) {
  const EgressPolicySpec& p = sp.policy->spec;
  gate::PolicyFile f;
  f.allow = sp.allow;
  f.deny = p.deny;
  f.ports.assign(p.ports.begin(), p.ports.end());
  f.ports.insert(f.ports.end(), sp.credential_ports.begin(), sp.credential_ports.end());
  for (const auto& c : p.allow_cidrs) f.allow_cidrs.push_back(c.str());
  for (const auto& c : p.deny_cidrs) f.deny_cidrs.push_back(c.str());
  // Never the sandbox network or the gate itself, whatever allowCIDRs says (validate refuses an
  // allowCIDRs entry that overlaps them): deny entries win over allow entries.
  f.deny_cidrs.push_back(host.spec.subnet.str());
  f.deny_cidrs.push_back(host.spec.gate_ip.str() + "/32");
  for (const auto& [name, ips] : p.dns_records) {
    auto& list = f.dns.records[name];
    for (const auto& ip : ips) list.push_back(ip.str());
  }
  f.limits.dns_qps = p.dns_qps;
  f.limits.connections = p.connections;
  f.credentials = sp.credentials;
  return f;
}

}  // namespace

gate::GateConfigFile gate_config_file(const Host& host, const GatePolicy& gp,
                                      const std::map<std::string, std::string>& sandboxes) {
  gate::GateConfigFile f;
  // The top-level policy: for any client that is not one of these sandboxes, nothing (an empty
  // allow list); it carries the gate's own resolver and connection cap.
  f.policy.allow.clear();
  f.policy.deny_cidrs = {host.spec.subnet.str(), host.spec.gate_ip.str() + "/32"};
  for (const auto& u : gp.upstreams) f.policy.dns.upstreams.push_back(endpoint_text(u));
  f.policy.limits.connections = gp.connections;
  for (const auto& [address, name] : sandboxes) {
    gate::SandboxFile entry;
    entry.name = name;
    if (auto it = gp.sandboxes.find(name); it != gp.sandboxes.end()) {
      const SandboxPolicy& sp = it->second;
      entry.policy = sp.key;
      entry.egress_policy = sp.policy->meta.name;
      entry.blueprint = sp.blueprint;
      if (!f.policies.count(sp.key)) f.policies[sp.key] = sandbox_policy_file(host, sp);
    }
    f.sandboxes[address] = std::move(entry);
  }
  const std::string gate = host.spec.gate_ip.str();
  f.gate_ip = gate;
  f.listen.dns = gate + ":53";
  f.listen.http = gate + ":80";
  f.listen.https = gate + ":443";
  f.listen.proxy = gate + ":3128";
  f.listen.control = kGateControl;
  f.audit_log = "-";
  f.audit_required = host.spec.gate_audit_required;
  if (has_credentials(f)) f.tls = gate_tls_file(host);
  return f;
}

std::string gate_config_text(const Host& host, const GatePolicy& gp,
                             const std::map<std::string, std::string>& sandboxes) {
  return gate::to_json_text(gate_config_file(host, gp, sandboxes));
}

void keep_gate_entries(gate::GateConfigFile& file, const gate::GateConfigFile* current,
                       const std::map<std::string, std::string>& others) {
  for (const auto& [address, name] : others) {
    if (file.sandboxes.count(address)) continue;  // the rendered sandbox has it now
    gate::SandboxFile entry;
    entry.name = name;
    const gate::SandboxFile* was = nullptr;
    if (current) {
      auto it = current->sandboxes.find(address);
      if (it != current->sandboxes.end() && it->second.name == name) was = &it->second;
    }
    if (was) {
      entry = *was;
      auto policy = current->policies.find(was->policy);
      if (policy == current->policies.end()) {
        entry.policy.clear();  // the top-level policy: nothing
      } else {
        std::string key = policy->first;
        auto taken = file.policies.find(key);
        if (taken != file.policies.end() && taken->second != policy->second) key += "@" + name;
        file.policies[key] = policy->second;
        entry.policy = key;
      }
    }
    file.sandboxes[address] = std::move(entry);
  }
}

std::vector<std::string> explain_gate_config_change(const std::string& current,
                                                    const std::string& wanted) {
  auto have = gate::parse_gate_config_file(current);
  auto want = gate::parse_gate_config_file(wanted);
  if (!have || !want) return {current.empty() ? "not written yet" : "unreadable"};
  std::vector<std::string> out;
  if (have->policy != want->policy) out.push_back("gate-wide policy changed");
  // Per sandbox, by name: one line per sandbox whose policy, address or presence changed.
  auto by_name = [](const gate::GateConfigFile& f) {
    std::map<std::string, std::pair<std::string, const gate::PolicyFile*>> out;
    for (const auto& [ip, s] : f.sandboxes) {
      auto p = f.policies.find(s.policy);
      out[s.name] = {ip, p == f.policies.end() ? nullptr : &p->second};
    }
    return out;
  };
  const auto before = by_name(*have), after = by_name(*want);
  for (const auto& [name, now] : after) {
    auto was = before.find(name);
    if (was == before.end()) {
      out.push_back("sandbox " + name + " added");
    } else if (was->second.first != now.first) {
      out.push_back("sandbox " + name + " moved to " + now.first);
    } else if (!(was->second.second && now.second ? *was->second.second == *now.second
                                                  : was->second.second == now.second)) {
      out.push_back("policy of sandbox " + name + " changed");
    }
  }
  for (const auto& [name, was] : before)
    if (!after.count(name)) out.push_back("sandbox " + name + " removed");
  if (have->listen != want->listen) out.push_back("listeners changed");
  if (have->gate_ip != want->gate_ip) out.push_back("gate address changed");
  if (have->audit_required != want->audit_required)
    out.push_back(want->audit_required ? "audit now required" : "audit now best effort");
  if (have->tls != want->tls) {
    out.push_back(!have->tls   ? "TLS termination for credential hosts on"
                  : !want->tls ? "TLS termination for credential hosts off"
                               : "the gate's CA or trust files changed");
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
