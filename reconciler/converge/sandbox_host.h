// The sandbox host of a `dind` Host: a host container on the user's engine running a nested
// engine, and inside that engine the sandbox network, the egress network and the gate.
//
//   outer engine:  volume ac-dind-data-<host>        the nested engine's /var/lib/docker
//                  container ac-dind-host-<host>      runc, every capability the kernel grants,
//                                                     entrypoint images/host/entrypoint.sh
//   nested engine: network ac-net-<host>              internal, bridge acsb0, Host.spec.subnet
//                  network ac-egress-<host>           the gate's way out
//                  container ac-gate-<host>           at Host.spec.gateIP, policy from a file
//                  containers ac-sb-<sandbox>         runsc, DNS pointing at the gate
//
// acctl reaches the nested engine through a unix socket in a machine folder bind-mounted into
// the host container (HostPaths). The gate's policy is a file in that folder too: a change is
// written and the gate reloads it on SIGHUP, without a restart.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "converge/desired.h"
#include "manifest/model.h"

namespace acctl {

// What the machine lets a container have. --privileged fails where the kernel's bounding set
// lacks a capability (DESIGN.md: CAP_SYS_RESOURCE here), so the host container then gets every
// capability the bounding set holds instead.
struct HostPrivileges {
  bool privileged = false;
  std::vector<std::string> capabilities;  // "SYS_ADMIN", … when not privileged
  std::vector<std::string> missing;       // what the bounding set lacks
};
// From a CapBnd hex mask (as in /proc/self/status) and the kernel's last capability number.
HostPrivileges privileges_from_mask(uint64_t bounding, int last_cap);
// Reads this process's bounding set: acctl runs on the machine whose engine it drives.
HostPrivileges detect_privileges();

// The outer engine's objects of a dind Host. A rebuilt host image replaces the host container
// (the planner compares image ids).
std::vector<DesiredObject> render_host_outer(const Host& host, const HostPrivileges& privileges,
                                             const std::string& state_dir);

// The nested engine's own objects of a dind Host: the two networks and the gate; their
// `engine` is the nested engine's endpoint.
std::vector<DesiredObject> render_host_nested(const Host& host, const std::string& state_dir);

// The policy one Host's gate enforces: the EgressPolicy its Sandboxes name (they must agree: one
// gate, one policy) with every egress name of their Blueprints added. Without Sandboxes: the
// policy named "default", else the only one. Errors name the disagreeing Sandboxes.
struct GatePolicy {
  const EgressPolicy* policy = nullptr;
  std::vector<std::string> allow;  // policy.allow + Blueprint egress, sorted, unique
};
std::variant<GatePolicy, std::string> gate_policy_for(const Model& model, const Host& host);

// The ac-gate config file (runtime/gate/gate_config.h). `sandboxes` maps client IP → name.
nlohmann::json gate_config_json(const Host& host, const GatePolicy& policy,
                                const std::map<std::string, std::string>& sandboxes);

// The nested resolver file every sandbox of the Host mounts at /etc/resolv.conf.
std::string resolv_conf_text(const Host& host);

// What the host container's entrypoint reports in host.json once the nested engine is ready.
struct HostReport {
  bool ready = false;
  std::string runsc_network;  // "sandbox" or "host"
  std::string reason;         // why that network mode
  std::string platform;
  bool debug = false;
  std::string runsc_version;
  std::string docker_version;
  std::string started;
};
std::optional<HostReport> read_host_report(const HostPaths& paths);

// Writes `content` to `path` through a temporary file and a rename, so a reader (the gate on
// SIGHUP) never sees half a file. Returns false (and says why) on failure; true with
// *changed=false when the file already held exactly that.
bool write_file_atomically(const std::string& path, const std::string& content, bool* changed,
                           std::string* error);

}  // namespace acctl
