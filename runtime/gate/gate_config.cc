// Reads ac-gate's JSON config with nlohmann::json and checks every field, reporting all problems.
#include "gate/gate_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gate/http_head.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

using nlohmann::json;

// Collects problems with the JSON path they belong to.
class Problems {
 public:
  void add(const std::string& path, const std::string& message) {
    list_.push_back(path + ": " + message);
  }
  std::vector<std::string>& list() { return list_; }

 private:
  std::vector<std::string> list_;
};

// Unknown keys are errors, as in the manifests: a typo must not silently weaken a policy.
void check_keys(const json& object, const std::string& path, std::set<std::string> known,
                Problems& problems) {
  for (const auto& [key, value] : object.items()) {
    if (!known.contains(key)) problems.add(path + "." + key, "unknown field");
  }
}

const json* object_field(const json& parent, const char* key, const std::string& path,
                         Problems& problems) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  if (!it->is_object()) {
    problems.add(path, "must be an object");
    return nullptr;
  }
  return &*it;
}

std::vector<std::string> string_list(const json& parent, const char* key, const std::string& path,
                                     Problems& problems) {
  std::vector<std::string> out;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return out;
  if (!it->is_array()) {
    problems.add(path, "must be an array of strings");
    return out;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    if (!item.is_string()) {
      problems.add(path + "[" + std::to_string(i) + "]", "must be a string");
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// An integer field within [min, max]; absent leaves `fallback`.
int64_t integer_field(const json& parent, const char* key, const std::string& path, int64_t min,
                      int64_t max, int64_t fallback, Problems& problems) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    problems.add(path, "must be an integer");
    return fallback;
  }
  const int64_t value = it->get<int64_t>();
  if (value < min || value > max) {
    problems.add(path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return fallback;
  }
  return value;
}

std::optional<SocketAddress> listen_field(const json& listen, const char* key, Problems& problems) {
  auto it = listen.find(key);
  const std::string path = std::string("listen.") + key;
  if (it == listen.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    problems.add(path, "must be a string \"IP:PORT\"");
    return std::nullopt;
  }
  auto parsed = parse_socket_address(it->get<std::string>(), std::nullopt);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    problems.add(path, *error);
    return std::nullopt;
  }
  return std::get<SocketAddress>(parsed);
}

void parse_policy(const json& spec, GateConfig& config, Problems& problems) {
  check_keys(spec, "policy", {"allow", "deny", "ports", "allowCIDRs", "denyCIDRs", "dns", "limits"},
             problems);
  EgressRules rules;
  rules.allow = string_list(spec, "allow", "policy.allow", problems);
  rules.deny = string_list(spec, "deny", "policy.deny", problems);
  rules.allow_cidrs = string_list(spec, "allowCIDRs", "policy.allowCIDRs", problems);
  rules.deny_cidrs = string_list(spec, "denyCIDRs", "policy.denyCIDRs", problems);
  if (auto it = spec.find("ports"); it != spec.end() && !it->is_null()) {
    rules.ports.clear();
    if (!it->is_array()) {
      problems.add("policy.ports", "must be an array of port numbers");
    } else {
      std::set<int64_t> seen;
      for (size_t i = 0; i < it->size(); ++i) {
        const std::string path = "policy.ports[" + std::to_string(i) + "]";
        const json& item = (*it)[i];
        if (!item.is_number_integer() || item.get<int64_t>() < 1 || item.get<int64_t>() > 65535) {
          problems.add(path, "must be a port number between 1 and 65535");
        } else if (!seen.insert(item.get<int64_t>()).second) {
          problems.add(path, "duplicate port " + std::to_string(item.get<int64_t>()));
        } else {
          rules.ports.push_back(static_cast<uint16_t>(item.get<int64_t>()));
        }
      }
    }
  }
  auto compiled = EgressPolicy::compile(rules);
  if (auto* errors = std::get_if<std::vector<std::string>>(&compiled)) {
    for (const std::string& error : *errors) problems.add("policy", error);
  } else {
    config.policy =
        std::make_shared<const EgressPolicy>(std::move(std::get<EgressPolicy>(compiled)));
  }

  if (const json* dns = object_field(spec, "dns", "policy.dns", problems)) {
    check_keys(*dns, "policy.dns", {"upstreams", "records"}, problems);
    const auto upstreams = string_list(*dns, "upstreams", "policy.dns.upstreams", problems);
    for (size_t i = 0; i < upstreams.size(); ++i) {
      auto parsed = parse_socket_address(upstreams[i], 53);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        problems.add("policy.dns.upstreams[" + std::to_string(i) + "]", *error);
      } else {
        config.upstreams.push_back(std::get<SocketAddress>(parsed));
      }
    }
    if (const json* records = object_field(*dns, "records", "policy.dns.records", problems)) {
      for (const auto& [name, addresses] : records->items()) {
        const std::string path = "policy.dns.records." + name;
        const std::optional<std::string> normalized = netpolicy::normalize_name(name);
        if (!normalized || is_ip_literal(name)) {
          problems.add(path, "not a host name");
          continue;
        }
        if (!addresses.is_array() || addresses.empty()) {
          problems.add(path, "must be a non-empty array of IP addresses");
          continue;
        }
        std::vector<netpolicy::IpAddress> parsed;
        for (size_t i = 0; i < addresses.size(); ++i) {
          const json& item = addresses[i];
          std::optional<netpolicy::IpAddress> ip;
          if (item.is_string()) ip = netpolicy::parse_ip(item.get<std::string>());
          if (!ip) {
            problems.add(path + "[" + std::to_string(i) + "]", "not an IP address");
          } else {
            parsed.push_back(*ip);
          }
        }
        config.records[*normalized] = std::move(parsed);
      }
    }
  }
  if (const json* limits = object_field(spec, "limits", "policy.limits", problems)) {
    check_keys(*limits, "policy.limits", {"dnsQPS", "connections"}, problems);
    config.dns_qps = static_cast<uint32_t>(
        integer_field(*limits, "dnsQPS", "policy.limits.dnsQPS", 1, 1'000'000, 200, problems));
    config.connections = static_cast<uint32_t>(integer_field(
        *limits, "connections", "policy.limits.connections", 1, 1'000'000, 1024, problems));
  }
}

void parse_tuning(const json& tuning, GateTuning& out, Problems& problems) {
  check_keys(tuning, "tuning",
             {"headTimeoutMs", "idleTimeoutMs", "connectTimeoutMs", "dnsAnswerTTL", "httpPort",
              "httpsPort", "connectionsPerClient"},
             problems);
  auto ms = [&](const char* key, std::chrono::milliseconds fallback) {
    return std::chrono::milliseconds(integer_field(tuning, key, std::string("tuning.") + key, 1,
                                                   86'400'000, fallback.count(), problems));
  };
  out.head_timeout = ms("headTimeoutMs", out.head_timeout);
  out.idle_timeout = ms("idleTimeoutMs", out.idle_timeout);
  out.connect_timeout = ms("connectTimeoutMs", out.connect_timeout);
  out.dns_answer_ttl = static_cast<uint32_t>(
      integer_field(tuning, "dnsAnswerTTL", "tuning.dnsAnswerTTL", 0, 86400, 30, problems));
  out.http_port = static_cast<uint16_t>(
      integer_field(tuning, "httpPort", "tuning.httpPort", 1, 65535, 80, problems));
  out.https_port = static_cast<uint16_t>(
      integer_field(tuning, "httpsPort", "tuning.httpsPort", 1, 65535, 443, problems));
  out.connections_per_client = static_cast<uint32_t>(integer_field(
      tuning, "connectionsPerClient", "tuning.connectionsPerClient", 1, 1'000'000, 0, problems));
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

std::variant<GateConfig, std::vector<std::string>> parse_gate_config(std::string_view json_text) {
  Problems problems;
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    problems.add("config", std::string("not JSON: ") + error.what());
    return std::move(problems.list());
  }
  if (!document.is_object()) {
    problems.add("config", "must be a JSON object");
    return std::move(problems.list());
  }
  GateConfig config;
  check_keys(document, "config", {"policy", "gateIP", "listen", "sandboxes", "auditLog", "tuning"},
             problems);

  if (const json* policy = object_field(document, "policy", "policy", problems)) {
    parse_policy(*policy, config, problems);
  } else if (!document.contains("policy")) {
    problems.add("policy", "required");
  }

  auto gate_ip = document.find("gateIP");
  if (gate_ip == document.end()) {
    problems.add("gateIP", "required");
  } else {
    std::optional<netpolicy::IpAddress> ip;
    if (gate_ip->is_string()) ip = netpolicy::parse_ip(gate_ip->get<std::string>());
    if (!ip || !ip->is_v4) {
      problems.add("gateIP", "must be an IPv4 address (DNS answers are A records)");
    } else {
      std::copy(ip->bytes.begin() + 12, ip->bytes.end(), config.gate_ip.begin());
    }
  }

  if (const json* listen = object_field(document, "listen", "listen", problems)) {
    check_keys(*listen, "listen", {"dns", "http", "https", "proxy", "control"}, problems);
    config.listen.dns = listen_field(*listen, "dns", problems);
    config.listen.http = listen_field(*listen, "http", problems);
    config.listen.https = listen_field(*listen, "https", problems);
    config.listen.proxy = listen_field(*listen, "proxy", problems);
    config.listen.control = listen_field(*listen, "control", problems);
  }

  if (const json* sandboxes = object_field(document, "sandboxes", "sandboxes", problems)) {
    for (const auto& [ip_text, name] : sandboxes->items()) {
      const std::string path = "sandboxes." + ip_text;
      std::optional<netpolicy::IpAddress> ip = netpolicy::parse_ip(ip_text);
      if (!ip) {
        problems.add(path, "key must be a client IP address");
      } else if (!name.is_string()) {
        problems.add(path, "must be a sandbox name");
      } else {
        config.sandboxes[ip->str()] = name.get<std::string>();
      }
    }
  }

  if (auto audit = document.find("auditLog"); audit != document.end()) {
    if (!audit->is_string() || audit->get<std::string>().empty()) {
      problems.add("auditLog", "must be a file path or \"-\"");
    } else {
      config.audit_log = audit->get<std::string>();
    }
  }

  if (const json* tuning = object_field(document, "tuning", "tuning", problems)) {
    parse_tuning(*tuning, config.tuning, problems);
  }
  config.connections_per_client = config.tuning.connections_per_client != 0
                                      ? config.tuning.connections_per_client
                                      : std::max<uint32_t>(1, config.connections / 4);

  if (!problems.list().empty()) return std::move(problems.list());
  return config;
}

std::variant<GateConfig, std::vector<std::string>> load_gate_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::vector<std::string>{path + ": cannot read"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::vector<std::string>{path + ": read error"};
  auto result = parse_gate_config(text.str());
  if (auto* problems = std::get_if<std::vector<std::string>>(&result)) {
    for (std::string& problem : *problems) problem = path + ": " + problem;
  }
  return result;
}

}  // namespace acctl::gate
