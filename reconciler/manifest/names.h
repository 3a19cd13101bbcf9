// What acctl calls things: every engine object name, image tag and label key, and the layout of
// the state folder. Nothing else in acctl spells an "ac-" name, an "acctl/" tag or an "ac." label.
#pragma once

#include <map>
#include <string>

namespace acctl {

// Labels on everything acctl creates (DESIGN.md, "Engine state and the reconciler").
inline constexpr const char* kLabelManagedBy = "ac.managed-by";
inline constexpr const char* kLabelKind = "ac.kind";
inline constexpr const char* kLabelName = "ac.name";
inline constexpr const char* kLabelHost = "ac.host";
inline constexpr const char* kLabelSpecHash = "ac.spec-hash";
inline constexpr const char* kLabelInstance = "ac.instance";
// Short hashes of each part of the spec, so a replacement can say which fields changed.
inline constexpr const char* kLabelSpecFields = "ac.spec-fields";
inline constexpr const char* kManagedByValue = "acctl";
// Labels of its own a user may not set on a Sandbox: the "ac." prefix is acctl's.
inline constexpr const char* kReservedLabelPrefix = "ac.";

// The labels every managed object carries: ac.managed-by, ac.kind, ac.name, ac.host.
std::map<std::string, std::string> managed_labels(const std::string& kind, const std::string& name,
                                                  const std::string& host);

// Engine objects.
std::string sandbox_container_name(const std::string& sandbox);  // ac-sb-<sandbox>
std::string host_network_name(const std::string& host);          // ac-net-<host>
std::string egress_network_name(const std::string& host);        // ac-egress-<host>
std::string dind_container_name(const std::string& host);        // ac-dind-host-<host>
std::string dind_volume_name(const std::string& host);           // ac-dind-data-<host>
std::string gate_container_name(const std::string& host);        // ac-gate-<host>

// Images acctl makes (no registry: imported or built on the engine).
inline constexpr const char* kDefaultBaseImage = "acctl/debian:bookworm";
inline constexpr const char* kHostImage = "acctl/host:latest";
inline constexpr const char* kGateImage = "acctl/gate:latest";
// What every Blueprint's image is built FROM (images/agent-base/).
inline constexpr const char* kAgentBaseImage = "acctl/agent-base:latest";
std::string blueprint_image_tag(const std::string& blueprint);  // acctl/blueprint-<name>:latest
// Whether a tag is one acctl builds or imports itself (so a missing one is to be made, not an
// error): the host, gate and Blueprint images.
bool is_acctl_built_image(const std::string& tag);

// Inside a sandbox: the agent's user (the agent base image's "agent") and its home.
inline constexpr const char* kAgentUser = "1000:1000";
inline constexpr const char* kAgentHome = "/home/agent";

// Inside the image of a paranoid Blueprint (images/agent-base/): PID 1, and the variable that
// gives the connect() hook the gate's address.
inline constexpr const char* kInitGuard = "/opt/acctl/bin/init-guard";
inline constexpr const char* kGateAddressVariable = "ACCTL_GATE_ADDR";
// The credential vault of a paranoid Sandbox with credentials: the instance's secrets/ folder,
// mounted read-only where only root (init-guard, the vault daemon) can enter it; the scratch
// folder init-guard writes the system git config and the daemon its socket in; the blocked
// paths, for the hook's messages. The container starts as root with only these capabilities:
// CHOWN (the home), SETUID and SETGID (dropping to the agent), SYS_PTRACE (the daemon reads
// /proc/<pid>/exe of its callers, which gVisor allows only with it).
inline constexpr const char* kSecretsMount = "/run/acctl/secrets";
inline constexpr const char* kInsideRunDir = "/run/acctl";
inline constexpr const char* kVaultCapabilities[] = {"CHOWN", "SETUID", "SETGID", "SYS_PTRACE"};
inline constexpr const char* kVaultGithubHostsVariable = "ACCTL_VAULT_GITHUB_HOSTS";
inline constexpr const char* kVaultGitlabHostsVariable = "ACCTL_VAULT_GITLAB_HOSTS";
inline constexpr const char* kVaultAllowPushVariable = "ACCTL_VAULT_ALLOW_PUSH";
inline constexpr const char* kBlockedPathsVariable = "ACCTL_BLOCKED_PATHS";
inline constexpr const char* kVaultClient = "/opt/acctl/bin/ac-vault";

// A Sandbox whose credentials the gate delivers: it trusts the gate's CA, which acctl mounts
// (the certificate only) where init-guard finds it, through this variable, to add it to the
// agent's trust store; the second variable names the providers gh and glab get a placeholder
// login for. Neither value is secret.
inline constexpr const char* kGateCaInside = "/run/acctl/gate-ca.pem";
inline constexpr const char* kGateCaVariable = "ACCTL_GATE_CA";
inline constexpr const char* kGateCredentialsVariable = "ACCTL_GATE_CREDENTIALS";

// Inside a dind Host's gate container: the Host's gate/ folder, read-only.
inline constexpr const char* kGateConfigMount = "/etc/ac-gate";

// Inside a dind Host's container.
inline constexpr const char* kHostRunDir = "/run/acctl";       // the machine's run folder, mounted
inline constexpr const char* kSandboxBridge = "acsb0";         // the sandbox network's bridge
inline constexpr const char* kGateControl = "127.0.0.1:9099";  // the gate's loopback control port

// The state folder ($ACCTL_HOME): instances/<name>/… and run/hosts/<host>/….
struct HostPaths {
  std::string run_dir;  // <state>/run/hosts/<host>
  std::string socket() const { return run_dir + "/docker.sock"; }
  std::string endpoint() const { return "unix://" + socket(); }
  std::string status_file() const { return run_dir + "/host.json"; }  // written by the entrypoint
  std::string gvisor_dir() const { return run_dir + "/gvisor"; }
  std::string gate_dir() const { return run_dir + "/gate"; }
  std::string gate_config() const { return gate_dir() + "/config.json"; }
  // The gate's CA (made once per Host, its key never in a sandbox), the copies of the Host's
  // trust.caFiles it verifies upstreams with, and the tokens it adds for each sandbox.
  std::string gate_ca_cert() const { return gate_dir() + "/tls/ca.pem"; }
  std::string gate_ca_key() const { return gate_dir() + "/tls/ca.key"; }
  std::string gate_trust_dir() const { return gate_dir() + "/trust"; }
  std::string gate_secrets(const std::string& sandbox) const {
    return gate_dir() + "/secrets/" + sandbox;
  }
  std::string resolv_conf() const { return run_dir + "/resolv.conf"; }
  std::string image_scratch() const { return run_dir + "/images.tar"; }
};
HostPaths host_paths(const std::string& state_dir, const std::string& host);

// One instance of the sandbox commands: <state>/instances/<name>/, each folder 0700.
struct InstancePaths {
  std::string dir;
  std::string manifest() const { return dir + "/sandbox.yaml"; }  // the Sandbox, while active
  // Where clean puts the manifest: the instance keeps its blueprint and settings for a next
  // run, but nothing converges it.
  std::string cleaned_manifest() const { return dir + "/sandbox.yaml.cleaned"; }
  std::string workspace() const { return dir + "/workspace"; }
  std::string home() const { return dir + "/home"; }
  std::string secrets() const { return dir + "/secrets"; }
};
InstancePaths instance_paths(const std::string& state_dir, const std::string& name);
// The longest unix socket path the kernel takes (sun_path less its terminating NUL).
inline constexpr size_t kMaxSocketPath = 107;

}  // namespace acctl
