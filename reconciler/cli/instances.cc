// Instance manifests: where they are, how a command names one, how they are written and loaded.
#include "cli/instances.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "manifest/yaml_loader.h"

namespace acctl::cli {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> host_manifests(const CliEnv& env) {
  if (auto m = system_of(env).env("ACCTL_MANIFESTS")) return {*m};
  return {project_root(env) + "/manifests/quickstart.yaml"};
}

namespace {

// The Sandbox document of a manifest file: its spec, or an error naming the file.
Result<json> sandbox_spec_of(const std::string& file) {
  LoadResult loaded;
  std::istringstream no_stdin;
  load_path(file, no_stdin, loaded);
  if (!loaded.diagnostics.empty()) return Error{0, loaded.diagnostics.sorted().front().str()};
  for (const Document& d : loaded.documents) {
    if (d.value.is_object() && d.value.value("kind", "") == "Sandbox" && d.value.contains("spec") &&
        d.value["spec"].is_object())
      return d.value["spec"];
  }
  return Error{0, file + " holds no Sandbox"};
}

}  // namespace

Result<std::optional<Instance>> find_instance(const CliEnv& env, const std::string& name) {
  InstancePaths paths = instance_paths(state_dir(env), name);
  std::error_code ec;
  for (bool cleaned : {false, true}) {
    const std::string file = cleaned ? paths.cleaned_manifest() : paths.manifest();
    if (!fs::is_regular_file(fs::symlink_status(file, ec))) continue;
    auto spec = sandbox_spec_of(file);
    if (!spec) return spec.error();
    return std::optional<Instance>(Instance{name, paths, *spec, cleaned});
  }
  return std::optional<Instance>();
}

std::vector<std::string> instance_names(const CliEnv& env) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(state_dir(env)) / "instances", ec)) {
    if (fs::is_directory(fs::symlink_status(e.path(), ec))) out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> blueprint_names(const CliEnv& env) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(default_blueprints_dir(env), ec)) {
    if (fs::is_regular_file(e.path() / "blueprint.yaml", ec)) names.insert(e.path().filename());
  }
  for (const std::string& file : host_manifests(env)) {
    LoadResult loaded;
    std::istringstream no_stdin;
    load_path(file, no_stdin, loaded);
    for (const Document& d : loaded.documents) {
      if (d.value.is_object() && d.value.value("kind", "") == "Blueprint" &&
          d.value.contains("metadata") && d.value["metadata"].contains("name"))
        names.insert(d.value["metadata"]["name"].get<std::string>());
    }
  }
  return {names.begin(), names.end()};
}

Result<Target> resolve_target(const CliEnv& env, const std::vector<std::string>& words) {
  if (words.empty() || words.size() > 2) return Error{0, "name the instance: [BLUEPRINT] NAME"};
  const std::vector<std::string> blueprints = blueprint_names(env);
  auto known = [&](const std::string& b) {
    return std::find(blueprints.begin(), blueprints.end(), b) != blueprints.end();
  };
  Target t;
  if (words.size() == 2) {
    t.blueprint = words[0];
    t.name = words[1];
    if (!known(t.blueprint)) {
      std::string have;
      for (const std::string& b : blueprints) have += (have.empty() ? "" : ", ") + b;
      return Error{0, "no Blueprint " + t.blueprint + " (there are: " + have + ")"};
    }
  } else {
    t.name = words[0];
  }
  auto existing = find_instance(env, t.name);
  if (!existing) return existing.error();
  if (*existing) {
    const std::string had = (*existing)->spec.value("blueprint", "");
    if (words.size() == 2 && had != t.blueprint) {
      return Error{0, "instance " + t.name + " runs Blueprint " + had + ", not " + t.blueprint +
                          "; use another name, or `acctl destroy " + t.name + "` first"};
    }
    t.blueprint = had;
    t.existing = std::move(*existing);
    return t;
  }
  if (words.size() == 1) {
    if (known(t.name)) {
      t.blueprint = t.name;
      t.name += "_session";
      // That instance may exist already: it keeps its blueprint, which is this one.
      auto again = find_instance(env, t.name);
      if (!again) return again.error();
      if (*again) t.existing = std::move(*again);
      return t;
    }
    t.blueprint = "base";
    for (const std::string& b : blueprints) {
      if (t.name.starts_with(b)) {
        t.blueprint = b;
        break;
      }
    }
  }
  return t;
}

std::string instance_manifest_text(const std::string& name, const json& spec,
                                   const std::string& written_by) {
  // JSON is a YAML flow mapping; continuation lines are indented under `spec:`.
  std::string body = spec.dump(2);
  std::string indented;
  for (char c : body) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  return "# Written by `" + written_by +
         "`; run and shell change it. The Host comes from the\n"
         "# manifests acctl start uses. The engine keeps the rest: see `acctl list`.\n"
         "apiVersion: acctl/v1alpha1\n"
         "kind: Sandbox\n"
         "metadata:\n"
         "  name: " +
         json(name).dump() + "\nspec: " + indented + "\n";
}

std::optional<ManifestSet> load_instances(CliEnv& env, const char* cmd, int& status,
                                          const std::string& name, const std::string& candidate,
                                          bool without) {
  Flags f;
  f.files = host_manifests(env);
  std::error_code ec;
  for (const std::string& n : instance_names(env)) {
    if (n == name && (without || !candidate.empty())) continue;
    const std::string file = instance_paths(state_dir(env), n).manifest();
    if (fs::is_regular_file(fs::symlink_status(file, ec))) f.files.push_back(file);
  }
  if (!candidate.empty()) f.files.push_back(candidate);
  return load_checked(f, env, cmd, status);
}

}  // namespace acctl::cli
