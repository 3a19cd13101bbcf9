// Instances of the sandbox commands (run, shell, list, clean, destroy): each one a Sandbox
// manifest acctl writes to instances/NAME/sandbox.yaml beside its workspace, home and secrets,
// converged with the Host manifests (the ones `acctl start` uses) and every other instance.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "common/result.h"
#include "manifest/names.h"

namespace acctl::cli {

// The Host manifests of the sandbox commands: $ACCTL_MANIFESTS, else manifests/quickstart.yaml.
std::vector<std::string> host_manifests(const CliEnv& env);

// What an instance is, as its manifest says (active or cleaned).
struct Instance {
  std::string name;
  InstancePaths paths;
  nlohmann::json spec;   // the Sandbox's spec as written
  bool cleaned = false;  // its manifest was put aside by clean
};
// The instance NAME, if it has a manifest. Errors: one that cannot be read.
Result<std::optional<Instance>> find_instance(const CliEnv& env, const std::string& name);
// Every folder under instances/ (provisioned instances), sorted.
std::vector<std::string> instance_names(const CliEnv& env);

// The Blueprints a run can name: the project's blueprints/ folders and the Host manifests'.
std::vector<std::string> blueprint_names(const CliEnv& env);

// Which instance and Blueprint `run`/`shell` mean (the original tool's rules): with two words,
// BLUEPRINT NAME; with one, an existing instance keeps its blueprint, a Blueprint's name means
// the instance <blueprint>_session, else the first Blueprint whose name begins the instance's
// name, else base. Errors: an unknown Blueprint, or an instance of another Blueprint.
struct Target {
  std::string blueprint;
  std::string name;
  std::optional<Instance> existing;
};
Result<Target> resolve_target(const CliEnv& env, const std::vector<std::string>& words);

// The Sandbox manifest text of an instance (a YAML document; the spec as a flow mapping).
std::string instance_manifest_text(const std::string& name, const nlohmann::json& spec,
                                   const std::string& written_by);

// Loads the Host manifests and every active instance, with `name`'s manifest taken from
// `candidate` (a file not yet in place) when given, or left out when `without` is set.
// Prints the errors (exit status in `status`) and returns nullopt when anything is invalid.
std::optional<ManifestSet> load_instances(CliEnv& env, const char* cmd, int& status,
                                          const std::string& name = "",
                                          const std::string& candidate = "", bool without = false);

}  // namespace acctl::cli
