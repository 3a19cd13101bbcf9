// What acctl finds: the managed objects on an engine, the images the desired state names, the
// files acctl writes and whether nested engines answer — the observed half of every plan.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "converge/desired.h"

namespace acctl {

// A managed object as found on an engine.
struct ObservedObject {
  ObjectType type = ObjectType::kContainer;
  std::string id;
  std::string name;
  engine::Labels labels;
  // Containers only:
  std::string state;  // created, running, exited, ...
  LiveLimits live;
  std::string image_id;
  std::map<std::string, std::string> addresses;  // network name → IPv4 address
  // The engine listed it but did not answer an inspect of it in time: its limits and image are
  // unknown, and the plan cannot be trusted for it.
  std::string stuck;
};

struct ObservedState {
  std::vector<ObservedObject> objects;  // managed by acctl (ac.managed-by=acctl)
  // Unmanaged objects whose names the manifests want: never touched, reported as errors.
  std::set<std::string> unmanaged_names;
  // For every image the desired state names: its id, or "" when the engine lacks it.
  std::map<std::string, std::string> image_ids;
  std::map<std::string, engine::Labels> image_labels;  // of the images found
  // Images copied from another engine: their id there ("" = not there, or to be built first).
  std::map<std::string, std::string> source_image_ids;
  // Tags an earlier stage will import or build (diff and dry runs: what is not done yet).
  std::set<std::string> pending_images;
  // Files acctl writes: their content, nullopt when missing.
  std::map<std::string, std::optional<std::string>> files;
  // Nested engines (kEngine objects, by endpoint): answering and reported ready.
  std::map<std::string, bool> engines_ready;
  // Addresses in use on each network (network name → addresses), by any container.
  std::map<std::string, std::set<std::string>> addresses_in_use;
};

}  // namespace acctl
