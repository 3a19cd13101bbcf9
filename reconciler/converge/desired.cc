// Rendering of Sandboxes and Hosts into engine objects, with hashes of their normalised specs.
#include "converge/desired.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "converge/addresses.h"
#include "converge/credentials.h"
#include "converge/image_objects.h"
#include "converge/observed.h"
#include "converge/sandbox_host.h"
#include "manifest/quantity.h"

namespace acctl {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A POSIX-sh loop that idles until stopped and exits at once on SIGTERM (sleep alone would
// keep the container up for the engine's whole stop timeout).
const std::vector<std::string> kIdleCommand = {
    "sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"};

json device_requests_json(const std::vector<engine::DeviceRequest>& requests) {
  json out = json::array();
  for (const auto& r : requests) {
    out.push_back({{"driver", r.driver},
                   {"count", r.count},
                   {"ids", r.device_ids},
                   {"caps", r.capabilities}});
  }
  return out;
}

std::string restart_name(RestartPolicy r) {
  switch (r) {
    case RestartPolicy::kNever:
      return "no";
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kAlways:
      return "always";
  }
  return "no";
}

DesiredObject render_network(const Host& h) {
  DesiredObject o;
  o.type = ObjectType::kNetwork;
  o.name = host_network_name(h.meta.name);
  o.owner = "Host/" + h.meta.name;
  o.host = h.meta.name;
  o.labels = managed_labels("Host", h.meta.name, h.meta.name);
  o.network.name = o.name;
  o.network.driver = "bridge";
  o.network.internal = true;  // sandboxes get no route out of the engine
  o.network.ipam = {{h.spec.subnet.str(), "", ""}};
  o.network.labels = o.labels;
  seal_spec(o, {{"driver", "bridge"}, {"internal", true}, {"subnet", h.spec.subnet.str()}});
  o.network.labels = o.labels;
  return o;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : separator) + i;
  return out;
}

// The host folder behind a path inside the sandbox, when it is in the workspace or the home
// (the binds acctl makes); "" for a path of the image.
std::string host_path_of(const std::string& inside, const DesiredObject& o) {
  for (const auto& [mount, dir] :
       {std::pair<std::string, std::string>{"/workspace", o.workspace_dir},
        {kAgentHome, o.home_dir}}) {
    if (inside == mount) return dir;
    if (inside.starts_with(mount + "/")) return dir + inside.substr(mount.size());
  }
  return "";
}

// blockedPaths: each covered by something uid 1000 cannot open, whatever it does to the hooks
// (the file boundary is modes, not LD_PRELOAD): a folder of the workspace or home by a root-only
// tmpfs, anything else (a file, or a path not there yet) by a root-only empty file.
void cover_blocked_paths(const Sandbox& s, DesiredObject& o, const std::string& empty_file) {
  engine::HostConfig& hc = o.container.host_config;
  for (const std::string& p : s.spec.blocked_paths) {
    std::error_code ec;
    const std::string host = host_path_of(p, o);
    if (!host.empty() && fs::symlink_status(host, ec).type() == fs::file_type::directory) {
      hc.tmpfs[p] = "ro,nosuid,nodev,noexec,size=4k,mode=0700";
    } else {
      hc.binds.push_back(empty_file + ":" + p + ":ro");
    }
  }
}

// Where a sandbox's token files go: the vault's folder (the instance's secrets/) or the gate's.
struct TokenFolder {
  std::string path;            // the folder
  std::string label;           // its name in the plan
  std::string private_base;    // the folder it is private under...
  std::string private_folder;  // ...and its path below that
  std::string gate;            // the gate container that reads it ("": the vault's)
  std::string sandbox;
};

// One token file (root, 0600). The plan's reason says what changed, never the value.
DesiredObject token_file(const DesiredObject& sandbox, const TokenFolder& where,
                         const std::string& provider, const std::string& token) {
  DesiredObject f;
  f.type = ObjectType::kFile;
  f.name = where.path + "/" + provider;
  f.owner = sandbox.owner;
  f.host = sandbox.host;
  f.file.path = f.name;
  f.file.label = where.label + "/" + provider;
  f.file.content = token;
  f.file.mode = 0600;
  f.file.private_base = where.private_base;
  f.file.private_folder = where.private_folder;
  f.file.reload_container = where.gate;
  const std::string reason =
      where.gate.empty()
          ? "the " + provider + " token changed"
          : "the " + provider + " token of sandbox " + where.sandbox +
                " changed (the gate adds it to requests: the sandbox is not replaced)";
  f.file.explain = [reason](const std::string&) { return std::vector<std::string>{reason}; };
  return f;
}

// `gate_ca`: the certificate of its Host's gate's CA, when the Host is dind.
void render_sandbox(const Sandbox& s, const Blueprint& bp, const Host& host,
                    const RenderOptions& options, const std::string* gate_ca,
                    std::vector<DesiredObject>& out) {
  DesiredObject o;
  o.type = ObjectType::kContainer;
  o.name = sandbox_container_name(s.meta.name);
  o.owner = "Sandbox/" + s.meta.name;
  o.host = s.spec.host;
  o.labels = managed_labels("Sandbox", s.meta.name, s.spec.host);
  o.labels[kLabelInstance] = s.meta.name;
  for (const auto& [k, v] : s.meta.labels) {
    if (!k.starts_with(kReservedLabelPrefix)) o.labels.emplace(k, v);
  }
  o.depends_on = {host_network_name(s.spec.host)};
  o.workspace_dir = (fs::path(options.state_dir) / s.spec.workspace).string();
  // The agent's home: logins and settings outlive the container.
  o.home_dir = (fs::path(options.state_dir) / "instances" / s.meta.name / "home").string();

  // init-guard and the hooks are in the images acctl builds (FROM agent-base); validate refuses
  // paranoid on a prebuilt image.
  const bool paranoid = bp.spec.hardening == Hardening::kParanoid && bp.spec.image.empty();
  engine::ContainerSpec& c = o.container;
  c.name = o.name;
  c.image = bp.spec.image.empty() ? blueprint_image_tag(bp.meta.name) : bp.spec.image;
  switch (s.spec.mode) {
    case SandboxMode::kIdle:
      // Paranoid: init-guard stays PID 1, so the shells exec-ed in are reaped.
      c.entrypoint =
          paranoid ? std::vector<std::string>{kInitGuard, "--"} : std::vector<std::string>{};
      c.cmd = kIdleCommand;
      break;
    case SandboxMode::kInteractive:
      c.tty = true;
      c.open_stdin = true;
      c.cmd = s.spec.args;
      break;
    case SandboxMode::kHeadless:
      c.cmd = s.spec.args;
      break;
  }
  std::map<std::string, std::string> env = bp.spec.env;
  for (const auto& [k, v] : s.spec.env) env[k] = v;
  if (!s.spec.git_name.empty())
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = s.spec.git_name;
  if (!s.spec.git_email.empty())
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = s.spec.git_email;
  // The connect() hook sends other addresses to the gate (a dind Host's sandboxes have one).
  if (paranoid && host.spec.isolation == Isolation::kDind)
    env[kGateAddressVariable] = host.spec.gate_ip.str();
  // The vault: the tokens go to the instance's secrets/ folder, never into the container's
  // config; what it may do with them is not secret.
  const std::map<std::string, std::string>* tokens = nullptr;
  if (options.credentials) {
    auto it = options.credentials->find(s.meta.name);
    if (it != options.credentials->end() && !it->second.empty()) tokens = &it->second;
  }
  // One delivery per Sandbox (validate refuses a mix). The gate's needs its Host's gate.
  const bool vault = paranoid && tokens && s.spec.has_credentials(CredentialDelivery::kVault);
  const bool by_gate = paranoid && tokens && s.spec.has_credentials(CredentialDelivery::kGate) &&
                       host.spec.isolation == Isolation::kDind && gate_ca;
  if (vault) {
    env[kVaultGithubHostsVariable] = joined(s.spec.github_hosts, ",");
    env[kVaultGitlabHostsVariable] = joined(s.spec.gitlab_hosts, ",");
    env[kVaultAllowPushVariable] = s.spec.git_allow_push ? "1" : "0";
  }
  if (by_gate) {
    // Not secrets: where init-guard finds the CA to trust, and which CLIs get a placeholder.
    std::vector<std::string> providers;
    for (const auto& [provider, token] : *tokens) providers.push_back(provider);
    env[kGateCaVariable] = kGateCaInside;
    env[kGateCredentialsVariable] = joined(providers, ",");
  }
  if (paranoid && !s.spec.blocked_paths.empty())
    env[kBlockedPathsVariable] = joined(s.spec.blocked_paths, ":");
  for (const auto& [k, v] : env) c.env.push_back(k + "=" + v);
  c.labels = o.labels;
  c.working_dir = "/workspace";
  c.hostname = s.meta.name;
  c.network = host_network_name(s.spec.host);

  engine::HostConfig& hc = c.host_config;
  hc.runtime = "runsc";
  hc.restart_policy.name = restart_name(s.spec.restart);
  hc.binds = {o.workspace_dir + ":/workspace", o.home_dir + ":" + kAgentHome};
  // Hardened: the agent's uid whatever the image says, no capability, no way to gain
  // privileges through a setuid file, a root filesystem it cannot change (only its home, its
  // workspace and the scratch folders are writable).
  c.user = kAgentUser;
  hc.cap_drop = {"ALL"};
  hc.security_opt = {"no-new-privileges"};
  hc.readonly_rootfs = true;
  hc.tmpfs = {{"/tmp", "rw,nosuid,nodev,mode=1777"}, {"/var/tmp", "rw,nosuid,nodev,mode=1777"}};
  json credential_digests = json::object();
  std::vector<DesiredObject> files;  // written before the container is made
  if (vault) {
    // init-guard starts as root for the vault, with the few capabilities its duties need, and
    // drops to the agent before the agent runs (no setuid file exists: the agent cannot regain
    // them, and gVisor ignores setuid bits anyway).
    c.user = "0:0";
    for (const char* cap : kVaultCapabilities) hc.cap_add.push_back(cap);
    hc.tmpfs[kInsideRunDir] = "rw,nosuid,nodev,noexec,size=1m,mode=0755";
    const InstancePaths ip = instance_paths(options.state_dir, s.meta.name);
    hc.binds.push_back(ip.secrets() + ":" + kSecretsMount + ":ro");
    const std::string folder = "instances/" + s.meta.name + "/secrets";
    const TokenFolder where{ip.secrets(), folder, options.state_dir, folder, "", s.meta.name};
    for (const auto& [provider, token] : *tokens) {
      DesiredObject f = token_file(o, where, provider, token);
      o.depends_on.push_back(f.name);
      credential_digests[provider] = credential_digest(s.meta.name, provider, token);
      files.push_back(std::move(f));
    }
  }
  if (by_gate) {
    // The token goes to the gate's own folder, never into the sandbox: a new one is a write and
    // a reload of the gate. The sandbox gets the gate's CA certificate (never its key), as a
    // file in a small tmpfs that is the agent's, where init-guard (the agent already) writes
    // the trust bundle with it.
    const HostPaths paths = host_paths(options.state_dir, host.meta.name);
    hc.tmpfs[kInsideRunDir] = "rw,nosuid,nodev,noexec,size=1m,uid=1000,gid=1000,mode=0755";
    hc.binds.push_back(std::string(kHostRunDir) + "/gate/tls/ca.pem:" + kGateCaInside + ":ro");
    o.depends_on.push_back(paths.gate_ca_cert());
    const TokenFolder where{
        paths.gate_secrets(s.meta.name), "gate/secrets/" + s.meta.name,       paths.gate_dir(),
        "secrets/" + s.meta.name,        gate_container_name(host.meta.name), s.meta.name};
    for (const auto& [provider, token] : *tokens) {
      files.push_back(token_file(o, where, provider, token));
    }
  }
  if (!s.spec.blocked_paths.empty()) {
    DesiredObject empty;
    empty.type = ObjectType::kFile;
    // In the instance folder, which a dind Host's container mounts at the same path.
    empty.file.private_folder = "instances/" + s.meta.name + "/blocked";
    empty.name = (fs::path(options.state_dir) / empty.file.private_folder / "empty").string();
    empty.owner = o.owner;
    empty.host = o.host;
    empty.file.path = empty.name;
    empty.file.label = empty.file.private_folder + "/empty";
    empty.file.mode = 0400;
    empty.file.private_base = options.state_dir;
    o.depends_on.push_back(empty.name);
    cover_blocked_paths(s, o, empty.name);
    files.push_back(std::move(empty));
  }
  if (host.spec.isolation == Isolation::kDind) {
    // In the nested engine, after the gate; names resolve at the gate only (the engine's
    // embedded DNS would answer other containers' names: the Host's runtime closes it,
    // images/host/runsc.sh).
    o.engine = host_paths(options.state_dir, host.meta.name).endpoint();
    const HostPaths paths = host_paths(options.state_dir, host.meta.name);
    o.depends_on.push_back(gate_container_name(host.meta.name));
    o.depends_on.push_back(paths.resolv_conf());
    hc.binds.push_back(std::string(kHostRunDir) + "/resolv.conf:/etc/resolv.conf:ro");
    // The gate knows sandboxes by address, so acctl, not the engine, hands them out.
    o.address = AddressRequest{c.network, host.spec.subnet, {host.spec.gate_ip}};
  }
  hc.network_mode = c.network;
  if (s.spec.gpus.requested()) {
    engine::DeviceRequest r;
    r.capabilities = {{"gpu"}};
    if (s.spec.gpus.all) r.count = -1;
    if (s.spec.gpus.count > 0) r.count = s.spec.gpus.count;
    r.device_ids = s.spec.gpus.device_ids;
    hc.device_requests.push_back(r);
  }
  o.live.nano_cpus = s.spec.cpus ? nano_cpus(*s.spec.cpus) : 0;
  o.live.memory = s.spec.memory_bytes.value_or(0);
  o.live.pids = s.spec.pids;
  hc.nano_cpus = o.live.nano_cpus;
  hc.memory = o.live.memory;
  hc.memory_swap = o.live.memory > 0 ? o.live.memory : 0;  // no swap beyond the memory limit
  hc.pids_limit = o.live.pids;
  o.keep_running =
      s.spec.mode != SandboxMode::kHeadless || s.spec.restart == RestartPolicy::kAlways;

  // Everything but the live limits decides whether the container must be replaced.
  engine::Labels user_labels = o.labels;
  json fields = {{"image", c.image},
                 {"cmd", c.cmd},
                 {"entrypoint", c.entrypoint ? json(*c.entrypoint) : json(nullptr)},
                 {"env", c.env},
                 {"labels", user_labels},
                 {"workdir", c.working_dir},
                 {"hostname", c.hostname},
                 {"tty", c.tty},
                 {"stdin", c.open_stdin},
                 {"runtime", hc.runtime},
                 {"restart", hc.restart_policy.name},
                 {"binds", hc.binds},
                 {"network", c.network},
                 {"gpus", device_requests_json(hc.device_requests)},
                 {"user", c.user},
                 {"caps", hc.cap_drop},
                 {"security", hc.security_opt},
                 {"readonly", hc.readonly_rootfs},
                 {"tmpfs", hc.tmpfs}};
  // Only when used, so that sandboxes without them keep their spec hash.
  if (!hc.cap_add.empty()) fields["capsAdded"] = hc.cap_add;
  if (!credential_digests.empty()) fields["credentials"] = credential_digests;
  // The CA it trusts: a Host's new CA (after down, or its files lost) replaces the sandbox,
  // whose mounted certificate would be the old one.
  if (by_gate) fields["gateCA"] = short_hash(*gate_ca);
  seal_spec(o, fields);
  c.labels = o.labels;
  for (DesiredObject& f : files) {
    f.engine = o.engine;
    out.push_back(std::move(f));
  }
  out.push_back(std::move(o));
}

}  // namespace

const char* to_string(ObjectType t) {
  switch (t) {
    case ObjectType::kNetwork:
      return "network";
    case ObjectType::kVolume:
      return "volume";
    case ObjectType::kContainer:
      return "container";
    case ObjectType::kImage:
      return "image";
    case ObjectType::kFile:
      return "file";
    case ObjectType::kEngine:
      return "engine";
    case ObjectType::kGate:
      return "gate";
  }
  return "?";
}

void seal_spec(DesiredObject& o, const json& fields) {
  for (auto& [field, value] : fields.items())
    o.field_hashes[field] = short_hash(value.dump()).substr(0, 8);
  o.spec_hash = short_hash(fields.dump());
  std::string label;
  for (auto& [field, h] : o.field_hashes) label += (label.empty() ? "" : ",") + field + ":" + h;
  o.labels[kLabelSpecHash] = o.spec_hash;
  o.labels[kLabelSpecFields] = label;
}

namespace {

// The Blueprints of a Host's Sandboxes whose images acctl builds (those without a prebuilt one).
std::vector<const Blueprint*> built_blueprints_of(const Model& model, const Host& host) {
  std::vector<const Blueprint*> out;
  for (const Sandbox& s : model.sandboxes) {
    if (s.spec.host != host.meta.name) continue;
    const Blueprint* b = model.find_blueprint(s.spec.blueprint);
    if (b && b->spec.image.empty() && std::find(out.begin(), out.end(), b) == out.end())
      out.push_back(b);
  }
  std::sort(out.begin(), out.end(),
            [](const Blueprint* a, const Blueprint* b) { return a->meta.name < b->meta.name; });
  return out;
}

}  // namespace

Result<DesiredState> render_desired(const Model& model, const RenderOptions& options,
                                    std::vector<std::string>* unsupported) {
  DesiredState out;
  std::set<std::string> rendered;
  std::map<std::string, std::string> gate_cas;  // dind Host → its gate's CA certificate
  for (const Host& h : model.hosts) {
    const auto blueprints = built_blueprints_of(model, h);
    if (h.spec.isolation == Isolation::kDind) {
      if (!options.privileges) {
        if (unsupported) unsupported->push_back(h.meta.name);
        continue;
      }
      auto policy = gate_policy_for(model, h);
      if (!policy) return policy.error();
      auto ca = gate_ca_for(h, options.state_dir);
      if (!ca) return ca.error();
      const bool gpus = std::any_of(
          model.sandboxes.begin(), model.sandboxes.end(),
          [&](const Sandbox& s) { return s.spec.host == h.meta.name && s.spec.gpus.requested(); });
      auto outer = render_host_outer(h, *options.privileges, options.state_dir,
                                     options.project_root, blueprints, gpus);
      if (!outer) return outer.error();
      for (DesiredObject& o : *outer) out.objects.push_back(std::move(o));
      std::vector<std::string> copied;
      if (!options.project_root.empty()) copied.push_back(kGateImage);
      for (const Blueprint* b : blueprints) copied.push_back(blueprint_image_tag(b->meta.name));
      auto nested = render_host_nested(h, options.state_dir, copied, *ca);
      if (!nested) return nested.error();
      for (DesiredObject& o : *nested) out.objects.push_back(std::move(o));
      gate_cas[h.meta.name] = ca->cert_pem;
      out.gates[h.meta.name] = {&h, std::move(*policy), host_network_name(h.meta.name),
                                host_paths(options.state_dir, h.meta.name).gate_config()};
    } else {
      out.objects.push_back(render_network(h));
      if (!blueprints.empty()) {
        if (auto base = base_image_object(h, "")) out.objects.push_back(*base);
      }
      auto agents = agent_image_objects(h, options.project_root, blueprints);
      if (!agents) return agents.error();
      for (DesiredObject& o : *agents) out.objects.push_back(std::move(o));
    }
    out.hosts.push_back(h.meta.name);
    rendered.insert(h.meta.name);
  }
  for (const Sandbox& s : model.sandboxes) {
    const Host* h = model.find_host(s.spec.host);
    if (!h || !rendered.count(h->meta.name)) continue;
    auto ca = gate_cas.find(h->meta.name);
    render_sandbox(s, *model.find_blueprint(s.spec.blueprint), *h, options,
                   ca == gate_cas.end() ? nullptr : &ca->second, out.objects);
  }
  // A gate starts after every file it reads (a sandbox's token too): it loads them at start.
  std::map<std::string, std::vector<std::string>> read_by;  // container → files
  for (const DesiredObject& o : out.objects) {
    if (o.type == ObjectType::kFile && !o.file.reload_container.empty())
      read_by[o.file.reload_container].push_back(o.name);
  }
  for (DesiredObject& o : out.objects) {
    auto files = read_by.find(o.name);
    if (o.type != ObjectType::kContainer || files == read_by.end()) continue;
    for (const std::string& f : files->second) {
      if (std::find(o.depends_on.begin(), o.depends_on.end(), f) == o.depends_on.end())
        o.depends_on.push_back(f);
    }
  }
  return out;
}

Status finish_render(DesiredState& desired, const ObservedState& observed,
                     const std::set<std::string>& leaving) {
  if (auto a = assign_addresses(desired, observed); !a) return a;
  for (const auto& [host, gate] : desired.gates) {
    std::map<std::string, std::string> sandboxes;  // address → name
    std::set<std::string> rendered;                // container names
    for (const DesiredObject& d : desired.objects) {
      if (d.type != ObjectType::kContainer || !d.address || d.address->network != gate.network ||
          d.container.ipv4_address.empty() || !d.labels.count(kLabelInstance))
        continue;
      sandboxes[d.container.ipv4_address] = d.labels.at(kLabelInstance);
      rendered.insert(d.name);
    }
    // Sandboxes on the gate's network that this converge does not render (another manifest's,
    // an instance's, or all of them for start): they keep their entries, or they would lose
    // their policy at the next reload.
    std::map<std::string, std::string> others;  // address → name
    for (const ObservedObject& o : observed.objects) {
      if (o.type != ObjectType::kContainer || rendered.count(o.name) || leaving.count(o.name) ||
          !o.labels.count(kLabelInstance))
        continue;
      auto a = o.addresses.find(gate.network);
      if (a != o.addresses.end() && !sandboxes.count(a->second))
        others[a->second] = o.labels.at(kLabelInstance);
    }
    std::optional<gate::GateConfigFile> current;
    if (auto f = observed.files.find(gate.config_path); f != observed.files.end() && f->second) {
      if (auto parsed = gate::parse_gate_config_file(*f->second)) current = std::move(*parsed);
    }
    for (DesiredObject& d : desired.objects) {
      if (d.type != ObjectType::kFile || d.file.path != gate.config_path) continue;
      gate::GateConfigFile file = gate_config_file(*gate.host, gate.policy, sandboxes);
      keep_gate_entries(file, current ? &*current : nullptr, others);
      // A kept sandbox's credentials need the tls section as much as a rendered one's.
      if (!file.tls && has_credentials(file)) file.tls = gate_tls_file(*gate.host);
      d.file.content = gate::to_json_text(file);
      const std::string wanted = d.file.content;
      d.file.explain = [wanted](const std::string& current) {
        return explain_gate_config_change(current, wanted);
      };
    }
  }
  return ok_status();
}

std::map<std::string, std::string> parse_field_hashes(const std::string& label) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < label.size()) {
    size_t end = label.find(',', start);
    if (end == std::string::npos) end = label.size();
    std::string item = label.substr(start, end - start);
    size_t colon = item.find(':');
    if (colon != std::string::npos) out[item.substr(0, colon)] = item.substr(colon + 1);
    start = end + 1;
  }
  return out;
}

}  // namespace acctl
