// Lookups and names for the typed model.
#include "manifest/model.h"

namespace acctl {

namespace {
template <typename T>
const T* find_by_name(const std::vector<T>& list, const std::string& name) {
  for (const T& item : list) {
    if (item.meta.name == name) return &item;
  }
  return nullptr;
}
}  // namespace

const Host* Model::find_host(const std::string& n) const {
  return find_by_name(hosts, n);
}
const EgressPolicy* Model::find_policy(const std::string& n) const {
  return find_by_name(policies, n);
}
const Blueprint* Model::find_blueprint(const std::string& n) const {
  return find_by_name(blueprints, n);
}
const Sandbox* Model::find_sandbox(const std::string& n) const {
  return find_by_name(sandboxes, n);
}

bool SandboxSpec::has_credentials(CredentialDelivery delivery) const {
  return (github && github->delivery == delivery) || (gitlab && gitlab->delivery == delivery);
}

const char* to_string(Isolation v) {
  return v == Isolation::kDind ? "dind" : "direct";
}
const char* to_string(RunscPlatform v) {
  return v == RunscPlatform::kPtrace ? "ptrace" : v == RunscPlatform::kSystrap ? "systrap" : "kvm";
}
const char* to_string(RunscNetwork v) {
  return v == RunscNetwork::kAuto ? "auto" : v == RunscNetwork::kSandbox ? "sandbox" : "host";
}
const char* to_string(Hardening v) {
  return v == Hardening::kParanoid ? "paranoid" : "standard";
}
const char* to_string(SandboxMode v) {
  return v == SandboxMode::kHeadless      ? "headless"
         : v == SandboxMode::kInteractive ? "interactive"
                                          : "idle";
}
const char* to_string(RestartPolicy v) {
  return v == RestartPolicy::kNever       ? "never"
         : v == RestartPolicy::kOnFailure ? "on-failure"
                                          : "always";
}
const char* to_string(CredentialDelivery v) {
  return v == CredentialDelivery::kGate ? "gate" : "vault";
}

}  // namespace acctl
