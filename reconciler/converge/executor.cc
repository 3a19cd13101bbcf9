// The executor: a small scheduler over the plan's dependency graph.
#include "converge/executor.h"

#include "converge/steps.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace acctl {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

const char* to_string(StepState s) {
  switch (s) {
    case StepState::kStarted:
      return "started";
    case StepState::kProgress:
      return "progress";
    case StepState::kDone:
      return "done";
    case StepState::kFailed:
      return "failed";
    case StepState::kSkipped:
      return "skipped";
  }
  return "?";
}

ExecuteResult execute_plan(const Plan& plan, StepRunner& runner, const ExecuteOptions& options) {
  enum class S { kWaiting, kRunning, kDone, kFailed, kSkipped };
  const size_t n = plan.actions.size();
  std::vector<S> state(n, S::kWaiting);
  std::mutex mu;
  std::condition_variable cv;
  std::mutex report_mu;
  ExecuteResult result;
  size_t finished = 0;

  auto report = [&](const StepEvent& e) {
    if (!options.on_event) return;
    std::lock_guard lock(report_mu);
    options.on_event(plan, e);
  };

  // Marks everything that (transitively) waits on a failed step as skipped. Holds `mu`.
  std::function<void(size_t)> skip_dependents = [&](size_t failed) {
    for (size_t j = 0; j < n; ++j) {
      if (state[j] != S::kWaiting) continue;
      for (size_t dep : plan.actions[j].after) {
        if (dep != failed) continue;
        state[j] = S::kSkipped;
        ++finished;
        ++result.skipped;
        report({j, StepState::kSkipped, {}, "waits on a step that failed", ""});
        skip_dependents(j);
        break;
      }
    }
  };

  auto next_ready = [&]() -> std::optional<size_t> {
    for (size_t i = 0; i < n; ++i) {
      if (state[i] != S::kWaiting) continue;
      bool ready = true;
      for (size_t dep : plan.actions[i].after) ready = ready && state[dep] == S::kDone;
      if (ready) return i;
    }
    return std::nullopt;
  };

  auto worker = [&] {
    std::unique_lock lock(mu);
    while (true) {
      std::optional<size_t> i;
      cv.wait(lock, [&] { return finished == n || (i = next_ready()).has_value(); });
      if (!i) return;
      state[*i] = S::kRunning;
      lock.unlock();
      const Action& a = plan.actions[*i];
      report({*i, StepState::kStarted, {}, "", ""});
      auto start = Clock::now();
      const size_t index = *i;
      Result<std::string> status = runner.run(a, [&](const std::string& line) {
        report({index, StepState::kProgress, {}, line, ""});
      });
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      lock.lock();
      ++finished;
      if (status) {
        state[*i] = S::kDone;
        ++result.done;
        report({*i, StepState::kDone, elapsed, "", *status});
      } else {
        state[*i] = S::kFailed;
        ++result.failed;
        result.timed_out = result.timed_out || status.error().timed_out;
        result.errors.push_back(std::string(to_string(a.type)) + " " + to_string(a.object) + " " +
                                a.name + ": " + status.error().message);
        report({*i, StepState::kFailed, elapsed, status.error().message, ""});
        skip_dependents(*i);
      }
      cv.notify_all();
    }
  };

  const int workers = std::max(1, std::min<int>(options.parallel, static_cast<int>(n)));
  std::vector<std::thread> threads;
  for (int w = 1; w < workers; ++w) threads.emplace_back(worker);
  if (n > 0) worker();
  for (std::thread& t : threads) t.join();
  return result;
}

ExecuteResult execute_plan(engine::EngineApi& engine, const Plan& plan,
                           const ExecuteOptions& options) {
  EngineObjectSteps steps(engine, options.stop_timeout_seconds);
  return execute_plan(plan, steps, options);
}

}  // namespace acctl
