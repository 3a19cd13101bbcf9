// What a dind Host's gate enforces, computed in one place: the policy, its config file's text
// and the sandboxes' resolver file.
#pragma once

#include <cstdint>
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
  std::string blueprint;  // whose egress names were added; "" when it adds none
  // policy.allow + that egress + the hosts of its gate-delivered credentials, sorted, unique.
  std::vector<std::string> allow;
  // Its key in the config's "policies": POLICY[+BLUEPRINT], and "@SANDBOX" after it when it
  // has credentials, which are its own.
  std::string key;
  // The credentials the gate adds for it (delivery: gate), and the ports their hosts name
  // ("ghe.example.com:8443") beyond the policy's own.
  std::vector<gate::CredentialFile> credentials;
  std::vector<uint16_t> credential_ports;
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

// Where the gate reads a sandbox's token (gate/secrets/SANDBOX/PROVIDER, as the gate container
// mounts it); acctl writes it there (HostPaths::gate_secrets).
std::string gate_token_file(const std::string& sandbox, const std::string& provider);

// The Host's trust.caFiles and gate.trust as the gate gets them: each file's path on this machine
// and the name of its copy in gate/trust/ (its own name; a second file of the same name gets "-2"
// before the extension, and so on).
struct TrustFile {
  std::string source;
  std::string name;
};
std::vector<TrustFile> gate_trust_files(const Host& host);

// The "tls" section: the Host's CA in gate/tls/ and the copies of its trust files.
gate::TlsFile gate_tls_file(const Host& host);
// Whether some policy of `file` has credentials (so the gate needs its "tls" section).
bool has_credentials(const gate::GateConfigFile& file);

// The ac-gate config file (runtime/gate/config_file.h, the one definition ac-gate reads too)
// for a Host: the policies, the gate's listeners, and `sandboxes`, each sandbox's address on
// the internal network → its name. A name without a policy in `policy` (a sandbox the manifests
// no longer have) is listed under the policy that allows nothing. The "tls" section is there
// only when some policy has credentials, so a Host without them keeps its config text.
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
