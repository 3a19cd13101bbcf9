// Rendering of a dind Host's objects on both engines, its gate's config and its run folder.
#include "converge/sandbox_host.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "converge/gate_policy.h"
#include "converge/image_objects.h"
#include "gate/tls/gate_ca.h"
#include "images/image_build.h"
#include "manifest/names.h"
#include "manifest/quantity.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Capability names by number (linux/capability.h), as the engine's CapAdd takes them.
constexpr const char* kCapabilityNames[] = {"CHOWN",
                                            "DAC_OVERRIDE",
                                            "DAC_READ_SEARCH",
                                            "FOWNER",
                                            "FSETID",
                                            "KILL",
                                            "SETGID",
                                            "SETUID",
                                            "SETPCAP",
                                            "LINUX_IMMUTABLE",
                                            "NET_BIND_SERVICE",
                                            "NET_BROADCAST",
                                            "NET_ADMIN",
                                            "NET_RAW",
                                            "IPC_LOCK",
                                            "IPC_OWNER",
                                            "SYS_MODULE",
                                            "SYS_RAWIO",
                                            "SYS_CHROOT",
                                            "SYS_PTRACE",
                                            "SYS_PACCT",
                                            "SYS_ADMIN",
                                            "SYS_BOOT",
                                            "SYS_NICE",
                                            "SYS_RESOURCE",
                                            "SYS_TIME",
                                            "SYS_TTY_CONFIG",
                                            "MKNOD",
                                            "LEASE",
                                            "AUDIT_WRITE",
                                            "AUDIT_CONTROL",
                                            "SETFCAP",
                                            "MAC_OVERRIDE",
                                            "MAC_ADMIN",
                                            "SYSLOG",
                                            "WAKE_ALARM",
                                            "BLOCK_SUSPEND",
                                            "AUDIT_READ",
                                            "PERFMON",
                                            "BPF",
                                            "CHECKPOINT_RESTORE"};
constexpr int kKnownCaps = static_cast<int>(std::size(kCapabilityNames));
// Docker 20.10 (Debian's) knows capabilities up to AUDIT_READ and refuses CapAdd with newer
// names ("unknown capability: CAP_PERFMON"); the host container does without those three.
constexpr int kEngineKnownCaps = 38;

// An object of Host `host` on the given engine ("" = the Host's own), labelled as the Host's.
DesiredObject host_object(ObjectType type, const std::string& name, const std::string& host,
                          const std::string& engine) {
  DesiredObject o;
  o.type = type;
  o.name = name;
  o.owner = "Host/" + host;
  o.host = host;
  o.engine = engine;
  o.labels = managed_labels("Host", host, host);
  return o;
}

}  // namespace

HostPrivileges privileges_from_mask(uint64_t bounding, int last_cap) {
  HostPrivileges p;
  const int last = std::min(last_cap, 63);
  for (int cap = 0; cap <= last; ++cap) {
    const std::string name =
        cap < kKnownCaps ? kCapabilityNames[cap] : "CAP_" + std::to_string(cap);
    if (bounding & (uint64_t{1} << cap)) {
      if (cap < kEngineKnownCaps) p.capabilities.push_back(name);
    } else {
      p.missing.push_back(name);
    }
  }
  // --privileged asks for the whole set; it fails where the bounding set lacks any of it.
  p.privileged = p.missing.empty();
  if (p.privileged) p.capabilities.clear();
  return p;
}

HostPrivileges detect_privileges() {
  uint64_t mask = 0;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("CapBnd:")) mask = std::stoull(line.substr(7), nullptr, 16);
  }
  int last = kKnownCaps - 1;
  std::ifstream last_cap("/proc/sys/kernel/cap_last_cap");
  last_cap >> last;
  return privileges_from_mask(mask, last);
}

Result<std::vector<DesiredObject>> render_host_outer(
    const Host& h, const HostPrivileges& privileges, const std::string& state_dir,
    const std::string& project_root, const std::vector<const Blueprint*>& blueprints, bool gpus) {
  const std::string& name = h.meta.name;
  const HostPaths paths = host_paths(state_dir, name);
  const std::string owner = "Host/" + name;
  std::vector<DesiredObject> out;
  // The images: made on this engine (its layer cache stays across `down`), the gate's and the
  // Blueprints' then copied into the nested engine.
  if (auto base = base_image_object(h, "")) out.push_back(*base);
  if (!project_root.empty()) {
    for (auto* recipe : {&host_image_recipe, &gate_image_recipe}) {
      auto img = built_image_object((*recipe)(project_root, h.spec.base_image), h.spec.base_image,
                                    h, owner, "");
      if (!img) return img.error();
      out.push_back(std::move(*img));
    }
  }
  auto agents = agent_image_objects(h, project_root, blueprints);
  if (!agents) return agents.error();
  for (DesiredObject& o : *agents) out.push_back(std::move(o));

  DesiredObject v = host_object(ObjectType::kVolume, dind_volume_name(name), name, "");
  seal_spec(v, {{"purpose", "nested engine storage"}});
  v.volume.name = v.name;
  v.volume.labels = v.labels;
  out.push_back(v);

  DesiredObject o = host_object(ObjectType::kContainer, dind_container_name(name), name, "");
  o.depends_on = {v.name};
  o.keep_running = true;
  engine::ContainerSpec& c = o.container;
  c.name = o.name;
  c.image = kHostImage;
  c.hostname = o.name;
  c.env = {"AC_SUBNET=" + h.spec.subnet.str(),
           "AC_GATE_IP=" + h.spec.gate_ip.str(),
           "AC_BRIDGE=" + std::string(kSandboxBridge),
           std::string("AC_RUNSC_PLATFORM=") + to_string(h.spec.runsc_platform),
           std::string("AC_RUNSC_NETWORK=") + to_string(h.spec.runsc_network),
           std::string("AC_RUNSC_DEBUG=") + (h.spec.runsc_debug ? "1" : "0")};
  engine::HostConfig& hc = c.host_config;
  hc.runtime = "runc";  // the nested engine needs the kernel's namespaces and cgroups
  hc.privileged = privileges.privileged;
  hc.cap_add = privileges.capabilities;
  // seccomp: runsc's sandbox start needs syscalls the default profile refuses. AppArmor's
  // default profile refuses the cgroup re-mounts where AppArmor runs.
  hc.security_opt = {"seccomp=unconfined", "apparmor=unconfined"};
  // Its own cgroup namespace: nested containers then sit under the host container's cgroup, so
  // Host.spec.resources limit them too.
  hc.cgroupns_mode = "private";
  if (gpus) {
    engine::DeviceRequest all;
    all.count = -1;
    all.capabilities = {{"gpu"}};
    hc.device_requests = {all};
  }
  // The workspaces are mounted at the same path, so the nested engine's binds name the
  // machine's folders.
  const std::string instances = (fs::path(state_dir) / "instances").lexically_normal().string();
  hc.binds = {v.name + ":/var/lib/docker", paths.run_dir + ":" + kHostRunDir,
              instances + ":" + instances};
  hc.restart_policy.name = "unless-stopped";
  o.live.nano_cpus = h.spec.cpus ? nano_cpus(*h.spec.cpus) : 0;
  o.live.memory = h.spec.memory_bytes.value_or(0);
  hc.nano_cpus = o.live.nano_cpus;
  hc.memory = o.live.memory;
  hc.memory_swap = o.live.memory > 0 ? o.live.memory : 0;
  json fields = {{"image", c.image},
                 {"env", c.env},
                 {"runtime", hc.runtime},
                 {"privileged", hc.privileged},
                 {"caps", hc.cap_add},
                 {"security", hc.security_opt},
                 {"cgroupns", hc.cgroupns_mode},
                 {"binds", hc.binds},
                 {"restart", hc.restart_policy.name}};
  // Only when asked: a Host without GPU Sandboxes keeps the hash it had before GPUs existed, so
  // an upgrade of acctl does not replace it.
  if (gpus) fields["gpus"] = true;
  seal_spec(o, fields);
  c.labels = o.labels;
  out.push_back(o);

  DesiredObject engine = host_object(ObjectType::kEngine, paths.endpoint(), name, "");
  engine.nested = {paths.endpoint(), o.name, paths.status_file(), name};
  engine.depends_on = {o.name};
  out.push_back(engine);
  return out;
}

Result<GateCa> gate_ca_for(const Host& h, const std::string& state_dir) {
  const HostPaths paths = host_paths(state_dir, h.meta.name);
  auto cert = read_file_if_exists(paths.gate_ca_cert());
  if (!cert) return cert.error();
  auto key = read_file_if_exists(paths.gate_ca_key());
  if (!key) return key.error();
  if (*cert && *key && !(*cert)->empty() && !(*key)->empty()) return GateCa{**cert, **key};
  auto made = gate::create_ca("acctl gate CA for Host/" + h.meta.name, 3650);
  if (!made) return made.error().within("making the gate's CA of Host/" + h.meta.name);
  return GateCa{std::move(made->cert_pem), std::move(made->key_pem)};
}

Result<std::vector<DesiredObject>> render_host_nested(const Host& h, const std::string& state_dir,
                                                      const std::vector<std::string>& images,
                                                      const GateCa& ca) {
  const std::string& name = h.meta.name;
  const HostPaths paths = host_paths(state_dir, name);
  std::vector<DesiredObject> out;
  for (const std::string& tag : images)
    out.push_back(copied_image_object(tag, h, paths.endpoint()));

  // The files the gate and the sandboxes mount: written before they start.
  auto file = [&](const std::string& path, const std::string& label) {
    DesiredObject f = host_object(ObjectType::kFile, path, name, paths.endpoint());
    f.file.path = path;
    f.file.label = label;
    return f;
  };
  DesiredObject resolv = file(paths.resolv_conf(), "resolv.conf");
  resolv.file.content = resolv_conf_text(h);
  out.push_back(resolv);
  DesiredObject config = file(paths.gate_config(), "gate/config.json");
  config.file.reload_container = gate_container_name(name);
  out.push_back(config);
  // What the gate reads beside its config: its CA and the Host's extra trust. The key is the
  // gate's alone: root's, 0600, in the folder only the gate mounts (a sandbox gets the
  // certificate, as a file).
  std::vector<std::string> gate_files = {paths.gate_config()};
  auto gate_file = [&](const std::string& path, const std::string& label, std::string content,
                       int mode) {
    DesiredObject f = file(path, label);
    f.file.content = std::move(content);
    f.file.mode = mode;
    f.file.reload_container = gate_container_name(name);
    gate_files.push_back(path);
    return f;
  };
  for (auto [path, label, content, mode] :
       {std::tuple{paths.gate_ca_cert(), "gate/tls/ca.pem", &ca.cert_pem, 0644},
        std::tuple{paths.gate_ca_key(), "gate/tls/ca.key", &ca.key_pem, 0600}}) {
    DesiredObject f = gate_file(path, label, *content, mode);
    // Written only when the pair is not there whole: then both are new.
    f.file.explain = [](const std::string&) {
      return std::vector<std::string>{"a new CA (the pair was incomplete)"};
    };
    out.push_back(std::move(f));
  }
  for (const TrustFile& t : gate_trust_files(h)) {
    auto text = read_file_if_exists(t.source);
    if (!text) return text.error().within("Host/" + name + ": trust.caFiles");
    if (!*text) return Error{0, "Host/" + name + ": trust.caFiles: " + t.source + " is gone"};
    DesiredObject f =
        gate_file(paths.gate_trust_dir() + "/" + t.name, "gate/trust/" + t.name, **text, 0644);
    f.file.explain = [source = t.source](const std::string&) {
      return std::vector<std::string>{"copied again from " + source};
    };
    out.push_back(std::move(f));
  }

  DesiredObject net =
      host_object(ObjectType::kNetwork, host_network_name(name), name, paths.endpoint());
  net.network.name = net.name;
  net.network.internal = true;
  net.network.ipam = {{h.spec.subnet.str(), "", ""}};
  net.network.options = {{"com.docker.network.bridge.name", kSandboxBridge}};
  seal_spec(net, {{"driver", "bridge"},
                  {"internal", true},
                  {"subnet", h.spec.subnet.str()},
                  {"bridge", kSandboxBridge}});
  net.network.labels = net.labels;
  out.push_back(net);

  DesiredObject egress =
      host_object(ObjectType::kNetwork, egress_network_name(name), name, paths.endpoint());
  // After the sandbox network: the engine picks this one's subnet and must not take that one.
  egress.depends_on = {net.name};
  egress.network.name = egress.name;
  seal_spec(egress, {{"driver", "bridge"}, {"internal", false}});
  egress.network.labels = egress.labels;
  out.push_back(egress);

  DesiredObject g =
      host_object(ObjectType::kContainer, gate_container_name(name), name, paths.endpoint());
  g.depends_on = {net.name, egress.name};
  g.depends_on.insert(g.depends_on.end(), gate_files.begin(), gate_files.end());
  g.keep_running = true;
  engine::ContainerSpec& c = g.container;
  c.name = g.name;
  c.image = kGateImage;
  c.hostname = "gate";
  c.network = net.name;
  c.ipv4_address = h.spec.gate_ip.str();
  c.extra_networks = {egress.name};
  engine::HostConfig& hc = c.host_config;
  hc.runtime = "runc";
  hc.network_mode = net.name;
  hc.cap_drop = {"ALL"};
  hc.cap_add = {"NET_BIND_SERVICE"};
  hc.security_opt = {"no-new-privileges"};
  hc.readonly_rootfs = true;
  hc.binds = {std::string(kHostRunDir) + "/gate:" + kGateConfigMount + ":ro"};
  hc.restart_policy.name = "unless-stopped";
  hc.pids_limit = 256;
  g.live.pids = 256;
  // Its stdout is the audit log: how much of it the nested engine keeps is the Host's to say.
  if (!h.spec.gate_log_size.empty() || h.spec.gate_log_files > 0) {
    hc.log_driver = "json-file";
    if (!h.spec.gate_log_size.empty()) hc.log_options["max-size"] = h.spec.gate_log_size;
    if (h.spec.gate_log_files > 0)
      hc.log_options["max-file"] = std::to_string(h.spec.gate_log_files);
  }
  // The policy is not here: it is a file the gate reloads, so a change never restarts it.
  json fields = {{"image", c.image},
                 {"ip", c.ipv4_address},
                 {"networks", {net.name, egress.name}},
                 {"caps", hc.cap_add},
                 {"readonly", true},
                 {"binds", hc.binds},
                 {"restart", hc.restart_policy.name}};
  if (!hc.log_driver.empty())
    fields["log"] = {{"driver", hc.log_driver}, {"options", hc.log_options}};
  seal_spec(g, fields);
  c.labels = g.labels;
  out.push_back(g);
  return out;
}

std::optional<HostReport> read_host_report(const HostPaths& paths) {
  std::ifstream in(paths.status_file());
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto s = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
  };
  HostReport r;
  r.ready = j.value("ready", false);
  r.runsc_network = s("runscNetwork");
  r.reason = s("reason");
  r.platform = s("platform");
  r.debug = j.contains("debug") && (j["debug"] == true || j["debug"] == 1 || j["debug"] == "1");
  r.runsc_version = s("runscVersion");
  r.docker_version = s("dockerVersion");
  r.started = s("started");
  return r;
}

}  // namespace acctl
