// What a dind Host's gate enforces, computed in one place: the policy, its config file's text
// and the sandboxes' resolver file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "gate/config_file.h"
#include "manifest/model.h"

namespace acctl {

// One sandbox's policy at its Host's gate: its EgressPolicy with its own Blueprint's egress
// names added (never another Blueprint's: a sandbox reaches only what it and its agent need).
struct SandboxPolicy {
  const EgressPolicy* policy = nullptr;
  std::string blueprint;           // whose egress names were added; "" when it adds none
  std::vector<std::string> allow;  // policy.allow + that egress, sorted, unique
  std::string key;                 // its key in the config's "policies": POLICY[+BLUEPRINT]
};

// What one Host's gate enforces: a policy per sandbox, and what the gate has once for all of
// them. Clients the config does not name get a policy that allows nothing.
struct GatePolicy {
  std::map<std::string, SandboxPolicy> sandboxes;  // Sandbox name → its policy
  // The gate's one resolver: the dns.upstreams its sandboxes' policies agree on (without
  // sandboxes: those of the EgressPolicy named "default", else of the only one).
  std::vector<Endpoint> upstreams;
  int64_t connections = 1024;  // the gate's cap: the largest limits.connections among them
};
// Errors name the Sandboxes whose policies disagree on dns.upstreams, or a missing policy.
Result<GatePolicy> gate_policy_for(const Model& model, const Host& host);

// The ac-gate config file (runtime/gate/config_file.h, the one definition ac-gate reads too)
// for a Host: the policies, the gate's listeners, and `sandboxes`, each sandbox's address on
// the internal network → its name. A name without a policy in `policy` (a sandbox the manifests
// no longer have) is listed under the policy that allows nothing.
gate::GateConfigFile gate_config_file(const Host& host, const GatePolicy& policy,
                                      const std::map<std::string, std::string>& sandboxes);
std::string gate_config_text(const Host& host, const GatePolicy& policy,
                             const std::map<std::string, std::string>& sandboxes);

// Adds `others` (address → sandbox name: sandboxes running on the gate's network that this
// converge does not render) to `file` with the entries and policies `current` (the config the
// gate runs now) has for them; one `current` lacks, or names otherwise, gets no policy and so
// reaches nothing. A kept policy whose key `file` uses for another content is renamed.
void keep_gate_entries(gate::GateConfigFile& file, const gate::GateConfigFile* current,
                       const std::map<std::string, std::string>& others);

// What differs between a gate config file's text and the one acctl wants: "policy of dev
// changed", "sandbox dev added", "listeners changed", ...; "not written yet" for an unreadable
// one.
std::vector<std::string> explain_gate_config_change(const std::string& current,
                                                    const std::string& wanted);

// The resolver file every sandbox of the Host mounts at /etc/resolv.conf.
std::string resolv_conf_text(const Host& host);

}  // namespace acctl
