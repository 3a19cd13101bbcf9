// The engine objects the manifests ask for: networks, volumes and containers with their labels,
// spec hashes and the limits the engine can change live.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/engine_api.h"
#include "model.h"

namespace acctl {

// Labels acctl puts on everything it creates (DESIGN.md, "Engine state and the reconciler").
inline constexpr const char* kLabelManagedBy = "ac.managed-by";
inline constexpr const char* kLabelKind = "ac.kind";
inline constexpr const char* kLabelName = "ac.name";
inline constexpr const char* kLabelHost = "ac.host";
inline constexpr const char* kLabelSpecHash = "ac.spec-hash";
inline constexpr const char* kLabelInstance = "ac.instance";
// Short hashes of each part of the spec, so a replacement can say which fields changed.
inline constexpr const char* kLabelSpecFields = "ac.spec-fields";
inline constexpr const char* kManagedByValue = "acctl";

enum class ObjectType { kNetwork, kVolume, kContainer };
const char* to_string(ObjectType);

// Limits POST /containers/{id}/update changes without a restart.
struct LiveLimits {
  int64_t nano_cpus = 0;
  int64_t memory = 0;
  int64_t pids = 0;
  bool operator==(const LiveLimits&) const = default;
};

struct DesiredObject {
  ObjectType type = ObjectType::kContainer;
  std::string name;       // the engine's name for it: the identity acctl matches on
  std::string owner;      // the manifest object it realises: "Sandbox/dev", "Host/local"
  std::string host;       // the Host it belongs to
  // The engine holding it: "" = the Host's spec.engine; a dind Host's nested objects name the
  // nested engine's endpoint.
  std::string engine;
  engine::Labels labels;  // including ac.spec-hash and ac.spec-fields
  std::string spec_hash;
  std::map<std::string, std::string> field_hashes;
  std::vector<std::string> depends_on;  // names of objects that must exist first

  engine::NetworkSpec network;      // kNetwork
  engine::VolumeSpec volume;        // kVolume
  engine::ContainerSpec container;  // kContainer
  LiveLimits live;                  // kContainer
  bool keep_running = false;        // kContainer: restart it when found stopped
  std::string workspace_dir;        // kContainer: host folder created (0700) before create
};

struct DesiredState {
  std::vector<DesiredObject> objects;  // in dependency order
  std::vector<std::string> hosts;      // Hosts these objects belong to
};

struct HostPrivileges;

struct RenderOptions {
  std::string state_dir;  // holds instances/<name>/workspace; absolute
  // What a dind Host's container may have; nullptr renders no dind Host (they are listed in
  // `unsupported`).
  const HostPrivileges* privileges = nullptr;
};

// Engine object names, one scheme for every command.
std::string sandbox_container_name(const std::string& sandbox);
std::string host_network_name(const std::string& host);

// Turns the model into engine objects: a direct Host's network and sandboxes on its engine; a
// dind Host's volume and host container on its engine and its networks, gate and sandboxes in
// the nested engine (sandbox_host.h).
DesiredState render_desired(const Model& model, const RenderOptions& options,
                            std::vector<std::string>* unsupported = nullptr);

// The labels every managed object carries: ac.managed-by, ac.kind, ac.name, ac.host.
engine::Labels managed_labels(const std::string& kind, const std::string& name,
                              const std::string& host);
// Sets spec_hash, field_hashes and their two labels from the fields that decide replacement.
void seal_spec(DesiredObject& o, const nlohmann::json& fields);

// Decodes the ac.spec-fields label: "env:1a2b,image:3c4d" → {env: 1a2b, image: 3c4d}.
std::map<std::string, std::string> parse_field_hashes(const std::string& label);

// 64-bit FNV-1a as 16 hex digits: change detection, not security.
std::string short_hash(const std::string& bytes);

}  // namespace acctl
