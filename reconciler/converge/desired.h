// The engine objects the manifests ask for: networks, volumes and containers with their labels,
// spec hashes and the limits the engine can change live.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/engine_api.h"
#include "common/hash.h"
#include "manifest/model.h"
#include "manifest/names.h"

namespace acctl {

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

// Turns the model into engine objects: a direct Host's network and sandboxes on its engine; a
// dind Host's volume and host container on its engine and its networks, gate and sandboxes in
// the nested engine (sandbox_host.h).
DesiredState render_desired(const Model& model, const RenderOptions& options,
                            std::vector<std::string>* unsupported = nullptr);

// Sets spec_hash, field_hashes and their two labels from the fields that decide replacement.
void seal_spec(DesiredObject& o, const nlohmann::json& fields);

// Decodes the ac.spec-fields label: "env:1a2b,image:3c4d" → {env: 1a2b, image: 3c4d}.
std::map<std::string, std::string> parse_field_hashes(const std::string& label);

}  // namespace acctl
