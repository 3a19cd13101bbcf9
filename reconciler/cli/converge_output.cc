// run_converge: the pipeline's plans and steps as text lines or JSON events.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "images/image_build.h"

namespace acctl::cli {
namespace {

using nlohmann::json;

std::string action_verb(const Action& a) {
  if (a.replacing) return a.type == ActionType::kDelete ? "remove (replace)" : "create (replace)";
  return to_string(a.type);
}

// "create container ac-sb-a", "write file gate/config.json", "wait engine ac-dind-host-local".
std::string action_text(const Action& a) {
  std::string name = a.name;
  if (a.type == ActionType::kWrite) name = a.desired->file.label;
  if (a.type == ActionType::kWait) name = a.desired->nested.host_container;
  return action_verb(a) + " " + to_string(a.object) + " " + name;
}

json action_json(const Action& a) {
  json j = {{"action", a.replacing ? "replace" : to_string(a.type)},
            {"object", to_string(a.object)},
            {"name", a.name},
            {"owner", a.owner},
            {"host", a.host},
            {"reasons", a.reasons}};
  if (a.type == ActionType::kCopy) j["images"] = a.images;
  if (a.type == ActionType::kWrite) j["path"] = a.desired->file.path;
  return j;
}

json plan_json(const Stage& s) {
  json actions = json::array();
  for (const Action& a : s.plan.actions) {
    if (a.type == ActionType::kDelete && a.replacing) continue;
    actions.push_back(action_json(a));
  }
  json out = {{"engine", s.options.host},
              {"hosts", s.hosts},
              {"actions", actions},
              {"inSync", s.plan.in_sync},
              {"errors", s.plan.errors}};
  if (s.nested_of) out["nestedOf"] = "Host/" + s.nested_of->meta.name;
  if (s.unreachable) out["nestedEngineRunning"] = false;
  return out;
}

// Prints what the pipeline does: plans as text, a line per finished step (and per started one
// on a terminal, and the build's "Step n/m" lines), or one JSON object per event.
class Printer final : public ConvergeListener {
 public:
  Printer(CliEnv& env, const char* cmd, bool json_out, bool print_plans)
      : env_(env), cmd_(cmd), json_(json_out), print_plans_(print_plans) {}

  void waiting_for_lock(const Stage& s, int pid) override {
    env_.err << "acctl " << cmd_ << ": waiting for another acctl"
             << (pid > 0 ? " (pid " + std::to_string(pid) + ")" : "") << " working on "
             << s.options.host << "\n";
  }

  void planned(const Stage& s, size_t stages) override {
    if (json_ || !print_plans_) return;
    if (s.nested_of) {
      env_.out << "nested engine of Host/" << s.nested_of->meta.name
               << (s.unreachable ? " (not running yet: everything in it is to create)" : "")
               << ":\n";
    } else if (stages > 1) {
      env_.out << "engine " << s.options.host << ":\n";
    }
    env_.out << s.plan.text();
  }

  void step(const Stage& s, const StepEvent& e) override {
    const Action& a = s.plan.actions[e.index];
    if (json_) {
      if (e.state == StepState::kProgress) return;
      json j = {{"event", "step"},
                {"state", to_string(e.state)},
                {"action", a.replacing ? "replace" : to_string(a.type)},
                {"object", to_string(a.object)},
                {"name", a.name},
                {"owner", a.owner},
                {"elapsedMs", e.elapsed.count()}};
      if (a.replacing) j["phase"] = a.type == ActionType::kDelete ? "remove" : "create";
      if (!e.message.empty()) j["error"] = e.message;
      if (!e.detail.empty()) j["detail"] = e.detail;
      env_.out << j.dump() << std::endl;
      return;
    }
    if (e.state == StepState::kProgress) {
      // Of a build's output, the engine's "Step n/m" lines; all of an import's.
      if (a.type == ActionType::kBuild && !e.message.starts_with("Step ")) return;
      std::string text = e.message;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.size() > 110) text = text.substr(0, 107) + "...";
      if (!text.empty()) env_.out << "    " << text << std::endl;
      return;
    }
    if (e.state == StepState::kStarted) {
      if (env_.terminal || a.type == ActionType::kBuild || a.type == ActionType::kImport ||
          a.type == ActionType::kCopy || a.type == ActionType::kWait)
        env_.out << "  ...     " << action_text(a) << std::endl;
      return;
    }
    const char* tag = e.state == StepState::kDone     ? "done   "
                      : e.state == StepState::kFailed ? "FAILED "
                                                      : "skipped";
    env_.out << "  " << tag << " " << action_text(a);
    if (e.state != StepState::kSkipped) env_.out << " (" << seconds_text(e.elapsed) << ")";
    if (!e.message.empty()) env_.out << ": " << e.message;
    if (!e.detail.empty()) env_.out << ": " << e.detail;
    env_.out << std::endl;
  }

  void stage_done(const Stage& s, std::chrono::milliseconds took) override {
    if (!json_ && s.nested_of) env_.out << "  (" << seconds_text(took) << ")\n";
  }

 private:
  CliEnv& env_;
  const char* cmd_;
  bool json_;
  bool print_plans_;
};

}  // namespace

int run_converge(const Model& model, ConvergeMode mode, const Flags& f, CliEnv& env,
                 const char* cmd, std::chrono::milliseconds timeout) {
  ConvergeOptions co;
  co.mode = mode;
  co.timeout = timeout;
  return run_converge(model, co, f, env, cmd);
}

int run_converge(const Model& model, ConvergeOptions co, const Flags& f, CliEnv& env,
                 const char* cmd) {
  const ConvergeMode mode = co.mode;
  const bool json_out = f.output == "json";
  const System& sys = system_of(env);
  ConvergeEnv ce;
  ce.system = &sys;
  ce.state_dir = state_dir(env);
  ce.project_root = project_root(env);
  ce.lock_dir = EngineLock::default_dir(sys);
  ce.connect = [&env](const engine::EngineOptions& o) { return connect(env, o); };
  ce.bootstrap = rootfs_script(ce.project_root);
  co.prune = co.prune || f.prune;
  co.wait = co.wait || f.wait;
  co.parallel = f.parallel;
  // diff prints every plan (text or one JSON document); apply prints each plan as it gets to it
  // (text only: with -o json, events and a summary).
  Printer printer(env, cmd, json_out, true);
  auto result = converge(model, co, ce, printer);
  if (!result) {
    env.err << "acctl " << cmd << ": " << result.error().message << "\n";
    return kExitUsage;
  }
  const bool applying = mode == ConvergeMode::kApply;
  if (!applying) {
    bool errors = false;
    json plans = json::array();
    for (const Stage& s : result->stages) {
      errors = errors || !s.plan.errors.empty();
      plans.push_back(plan_json(s));
    }
    if (json_out && mode == ConvergeMode::kDiff) {
      env.out << json({{"inSync", !result->changes && !errors}, {"engines", plans}}).dump(2)
              << "\n";
    } else if (json_out) {
      env.out << json({{"event", "summary"},
                       {"ok", !errors},
                       {"dryRun", true},
                       {"done", 0},
                       {"failed", 0},
                       {"skipped", 0},
                       {"elapsedMs", result->elapsed.count()},
                       {"plans", plans}})
                     .dump()
              << "\n";
    }
    if (errors) return kExitUsage;
    if (mode == ConvergeMode::kDryRun) return kExitOk;
    return result->changes ? kExitInvalid : kExitOk;
  }
  // Plan errors stop apply before anything changes; failed steps are reported as they happen.
  for (const Stage& s : result->stages) {
    for (const std::string& e : s.plan.errors) env.err << "acctl " << cmd << ": " << e << "\n";
  }
  bool plan_errors = false;
  for (const Stage& s : result->stages) plan_errors = plan_errors || !s.plan.errors.empty();
  const bool ok = result->ok();
  if (json_out) {
    json plans = json::array();
    for (const Stage& s : result->stages) plans.push_back(plan_json(s));
    env.out << json({{"event", "summary"},
                     {"ok", ok},
                     {"dryRun", false},
                     {"done", result->done},
                     {"failed", result->failed},
                     {"skipped", result->skipped},
                     {"elapsedMs", result->elapsed.count()},
                     {"plans", plans}})
                   .dump()
            << "\n";
  } else if (!plan_errors) {
    // What failed, again on standard error, where scripts look (and a --wait that ran out).
    for (const std::string& e : result->errors) env.err << "acctl " << cmd << ": " << e << "\n";
    env.out << (ok ? "Applied" : "Apply FAILED") << ": " << result->done << " done, "
            << result->failed << " failed, " << result->skipped << " skipped in "
            << seconds_text(result->elapsed) << ".\n";
  }
  return ok ? kExitOk : kExitUsage;
}

}  // namespace acctl::cli
