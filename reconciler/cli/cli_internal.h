// What the subcommands share: option parsing, the engine connection, the apply pipeline.
// cli.cc holds the manifest commands, cli_host.cc the sandbox-host ones (start, stop, down,
// status, logs).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "engine/engine_api.h"
#include "manifest/manifest.h"

namespace acctl::cli {

struct Flags {
  std::vector<std::string> files;
  std::string output;
  std::string blueprints;
  std::string engine;
  std::string timeout;
  int parallel = 4;
  bool quiet = false, prune = false, dry_run = false, wait = false, follow = false;
  std::vector<std::string> positional;
};

// Parses a subcommand's options (long names in `allowed`) and checks -o against `outputs` (the
// first is the default). Prints the problem and returns false on a usage error.
bool parse_command_flags(const char* cmd, const std::vector<std::string>& args,
                         const std::vector<std::string>& allowed,
                         const std::vector<std::string>& outputs, Flags& f, CliEnv& env);
std::optional<std::chrono::milliseconds> timeout_flag(const Flags& f, CliEnv& env, const char* cmd,
                                                      std::chrono::milliseconds fallback);

// The folder holding instances/ and run/: $ACCTL_HOME, else the checkout, else the current one.
std::string state_dir(const CliEnv& env);
// The project's root (blueprints/, images/, manifests/).
std::string project_root(const CliEnv& env);
engine::EngineOptions engine_options_for(const std::string& address);
engine::Result<std::shared_ptr<engine::EngineApi>> connect(CliEnv& env,
                                                           const engine::EngineOptions& options);

// Loads and validates manifests, prints errors; nullopt with `status` set on failure.
std::optional<ManifestSet> load_checked(const Flags& f, CliEnv& env, const char* cmd, int& status);
// Converges every engine the manifests name (apply's body).
int apply_set(const ManifestSet& set, const Flags& f, CliEnv& env, const char* cmd,
              std::chrono::milliseconds timeout);
// Removes every managed object of the named (kind, name) targets from one engine.
int delete_objects(const std::vector<std::pair<std::string, std::string>>& targets,
                   const engine::EngineOptions& options, const Flags& f, CliEnv& env);

std::string seconds_text(std::chrono::milliseconds ms);
std::chrono::milliseconds since(std::chrono::steady_clock::time_point start);

// The sandbox-host commands (cli_host.cc).
extern const char* const kStartHelp;
extern const char* const kStopHelp;
extern const char* const kDownHelp;
extern const char* const kStatusHelp;
extern const char* const kLogsHelp;
int cmd_start(const std::vector<std::string>& args, CliEnv& env);
int cmd_stop(const std::vector<std::string>& args, CliEnv& env);
int cmd_down(const std::vector<std::string>& args, CliEnv& env);
int cmd_status(const std::vector<std::string>& args, CliEnv& env);
int cmd_logs(const std::vector<std::string>& args, CliEnv& env);

}  // namespace acctl::cli
