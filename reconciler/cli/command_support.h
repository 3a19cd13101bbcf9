// What the commands share: option parsing, where things are (state folder, project, engines),
// loading manifests, and running the converge pipeline with its output.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "converge/pipeline.h"
#include "converge/system.h"
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
  // When the command must be over (--timeout from its start); engines opened for it carry it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Parses the options a subcommand accepts (long names in `allowed`) from args[from...];
// returns the problem, or "".
std::string parse_flags(const std::vector<std::string>& args, size_t from, Flags& f,
                        const std::vector<std::string>& allowed);
// Parses a subcommand's options (long names in `allowed`) and checks -o against `outputs` (the
// first is the default). Prints the problem and returns false on a usage error.
bool parse_command_flags(const char* cmd, const std::vector<std::string>& args,
                         const std::vector<std::string>& allowed,
                         const std::vector<std::string>& outputs, Flags& f, CliEnv& env);
// "90s", "5m", "1h", "1500ms" or plain seconds.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);
// --timeout, or `fallback`; prints the problem and returns nullopt for a bad one.
std::optional<std::chrono::milliseconds> timeout_flag(const Flags& f, CliEnv& env, const char* cmd,
                                                      std::chrono::milliseconds fallback);
// Sets f.deadline from --timeout (or `fallback`); false, after saying why, for a bad one.
bool set_deadline(Flags& f, CliEnv& env, const char* cmd, std::chrono::milliseconds fallback);

const System& system_of(const CliEnv& env);
// Where <name>/blueprint.yaml files live: $ACCTL_BLUEPRINTS, else the checkout's blueprints/.
std::string default_blueprints_dir(const CliEnv& env);
// The folder holding instances/ and run/: $ACCTL_HOME, else the checkout, else the current one.
std::string state_dir(const CliEnv& env);
// The project's root (blueprints/, images/, manifests/, runtime/).
std::string project_root(const CliEnv& env);

engine::EngineOptions engine_options(const CliEnv& env, const std::string& address);
// The same, bounded by the command's deadline.
engine::EngineOptions engine_options(const CliEnv& env, const std::string& address, const Flags& f);
Result<std::shared_ptr<engine::EngineApi>> connect(CliEnv& env,
                                                   const engine::EngineOptions& options);
// Connects to --engine (else $DOCKER_HOST, else the socket), printing the error.
std::shared_ptr<engine::EngineApi> open_engine(const Flags& f, CliEnv& env, const char* cmd);

// Loads and validates manifests, prints errors; nullopt with `status` set on failure.
std::optional<ManifestSet> load_checked(const Flags& f, CliEnv& env, const char* cmd, int& status);

// Runs the converge pipeline on `model`, printing plans and steps (text, or JSON events with
// -o json) as it goes: the body of diff, apply and start. Returns the exit status.
int run_converge(const Model& model, ConvergeMode mode, const Flags& f, CliEnv& env,
                 const char* cmd, std::chrono::milliseconds timeout);
// The same with options of the caller's (mode, timeout, prune_only, start_again, rebuild);
// prune, wait and parallel also come from `f`.
int run_converge(const Model& model, ConvergeOptions options, const Flags& f, CliEnv& env,
                 const char* cmd);

// Removes every managed object of the named (kind, name) targets from one engine.
int delete_objects(const std::vector<std::pair<std::string, std::string>>& targets,
                   const engine::EngineOptions& options, const Flags& f, CliEnv& env);

std::string seconds_text(std::chrono::milliseconds ms);
std::chrono::milliseconds since(std::chrono::steady_clock::time_point start);
std::string count_of(size_t n, const std::string& one, const std::string& many);

// The commands, by group: manifest_commands.cc, host_commands.cc, image_commands.cc.
struct Command {
  int (*run)(const std::vector<std::string>& args, CliEnv& env);
  const char* help;
};
extern const Command kValidate, kDiff, kApply, kDelete, kGet, kSchema;
extern const Command kStart, kStop, kDown, kStatus, kLogs;
extern const Command kBuild;
extern const Command kRun, kShell, kList, kClean, kDestroy;
extern const Command kPolicy;

}  // namespace acctl::cli
