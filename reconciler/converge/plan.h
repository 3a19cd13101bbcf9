// The pure planner: desired objects + what the engine holds → the actions that converge them.
#pragma once

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
};

struct ObservedState {
  std::vector<ObservedObject> objects;  // managed by acctl (ac.managed-by=acctl)
  // Unmanaged objects whose names the manifests want: never touched, reported as errors.
  std::set<std::string> unmanaged_names;
  // For every image the desired containers use: its id, or "" when the engine lacks it.
  std::map<std::string, std::string> image_ids;
};

// Each action is one engine-level step. A replacement is a kDelete and a kCreate of the same
// name, both flagged `replacing`; the text shows them as one "-/+ replace" line.
enum class ActionType { kDelete, kCreate, kUpdate, kStart };
const char* to_string(ActionType);

struct Action {
  ActionType type = ActionType::kCreate;
  ObjectType object = ObjectType::kContainer;
  std::string name;
  std::string owner;  // "Sandbox/dev", or the labels' kind/name for deletions
  std::string host;
  bool replacing = false;
  std::vector<std::string> reasons;      // "cpus 1 → 2", "env changed", "found exited"
  std::optional<DesiredObject> desired;  // create, update, start
  std::string observed_id;               // delete, update, start
  std::vector<size_t> after;             // actions that must finish first
};

struct PlanOptions {
  bool prune = false;
  // Hosts whose managed objects the plan may delete with prune: the ones the manifests name.
  std::set<std::string> prune_hosts;
};

struct Plan {
  std::vector<Action> actions;      // in a valid execution order
  std::vector<std::string> errors;  // problems that forbid applying (conflicts, missing images)
  size_t in_sync = 0;               // desired objects that need nothing

  bool empty() const { return actions.empty(); }
  // Deterministic text: one line per action, then a summary line.
  std::string text() const;
};

Plan plan_changes(const DesiredState& desired, const ObservedState& observed,
                  const PlanOptions& options);

// Human form of a limit change: "cpus 1 → 2", "memory 512m → 1g", "pids 1024 → 256".
std::vector<std::string> describe_live_change(const LiveLimits& from, const LiveLimits& to);

}  // namespace acctl
