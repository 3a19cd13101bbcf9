// The converge pipeline every engine-facing command runs:
//   render the model → split it by engine → for each engine, in order: connect, lock, observe,
//   finish rendering, plan → (apply) execute → report.
// The engines are the Hosts' own and, after them, the nested engines of dind Hosts, which exist
// only once the first part is applied: apply observes and plans each engine just before it
// converges it; diff and dry runs plan them all from what is there now, counting on what the
// earlier plans will make.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "converge/engine_lock.h"
#include "converge/executor.h"
#include "converge/plan.h"
#include "converge/system.h"
#include "engine/endpoint.h"
#include "engine/engine_api.h"
#include "images/image_build.h"
#include "manifest/model.h"

namespace acctl {

// What the pipeline reaches: handed in by the command line, or by a test.
struct ConvergeEnv {
  const System* system = nullptr;
  std::string state_dir;     // instances/, run/
  std::string project_root;  // images/, runtime/ (the host and gate images); "" = none built
  std::string lock_dir;
  // Opens an engine connection (the libcurl client, or a fake).
  std::function<Result<std::shared_ptr<engine::EngineApi>>(const engine::EngineOptions&)> connect;
  RootfsBootstrap bootstrap;  // the Debian base image's rootfs
};

enum class ConvergeMode {
  kDiff,    // plan every engine, change nothing
  kDryRun,  // the same, for apply --dry-run
  kApply,   // converge every engine in turn
};

struct ConvergeOptions {
  ConvergeMode mode = ConvergeMode::kDiff;
  bool prune = false;
  bool wait = false;  // after applying, wait until what should run is running
  std::set<std::string> prune_only{};   // see PlanOptions
  std::set<std::string> start_again{};  // see PlanOptions
  std::set<std::string> rebuild{};      // see PlanOptions
  int parallel = 4;
  // How long waits (the engine lock, a nested engine, --wait) may take, and when the whole
  // command must be over.
  std::chrono::milliseconds timeout{120000};
};

// One engine the manifests converge.
struct Stage {
  engine::EngineOptions options;
  std::vector<std::string> hosts;   // Hosts of the manifests on this engine
  const Host* nested_of = nullptr;  // set: the nested engine of that dind Host
  DesiredState desired;
  bool unreachable = false;  // a nested engine not running yet: planned from nothing
  Plan plan;
  bool executed = false;
  std::shared_ptr<engine::EngineApi> api;
  std::optional<EngineLock> lock;
};

// What the pipeline says as it goes; the command line prints it.
class ConvergeListener {
 public:
  virtual ~ConvergeListener() = default;
  virtual void waiting_for_lock(const Stage& stage, int holder_pid) {}
  // A stage's plan is ready (apply: just before it is carried out).
  virtual void planned(const Stage& stage, size_t stages) {}
  virtual void step(const Stage& stage, const StepEvent& event) {}
  virtual void stage_done(const Stage& stage, std::chrono::milliseconds took) {}
};

struct ConvergeResult {
  std::vector<Stage> stages;
  size_t done = 0, failed = 0, skipped = 0;
  std::vector<std::string> errors;  // plan errors (nothing was executed) and failed steps
  bool changes = false;             // some plan had something to do
  std::chrono::milliseconds elapsed{0};

  bool ok() const { return errors.empty() && failed == 0 && skipped == 0; }
};

// Renders `model` and converges (or plans) every engine it names. Errors are what stops the
// pipeline before or between stages: an engine that cannot be reached or locked, observation
// failing, a build context that cannot be read. Plan errors and failed steps are in the result.
Result<ConvergeResult> converge(const Model& model, const ConvergeOptions& options,
                                const ConvergeEnv& env, ConvergeListener& listener);

// The engine a Host lives on: its spec.engine, else $DOCKER_HOST and friends, else the socket.
engine::EngineOptions engine_options_for(const std::string& address, const System& system);

}  // namespace acctl
