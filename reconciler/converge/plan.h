// The pure planner: desired objects + what the engine holds → the actions that converge them.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "converge/desired.h"
#include "converge/observed.h"

namespace acctl {

// Each action is one step of the world's change. A replacement is a kDelete and a kCreate of the
// same name, both flagged `replacing`; the text shows them as one "-/+ replace" line.
enum class ActionType {
  kDelete,
  kCreate,
  kUpdate,
  kStart,
  kImport,  // an image from the Debian rootfs
  kBuild,   // an image from its recipe
  kCopy,    // images from another engine (save → load)
  kWait,    // until a nested engine answers
  kWrite,   // a file acctl owns
  kReload,  // a gate re-reads its config (SIGHUP): no restart, connections stay
};
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
  std::string observed_id;               // delete, update, start; build: the image replaced
  std::vector<size_t> after;             // actions that must finish first
  // kCopy: the tags to bring over, from this engine ("" = the Host's own).
  std::vector<std::string> images{};
  std::string from_engine{};
  bool no_cache = false;  // kBuild: without the engine's layer cache
};

struct PlanOptions {
  bool prune = false;
  // Hosts whose managed objects the plan may delete with prune: the ones the manifests name.
  std::set<std::string> prune_hosts;
  // With prune: only these objects (engine names) may be deleted; empty: any of prune_hosts'.
  std::set<std::string> prune_only{};
  // Containers to start again when found finished (acctl run of an instance that ran before).
  std::set<std::string> start_again{};
  // Images to build even when current, without the engine's layer cache (run --build).
  std::set<std::string> rebuild{};
};

struct Plan {
  std::vector<Action> actions;      // in a valid execution order
  std::vector<std::string> errors;  // problems that forbid applying (conflicts, missing images)
  size_t in_sync = 0;               // desired objects that need nothing

  bool empty() const { return actions.empty(); }
  // The image tags this plan imports, builds or copies (what later stages may count on).
  std::set<std::string> images_made() const;
  // Deterministic text: one line per action, then a summary line.
  std::string text() const;
};

// Whether a plan with `options` deletes the observed object `o` (`wanted`: the desired state
// has it): with prune, an object of a pruned Host that is not wanted and, when the prune is
// limited, one it names.
bool prunes(const ObservedObject& o, bool wanted, const PlanOptions& options);

Plan plan_changes(const DesiredState& desired, const ObservedState& observed,
                  const PlanOptions& options);

// Human form of a limit change: "cpus 1 → 2", "memory 512m → 1g", "pids 1024 → 256".
std::vector<std::string> describe_live_change(const LiveLimits& from, const LiveLimits& to);

}  // namespace acctl
