// The converge pipeline: stages by engine, each observed, planned and (apply) executed in turn.
#include "converge/pipeline.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/files.h"
#include "converge/credentials.h"
#include "converge/desired.h"
#include "converge/observe.h"
#include "converge/sandbox_host.h"
#include "converge/steps.h"
#include "engine/deadline.h"

namespace acctl {
namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::chrono::milliseconds since(const System& system, std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(system.now() - t);
}

// The desired state split by engine: the Hosts' engines first, then the nested engines of dind
// Hosts. An object two Hosts of one engine both want (a shared image) is kept once.
std::vector<Stage> split_by_engine(const Model& model, DesiredState desired, const System& sys) {
  std::vector<Stage> stages;
  auto stage_for = [&](const engine::EngineOptions& o, const Host* nested_of) -> Stage& {
    auto it = std::find_if(stages.begin(), stages.end(),
                           [&](const Stage& s) { return s.options.host == o.host; });
    if (it != stages.end()) return *it;
    Stage s;
    s.options = o;
    s.nested_of = nested_of;
    stages.push_back(std::move(s));
    return stages.back();
  };
  for (const Host& h : model.hosts) {
    stage_for(engine_options_for(h.spec.engine, sys), nullptr).hosts.push_back(h.meta.name);
  }
  std::map<std::string, std::set<std::pair<ObjectType, std::string>>> seen;
  for (DesiredObject& d : desired.objects) {
    const Host* h = model.find_host(d.host);
    engine::EngineOptions o = engine_options_for(h ? h->spec.engine : "", sys);
    const Host* nested_of = nullptr;
    if (!d.engine.empty()) {  // a nested engine: the outer one's timeouts, its own socket
      o.host = d.engine;
      o.tls = false;
      nested_of = h;
    }
    Stage& s = stage_for(o, nested_of);
    if (nested_of && std::find(s.hosts.begin(), s.hosts.end(), d.host) == s.hosts.end())
      s.hosts.push_back(d.host);
    if (!seen[o.host].insert({d.type, d.name}).second) continue;
    s.desired.objects.push_back(std::move(d));
  }
  for (auto& [host, gate] : desired.gates) {
    for (Stage& s : stages) {
      if (s.nested_of && s.nested_of->meta.name == host) s.desired.gates[host] = gate;
    }
  }
  // Nested stages after every outer one, in Host order.
  std::stable_partition(stages.begin(), stages.end(), [](const Stage& s) { return !s.nested_of; });
  for (Stage& s : stages) s.desired.hosts = s.hosts;
  return stages;
}

// Whether a nested engine answers and its host container's entrypoint reported ready.
bool engine_ready(const DesiredEngine& nested, const ConvergeEnv& env,
                  const engine::EngineOptions& outer) {
  auto report = read_host_report(host_paths(env.state_dir, nested.host));
  if (!report || !report->ready) return false;
  engine::EngineOptions o = outer;
  o.host = nested.endpoint;
  o.tls = false;
  return env.connect(o).ok();
}

// What the engine has, plus what lies beside it: the files acctl writes, whether nested
// engines answer, the ids of images on the engines they are copied from.
Result<ObservedState> observe_stage(Stage& s, const ConvergeEnv& env, const ConvergeOptions& opt,
                                    const std::vector<Stage>& stages) {
  ObservedState observed;
  if (s.api) {
    auto o = observe(*s.api, s.desired, opt.parallel);
    if (!o) return o.error().within("reading " + s.options.host);
    observed = std::move(*o);
  }
  for (const DesiredObject& d : s.desired.objects) {
    if (d.type == ObjectType::kFile) {
      auto f = read_file_if_exists(d.file.path);
      if (!f) return f.error();
      observed.files[d.file.path] = std::move(*f);
    } else if (d.type == ObjectType::kEngine) {
      observed.engines_ready[d.nested.endpoint] = engine_ready(d.nested, env, s.options);
    } else if (d.type == ObjectType::kImage && d.image.source == ImageSource::kCopy) {
      for (const Stage& outer : stages) {
        if (outer.nested_of || !outer.api ||
            std::find(outer.hosts.begin(), outer.hosts.end(), d.host) == outer.hosts.end())
          continue;
        auto img = outer.api->inspect_image(d.name);
        if (!img && !img.not_found()) return img.error();
        observed.source_image_ids[d.name] = img ? img->id : "";
      }
    }
  }
  // What earlier stages will make is not there yet when nothing is executed.
  if (opt.mode != ConvergeMode::kApply) {
    for (const Stage& earlier : stages) {
      if (&earlier == &s) break;
      auto made = earlier.plan.images_made();
      observed.pending_images.insert(made.begin(), made.end());
    }
  }
  return observed;
}

// Sandboxes that ask for GPUs need an engine with the NVIDIA runtime (the NVIDIA Container
// Toolkit, which gVisor's GPU proxy builds on): without it they are refused at plan time, never
// created without their GPUs.
Status check_gpus(Stage& s) {
  std::vector<std::string> asking;
  for (const Action& a : s.plan.actions) {
    if (a.type == ActionType::kCreate && a.desired && a.object == ObjectType::kContainer &&
        !a.desired->container.host_config.device_requests.empty())
      asking.push_back(a.owner);
  }
  if (asking.empty()) return ok_status();
  auto v = s.api->version();
  if (!v) return v.error();
  if (std::find(v->runtimes.begin(), v->runtimes.end(), "nvidia") != v->runtimes.end())
    return ok_status();
  std::string runtimes;
  for (const std::string& r : v->runtimes) runtimes += (runtimes.empty() ? "" : ", ") + r;
  for (const std::string& owner : asking) {
    s.plan.errors.push_back(
        owner +
        (owner.rfind("Host/", 0) == 0 ? ": a Sandbox on it asks for GPUs (resources.gpus)"
                                      : ": resources.gpus asks for GPUs") +
        ", but the engine at " + s.options.host +
        " has no NVIDIA runtime (its runtimes: " + runtimes +
        "); install the NVIDIA Container Toolkit there and register its runtime as \"nvidia\", "
        "and give runsc --nvproxy=true (gVisor's GPU proxy), or leave gpus out");
  }
  return ok_status();
}

// Connects (unless connected), takes the engine's lock, observes and plans. A nested engine
// that does not answer yet is planned from nothing.
Status plan_stage(Stage& s, const ConvergeEnv& env, const ConvergeOptions& opt,
                  std::chrono::steady_clock::time_point deadline, std::vector<Stage>& stages,
                  ConvergeListener& listener) {
  PlanOptions po;
  po.prune = opt.prune;
  po.prune_hosts.insert(s.hosts.begin(), s.hosts.end());
  po.prune_only = opt.prune_only;
  po.start_again = opt.start_again;
  po.rebuild = opt.rebuild;
  if (!s.api) {
    auto api = env.connect(s.options);
    if (!api) {
      if (!s.nested_of) return api.error();
      s.unreachable = true;
    } else {
      s.api = *api;
    }
  }
  if (s.api && !s.lock) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - env.system->now());
    auto lock = EngineLock::acquire(
        s.options.host, env.lock_dir, std::max(left, std::chrono::milliseconds(0)),
        [&](int pid) { listener.waiting_for_lock(s, pid); }, *env.system);
    if (!lock) return lock.error();
    s.lock.emplace(std::move(*lock));
  }
  auto observed = observe_stage(s, env, opt, stages);
  if (!observed) return observed.error();
  // Containers this plan prunes lose their gate entries now (clean, destroy: the token files
  // that entry names go next), not at some later converge.
  std::set<std::string> wanted, leaving;
  for (const DesiredObject& d : s.desired.objects)
    if (d.type == ObjectType::kContainer) wanted.insert(d.name);
  for (const ObservedObject& o : observed->objects)
    if (o.type == ObjectType::kContainer && prunes(o, wanted.count(o.name) > 0, po))
      leaving.insert(o.name);
  if (auto f = finish_render(s.desired, *observed, leaving); !f) return f;
  s.plan = plan_changes(s.desired, *observed, po);
  if (s.api) {
    if (auto g = check_gpus(s); !g) return g;
  }
  return ok_status();
}

// Waits until every container that should run is running (headless ones: has started).
Status wait_running(Stage& s, const ConvergeOptions& opt, const System& sys,
                    std::chrono::steady_clock::time_point deadline) {
  for (const DesiredObject& d : s.desired.objects) {
    if (d.type != ObjectType::kContainer) continue;
    while (true) {
      auto info = s.api->inspect_container(d.name);
      std::string state = info ? info->state.status : "missing";
      bool ready = d.keep_running ? state == "running" : (state != "created" && state != "missing");
      if (ready) break;
      if (sys.now() >= deadline)
        return Error{0, d.name + " is " + state + " after waiting " + seconds_text(opt.timeout)};
      sys.sleep_for(std::chrono::milliseconds(200));
    }
  }
  return ok_status();
}

// After a call got no answer in time: whether the engine answers anything at all, said so a
// person knows where to look.
std::string engine_state_note(engine::EngineApi* api) {
  if (!api) return "";
  engine::CallTimeout bound(std::chrono::seconds(3), /*beyond_deadline=*/true);
  if (api->ping()) {
    return "the engine answers other calls, so dockerd is holding that object (docker ps lists "
           "it, and the engine's log says why); acctl stopped there";
  }
  return "the engine does not answer at all now: is dockerd overloaded or stuck?";
}

Error with_engine_state(Error e, engine::EngineApi* api) {
  if (!e.timed_out) return e;
  std::string note = engine_state_note(api);
  if (!note.empty()) e.message += "; " + note;
  return e;
}

// Sandboxes run only under gVisor: an engine without runsc is refused before anything is made.
Status check_runsc(Stage& s) {
  bool creates_sandboxes =
      std::any_of(s.plan.actions.begin(), s.plan.actions.end(), [](const Action& a) {
        return a.type == ActionType::kCreate && a.desired &&
               a.desired->container.host_config.runtime == "runsc";
      });
  if (!creates_sandboxes) return ok_status();
  auto v = s.api->version();
  if (!v) return v.error();
  if (std::find(v->runtimes.begin(), v->runtimes.end(), "runsc") != v->runtimes.end())
    return ok_status();
  return Error{0, "the engine at " + s.options.host +
                      " has no \"runsc\" runtime, and sandboxes run only under gVisor. Install it "
                      "(apt-get install runsc), register it in /etc/docker/daemon.json "
                      "(\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\"}}) and restart "
                      "dockerd; images/engine-up.sh does all three."};
}

}  // namespace

engine::EngineOptions engine_options_for(const std::string& address, const System& system) {
  // options_from_env takes C strings; keep the values alive for the call.
  std::map<std::string, std::string> values;
  engine::EngineOptions o = engine::options_from_env([&](const char* name) -> const char* {
    auto v = system.env(name);
    if (!v) return nullptr;
    return values.insert_or_assign(name, *v).first->second.c_str();
  });
  if (!address.empty()) {
    o.host = address;
    o.tls = address.starts_with("https://");
  }
  return o;
}

Result<ConvergeResult> converge(const Model& model, const ConvergeOptions& opt,
                                const ConvergeEnv& env, ConvergeListener& listener) {
  const System& sys = *env.system;
  const auto started = sys.now();
  const HostPrivileges privileges = sys.privileges();
  auto credentials = read_credentials(model, sys, env.state_dir);
  if (!credentials) return credentials.error();
  RenderOptions ro{env.state_dir, env.project_root, &privileges, &*credentials};
  auto desired = render_desired(model, ro);
  if (!desired) return desired.error();
  ConvergeResult result;
  result.stages = split_by_engine(model, std::move(*desired), sys);
  std::vector<Stage>& stages = result.stages;
  // Every engine call, wait and lock ends by the command's deadline.
  const auto deadline = started + opt.timeout;
  for (Stage& s : stages) s.options.deadline = deadline;
  const bool apply = opt.mode == ConvergeMode::kApply;

  for (Stage& s : stages) {
    const auto stage_start = sys.now();
    if (auto p = plan_stage(s, env, opt, deadline, stages, listener); !p)
      return with_engine_state(p.error(), s.api.get());
    result.changes = result.changes || !s.plan.empty();
    for (const std::string& e : s.plan.errors) result.errors.push_back(e);
    listener.planned(s, stages.size());
    if (!apply) continue;
    if (!s.plan.errors.empty()) break;  // nothing is changed on a plan with errors
    if (s.plan.empty()) continue;
    // The outer stage waits for a nested engine it starts; one that still does not answer is
    // an error here, not a plan carried out against nothing.
    if (!s.api) {
      return Error{0, "the nested engine at " + s.options.host + " of Host/" +
                          (s.nested_of ? s.nested_of->meta.name : std::string("?")) +
                          " does not answer; see `acctl status` and the Host container's log"};
    }
    if (auto r = check_runsc(s); !r) return with_engine_state(r.error(), s.api.get());

    StepContext context;
    context.engine = s.api.get();
    context.host_engine = [&stages](const std::string& host) -> engine::EngineApi* {
      for (Stage& outer : stages) {
        if (!outer.nested_of && outer.api &&
            std::find(outer.hosts.begin(), outer.hosts.end(), host) != outer.hosts.end())
          return outer.api.get();
      }
      return nullptr;
    };
    const engine::EngineOptions options = s.options;
    context.connect = [&env, options](const std::string& endpoint) {
      engine::EngineOptions o = options;
      o.host = endpoint;
      o.tls = false;
      return env.connect(o);
    };
    context.bootstrap = env.bootstrap;
    context.system = &sys;
    context.state_dir = env.state_dir;
    context.wait_timeout = opt.timeout;
    context.deadline = deadline;
    ConvergeSteps steps(std::move(context));
    ExecuteOptions eo;
    eo.parallel = opt.parallel;
    eo.on_event = [&](const Plan&, const StepEvent& e) { listener.step(s, e); };
    ExecuteResult r = execute_plan(s.plan, steps, eo);
    s.executed = true;
    result.done += r.done;
    result.failed += r.failed;
    result.skipped += r.skipped;
    for (const std::string& e : r.errors) result.errors.push_back(e);
    if (r.timed_out) result.errors.push_back(engine_state_note(s.api.get()));
    if (r.ok() && opt.wait) {
      if (auto w = wait_running(s, opt, sys, deadline); !w)
        result.errors.push_back(w.error().message);
    }
    listener.stage_done(s, since(sys, stage_start));
    // A nested engine needs its host; later engines would fail the same way.
    if (!result.ok()) break;
  }
  result.elapsed = since(sys, started);
  return result;
}

}  // namespace acctl
