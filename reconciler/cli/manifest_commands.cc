// The manifest commands: validate, diff, apply, delete, get, schema.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "converge/observe.h"
#include "manifest/quantity.h"
#include "manifest/schema.h"

namespace acctl::cli {
namespace {

using nlohmann::json;

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
    R"(Usage: acctl diff -f PATH... [--prune] [-o text|json] [--parallel N] [--timeout D]

Validates the manifests, reads what acctl manages on each Host's engine (by its labels), the
images it builds and the files it writes, and prints the plan that apply would carry out, one
line per step, engine by engine (a dind Host's nested engine after the Host's own):
  +   create   something missing
  ~   update   a limit the engine changes live (cpus, memory, pids), same container
  -/+ replace  something whose spec changed (the changed fields are named)
  >   start    a container that should run but was found stopped
  -   delete   with --prune: a managed object no manifest describes
  +   import   the Debian base image, from the local debootstrap rootfs
  +   build    an image whose build context or base changed (a Blueprint's install.sh, say)
  +   copy     images into a nested engine whose copy differs from the Host's engine's
  +/~ write    a file acctl keeps (the gate's config, the sandboxes' resolver)
  ~   reload   a gate re-reads its config: no restart, connections stay
  >   wait     a nested engine that does not answer yet
Nothing is changed. Only objects labelled ac.managed-by=acctl are ever considered. A diff that
exits 0 means apply has nothing to do: a drift check in CI can rely on it.

Options:
  --prune         also plan deleting managed objects of these Hosts that no manifest describes
  -o json         {"inSync": …, "engines": [{"engine", "actions": [{"action", "object", "name",
                  "owner", "reasons", …}], "errors"}]}
  --timeout D     how long the whole diff may take, waiting for the engine lock included
                  (default 2m); an engine that does not answer a call is named and exit is 2

Exit status: 0 in sync, 1 changes pending, 2 error (invalid manifests, engine unreachable or not
answering, a name held by an object acctl does not manage, a missing image).
)";

constexpr const char* kApplyHelp =
    R"(Usage: acctl apply -f PATH... [--prune] [--dry-run] [--wait] [--timeout D] [--parallel N] [-o text|json]

Converges each Host's engine to the manifests: builds the images that changed, creates what is
missing, updates limits in place, replaces what changed, starts what should run, writes the
gate's config and has the gate re-read it. A dind Host's nested engine is converged after its
Host's engine, once it answers. Every step is the plan's (see 'acctl diff --help'), run in
dependency order, independent ones in parallel. A lock serialises acctl runs against the same
engine, and an apply interrupted at any point is finished by the next one.

Options:
  --prune         also delete managed objects of these Hosts that no manifest describes
                  (workspace folders are never deleted)
  --dry-run       print the plan and stop, changing nothing (no image is built; exit 0)
  --wait          after applying, wait until every container that should run is running
  --timeout D     how long the whole apply may take, builds, the engine lock and --wait
                  included (e.g. 90s, 10m; default 30m: a first build of agent images takes
                  minutes); an engine call that gets no answer fails the step, naming it
  --parallel N    steps run at once (default 4)
  -o json         one JSON object per step, then a summary (for CI)

Sandbox workspaces live in $ACCTL_HOME/instances/<name>/workspace (default: the checkout).
Exit status: 0 converged, 1 invalid manifests, 2 a step failed or another error.
)";

constexpr const char* kDeleteHelp = R"(Usage: acctl delete -f PATH... [--timeout D]
       acctl delete KIND NAME [--engine ADDRESS] [--timeout D]

Removes the engine objects that the manifests (or the named object) describe: a Sandbox's
container; a Host's network and every managed object of that Host. Workspace folders stay:
only 'destroy' deletes a workspace.

Exit status: 0 done (also when there was nothing to delete), 2 error.
)";

constexpr const char* kGetHelp =
    R"(Usage: acctl get [KIND [NAME]] [-o table|json|yaml] [--engine ADDRESS] [--timeout D]

Lists the objects acctl manages on an engine (by their ac.* labels): KIND is Sandbox or Host
(any case, plural allowed). The engine is --engine, else $DOCKER_HOST, else the local socket.
)";

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
  options.state_dir = state_dir(env);
  options.default_engine = engine_options(env, "").host;
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

int cmd_diff(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags(
          "diff", args,
          {"--filename", "--output", "--blueprints", "--prune", "--parallel", "--timeout"},
          {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  auto timeout = timeout_flag(f, env, "diff", std::chrono::minutes(2));
  if (!timeout) return kExitUsage;
  int status = kExitOk;
  auto set = load_checked(f, env, "diff", status);
  if (!set) return status == kExitInvalid ? kExitUsage : status;  // diff: 2 for any error
  return run_converge(set->model, ConvergeMode::kDiff, f, env, "diff", *timeout);
}

int cmd_apply(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("apply", args,
                           {"--filename", "--output", "--blueprints", "--prune", "--dry-run",
                            "--wait", "--timeout", "--parallel"},
                           {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  auto timeout = timeout_flag(f, env, "apply", std::chrono::minutes(30));
  if (!timeout) return kExitUsage;
  int status = kExitOk;
  auto set = load_checked(f, env, "apply", status);
  if (!set) return status;
  return run_converge(set->model, f.dry_run ? ConvergeMode::kDryRun : ConvergeMode::kApply, f, env,
                      "apply", *timeout);
}

int cmd_delete(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("delete", args,
                           {"--filename", "--blueprints", "--engine", "--parallel", "--timeout"},
                           {}, f, env) ||
      !set_deadline(f, env, "delete", std::chrono::minutes(5))) {
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
    return delete_objects({{kind, f.positional[1]}}, engine_options(env, f.engine), f, env);
  }
  int status = kExitOk;
  auto set = load_checked(f, env, "delete", status);
  if (!set) return status;
  // Group the targets by the engine of their Host.
  std::map<std::string,
           std::pair<engine::EngineOptions, std::vector<std::pair<std::string, std::string>>>>
      by_engine;
  for (const Sandbox& s : set->model.sandboxes) {
    auto o = engine_options(env, set->model.find_host(s.spec.host)->spec.engine);
    by_engine.try_emplace(o.host, o, std::vector<std::pair<std::string, std::string>>{})
        .first->second.second.push_back({"Sandbox", s.meta.name});
  }
  for (const Host& h : set->model.hosts) {
    auto o = engine_options(env, h.spec.engine);
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
  if (!parse_command_flags("get", args, {"--output", "--engine", "--parallel", "--timeout"},
                           {"table", "json", "yaml"}, f, env) ||
      !set_deadline(f, env, "get", std::chrono::minutes(2))) {
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
  const engine::EngineOptions options = engine_options(env, f.engine, f);
  auto api = connect(env, options);
  if (!api) {
    env.err << "acctl get: " << api.error().message << "\n";
    return kExitUsage;
  }
  auto observed = observe(**api, {}, f.parallel);
  if (!observed) {
    env.err << "acctl get: reading " << options.host << ": " << observed.error().message << "\n";
    return kExitUsage;
  }
  // The nested engines of this engine's dind Hosts hold their gates and Sandboxes: read them
  // too (those of stopped Hosts cannot answer, and are said to be so).
  std::vector<ObservedObject> all = observed->objects;
  for (const ObservedObject& o : observed->objects) {
    const std::string host = o.labels.count(kLabelHost) ? o.labels.at(kLabelHost) : "";
    if (o.type != ObjectType::kContainer || o.name != dind_container_name(host)) continue;
    engine::EngineOptions nested = options;
    nested.host = host_paths(state_dir(env), host).endpoint();
    nested.tls = false;
    auto napi = o.state == "running" ? connect(env, nested)
                                     : Result<std::shared_ptr<engine::EngineApi>>(
                                           Error{0, "its host container is " + o.state});
    auto inner = napi ? observe(**napi, {}, f.parallel) : Result<ObservedState>(napi.error());
    if (!inner) {
      env.err << "acctl get: the nested engine of Host/" << host
              << " is not read: " << inner.error().message << "\n";
      continue;
    }
    all.insert(all.end(), inner->objects.begin(), inner->objects.end());
  }
  json items = json::array();
  for (const ObservedObject& o : all) {
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

}  // namespace

const Command kValidate{cmd_validate, kValidateHelp};
const Command kDiff{cmd_diff, kDiffHelp};
const Command kApply{cmd_apply, kApplyHelp};
const Command kDelete{cmd_delete, kDeleteHelp};
const Command kGet{cmd_get, kGetHelp};
const Command kSchema{cmd_schema, kSchemaHelp};

}  // namespace acctl::cli
