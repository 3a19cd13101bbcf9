// Semantic checks across documents (references, names, addresses, quantities) and the typed model.
#include "manifest/manifest.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/parallel.h"
#include "manifest/cross_checks.h"
#include "manifest/quantity.h"
#include "manifest/schema.h"
#include "manifest/schema_check.h"
#include "manifest/yaml_loader.h"
#include "netpolicy/domain.h"

namespace acctl {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using netpolicy::Cidr;
using netpolicy::IpAddress;

constexpr int64_t kMinMemory = 6 << 20;  // the engine refuses less than 6 MiB
// What a gVisor sandbox boots in, measured on this machine kind (tests/bench/gvisor_floor.sh,
// Debian's runsc 20221219, 2 cores; alone and ten at once): every start succeeded at 16 MiB and
// none at 12 MiB; with pids 56 the idle sandbox lived, at 48 it died after starting and at 32
// or less runsc's start never returned and dockerd held the container. Twice the memory and a
// little above the pids, so a slower machine still boots. cpus has no floor: 0.01 boots, in
// about 15 s.
constexpr int64_t kSandboxMinMemory = 32 << 20;
constexpr int64_t kSandboxMinPids = 64;

std::string q(const std::string& s) {
  return "\"" + s + "\"";
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Lexically normalises a relative path; nullopt when it is absolute or climbs above its start.
std::optional<std::string> normalize_relative(const std::string& path) {
  if (path.empty() || path[0] == '/') return std::nullopt;
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

// Why a blocked path (absolute, normal form) cannot be covered, or nullopt: it would hide a
// folder acctl mounts or the sandbox needs to run (the workspace, the home, the scratch folders,
// acctl's own files, the kernel's file systems) or sit inside one that is not a plain folder.
std::optional<std::string> blocked_path_clash(const std::string& p) {
  for (const char* mount : {"/workspace",
                            "/home/agent",
                            "/tmp",
                            "/var/tmp",
                            "/run/acctl",
                            "/opt/acctl",
                            "/etc/resolv.conf",
                            "/usr",
                            "/bin",
                            "/lib",
                            "/etc",
                            "/sbin",
                            "/home",
                            "/run",
                            "/var",
                            "/opt",
                            "/root",
                            "/proc",
                            "/sys",
                            "/dev"}) {
    const std::string m = mount;
    if (p == m || m.starts_with(p + "/"))
      return "would hide " + m + ", which the sandbox needs; block the files inside it instead";
  }
  for (const char* kernel : {"/proc", "/sys", "/dev", "/run/acctl", "/opt/acctl"}) {
    const std::string k = kernel;
    if (p.starts_with(k + "/"))
      return "is inside " + k +
             ", which acctl cannot cover; block paths of the workspace, "
             "the home or the image";
  }
  return std::nullopt;
}

std::optional<Endpoint> parse_endpoint(const std::string& text, uint16_t default_port) {
  std::string host = text;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port = text.substr(close + 2);
      if (port.empty()) return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
    if (port.empty()) return std::nullopt;
  }
  auto ip = netpolicy::parse_ip(host);
  if (!ip) return std::nullopt;
  Endpoint e{*ip, default_port};
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    int p = std::stoi(port);
    if (p < 1 || p > 65535) return std::nullopt;
    e.port = static_cast<uint16_t>(p);
  }
  return e;
}

// trust.caFiles: each entry a PEM file or a folder whose *.crt and *.pem files count, relative
// to the manifest's folder. -> the absolute paths, sorted; `problem(index, message)` hears what is
// wrong with an entry.
std::vector<std::string> resolve_ca_files(
    const json& list, const std::string& folder,
    const std::function<void(size_t, const std::string&)>& problem) {
  std::set<std::string> out;
  auto pem = [&](const fs::path& p, size_t i) {
    std::ifstream in(p);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      problem(i, "cannot read " + p.string());
    } else if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      problem(i, p.string() + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    } else {
      out.insert(fs::absolute(p).lexically_normal().string());
    }
  };
  for (size_t i = 0; i < list.size(); ++i) {
    fs::path p = list[i].get<std::string>();
    if (p.is_relative()) p = fs::path(folder) / p;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p, ec)) {
        const std::string ext = e.path().extension().string();
        if ((ext == ".crt" || ext == ".pem") && fs::is_regular_file(e.path(), ec)) pem(e.path(), i);
      }
    } else if (fs::is_regular_file(p, ec)) {
      pem(p, i);
    } else {
      problem(i, "CA file " + p.string() + " does not exist");
    }
  }
  return {out.begin(), out.end()};
}

std::string folder_of(const std::string& file);

// Per-document checks; the document has passed its schema and has its defaults filled in.
class DocumentChecker {
 public:
  DocumentChecker(const Document& doc, Diagnostics& out) : doc_(doc), out_(out) {}

  void error(const std::string& pointer, std::string message) {
    out_.add(doc_.file, doc_.value_pos(pointer), doc_.subject(), std::move(message));
  }

  const json& at(const std::string& pointer) const {
    return doc_.value.at(json::json_pointer(pointer));
  }
  bool has(const std::string& pointer) const {
    return doc_.value.contains(json::json_pointer(pointer));
  }

  void domain_patterns(const std::string& pointer) {
    if (!has(pointer)) return;
    const json& list = at(pointer);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string& p = list[i].get_ref<const std::string&>();
      if (auto why = netpolicy::check_domain_pattern(p)) {
        error(pointer + "/" + std::to_string(i), "invalid domain pattern " + q(p) + ": " + *why);
      }
    }
  }

  // Host names, each optionally with ":PORT" (a self-hosted forge on its own port).
  void hostnames(const std::string& pointer) {
    if (!has(pointer)) return;
    const json& list = at(pointer);
    for (size_t i = 0; i < list.size(); ++i) {
      std::string p = list[i].get<std::string>();
      if (size_t colon = p.rfind(':'); colon != std::string::npos) {
        std::string port = p.substr(colon + 1);
        bool numeric = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string::npos;
        if (!numeric || std::stoi(port) < 1 || std::stoi(port) > 65535) {
          error(pointer + "/" + std::to_string(i), "invalid port in " + q(p) + " (1-65535)");
          continue;
        }
        p.resize(colon);
      }
      if (auto why = netpolicy::check_hostname(p)) {
        error(pointer + "/" + std::to_string(i), "invalid host name " + q(p) + ": " + *why);
      }
    }
  }

  // git.repositories (the schema checked the characters): no "." or ".." part, no ".git" the
  // gate would never see (it compares paths with one ".git" dropped), each once whatever its
  // case; a path of more than two parts is GitLab's only.
  void repositories(const std::string& pointer) {
    if (!has(pointer)) return;
    const json& list = at(pointer);
    const bool gitlab = has("/spec/credentials/gitlab");
    std::map<std::string, size_t> first;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = pointer + "/" + std::to_string(i);
      const std::string r = list[i].get<std::string>();
      std::vector<std::string> parts;
      std::stringstream ss(r);
      for (std::string part; std::getline(ss, part, '/');) parts.push_back(part);
      const std::string lowered = ascii_lower(r);
      if (std::any_of(parts.begin(), parts.end(),
                      [](const std::string& p) { return p == "." || p == ".."; })) {
        error(item, "repository " + q(r) + " has a \".\" or \"..\" part");
      } else if (lowered.ends_with(".git")) {
        error(item, "repository " + q(r) + " ends in .git: write " + q(r.substr(0, r.size() - 4)) +
                        " (the gate compares paths without it)");
      } else if (parts.size() > 2 && !gitlab) {
        error(item, "repository " + q(r) + " has " + std::to_string(parts.size()) +
                        " parts, which only a GitLab repository (group/subgroup/repo) has, and "
                        "this Sandbox has no gitlab credential; a GitHub repository is owner/repo");
      } else if (auto [it, inserted] = first.emplace(lowered, i); !inserted) {
        const Position p = doc_.value_pos(pointer + "/" + std::to_string(it->second));
        error(item, "duplicate repository " + q(r) + " (first listed at " + doc_.file + ":" +
                        std::to_string(p.line) + ":" + std::to_string(p.col) + ")");
      }
    }
  }

  void cidrs(const std::string& pointer) {
    if (!has(pointer)) return;
    const json& list = at(pointer);
    for (size_t i = 0; i < list.size(); ++i) {
      auto r = netpolicy::parse_cidr(list[i].get_ref<const std::string&>());
      if (auto* why = std::get_if<std::string>(&r)) {
        error(pointer + "/" + std::to_string(i), "invalid CIDR " + list[i].dump() + ": " + *why);
      }
    }
  }

  void size(const std::string& pointer, int64_t minimum, const char* what) {
    if (!has(pointer)) return;
    auto r = parse_size(at(pointer));
    if (auto* why = std::get_if<std::string>(&r)) return error(pointer, *why);
    if (std::get<int64_t>(r) < minimum) {
      error(pointer, std::string(what) + " must be at least " + format_size(minimum) + " (got " +
                         at(pointer).dump() + ")");
    }
  }

  // Limits a gVisor sandbox cannot boot in: refused here rather than found by a start that
  // fails, or never returns.
  void gvisor_floor() {
    if (has("/spec/resources/memory")) {
      auto r = parse_size(at("/spec/resources/memory"));
      if (auto* bytes = std::get_if<int64_t>(&r);
          bytes && *bytes >= kMinMemory && *bytes < kSandboxMinMemory) {
        error("/spec/resources/memory",
              "memory " + format_size(*bytes) + " is too little for a gVisor sandbox: acctl " +
                  "asks for at least " + format_size(kSandboxMinMemory) +
                  ", twice the least runsc boots in on this machine kind (measured: 12m never " +
                  "boots, 16m does)");
      }
    }
    if (has("/spec/resources/pids")) {
      const int64_t pids = at("/spec/resources/pids").get<int64_t>();
      if (pids >= 1 && pids < kSandboxMinPids) {
        error("/spec/resources/pids",
              "pids " + std::to_string(pids) + " is too few for a gVisor sandbox, whose own " +
                  "threads count against the limit (measured: at 32 or less runsc's start never " +
                  "returns and the engine keeps the container; at 48 the sandbox dies after it " +
                  "starts; 56 boots), so acctl asks for at least " +
                  std::to_string(kSandboxMinPids));
      }
    }
  }

  void cpus(const std::string& pointer) {
    if (!has(pointer)) return;
    auto r = parse_cpus(at(pointer));
    if (auto* why = std::get_if<std::string>(&r)) error(pointer, *why);
  }

  void env(const std::string& pointer, bool reserve_loader_vars) {
    if (!has(pointer)) return;
    for (auto& [name, value] : at(pointer).items()) {
      std::string p = pointer_append(pointer, name);
      if (!valid_env_name(name)) {
        out_.add(doc_.file, doc_.key_pos(p), doc_.subject(),
                 "invalid environment variable name " + q(name) + " (letters, digits and _)");
      } else if (reserve_loader_vars && name.starts_with("LD_")) {
        out_.add(doc_.file, doc_.key_pos(p), doc_.subject(),
                 "environment variable " + q(name) +
                     " is reserved: init-guard sets the dynamic loader's variables");
      }
    }
  }

  void host() {
    resolve_ca_files(at("/spec/trust/caFiles"), folder_of(doc_.file),
                     [&](size_t i, const std::string& message) {
                       error("/spec/trust/caFiles/" + std::to_string(i), message);
                     });
    if (has("/spec/gate/trust")) {
      resolve_ca_files(at("/spec/gate/trust"), folder_of(doc_.file),
                       [&](size_t i, const std::string& message) {
                         error("/spec/gate/trust/" + std::to_string(i), message);
                       });
    }
    std::optional<Cidr> subnet;
    auto r = netpolicy::parse_cidr(at("/spec/network/subnet").get<std::string>());
    if (auto* why = std::get_if<std::string>(&r)) {
      error("/spec/network/subnet",
            "invalid CIDR " + at("/spec/network/subnet").dump() + ": " + *why);
    } else {
      subnet = std::get<Cidr>(r);
      if (!subnet->base.is_v4) {
        error("/spec/network/subnet", "the sandbox network must be an IPv4 subnet");
        subnet.reset();
      } else if (subnet->prefix > 29) {
        error("/spec/network/subnet", "subnet " + subnet->str() + " is too small (at most /29)");
        subnet.reset();
      }
    }
    const std::string gate_text = at("/spec/network/gateIP").get<std::string>();
    auto gate = netpolicy::parse_ip(gate_text);
    if (!gate || !gate->is_v4) {
      error("/spec/network/gateIP", "invalid IP address " + q(gate_text) + " (an IPv4 address)");
    } else if (subnet) {
      if (!subnet->contains(*gate)) {
        error("/spec/network/gateIP",
              "gateIP " + gate_text + " is not inside subnet " + subnet->str());
      } else {
        uint32_t host_bits = (1u << (32 - subnet->prefix)) - 1;
        uint32_t g = (uint32_t{gate->bytes[12]} << 24) | (gate->bytes[13] << 16) |
                     (gate->bytes[14] << 8) | gate->bytes[15];
        if ((g & host_bits) == 0 || (g & host_bits) == host_bits) {
          error("/spec/network/gateIP",
                "gateIP " + gate_text + " is the network or broadcast address of " + subnet->str());
        } else if ((g & host_bits) == 1) {
          error("/spec/network/gateIP",
                "gateIP " + gate_text + " is the network's bridge gateway address; pick another");
        }
      }
    }
    cpus("/spec/resources/cpus");
    size("/spec/resources/memory", 64 << 20, "host memory");
    if (has("/spec/engine")) {
      const std::string e = at("/spec/engine").get<std::string>();
      if (e.starts_with("unix://") && (e.size() <= 7 || e[7] != '/')) {
        error(
            "/spec/engine",
            "a unix:// engine address needs an absolute socket path (unix:///var/run/docker.sock)");
      }
    }
  }

  void egress_policy() {
    domain_patterns("/spec/allow");
    domain_patterns("/spec/deny");
    cidrs("/spec/allowCIDRs");
    cidrs("/spec/denyCIDRs");
    const json& ups = at("/spec/dns/upstreams");
    for (size_t i = 0; i < ups.size(); ++i) {
      if (!parse_endpoint(ups[i].get<std::string>(), 53)) {
        error("/spec/dns/upstreams/" + std::to_string(i),
              "invalid DNS upstream " + ups[i].dump() + " (expected IP, IP:PORT or [IPv6]:PORT)");
      }
    }
    for (auto& [name, ips] : at("/spec/dns/records").items()) {
      std::string p = pointer_append("/spec/dns/records", name);
      if (auto why = netpolicy::check_hostname(name)) {
        out_.add(doc_.file, doc_.key_pos(p), doc_.subject(),
                 "invalid host name " + q(name) + ": " + *why);
      }
      for (size_t i = 0; i < ips.size(); ++i) {
        if (!netpolicy::parse_ip(ips[i].get<std::string>())) {
          error(p + "/" + std::to_string(i), "invalid IP address " + ips[i].dump());
        }
      }
    }
  }

  void blueprint(const std::string& folder) {
    domain_patterns("/spec/egress");
    bool paranoid = at("/spec/hardening") == "paranoid";
    env("/spec/env", paranoid);
    // A prebuilt image replaces the scripts: nothing is built, so they need not exist.
    const bool prebuilt = has("/spec/image");
    // init-guard and the hooks are in the images acctl builds FROM agent-base, not in a
    // prebuilt one: paranoid there would be a promise nothing keeps.
    if (prebuilt && paranoid) {
      error("/spec/hardening",
            "hardening paranoid (the default) needs an image acctl builds (install and run "
            "scripts FROM the agent base image, which carries init-guard and the hooks); a "
            "prebuilt image has neither: set hardening: standard, or build it from scripts");
    }
    for (const char* field : {"/spec/install", "/spec/run"}) {
      if (prebuilt) break;
      const std::string path = at(field).get<std::string>();
      auto norm = normalize_relative(path);
      if (!norm || norm->empty()) {
        error(field, q(path) + " must be a file inside the blueprint's folder (a relative path)");
        continue;
      }
      std::error_code ec;
      if (!fs::is_regular_file(fs::path(folder) / *norm, ec)) {
        error(field,
              q(path) + " not found in the blueprint's folder " + q(folder.empty() ? "." : folder));
      }
    }
  }

  void sandbox() {
    cpus("/spec/resources/cpus");
    size("/spec/resources/memory", kMinMemory, "memory");
    gvisor_floor();
    if (has("/spec/resources/gpus")) {
      const json& g = at("/spec/resources/gpus");
      if (g.is_array()) {
        for (size_t i = 0; i < g.size(); ++i) {
          if (g[i].get<std::string>().empty()) {
            error("/spec/resources/gpus/" + std::to_string(i),
                  "invalid gpus: a device id cannot be empty");
          }
        }
      }
    }
    env("/spec/env", /*reserve_loader_vars=*/true);
    for (const char* cred : {"/spec/credentials/github", "/spec/credentials/gitlab"}) {
      if (!has(cred)) continue;
      const json& c = at(cred);
      if (c.contains("env") && !valid_env_name(c["env"].get<std::string>())) {
        error(std::string(cred) + "/env", "invalid environment variable name " + c["env"].dump());
      }
      if (c.contains("file") && c["file"].get<std::string>().empty()) {
        error(std::string(cred) + "/file", "the credential file path is empty");
      }
    }
    hostnames("/spec/git/githubHosts");
    hostnames("/spec/git/gitlabHosts");
    repositories("/spec/git/repositories");
    if (has("/spec/workspace/path")) {
      const std::string path = at("/spec/workspace/path").get<std::string>();
      auto norm = normalize_relative(path);
      if (!norm || !norm->starts_with("instances/") || *norm == "instances/") {
        error("/spec/workspace/path",
              "workspace path " + q(path) +
                  " escapes the instances folder (use instances/<name>/...)");
      } else if (norm->find_first_of(":,") != std::string::npos) {
        // The engine's bind syntax ("src:dst:opts", "a,b") would read them as separators.
        error("/spec/workspace/path",
              "workspace path " + q(path) + " has a ':' or ',', which a bind mount cannot carry");
      }
    }
    const json& blocked = at("/spec/blockedPaths");
    for (size_t i = 0; i < blocked.size(); ++i) {
      const std::string p = blocked[i].get<std::string>();
      std::optional<std::string> rel;
      if (p == "/") {
        rel = "";
      } else if (!p.empty() && p[0] == '/') {
        rel = normalize_relative(p.substr(1));
      }
      if (!rel) {
        error("/spec/blockedPaths/" + std::to_string(i),
              "blocked path " + q(p) + " must be an absolute path");
      } else if (rel->empty()) {
        error("/spec/blockedPaths/" + std::to_string(i), "blocking \"/\" would block everything");
      } else if ("/" + *rel != p) {
        error("/spec/blockedPaths/" + std::to_string(i),
              "blocked path " + q(p) + " is not in normal form (write \"/" + *rel + "\")");
      } else if (p.find_first_of(":,") != std::string::npos) {
        error("/spec/blockedPaths/" + std::to_string(i),
              "blocked path " + q(p) + " has a ':' or ',', which a bind mount cannot carry");
      } else if (auto clash = blocked_path_clash(p)) {
        error("/spec/blockedPaths/" + std::to_string(i), "blocked path " + q(p) + " " + *clash);
      }
    }
  }

 private:
  const Document& doc_;
  Diagnostics& out_;
};

std::string folder_of(const std::string& file) {
  if (file == "<stdin>") return ".";
  fs::path parent = fs::path(file).parent_path();
  return parent.empty() ? "." : parent.string();
}

template <typename E>
E enum_of(const json& v, std::initializer_list<std::pair<const char*, E>> names) {
  for (auto& [n, e] : names) {
    if (v == n) return e;
  }
  return names.begin()->second;  // the schema's enum makes this unreachable
}

std::vector<std::string> strings(const json& v) {
  return v.get<std::vector<std::string>>();
}

ObjectMeta meta_of(const Document& doc) {
  ObjectMeta m;
  m.name = doc.value["metadata"]["name"].get<std::string>();
  if (doc.value["metadata"].contains("labels")) {
    m.labels = doc.value["metadata"]["labels"].get<std::map<std::string, std::string>>();
  }
  m.file = doc.file;
  m.pos = doc.value_pos("/metadata/name");
  return m;
}

Cidr cidr_of(const json& v) {
  return std::get<Cidr>(netpolicy::parse_cidr(v.get<std::string>()));
}

std::optional<CredentialSource> credential_of(const json& spec, const char* which) {
  if (!spec.contains("credentials") || !spec["credentials"].contains(which)) return std::nullopt;
  const json& c = spec["credentials"][which];
  return CredentialSource{c.value("env", ""), c.value("file", ""),
                          c.value("delivery", "gate") == "vault" ? CredentialDelivery::kVault
                                                                 : CredentialDelivery::kGate};
}

void add_to_model(const Document& doc, Model& model) {
  const json& spec = doc.value["spec"];
  const std::string kind = doc.value["kind"];
  if (kind == "Host") {
    Host h{meta_of(doc), {}};
    h.spec.engine = spec.value("engine", "");
    h.spec.isolation = enum_of<Isolation>(
        spec["isolation"], {{"dind", Isolation::kDind}, {"direct", Isolation::kDirect}});
    h.spec.base_image = spec["baseImage"];
    h.spec.ca_files = resolve_ca_files(spec["trust"]["caFiles"], folder_of(doc.file),
                                       [](size_t, const std::string&) {});
    const json& runsc = spec["runtime"]["runsc"];
    h.spec.runsc_platform =
        enum_of<RunscPlatform>(runsc["platform"], {{"ptrace", RunscPlatform::kPtrace},
                                                   {"systrap", RunscPlatform::kSystrap},
                                                   {"kvm", RunscPlatform::kKvm}});
    h.spec.runsc_network =
        enum_of<RunscNetwork>(runsc["network"], {{"auto", RunscNetwork::kAuto},
                                                 {"sandbox", RunscNetwork::kSandbox},
                                                 {"host", RunscNetwork::kHost}});
    h.spec.runsc_debug = runsc["debug"];
    const json& gate = spec["gate"];
    h.spec.gate_audit_required = gate.value("audit", "best-effort") == "required";
    h.spec.gate_log_size = gate.value("logSize", "");
    h.spec.gate_log_files = gate.value("logFiles", 0);
    if (gate.contains("trust"))
      h.spec.gate_trust =
          resolve_ca_files(gate["trust"], folder_of(doc.file), [](size_t, const std::string&) {});
    h.spec.subnet = cidr_of(spec["network"]["subnet"]);
    h.spec.gate_ip = *netpolicy::parse_ip(spec["network"]["gateIP"].get<std::string>());
    if (spec.contains("resources")) {
      const json& r = spec["resources"];
      if (r.contains("cpus")) h.spec.cpus = std::get<double>(parse_cpus(r["cpus"]));
      if (r.contains("memory")) h.spec.memory_bytes = std::get<int64_t>(parse_size(r["memory"]));
    }
    model.hosts.push_back(std::move(h));
  } else if (kind == "EgressPolicy") {
    EgressPolicy p{meta_of(doc), {}};
    p.spec.allow = strings(spec["allow"]);
    p.spec.deny = strings(spec["deny"]);
    for (const json& port : spec["ports"]) p.spec.ports.push_back(port.get<uint16_t>());
    for (const json& c : spec["allowCIDRs"]) p.spec.allow_cidrs.push_back(cidr_of(c));
    for (const json& c : spec["denyCIDRs"]) p.spec.deny_cidrs.push_back(cidr_of(c));
    for (const json& u : spec["dns"]["upstreams"])
      p.spec.dns_upstreams.push_back(*parse_endpoint(u.get<std::string>(), 53));
    for (auto& [name, ips] : spec["dns"]["records"].items()) {
      auto& list = p.spec.dns_records[name];
      for (const json& ip : ips) list.push_back(*netpolicy::parse_ip(ip.get<std::string>()));
    }
    p.spec.dns_qps = spec["limits"]["dnsQPS"];
    p.spec.connections = spec["limits"]["connections"];
    model.policies.push_back(std::move(p));
  } else if (kind == "Blueprint") {
    Blueprint b{meta_of(doc), {}};
    b.spec.description = spec.value("description", "");
    b.spec.image = spec.value("image", "");
    b.spec.hardening = enum_of<Hardening>(spec["hardening"], {{"paranoid", Hardening::kParanoid},
                                                              {"standard", Hardening::kStandard}});
    b.spec.install = *normalize_relative(spec["install"].get<std::string>());
    b.spec.run = *normalize_relative(spec["run"].get<std::string>());
    b.spec.egress = strings(spec["egress"]);
    b.spec.env = spec["env"].get<std::map<std::string, std::string>>();
    b.spec.folder = folder_of(doc.file);
    model.blueprints.push_back(std::move(b));
  } else if (kind == "Sandbox") {
    Sandbox s{meta_of(doc), {}};
    s.spec.blueprint = spec["blueprint"];
    s.spec.host = spec.value("host", "");
    s.spec.egress_policy = spec["egressPolicy"];
    s.spec.mode = enum_of<SandboxMode>(spec["mode"], {{"headless", SandboxMode::kHeadless},
                                                      {"interactive", SandboxMode::kInteractive},
                                                      {"idle", SandboxMode::kIdle}});
    s.spec.args = strings(spec["args"]);
    s.spec.restart =
        enum_of<RestartPolicy>(spec["restart"], {{"never", RestartPolicy::kNever},
                                                 {"on-failure", RestartPolicy::kOnFailure},
                                                 {"always", RestartPolicy::kAlways}});
    const json& r = spec["resources"];
    if (r.contains("cpus")) s.spec.cpus = std::get<double>(parse_cpus(r["cpus"]));
    if (r.contains("memory")) s.spec.memory_bytes = std::get<int64_t>(parse_size(r["memory"]));
    if (r.contains("gpus")) {
      const json& g = r["gpus"];
      if (g.is_string()) {
        s.spec.gpus.all = true;
      } else if (g.is_number()) {
        s.spec.gpus.count = g.get<int>();
      } else {
        s.spec.gpus.device_ids = strings(g);
      }
    }
    s.spec.pids = r["pids"];
    s.spec.env = spec["env"].get<std::map<std::string, std::string>>();
    s.spec.github = credential_of(spec, "github");
    s.spec.gitlab = credential_of(spec, "gitlab");
    const json& git = spec["git"];
    s.spec.git_name = git["name"];
    s.spec.git_email = git["email"];
    s.spec.git_allow_push = git["allowPush"];
    s.spec.github_hosts = strings(git["githubHosts"]);
    s.spec.gitlab_hosts = strings(git["gitlabHosts"]);
    for (const std::string& r : strings(git["repositories"]))
      s.spec.git_repositories.push_back(ascii_lower(r));
    s.spec.workspace = spec["workspace"].contains("path")
                           ? *normalize_relative(spec["workspace"]["path"].get<std::string>())
                           : "instances/" + s.meta.name + "/workspace";
    s.spec.blocked_paths = strings(spec["blockedPaths"]);
    model.sandboxes.push_back(std::move(s));
  }
}

std::string kind_of(const Document& d) {
  return d.value["kind"].get<std::string>();
}
std::string name_of(const Document& d) {
  return d.value["metadata"]["name"].get<std::string>();
}

std::string where(const Document& d) {
  Position p = d.value_pos("/metadata/name");
  return d.file + ":" + std::to_string(p.line) + ":" + std::to_string(p.col);
}

}  // namespace

void validate_documents(std::vector<Document>& docs, const ManifestOptions& options,
                        ManifestSet& out) {
  // Schema checks and defaults are per document: spread them over the cores.
  const unsigned workers = workers_for(docs.size(), 256);
  // Compiling the schemas costs more than checking a small file, so the calling thread keeps
  // its checker between calls (repeated validations, the fuzzer); extra workers get their own.
  static thread_local SchemaChecker caller_checker;
  std::vector<SchemaChecker> extra_checkers(workers - 1);
  auto checker_for = [&](unsigned w) -> SchemaChecker& {
    return w == 0 ? caller_checker : extra_checkers[w - 1];
  };
  std::vector<Diagnostics> found(workers);
  std::vector<char> schema_ok(docs.size(), 0);
  parallel_for(docs.size(), workers, [&](unsigned w, size_t i) {
    Document& doc = docs[i];
    if (!checker_for(w).check(doc, found[w])) return;
    apply_defaults(*document_schema(kind_of(doc)), doc.value);
    schema_ok[i] = 1;
  });
  for (const Diagnostics& d : found) out.diagnostics.append(d);
  SchemaChecker& checker = caller_checker;
  std::vector<Document*> valid;
  // Names seen per kind, even in documents that failed their schema, so a reference to a
  // broken object does not also report "not found".
  std::map<std::string, std::set<std::string>> declared;
  for (size_t i = 0; i < docs.size(); ++i) {
    Document& doc = docs[i];
    ++out.documents;
    if (doc.value.is_object() && doc.value.contains("kind") && doc.value["kind"].is_string() &&
        doc.value.contains("metadata") && doc.value["metadata"].is_object() &&
        doc.value["metadata"].contains("name") && doc.value["metadata"]["name"].is_string()) {
      declared[doc.value["kind"].get<std::string>()].insert(
          doc.value["metadata"]["name"].get<std::string>());
    }
    if (schema_ok[i]) valid.push_back(&doc);
  }

  // Blueprints a Sandbox names that the manifests do not define come from the project folder.
  std::vector<Document> project_docs;
  std::set<std::string> wanted;
  for (Document* d : valid) {
    if (kind_of(*d) == "Sandbox") wanted.insert(d->value["spec"]["blueprint"].get<std::string>());
  }
  for (const std::string& name : wanted) {
    if (declared["Blueprint"].count(name) || options.blueprints_dir.empty()) continue;
    fs::path file = fs::path(options.blueprints_dir) / name / "blueprint.yaml";
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) continue;
    LoadResult loaded;
    std::istringstream no_stdin;
    load_path(file.string(), no_stdin, loaded);
    out.diagnostics.append(loaded.diagnostics);
    for (Document& d : loaded.documents) project_docs.push_back(std::move(d));
    out.project_blueprints.push_back(name);
  }
  for (Document& doc : project_docs) {
    if (!checker.check(doc, out.diagnostics)) {
      declared["Blueprint"].insert(fs::path(doc.file).parent_path().filename().string());
      continue;
    }
    std::string expect = fs::path(doc.file).parent_path().filename().string();
    if (kind_of(doc) != "Blueprint" || name_of(doc) != expect) {
      out.diagnostics.add(doc.file, doc.value_pos("/metadata/name"), doc.subject(),
                          "a project blueprint file must hold the Blueprint " + q(expect));
      declared["Blueprint"].insert(expect);
      continue;
    }
    declared["Blueprint"].insert(expect);
    apply_defaults(*document_schema("Blueprint"), doc.value);
    valid.push_back(&doc);
  }

  // Per-document value checks, in parallel like the schema pass.
  std::vector<Diagnostics> semantic(workers);
  parallel_for(valid.size(), workers, [&](unsigned w, size_t i) {
    const Document& d = *valid[i];
    DocumentChecker c(d, semantic[w]);
    const std::string kind = kind_of(d);
    if (kind == "Host") c.host();
    if (kind == "EgressPolicy") c.egress_policy();
    if (kind == "Blueprint") c.blueprint(folder_of(d.file));
    if (kind == "Sandbox") c.sandbox();
  });
  for (const Diagnostics& d : semantic) out.diagnostics.append(d);

  // Names are unique per kind across every file.
  std::map<std::pair<std::string, std::string>, const Document*> first;
  std::map<std::string, std::vector<const Document*>> by_kind;
  for (Document* d : valid) {
    auto [it, inserted] = first.emplace(std::make_pair(kind_of(*d), name_of(*d)), d);
    if (!inserted) {
      out.diagnostics.add(d->file, d->value_pos("/metadata/name"), d->subject(),
                          "duplicate " + kind_of(*d) + " " + q(name_of(*d)) +
                              " (first defined at " + where(*it->second) + ")");
      continue;
    }
    by_kind[kind_of(*d)].push_back(d);
  }

  // References resolve.
  for (const Document* d : by_kind["Sandbox"]) {
    const json& spec = d->value["spec"];
    auto report = [&](const std::string& pointer, std::string message) {
      out.diagnostics.add(d->file, d->value_pos(pointer), d->subject(), std::move(message));
    };
    const std::string bp = spec["blueprint"];
    if (!declared["Blueprint"].count(bp)) {
      std::string hint = options.blueprints_dir.empty()
                             ? ""
                             : " (not in the manifests nor in " + options.blueprints_dir + "/)";
      report("/spec/blueprint", "blueprint " + q(bp) + " not found" + hint);
    }
    const std::string policy = spec["egressPolicy"];
    if (!declared["EgressPolicy"].count(policy)) {
      report("/spec/egressPolicy", "egress policy " + q(policy) + " not found in the manifests");
    }
    if (spec.contains("host")) {
      const std::string host = spec["host"];
      if (!declared["Host"].count(host))
        report("/spec/host", "host " + q(host) + " not found in the manifests");
    } else if (declared["Host"].empty()) {
      report("/spec",
             "no Host in the manifests: add a Host document (see manifests/quickstart.yaml)");
    } else if (declared["Host"].size() > 1) {
      std::string names;
      for (const std::string& n : declared["Host"]) names += (names.empty() ? "" : ", ") + n;
      report("/spec", "several Hosts are defined (" + names + "): set spec.host");
    }
  }

  if (!out.diagnostics.empty()) return;
  for (const auto& [kind, list] : by_kind) {
    for (const Document* d : list) add_to_model(*d, out.model);
  }
  for (Sandbox& s : out.model.sandboxes) {
    if (s.spec.host.empty()) s.spec.host = out.model.hosts.front().meta.name;
  }
  check_across_documents(out.model, first, options, out.diagnostics);
}

ManifestSet load_manifests(const std::vector<std::string>& paths, std::istream& in,
                           const ManifestOptions& options) {
  ManifestSet out;
  LoadResult loaded;
  for (const std::string& p : paths) load_path(p, in, loaded);
  out.files = loaded.files;
  out.diagnostics.append(loaded.diagnostics);
  validate_documents(loaded.documents, options, out);
  return out;
}

}  // namespace acctl
