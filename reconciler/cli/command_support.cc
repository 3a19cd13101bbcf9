// Option parsing, paths, engine connections and manifest loading for every command.
#include "cli/command_support.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include "converge/executor.h"
#include "converge/observe.h"
#include "engine/curl_engine.h"

namespace acctl::cli {

namespace fs = std::filesystem;

std::string parse_flags(const std::vector<std::string>& args, size_t from, Flags& f,
                        const std::vector<std::string>& allowed) {
  static const std::map<std::string, std::string> kShort = {
      {"-f", "--filename"}, {"-o", "--output"}, {"-q", "--quiet"}};
  // -f is --filename everywhere but logs, where it is --follow (as in docker logs -f).
  const bool f_follows = std::find(allowed.begin(), allowed.end(), "--follow") != allowed.end();
  static const std::set<std::string> kBoolean = {"--quiet", "--prune", "--dry-run", "--wait",
                                                 "--follow"};
  for (size_t i = from; i < args.size(); ++i) {
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (a.starts_with("--") && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    }
    if (a == "-" || !a.starts_with("-")) {
      f.positional.push_back(args[i]);
      continue;
    }
    std::string name = kShort.count(a) ? kShort.at(a) : a;
    if (a == "-f" && f_follows) name = "--follow";
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      return "unknown option " + a;
    if (kBoolean.count(name)) {
      if (inline_value) return "option " + a + " takes no value";
      if (name == "--quiet") f.quiet = true;
      if (name == "--prune") f.prune = true;
      if (name == "--dry-run") f.dry_run = true;
      if (name == "--wait") f.wait = true;
      if (name == "--follow") f.follow = true;
      continue;
    }
    std::string v;
    if (inline_value) {
      v = *inline_value;
    } else if (i + 1 < args.size()) {
      v = args[++i];
    } else {
      return "option " + a + " needs a value";
    }
    if (name == "--filename") f.files.push_back(v);
    if (name == "--output") f.output = v;
    if (name == "--blueprints") f.blueprints = v;
    if (name == "--engine") f.engine = v;
    if (name == "--timeout") f.timeout = v;
    if (name == "--parallel") {
      int n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 64) {
        return "--parallel must be a number from 1 to 64, not " + v;
      }
      f.parallel = n;
    }
  }
  return "";
}

bool parse_command_flags(const char* cmd, const std::vector<std::string>& args,
                         const std::vector<std::string>& allowed,
                         const std::vector<std::string>& outputs, Flags& f, CliEnv& env) {
  if (auto e = parse_flags(args, 1, f, allowed); !e.empty()) {
    env.err << "acctl " << cmd << ": " << e << "\nRun 'acctl " << cmd << " --help' for usage.\n";
    return false;
  }
  if (outputs.empty()) return true;
  if (f.output.empty()) f.output = outputs.front();
  if (std::find(outputs.begin(), outputs.end(), f.output) == outputs.end()) {
    std::string list;
    for (size_t i = 0; i < outputs.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == outputs.size() ? " or " : ", ") + outputs[i];
    }
    env.err << "acctl " << cmd << ": --output must be " << list << ", not " << f.output << "\n";
    return false;
  }
  return true;
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return std::nullopt;
  long long n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> timeout_flag(const Flags& f, CliEnv& env, const char* cmd,
                                                      std::chrono::milliseconds fallback) {
  if (f.timeout.empty()) return fallback;
  auto t = parse_duration(f.timeout);
  if (!t || t->count() == 0)
    env.err << "acctl " << cmd << ": --timeout takes a duration like 90s or 5m, not " << f.timeout
            << "\n";
  return t && t->count() > 0 ? t : std::nullopt;
}

bool set_deadline(Flags& f, CliEnv& env, const char* cmd, std::chrono::milliseconds fallback) {
  auto t = timeout_flag(f, env, cmd, fallback);
  if (!t) return false;
  f.deadline = system_of(env).now() + *t;
  return true;
}

const System& system_of(const CliEnv& env) {
  return env.system ? *env.system : real_system();
}

namespace {

// build/bin/acctl inside a checkout → the checkout, when it has blueprints/.
std::optional<fs::path> checkout_of(const CliEnv& env) {
  if (env.self_path.empty()) return std::nullopt;
  fs::path project = fs::path(env.self_path).parent_path().parent_path().parent_path();
  std::error_code ec;
  if (fs::is_directory(project / "blueprints", ec)) return project;
  return std::nullopt;
}

}  // namespace

std::string default_blueprints_dir(const CliEnv& env) {
  if (auto e = system_of(env).env("ACCTL_BLUEPRINTS")) return *e;
  if (auto c = checkout_of(env)) return (*c / "blueprints").string();
  return "/usr/share/acctl/blueprints";
}

std::string state_dir(const CliEnv& env) {
  if (auto h = system_of(env).env("ACCTL_HOME")) return fs::absolute(*h).string();
  if (auto c = checkout_of(env)) return c->string();
  return fs::current_path().string();
}

std::string project_root(const CliEnv& env) {
  return fs::absolute(default_blueprints_dir(env)).lexically_normal().parent_path().string();
}

engine::EngineOptions engine_options(const CliEnv& env, const std::string& address) {
  return engine_options_for(address, system_of(env));
}

engine::EngineOptions engine_options(const CliEnv& env, const std::string& address,
                                     const Flags& f) {
  engine::EngineOptions o = engine_options(env, address);
  o.deadline = f.deadline;
  return o;
}

Result<std::shared_ptr<engine::EngineApi>> connect(CliEnv& env,
                                                   const engine::EngineOptions& options) {
  if (env.connect_engine) return env.connect_engine(options);
  auto c = engine::CurlEngine::connect(options);
  if (!c) return c.error();
  return std::shared_ptr<engine::EngineApi>(std::move(*c));
}

std::shared_ptr<engine::EngineApi> open_engine(const Flags& f, CliEnv& env, const char* cmd) {
  auto api = connect(env, engine_options(env, f.engine, f));
  if (!api) {
    env.err << "acctl " << cmd << ": " << api.error().message << "\n";
    return nullptr;
  }
  return *api;
}

std::optional<ManifestSet> load_checked(const Flags& f, CliEnv& env, const char* cmd, int& status) {
  if (f.files.empty()) {
    env.err << "acctl " << cmd << ": no manifests given; use -f FILE, -f FOLDER or -f -\n";
    status = kExitUsage;
    return std::nullopt;
  }
  ManifestOptions options;
  options.blueprints_dir = f.blueprints.empty() ? default_blueprints_dir(env) : f.blueprints;
  options.state_dir = state_dir(env);
  options.default_engine = engine_options(env, "").host;
  ManifestSet set = load_manifests(f.files, env.in, options);
  if (!set.ok()) {
    const auto diags = set.diagnostics.sorted();
    for (const Diagnostic& d : diags) env.err << d.str() << "\n";
    env.err << count_of(diags.size(), "error", "errors") << "; nothing was applied\n";
    status = kExitInvalid;
    return std::nullopt;
  }
  return set;
}

int delete_objects(const std::vector<std::pair<std::string, std::string>>& targets,
                   const engine::EngineOptions& options, const Flags& f, CliEnv& env) {
  const System& sys = system_of(env);
  engine::EngineOptions bounded = options;
  if (f.deadline) bounded.deadline = f.deadline;
  auto api = connect(env, bounded);
  if (!api) {
    env.err << "acctl delete: " << api.error().message << "\n";
    return kExitUsage;
  }
  const auto lock_wait =
      f.deadline ? std::chrono::duration_cast<std::chrono::milliseconds>(*f.deadline - sys.now())
                 : std::chrono::milliseconds(std::chrono::minutes(2));
  auto lock = EngineLock::acquire(
      options.host, EngineLock::default_dir(sys), std::max(lock_wait, std::chrono::milliseconds(0)),
      [&](int pid) {
        env.err << "acctl delete: waiting for another acctl"
                << (pid > 0 ? " (pid " + std::to_string(pid) + ")" : "") << " working on "
                << options.host << "\n";
      },
      sys);
  if (!lock) {
    env.err << "acctl delete: " << lock.error().message << "\n";
    return kExitUsage;
  }
  auto observed = observe(**api, {}, f.parallel);
  if (!observed) {
    env.err << "acctl delete: reading " << options.host << ": " << observed.error().message << "\n";
    return kExitUsage;
  }
  // Keep what is not targeted; plan with prune to delete the rest of these hosts' objects.
  DesiredState keep;
  ObservedState scope;
  PlanOptions po;
  po.prune = true;
  for (const ObservedObject& o : observed->objects) {
    auto label = [&](const char* key) { return o.labels.count(key) ? o.labels.at(key) : ""; };
    const std::string kind = label(kLabelKind), name = label(kLabelName), host = label(kLabelHost);
    bool targeted = false;
    for (const auto& [tk, tn] : targets) {
      targeted = targeted || (tk == kind && tn == name) || (tk == "Host" && tn == host);
    }
    if (!targeted) continue;
    scope.objects.push_back(o);
    po.prune_hosts.insert(host);
  }
  Plan plan = plan_changes(keep, scope, po);
  for (Action& a : plan.actions) a.reasons.clear();  // asked for, not "missing from manifests"
  if (plan.empty()) {
    env.out << "Nothing to delete.\n";
    return kExitOk;
  }
  env.out << plan.text();
  ExecuteOptions eo;
  eo.parallel = f.parallel;
  // A host container's nested engine stops its containers first (each may take 10 s).
  eo.stop_timeout_seconds = 30;
  eo.on_event = [&](const Plan& p, const StepEvent& e) {
    if (e.state == StepState::kStarted || e.state == StepState::kProgress) return;
    const Action& a = p.actions[e.index];
    env.out << "  " << to_string(e.state) << " "
            << (a.replacing
                    ? (a.type == ActionType::kDelete ? "remove (replace)" : "create (replace)")
                    : to_string(a.type))
            << " " << to_string(a.object) << " " << a.name
            << (e.message.empty() ? "" : ": " + e.message) << std::endl;
  };
  ExecuteResult r = execute_plan(**api, plan, eo);
  env.out << "Deleted " << r.done << " of " << plan.actions.size()
          << " objects; workspaces were kept.\n";
  return r.ok() ? kExitOk : kExitUsage;
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

std::string count_of(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace acctl::cli
