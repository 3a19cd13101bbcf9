// The desired state: everything the manifests ask of the world, as objects the planner can
// compare with what it finds — engine objects (networks, volumes, containers with their labels,
// spec hashes and live limits), images (imported, built or copied between engines), files acctl
// writes (the gate's config, the sandboxes' resolver) and nested engines that must answer.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/hash.h"
#include "common/result.h"
#include "converge/gate_policy.h"
#include "engine/engine_api.h"
#include "images/image_build.h"
#include "manifest/model.h"
#include "manifest/names.h"
#include "netpolicy/address.h"

namespace acctl {

enum class ObjectType {
  kNetwork,
  kVolume,
  kContainer,
  kImage,
  kFile,    // a file acctl writes on this machine
  kEngine,  // a nested engine that must answer before the objects inside it are converged
  kGate,    // a running gate, told to re-read its config
};
const char* to_string(ObjectType);

// Limits POST /containers/{id}/update changes without a restart.
struct LiveLimits {
  int64_t nano_cpus = 0;
  int64_t memory = 0;
  int64_t pids = 0;
  bool operator==(const LiveLimits&) const = default;
};

// How an image comes to be on the engine that runs it (no registry is ever asked).
enum class ImageSource {
  kImport,  // the Debian base image, from the debootstrap rootfs
  kBuild,   // a recipe built through the engine's build API
  kCopy,    // the same image id as on another engine (a dind Host's outer engine)
};

struct DesiredImage {
  ImageSource source = ImageSource::kBuild;
  std::string base;                               // kBuild: the FROM image, on the same engine
  std::shared_ptr<const PreparedImage> prepared;  // kBuild: the recipe and its context tar
  std::string suite;                              // kImport: the Debian suite
  std::string from_engine;                        // kCopy: the endpoint it is copied from
};

struct DesiredFile {
  std::string path;     // absolute, on this machine
  std::string label;    // how the plan names it: "gate/config.json"
  std::string content;  // what it must hold (gate configs: filled in by finish_render)
  // A container that re-reads the file on SIGHUP when it changes (the gate), "" for none.
  std::string reload_container;
  // What differs between the file's current text and `content`: "policy changed".
  std::function<std::vector<std::string>(const std::string& current)> explain;
  int mode = 0644;
  // When set: the file's folder is made first under this trusted base (root's, 0700, no symlink
  // followed; make_private_dir), with the path relative to it in `private_folder`.
  std::string private_base;
  std::string private_folder;
};

// A nested engine (kEngine): answering, and its host container's entrypoint reported ready.
struct DesiredEngine {
  std::string endpoint;        // unix:///…/docker.sock
  std::string host_container;  // on this stage's engine
  std::string status_file;     // host.json
  std::string host;            // the Host's name
};

// A container whose IPv4 address on `network` acctl assigns from `subnet`: the gate tells
// sandboxes apart by it, so it must not depend on the order the engine starts them in.
struct AddressRequest {
  std::string network;
  netpolicy::Cidr subnet;
  std::vector<netpolicy::IpAddress> reserved;  // never handed out (the gate's own address)
};

struct DesiredObject {
  ObjectType type = ObjectType::kContainer;
  std::string name;   // its identity: engine name, image tag, file path, engine endpoint
  std::string owner;  // the manifest object it realises: "Sandbox/dev", "Host/local"
  std::string host;   // the Host it belongs to
  // The engine holding it: "" = the Host's spec.engine; a dind Host's nested objects name the
  // nested engine's endpoint.
  std::string engine;
  engine::Labels labels;  // including ac.spec-hash and ac.spec-fields
  std::string spec_hash;
  std::map<std::string, std::string> field_hashes;
  std::vector<std::string> depends_on;  // names of objects that must exist first

  engine::NetworkSpec network;            // kNetwork
  engine::VolumeSpec volume;              // kVolume
  engine::ContainerSpec container;        // kContainer
  LiveLimits live;                        // kContainer
  bool keep_running = false;              // kContainer: restart it when found stopped
  std::string workspace_dir;              // kContainer: host folder created (0700) before create
  std::string home_dir;                   // kContainer: the agent\'s home, made like the workspace
  std::optional<AddressRequest> address;  // kContainer: acctl assigns container.ipv4_address
  DesiredImage image;                     // kImage
  DesiredFile file;                       // kFile
  DesiredEngine nested;                   // kEngine
};

// The gate of one dind Host: what its config file is made from, completed once the sandboxes'
// addresses are known.
struct GateInputs {
  const Host* host = nullptr;
  GatePolicy policy;
  std::string network;      // the sandbox network, whose addresses the gate tells apart
  std::string config_path;  // the kFile object holding its config
};

struct DesiredState {
  std::vector<DesiredObject> objects;       // in dependency order
  std::vector<std::string> hosts;           // Hosts these objects belong to
  std::map<std::string, GateInputs> gates;  // by Host name
};

struct HostPrivileges;

struct RenderOptions {
  std::string state_dir;  // holds instances/<name>/workspace and run/; absolute
  // The project's root (images/, runtime/ for the host and gate images); "" renders no image
  // objects (then images must already be on the engines).
  std::string project_root;
  // What a dind Host's container may have; nullptr renders no dind Host (they are listed in
  // `unsupported`).
  const HostPrivileges* privileges = nullptr;
  // The Sandboxes' tokens (read_credentials); nullptr renders Sandboxes without credentials.
  const std::map<std::string, std::map<std::string, std::string>>* credentials = nullptr;
};

// Turns the model into desired objects on every engine: for a direct Host its network, the
// images its Sandboxes need and the sandboxes; for a dind Host its images, volume and host
// container and nested engine on its engine, and in the nested engine the copied images, the
// networks, the gate with its config file and the sandboxes (sandbox_host.h). Errors: a build
// context that cannot be read.
Result<DesiredState> render_desired(const Model& model, const RenderOptions& options,
                                    std::vector<std::string>* unsupported = nullptr);

// The part of rendering that needs observation: assigns sandbox addresses (a container keeps
// the address it has; new ones get the lowest free one) and fills in the gate config files.
// Sandboxes running on a gate's network that this converge does not render keep their entries,
// except `leaving` (container names the plan deletes: prune), whose entries, and credentials, go
// with this converge. Errors: a subnet with no free address left.
struct ObservedState;
Status finish_render(DesiredState& desired, const ObservedState& observed,
                     const std::set<std::string>& leaving = {});

// Sets spec_hash, field_hashes and their two labels from the fields that decide replacement.
void seal_spec(DesiredObject& o, const nlohmann::json& fields);

// Decodes the ac.spec-fields label: "env:1a2b,image:3c4d" → {env: 1a2b, image: 3c4d}.
std::map<std::string, std::string> parse_field_hashes(const std::string& label);

}  // namespace acctl
