// Runs a plan against an engine: dependency order, independent steps in parallel, progress.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "engine/engine_api.h"
#include "converge/plan.h"

namespace acctl {

enum class StepState { kStarted, kDone, kFailed, kSkipped };
const char* to_string(StepState);

struct StepEvent {
  size_t index = 0;  // into plan.actions
  StepState state = StepState::kStarted;
  std::chrono::milliseconds elapsed{0};
  std::string message;  // the error, or why it was skipped
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
  bool ok() const { return failed == 0 && skipped == 0; }
};

// Executes every action once its `after` actions succeeded; a failed action skips everything
// that depends on it, and independent work goes on. Deleting something already gone succeeds.
ExecuteResult execute_plan(engine::EngineApi& engine, const Plan& plan,
                           const ExecuteOptions& options);

}  // namespace acctl
