// The executor: a small scheduler over the plan's dependency graph.
#include "converge/executor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace acctl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The uid and gid the agent runs as inside every sandbox image (the image's "agent" user).
constexpr uid_t kAgentUid = 1000;
constexpr gid_t kAgentGid = 1000;

// Creates the workspace folder (and parents) and makes the folder itself private (0700) to the
// agent. Only root can hand it to the agent's uid; another user keeps it as their own.
engine::Status make_workspace(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return engine::Error{0, "cannot create workspace " + dir + ": " + ec.message()};
  if (::geteuid() == 0 && ::chown(dir.c_str(), kAgentUid, kAgentGid) != 0) {
    return engine::Error{0,
                         "cannot give workspace " + dir + " to uid 1000: " + std::strerror(errno)};
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return engine::Error{0,
                         "cannot set mode 0700 on workspace " + dir + ": " + std::strerror(errno)};
  }
  return engine::ok_status();
}

// Whether an engine object's labels say acctl made it from exactly this desired spec.
bool is_same_managed(const engine::Labels& labels, const DesiredObject& d) {
  auto managed = labels.find(kLabelManagedBy);
  auto hash = labels.find(kLabelSpecHash);
  return managed != labels.end() && managed->second == kManagedByValue && hash != labels.end() &&
         hash->second == d.spec_hash;
}

// Joins the networks beyond the one the container was created on. An endpoint that is already
// there (a previous, interrupted apply got this far) is what we want.
engine::Status join_extra_networks(engine::EngineApi& api, const std::string& id,
                                   const engine::ContainerSpec& spec) {
  for (const std::string& network : spec.extra_networks) {
    auto r = api.connect_network(network, id, "", {});
    if (!r && !(r.error().status == 403 && r.error().message.find("already exists") !=
                                                std::string::npos)) {
      return r;
    }
  }
  return engine::ok_status();
}

engine::Status run_action(engine::EngineApi& api, const Action& a, const ExecuteOptions& options) {
  switch (a.type) {
    case ActionType::kDelete:
      if (a.object == ObjectType::kContainer) {
        auto stop = api.stop_container(a.observed_id, options.stop_timeout_seconds);
        if (!stop && !stop.not_found() && stop.error().status != 304) return stop;
        auto r = api.remove_container(a.observed_id, /*force=*/true, /*volumes=*/false);
        return r || r.not_found() ? engine::ok_status() : r;
      }
      if (a.object == ObjectType::kNetwork) {
        auto r = api.remove_network(a.observed_id);
        return r || r.not_found() ? engine::ok_status() : r;
      }
      {
        auto r = api.remove_volume(a.observed_id, /*force=*/false);
        return r || r.not_found() ? engine::ok_status() : r;
      }
    case ActionType::kCreate:
      if (a.object == ObjectType::kNetwork) {
        auto r = api.create_network(a.desired->network);
        if (r || !r.error().conflict()) return r ? engine::ok_status() : engine::Status(r.error());
        // Created meanwhile (a killed acctl's request the engine finished late): same spec is fine.
        auto n = api.inspect_network(a.name);
        return n && is_same_managed(n->labels, *a.desired) ? engine::ok_status()
                                                           : engine::Status(r.error());
      }
      if (a.object == ObjectType::kVolume) {
        auto r = api.create_volume(a.desired->volume);
        return r ? engine::ok_status() : engine::Status(r.error());
      }
      {
        if (!a.desired->workspace_dir.empty()) {
          if (auto w = make_workspace(a.desired->workspace_dir); !w) return w;
        }
        auto id = api.create_container(a.desired->container);
        if (!id && id.error().conflict()) {
          // The name was taken after we looked: by a request of a killed acctl that the engine
          // completed late, or by someone else. Adopt our own identical container, replace our
          // own stale one, and never touch anything we do not manage.
          auto existing = api.inspect_container(a.name);
          if (existing && is_same_managed(existing->config.labels, *a.desired)) {
            if (auto j = join_extra_networks(api, existing->id, a.desired->container); !j) return j;
            auto start = api.start_container(existing->id);
            return start || start.error().status == 304 ? engine::ok_status() : start;
          }
          if (existing && existing->config.labels.count(kLabelManagedBy) &&
              existing->config.labels.at(kLabelManagedBy) == kManagedByValue) {
            if (auto rm = api.remove_container(existing->id, true, false); !rm && !rm.not_found())
              return rm;
            id = api.create_container(a.desired->container);
          }
        }
        if (!id) return id.error();
        if (auto j = join_extra_networks(api, *id, a.desired->container); !j) return j;
        auto start = api.start_container(*id);
        return start || start.error().status == 304 ? engine::ok_status() : start;
      }
    case ActionType::kUpdate: {
      engine::ResourceUpdate u;
      u.nano_cpus = a.desired->live.nano_cpus;
      u.memory = a.desired->live.memory;
      // Swap follows memory (no swap beyond the limit); the engine wants both when memory changes.
      u.memory_swap = a.desired->live.memory > 0 ? a.desired->live.memory : -1;
      u.pids_limit = a.desired->live.pids > 0 ? a.desired->live.pids : -1;
      auto live = api.update_resources(a.observed_id, u);
      if (live || a.desired->container.host_config.runtime != "runsc") return live;
      // runsc (Debian's 20221219; gVisor issue 9554) has no "update" command, so the engine
      // cannot change a running sandbox's limits and rolls the change back. A stopped container
      // takes the update: stop, update, start keeps the container (same id) and its workspace.
      auto info = api.inspect_container(a.observed_id);
      if (!info || !info->state.running) return live;
      if (auto stop = api.stop_container(a.observed_id, options.stop_timeout_seconds); !stop)
        return stop;
      if (auto again = api.update_resources(a.observed_id, u); !again) return again;
      return api.start_container(a.observed_id);
    }
    case ActionType::kStart: {
      if (a.desired) {
        if (auto j = join_extra_networks(api, a.observed_id, a.desired->container); !j) return j;
      }
      auto r = api.start_container(a.observed_id);
      return r || r.error().status == 304 ? engine::ok_status() : r;  // 304: already running
    }
  }
  return engine::Error{0, "unknown action"};
}

}  // namespace

const char* to_string(StepState s) {
  switch (s) {
    case StepState::kStarted:
      return "started";
    case StepState::kDone:
      return "done";
    case StepState::kFailed:
      return "failed";
    case StepState::kSkipped:
      return "skipped";
  }
  return "?";
}

ExecuteResult execute_plan(engine::EngineApi& api, const Plan& plan,
                           const ExecuteOptions& options) {
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
        report({j, StepState::kSkipped, {}, "waits on a step that failed"});
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
      report({*i, StepState::kStarted, {}, ""});
      auto start = Clock::now();
      engine::Status status = run_action(api, a, options);
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      lock.lock();
      ++finished;
      if (status) {
        state[*i] = S::kDone;
        ++result.done;
        report({*i, StepState::kDone, elapsed, ""});
      } else {
        state[*i] = S::kFailed;
        ++result.failed;
        result.errors.push_back(std::string(to_string(a.type)) + " " + to_string(a.object) + " " +
                                a.name + ": " + status.error().message);
        report({*i, StepState::kFailed, elapsed, status.error().message});
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

}  // namespace acctl
