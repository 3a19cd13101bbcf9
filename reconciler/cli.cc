// Subcommands of acctl and their --help texts.
#include "cli.h"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "manifest.h"
#include "schema.h"
#include "version.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kMainHelp = R"(acctl — declarative sandboxes for untrusted coding agents

Usage: acctl <command> [options]

Manifests (YAML, apiVersion acctl/v1alpha1) describe Hosts, EgressPolicies, Blueprints and
Sandboxes. acctl checks them, then converges the Docker engine to them.

Commands:
  validate -f PATH...   check manifests (schema, references, addresses, sizes); no engine needed
  schema [KIND]         print the JSON Schema of a kind, or of any document
  version               print the version
  help [COMMAND]        show help for a command

Exit status: 0 success, 1 invalid manifests, 2 usage or internal error.
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

constexpr const char* kVersionHelp = "Usage: acctl version\n\nPrints acctl's version.\n";

struct Flags {
  std::vector<std::string> files;
  std::string output = "text";
  std::string blueprints;
  bool quiet = false;
  std::vector<std::string> positional;
};

// Parses the flags shared by the subcommands; returns an error message or "".
std::string parse_flags(const std::vector<std::string>& args, size_t from, Flags& f,
                        const std::vector<std::string>& allowed) {
  auto is_allowed = [&](const std::string& flag) {
    return std::find(allowed.begin(), allowed.end(), flag) != allowed.end();
  };
  for (size_t i = from; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    if (a.starts_with("--") && a.find('=') != std::string::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_value = true;
    }
    auto take = [&]() -> std::optional<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    std::string canonical = a == "-f"   ? "--filename"
                            : a == "-o" ? "--output"
                            : a == "-q" ? "--quiet"
                                        : a;
    if (a == "-" || !a.starts_with("-")) {
      f.positional.push_back(args[i]);
      continue;
    }
    if (!is_allowed(canonical)) return "unknown option " + a;
    if (canonical == "--quiet") {
      f.quiet = true;
      continue;
    }
    auto v = take();
    if (!v) return "option " + a + " needs a value";
    if (canonical == "--filename") f.files.push_back(*v);
    if (canonical == "--output") {
      if (*v != "text" && *v != "json") return "--output must be text or json, not " + *v;
      f.output = *v;
    }
    if (canonical == "--blueprints") f.blueprints = *v;
  }
  return "";
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
  if (auto e = parse_flags(args, 1, f, {"--filename", "--output", "--blueprints", "--quiet"});
      !e.empty()) {
    env.err << "acctl validate: " << e << "\nRun 'acctl validate --help' for usage.\n";
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

struct Command {
  std::function<int(const std::vector<std::string>&, CliEnv&)> run;
  const char* help;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> all = {
      {"validate", {cmd_validate, kValidateHelp}},
      {"schema", {cmd_schema, kSchemaHelp}},
      {"version", {cmd_version, kVersionHelp}},
  };
  return all;
}

}  // namespace

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
