// The host commands: start, stop, down, status, logs.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "converge/desired.h"
#include "converge/sandbox_host.h"
#include "manifest/quantity.h"

namespace acctl::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kStartHelp =
    R"(Usage: acctl start [-f PATH...] [--timeout D] [--parallel N] [-o text|json]

Brings up every Host of the manifests with its EgressPolicy, without their Sandboxes: for a
dind Host (the default) the Debian base image (bootstrapped once, no registry), the host image,
a volume and the host container on your engine, the nested engine inside it with gVisor
registered (its network mode probed), the sandbox network whose only exit is the gate, the
gate's image and container with the policy, and the rules that keep sandboxes from reaching
anything but the gate. Each phase is printed with its time, then the total.
A second start with nothing changed does nothing. Sandboxes come with 'acctl apply'.

  -f PATH        manifests (default: $ACCTL_MANIFESTS, else the project's
                 manifests/quickstart.yaml)
  --timeout D    how long start may take, image builds and the wait for the nested engine
                 included (default 30m)

Exit status: 0 started, 1 invalid manifests, 2 error.
)";

constexpr const char* kStopHelp = R"(Usage: acctl stop [HOST...] [--engine ADDRESS] [--timeout D]

Stops the host containers of dind Hosts (all of them, or the ones named): the nested engine
stops its sandboxes and gate first. Nothing is removed; 'acctl start' starts them again.
)";

constexpr const char* kDownHelp = R"(Usage: acctl down [HOST...] [--engine ADDRESS] [--timeout D]

Removes the host containers of dind Hosts (all of them, or the ones named), with everything in
their nested engines and the volume that holds it, and the Hosts' networks. Workspace folders
(instances/<name>/workspace) are never touched; the images stay as a cache.
)";

constexpr const char* kStatusHelp =
    R"(Usage: acctl status [--engine ADDRESS] [-o text|json] [--timeout D]

For each Host acctl manages on the engine: the host container (state, cpu, memory), the nested
engine (version, runtimes, gVisor's network mode and why), the gate (running, health), every
sandbox (state, cpu, memory), the nested engine's disk usage and the workspace sizes.

Exit status: 0 all healthy, 1 something is not (named in the output), 2 error.
)";

constexpr const char* kLogsHelp = R"(Usage: acctl logs host|proxy|gvisor [HOST] [-f]
       acctl logs agent SANDBOX [-f]

  host     the host container: its entrypoint and the nested dockerd
  proxy    the gate's audit log: one JSON line per decision
  gvisor   runsc's debug logs (Host.spec.runtime.runsc.debug: true)
  agent    a sandbox's output
HOST may be left out when there is one. -f, --follow keeps printing as lines arrive.
)";

// The manifests start applies when none are given.
std::vector<std::string> default_manifests(const CliEnv& env) {
  if (auto m = system_of(env).env("ACCTL_MANIFESTS")) return {*m};
  return {project_root(env) + "/manifests/quickstart.yaml"};
}

struct HostContainer {
  std::string host;  // the Host's name (ac.name)
  std::string id;
  std::string name;
  std::string state;
  // Its run folder, read from the container's own bind of kHostRunDir: a Host brought up with
  // another $ACCTL_HOME on the same engine is reported from its own folder, not this one's.
  HostPaths paths;
};

// The host containers acctl manages on an engine, sorted by Host name.
engine::Result<std::vector<HostContainer>> find_host_containers(engine::EngineApi& api,
                                                                const std::string& state) {
  auto list = api.list_containers(
      engine::label_filters({{kLabelManagedBy, kManagedByValue}, {kLabelKind, "Host"}}), true);
  if (!list) return list.error();
  std::vector<HostContainer> out;
  for (const auto& c : *list) {
    if (!c.labels.count(kLabelName) || c.names.empty()) continue;
    const std::string host = c.labels.at(kLabelName);
    if (c.names[0] != dind_container_name(host)) continue;
    HostContainer h{host, c.id, c.names[0], c.state, host_paths(state, host)};
    if (auto info = api.inspect_container(c.id)) {
      const std::string suffix = std::string(":") + kHostRunDir;
      for (const std::string& b : info->host_config.binds) {
        if (b.size() > suffix.size() &&
            b.compare(b.size() - suffix.size(), suffix.size(), suffix) == 0)
          h.paths.run_dir = b.substr(0, b.size() - suffix.size());
      }
    }
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end(),
            [](const HostContainer& a, const HostContainer& b) { return a.host < b.host; });
  return out;
}

// The host containers the positional names select (all when none); prints what is missing.
std::optional<std::vector<HostContainer>> select_hosts(engine::EngineApi& api, const Flags& f,
                                                       size_t from, CliEnv& env, const char* cmd) {
  auto all = find_host_containers(api, state_dir(env));
  if (!all) {
    env.err << "acctl " << cmd << ": " << all.error().message << "\n";
    return std::nullopt;
  }
  if (f.positional.size() <= from) return *all;
  std::vector<HostContainer> out;
  for (size_t i = from; i < f.positional.size(); ++i) {
    auto it = std::find_if(all->begin(), all->end(),
                           [&](const HostContainer& h) { return h.host == f.positional[i]; });
    if (it == all->end()) {
      env.err << "acctl " << cmd << ": no host container of Host/" << f.positional[i]
              << " on this engine\n";
      return std::nullopt;
    }
    out.push_back(*it);
  }
  return out;
}

// The gate's audit counters (refusals suppressed by its rate limit, failed writes), from its
// /metrics: the control port is on the gate's loopback, so the request runs inside its container.
std::optional<std::pair<uint64_t, uint64_t>> gate_audit_counters(engine::EngineApi& api,
                                                                 const std::string& gate) {
  engine::ExecSpec spec;
  spec.cmd = {"curl", "-fsS", "--max-time", "2",
              std::string("http://") + kGateControl + "/metrics"};
  spec.attach_stderr = false;
  auto id = api.create_exec(gate, spec);
  if (!id) return std::nullopt;
  auto stream = api.start_exec(*id, false);
  if (!stream) return std::nullopt;
  std::string text;
  if (!(*stream)->read_to_end([&](engine::LogStream, std::string_view b) {
        text.append(b);
        return text.size() < (1 << 20);
      }))
    return std::nullopt;
  auto counter = [&](const std::string& name) -> std::optional<uint64_t> {
    const size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::strtoull(text.c_str() + at + name.size() + 2, nullptr, 10);
  };
  auto suppressed = counter("acctl_gate_audit_suppressed_total");
  auto errors = counter("acctl_gate_audit_write_errors_total");
  if (!suppressed || !errors) return std::nullopt;
  return std::make_pair(*suppressed, *errors);
}

// Whether a sandbox's vault daemon answers: its client's ping, run as root in the sandbox (the
// ping carries no token). nullopt when the sandbox has no vault.
std::optional<bool> vault_answers(engine::EngineApi& api, const engine::ContainerInfo& info) {
  const std::string mount = std::string(":") + kSecretsMount + ":";
  const bool has_vault =
      std::any_of(info.host_config.binds.begin(), info.host_config.binds.end(),
                  [&](const std::string& b) { return b.find(mount) != std::string::npos; });
  if (!has_vault) return std::nullopt;
  if (!info.state.running) return false;
  engine::ExecSpec spec;
  spec.cmd = {kVaultClient, "ping"};
  spec.user = "0:0";
  auto id = api.create_exec(info.id, spec);
  if (!id) return false;
  auto stream = api.start_exec(*id, false);
  if (!stream) return false;
  if (!(*stream)->read_to_end([](engine::LogStream, std::string_view) { return true; }))
    return false;
  auto done = api.inspect_exec(*id);
  return done && done->exit_code && *done->exit_code == 0;
}

std::string bytes_text(int64_t n) {
  return human_size(n);
}

// Total size of the regular files under a folder; symlinks are never followed, the folder
// itself included (an agent could point its workspace at the machine's root).
int64_t folder_size(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return 0;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && !it->is_symlink(e2))
      total += static_cast<int64_t>(it->file_size(e2));
  }
  return total;
}

// Samples several containers' usage at once (each sample takes the engine about a second).
std::map<std::string, engine::ContainerStats> sample_stats(engine::EngineApi& api,
                                                           const std::vector<std::string>& ids) {
  std::vector<std::future<engine::Result<engine::ContainerStats>>> futures;
  for (const std::string& id : ids)
    futures.push_back(std::async(std::launch::async, [&api, id] { return api.stats(id); }));
  std::map<std::string, engine::ContainerStats> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = futures[i].get();
    if (r) out[ids[i]] = *r;
  }
  return out;
}

json usage_json(const std::map<std::string, engine::ContainerStats>& stats, const std::string& id) {
  auto it = stats.find(id);
  if (it == stats.end()) return nullptr;
  char cpu[16];
  std::snprintf(cpu, sizeof cpu, "%.1f", it->second.cpu_percent);
  return {{"cpuPercent", std::stod(cpu)},
          {"memory", it->second.memory_usage},
          {"memoryLimit", it->second.memory_limit},
          {"pids", it->second.pids}};
}

std::string usage_text(const json& u) {
  if (u.is_null()) return "";
  char line[96];
  std::snprintf(line, sizeof line, "cpu %5.1f%%  mem %s / %s", u["cpuPercent"].get<double>(),
                bytes_text(u["memory"].get<int64_t>()).c_str(),
                bytes_text(u["memoryLimit"].get<int64_t>()).c_str());
  return line;
}

// Waits until the gate of a dind Host reports healthy (its image's HEALTHCHECK); a gate that
// stops or turns unhealthy is reported with its last log lines.
int wait_gate_healthy(CliEnv& env, const Host& h, std::chrono::steady_clock::time_point deadline) {
  const System& sys = system_of(env);
  engine::EngineOptions o;
  o.host = host_paths(state_dir(env), h.meta.name).endpoint();
  o.deadline = deadline;
  auto api = connect(env, o);
  if (!api) {
    env.err << "acctl start: the nested engine of Host/" << h.meta.name
            << " does not answer: " << api.error().message << "\n";
    return kExitUsage;
  }
  const std::string gate = gate_container_name(h.meta.name);
  std::string state = "missing";
  while (sys.now() < deadline) {
    auto info = (*api)->inspect_container(gate);
    state = info
                ? info->state.status + (info->state.health.empty() ? "" : ", " + info->state.health)
                : "missing";
    if (info && info->state.running &&
        (info->state.health == "healthy" || info->state.health.empty()))
      return kExitOk;
    if (info && (!info->state.running || info->state.health == "unhealthy")) break;
    sys.sleep_for(std::chrono::milliseconds(250));
  }
  std::string tail;
  engine::LogOptions lo;
  lo.tail = "15";
  (void)(*api)->logs(gate, lo, [&](engine::LogStream, std::string_view b) {
    tail.append(b);
    return true;
  });
  env.err << "acctl start: the gate " << gate << " is not healthy (" << state
          << "); its last lines:\n"
          << tail;
  return kExitUsage;
}

int cmd_start(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("start", args,
                           {"--filename", "--output", "--blueprints", "--timeout", "--parallel"},
                           {"text", "json"}, f, env)) {
    return kExitUsage;
  }
  if (!f.positional.empty()) {
    env.err << "acctl start: unexpected argument " << f.positional[0] << " (use -f PATH)\n";
    return kExitUsage;
  }
  auto timeout = timeout_flag(f, env, "start", std::chrono::minutes(30));
  if (!timeout) return kExitUsage;
  if (f.files.empty()) f.files = default_manifests(env);
  const auto started = std::chrono::steady_clock::now();
  int status = kExitOk;
  auto set = load_checked(f, env, "start", status);
  if (!set) return status;
  if (set->model.hosts.empty()) {
    env.err << "acctl start: the manifests define no Host\n";
    return kExitUsage;
  }
  // Sandboxes are apply's: start brings up what they run on. Sandboxes already running keep
  // their entries and policies in the gate's config (finish_render carries them over).
  set->model.sandboxes.clear();
  int r = run_converge(set->model, ConvergeMode::kApply, f, env, "start", *timeout);
  // start returns once every gate answers its health check, or says why it does not.
  for (const Host& h : set->model.hosts) {
    if (r != kExitOk || h.spec.isolation != Isolation::kDind) continue;
    r = wait_gate_healthy(env, h, started + *timeout);
  }
  if (r == kExitOk && f.output != "json") {
    std::string names;
    for (const Host& h : set->model.hosts)
      names += (names.empty() ? "" : ", ") + ("Host/" + h.meta.name);
    env.out << "Started " << names << " in " << seconds_text(since(started)) << ".\n";
  }
  return r;
}

int cmd_stop(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("stop", args, {"--engine", "--timeout"}, {}, f, env) ||
      !set_deadline(f, env, "stop", std::chrono::minutes(5)))
    return kExitUsage;
  auto api = open_engine(f, env, "stop");
  if (!api) return kExitUsage;
  auto hosts = select_hosts(*api, f, 0, env, "stop");
  if (!hosts) return kExitUsage;
  if (hosts->empty()) {
    env.out << "No host container to stop.\n";
    return kExitOk;
  }
  int result = kExitOk;
  for (const HostContainer& h : *hosts) {
    if (h.state != "running") {
      env.out << h.name << " is " << h.state << "\n";
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    // The nested dockerd stops its containers on SIGTERM; give it the time that takes.
    auto s = api->stop_container(h.id, 60);
    if (!s && s.error().status != 304) {
      env.err << "acctl stop: " << s.error().message << "\n";
      result = kExitUsage;
      continue;
    }
    env.out << "stopped " << h.name << " (Host/" << h.host << ") in " << seconds_text(since(start))
            << "; 'acctl start' brings it back\n";
  }
  return result;
}

int cmd_down(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("down", args, {"--engine", "--parallel", "--timeout"}, {}, f, env) ||
      !set_deadline(f, env, "down", std::chrono::minutes(5)))
    return kExitUsage;
  auto api = open_engine(f, env, "down");
  if (!api) return kExitUsage;
  std::vector<std::string> names(f.positional.begin(), f.positional.end());
  if (names.empty()) {
    // Every Host with managed objects here: host containers, their volumes, direct networks.
    std::set<std::string> found;
    auto filters =
        engine::label_filters({{kLabelManagedBy, kManagedByValue}, {kLabelKind, "Host"}});
    auto cs = api->list_containers(filters, true);
    auto vs = api->list_volumes(filters);
    auto ns = api->list_networks(filters);
    if (!cs || !vs || !ns) {
      env.err << "acctl down: "
              << (!cs   ? cs.error().message
                  : !vs ? vs.error().message
                        : ns.error().message)
              << "\n";
      return kExitUsage;
    }
    for (const auto& c : *cs)
      if (c.labels.count(kLabelHost)) found.insert(c.labels.at(kLabelHost));
    for (const auto& v : *vs)
      if (v.labels.count(kLabelHost)) found.insert(v.labels.at(kLabelHost));
    for (const auto& n : *ns)
      if (n.labels.count(kLabelHost)) found.insert(n.labels.at(kLabelHost));
    names.assign(found.begin(), found.end());
  }
  if (names.empty()) {
    env.out << "Nothing to take down.\n";
    return kExitOk;
  }
  std::vector<std::pair<std::string, std::string>> targets;
  for (const std::string& n : names) targets.push_back({"Host", n});
  const auto start = std::chrono::steady_clock::now();
  int r = delete_objects(targets, engine_options(env, f.engine, f), f, env);
  if (r != kExitOk) return r;
  // The run folders hold sockets, the gate's config and gVisor logs: the host's, not the user's.
  const std::string state = state_dir(env);
  for (const std::string& n : names) {
    std::error_code ec;
    fs::remove_all(host_paths(state, n).run_dir, ec);
  }
  env.out << "Down in " << seconds_text(since(start)) << "; workspaces in "
          << (fs::path(state) / "instances").string() << " were kept.\n";
  return kExitOk;
}

int cmd_status(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("status", args, {"--engine", "--output", "--timeout"}, {"text", "json"},
                           f, env) ||
      !set_deadline(f, env, "status", std::chrono::minutes(2)))
    return kExitUsage;
  auto api = open_engine(f, env, "status");
  if (!api) return kExitUsage;
  auto hosts = select_hosts(*api, f, 0, env, "status");
  if (!hosts) return kExitUsage;
  const std::string state = state_dir(env);
  bool healthy = true;
  std::vector<std::string> problems;
  json out = {{"engine", engine_options(env, f.engine).host}, {"hosts", json::array()}};

  std::vector<std::string> host_ids;
  for (const HostContainer& h : *hosts) host_ids.push_back(h.id);
  auto host_stats = sample_stats(*api, host_ids);

  for (const HostContainer& h : *hosts) {
    json hj = {{"host", h.host}, {"container", h.name}, {"state", h.state}};
    hj["usage"] = usage_json(host_stats, h.id);
    if (h.state != "running") {
      healthy = false;
      problems.push_back("Host/" + h.host + ": host container is " + h.state);
      out["hosts"].push_back(hj);
      continue;
    }
    const HostPaths& paths = h.paths;
    auto report = read_host_report(paths);
    if (report) {
      hj["runsc"] = {{"network", report->runsc_network},
                     {"reason", report->reason},
                     {"platform", report->platform},
                     {"debug", report->debug},
                     {"version", report->runsc_version}};
    }
    engine::EngineOptions nested_options;
    nested_options.host = paths.endpoint();
    nested_options.deadline = f.deadline;
    auto nested = connect(env, nested_options);
    if (!nested || !report || !report->ready) {
      healthy = false;
      problems.push_back("Host/" + h.host + ": nested engine not ready" +
                         (nested ? "" : " (" + nested.error().message + ")"));
      out["hosts"].push_back(hj);
      continue;
    }
    auto& napi = **nested;
    auto v = napi.version();
    if (v) {
      hj["nestedEngine"] = {{"version", v->server_version}, {"runtimes", v->runtimes}};
      if (std::find(v->runtimes.begin(), v->runtimes.end(), "runsc") == v->runtimes.end()) {
        healthy = false;
        problems.push_back("Host/" + h.host + ": runsc is not registered in the nested engine");
      }
    }
    auto list =
        napi.list_containers(engine::label_filters({{kLabelManagedBy, kManagedByValue}}), true);
    std::vector<std::string> ids;
    if (list)
      for (const auto& c : *list) ids.push_back(c.id);
    auto stats = sample_stats(napi, ids);
    bool gate_seen = false;
    hj["sandboxes"] = json::array();
    if (list) {
      for (const auto& c : *list) {
        auto info = napi.inspect_container(c.id);
        const std::string name = c.names.empty() ? c.id.substr(0, 12) : c.names[0];
        const std::string health = info ? info->state.health : "";
        json cj = {{"name", name}, {"state", c.state}, {"usage", usage_json(stats, c.id)}};
        if (!health.empty()) cj["health"] = health;
        if (name == gate_container_name(h.host)) {
          gate_seen = true;
          if (c.state == "running") {
            if (auto audit = gate_audit_counters(napi, c.id)) {
              cj["audit"] = {{"suppressed", audit->first}, {"writeErrors", audit->second}};
              if (audit->second > 0) {
                healthy = false;
                problems.push_back("Host/" + h.host + ": the gate's audit log failed " +
                                   std::to_string(audit->second) +
                                   " writes (decisions are missing from it)");
              }
            }
          }
          hj["gate"] = cj;
          if (c.state != "running" || (health != "healthy" && !health.empty())) {
            healthy = false;
            problems.push_back("Host/" + h.host + ": gate is " + c.state +
                               (health.empty() ? "" : ", " + health));
          }
        } else {
          if (info) {
            if (auto vault = vault_answers(napi, *info)) {
              cj["vault"] = *vault ? "answering" : "not answering";
              if (!*vault) {
                healthy = false;
                problems.push_back("Host/" + h.host + ": the vault of " + name +
                                   " does not answer: git and gh in it get no credentials "
                                   "until it is started again");
              }
            }
          }
          hj["sandboxes"].push_back(cj);
        }
      }
    }
    if (!gate_seen) {
      healthy = false;
      problems.push_back("Host/" + h.host + ": no gate (run acctl start)");
    }
    if (auto df = napi.disk_usage(); df) {
      hj["disk"] = {{"images", df->images},
                    {"imageCount", df->image_count},
                    {"containers", df->containers},
                    {"volumes", df->volumes},
                    {"buildCache", df->build_cache}};
    }
    out["hosts"].push_back(hj);
  }
  json ws = json::object();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(state) / "instances", ec)) {
    if (fs::is_directory(fs::symlink_status(e.path() / "workspace", ec)))
      ws[e.path().filename().string()] = folder_size(e.path() / "workspace");
  }
  out["workspaces"] = ws;
  out["healthy"] = healthy;
  out["problems"] = problems;

  if (f.output == "json") {
    env.out << out.dump(2) << "\n";
    return healthy ? kExitOk : kExitInvalid;
  }
  env.out << "engine " << out["engine"].get<std::string>() << "\n";
  if (hosts->empty()) env.out << "  no host container (run acctl start)\n";
  for (const json& hj : out["hosts"]) {
    env.out << "Host/" << hj["host"].get<std::string>() << "\n";
    env.out << "  host container  " << hj["container"].get<std::string>() << "  "
            << hj["state"].get<std::string>() << "  " << usage_text(hj["usage"]) << "\n";
    if (hj.contains("nestedEngine")) {
      std::string rt;
      for (const auto& r : hj["nestedEngine"]["runtimes"]) rt += " " + r.get<std::string>();
      env.out << "  nested engine   Docker " << hj["nestedEngine"]["version"].get<std::string>()
              << ", runtimes:" << rt << "\n";
    }
    if (hj.contains("runsc")) {
      const json& r = hj["runsc"];
      env.out << "  gVisor          runsc " << r["version"].get<std::string>() << ", platform "
              << r["platform"].get<std::string>() << ", network " << r["network"].get<std::string>()
              << (r["reason"].get<std::string>().empty()
                      ? ""
                      : " (" + r["reason"].get<std::string>() + ")")
              << ", debug " << (r["debug"].get<bool>() ? "on" : "off") << "\n";
    }
    if (hj.contains("gate")) {
      const json& g = hj["gate"];
      env.out << "  gate            " << g["name"].get<std::string>() << "  "
              << g["state"].get<std::string>()
              << (g.contains("health") ? ", " + g["health"].get<std::string>() : "") << "  "
              << usage_text(g["usage"]) << "\n";
      if (g.contains("audit")) {
        env.out << "  audit log       " << g["audit"]["suppressed"].get<uint64_t>()
                << " refusals counted, not logged (rate limit); "
                << g["audit"]["writeErrors"].get<uint64_t>() << " failed writes\n";
      }
    }
    if (hj.contains("sandboxes")) {
      for (const json& s : hj["sandboxes"]) {
        env.out << "  sandbox         " << s["name"].get<std::string>() << "  "
                << s["state"].get<std::string>() << "  " << usage_text(s["usage"])
                << (s.contains("vault") ? "  vault " + s["vault"].get<std::string>() : "") << "\n";
      }
    }
    if (hj.contains("disk")) {
      const json& d = hj["disk"];
      env.out << "  disk            images " << bytes_text(d["images"].get<int64_t>()) << " ("
              << d["imageCount"].get<size_t>() << "), containers "
              << bytes_text(d["containers"].get<int64_t>()) << ", volumes "
              << bytes_text(d["volumes"].get<int64_t>()) << ", build cache "
              << bytes_text(d["buildCache"].get<int64_t>()) << "\n";
    }
  }
  if (!ws.empty()) {
    env.out << "workspaces (" << (fs::path(state) / "instances").string() << ")\n";
    for (const auto& [name, size] : ws.items())
      env.out << "  " << name << "  " << bytes_text(size.get<int64_t>()) << "\n";
  }
  if (healthy) {
    env.out << "healthy\n";
  } else {
    for (const std::string& p : problems) env.out << "NOT HEALTHY: " << p << "\n";
  }
  return healthy ? kExitOk : kExitInvalid;
}

// Streams a container's output to ours.
int stream_logs(engine::EngineApi& api, const std::string& container, bool follow, CliEnv& env) {
  engine::LogOptions o;
  o.follow = follow;
  auto s = api.logs(container, o, [&](engine::LogStream stream, std::string_view bytes) {
    (stream == engine::LogStream::kStderr ? env.err : env.out) << bytes;
    (stream == engine::LogStream::kStderr ? env.err : env.out).flush();
    return true;
  });
  if (!s) {
    env.err << "acctl logs: " << s.error().message << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

// Prints the files of the gVisor debug folder; with follow, keeps printing what they gain.
int stream_gvisor(const std::string& dir, bool follow, CliEnv& env) {
  std::map<std::string, std::uintmax_t> offsets;
  while (true) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& p : files) {
      std::ifstream in(p, std::ios::binary);
      auto& at = offsets[p.string()];
      in.seekg(static_cast<std::streamoff>(at));
      std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (chunk.empty()) continue;
      if (at == 0) env.out << "==> " << p.filename().string() << " <==\n";
      env.out << chunk;
      at += chunk.size();
    }
    env.out.flush();
    if (!follow) return kExitOk;
    system_of(env).sleep_for(std::chrono::milliseconds(500));
  }
}

int cmd_logs(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("logs", args, {"--engine", "--follow"}, {}, f, env)) return kExitUsage;
  if (f.positional.empty()) {
    env.err << "acctl logs: say which: host, proxy, gvisor or agent SANDBOX\n";
    return kExitUsage;
  }
  const std::string what = f.positional[0];
  if (what != "host" && what != "proxy" && what != "gvisor" && what != "agent") {
    env.err << "acctl logs: unknown log \"" << what << "\" (host, proxy, gvisor, agent SANDBOX)\n";
    return kExitUsage;
  }
  if (what == "agent" && f.positional.size() != 2) {
    env.err << "acctl logs agent: name the sandbox, e.g. acctl logs agent dev\n";
    return kExitUsage;
  }
  auto api = open_engine(f, env, "logs");
  if (!api) return kExitUsage;
  const std::string state = state_dir(env);
  auto all = find_host_containers(*api, state);
  if (!all) {
    env.err << "acctl logs: " << all.error().message << "\n";
    return kExitUsage;
  }
  if (what == "agent") {
    const std::string name = sandbox_container_name(f.positional[1]);
    if (api->inspect_container(name)) return stream_logs(*api, name, f.follow, env);
    for (const HostContainer& h : *all) {
      engine::EngineOptions o;
      o.host = h.paths.endpoint();
      auto nested = connect(env, o);
      if (nested && (*nested)->inspect_container(name))
        return stream_logs(**nested, name, f.follow, env);
    }
    env.err << "acctl logs: no sandbox " << f.positional[1] << " on "
            << engine_options(env, f.engine).host << " or in its hosts' nested engines\n";
    return kExitUsage;
  }
  auto hosts = select_hosts(*api, f, 1, env, "logs");
  if (!hosts) return kExitUsage;
  if (hosts->size() != 1) {
    env.err << "acctl logs " << what << ": "
            << (hosts->empty() ? "no host container on this engine (run acctl start)"
                               : "several Hosts; name one")
            << "\n";
    return kExitUsage;
  }
  const HostContainer& h = hosts->front();
  if (what == "host") return stream_logs(*api, h.id, f.follow, env);
  const HostPaths& paths = h.paths;
  if (what == "gvisor") {
    auto report = read_host_report(paths);
    if (!report || !report->debug) {
      env.err << "acctl logs gvisor: gVisor's debug logs are off for Host/" << h.host
              << "; set spec.runtime.runsc.debug: true in its manifest and apply (the host "
                 "container is replaced; workspaces stay)\n";
      return kExitInvalid;
    }
    return stream_gvisor(paths.gvisor_dir(), f.follow, env);
  }
  engine::EngineOptions o;
  o.host = paths.endpoint();
  auto nested = connect(env, o);
  if (!nested) {
    env.err << "acctl logs proxy: the nested engine of Host/" << h.host
            << " is not reachable: " << nested.error().message << "\n";
    return kExitUsage;
  }
  return stream_logs(**nested, gate_container_name(h.host), f.follow, env);
}

}  // namespace

const Command kStart{cmd_start, kStartHelp};
const Command kStop{cmd_stop, kStopHelp};
const Command kDown{cmd_down, kDownHelp};
const Command kStatus{cmd_status, kStatusHelp};
const Command kLogs{cmd_logs, kLogsHelp};

}  // namespace acctl::cli
