// init-guard's logic: see guard.h.
#include "init-guard/guard.h"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "init-guard/gate_trust.h"
#include "init-guard/vault_setup.h"

namespace acctl::guard {

namespace {

constexpr std::string_view kPreload = "LD_PRELOAD=";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// What init-guard passes on to the command.
bool forwarded(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGHUP:
    case SIGQUIT:
    case SIGWINCH:
    case SIGUSR1:
    case SIGUSR2:
      return true;
    default:
      return false;
  }
}

// As PID 1: the command as a child, its signals forwarded, every orphan reaped; the vault
// daemon's end is said (git and gh then fail closed), not hidden.
int supervise(GuardSystem& sys, pid_t child, pid_t daemon) {
  for (;;) {
    auto sig = sys.wait_signal();
    if (!sig) {
      sys.say("init-guard: waiting for signals: " + sig.error().message);
      sys.send(child, SIGKILL);
      return kExitGuardFailed;
    }
    if (*sig != SIGCHLD) {
      if (forwarded(*sig)) sys.send(child, *sig);
      continue;
    }
    while (auto done = sys.reap()) {
      if (done->first == child) return exit_status_of(done->second);
      if (daemon > 0 && done->first == daemon) {
        sys.say("init-guard: the vault daemon ended (status " +
                std::to_string(exit_status_of(done->second)) +
                "); git and gh get no credentials until the sandbox is started again");
        daemon = 0;
      }
    }
  }
}

}  // namespace

std::vector<std::string> as_agent(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const std::string& e : env) {
    if (!starts_with(e, "HOME=") && !starts_with(e, "USER=") && !starts_with(e, "LOGNAME="))
      out.push_back(e);
  }
  out.insert(out.end(), {std::string("HOME=") + kHome, "USER=agent", "LOGNAME=agent"});
  return out;
}

Result<Options> parse_args(const std::vector<std::string>& args) {
  Options o;
  size_t i = 0;
  for (; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--enter") {
      o.enter = true;
    } else {
      return Error{0, "init-guard: unknown option " + args[i] +
                          " (usage: init-guard [--enter] -- COMMAND [ARG...])"};
    }
  }
  if (i == args.size() || i + 1 == args.size())
    return Error{0, "init-guard: no command (usage: init-guard [--enter] -- COMMAND [ARG...])"};
  o.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
  return o;
}

bool wants_hook(const std::vector<std::string>& env) {
  const std::string prefix = std::string(kGateVariable) + "=";
  for (const std::string& e : env) {
    if (starts_with(e, prefix) && e.size() > prefix.size()) return true;
  }
  return false;
}

std::vector<std::string> command_environment(const std::vector<std::string>& env,
                                             const std::vector<std::string>& hooks) {
  std::vector<std::string> out;
  if (hooks.empty()) return env;
  std::string first;
  for (const std::string& h : hooks) first += (first.empty() ? "" : ":") + h;
  auto is_hook = [&](std::string_view lib) {
    for (const std::string& h : hooks)
      if (lib == h) return true;
    return false;
  };
  bool had_preload = false;
  for (const std::string& e : env) {
    if (!starts_with(e, kPreload)) {
      out.push_back(e);
      continue;
    }
    if (had_preload) continue;  // a second LD_PRELOAD entry would be the one the loader reads
    had_preload = true;
    std::string rest;
    std::string_view list = std::string_view(e).substr(kPreload.size());
    // The loader splits on ':' and ' '; keep every other library, after the hook, once.
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find_first_of(": ", start);
      if (end == std::string_view::npos) end = list.size();
      std::string_view lib = list.substr(start, end - start);
      if (!lib.empty() && !is_hook(lib)) rest += ":" + std::string(lib);
      start = end + 1;
    }
    out.push_back(std::string(kPreload) + first + rest);
  }
  if (!had_preload) out.push_back(std::string(kPreload) + first);
  return out;
}

int exit_status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitGuardFailed;
}

int run(GuardSystem& sys, const Options& options, const std::vector<std::string>& given_env) {
  const bool pid1 = !options.enter && sys.getpid() == 1;
  // A sandbox with credentials: no token variable survives into anything that forks, and as
  // PID 1 (root) the vault is set up before the agent exists.
  const bool vault = sys.geteuid() == 0 && sys.is_dir(kSecretsDir);
  std::vector<std::string> env = given_env;
  pid_t daemon = 0;
  if (vault) {
    std::vector<std::string> dropped;
    env = without_tokens(given_env, &dropped);
    for (const std::string& name : dropped)
      sys.say("init-guard: " + name + " is not passed on: the vault holds this sandbox's tokens");
    if (pid1) {
      auto d = set_up_vault(sys, env);
      if (!d) {
        sys.say("init-guard: " + d.error().message);
        return kExitGuardFailed;
      }
      daemon = *d;
    }
    if (sys.is_file(kGitConfig)) env.push_back(std::string("GIT_CONFIG_SYSTEM=") + kGitConfig);
    env = with_vault_path(env);
  }
  // Become the agent: nothing below runs as root, and there must be no way back. A root start
  // (docker exec's defaults) leaves root's HOME and names behind: the agent's instead.
  if (sys.geteuid() == 0) {
    env = as_agent(env);
    if (auto d = sys.drop_to(kAgentUid, kAgentGid); !d) {
      sys.say("init-guard: cannot become uid " + std::to_string(kAgentUid) + ": " +
              d.error().message);
      return kExitGuardFailed;
    }
  }
  if (auto c = sys.check_dropped(kAgentUid, kAgentGid); !c) {
    sys.say("init-guard: refusing to run the agent: " + c.error().message);
    return kExitGuardFailed;
  }
  // The gate adds this sandbox's tokens: the agent trusts its CA and holds placeholders. Done
  // as the agent, whose tmpfs the bundle goes to; entering finds the bundle PID 1 wrote.
  if (wants_gate_trust(env)) {
    if (pid1) {
      if (auto w = write_trust_bundle(sys, env); !w) {
        sys.say("init-guard: " + w.error().message);
        return kExitGuardFailed;
      }
    }
    std::vector<std::string> replaced;
    env = with_gate_trust(env, &replaced);
    for (const std::string& name : replaced)
      sys.say("init-guard: " + name +
              " is not passed on: the gate adds this sandbox's tokens, gh and glab get a "
              "placeholder");
  }
  // The blocked-paths hook whenever the image has it; it must be there when there are blocked
  // paths to say no to.
  std::vector<std::string> hooks;
  if (sys.is_file(kPathHook)) {
    hooks.push_back(kPathHook);
  } else if (!env_value(env, kBlockedPathsVariable).empty()) {
    sys.say(std::string("init-guard: the blocked-paths hook ") + kPathHook +
            " is missing from the image; refusing to run without it");
    return kExitGuardFailed;
  }
  if (wants_hook(env)) {
    if (!sys.is_file(kNetHook)) {
      sys.say(std::string("init-guard: the connect() hook ") + kNetHook +
              " is missing from the image; refusing to run without it");
      return kExitGuardFailed;
    }
    hooks.push_back(kNetHook);
  }
  const std::vector<std::string> cmd_env = command_environment(env, hooks);

  if (!pid1) {
    const int err = sys.exec(options.command, cmd_env);
    sys.say("init-guard: cannot run " + options.command[0] + ": " + std::strerror(err));
    return err == ENOENT ? kExitNotFound : kExitCannotRun;
  }
  if (auto b = sys.block_signals(); !b) {
    sys.say("init-guard: " + b.error().message);
    return kExitGuardFailed;
  }
  auto child = sys.spawn(options.command, cmd_env);
  if (!child) {
    sys.say("init-guard: cannot start " + options.command[0] + ": " + child.error().message);
    return kExitGuardFailed;
  }
  return supervise(sys, *child, daemon);
}

}  // namespace acctl::guard
