// acctl's entry into the commands: the command table, the main help, dispatch.
#include "cli/cli.h"

#include <map>

#include "cli/command_support.h"
#include "cli/version.h"

namespace acctl {
namespace cli {
namespace {

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

Sandboxes by name (instances/NAME: a Sandbox manifest beside its workspace, home, secrets):
  run [BLUEPRINT] NAME [--cpus N] [--memory X] [--gpus X] [--wait] [-- ARGS]
                        run an agent headless (pi, claude, codex, gemini, opencode, base, ...)
  shell [BLUEPRINT] NAME
                        a shell as the agent (uid 1000) in the sandbox, started idle if needed
  list                  running sandboxes and provisioned instances, with sizes
  clean NAME            remove the container and credentials; keep home and workspace
  destroy NAME [--yes]  remove the container, credentials, home and workspace

  policy check SANDBOX NAME[:PORT]|URL
                        whether the sandbox's gate would allow it, and the rule that decided
  schema [KIND]         print the JSON Schema of a kind, or of any document
  version               print the version
  help [COMMAND]        show help for a command

Exit status: 0 success, 1 invalid manifests (validate) or pending changes (diff),
2 usage, engine or internal error.
Run 'acctl <command> --help' for a command's options.
)";

constexpr const char* kVersionHelp = "Usage: acctl version\n\nPrints acctl's version.\n";

int cmd_version(const std::vector<std::string>& args, CliEnv& env) {
  env.out << "acctl " << kVersion << "\n";
  return kExitOk;
}

bool wants_help(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") return true;
  }
  return false;
}

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> all = {
      {"validate", kValidate}, {"diff", kDiff},     {"apply", kApply},
      {"delete", kDelete},     {"get", kGet},       {"build", kBuild},
      {"start", kStart},       {"stop", kStop},     {"down", kDown},
      {"status", kStatus},     {"run", kRun},       {"shell", kShell},
      {"list", kList},         {"clean", kClean},   {"destroy", kDestroy},
      {"logs", kLogs},         {"schema", kSchema}, {"version", {cmd_version, kVersionHelp}},
      {"policy", kPolicy},
  };
  return all;
}

}  // namespace
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
