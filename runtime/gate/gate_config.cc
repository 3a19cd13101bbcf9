// Compiles the config file into what ac-gate runs on, checking every value, reporting all problems.
#include "gate/gate_config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "common/ascii.h"
#include "gate/config_file.h"
#include "gate/http_head.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

// Collects problems with the path of the field they belong to.
class Problems {
 public:
  void add(const std::string& path, const std::string& message) {
    list_.push_back(path + ": " + message);
  }
  std::vector<std::string>& list() { return list_; }

 private:
  std::vector<std::string> list_;
};

// A value within [min, max]; outside it, a problem and `fallback`.
int64_t within(int64_t value, const std::string& path, int64_t min, int64_t max, int64_t fallback,
               Problems& problems) {
  if (value < min || value > max) {
    problems.add(path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return fallback;
  }
  return value;
}

std::optional<SocketAddress> listen_address(const std::optional<std::string>& text, const char* key,
                                            Problems& problems) {
  if (!text) return std::nullopt;
  auto parsed = parse_socket_address(*text, std::nullopt);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    problems.add(std::string("listen.") + key, *error);
    return std::nullopt;
  }
  return std::get<SocketAddress>(parsed);
}

// `at` is the policy's path ("policy" or "policies.KEY"); `top` is the top-level one, the only
// place for the gate-wide dns.upstreams and limits.connections.
// The credentials of a policy: their hosts checked, their tokens read when `read` is given.
void compile_credentials(const PolicyFile& spec, const std::string& at, bool top,
                         const ReadFile* read, ClientPolicy& out, Problems& problems) {
  if (top && !spec.credentials.empty()) {
    problems.add(at + ".credentials", "only a sandbox's policy (in policies) holds credentials");
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < spec.credentials.size(); ++i) {
    const CredentialFile& c = spec.credentials[i];
    const std::string path = at + ".credentials[" + std::to_string(i) + "]";
    CredentialGrant grant;
    if (c.provider == "github") {
      grant.provider = Provider::kGithub;
    } else if (c.provider == "gitlab") {
      grant.provider = Provider::kGitlab;
    } else {
      problems.add(path + ".provider", "must be github or gitlab");
    }
    auto hosts = [&](const std::vector<std::string>& list, const char* key,
                     std::vector<std::string>& into) {
      for (size_t j = 0; j < list.size(); ++j) {
        const std::string where = path + "." + key + "[" + std::to_string(j) + "]";
        const std::optional<std::string> name = netpolicy::normalize_name(list[j]);
        if (!name || is_ip_literal(list[j])) {
          problems.add(where, "not a host name");
        } else if (!seen.insert(*name).second) {
          problems.add(where, *name + " is a host of another credential too");
        } else {
          into.push_back(*name);
        }
      }
    };
    hosts(c.git_hosts, "gitHosts", grant.git_hosts);
    hosts(c.api_hosts, "apiHosts", grant.api_hosts);
    if (grant.git_hosts.empty() && grant.api_hosts.empty())
      problems.add(path, "names no host (gitHosts or apiHosts)");
    grant.allow_push = c.allow_push;
    for (const std::string& r : c.repositories) grant.repositories.push_back(ascii_lower(r));
    if (c.token_file.empty()) {
      problems.add(path + ".tokenFile", "required");
    } else if (read) {
      std::optional<std::string> token = (*read)(c.token_file);
      while (token && !token->empty() && (token->back() == '\n' || token->back() == '\r'))
        token->pop_back();
      if (!token) {
        problems.add(path + ".tokenFile", "cannot read " + c.token_file);
      } else if (token->empty()) {
        problems.add(path + ".tokenFile", c.token_file + " is empty");
      } else {
        grant.token = std::move(*token);
      }
    }
    out.credentials.push_back(std::move(grant));
  }
}

std::shared_ptr<const ClientPolicy> compile_policy(const PolicyFile& spec, const std::string& at,
                                                   bool top, GateConfig& config, Problems& problems,
                                                   const ReadFile* read) {
  auto out = std::make_shared<ClientPolicy>();
  out->key = top ? "" : at.substr(at.find('.') + 1);
  EgressRules rules;
  rules.allow = spec.allow;
  rules.deny = spec.deny;
  rules.allow_cidrs = spec.allow_cidrs;
  rules.deny_cidrs = spec.deny_cidrs;
  rules.ports.clear();
  std::set<int64_t> seen;
  for (size_t i = 0; i < spec.ports.size(); ++i) {
    const std::string path = at + ".ports[" + std::to_string(i) + "]";
    const int64_t port = spec.ports[i];
    if (port < 1 || port > 65535) {
      problems.add(path, "must be a port number between 1 and 65535");
    } else if (!seen.insert(port).second) {
      problems.add(path, "duplicate port " + std::to_string(port));
    } else {
      rules.ports.push_back(static_cast<uint16_t>(port));
    }
  }
  auto compiled = EgressPolicy::compile(rules);
  if (auto* errors = std::get_if<std::vector<std::string>>(&compiled)) {
    for (const std::string& error : *errors) problems.add(at, error);
  } else {
    out->rules = std::make_shared<const EgressPolicy>(std::move(std::get<EgressPolicy>(compiled)));
  }

  if (!top && !spec.dns.upstreams.empty()) {
    problems.add(at + ".dns.upstreams",
                 "the gate has one resolver: set its upstreams in policy.dns.upstreams");
  }
  for (size_t i = 0; top && i < spec.dns.upstreams.size(); ++i) {
    auto parsed = parse_socket_address(spec.dns.upstreams[i], 53);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      problems.add(at + ".dns.upstreams[" + std::to_string(i) + "]", *error);
    } else {
      config.upstreams.push_back(std::get<SocketAddress>(parsed));
    }
  }
  for (const auto& [name, addresses] : spec.dns.records) {
    const std::string path = at + ".dns.records." + name;
    const std::optional<std::string> normalized = netpolicy::normalize_name(name);
    if (!normalized || is_ip_literal(name)) {
      problems.add(path, "not a host name");
      continue;
    }
    if (addresses.empty()) {
      problems.add(path, "must be a non-empty array of IP addresses");
      continue;
    }
    std::vector<netpolicy::IpAddress> parsed;
    for (size_t i = 0; i < addresses.size(); ++i) {
      if (std::optional<netpolicy::IpAddress> ip = netpolicy::parse_ip(addresses[i])) {
        parsed.push_back(*ip);
      } else {
        problems.add(path + "[" + std::to_string(i) + "]", "not an IP address");
      }
    }
    out->records[*normalized] = std::move(parsed);
  }
  out->dns_qps = static_cast<uint32_t>(
      within(spec.limits.dns_qps, at + ".limits.dnsQPS", 1, 1'000'000, 200, problems));
  out->connections = static_cast<uint32_t>(
      within(spec.limits.connections, at + ".limits.connections", 1, 1'000'000, 1024, problems));
  // The top-level figure is the gate's global cap, so as a per-client limit it adds nothing.
  if (top) config.connections = out->connections;
  compile_credentials(spec, at, top, read, *out, problems);
  // The gate decides the name before it terminates anything: a credential host the policy
  // does not allow would never be reached.
  for (const CredentialGrant& g : out->credentials) {
    for (const auto* list : {&g.git_hosts, &g.api_hosts}) {
      for (const std::string& host : *list) {
        if (out->rules && !out->rules->decide_name(host).allowed)
          problems.add(at + ".credentials", host + " is not allowed by the policy's names");
      }
    }
  }
  return out;
}

void compile_tuning(const TuningFile& tuning, GateTuning& out, Problems& problems) {
  auto value = [&](const std::optional<int64_t>& field, const char* key, int64_t min, int64_t max,
                   int64_t fallback) {
    return field ? within(*field, std::string("tuning.") + key, min, max, fallback, problems)
                 : fallback;
  };
  auto ms = [&](const std::optional<int64_t>& field, const char* key,
                std::chrono::milliseconds fallback) {
    return std::chrono::milliseconds(value(field, key, 1, 86'400'000, fallback.count()));
  };
  out.head_timeout = ms(tuning.head_timeout_ms, "headTimeoutMs", out.head_timeout);
  out.idle_timeout = ms(tuning.idle_timeout_ms, "idleTimeoutMs", out.idle_timeout);
  out.connect_timeout = ms(tuning.connect_timeout_ms, "connectTimeoutMs", out.connect_timeout);
  out.dns_answer_ttl =
      static_cast<uint32_t>(value(tuning.dns_answer_ttl, "dnsAnswerTTL", 0, 86400, 30));
  out.http_port = static_cast<uint16_t>(value(tuning.http_port, "httpPort", 1, 65535, 80));
  out.https_port = static_cast<uint16_t>(value(tuning.https_port, "httpsPort", 1, 65535, 443));
  out.connections_per_client = static_cast<uint32_t>(
      value(tuning.connections_per_client, "connectionsPerClient", 1, 1'000'000, 0));
}

// The path a "path: message" problem is about.
std::string_view path_of(std::string_view problem) {
  return problem.substr(0, problem.find(": "));
}

}  // namespace

std::string SocketAddress::str() const {
  if (ip.is_v4) return ip.str() + ":" + std::to_string(port);
  return "[" + ip.str() + "]:" + std::to_string(port);
}

std::variant<SocketAddress, std::string> parse_socket_address(
    std::string_view text, std::optional<uint16_t> default_port) {
  auto split = split_authority(text, default_port);
  if (auto* error = std::get_if<std::string>(&split))
    return "\"" + std::string(text) + "\": " + *error;
  const HostPort& host_port = std::get<HostPort>(split);
  std::optional<netpolicy::IpAddress> ip = netpolicy::parse_ip(host_port.host);
  if (!ip || ip->is_v4 == host_port.ipv6_literal) {
    return "\"" + std::string(text) + "\": must be IP:PORT or [IPv6]:PORT";
  }
  return SocketAddress{*ip, host_port.port};
}

namespace {

// The tls section's files, loaded: the CA for minting leaves, the upstream trust.
std::shared_ptr<TlsTermination> load_tls(const TlsFile& tls, const ReadFile& read,
                                         Problems& problems) {
  const std::optional<std::string> cert = read(tls.ca_cert);
  const std::optional<std::string> key = read(tls.ca_key);
  if (!cert) problems.add("tls.caCert", "cannot read " + tls.ca_cert);
  if (!key) problems.add("tls.caKey", "cannot read " + tls.ca_key);
  if (!cert || !key) return nullptr;
  auto minter = LeafMinter::load(*cert, *key);
  if (!minter) {
    problems.add("tls.caCert", minter.error().message);
    return nullptr;
  }
  auto out = std::make_shared<TlsTermination>(std::move(*minter));
  auto upstream = make_upstream_context(tls.trust);
  if (!upstream) {
    problems.add("tls.trust", upstream.error().message);
    return nullptr;
  }
  out->upstream = std::move(*upstream);
  return out;
}

}  // namespace

const CredentialGrant* ClientPolicy::credential_for(std::string_view name) const {
  for (const CredentialGrant& g : credentials) {
    for (const auto* list : {&g.git_hosts, &g.api_hosts}) {
      if (std::find(list->begin(), list->end(), name) != list->end()) return &g;
    }
  }
  return nullptr;
}

namespace {

bool any_credentials(const GateConfig& config) {
  for (const auto& [key, policy] : config.policies)
    if (!policy->credentials.empty()) return true;
  return false;
}

}  // namespace

GateConfig compile_gate_config(const GateConfigFile& file, std::vector<std::string>& out,
                               const ReadFile* read) {
  Problems problems;
  GateConfig config;
  std::shared_ptr<const ClientPolicy> fallback =
      compile_policy(file.policy, "policy", true, config, problems, read);
  for (const auto& [key, spec] : file.policies) {
    if (key.empty()) {
      problems.add("policies", "a policy key must not be empty");
      continue;
    }
    config.policies[key] = compile_policy(spec, "policies." + key, false, config, problems, read);
  }

  std::optional<netpolicy::IpAddress> gate_ip = netpolicy::parse_ip(file.gate_ip);
  if (!gate_ip || !gate_ip->is_v4) {
    problems.add("gateIP", "must be an IPv4 address (DNS answers are A records)");
  } else {
    std::copy(gate_ip->bytes.begin() + 12, gate_ip->bytes.end(), config.gate_ip.begin());
  }

  config.listen.dns = listen_address(file.listen.dns, "dns", problems);
  config.listen.http = listen_address(file.listen.http, "http", problems);
  config.listen.https = listen_address(file.listen.https, "https", problems);
  config.listen.proxy = listen_address(file.listen.proxy, "proxy", problems);
  config.listen.control = listen_address(file.listen.control, "control", problems);

  for (const auto& [ip_text, entry] : file.sandboxes) {
    const std::string at = "sandboxes." + ip_text;
    std::optional<netpolicy::IpAddress> ip = netpolicy::parse_ip(ip_text);
    if (!ip) {
      problems.add(at, "key must be a client IP address");
      continue;
    }
    SandboxEntry sandbox{entry.name, entry.egress_policy, entry.blueprint, fallback};
    if (!entry.policy.empty()) {
      auto it = config.policies.find(entry.policy);
      if (it == config.policies.end()) {
        // Refused rather than left to the fallback: a typo must not change what a sandbox gets.
        problems.add(at + ".policy", "no policy \"" + entry.policy + "\" in policies");
        continue;
      }
      sandbox.policy = it->second;
    }
    if (!config.sandboxes.emplace(ip->str(), std::move(sandbox)).second) {
      problems.add(at, "the same address as another entry");
    }
  }

  if (file.audit_log.empty()) {
    problems.add("auditLog", "must be a file path or \"-\"");
  } else {
    config.audit_log = file.audit_log;
  }
  config.audit_required = file.audit_required;

  if (file.tuning) compile_tuning(*file.tuning, config.tuning, problems);
  config.connections_per_client = config.tuning.connections_per_client != 0
                                      ? config.tuning.connections_per_client
                                      : std::max<uint32_t>(1, config.connections / 4);
  config.fallback = std::move(fallback);
  if (any_credentials(config) && !file.tls) {
    problems.add("tls",
                 "required: a policy has credentials, and the gate needs its CA to "
                 "terminate their hosts' TLS");
  }
  if (file.tls && read) config.tls = load_tls(*file.tls, *read, problems);
  for (std::string& problem : problems.list()) out.push_back(std::move(problem));
  return config;
}

std::variant<GateConfig, std::vector<std::string>> parse_gate_config(std::string_view json_text,
                                                                     const ReadFile* read) {
  std::vector<std::string> problems;
  std::optional<GateConfigFile> file = read_gate_config_file(json_text, problems);
  if (!file) return problems;
  // A field whose shape is wrong was left at its default: its value problems would only repeat
  // that one, so they are dropped.
  std::vector<std::string> value_problems;
  GateConfig config = compile_gate_config(*file, value_problems, read);
  const size_t shape_problems = problems.size();
  for (std::string& problem : value_problems) {
    bool repeated = false;
    for (size_t i = 0; i < shape_problems && !repeated; ++i)
      repeated = path_of(problems[i]) == path_of(problem);
    if (!repeated) problems.push_back(std::move(problem));
  }
  if (!problems.empty()) return problems;
  return config;
}

std::variant<GateConfig, std::vector<std::string>> load_gate_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::vector<std::string>{path + ": cannot read"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::vector<std::string>{path + ": read error"};
  const ReadFile read = [](const std::string& file) -> std::optional<std::string> {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return bytes.str();
  };
  auto result = parse_gate_config(text.str(), &read);
  if (auto* problems = std::get_if<std::vector<std::string>>(&result)) {
    for (std::string& problem : *problems) problem = path + ": " + problem;
  }
  return result;
}

}  // namespace acctl::gate
