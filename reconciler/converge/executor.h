// Runs a plan: dependency order, independent steps in parallel, progress. The executor only
// schedules; a StepRunner carries out each action (steps.h: engine objects, images, files,
// waits, reloads).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "converge/plan.h"
#include "engine/engine_api.h"

namespace acctl {

enum class StepState { kStarted, kProgress, kDone, kFailed, kSkipped };
const char* to_string(StepState);

struct StepEvent {
  size_t index = 0;  // into plan.actions
  StepState state = StepState::kStarted;
  std::chrono::milliseconds elapsed{0};
  std::string message;  // the error, why it was skipped, or (kProgress) a line of output
  std::string detail;   // kDone: what the step found or moved ("129.8 MiB")
};

// Carries out one action. Called from worker threads, several at once.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // `progress` takes lines of output while the step runs. -> a detail for the done line ("" for
  // none), or the error.
  virtual Result<std::string> run(const Action& action,
                                  const std::function<void(const std::string&)>& progress) = 0;
};

struct ExecuteOptions {
  int parallel = 4;
  int stop_timeout_seconds = 10;  // before a container is removed
  // Called from worker threads, one call at a time.
  std::function<void(const Plan&, const StepEvent&)> on_event;
};

struct ExecuteResult {
  size_t done = 0, failed = 0, skipped = 0;
  std::vector<std::string> errors;  // "delete container ac-sb-x: <engine message>"
  bool timed_out = false;           // a step failed because the engine did not answer in time
  bool ok() const { return failed == 0 && skipped == 0; }
};

// Executes every action once its `after` actions succeeded; a failed action skips everything
// that depends on it, and independent work goes on.
ExecuteResult execute_plan(const Plan& plan, StepRunner& runner, const ExecuteOptions& options);

// A plan of engine objects only (networks, volumes, containers), on one engine.
ExecuteResult execute_plan(engine::EngineApi& engine, const Plan& plan,
                           const ExecuteOptions& options);

}  // namespace acctl
