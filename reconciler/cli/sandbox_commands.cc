// The sandbox commands of the original tool: run, shell, list, clean, destroy. Each writes or
// removes an instance's Sandbox manifest (instances.h) and converges, like apply.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "cli/instances.h"
#include "cli/terminal_session.h"
#include "common/files.h"
#include "common/private_dir.h"
#include "engine/deadline.h"
#include "manifest/quantity.h"

namespace acctl::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRunHelp =
    R"(Usage: acctl run [BLUEPRINT] NAME [--cpus N] [--memory|-m SIZE] [--gpus all|N|ID,ID]
                 [--pids N] [--env K=V]... [--credential PROVIDER=env:VAR|file:PATH]...
                 [--delivery gate|vault] [--repository OWNER/REPO]... [--allow-push]
                 [--block PATH]... [--policy P] [--host H] [--build] [--wait]
                 [--timeout D] [-- ARGS...]

Runs an agent headless in the sandbox instance NAME: writes its Sandbox manifest to
instances/NAME/sandbox.yaml (beside its workspace/, home/ and secrets/, each 0700) and converges
it with the Host manifests (those acctl start uses: $ACCTL_MANIFESTS, else
manifests/quickstart.yaml) and every other instance, as apply would: the image is built when
its Blueprint changed, limits change in place, and a run that finished runs again. ARGS go to
the Blueprint's run script.

With one word, NAME: an existing instance keeps its Blueprint; a Blueprint's own name means the
instance <blueprint>_session; otherwise the Blueprint is the first whose name begins NAME, else
base. Running an existing instance with other options changes it.

Options:
  --cpus N, --memory SIZE, --pids N   the sandbox's limits (1.5, 1g, 256)
  --gpus all|N|ID,ID  GPUs, through gVisor's GPU proxy (the engine needs the NVIDIA runtime)
  --env K=V           an environment variable for the agent (repeatable); the agent reads it
  --credential github=env:GITHUB_TOKEN, gitlab=file:~/.config/glab/token
                      a token for git, gh and glab, never in the agent's environment
                      (paranoid Blueprints; read when converging)
  --delivery gate|vault
                      how the instance's credentials reach git (all of them: one delivery per
                      Sandbox). gate, the default: the Host's gate adds the token to each
                      request and the sandbox never holds it (a dind Host; the gate keeps its
                      copy in run/hosts/HOST/gate/secrets/NAME). vault: the vault inside the
                      sandbox hands it to git, gh and glab (kept in secrets/)
  --repository OWNER/REPO
                      the only repositories the credentials reach (repeatable; GitLab:
                      GROUP/SUB/REPO); the gate refuses every other (delivery gate only)
  --allow-push        let git push have the credentials too (default: clone and fetch only)
  --block PATH        a path inside the sandbox the agent may not open (repeatable)
  --policy P          the EgressPolicy (default: default); --host H: the Host
  --build             build the Blueprint's image again, without the layer cache
  --wait              stay, print the agent's output, exit with its exit status
  --timeout D         how long converging may take (default 30m)
The plan and steps go to standard error, so standard output is the agent's.

Exit status: with --wait the agent's; else 0 once the agent runs, 1 invalid options or
manifests, 2 error.
Example: acctl run pi my_pi_run --cpus 2 --memory 1g -- -p "explain this repo"
)";

constexpr const char* kShellHelp = R"(Usage: acctl shell [BLUEPRINT] NAME [--timeout D]

Opens a shell as the agent (uid 1000) in the sandbox instance NAME: inside its running
container, else after starting it idle first (the instance is made when missing, with the
run command's naming rules). On a terminal the shell gets one (raw mode, the window's size,
kept up to date); with pipes it reads standard input: `echo 'id -u' | acctl shell NAME`
prints 1000. The shell has the agent's environment and limits.

Exit status: the shell's.
)";

constexpr const char* kListHelp = R"(Usage: acctl list [-o text|json] [--timeout D]

The sandboxes on every Host of the Host manifests (nested engines included), with Blueprint,
state, uptime and limits; then every provisioned instance (instances/NAME) with its workspace
and home sizes and whether credentials are stored.
)";

constexpr const char* kCleanHelp = R"(Usage: acctl clean NAME [--timeout D]

Stops and removes the instance's container and every credential stored for it (the vault's
copy in instances/NAME/secrets, a gate's in run/hosts/HOST/gate/secrets/NAME); keeps home/
and workspace/. Its manifest is kept aside
(sandbox.yaml.cleaned), so a later `acctl run NAME` keeps its Blueprint and settings.

Exit status: 0 cleaned, 1 no such instance, 2 error.
)";

constexpr const char* kDestroyHelp = R"(Usage: acctl destroy NAME [--yes] [--timeout D]

Removes the instance for good: its container, credentials, home and workspace. Asks first on
a terminal; without one, --yes is required.

Exit status: 0 destroyed, 1 no such instance (or not confirmed), 2 error.
)";

// What run and shell are told.
struct RunOptions {
  std::vector<std::string> words;  // [BLUEPRINT] NAME
  std::optional<std::string> cpus, memory, gpus, pids, policy, host;
  std::vector<std::string> env;
  std::map<std::string, std::pair<std::string, std::string>> credentials;  // provider → kind, value
  std::vector<std::string> blocked;
  std::optional<std::string> delivery;  // of every credential
  std::vector<std::string> repositories;
  std::optional<std::vector<std::string>> args;  // after "--"
  bool build = false, wait = false, yes = false, allow_push = false;
  Flags flags;  // --timeout, -o
};

// run/shell/destroy options; "" or the problem.
std::string parse_run_options(const std::vector<std::string>& args, bool run_flags, RunOptions& o) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      if (!run_flags) return "unexpected --";
      o.args = std::vector<std::string>(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (a.starts_with("--") && a.find('=') != std::string::npos) {
      name = a.substr(0, a.find('='));
      value = a.substr(a.find('=') + 1);
      inline_value = true;
    }
    if (name == "-m") name = "--memory";
    if (name == "-o") name = "--output";
    auto take = [&]() -> std::optional<std::string> {
      if (inline_value) return value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (name == "--build" || name == "--wait" || name == "--yes" || name == "--allow-push") {
      if (inline_value) return "option " + name + " takes no value";
      if (name == "--allow-push") {
        if (!run_flags) return "unknown option " + a;
        o.allow_push = true;
        continue;
      }
      if (name == "--yes") {
        o.yes = true;
        continue;
      }
      if (!run_flags) return "unknown option " + a;
      (name == "--build" ? o.build : o.wait) = true;
      continue;
    }
    static const std::set<std::string> kRunValued = {
        "--cpus", "--memory",     "--gpus",  "--pids",     "--env",       "--policy",
        "--host", "--credential", "--block", "--delivery", "--repository"};
    if (name == "--timeout" || name == "--output" || (run_flags && kRunValued.count(name))) {
      auto v = take();
      if (!v) return "option " + name + " needs a value";
      if (name == "--timeout") o.flags.timeout = *v;
      if (name == "--output") o.flags.output = *v;
      if (name == "--cpus") o.cpus = *v;
      if (name == "--memory") o.memory = *v;
      if (name == "--gpus") o.gpus = *v;
      if (name == "--pids") o.pids = *v;
      if (name == "--policy") o.policy = *v;
      if (name == "--host") o.host = *v;
      if (name == "--block") o.blocked.push_back(*v);
      if (name == "--repository") o.repositories.push_back(*v);
      if (name == "--delivery") {
        if (*v != "gate" && *v != "vault") return "--delivery takes gate or vault, not " + *v;
        o.delivery = *v;
      }
      if (name == "--credential") {
        const size_t eq = v->find('='), colon = v->find(':', eq == std::string::npos ? 0 : eq);
        const std::string kind =
            colon == std::string::npos ? "" : v->substr(eq + 1, colon - eq - 1);
        if (eq == std::string::npos || eq == 0 || (kind != "env" && kind != "file") ||
            colon + 1 == v->size())
          return "--credential takes PROVIDER=env:VARIABLE or PROVIDER=file:PATH, not " + *v;
        o.credentials[v->substr(0, eq)] = {kind, v->substr(colon + 1)};
      }
      if (name == "--env") {
        if (v->find('=') == std::string::npos || v->front() == '=')
          return "--env takes K=V, not " + *v;
        o.env.push_back(*v);
      }
      continue;
    }
    if (a.starts_with("-") && a != "-") return "unknown option " + a;
    o.words.push_back(a);
  }
  return "";
}

// The run options written into a Sandbox spec (validation judges them afterwards). ""
// or the problem.
std::string apply_options(json& spec, const RunOptions& o) {
  auto& res = spec["resources"];
  if (!res.is_object()) res = json::object();
  if (o.cpus) res["cpus"] = *o.cpus;
  if (o.memory) res["memory"] = *o.memory;
  if (o.pids) {
    const std::string& p = *o.pids;
    const bool digits = !p.empty() && p.size() < 10 && p.find_first_not_of("0123456789") == p.npos;
    res["pids"] = digits ? json(std::stoll(p)) : json(p);  // a non-number fails validation
  }
  if (o.gpus) {
    const std::string& g = *o.gpus;
    if (g == "all") {
      res["gpus"] = "all";
    } else if (!g.empty() && g.find_first_not_of("0123456789") == g.npos && g.size() < 6) {
      res["gpus"] = std::stoi(g);
    } else {
      json ids = json::array();
      std::stringstream ss(g);
      for (std::string id; std::getline(ss, id, ',');) ids.push_back(id);
      res["gpus"] = ids;
    }
  }
  if (res.empty()) spec.erase("resources");
  for (const std::string& kv : o.env) {
    if (!spec["env"].is_object()) spec["env"] = json::object();
    spec["env"][kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  // Only where the token comes from: its value is read when converging, never written here.
  // A new source keeps the delivery the instance had for that provider.
  for (const auto& [provider, source] : o.credentials) {
    json c = {{source.first, source.second}};
    if (spec.contains("credentials") && spec["credentials"].contains(provider) &&
        spec["credentials"][provider].contains("delivery"))
      c["delivery"] = spec["credentials"][provider]["delivery"];
    spec["credentials"][provider] = c;
  }
  if (o.delivery) {
    if (!spec.contains("credentials") || !spec["credentials"].is_object() ||
        spec["credentials"].empty())
      return "--delivery says how credentials reach git, and the instance has none: add "
             "--credential";
    for (auto& [provider, c] : spec["credentials"].items()) {
      if (c.is_object()) c["delivery"] = *o.delivery;
    }
  }
  if (!o.repositories.empty()) spec["git"]["repositories"] = o.repositories;
  if (o.allow_push) spec["git"]["allowPush"] = true;
  if (!o.blocked.empty()) spec["blockedPaths"] = o.blocked;
  if (o.policy) spec["egressPolicy"] = *o.policy;
  if (o.host) spec["host"] = *o.host;
  if (o.args) spec["args"] = *o.args;
  return "";
}

std::string command_line(const std::vector<std::string>& args) {
  std::string out = "acctl";
  for (const std::string& a : args) out += " " + a;
  return out;
}

// Writes the instance's manifest, but only once the whole set (Hosts, every instance, this
// one) is valid: a bad option never leaves a bad manifest behind. -> the set.
std::optional<ManifestSet> update_instance(CliEnv& env, const char* cmd, const Target& t,
                                           const json& spec, const std::string& written_by,
                                           int& status) {
  const std::string state = state_dir(env);
  std::optional<PrivateDirOwner>
      root_only;  // instances/NAME: root's, 0700 (acctl's, not the agent's)
  auto dir = make_private_dir(state, "instances/" + t.name, root_only);
  if (!dir) {
    env.err << "acctl " << cmd << ": " << dir.error().message << "\n";
    status = kExitUsage;
    return std::nullopt;
  }
  const InstancePaths paths = instance_paths(state, t.name);
  const std::string candidate = paths.manifest() + ".new";
  auto w = write_file_atomically(candidate, instance_manifest_text(t.name, spec, written_by), 0600);
  if (!w) {
    env.err << "acctl " << cmd << ": " << w.error().message << "\n";
    status = kExitUsage;
    return std::nullopt;
  }
  auto set = load_instances(env, cmd, status, t.name, candidate);
  std::error_code ec;
  if (!set) {
    fs::remove(candidate, ec);
    return std::nullopt;
  }
  fs::rename(candidate, paths.manifest(), ec);
  if (ec) {
    env.err << "acctl " << cmd << ": cannot write " << paths.manifest() << ": " << ec.message()
            << "\n";
    status = kExitUsage;
    return std::nullopt;
  }
  fs::remove(paths.cleaned_manifest(), ec);
  // secrets/: root's and 0700 like the instance folder (never the agent's); credentials land
  // there, and clean empties it.
  if (auto sd = make_private_dir(state, "instances/" + t.name + "/secrets", root_only); !sd) {
    env.err << "acctl " << cmd << ": " << sd.error().message << "\n";
    status = kExitUsage;
    return std::nullopt;
  }
  return set;
}

// The engine an instance's container is on: its Host's, or the Host's nested engine.
Result<std::shared_ptr<engine::EngineApi>> sandbox_engine(CliEnv& env, const Model& model,
                                                          const std::string& name, const Flags& f) {
  const Sandbox* s = model.find_sandbox(name);
  const Host* h = s ? model.find_host(s->spec.host) : nullptr;
  if (!h) return Error{0, "no Sandbox " + name + " in the manifests"};
  engine::EngineOptions o = engine_options(env, h->spec.engine, f);
  if (h->spec.isolation == Isolation::kDind) {
    o.host = host_paths(state_dir(env), h->meta.name).endpoint();
    o.tls = false;
  }
  auto api = connect(env, o);
  if (!api) {
    return Error{0, "the engine of Sandbox/" + name + " (" + o.host +
                        ") does not answer: " + api.error().message +
                        (h->spec.isolation == Isolation::kDind
                             ? " (is Host/" + h->meta.name + " started? acctl start)"
                             : "")};
  }
  return *api;
}

// A copy of env whose standard output is its standard error: the converge's lines stay out of
// the way of the agent's or the shell's output.
CliEnv progress_to_stderr(CliEnv& env) {
  CliEnv quiet{env.in, env.err, env.err, env.self_path, env.connect_engine, false, env.system};
  return quiet;
}

int converge_instances(const ManifestSet& set, CliEnv& env, const char* cmd, const Flags& f,
                       std::chrono::milliseconds timeout, ConvergeOptions co) {
  co.mode = ConvergeMode::kApply;
  co.timeout = timeout;
  CliEnv quiet = progress_to_stderr(env);
  Flags text = f;
  text.output = "text";
  return run_converge(set.model, co, text, quiet, cmd);
}

// Streams a container's output from `since_ns` (unix nanoseconds: this run's, not the ones
// before) and returns its exit status.
int follow_to_exit(engine::EngineApi& api, const std::string& container, int64_t since_ns,
                   CliEnv& env) {
  engine::LogOptions lo;
  lo.follow = true;
  lo.since_ns = since_ns;
  auto s = api.logs(container, lo, [&](engine::LogStream stream, std::string_view bytes) {
    auto& out = stream == engine::LogStream::kStderr ? env.err : env.out;
    out << bytes;
    out.flush();
    return true;
  });
  if (!s) {
    env.err << "acctl run: " << s.error().message << "\n";
    return kExitUsage;
  }
  auto code = api.wait_container(container);
  if (!code) {
    env.err << "acctl run: " << code.error().message << "\n";
    return kExitUsage;
  }
  return std::clamp(*code, 0, 255);
}

int cmd_run(const std::vector<std::string>& args, CliEnv& env) {
  RunOptions o;
  if (auto e = parse_run_options(args, true, o); !e.empty()) {
    env.err << "acctl run: " << e << "\nRun 'acctl run --help' for usage.\n";
    return kExitUsage;
  }
  auto timeout = timeout_flag(o.flags, env, "run", std::chrono::minutes(30));
  if (!timeout) return kExitUsage;
  auto t = resolve_target(env, o.words);
  if (!t) {
    env.err << "acctl run: " << t.error().message << "\n";
    return kExitInvalid;
  }
  json spec = t->existing ? t->existing->spec : json::object();
  spec["blueprint"] = t->blueprint;
  spec["mode"] = "headless";
  if (auto e = apply_options(spec, o); !e.empty()) {
    env.err << "acctl run: " << e << "\nRun 'acctl run --help' for usage.\n";
    return kExitUsage;
  }
  int status = kExitOk;
  auto set = update_instance(env, "run", *t, spec, command_line(args), status);
  if (!set) return status;
  ConvergeOptions co;
  const std::string container = sandbox_container_name(t->name);
  co.start_again = {container};
  const Blueprint* bp = set->model.find_blueprint(t->blueprint);
  if (o.build && bp && bp->spec.image.empty()) co.rebuild = {blueprint_image_tag(bp->meta.name)};
  const int64_t since = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  if (int r = converge_instances(*set, env, "run", o.flags, *timeout, co); r != kExitOk) return r;
  auto api = sandbox_engine(env, set->model, t->name, Flags{});
  if (!api) {
    env.err << "acctl run: " << api.error().message << "\n";
    return kExitUsage;
  }
  if (o.wait) return follow_to_exit(**api, container, since, env);
  auto info = (*api)->inspect_container(container);
  const std::string state = info ? info->state.status : "missing";
  env.out << t->name << " (Blueprint " << t->blueprint << ") is " << state
          << ". Follow it: acctl logs agent " << t->name << " -f; see it: acctl list\n";
  return kExitOk;
}

// The shell: bash as a login shell where the image has it, else sh.
const std::vector<std::string> kShellCommand = {
    "/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"};

// Whether the instance's sandbox runs behind init-guard (a paranoid Blueprint built by acctl).
bool guarded(const Model& model, const std::string& name) {
  const Sandbox* s = model.find_sandbox(name);
  const Blueprint* b = s ? model.find_blueprint(s->spec.blueprint) : nullptr;
  return b && b->spec.hardening == Hardening::kParanoid && b->spec.image.empty();
}

int exec_shell(engine::EngineApi& api, const std::string& container, bool through_guard,
               CliEnv& env) {
  engine::ExecSpec spec;
  // A paranoid sandbox's shell enters through init-guard, as its agent started: the same checks
  // and hooks (the original tool's shell skipped its init step).
  if (through_guard) spec.cmd = {kInitGuard, "--enter", "--"};
  spec.cmd.insert(spec.cmd.end(), kShellCommand.begin(), kShellCommand.end());
  spec.tty = ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
  spec.attach_stdin = true;
  spec.env = {"TERM=" + system_of(env).env("TERM").value_or("xterm-256color")};
  auto id = api.create_exec(container, spec);
  if (!id) {
    env.err << "acctl shell: " << id.error().message << "\n";
    return kExitUsage;
  }
  auto stream = api.start_exec(*id, spec.tty);
  if (!stream) {
    env.err << "acctl shell: " << stream.error().message << "\n";
    return kExitUsage;
  }
  env.out.flush();
  if (auto s = run_session(**stream); !s) {
    env.err << "acctl shell: " << s.error().message << "\n";
    return kExitUsage;
  }
  stream->reset();
  // The stream ends a moment before the engine records the exit.
  const System& sys = system_of(env);
  for (int i = 0; i < 50; ++i) {
    auto info = api.inspect_exec(*id);
    if (!info) break;
    if (!info->running && info->exit_code) return std::clamp(*info->exit_code, 0, 255);
    sys.sleep_for(std::chrono::milliseconds(100));
  }
  env.err << "acctl shell: the engine did not say how the shell ended\n";
  return kExitUsage;
}

int cmd_shell(const std::vector<std::string>& args, CliEnv& env) {
  RunOptions o;
  if (auto e = parse_run_options(args, false, o); !e.empty()) {
    env.err << "acctl shell: " << e << "\nRun 'acctl shell --help' for usage.\n";
    return kExitUsage;
  }
  auto timeout = timeout_flag(o.flags, env, "shell", std::chrono::minutes(30));
  if (!timeout) return kExitUsage;
  auto t = resolve_target(env, o.words);
  if (!t) {
    env.err << "acctl shell: " << t.error().message << "\n";
    return kExitInvalid;
  }
  const std::string container = sandbox_container_name(t->name);
  int status = kExitOk;
  // Running already: straight in.
  if (t->existing && !t->existing->cleaned) {
    auto set = load_instances(env, "shell", status);
    if (!set) return status;
    auto api = sandbox_engine(env, set->model, t->name, Flags{});
    if (api) {
      auto info = (*api)->inspect_container(container);
      if (info && info->state.running)
        return exec_shell(**api, container, guarded(set->model, t->name), env);
    }
  }
  // Otherwise the instance runs idle (a finished headless one is replaced by an idle one; its
  // workspace and home stay).
  json spec = t->existing ? t->existing->spec : json::object();
  spec["blueprint"] = t->blueprint;
  spec["mode"] = "idle";
  auto set = update_instance(env, "shell", *t, spec, command_line(args), status);
  if (!set) return status;
  ConvergeOptions co;
  co.start_again = {container};
  if (int r = converge_instances(*set, env, "shell", o.flags, *timeout, co); r != kExitOk) return r;
  auto api = sandbox_engine(env, set->model, t->name, Flags{});
  if (!api) {
    env.err << "acctl shell: " << api.error().message << "\n";
    return kExitUsage;
  }
  return exec_shell(**api, container, guarded(set->model, t->name), env);
}

// Total size of the regular files below a folder, symlinks never followed.
int64_t folder_bytes(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return 0;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_symlink(e2)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(e2)) total += static_cast<int64_t>(it->file_size(e2));
  }
  return total;
}

// Removes every file in a folder (not the folder), symlinks as links.
Status empty_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return ok_status();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code e2;
    fs::remove_all(e.path(), e2);
    if (e2) return Error{0, "cannot remove " + e.path().string() + ": " + e2.message()};
  }
  return ok_status();
}

bool has_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return false;
  return fs::directory_iterator(dir, ec) != fs::directory_iterator();
}

// The folders a gate keeps an instance's tokens in (gate delivery): run/hosts/HOST/gate/
// secrets/NAME of every Host that has one, whichever the instance runs on now.
std::vector<fs::path> gate_secret_dirs(const CliEnv& env, const std::string& name) {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path hosts = fs::path(state_dir(env)) / "run" / "hosts";
  if (!fs::is_directory(fs::symlink_status(hosts, ec))) return out;
  for (const auto& h : fs::directory_iterator(hosts, ec)) {
    const fs::path dir =
        host_paths(state_dir(env), h.path().filename().string()).gate_secrets(name);
    if (fs::is_directory(fs::symlink_status(dir, ec))) out.push_back(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Whether any credential of the instance is stored: the vault's copy or a gate's.
bool has_stored_credentials(const CliEnv& env, const std::string& name) {
  if (has_files(instance_paths(state_dir(env), name).secrets())) return true;
  for (const fs::path& dir : gate_secret_dirs(env, name))
    if (has_files(dir)) return true;
  return false;
}

// Removes every stored copy of the instance's tokens: the vault's files (the folder stays) and
// the gates' folders. Called once its container is gone, so no gate's config names them.
Status remove_stored_credentials(const CliEnv& env, const std::string& name) {
  if (auto s = empty_folder(instance_paths(state_dir(env), name).secrets()); !s) return s;
  for (const fs::path& dir : gate_secret_dirs(env, name)) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // links inside are removed as links, never followed
    if (ec) return Error{0, "cannot remove " + dir.string() + ": " + ec.message()};
  }
  return ok_status();
}

std::string blueprint_of_image(const std::string& image) {
  const std::string prefix = "acctl/blueprint-";
  if (image.starts_with(prefix))
    return image.substr(prefix.size(), image.find(':') - prefix.size());
  return image;
}

int cmd_list(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("list", args, {"--output", "--timeout"}, {"text", "json"}, f, env) ||
      !set_deadline(f, env, "list", std::chrono::minutes(2)))
    return kExitUsage;
  Flags hf;
  hf.files = host_manifests(env);
  int status = kExitOk;
  auto set = load_checked(hf, env, "list", status);
  if (!set) return status;
  json sandboxes = json::array();
  json problems = json::array();
  for (const Host& h : set->model.hosts) {
    std::vector<engine::EngineOptions> engines;
    engine::EngineOptions outer = engine_options(env, h.spec.engine, f);
    if (h.spec.isolation == Isolation::kDind) {
      engine::EngineOptions nested = outer;
      nested.host = host_paths(state_dir(env), h.meta.name).endpoint();
      nested.tls = false;
      engines.push_back(nested);
    } else {
      engines.push_back(outer);
    }
    for (const engine::EngineOptions& o : engines) {
      auto api = connect(env, o);
      if (!api) {
        problems.push_back("Host/" + h.meta.name + ": " + api.error().message);
        continue;
      }
      auto list = (*api)->list_containers(
          engine::label_filters({{kLabelManagedBy, kManagedByValue}, {kLabelKind, "Sandbox"}}),
          true);
      if (!list) {
        problems.push_back("Host/" + h.meta.name + ": " + list.error().message);
        continue;
      }
      for (const auto& c : *list) {
        if (c.labels.count(kLabelHost) && c.labels.at(kLabelHost) != h.meta.name) continue;
        json item = {{"name", c.labels.count(kLabelName) ? c.labels.at(kLabelName) : ""},
                     {"blueprint", blueprint_of_image(c.image)},
                     {"host", h.meta.name},
                     {"state", c.state},
                     {"status", c.status}};
        engine::CallTimeout bound(std::chrono::seconds(5));
        if (auto info = (*api)->inspect_container(c.id)) {
          item["cpus"] = info->host_config.nano_cpus / 1e9;
          item["memory"] =
              info->host_config.memory ? format_size(info->host_config.memory) : "unlimited";
          item["pids"] = info->host_config.pids_limit;
          item["startedAt"] = info->state.started_at;
        }
        sandboxes.push_back(item);
      }
    }
  }
  std::sort(sandboxes.begin(), sandboxes.end(), [](const json& a, const json& b) {
    return a["name"].get<std::string>() < b["name"].get<std::string>();
  });
  json instances = json::array();
  for (const std::string& n : instance_names(env)) {
    const InstancePaths p = instance_paths(state_dir(env), n);
    auto inst = find_instance(env, n);
    json item = {{"name", n},
                 {"workspace", folder_bytes(p.workspace())},
                 {"home", folder_bytes(p.home())},
                 {"credentials", has_stored_credentials(env, n)}};
    if (inst && *inst) {
      item["blueprint"] = (*inst)->spec.value("blueprint", "");
      item["manifest"] = (*inst)->cleaned ? "cleaned" : "active";
    } else {
      item["manifest"] = "none";
    }
    instances.push_back(item);
  }
  if (f.output == "json") {
    env.out << json({{"sandboxes", sandboxes}, {"instances", instances}, {"problems", problems}})
                   .dump(2)
            << "\n";
    return problems.empty() ? kExitOk : kExitUsage;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %-12s %-10s %-9s %-22s %-5s %-9s %s\n", "SANDBOX",
                "BLUEPRINT", "HOST", "STATE", "STATUS", "CPUS", "MEMORY", "PIDS");
  env.out << line;
  for (const json& s : sandboxes) {
    char cpus[16] = "-";
    if (s.contains("cpus") && s["cpus"].get<double>() > 0)
      std::snprintf(cpus, sizeof cpus, "%g", s["cpus"].get<double>());
    std::snprintf(line, sizeof line, "%-24s %-12s %-10s %-9s %-22s %-5s %-9s %s\n",
                  s["name"].get<std::string>().c_str(), s["blueprint"].get<std::string>().c_str(),
                  s["host"].get<std::string>().c_str(), s["state"].get<std::string>().c_str(),
                  s["status"].get<std::string>().c_str(), cpus, s.value("memory", "").c_str(),
                  s.contains("pids") ? std::to_string(s["pids"].get<int64_t>()).c_str() : "");
    env.out << line;
  }
  env.out << "\n";
  std::snprintf(line, sizeof line, "%-24s %-12s %-9s %-10s %-10s %s\n", "INSTANCE", "BLUEPRINT",
                "MANIFEST", "WORKSPACE", "HOME", "CREDENTIALS");
  env.out << line;
  for (const json& i : instances) {
    std::snprintf(line, sizeof line, "%-24s %-12s %-9s %-10s %-10s %s\n",
                  i["name"].get<std::string>().c_str(), i.value("blueprint", "-").c_str(),
                  i["manifest"].get<std::string>().c_str(),
                  human_size(i["workspace"].get<int64_t>()).c_str(),
                  human_size(i["home"].get<int64_t>()).c_str(),
                  i["credentials"].get<bool>() ? "stored" : "none");
    env.out << line;
  }
  for (const json& p : problems) env.err << "acctl list: " << p.get<std::string>() << "\n";
  return problems.empty() ? kExitOk : kExitUsage;
}

// Removes an instance's container (converging the others without it) for clean and destroy.
int remove_instance_container(CliEnv& env, const char* cmd, const std::string& name, const Flags& f,
                              std::chrono::milliseconds timeout) {
  int status = kExitOk;
  auto set = load_instances(env, cmd, status, name, "", /*without=*/true);
  if (!set) return status;
  ConvergeOptions co;
  co.prune = true;
  co.prune_only = {sandbox_container_name(name)};
  return converge_instances(*set, env, cmd, f, timeout, co);
}

int cmd_clean(const std::vector<std::string>& args, CliEnv& env) {
  RunOptions o;
  if (auto e = parse_run_options(args, false, o); !e.empty() || o.words.size() != 1) {
    env.err << "acctl clean: " << (e.empty() ? "name one instance" : e)
            << "\nRun 'acctl clean --help' for usage.\n";
    return kExitUsage;
  }
  auto timeout = timeout_flag(o.flags, env, "clean", std::chrono::minutes(5));
  if (!timeout) return kExitUsage;
  const std::string& name = o.words[0];
  const InstancePaths p = instance_paths(state_dir(env), name);
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(p.dir, ec))) {
    env.err << "acctl clean: no instance " << name << " (see acctl list)\n";
    return kExitInvalid;
  }
  if (int r = remove_instance_container(env, "clean", name, o.flags, *timeout); r != kExitOk)
    return r;
  if (auto s = remove_stored_credentials(env, name); !s) {
    env.err << "acctl clean: " << s.error().message << "\n";
    return kExitUsage;
  }
  if (fs::exists(p.manifest(), ec)) fs::rename(p.manifest(), p.cleaned_manifest(), ec);
  env.out << "cleaned " << name << ": container and credentials removed; home ("
          << human_size(folder_bytes(p.home())) << ") and workspace ("
          << human_size(folder_bytes(p.workspace())) << ") kept in " << p.dir << "\n";
  return kExitOk;
}

int cmd_destroy(const std::vector<std::string>& args, CliEnv& env) {
  RunOptions o;
  if (auto e = parse_run_options(args, false, o); !e.empty() || o.words.size() != 1) {
    env.err << "acctl destroy: " << (e.empty() ? "name one instance" : e)
            << "\nRun 'acctl destroy --help' for usage.\n";
    return kExitUsage;
  }
  auto timeout = timeout_flag(o.flags, env, "destroy", std::chrono::minutes(5));
  if (!timeout) return kExitUsage;
  const std::string& name = o.words[0];
  const InstancePaths p = instance_paths(state_dir(env), name);
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(p.dir, ec))) {
    env.err << "acctl destroy: no instance " << name << " (see acctl list)\n";
    return kExitInvalid;
  }
  if (!o.yes) {
    if (::isatty(STDIN_FILENO) != 1) {
      env.err << "acctl destroy: this removes " << name
              << "'s home and workspace for good; without a terminal to ask on, say --yes\n";
      return kExitInvalid;
    }
    env.err << "Destroy instance " << name << ": its container, credentials, home ("
            << human_size(folder_bytes(p.home())) << ") and workspace ("
            << human_size(folder_bytes(p.workspace())) << ")? [y/N] ";
    std::string answer;
    std::getline(env.in, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      env.err << "not destroyed\n";
      return kExitInvalid;
    }
  }
  if (int r = remove_instance_container(env, "destroy", name, o.flags, *timeout); r != kExitOk)
    return r;
  if (auto s = remove_stored_credentials(env, name); !s) {
    env.err << "acctl destroy: " << s.error().message << "\n";
    return kExitUsage;
  }
  fs::remove_all(p.dir, ec);  // links inside are removed as links, never followed
  if (ec) {
    env.err << "acctl destroy: cannot remove " << p.dir << ": " << ec.message() << "\n";
    return kExitUsage;
  }
  env.out << "destroyed " << name << "\n";
  return kExitOk;
}

}  // namespace

const Command kRun{cmd_run, kRunHelp};
const Command kShell{cmd_shell, kShellHelp};
const Command kList{cmd_list, kListHelp};
const Command kClean{cmd_clean, kCleanHelp};
const Command kDestroy{cmd_destroy, kDestroyHelp};

}  // namespace acctl::cli
