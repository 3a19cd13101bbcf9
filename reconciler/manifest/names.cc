// The naming scheme of names.h.
#include "manifest/names.h"

#include <filesystem>

namespace acctl {

std::map<std::string, std::string> managed_labels(const std::string& kind, const std::string& name,
                                                  const std::string& host) {
  return {{kLabelManagedBy, kManagedByValue},
          {kLabelKind, kind},
          {kLabelName, name},
          {kLabelHost, host}};
}

std::string sandbox_container_name(const std::string& sandbox) {
  return "ac-sb-" + sandbox;
}
std::string host_network_name(const std::string& host) {
  return "ac-net-" + host;
}
std::string egress_network_name(const std::string& host) {
  return "ac-egress-" + host;
}
std::string dind_container_name(const std::string& host) {
  return "ac-dind-host-" + host;
}
std::string dind_volume_name(const std::string& host) {
  return "ac-dind-data-" + host;
}
std::string gate_container_name(const std::string& host) {
  return "ac-gate-" + host;
}

std::string blueprint_image_tag(const std::string& blueprint) {
  return "acctl/blueprint-" + blueprint + ":latest";
}

bool is_acctl_built_image(const std::string& tag) {
  return tag == kHostImage || tag == kGateImage || tag == kAgentBaseImage ||
         tag.starts_with("acctl/blueprint-");
}

InstancePaths instance_paths(const std::string& state_dir, const std::string& name) {
  return {(std::filesystem::path(state_dir) / "instances" / name).lexically_normal().string()};
}

HostPaths host_paths(const std::string& state_dir, const std::string& host) {
  return {(std::filesystem::path(state_dir) / "run" / "hosts" / host).lexically_normal().string()};
}

}  // namespace acctl
