// The typed desired state: what every later stage (planner, renderer, CLI) works on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "manifest/diagnostics.h"
#include "netpolicy/address.h"

namespace acctl {

struct ObjectMeta {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string file;  // where it was defined ("<stdin>", or a project blueprint's file)
  Position pos;      // of metadata.name
};

enum class Isolation { kDind, kDirect };
enum class RunscPlatform { kPtrace, kSystrap, kKvm };
enum class RunscNetwork { kAuto, kSandbox, kHost };
enum class Hardening { kParanoid, kStandard };
enum class SandboxMode { kHeadless, kInteractive, kIdle };
enum class RestartPolicy { kNever, kOnFailure, kAlways };
// How a credential's token reaches git, gh and glab: added to requests by the Host's gate (the
// token never enters the sandbox), or handed over by the vault inside the sandbox.
enum class CredentialDelivery { kGate, kVault };

struct HostSpec {
  std::string engine;  // empty: $DOCKER_HOST, else the local socket
  Isolation isolation = Isolation::kDind;
  std::string base_image;
  // trust.caFiles, resolved: absolute paths of the PEM files (folders expanded), sorted.
  std::vector<std::string> ca_files;
  RunscPlatform runsc_platform = RunscPlatform::kPtrace;
  RunscNetwork runsc_network = RunscNetwork::kAuto;
  bool runsc_debug = false;
  // gate: audit required (the gate refuses traffic it cannot log), and the nested engine's
  // rotation of its log ("" / 0: the engine's default).
  bool gate_audit_required = false;
  std::string gate_log_size;
  int gate_log_files = 0;
  // gate.trust: CA files for the gate's upstream verification only (absolute, sorted).
  std::vector<std::string> gate_trust;
  netpolicy::Cidr subnet;
  netpolicy::IpAddress gate_ip;
  std::optional<double> cpus;
  std::optional<int64_t> memory_bytes;
};

struct Endpoint {
  netpolicy::IpAddress ip;
  uint16_t port = 53;
};

struct EgressPolicySpec {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::vector<uint16_t> ports;
  std::vector<netpolicy::Cidr> allow_cidrs;
  std::vector<netpolicy::Cidr> deny_cidrs;
  std::vector<Endpoint> dns_upstreams;
  std::map<std::string, std::vector<netpolicy::IpAddress>> dns_records;
  int dns_qps = 200;
  int connections = 1024;
};

struct BlueprintSpec {
  std::string description;
  std::string image;  // a prebuilt image to run; empty: build one from install.sh
  Hardening hardening = Hardening::kParanoid;
  std::string install;  // relative to folder
  std::string run;
  std::vector<std::string> egress;
  std::map<std::string, std::string> env;
  std::string folder;  // the blueprint's folder (build context), absolute or relative to cwd
};

struct GpuRequest {
  bool all = false;
  int count = 0;                        // when > 0
  std::vector<std::string> device_ids;  // when non-empty
  bool requested() const { return all || count > 0 || !device_ids.empty(); }
};

struct CredentialSource {
  std::string env;   // variable in acctl's environment, or
  std::string file;  // a file path ("~" expanded at apply time)
  CredentialDelivery delivery = CredentialDelivery::kGate;
};

struct SandboxSpec {
  std::string blueprint;
  std::string host;
  std::string egress_policy;
  SandboxMode mode = SandboxMode::kHeadless;
  std::vector<std::string> args;
  RestartPolicy restart = RestartPolicy::kNever;
  std::optional<double> cpus;
  std::optional<int64_t> memory_bytes;
  GpuRequest gpus;
  int64_t pids = 1024;
  std::map<std::string, std::string> env;
  std::optional<CredentialSource> github;
  std::optional<CredentialSource> gitlab;
  std::string git_name;
  std::string git_email;
  bool git_allow_push = false;
  std::vector<std::string> github_hosts;
  std::vector<std::string> gitlab_hosts;
  // git.repositories, lower-cased: "owner/repo", GitLab's "group/sub/repo"; empty: any.
  std::vector<std::string> git_repositories;
  std::string workspace;  // relative to the state folder, always under instances/
  std::vector<std::string> blocked_paths;

  // Whether some credential (github, gitlab) is set and delivered that way.
  bool has_credentials(CredentialDelivery delivery) const;
};

template <typename Spec>
struct Object {
  ObjectMeta meta;
  Spec spec;
};
using Host = Object<HostSpec>;
using EgressPolicy = Object<EgressPolicySpec>;
using Blueprint = Object<BlueprintSpec>;
using Sandbox = Object<SandboxSpec>;

struct Model {
  std::vector<Host> hosts;
  std::vector<EgressPolicy> policies;
  std::vector<Blueprint> blueprints;
  std::vector<Sandbox> sandboxes;

  const Host* find_host(const std::string& name) const;
  const EgressPolicy* find_policy(const std::string& name) const;
  const Blueprint* find_blueprint(const std::string& name) const;
  const Sandbox* find_sandbox(const std::string& name) const;
};

const char* to_string(Isolation);
const char* to_string(RunscPlatform);
const char* to_string(RunscNetwork);
const char* to_string(Hardening);
const char* to_string(SandboxMode);
const char* to_string(RestartPolicy);
const char* to_string(CredentialDelivery);

}  // namespace acctl
