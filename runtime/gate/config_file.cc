// Reads and writes the ac-gate config file's shape with nlohmann::json (its only user here).
#include "gate/config_file.h"

#include <initializer_list>

#include <nlohmann/json.hpp>

namespace acctl::gate {
namespace {

using nlohmann::json;

// Walks the document, collecting problems with the JSON path they belong to. Null counts as
// absent, as it always has for the gate.
class ShapeReader {
 public:
  explicit ShapeReader(std::vector<std::string>& problems) : problems_(problems) {}

  void add(const std::string& path, const std::string& message) {
    problems_.push_back(path + ": " + message);
  }

  void refuse_unknown(const json& object, const std::string& path,
                      std::initializer_list<const char*> known) {
    for (const auto& [key, value] : object.items()) {
      bool found = false;
      for (const char* k : known) found = found || key == k;
      if (!found) add(path + "." + key, "unknown field");
    }
  }

  // The field if it is present and an object; a problem if it is present and something else.
  const json* object(const json& parent, const char* key, const std::string& path) {
    const json* value = present(parent, key);
    if (value && !value->is_object()) {
      add(path, "must be an object");
      return nullptr;
    }
    return value;
  }

  void strings(const json& parent, const char* key, const std::string& path,
               std::vector<std::string>& out) {
    const json* value = present(parent, key);
    if (!value) return;
    if (!value->is_array()) {
      add(path, "must be an array of strings");
      return;
    }
    out.clear();
    for (size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      if (!item.is_string()) {
        add(path + "[" + std::to_string(i) + "]", "must be a string");
        continue;
      }
      out.push_back(item.get<std::string>());
    }
  }

  void integer(const json& parent, const char* key, const std::string& path, int64_t& out) {
    std::optional<int64_t> value;
    integer(parent, key, path, value);
    if (value) out = *value;
  }
  void integer(const json& parent, const char* key, const std::string& path,
               std::optional<int64_t>& out) {
    const json* value = present(parent, key);
    if (!value) return;
    if (!value->is_number_integer()) {
      add(path, "must be an integer");
      return;
    }
    out = value->get<int64_t>();
  }

  void address(const json& parent, const char* key, const std::string& path,
               std::optional<std::string>& out) {
    const json* value = present(parent, key);
    if (!value) return;
    if (!value->is_string()) {
      add(path, "must be a string \"IP:PORT\"");
      return;
    }
    out = value->get<std::string>();
  }

  void text(const json& parent, const char* key, const std::string& path, std::string& out) {
    const json* value = present(parent, key);
    if (!value) return;
    if (!value->is_string()) {
      add(path, "must be a string");
      return;
    }
    out = value->get<std::string>();
  }

  void boolean(const json& parent, const char* key, const std::string& path, bool& out) {
    const json* value = present(parent, key);
    if (!value) return;
    if (!value->is_boolean()) {
      add(path, "must be true or false");
      return;
    }
    out = value->get<bool>();
  }

  static const json* present(const json& parent, const char* key) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    return &*it;
  }

 private:
  std::vector<std::string>& problems_;
};

// `at` is the policy's path: "policy" or "policies.KEY".
void read_policy(const json& spec, const std::string& at, PolicyFile& out, ShapeReader& r) {
  r.refuse_unknown(
      spec, at,
      {"allow", "deny", "ports", "allowCIDRs", "denyCIDRs", "dns", "limits", "credentials"});
  r.strings(spec, "allow", at + ".allow", out.allow);
  r.strings(spec, "deny", at + ".deny", out.deny);
  r.strings(spec, "allowCIDRs", at + ".allowCIDRs", out.allow_cidrs);
  r.strings(spec, "denyCIDRs", at + ".denyCIDRs", out.deny_cidrs);
  if (const json* ports = ShapeReader::present(spec, "ports")) {
    out.ports.clear();
    if (!ports->is_array()) {
      r.add(at + ".ports", "must be an array of port numbers");
    } else {
      for (size_t i = 0; i < ports->size(); ++i) {
        const json& item = (*ports)[i];
        if (!item.is_number_integer()) {
          r.add(at + ".ports[" + std::to_string(i) + "]",
                "must be a port number between 1 and 65535");
          continue;
        }
        out.ports.push_back(item.get<int64_t>());
      }
    }
  }
  if (const json* dns = r.object(spec, "dns", at + ".dns")) {
    r.refuse_unknown(*dns, at + ".dns", {"upstreams", "records"});
    r.strings(*dns, "upstreams", at + ".dns.upstreams", out.dns.upstreams);
    if (const json* records = r.object(*dns, "records", at + ".dns.records")) {
      for (const auto& [name, addresses] : records->items()) {
        const std::string path = at + ".dns.records." + name;
        if (!addresses.is_array()) {
          r.add(path, "must be a non-empty array of IP addresses");
          continue;
        }
        std::vector<std::string>& list = out.dns.records[name];
        for (size_t i = 0; i < addresses.size(); ++i) {
          if (addresses[i].is_string()) {
            list.push_back(addresses[i].get<std::string>());
          } else {
            r.add(path + "[" + std::to_string(i) + "]", "not an IP address");
          }
        }
      }
    }
  }
  if (const json* limits = r.object(spec, "limits", at + ".limits")) {
    r.refuse_unknown(*limits, at + ".limits", {"dnsQPS", "connections"});
    r.integer(*limits, "dnsQPS", at + ".limits.dnsQPS", out.limits.dns_qps);
    r.integer(*limits, "connections", at + ".limits.connections", out.limits.connections);
  }
  if (const json* credentials = ShapeReader::present(spec, "credentials")) {
    if (!credentials->is_array()) {
      r.add(at + ".credentials", "must be an array of credentials");
      return;
    }
    for (size_t i = 0; i < credentials->size(); ++i) {
      const std::string path = at + ".credentials[" + std::to_string(i) + "]";
      const json& c = (*credentials)[i];
      if (!c.is_object()) {
        r.add(path, "must be an object");
        continue;
      }
      r.refuse_unknown(
          c, path, {"provider", "gitHosts", "apiHosts", "tokenFile", "allowPush", "repositories"});
      CredentialFile& f = out.credentials.emplace_back();
      r.text(c, "provider", path + ".provider", f.provider);
      r.strings(c, "gitHosts", path + ".gitHosts", f.git_hosts);
      r.strings(c, "apiHosts", path + ".apiHosts", f.api_hosts);
      r.text(c, "tokenFile", path + ".tokenFile", f.token_file);
      r.boolean(c, "allowPush", path + ".allowPush", f.allow_push);
      r.strings(c, "repositories", path + ".repositories", f.repositories);
    }
  }
}

json credentials_json(const std::vector<CredentialFile>& list) {
  json out = json::array();
  for (const CredentialFile& c : list) {
    out.push_back({{"provider", c.provider},
                   {"gitHosts", c.git_hosts},
                   {"apiHosts", c.api_hosts},
                   {"tokenFile", c.token_file},
                   {"allowPush", c.allow_push},
                   {"repositories", c.repositories}});
  }
  return out;
}

void read_sandbox(const json& value, const std::string& at, SandboxFile& out, ShapeReader& r) {
  if (value.is_string()) {
    out.name = value.get<std::string>();
    return;
  }
  if (!value.is_object()) {
    r.add(at, "must be a sandbox name or {name, policy, egressPolicy, blueprint}");
    return;
  }
  r.refuse_unknown(value, at, {"name", "policy", "egressPolicy", "blueprint"});
  const std::pair<const char*, std::string*> fields[] = {{"name", &out.name},
                                                         {"policy", &out.policy},
                                                         {"egressPolicy", &out.egress_policy},
                                                         {"blueprint", &out.blueprint}};
  for (const auto& [key, field] : fields) {
    const json* v = ShapeReader::present(value, key);
    if (!v) continue;
    if (!v->is_string()) {
      r.add(at + "." + key, "must be a string");
      continue;
    }
    *field = v->get<std::string>();
  }
  if (out.name.empty()) r.add(at + ".name", "required");
}

json policy_json(const PolicyFile& p) {
  json records = json::object();
  for (const auto& [name, addresses] : p.dns.records) records[name] = addresses;
  json out = {{"allow", p.allow},
              {"deny", p.deny},
              {"ports", p.ports},
              {"allowCIDRs", p.allow_cidrs},
              {"denyCIDRs", p.deny_cidrs},
              {"dns", {{"upstreams", p.dns.upstreams}, {"records", records}}},
              {"limits", {{"dnsQPS", p.limits.dns_qps}, {"connections", p.limits.connections}}}};
  // Written only when there are any, so that policies without them keep their text.
  if (!p.credentials.empty()) out["credentials"] = credentials_json(p.credentials);
  return out;
}

json sandbox_json(const SandboxFile& s) {
  json out = {{"name", s.name}};
  if (!s.policy.empty()) out["policy"] = s.policy;
  if (!s.egress_policy.empty()) out["egressPolicy"] = s.egress_policy;
  if (!s.blueprint.empty()) out["blueprint"] = s.blueprint;
  return out;
}

void read_tuning(const json& tuning, TuningFile& out, ShapeReader& r) {
  r.refuse_unknown(tuning, "tuning",
                   {"headTimeoutMs", "idleTimeoutMs", "connectTimeoutMs", "dnsAnswerTTL",
                    "httpPort", "httpsPort", "connectionsPerClient"});
  r.integer(tuning, "headTimeoutMs", "tuning.headTimeoutMs", out.head_timeout_ms);
  r.integer(tuning, "idleTimeoutMs", "tuning.idleTimeoutMs", out.idle_timeout_ms);
  r.integer(tuning, "connectTimeoutMs", "tuning.connectTimeoutMs", out.connect_timeout_ms);
  r.integer(tuning, "dnsAnswerTTL", "tuning.dnsAnswerTTL", out.dns_answer_ttl);
  r.integer(tuning, "httpPort", "tuning.httpPort", out.http_port);
  r.integer(tuning, "httpsPort", "tuning.httpsPort", out.https_port);
  r.integer(tuning, "connectionsPerClient", "tuning.connectionsPerClient",
            out.connections_per_client);
}

void put(json& object, const char* key, const std::optional<std::string>& value) {
  if (value) object[key] = *value;
}
void put(json& object, const char* key, const std::optional<int64_t>& value) {
  if (value) object[key] = *value;
}

}  // namespace

std::string to_json_text(const GateConfigFile& file) {
  json listen = json::object();
  put(listen, "dns", file.listen.dns);
  put(listen, "http", file.listen.http);
  put(listen, "https", file.listen.https);
  put(listen, "proxy", file.listen.proxy);
  put(listen, "control", file.listen.control);
  // nlohmann's default object is a std::map: keys come out sorted, whatever the insertion order.
  json sandboxes = json::object();
  for (const auto& [ip, sandbox] : file.sandboxes) sandboxes[ip] = sandbox_json(sandbox);
  json document = {{"policy", policy_json(file.policy)},
                   {"gateIP", file.gate_ip},
                   {"listen", listen},
                   {"sandboxes", sandboxes},
                   {"auditLog", file.audit_log}};
  // Written only when there are any, so that configs without them keep their text.
  if (!file.policies.empty()) {
    json policies = json::object();
    for (const auto& [key, policy] : file.policies) policies[key] = policy_json(policy);
    document["policies"] = policies;
  }
  // Written only when set, so that configs without it keep their text.
  if (file.audit_required) document["auditRequired"] = true;
  if (file.tuning) {
    const TuningFile& t = *file.tuning;
    json tuning = json::object();
    put(tuning, "headTimeoutMs", t.head_timeout_ms);
    put(tuning, "idleTimeoutMs", t.idle_timeout_ms);
    put(tuning, "connectTimeoutMs", t.connect_timeout_ms);
    put(tuning, "dnsAnswerTTL", t.dns_answer_ttl);
    put(tuning, "httpPort", t.http_port);
    put(tuning, "httpsPort", t.https_port);
    put(tuning, "connectionsPerClient", t.connections_per_client);
    document["tuning"] = tuning;
  }
  if (file.tls) {
    document["tls"] = {
        {"caCert", file.tls->ca_cert}, {"caKey", file.tls->ca_key}, {"trust", file.tls->trust}};
  }
  // Invalid UTF-8 (a name nobody checked) becomes U+FFFD instead of an exception.
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<GateConfigFile> read_gate_config_file(std::string_view json_text,
                                                    std::vector<std::string>& problems) {
  ShapeReader r(problems);
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    r.add("config", std::string("not JSON: ") + error.what());
    return std::nullopt;
  }
  if (!document.is_object()) {
    r.add("config", "must be a JSON object");
    return std::nullopt;
  }
  GateConfigFile file;
  r.refuse_unknown(document, "config",
                   {"policy", "policies", "gateIP", "listen", "sandboxes", "auditLog",
                    "auditRequired", "tuning", "tls"});

  if (const json* policy = r.object(document, "policy", "policy")) {
    read_policy(*policy, "policy", file.policy, r);
  } else if (!ShapeReader::present(document, "policy")) {
    r.add("policy", "required");
  }
  if (const json* policies = r.object(document, "policies", "policies")) {
    for (const auto& [key, spec] : policies->items()) {
      const std::string at = "policies." + key;
      if (!spec.is_object()) {
        r.add(at, "must be an object");
        continue;
      }
      read_policy(spec, at, file.policies[key], r);
    }
  }

  if (auto gate_ip = document.find("gateIP"); gate_ip == document.end()) {
    r.add("gateIP", "required");
  } else if (!gate_ip->is_string()) {
    r.add("gateIP", "must be an IPv4 address (DNS answers are A records)");
  } else {
    file.gate_ip = gate_ip->get<std::string>();
  }

  if (const json* listen = r.object(document, "listen", "listen")) {
    r.refuse_unknown(*listen, "listen", {"dns", "http", "https", "proxy", "control"});
    r.address(*listen, "dns", "listen.dns", file.listen.dns);
    r.address(*listen, "http", "listen.http", file.listen.http);
    r.address(*listen, "https", "listen.https", file.listen.https);
    r.address(*listen, "proxy", "listen.proxy", file.listen.proxy);
    r.address(*listen, "control", "listen.control", file.listen.control);
  }

  if (const json* sandboxes = r.object(document, "sandboxes", "sandboxes")) {
    for (const auto& [ip, value] : sandboxes->items()) {
      read_sandbox(value, "sandboxes." + ip, file.sandboxes[ip], r);
    }
  }

  if (auto audit = document.find("auditLog"); audit != document.end()) {
    if (!audit->is_string()) {
      r.add("auditLog", "must be a file path or \"-\"");
    } else {
      file.audit_log = audit->get<std::string>();
    }
  }

  if (auto required = document.find("auditRequired"); required != document.end()) {
    if (!required->is_boolean()) {
      r.add("auditRequired", "must be true or false");
    } else {
      file.audit_required = required->get<bool>();
    }
  }

  if (const json* tuning = r.object(document, "tuning", "tuning")) {
    read_tuning(*tuning, file.tuning.emplace(), r);
  }
  if (const json* tls = r.object(document, "tls", "tls")) {
    r.refuse_unknown(*tls, "tls", {"caCert", "caKey", "trust"});
    TlsFile& t = file.tls.emplace();
    r.text(*tls, "caCert", "tls.caCert", t.ca_cert);
    r.text(*tls, "caKey", "tls.caKey", t.ca_key);
    r.strings(*tls, "trust", "tls.trust", t.trust);
    if (t.ca_cert.empty()) r.add("tls.caCert", "required");
    if (t.ca_key.empty()) r.add("tls.caKey", "required");
  }
  return file;
}

Result<GateConfigFile> parse_gate_config_file(std::string_view json_text) {
  std::vector<std::string> problems;
  std::optional<GateConfigFile> file = read_gate_config_file(json_text, problems);
  if (problems.empty() && file) return std::move(*file);
  std::string message;
  for (const std::string& problem : problems) message += (message.empty() ? "" : "\n") + problem;
  return Error{0, message};
}

}  // namespace acctl::gate
