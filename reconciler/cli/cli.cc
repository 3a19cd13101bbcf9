// Subcommands of acctl and their --help texts.
#include "cli/cli.h"
#include "cli/cli_internal.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "converge/desired.h"
#include "engine/curl_engine.h"
#include "engine/endpoint.h"
#include "converge/engine_lock.h"
#include "converge/executor.h"
#include "images/image_build.h"
#include "manifest/manifest.h"
#include "converge/observe.h"
#include "converge/plan.h"
#include "manifest/quantity.h"
#include "converge/sandbox_host.h"
#include "manifest/schema.h"
#include "cli/version.h"

namespace acctl {
namespace cli {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kMainHelp = R"(acctl — declarative sandboxes for untrusted coding agents

Usage: acctl <command> [options]

Manifests (YAML, apiVersion acctl/v1alpha1) describe Hosts, EgressPolicies, Blueprints and
Sandboxes. acctl checks them, then converges the Docker engine to them.

Commands:
  validate -f PATH...   check manifests (schema, references, addresses, sizes); no engine needed
  diff -f PATH...       show what apply would change; exit 0 in sync, 1 changes, 2 error
  apply -f PATH...      converge the engine to the manifests
  delete -f PATH...     remove what the manifests describe (also: delete KIND NAME)
  get [KIND [NAME]]     list the objects acctl manages on an engine
  build BLUEPRINT       build a Blueprint's image (and the Debian base image) without a registry

Sandbox host (a dind Host: host container, nested engine, gate):
  start [-f PATH]       apply the Hosts and EgressPolicies (default: manifests/quickstart.yaml)
  stop                  stop the host containers; everything is kept
  down                  remove host containers, nested engines and their volumes; keep workspaces
  status                health, runsc network mode, gate, cpu/memory, disk, workspace sizes
  logs host|proxy|gvisor|agent NAME [-f]
                        the host container, the gate's audit log, gVisor debug logs, a sandbox
  schema [KIND]         print the JSON Schema of a kind, or of any document
  version               print the version
  help [COMMAND]        show help for a command

Exit status: 0 success, 1 invalid manifests (validate) or pending changes (diff),
2 usage, engine or internal error.
Run 'acctl <command> --help' for a command's options.
)";

constexpr const char* kValidateHelp =
    R"(Usage: acctl validate -f PATH [-f PATH...] [-o text|json] [--blueprints DIR]

Checks manifests without touching any engine, in two passes over every document:
  1. the kind's JSON Schema (unknown fields, types, enums, required fields);
  2. meaning: names unique per kind, references resolve (a Sandbox's blueprint, host and
     egressPolicy), CIDRs and IPs parse, gateIP lies inside the subnet, sizes (512m, 1.5g)
     and cpus are positive, gpus is "all", a count or a list of ids, domain patterns are
     lower-case names or "*." wildcards, workspace paths stay inside instances/.
Every problem of every document is reported, one per line:
  FILE:LINE:COL: KIND/NAME: message

Options:
  -f, --filename PATH   a file, a folder (searched recursively for *.yaml and *.yml) or - for
                        standard input; repeat for several
  -o, --output FORMAT   text (default) or json (an object with "valid", "errors", "summary")
  --blueprints DIR      where <name>/blueprint.yaml files live for blueprints the manifests do
                        not define (default: the project's blueprints/ folder, or
                        $ACCTL_BLUEPRINTS)
  -q, --quiet           print nothing when valid

Exit status: 0 valid, 1 invalid, 2 usage error.

Example:
  acctl validate -f manifests/
  cat sandbox.yaml | acctl validate -f - -o json
)";

constexpr const char* kSchemaHelp = R"(Usage: acctl schema [KIND]

Prints a JSON Schema (draft-07). With KIND (Host, EgressPolicy, Blueprint or Sandbox, any case)
the schema of one document of that kind; without, one schema for any document, dispatching on
"kind". Every field carries a description and its default: this is the reference.

Editor completion with yaml-language-server:
  acctl schema > .acctl.schema.json
  and start manifests with:  # yaml-language-server: $schema=./.acctl.schema.json
)";

constexpr const char* kDiffHelp =
    R"(Usage: acctl diff -f PATH... [--prune] [-o text|json] [--parallel N]

Validates the manifests, reads what acctl manages on each Host's engine (by its labels) and
prints the plan that apply would carry out, one line per change:
  +   create   something missing
  ~   update   a limit the engine changes live (cpus, memory, pids), same container
  -/+ replace  something whose spec changed (the changed fields are named)
  >   start    a container that should run but was found stopped
  -   delete   with --prune: a managed object no manifest describes
Nothing is changed. Only objects labelled ac.managed-by=acctl are ever considered.

Exit status: 0 in sync, 1 changes pending, 2 error (invalid manifests, engine unreachable,
a name held by an object acctl does not manage, a missing image).
)";

constexpr const char* kApplyHelp =
    R"(Usage: acctl apply -f PATH... [--prune] [--dry-run] [--wait [--timeout D]] [--parallel N] [-o text|json]

Converges each Host's engine to the manifests: creates what is missing, updates limits in
place, replaces what changed, starts what should run. Steps run in dependency order,
independent ones in parallel. A lock serialises acctl runs against the same engine, and an
apply interrupted at any point is finished by the next one.

Options:
  --prune         also delete managed objects of these Hosts that no manifest describes
                  (workspace folders are never deleted)
  --dry-run       print the plan and stop (same as diff, exit 0)
  --wait          after applying, wait until every container that should run is running
  --timeout D     how long --wait and the engine lock may take (e.g. 90s, 5m; default 2m)
  --parallel N    steps run at once (default 4)
  -o json         one JSON object per step, then a summary (for CI)

Sandbox workspaces live in $ACCTL_HOME/instances/<name>/workspace (default: the checkout).
Exit status: 0 converged, 1 invalid manifests, 2 a step failed or another error.
)";

constexpr const char* kDeleteHelp = R"(Usage: acctl delete -f PATH... [-o text|json]
       acctl delete KIND NAME [--engine ADDRESS]

Removes the engine objects that the manifests (or the named object) describe: a Sandbox's
container; a Host's network and every managed object of that Host. Workspace folders stay:
only 'destroy' deletes a workspace.

Exit status: 0 done (also when there was nothing to delete), 2 error.
)";

constexpr const char* kGetHelp =
    R"(Usage: acctl get [KIND [NAME]] [-o table|json|yaml] [--engine ADDRESS]

Lists the objects acctl manages on an engine (by their ac.* labels): KIND is Sandbox or Host
(any case, plural allowed). The engine is --engine, else $DOCKER_HOST, else the local socket.
)";

constexpr const char* kBuildHelp =
    R"(Usage: acctl build BLUEPRINT [--base] [--no-cache] [-o text|json]
                   [--blueprints DIR] [--engine ADDRESS]

Builds the image of a project Blueprint (DIR/BLUEPRINT/blueprint.yaml) on the engine without a
registry. The base image acctl/debian:bookworm is made first when the engine lacks it: Debian is
bootstrapped once into /var/cache/acctl/rootfs (about a minute; needs root and debootstrap) and
imported. Then acctl/blueprint-BLUEPRINT:latest is built from it: the Blueprint's install script
runs as root with network access, the user agent (uid 1000) runs its run script. An image whose
build context and base are unchanged is not built again.

Options:
  --base              make the base image afresh too (bootstrap Debian again, re-import)
  --no-cache          build even when the image is current, without the engine's layer cache
  -o, --output FMT    text (default: the build's steps) or json (progress lines, then a result)
  --blueprints DIR    the project's blueprints (default: the checkout's blueprints/)
  --engine ADDRESS    the engine (default: $DOCKER_HOST, else unix:///var/run/docker.sock)

Exit status: 0 built or already current, 2 error (unknown Blueprint, engine unreachable,
failed bootstrap or build step; the message carries what the step printed).
)";

constexpr const char* kVersionHelp = "Usage: acctl version\n\nPrints acctl's version.\n";


// Parses the options a subcommand accepts (long names in `allowed`); returns an error or "".
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

// Parses a subcommand's options and checks -o against `outputs` (the first is the default).
// Prints the problem and returns false on a usage error.
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

// "90s", "5m", "1h", "1500ms" or plain seconds.
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

bool wants_help(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") return true;
  }
  return false;
}

std::string default_blueprints_dir(const CliEnv& env) {
  if (const char* e = std::getenv("ACCTL_BLUEPRINTS"); e && *e) return e;
  if (!env.self_path.empty()) {
    // build/bin/acctl inside a checkout → <checkout>/blueprints
    fs::path project = fs::path(env.self_path).parent_path().parent_path().parent_path();
    std::error_code ec;
    if (fs::is_directory(project / "blueprints", ec)) return (project / "blueprints").string();
  }
  return "/usr/share/acctl/blueprints";
}

std::string count_of(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

int cmd_validate(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("validate", args, {"--filename", "--output", "--blueprints", "--quiet"},
                           {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  if (!f.positional.empty()) {
    env.err << "acctl validate: unexpected argument " << f.positional[0] << " (use -f PATH)\n";
    return kExitUsage;
  }
  if (f.files.empty()) {
    env.err << "acctl validate: no manifests given; use -f FILE, -f FOLDER or -f -\n";
    return kExitUsage;
  }
  ManifestOptions options;
  options.blueprints_dir = f.blueprints.empty() ? default_blueprints_dir(env) : f.blueprints;
  ManifestSet set = load_manifests(f.files, env.in, options);
  const Model& m = set.model;
  std::string summary = count_of(set.documents, "document", "documents") + " in " +
                        count_of(set.files.size(), "file", "files") + ": " +
                        count_of(m.hosts.size(), "Host", "Hosts") + ", " +
                        count_of(m.policies.size(), "EgressPolicy", "EgressPolicies") + ", " +
                        count_of(m.blueprints.size(), "Blueprint", "Blueprints") + ", " +
                        count_of(m.sandboxes.size(), "Sandbox", "Sandboxes");
  if (!set.project_blueprints.empty()) {
    summary += " (from " + options.blueprints_dir + ":";
    for (const std::string& b : set.project_blueprints) summary += " " + b;
    summary += ")";
  }
  const auto diags = set.diagnostics.sorted();
  if (f.output == "json") {
    json out = {{"valid", diags.empty()}, {"errors", json::array()}};
    for (const Diagnostic& d : diags) {
      out["errors"].push_back({{"file", d.file},
                               {"line", d.pos.line},
                               {"column", d.pos.col},
                               {"object", d.subject},
                               {"message", d.message}});
    }
    if (diags.empty()) out["summary"] = summary;
    env.out << out.dump(2) << "\n";
    return diags.empty() ? kExitOk : kExitInvalid;
  }
  if (!diags.empty()) {
    for (const Diagnostic& d : diags) env.err << d.str() << "\n";
    env.err << count_of(diags.size(), "error", "errors") << "; nothing was applied\n";
    return kExitInvalid;
  }
  if (!f.quiet) env.out << "valid: " << summary << "\n";
  return kExitOk;
}

// The folder holding instances/<name>/workspace: $ACCTL_HOME, else the checkout acctl was
// built in, else the current folder.
std::string state_dir(const CliEnv& env) {
  if (const char* h = std::getenv("ACCTL_HOME"); h && *h) return fs::absolute(h).string();
  if (!env.self_path.empty()) {
    fs::path project = fs::path(env.self_path).parent_path().parent_path().parent_path();
    std::error_code ec;
    if (fs::is_directory(project / "blueprints", ec)) return project.string();
  }
  return fs::current_path().string();
}

engine::Result<std::shared_ptr<engine::EngineApi>> connect(CliEnv& env,
                                                           const engine::EngineOptions& options) {
  if (env.connect_engine) return env.connect_engine(options);
  auto c = engine::CurlEngine::connect(options);
  if (!c) return c.error();
  return std::shared_ptr<engine::EngineApi>(std::move(*c));
}

// The engine a Host lives on: its spec.engine, else $DOCKER_HOST and friends, else the socket.
engine::EngineOptions engine_options_for(const std::string& address) {
  engine::EngineOptions o = engine::options_from_env();
  if (!address.empty()) {
    o.host = address;
    o.tls = address.starts_with("https://");
  }
  return o;
}

// Everything acctl does against one engine for one command.
struct EngineWork {
  engine::EngineOptions options;
  std::vector<std::string> hosts;  // Hosts of the manifests on this engine
  DesiredState desired;            // the part of the desired state on this engine
  std::shared_ptr<engine::EngineApi> api;
  std::optional<EngineLock> lock;
  Plan plan;
  const Host* nested_of = nullptr;  // set: this is the nested engine of that dind Host
  bool unreachable = false;         // a nested engine not running yet: planned as empty
  bool policy_reload = false;       // the gate's policy file differs from the manifests
};

// Loads and validates manifests, prints errors. Returns nullopt (status in `status`) on failure.
std::optional<ManifestSet> load_checked(const Flags& f, CliEnv& env, const char* cmd, int& status) {
  if (f.files.empty()) {
    env.err << "acctl " << cmd << ": no manifests given; use -f FILE, -f FOLDER or -f -\n";
    status = kExitUsage;
    return std::nullopt;
  }
  ManifestOptions options;
  options.blueprints_dir = f.blueprints.empty() ? default_blueprints_dir(env) : f.blueprints;
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

// Renders the desired state and splits it by engine: the Hosts' engines first, then the nested
// engines of dind Hosts (they exist only once the first part is applied).
std::optional<std::vector<EngineWork>> split_by_engine(const ManifestSet& set, CliEnv& env,
                                                       const char* cmd) {
  const HostPrivileges privileges = detect_privileges();
  const std::string state = state_dir(env);
  DesiredState desired = render_desired(set.model, {state, &privileges});
  std::vector<EngineWork> work;
  auto work_for = [&](const engine::EngineOptions& o, const Host* nested_of) -> EngineWork& {
    auto it = std::find_if(work.begin(), work.end(),
                           [&](const EngineWork& w) { return w.options.host == o.host; });
    if (it != work.end()) return *it;
    work.push_back({o, {}, {}, nullptr, std::nullopt, {}, nested_of, false, false});
    return work.back();
  };
  bool ok = true;
  for (const Host& h : set.model.hosts) {
    engine::EngineOptions o = engine_options_for(h.spec.engine);
    work_for(o, nullptr).hosts.push_back(h.meta.name);
    if (h.spec.isolation != Isolation::kDind) continue;
    if (!o.host.starts_with("unix://")) {
      env.err << "acctl " << cmd << ": Host/" << h.meta.name
              << " is dind on " << o.host
              << ", but acctl reaches a nested engine through a socket folder it bind-mounts "
                 "into the host container, which needs the engine on this machine (a unix:// "
                 "address)\n";
      ok = false;
    }
    const HostPaths paths = host_paths(state, h.meta.name);
    if (paths.socket().size() > 100) {
      env.err << "acctl " << cmd << ": the nested engine's socket " << paths.socket()
              << " is longer than a unix socket path may be; set ACCTL_HOME to a shorter folder\n";
      ok = false;
    }
    if (auto gp = gate_policy_for(set.model, h); std::holds_alternative<std::string>(gp)) {
      env.err << "acctl " << cmd << ": " << std::get<std::string>(gp) << "\n";
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  for (const Host& h : set.model.hosts) {
    if (h.spec.isolation != Isolation::kDind) continue;
    engine::EngineOptions nested;
    nested.host = host_paths(state, h.meta.name).endpoint();
    work_for(nested, &h).hosts.push_back(h.meta.name);
  }
  for (const DesiredObject& d : desired.objects) {
    std::string address = d.engine;
    if (address.empty()) address = engine_options_for(set.model.find_host(d.host)->spec.engine).host;
    for (EngineWork& w : work) {
      if (w.options.host == address) w.desired.objects.push_back(d);
    }
  }
  for (EngineWork& w : work) w.desired.hosts = w.hosts;
  return work;
}

// Connects to the engine of `w` (unless connected), takes its lock when a timeout is given, and
// reads what acctl manages there. Prints the error and returns nullopt.
std::optional<ObservedState> open_and_observe(
    EngineWork& w, const Flags& f, CliEnv& env, const char* cmd,
    std::optional<std::chrono::milliseconds> lock_timeout) {
  if (!w.api) {
    auto api = connect(env, w.options);
    if (!api) {
      env.err << "acctl " << cmd << ": " << api.error().message << "\n";
      return std::nullopt;
    }
    w.api = *api;
  }
  if (lock_timeout) {
    std::string error;
    w.lock = EngineLock::acquire(
        w.options.host, *lock_timeout,
        [&](int pid) {
          env.err << "acctl " << cmd << ": waiting for another acctl"
                  << (pid > 0 ? " (pid " + std::to_string(pid) + ")" : "") << " working on "
                  << w.options.host << "\n";
        },
        error);
    if (!w.lock) {
      env.err << "acctl " << cmd << ": " << error << "\n";
      return std::nullopt;
    }
  }
  auto observed = observe(*w.api, w.desired, f.parallel);
  if (!observed) {
    env.err << "acctl " << cmd << ": reading " << w.options.host << ": "
            << observed.error().message << "\n";
    return std::nullopt;
  }
  return std::move(*observed);
}

// Connects, takes the engine's lock, observes and plans. Prints the error and returns false.
// A nested engine that is not running yet (diff, dry-run) is planned from nothing.
bool connect_and_plan(EngineWork& w, const Flags& f, CliEnv& env, const char* cmd,
                      std::chrono::milliseconds lock_timeout) {
  PlanOptions po;
  po.prune = f.prune;
  po.prune_hosts.insert(w.hosts.begin(), w.hosts.end());
  if (!w.api && w.nested_of) {
    auto api = connect(env, w.options);
    if (!api) {
      w.unreachable = true;
      w.plan = plan_changes(w.desired, {}, po);
      return true;
    }
    w.api = *api;
  }
  auto observed = open_and_observe(w, f, env, cmd, lock_timeout);
  if (!observed) return false;
  // Images acctl makes itself (host, gate, Blueprints) are built, or brought over to a nested
  // engine, by apply before it executes the plan: missing now is not an error.
  std::erase_if(observed->image_ids, [](const auto& kv) {
    const std::string& tag = kv.first;
    return kv.second.empty() && (tag == kHostImage || tag == kGateImage ||
                                 tag.starts_with("acctl/blueprint-"));
  });
  w.plan = plan_changes(w.desired, *observed, po);
  return true;
}

json plan_json(const EngineWork& w) {
  json actions = json::array();
  for (const Action& a : w.plan.actions) {
    if (a.type == ActionType::kDelete && a.replacing) continue;
    actions.push_back({{"action", a.replacing ? "replace" : to_string(a.type)},
                       {"object", to_string(a.object)},
                       {"name", a.name},
                       {"owner", a.owner},
                       {"host", a.host},
                       {"reasons", a.reasons}});
  }
  if (w.policy_reload) {
    actions.push_back({{"action", "reload"},
                       {"object", "gate"},
                       {"name", gate_container_name(w.nested_of->meta.name)},
                       {"owner", "Host/" + w.nested_of->meta.name},
                       {"host", w.nested_of->meta.name},
                       {"reasons", {"policy changed"}}});
  }
  json out = {{"engine", w.options.host},
              {"hosts", w.hosts},
              {"actions", actions},
              {"inSync", w.plan.in_sync},
              {"errors", w.plan.errors}};
  if (w.nested_of) out["nestedOf"] = "Host/" + w.nested_of->meta.name;
  if (w.unreachable) out["nestedEngineRunning"] = false;
  return out;
}

void print_plan(const EngineWork& w, size_t engines, CliEnv& env) {
  if (w.nested_of) {
    env.out << "nested engine of Host/" << w.nested_of->meta.name
            << (w.unreachable ? " (not running yet: everything in it is to create)" : "")
            << ":\n";
  } else if (engines > 1) {
    env.out << "engine " << w.options.host << ":\n";
  }
  if (w.policy_reload) {
    env.out << "~   reload  gate      " << gate_container_name(w.nested_of->meta.name) << " (Host/"
            << w.nested_of->meta.name << "): policy changed\n";
  }
  env.out << w.plan.text();
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

// The project's root (blueprints/, images/, runtime/ sources for the gate image).
std::string project_root(const CliEnv& env) {
  return fs::absolute(default_blueprints_dir(env)).lexically_normal().parent_path().string();
}

// Prints what a long step does: lines in text mode, {"event": "phase"} objects with -o json.
struct Progress {
  CliEnv& env;
  bool json_out = false;
  void say(const std::string& text, const json& extra = json::object()) const {
    if (json_out) {
      json j = {{"event", "phase"}, {"message", text}};
      j.update(extra);
      env.out << j.dump() << std::endl;
    } else {
      env.out << text << std::endl;
    }
  }
  // Build output: only the engine's "Step n/m" lines, indented; errors come back as values.
  engine::ProgressFn build_lines() const {
    return [this](const engine::ProgressLine& line) {
      if (json_out || !line.text.starts_with("Step ")) return;
      std::string text = line.text;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.size() > 110) text = text.substr(0, 107) + "...";
      env.out << "    " << text << std::endl;
    };
  }
};

// The base image a Host names (imported from the rootfs cache when missing).
bool ensure_base(engine::EngineApi& api, const std::string& base, const Progress& p,
                 const CliEnv& env) {
  auto start = std::chrono::steady_clock::now();
  bool announced = false;
  auto r = ensure_base_image(api, base, rootfs_script(project_root(env)), false,
                             [&](const engine::ProgressLine& line) {
                               if (!announced) {
                                 p.say("  image " + base + ": importing from the Debian rootfs");
                                 announced = true;
                               }
                             });
  if (!r) {
    p.env.err << "acctl: " << r.error().message << "\n";
    return false;
  }
  if (r->imported) p.say("  image " + base + ": imported in " + seconds_text(since(start)));
  return true;
}

// Builds an image unless current, saying which; a recipe that could not be assembled (an
// unreadable file) is reported the same way as a failed build.
bool build_recipe(engine::EngineApi& api, const engine::Result<ImageRecipe>& recipe,
                  const std::string& base, const Progress& p) {
  auto start = std::chrono::steady_clock::now();
  if (!recipe) {
    p.env.err << "acctl: " << recipe.error().message << "\n";
    return false;
  }
  auto r = build_context_image(api, *recipe, base, false, p.build_lines());
  if (!r) {
    p.env.err << "acctl: " << r.error().message << "\n";
    return false;
  }
  p.say("  image " + recipe->tag + (r->built ? ": built in " + seconds_text(since(start))
                                             : ": current"));
  return true;
}

// The Blueprint images the Sandboxes of `hosts` run (those without a prebuilt image).
std::vector<const Blueprint*> blueprints_of(const Model& model,
                                            const std::vector<std::string>& hosts) {
  std::vector<const Blueprint*> out;
  for (const Sandbox& s : model.sandboxes) {
    if (std::find(hosts.begin(), hosts.end(), s.spec.host) == hosts.end()) continue;
    const Blueprint* b = model.find_blueprint(s.spec.blueprint);
    if (b && b->spec.image.empty() && std::find(out.begin(), out.end(), b) == out.end())
      out.push_back(b);
  }
  return out;
}

// Builds on `api` the images the plan of `w` needs from it: the host image for dind Hosts and
// the Blueprint images of direct Hosts' Sandboxes.
bool prepare_outer_images(EngineWork& w, const Model& model, const Progress& p, CliEnv& env) {
  for (const std::string& name : w.hosts) {
    const Host* h = model.find_host(name);
    const bool dind = h->spec.isolation == Isolation::kDind;
    auto bps = blueprints_of(model, {name});
    if (!dind && bps.empty()) continue;
    if (!ensure_base(*w.api, h->spec.base_image, p, env)) return false;
    if (dind) {
      if (!build_recipe(*w.api, host_image_recipe(project_root(env), h->spec.base_image),
                        h->spec.base_image, p))
        return false;
      continue;
    }
    for (const Blueprint* b : bps) {
      if (!build_recipe(*w.api, blueprint_image_recipe(*b, h->spec.base_image), h->spec.base_image,
                        p))
        return false;
    }
  }
  return true;
}

// Copies images from one engine to another without a registry (save → file → load); only the
// ones whose id differs.
bool transfer_images(engine::EngineApi& from, engine::EngineApi& to,
                     const std::vector<std::string>& tags, const std::string& scratch,
                     const Progress& p) {
  std::vector<std::string> wanted;
  for (const std::string& tag : tags) {
    auto src = from.inspect_image(tag);
    if (!src) {
      p.env.err << "acctl: " << src.error().message << "\n";
      return false;
    }
    auto dst = to.inspect_image(tag);
    if (!dst || dst->id != src->id) wanted.push_back(tag);
  }
  if (wanted.empty()) return true;
  auto start = std::chrono::steady_clock::now();
  std::string list;
  for (const std::string& t : wanted) list += (list.empty() ? "" : ", ") + t;
  p.say("  copying " + list + " into the nested engine");
  std::error_code ec;
  fs::create_directories(fs::path(scratch).parent_path(), ec);
  FILE* file = std::fopen(scratch.c_str(), "wb");
  if (!file) {
    p.env.err << "acctl: cannot write " << scratch << ": " << std::strerror(errno) << "\n";
    return false;
  }
  int64_t bytes = 0;
  auto saved = from.save_images(wanted, [&](std::string_view chunk) {
    bytes += static_cast<int64_t>(chunk.size());
    return std::fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size();
  });
  const bool closed = std::fclose(file) == 0;
  engine::Status loaded = saved;
  if (saved && closed) loaded = to.load_images(engine::source_from_file(scratch), {});
  fs::remove(scratch, ec);
  if (!saved || !closed || !loaded) {
    p.env.err << "acctl: copying images: "
              << (!saved ? saved.error().message
                         : !closed ? "cannot write " + scratch : loaded.error().message)
              << "\n";
    return false;
  }
  p.say("  copied " + human_size(bytes) + " in " + seconds_text(since(start)));
  return true;
}

// Waits until the host container's nested engine answers and its entrypoint reported ready.
bool wait_nested_engine(EngineWork& w, engine::EngineApi& outer, const HostPaths& paths,
                        std::chrono::milliseconds timeout, const Progress& p, CliEnv& env) {
  const auto start = std::chrono::steady_clock::now();
  const std::string host = w.nested_of->meta.name;
  bool announced = false;
  while (true) {
    auto report = read_host_report(paths);
    if (report && report->ready) {
      auto api = connect(env, w.options);
      if (api) {
        w.api = *api;
        if (announced) {  // a first start: say how gVisor's network was set up, and why
          p.say("  nested engine ready (" + report->docker_version + ", runsc network " +
                    report->runsc_network + (report->reason.empty() ? "" : ": " + report->reason) +
                    ")",
                {{"runscNetwork", report->runsc_network}});
        }
        return true;
      }
    }
    auto info = outer.inspect_container(dind_container_name(host));
    if (info && !info->state.running) {
      std::string tail;
      engine::LogOptions lo;
      lo.tail = "15";
      (void)outer.logs(info->id, lo, [&](engine::LogStream, std::string_view b) {
        tail.append(b);
        return true;
      });
      env.err << "acctl: the host container " << dind_container_name(host) << " is "
              << info->state.status << " (exit code " << info->state.exit_code
              << "); its last lines:\n"
              << tail;
      return false;
    }
    if (since(start) > timeout) {
      env.err << "acctl: the nested engine of Host/" << host << " was not ready after "
              << seconds_text(timeout) << " (see: acctl logs host)\n";
      return false;
    }
    if (!announced) {
      p.say("  waiting for the nested engine of Host/" + host);
      announced = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Client IP → Sandbox name for the gate's audit log, from the nested engine.
std::map<std::string, std::string> sandbox_addresses(EngineWork& w) {
  std::map<std::string, std::string> out;
  const std::string net = host_network_name(w.nested_of->meta.name);
  for (const DesiredObject& d : w.desired.objects) {
    if (d.type != ObjectType::kContainer || !d.labels.count(kLabelInstance)) continue;
    auto info = w.api->inspect_container(d.name);
    if (!info) continue;
    auto ep = info->networks.find(net);
    if (ep != info->networks.end() && !ep->second.ip_address.empty())
      out[ep->second.ip_address] = d.labels.at(kLabelInstance);
  }
  return out;
}

// Whether the gate's config file holds another policy than the manifests.
bool gate_policy_differs(const Model& model, const Host& host, const std::string& state) {
  auto gp = std::get<GatePolicy>(gate_policy_for(model, host));
  std::ifstream in(host_paths(state, host.meta.name).gate_config());
  if (!in) return true;
  json current = json::parse(in, nullptr, false);
  json want = gate_config_json(host, gp, {});
  return !current.is_object() || current.value("policy", json()) != want["policy"] ||
         current.value("listen", json()) != want["listen"];
}

// Whether apply will reload a running gate: its policy file differs and the plan keeps the gate
// (a gate being created or replaced reads the new file when it starts).
bool policy_reload_pending(const EngineWork& w, const Model& model, const std::string& state) {
  const std::string gate = gate_container_name(w.nested_of->meta.name);
  for (const Action& a : w.plan.actions) {
    if (a.type == ActionType::kCreate && a.name == gate) return false;
  }
  return gate_policy_differs(model, *w.nested_of, state);
}

// Writes the gate's config and the sandboxes' resolv.conf; a running gate reloads a changed
// config on SIGHUP (no restart, connections stay).
bool sync_gate(EngineWork& w, const Model& model, const std::string& state, const Progress& p,
               CliEnv& env) {
  const Host& host = *w.nested_of;
  const HostPaths paths = host_paths(state, host.meta.name);
  auto gp = std::get<GatePolicy>(gate_policy_for(model, host));
  std::string error;
  bool changed = false;
  if (!write_file_atomically(paths.resolv_conf(), resolv_conf_text(host), nullptr, &error) ||
      !write_file_atomically(paths.gate_config(),
                             gate_config_json(host, gp, sandbox_addresses(w)).dump(2) + "\n",
                             &changed, &error)) {
    env.err << "acctl: " << error << "\n";
    return false;
  }
  if (!changed) return true;
  auto gate = w.api->inspect_container(gate_container_name(host.meta.name));
  if (!gate || !gate->state.running) return true;  // it reads the file when it starts
  if (auto k = w.api->kill_container(gate->id, "HUP"); !k) {
    env.err << "acctl: reloading the gate: " << k.error().message << "\n";
    return false;
  }
  p.say("  gate " + gate->name + ": reloaded its policy");
  return true;
}

int cmd_diff(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("diff", args,
                           {"--filename", "--output", "--blueprints", "--prune", "--parallel"},
                           {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  int status = kExitOk;
  auto set = load_checked(f, env, "diff", status);
  if (!set) return status == kExitInvalid ? kExitUsage : status;  // diff: 2 for any error
  auto work = split_by_engine(*set, env, "diff");
  if (!work) return kExitUsage;
  bool changes = false, errors = false;
  json out = json::array();
  for (EngineWork& w : *work) {
    if (!connect_and_plan(w, f, env, "diff", std::chrono::minutes(2))) return kExitUsage;
    if (w.nested_of && !w.unreachable)
      w.policy_reload = policy_reload_pending(w, set->model, state_dir(env));
    changes = changes || !w.plan.empty() || w.policy_reload;
    errors = errors || !w.plan.errors.empty();
    if (f.output == "json") {
      out.push_back(plan_json(w));
    } else {
      print_plan(w, work->size(), env);
    }
  }
  if (f.output == "json")
    env.out << json({{"inSync", !changes && !errors}, {"engines", out}}).dump(2) << "\n";
  if (errors) return kExitUsage;
  return changes ? kExitInvalid : kExitOk;
}

std::string action_text(const Action& a) {
  const char* verb = a.replacing
                         ? (a.type == ActionType::kDelete ? "remove (replace)" : "create (replace)")
                         : to_string(a.type);
  return std::string(verb) + " " + to_string(a.object) + " " + a.name;
}

// Waits until every container that should run is running (headless ones: has started).
bool wait_running(EngineWork& w, std::chrono::milliseconds timeout, CliEnv& env, bool json_out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const DesiredObject& d : w.desired.objects) {
    if (d.type != ObjectType::kContainer) continue;
    while (true) {
      auto info = w.api->inspect_container(d.name);
      std::string state = info ? info->state.status : "missing";
      bool ready = d.keep_running ? state == "running" : (state != "created" && state != "missing");
      if (ready) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        if (!json_out)
          env.err << "acctl apply: " << d.name << " is " << state << " after waiting "
                  << seconds_text(timeout) << "\n";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return true;
}

// The step printer of apply: a line per finished step (and per started one on a terminal), or
// one JSON object per event.
std::function<void(const Plan&, const StepEvent&)> step_printer(CliEnv& env, bool json_out) {
  return [&env, json_out](const Plan& plan, const StepEvent& e) {
    const Action& a = plan.actions[e.index];
    if (json_out) {
      json j = {{"event", "step"},
                {"state", to_string(e.state)},
                {"action", a.replacing ? "replace" : to_string(a.type)},
                {"object", to_string(a.object)},
                {"name", a.name},
                {"owner", a.owner},
                {"elapsedMs", e.elapsed.count()}};
      if (a.replacing) j["phase"] = a.type == ActionType::kDelete ? "remove" : "create";
      if (!e.message.empty()) j["error"] = e.message;
      env.out << j.dump() << std::endl;
      return;
    }
    if (e.state == StepState::kStarted) {
      if (env.terminal) env.out << "  ...     " << action_text(a) << std::endl;
      return;
    }
    const char* tag = e.state == StepState::kDone     ? "done   "
                      : e.state == StepState::kFailed ? "FAILED "
                                                      : "skipped";
    env.out << "  " << tag << " " << action_text(a);
    if (e.state != StepState::kSkipped) env.out << " (" << seconds_text(e.elapsed) << ")";
    if (!e.message.empty()) env.out << ": " << e.message;
    env.out << std::endl;
  };
}

// Converges every engine of the manifests: the Hosts' engines, then the nested engines of dind
// Hosts (images brought over, the gate's policy written). The body of apply and of start.
int apply_set(const ManifestSet& set, const Flags& f, CliEnv& env, const char* cmd,
              std::chrono::milliseconds timeout) {
  const bool json_out = f.output == "json";
  const Progress progress{env, json_out};
  const std::string state = state_dir(env);
  auto work = split_by_engine(set, env, cmd);
  if (!work) return kExitUsage;
  const auto started = std::chrono::steady_clock::now();
  size_t done = 0, failed = 0, skipped = 0;
  bool ok = true;
  for (EngineWork& w : *work) {
    const auto phase_start = std::chrono::steady_clock::now();
    engine::EngineApi* outer = nullptr;
    if (w.nested_of) {
      // The outer engine of this Host is earlier in the list and connected by now.
      const std::string address = engine_options_for(w.nested_of->spec.engine).host;
      for (EngineWork& o : *work) {
        if (o.options.host == address && o.api) outer = o.api.get();
      }
      if (!f.dry_run) {
        if (!outer) return kExitUsage;
        if (!json_out) env.out << "preparing the nested engine of Host/" << w.nested_of->meta.name << ":\n";
        const HostPaths paths = host_paths(state, w.nested_of->meta.name);
        if (!wait_nested_engine(w, *outer, paths, timeout, progress, env)) return kExitUsage;
        const Host& h = *w.nested_of;
        if (!build_recipe(*outer, gate_image_recipe(project_root(env), h.spec.base_image),
                          h.spec.base_image, progress))
          return kExitUsage;
        std::vector<std::string> tags = {kGateImage};
        for (const Blueprint* b : blueprints_of(set.model, w.hosts)) {
          if (!build_recipe(*outer, blueprint_image_recipe(*b, h.spec.base_image),
                            h.spec.base_image, progress))
            return kExitUsage;
          tags.push_back(blueprint_image_tag(b->meta.name));
        }
        if (!transfer_images(*outer, *w.api, tags, paths.run_dir + "/images.tar", progress))
          return kExitUsage;
      }
    } else if (!f.dry_run) {
      auto api = connect(env, w.options);
      if (!api) {
        env.err << "acctl " << cmd << ": " << api.error().message << "\n";
        return kExitUsage;
      }
      w.api = *api;
      if (!prepare_outer_images(w, set.model, progress, env)) return kExitUsage;
    }
    if (!connect_and_plan(w, f, env, cmd, timeout)) return kExitUsage;
    if (w.nested_of && !w.unreachable) w.policy_reload = policy_reload_pending(w, set.model, state);
    if (!w.plan.errors.empty()) {
      for (const std::string& e : w.plan.errors) env.err << "acctl " << cmd << ": " << e << "\n";
      return kExitUsage;
    }
    if (!json_out) print_plan(w, work->size(), env);
    if (f.dry_run) continue;
    if (w.nested_of && !sync_gate(w, set.model, state, progress, env)) return kExitUsage;
    if (w.plan.empty()) continue;
    bool creates_sandboxes =
        std::any_of(w.plan.actions.begin(), w.plan.actions.end(), [](const Action& a) {
          return a.type == ActionType::kCreate && a.desired &&
                 a.desired->container.host_config.runtime == "runsc";
        });
    if (creates_sandboxes) {
      auto v = w.api->version();
      if (!v) {
        env.err << "acctl " << cmd << ": " << v.error().message << "\n";
        return kExitUsage;
      }
      if (std::find(v->runtimes.begin(), v->runtimes.end(), "runsc") == v->runtimes.end()) {
        env.err
            << "acctl " << cmd << ": the engine at " << w.options.host
            << " has no \"runsc\" runtime, and sandboxes run only under gVisor. Install it "
               "(apt-get install runsc), register it in /etc/docker/daemon.json "
               "(\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\"}}) and restart dockerd; "
               "images/engine-up.sh does all three.\n";
        return kExitUsage;
      }
    }
    ExecuteOptions eo;
    eo.parallel = f.parallel;
    eo.on_event = step_printer(env, json_out);
    ExecuteResult r = execute_plan(*w.api, w.plan, eo);
    done += r.done;
    failed += r.failed;
    skipped += r.skipped;
    ok = ok && r.ok();
    if (ok && w.nested_of && !sync_gate(w, set.model, state, progress, env)) ok = false;
    if (ok && f.wait) ok = wait_running(w, timeout, env, json_out);
    if (!json_out && w.nested_of)
      env.out << "  (" << seconds_text(since(phase_start)) << ")\n";
    if (!ok) break;  // a nested engine needs its host; later engines would fail the same way
  }
  auto elapsed = since(started);
  if (json_out) {
    json plans = json::array();
    for (const EngineWork& w : *work) plans.push_back(plan_json(w));
    env.out << json({{"event", "summary"},
                     {"ok", ok},
                     {"dryRun", f.dry_run},
                     {"done", done},
                     {"failed", failed},
                     {"skipped", skipped},
                     {"elapsedMs", elapsed.count()},
                     {"plans", plans}})
                   .dump()
            << "\n";
  } else if (!f.dry_run) {
    env.out << (ok ? "Applied" : "Apply FAILED") << ": " << done << " done, " << failed
            << " failed, " << skipped << " skipped in " << seconds_text(elapsed) << ".\n";
  }
  return ok ? kExitOk : kExitUsage;
}

std::optional<std::chrono::milliseconds> timeout_flag(const Flags& f, CliEnv& env, const char* cmd,
                                                      std::chrono::milliseconds fallback) {
  if (f.timeout.empty()) return fallback;
  auto t = parse_duration(f.timeout);
  if (!t) env.err << "acctl " << cmd << ": --timeout takes a duration like 90s or 5m, not " << f.timeout << "\n";
  return t;
}

int cmd_apply(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("apply", args,
                           {"--filename", "--output", "--blueprints", "--prune", "--dry-run",
                            "--wait", "--timeout", "--parallel"},
                           {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  auto timeout = timeout_flag(f, env, "apply", std::chrono::minutes(2));
  if (!timeout) return kExitUsage;
  int status = kExitOk;
  auto set = load_checked(f, env, "apply", status);
  if (!set) return status;
  return apply_set(*set, f, env, "apply", *timeout);
}

// Objects to delete: every managed object of the named Sandboxes and Hosts.
int delete_objects(const std::vector<std::pair<std::string, std::string>>& targets,
                   const engine::EngineOptions& options, const Flags& f, CliEnv& env) {
  EngineWork w;
  w.options = options;
  auto observed = open_and_observe(w, f, env, "delete", std::chrono::minutes(2));
  if (!observed) return kExitUsage;
  auto& api = w.api;
  // Keep what is not targeted; plan with prune to delete the rest of these hosts' objects.
  DesiredState keep;
  ObservedState scope;
  PlanOptions po;
  po.prune = true;
  for (const ObservedObject& o : observed->objects) {
    auto kind = o.labels.count(kLabelKind) ? o.labels.at(kLabelKind) : "";
    auto name = o.labels.count(kLabelName) ? o.labels.at(kLabelName) : "";
    auto host = o.labels.count(kLabelHost) ? o.labels.at(kLabelHost) : "";
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
    if (e.state == StepState::kStarted) return;
    env.out << "  " << to_string(e.state) << " " << action_text(p.actions[e.index])
            << (e.message.empty() ? "" : ": " + e.message) << std::endl;
  };
  ExecuteResult r = execute_plan(*api, plan, eo);
  env.out << "Deleted " << r.done << " of " << plan.actions.size()
          << " objects; workspaces were kept.\n";
  return r.ok() ? kExitOk : kExitUsage;
}

int cmd_delete(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("delete", args, {"--filename", "--blueprints", "--engine", "--parallel"},
                           {}, f, env)) {
    return kExitUsage;
  }
  if (f.files.empty()) {
    if (f.positional.size() != 2) {
      env.err << "acctl delete: give -f PATH or KIND NAME\n";
      return kExitUsage;
    }
    std::string kind = canonical_kind(f.positional[0]);
    if (kind != "Sandbox" && kind != "Host") {
      env.err << "acctl delete: KIND must be Sandbox or Host, not " << f.positional[0] << "\n";
      return kExitUsage;
    }
    return delete_objects({{kind, f.positional[1]}}, engine_options_for(f.engine), f, env);
  }
  int status = kExitOk;
  auto set = load_checked(f, env, "delete", status);
  if (!set) return status;
  // Group the targets by the engine of their Host.
  std::map<std::string,
           std::pair<engine::EngineOptions, std::vector<std::pair<std::string, std::string>>>>
      by_engine;
  for (const Sandbox& s : set->model.sandboxes) {
    auto o = engine_options_for(set->model.find_host(s.spec.host)->spec.engine);
    by_engine.try_emplace(o.host, o, std::vector<std::pair<std::string, std::string>>{})
        .first->second.second.push_back({"Sandbox", s.meta.name});
  }
  for (const Host& h : set->model.hosts) {
    auto o = engine_options_for(h.spec.engine);
    by_engine.try_emplace(o.host, o, std::vector<std::pair<std::string, std::string>>{})
        .first->second.second.push_back({"Host", h.meta.name});
  }
  int result = kExitOk;
  for (auto& [host, entry] : by_engine) {
    int r = delete_objects(entry.second, entry.first, f, env);
    if (r != kExitOk) result = r;
  }
  return result;
}

int cmd_get(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("get", args, {"--output", "--engine", "--parallel"},
                           {"table", "json", "yaml"}, f, env)) {
    return kExitUsage;
  }
  std::string kind, name;
  if (!f.positional.empty()) {
    kind = canonical_kind(f.positional[0]);
    if (kind != "Sandbox" && kind != "Host") {
      env.err << "acctl get: KIND must be Sandbox or Host, not " << f.positional[0] << "\n";
      return kExitUsage;
    }
  }
  if (f.positional.size() > 1) name = f.positional[1];
  if (f.positional.size() > 2) {
    env.err << "acctl get: takes at most KIND and NAME\n";
    return kExitUsage;
  }
  EngineWork w;
  w.options = engine_options_for(f.engine);
  const engine::EngineOptions& options = w.options;
  auto observed = open_and_observe(w, f, env, "get", std::nullopt);
  if (!observed) return kExitUsage;
  json items = json::array();
  for (const ObservedObject& o : observed->objects) {
    std::string k = o.labels.count(kLabelKind) ? o.labels.at(kLabelKind) : "";
    std::string n = o.labels.count(kLabelName) ? o.labels.at(kLabelName) : "";
    if ((!kind.empty() && k != kind) || (!name.empty() && n != name)) continue;
    json item = {{"kind", k},
                 {"name", n},
                 {"host", o.labels.count(kLabelHost) ? o.labels.at(kLabelHost) : ""},
                 {"object", to_string(o.type)},
                 {"engineName", o.name},
                 {"id", o.id.substr(0, 12)},
                 {"specHash", o.labels.count(kLabelSpecHash) ? o.labels.at(kLabelSpecHash) : ""}};
    if (o.type == ObjectType::kContainer) {
      item["state"] = o.state;
      item["cpus"] = o.live.nano_cpus / 1e9;
      item["memory"] = o.live.memory ? format_size(o.live.memory) : "unlimited";
      item["pids"] = o.live.pids;
    }
    items.push_back(item);
  }
  std::sort(items.begin(), items.end(), [](const json& a, const json& b) {
    return std::tie(a["kind"].get_ref<const std::string&>(),
                    a["name"].get_ref<const std::string&>(),
                    a["engineName"].get_ref<const std::string&>()) <
           std::tie(b["kind"].get_ref<const std::string&>(),
                    b["name"].get_ref<const std::string&>(),
                    b["engineName"].get_ref<const std::string&>());
  });
  if (!name.empty() && items.empty()) {
    env.err << "acctl get: no " << kind << " named " << name << " on " << options.host << "\n";
    return kExitUsage;
  }
  if (f.output == "json") {
    env.out << items.dump(2) << "\n";
  } else if (f.output == "yaml") {
    for (const json& item : items) {
      env.out << "- ";
      bool first = true;
      for (auto& [k, v] : item.items()) {
        env.out << (first ? "" : "  ") << k << ": " << v.dump() << "\n";
        first = false;
      }
    }
    if (items.empty()) env.out << "[]\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %-24s %-10s %-10s %-26s %-9s %-6s %-8s\n", "KIND",
                  "NAME", "HOST", "OBJECT", "ENGINE NAME", "STATE", "CPUS", "MEMORY");
    env.out << line;
    for (const json& i : items) {
      std::string cpus = i.contains("cpus") ? (i["cpus"].get<double>() == 0 ? "-" : [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%g", i["cpus"].get<double>());
        return std::string(b);
      }()) : "";
      std::snprintf(line, sizeof line, "%-8s %-24s %-10s %-10s %-26s %-9s %-6s %-8s\n",
                    i["kind"].get<std::string>().c_str(), i["name"].get<std::string>().c_str(),
                    i["host"].get<std::string>().c_str(), i["object"].get<std::string>().c_str(),
                    i["engineName"].get<std::string>().c_str(), i.value("state", "").c_str(),
                    cpus.c_str(), i.value("memory", "").c_str());
      env.out << line;
    }
  }
  return kExitOk;
}

int cmd_schema(const std::vector<std::string>& args, CliEnv& env) {
  if (args.size() > 2) {
    env.err << "acctl schema: takes at most one KIND\n";
    return kExitUsage;
  }
  if (args.size() == 1) {
    env.out << combined_schema().dump(2) << "\n";
    return kExitOk;
  }
  std::string kind = canonical_kind(args[1]);
  if (kind.empty()) {
    env.err << "acctl schema: unknown kind \"" << args[1]
            << "\" (Host, EgressPolicy, Blueprint, Sandbox)\n";
    return kExitUsage;
  }
  env.out << document_schema(kind)->dump(2) << "\n";
  return kExitOk;
}

int cmd_version(const std::vector<std::string>& args, CliEnv& env) {
  env.out << "acctl " << kVersion << "\n";
  return kExitOk;
}

int cmd_build(const std::vector<std::string>& args, CliEnv& env) {
  // --base and --no-cache are this command's own switches; the rest is the common parser's.
  bool refresh_base = false, no_cache = false;
  std::vector<std::string> rest;
  for (const std::string& a : args) {
    if (a == "--base") {
      refresh_base = true;
    } else if (a == "--no-cache") {
      no_cache = true;
    } else {
      rest.push_back(a);
    }
  }
  Flags f;
  if (auto e = parse_flags(rest, 1, f, {"--output", "--blueprints", "--engine"}); !e.empty()) {
    env.err << "acctl build: " << e << "\nRun 'acctl build --help' for usage.\n";
    return kExitUsage;
  }
  if (f.output.empty()) f.output = "text";
  if (f.output != "text" && f.output != "json") {
    env.err << "acctl build: --output must be text or json, not " << f.output << "\n";
    return kExitUsage;
  }
  if (f.positional.size() != 1) {
    env.err << "acctl build: name one Blueprint, e.g. acctl build pi\n";
    return kExitUsage;
  }
  const std::string name = f.positional[0];
  const std::string dir = f.blueprints.empty() ? default_blueprints_dir(env) : f.blueprints;
  const fs::path file = fs::path(dir) / name / "blueprint.yaml";
  std::error_code ec;
  if (name.find('/') != std::string::npos || name.starts_with(".") ||
      !fs::is_regular_file(file, ec)) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (fs::is_regular_file(e.path() / "blueprint.yaml", ec)) names.insert(e.path().filename());
    }
    std::string have;
    for (const std::string& n : names) have += " " + n;
    env.err << "acctl build: no Blueprint " << name << " in " << dir
            << (have.empty() ? "" : " (there are:" + have + ")") << "\n";
    return kExitUsage;
  }
  ManifestOptions options;
  options.blueprints_dir = dir;
  ManifestSet set = load_manifests({file.string()}, env.in, options);
  if (!set.ok()) {
    for (const Diagnostic& d : set.diagnostics.sorted()) env.err << d.str() << "\n";
    return kExitUsage;
  }
  const Blueprint* bp = set.model.find_blueprint(name);
  if (!bp) {
    env.err << "acctl build: " << file.string() << " does not define Blueprint " << name << "\n";
    return kExitUsage;
  }

  engine::EngineOptions eo = engine_options_for(f.engine);
  auto api = connect(env, eo);
  if (!api) {
    env.err << "acctl build: " << api.error().message << "\n";
    return kExitUsage;
  }
  const bool json_out = f.output == "json";
  auto progress = [&](const engine::ProgressLine& line) {
    if (json_out) {
      env.out << (line.json.empty() ? json{{"status", line.text}}.dump() : line.json) << "\n";
    } else if (!line.text.empty()) {
      env.out << line.text << (line.text.back() == '\n' ? "" : "\n");
    }
    env.out.flush();
  };
  const auto start = std::chrono::steady_clock::now();
  // The project root holds images/rootfs.sh next to blueprints/.
  const std::string project = fs::absolute(dir).lexically_normal().parent_path().string();
  auto base =
      ensure_base_image(**api, kDefaultBaseImage, rootfs_script(project), refresh_base, progress);
  if (!base) {
    env.err << "acctl build: " << base.error().message << "\n";
    return kExitUsage;
  }
  auto image = build_blueprint_image(**api, *bp, base->reference, {.no_cache = no_cache}, progress);
  if (!image) {
    env.err << "acctl build: " << image.error().message << "\n";
    return kExitUsage;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (json_out) {
    env.out << json{{"blueprint", name},
                    {"image", image->tag},
                    {"id", image->id},
                    {"specHash", image->spec_hash},
                    {"built", image->built},
                    {"baseImage", base->reference},
                    {"baseImported", base->imported},
                    {"seconds", took.count() / 1000.0}}
                   .dump()
            << "\n";
  } else {
    env.out << image->tag << (image->built ? " built" : " is current") << " in "
            << seconds_text(took) << " (" << image->id.substr(0, 19) << ", spec hash "
            << image->spec_hash << ")\n";
  }
  return kExitOk;
}

struct Command {
  std::function<int(const std::vector<std::string>&, CliEnv&)> run;
  const char* help;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> all = {
      {"validate", {cmd_validate, kValidateHelp}},
      {"diff", {cmd_diff, kDiffHelp}},
      {"apply", {cmd_apply, kApplyHelp}},
      {"delete", {cmd_delete, kDeleteHelp}},
      {"get", {cmd_get, kGetHelp}},
      {"build", {cmd_build, kBuildHelp}},
      {"start", {cmd_start, kStartHelp}},
      {"stop", {cmd_stop, kStopHelp}},
      {"down", {cmd_down, kDownHelp}},
      {"status", {cmd_status, kStatusHelp}},
      {"logs", {cmd_logs, kLogsHelp}},
      {"schema", {cmd_schema, kSchemaHelp}},
      {"version", {cmd_version, kVersionHelp}},
  };
  return all;
}

}  // namespace cli

using namespace cli;

int run_cli(const std::vector<std::string>& args, CliEnv& env) {
  if (args.empty()) {
    env.err << kMainHelp;
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h" || name == "help") {
    if (args.size() > 1) {
      auto it = commands().find(args[1]);
      if (it == commands().end()) {
        env.err << "acctl: unknown command \"" << args[1] << "\"\n";
        return kExitUsage;
      }
      env.out << it->second.help;
      return kExitOk;
    }
    env.out << kMainHelp;
    return kExitOk;
  }
  if (name == "--version") return cmd_version(args, env);
  auto it = commands().find(name);
  if (it == commands().end()) {
    env.err << "acctl: unknown command \"" << name << "\"\n\n" << kMainHelp;
    return kExitUsage;
  }
  if (wants_help(args)) {
    env.out << it->second.help;
    return kExitOk;
  }
  return it->second.run(args, env);
}

}  // namespace acctl
