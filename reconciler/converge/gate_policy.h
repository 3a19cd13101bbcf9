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

// The policy one Host's gate enforces: the EgressPolicy its Sandboxes name (they must agree: one
// gate, one policy) with every egress name of their Blueprints added. Without Sandboxes: the
// policy named "default", else the only one. Errors name the disagreeing Sandboxes.
struct GatePolicy {
  const EgressPolicy* policy = nullptr;
  std::vector<std::string> allow;  // policy.allow + Blueprint egress, sorted, unique
  // The Sandbox whose EgressPolicy decided, for messages.
  std::string first_sandbox;
};
Result<GatePolicy> gate_policy_for(const Model& model, const Host& host);

// The ac-gate config file (runtime/gate/config_file.h, the one definition ac-gate reads too)
// for a Host: its policy, the gate's listeners, and `sandboxes`, each sandbox's address on the
// internal network → its name.
gate::GateConfigFile gate_config_file(const Host& host, const GatePolicy& policy,
                                      const std::map<std::string, std::string>& sandboxes);
std::string gate_config_text(const Host& host, const GatePolicy& policy,
                             const std::map<std::string, std::string>& sandboxes);

// What differs between a gate config file's text and the one acctl wants: "policy changed",
// "listeners changed", "sandboxes changed"; "not written yet" for an unreadable one.
std::vector<std::string> explain_gate_config_change(const std::string& current,
                                                    const std::string& wanted);

// The resolver file every sandbox of the Host mounts at /etc/resolv.conf.
std::string resolv_conf_text(const Host& host);

}  // namespace acctl
