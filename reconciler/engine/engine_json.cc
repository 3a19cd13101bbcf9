// JSON request bodies and reply parsing for the Docker Engine API (the one TU that knows nlohmann).
#include "engine/engine_json.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace acctl::engine::json {

using nlohmann::json;

namespace {

// The engine sends null for absent lists and maps, so every getter treats null as empty.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}
bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const json& sub(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}
std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  const json& a = sub(j, key);
  if (a.is_array()) {
    for (const auto& v : a)
      if (v.is_string()) out.push_back(v.get<std::string>());
  } else if (a.is_string()) {
    out.push_back(a.get<std::string>());  // Cmd/Entrypoint may be a plain string
  }
  return out;
}
std::map<std::string, std::string> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  const json& m = sub(j, key);
  if (m.is_object()) {
    for (const auto& [k, v] : m.items())
      if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

template <typename T, typename F>
Result<T> parse_with(std::string_view body, const char* what, F&& f) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error{0, std::string("the engine's reply to ") + what +
                        " is not JSON: " + std::string(body.substr(0, 200))};
  }
  try {
    return f(j);
  } catch (const json::exception& e) {
    return Error{0, std::string("unexpected reply to ") + what + ": " + e.what()};
  }
}

json ipam_pools_json(const std::vector<IpamPool>& pools) {
  json a = json::array();
  for (const auto& p : pools) {
    json c = json::object();
    if (!p.subnet.empty()) c["Subnet"] = p.subnet;
    if (!p.gateway.empty()) c["Gateway"] = p.gateway;
    if (!p.ip_range.empty()) c["IPRange"] = p.ip_range;
    a.push_back(std::move(c));
  }
  return a;
}

std::vector<IpamPool> ipam_pools(const json& network) {
  std::vector<IpamPool> out;
  const json& config = sub(sub(network, "IPAM"), "Config");
  if (config.is_array()) {
    for (const auto& c : config)
      out.push_back({str(c, "Subnet"), str(c, "Gateway"), str(c, "IPRange")});
  }
  return out;
}

HostConfig host_config(const json& h) {
  HostConfig c;
  c.runtime = str(h, "Runtime");
  c.nano_cpus = num(h, "NanoCpus");
  c.memory = num(h, "Memory");
  c.memory_swap = num(h, "MemorySwap");
  c.pids_limit = num(h, "PidsLimit");
  const json& rp = sub(h, "RestartPolicy");
  c.restart_policy = {str(rp, "Name"), static_cast<int>(num(rp, "MaximumRetryCount"))};
  c.binds = strings(h, "Binds");
  c.network_mode = str(h, "NetworkMode");
  const json& dr = sub(h, "DeviceRequests");
  if (dr.is_array()) {
    for (const auto& d : dr) {
      DeviceRequest r{
          str(d, "Driver"), static_cast<int>(num(d, "Count")), strings(d, "DeviceIDs"), {}};
      const json& caps = sub(d, "Capabilities");
      if (caps.is_array()) {
        for (const auto& set : caps) {
          std::vector<std::string> names;
          if (set.is_array())
            for (const auto& n : set)
              if (n.is_string()) names.push_back(n.get<std::string>());
          r.capabilities.push_back(std::move(names));
        }
      }
      c.device_requests.push_back(std::move(r));
    }
  }
  c.cap_add = strings(h, "CapAdd");
  c.cap_drop = strings(h, "CapDrop");
  c.security_opt = strings(h, "SecurityOpt");
  c.readonly_rootfs = flag(h, "ReadonlyRootfs");
  c.tmpfs = string_map(h, "Tmpfs");
  c.privileged = flag(h, "Privileged");
  c.cgroupns_mode = str(h, "CgroupnsMode");
  if (h.contains("LogConfig") && h["LogConfig"].is_object()) {
    c.log_driver = str(h["LogConfig"], "Type");
    c.log_options = string_map(h["LogConfig"], "Config");
  }
  return c;
}

json host_config_json(const HostConfig& c) {
  json h = json::object();
  if (!c.runtime.empty()) h["Runtime"] = c.runtime;
  if (c.nano_cpus) h["NanoCpus"] = c.nano_cpus;
  if (c.memory) h["Memory"] = c.memory;
  if (c.memory_swap) h["MemorySwap"] = c.memory_swap;
  if (c.pids_limit) h["PidsLimit"] = c.pids_limit;
  if (!c.restart_policy.name.empty()) {
    h["RestartPolicy"] = {{"Name", c.restart_policy.name},
                          {"MaximumRetryCount", c.restart_policy.maximum_retry_count}};
  }
  if (!c.binds.empty()) h["Binds"] = c.binds;
  if (!c.network_mode.empty()) h["NetworkMode"] = c.network_mode;
  if (!c.device_requests.empty()) {
    json a = json::array();
    for (const auto& d : c.device_requests) {
      json r = {{"Driver", d.driver}, {"Count", d.count}, {"Capabilities", d.capabilities}};
      r["DeviceIDs"] = d.device_ids.empty() ? json(nullptr) : json(d.device_ids);
      a.push_back(std::move(r));
    }
    h["DeviceRequests"] = std::move(a);
  }
  if (!c.cap_add.empty()) h["CapAdd"] = c.cap_add;
  if (!c.cap_drop.empty()) h["CapDrop"] = c.cap_drop;
  if (!c.security_opt.empty()) h["SecurityOpt"] = c.security_opt;
  if (c.readonly_rootfs) h["ReadonlyRootfs"] = true;
  if (c.privileged) h["Privileged"] = true;
  if (!c.cgroupns_mode.empty()) h["CgroupnsMode"] = c.cgroupns_mode;
  if (!c.tmpfs.empty()) h["Tmpfs"] = c.tmpfs;
  if (!c.log_driver.empty()) {
    h["LogConfig"] = {{"Type", c.log_driver}, {"Config", json(c.log_options)}};
  }
  return h;
}

NetworkInfo network_info(const json& n) {
  NetworkInfo info;
  info.id = str(n, "Id");
  info.name = str(n, "Name");
  info.driver = str(n, "Driver");
  info.scope = str(n, "Scope");
  info.internal = flag(n, "Internal");
  info.ipam = ipam_pools(n);
  info.labels = string_map(n, "Labels");
  info.options = string_map(n, "Options");
  const json& cs = sub(n, "Containers");
  if (cs.is_object()) {
    for (const auto& [id, c] : cs.items()) info.containers[id] = str(c, "IPv4Address");
  }
  return info;
}

VolumeInfo volume_info(const json& v) {
  return {str(v, "Name"), str(v, "Driver"), str(v, "Mountpoint"), str(v, "CreatedAt"),
          string_map(v, "Labels")};
}

}  // namespace

std::string container_create_body(const ContainerSpec& s) {
  json j = json::object();
  j["Image"] = s.image;
  if (!s.cmd.empty()) j["Cmd"] = s.cmd;
  if (s.entrypoint) {
    // [""] is the engine's way to say "no entrypoint" (an empty list means "the image's").
    j["Entrypoint"] = s.entrypoint->empty() ? std::vector<std::string>{""} : *s.entrypoint;
  }
  if (!s.env.empty()) j["Env"] = s.env;
  j["Labels"] = s.labels;
  if (!s.working_dir.empty()) j["WorkingDir"] = s.working_dir;
  if (!s.user.empty()) j["User"] = s.user;
  if (!s.hostname.empty()) j["Hostname"] = s.hostname;
  j["Tty"] = s.tty;
  j["OpenStdin"] = s.open_stdin;
  j["StdinOnce"] = s.stdin_once;
  HostConfig hc = s.host_config;
  if (hc.network_mode.empty() && !s.network.empty()) hc.network_mode = s.network;
  j["HostConfig"] = host_config_json(hc);
  if (!s.network.empty()) {
    json ep = json::object();
    if (!s.ipv4_address.empty()) ep["IPAMConfig"] = {{"IPv4Address", s.ipv4_address}};
    if (!s.network_aliases.empty()) ep["Aliases"] = s.network_aliases;
    j["NetworkingConfig"] = {{"EndpointsConfig", {{s.network, ep}}}};
  }
  return j.dump();
}

std::string resource_update_body(const ResourceUpdate& u) {
  json j = json::object();
  if (u.nano_cpus) j["NanoCpus"] = *u.nano_cpus;
  if (u.memory) j["Memory"] = *u.memory;
  if (u.memory_swap) j["MemorySwap"] = *u.memory_swap;
  if (u.pids_limit) j["PidsLimit"] = *u.pids_limit;
  return j.dump();
}

std::string network_create_body(const NetworkSpec& s) {
  json j = {{"Name", s.name},
            // Without it the engine happily creates a second network of the same name.
            {"CheckDuplicate", true},
            {"Driver", s.driver},
            {"Internal", s.internal},
            {"Attachable", s.attachable},
            {"Labels", s.labels},
            {"Options", s.options}};
  if (!s.ipam.empty()) j["IPAM"] = {{"Driver", "default"}, {"Config", ipam_pools_json(s.ipam)}};
  return j.dump();
}

std::string network_connect_body(const std::string& container, const std::string& ipv4,
                                 const std::vector<std::string>& aliases) {
  json ep = json::object();
  if (!ipv4.empty()) ep["IPAMConfig"] = {{"IPv4Address", ipv4}};
  if (!aliases.empty()) ep["Aliases"] = aliases;
  return json{{"Container", container}, {"EndpointConfig", ep}}.dump();
}

std::string network_disconnect_body(const std::string& container, bool force) {
  return json{{"Container", container}, {"Force", force}}.dump();
}

std::string volume_create_body(const VolumeSpec& s) {
  return json{
      {"Name", s.name}, {"Driver", s.driver}, {"Labels", s.labels}, {"DriverOpts", s.driver_opts}}
      .dump();
}

std::string exec_create_body(const ExecSpec& s) {
  json j = {{"Cmd", s.cmd},
            {"Tty", s.tty},
            {"AttachStdin", s.attach_stdin},
            {"AttachStdout", s.attach_stdout},
            {"AttachStderr", s.attach_stderr},
            {"Privileged", s.privileged}};
  if (!s.env.empty()) j["Env"] = s.env;
  if (!s.user.empty()) j["User"] = s.user;
  if (!s.working_dir.empty()) j["WorkingDir"] = s.working_dir;
  return j.dump();
}

std::string exec_start_body(bool tty) {
  // The engine frames the output by this Tty, not the exec's own: they must agree.
  return json{{"Detach", false}, {"Tty", tty}}.dump();
}

std::string quote(const std::string& text) {
  return json(text).dump();
}

std::string labels_json(const Labels& labels) {
  return json(labels).dump();
}
std::string string_map_json(const std::map<std::string, std::string>& map) {
  return json(map).dump();
}

Result<VersionInfo> parse_version(std::string_view body) {
  return parse_with<VersionInfo>(body, "GET /version", [](const json& j) {
    VersionInfo v;
    v.server_version = str(j, "Version");
    v.server_api_version = str(j, "ApiVersion");
    v.os = str(j, "Os");
    v.arch = str(j, "Arch");
    v.kernel_version = str(j, "KernelVersion");
    return v;
  });
}

Status parse_info(std::string_view body, VersionInfo& into) {
  return parse_with<Unit>(body, "GET /info", [&](const json& j) {
    into.runtimes.clear();
    const json& rt = sub(j, "Runtimes");
    if (rt.is_object())
      for (const auto& [name, _] : rt.items()) into.runtimes.push_back(name);
    std::sort(into.runtimes.begin(), into.runtimes.end());
    into.default_runtime = str(j, "DefaultRuntime");
    if (into.os.empty()) into.os = str(j, "OSType");
    return Unit{};
  });
}

Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body) {
  return parse_with<std::vector<ContainerSummary>>(body, "GET /containers/json", [](const json& j) {
    std::vector<ContainerSummary> out;
    for (const auto& c : j) {
      ContainerSummary s;
      s.id = str(c, "Id");
      for (auto name : strings(c, "Names")) {
        if (!name.empty() && name[0] == '/') name.erase(0, 1);
        s.names.push_back(std::move(name));
      }
      s.image = str(c, "Image");
      s.labels = string_map(c, "Labels");
      s.state = str(c, "State");
      s.status = str(c, "Status");
      s.created = num(c, "Created");
      out.push_back(std::move(s));
    }
    return out;
  });
}

Result<ContainerInfo> parse_container_inspect(std::string_view body) {
  return parse_with<ContainerInfo>(body, "GET /containers/{id}/json", [](const json& j) {
    ContainerInfo c;
    c.id = str(j, "Id");
    c.name = str(j, "Name");
    if (!c.name.empty() && c.name[0] == '/') c.name.erase(0, 1);
    c.image = str(j, "Image");
    c.created = str(j, "Created");
    c.restart_count = static_cast<int>(num(j, "RestartCount"));
    const json& st = sub(j, "State");
    c.state = {str(st, "Status"),
               flag(st, "Running"),
               static_cast<int>(num(st, "ExitCode")),
               flag(st, "OOMKilled"),
               str(st, "Error"),
               str(st, "StartedAt"),
               str(st, "FinishedAt"),
               str(sub(st, "Health"), "Status")};
    const json& cf = sub(j, "Config");
    c.config.image = str(cf, "Image");
    c.config.env = strings(cf, "Env");
    c.config.cmd = strings(cf, "Cmd");
    c.config.entrypoint = strings(cf, "Entrypoint");
    c.config.working_dir = str(cf, "WorkingDir");
    c.config.user = str(cf, "User");
    c.config.hostname = str(cf, "Hostname");
    c.config.tty = flag(cf, "Tty");
    c.config.open_stdin = flag(cf, "OpenStdin");
    c.config.labels = string_map(cf, "Labels");
    c.host_config = host_config(sub(j, "HostConfig"));
    const json& nets = sub(sub(j, "NetworkSettings"), "Networks");
    if (nets.is_object()) {
      for (const auto& [name, n] : nets.items()) {
        EndpointInfo e;
        e.network_id = str(n, "NetworkID");
        e.ip_address = str(n, "IPAddress");
        e.ipam_ipv4 = str(sub(n, "IPAMConfig"), "IPv4Address");
        e.aliases = strings(n, "Aliases");
        e.gateway = str(n, "Gateway");
        c.networks[name] = std::move(e);
      }
    }
    return c;
  });
}

Result<std::string> parse_created_id(std::string_view body) {
  return parse_with<std::string>(body, "create", [](const json& j) { return str(j, "Id"); });
}

Result<int> parse_wait(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Error{0, "the engine's reply to wait is not JSON"};
  std::string err = str(sub(j, "Error"), "Message");
  if (!err.empty()) return Error{0, "waiting for the container failed: " + err};
  return static_cast<int>(num(j, "StatusCode"));
}

Result<std::vector<NetworkInfo>> parse_network_list(std::string_view body) {
  return parse_with<std::vector<NetworkInfo>>(body, "GET /networks", [](const json& j) {
    std::vector<NetworkInfo> out;
    for (const auto& n : j) out.push_back(network_info(n));
    return out;
  });
}

Result<NetworkInfo> parse_network_inspect(std::string_view body) {
  return parse_with<NetworkInfo>(body, "GET /networks/{id}", network_info);
}

Result<std::vector<VolumeInfo>> parse_volume_list(std::string_view body) {
  return parse_with<std::vector<VolumeInfo>>(body, "GET /volumes", [](const json& j) {
    std::vector<VolumeInfo> out;
    const json& vs = sub(j, "Volumes");
    if (vs.is_array())
      for (const auto& v : vs) out.push_back(volume_info(v));
    return out;
  });
}

Result<VolumeInfo> parse_volume(std::string_view body) {
  return parse_with<VolumeInfo>(body, "volume", volume_info);
}

Result<std::vector<ImageInfo>> parse_image_list(std::string_view body) {
  return parse_with<std::vector<ImageInfo>>(body, "GET /images/json", [](const json& j) {
    std::vector<ImageInfo> out;
    for (const auto& i : j) {
      ImageInfo info{str(i, "Id"), strings(i, "RepoTags"), string_map(i, "Labels"),
                     std::to_string(num(i, "Created")), num(i, "Size")};
      // Untagged images come back as "<none>:<none>".
      std::erase(info.repo_tags, "<none>:<none>");
      out.push_back(std::move(info));
    }
    return out;
  });
}

Result<ImageInfo> parse_image_inspect(std::string_view body) {
  return parse_with<ImageInfo>(body, "GET /images/{name}/json", [](const json& j) {
    ImageInfo info{str(j, "Id"), strings(j, "RepoTags"), string_map(sub(j, "Config"), "Labels"),
                   str(j, "Created"), num(j, "Size")};
    info.layers = strings(sub(j, "RootFS"), "Layers");
    return info;
  });
}

Result<ContainerStats> parse_stats(std::string_view body) {
  return parse_with<ContainerStats>(body, "GET /containers/{id}/stats", [](const json& j) {
    ContainerStats s;
    const json& cpu = sub(j, "cpu_stats");
    const json& pre = sub(j, "precpu_stats");
    // The engine's own formula: the container's share of the machine's CPU time between the two
    // samples, scaled to the number of CPUs (so one busy CPU is 100).
    const double used = static_cast<double>(num(sub(cpu, "cpu_usage"), "total_usage") -
                                            num(sub(pre, "cpu_usage"), "total_usage"));
    const double system =
        static_cast<double>(num(cpu, "system_cpu_usage") - num(pre, "system_cpu_usage"));
    int64_t cpus = num(cpu, "online_cpus");
    if (cpus == 0) {
      const json& per = sub(sub(cpu, "cpu_usage"), "percpu_usage");
      cpus = per.is_array() ? static_cast<int64_t>(per.size()) : 1;
    }
    if (used > 0 && system > 0) s.cpu_percent = used / system * static_cast<double>(cpus) * 100.0;
    const json& mem = sub(j, "memory_stats");
    // cgroup v1 reports page cache inside usage; what a person means by "memory" excludes it.
    const json& detail = sub(mem, "stats");
    int64_t cache = num(detail, "total_inactive_file");
    if (cache == 0) cache = num(detail, "inactive_file");
    s.memory_usage = std::max<int64_t>(0, num(mem, "usage") - cache);
    s.memory_limit = num(mem, "limit");
    s.pids = num(sub(j, "pids_stats"), "current");
    return s;
  });
}

Result<DiskUsage> parse_disk_usage(std::string_view body) {
  return parse_with<DiskUsage>(body, "GET /system/df", [](const json& j) {
    DiskUsage d;
    d.images = num(j, "LayersSize");
    if (const json& images = sub(j, "Images"); images.is_array()) d.image_count = images.size();
    if (const json& cs = sub(j, "Containers"); cs.is_array()) {
      d.container_count = cs.size();
      for (const json& c : cs) d.containers += num(c, "SizeRw");
    }
    if (const json& vs = sub(j, "Volumes"); vs.is_array()) {
      d.volume_count = vs.size();
      for (const json& v : vs) {
        const int64_t size = num(sub(v, "UsageData"), "Size");
        if (size > 0) d.volumes += size;  // -1: the engine did not measure it
      }
    }
    if (const json& bc = sub(j, "BuildCache"); bc.is_array()) {
      for (const json& b : bc) d.build_cache += num(b, "Size");
    }
    return d;
  });
}

Result<ExecInfo> parse_exec_inspect(std::string_view body) {
  return parse_with<ExecInfo>(body, "GET /exec/{id}/json", [](const json& j) {
    ExecInfo e;
    e.id = str(j, "ID");
    e.container_id = str(j, "ContainerID");
    e.running = flag(j, "Running");
    // null until the process has ended.
    if (auto it = j.find("ExitCode"); it != j.end() && it->is_number()) {
      e.exit_code = it->get<int>();
    }
    e.pid = num(j, "Pid");
    e.tty = flag(sub(j, "ProcessConfig"), "tty");
    return e;
  });
}

Result<Event> parse_event(std::string_view line) {
  return parse_with<Event>(line, "GET /events", [&](const json& j) {
    Event e;
    e.type = str(j, "Type");
    e.action = str(j, "Action");
    if (e.action.empty()) e.action = str(j, "status");
    const json& actor = sub(j, "Actor");
    e.actor_id = str(actor, "ID");
    if (e.actor_id.empty()) e.actor_id = str(j, "id");
    e.attributes = string_map(actor, "Attributes");
    e.time_nano = num(j, "timeNano");
    if (e.time_nano == 0) e.time_nano = num(j, "time") * 1000000000;
    e.json = std::string(line);
    return e;
  });
}

ProgressParse parse_progress(std::string_view line) {
  ProgressParse p;
  p.line.json = std::string(line);
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    p.line.text = std::string(line);
    return p;
  }
  std::string err = str(sub(j, "errorDetail"), "message");
  if (err.empty()) err = str(j, "error");
  p.error = err;
  if (j.contains("stream")) {
    p.line.text = str(j, "stream");
  } else if (j.contains("status")) {
    std::string status = str(j, "status");
    p.line.text = status;
    if (auto id = str(j, "id"); !id.empty()) p.line.text = id + ": " + p.line.text;
    if (auto progress = str(j, "progress"); !progress.empty()) p.line.text += " " + progress;
    // An import ends with the new image's id as its status.
    if (status.rfind("sha256:", 0) == 0) p.image_id = status;
  } else if (!err.empty()) {
    p.line.text = err;
  }
  if (auto id = str(sub(j, "aux"), "ID"); !id.empty()) p.image_id = id;
  while (!p.line.text.empty() && p.line.text.back() == '\n') p.line.text.pop_back();
  return p;
}

std::string error_message(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto m = str(j, "message"); !m.empty()) return m;
  }
  std::string text(body);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace acctl::engine::json
