// The ac-gate config file as written on disk: one definition shared by acctl (writer) and ac-gate.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace acctl::gate {

// Everything here is the document's own text and numbers: addresses, CIDRs and names stay
// strings, numbers stay int64. Whether they mean anything is ac-gate's check (gate_config.h);
// this module only knows the shape. Field defaults are the ones an absent field has.

struct DnsFile {
  std::vector<std::string> upstreams;                       // "IP", "IP:PORT", "[IPv6]:PORT"
  std::map<std::string, std::vector<std::string>> records;  // name → IP addresses
  friend bool operator==(const DnsFile&, const DnsFile&) = default;
};

struct LimitsFile {
  int64_t dns_qps = 200;       // "dnsQPS", per client IP
  int64_t connections = 1024;  // global cap on proxied connections
  friend bool operator==(const LimitsFile&, const LimitsFile&) = default;
};

// A credential the gate adds to a sandbox's requests ("credentials" of a policy): for its hosts
// the gate terminates TLS, verifies the upstream, and adds the token to each request it lets
// through (gate/credential_rules.h).
struct CredentialFile {
  std::string provider;                   // "github" or "gitlab"
  std::vector<std::string> git_hosts;     // "gitHosts"
  std::vector<std::string> api_hosts;     // "apiHosts"
  std::string token_file;                 // "tokenFile": read by the gate at load and reload
  bool allow_push = false;                // "allowPush"
  std::vector<std::string> repositories;  // "owner/repo"; empty: any
  friend bool operator==(const CredentialFile&, const CredentialFile&) = default;
};

// The gate's TLS termination ("tls"): its CA, whose leaves it mints for credential hosts, and
// the CA files it trusts for upstreams beside the system store.
struct TlsFile {
  std::string ca_cert;             // "caCert": PEM path
  std::string ca_key;              // "caKey": PEM path, readable by the gate only
  std::vector<std::string> trust;  // "trust": more CA PEM files for upstream verification
  friend bool operator==(const TlsFile&, const TlsFile&) = default;
};

// A policy the gate enforces ("policy", and each of "policies"); field names follow the
// EgressPolicy spec. dns.upstreams and limits.connections are the gate's own and belong to the
// top-level "policy" only (compile refuses them elsewhere).
struct PolicyFile {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::vector<int64_t> ports = {80, 443};
  std::vector<std::string> allow_cidrs;  // "allowCIDRs"
  std::vector<std::string> deny_cidrs;   // "denyCIDRs"
  DnsFile dns;
  LimitsFile limits;
  std::vector<CredentialFile> credentials;  // "policies" only: one sandbox's
  friend bool operator==(const PolicyFile&, const PolicyFile&) = default;
};

// "IP:PORT" or "[IPv6]:PORT" per listener; absent: not listening.
struct ListenFile {
  std::optional<std::string> dns;
  std::optional<std::string> http;
  std::optional<std::string> https;
  std::optional<std::string> proxy;
  std::optional<std::string> control;
  friend bool operator==(const ListenFile&, const ListenFile&) = default;
};

// The gate's own knobs ("tuning"); absent fields keep ac-gate's defaults.
struct TuningFile {
  std::optional<int64_t> head_timeout_ms;
  std::optional<int64_t> idle_timeout_ms;
  std::optional<int64_t> connect_timeout_ms;
  std::optional<int64_t> dns_answer_ttl;  // "dnsAnswerTTL"
  std::optional<int64_t> http_port;
  std::optional<int64_t> https_port;
  std::optional<int64_t> connections_per_client;
  friend bool operator==(const TuningFile&, const TuningFile&) = default;
};

// A sandbox, by its client IP: its name, the key of its policy in "policies" ("" or absent: the
// top-level "policy"), and for messages where that policy came from. In the file either an
// object or, for a sandbox under the top-level policy, just its name.
struct SandboxFile {
  std::string name;
  std::string policy;
  std::string egress_policy;  // "egressPolicy"
  std::string blueprint;
  friend bool operator==(const SandboxFile&, const SandboxFile&) = default;
};

struct GateConfigFile {
  // Required: the policy of every client "sandboxes" does not name, and the gate-wide
  // dns.upstreams and limits.connections.
  PolicyFile policy;
  std::map<std::string, PolicyFile> policies;  // key → a sandbox policy
  std::string gate_ip;                         // "gateIP", required
  ListenFile listen;
  std::map<std::string, SandboxFile> sandboxes;  // client IP → sandbox
  std::string audit_log = "-";                   // "auditLog": a path, or "-" for stdout
  // "auditRequired": refuse new connections and DNS answers while the log cannot be written.
  bool audit_required = false;
  std::optional<TuningFile> tuning;
  std::optional<TlsFile> tls;  // absent: no credentials can be injected
  friend bool operator==(const GateConfigFile&, const GateConfigFile&) = default;
};

// The file's text: keys sorted, 2-space indent, a trailing newline; equal structs give equal
// bytes, so a writer can compare texts to know whether the gate must reload. Absent optional
// fields are left out.
std::string to_json_text(const GateConfigFile& file);

// Checks the shape: JSON types, required fields, and unknown fields (refused, so a typo cannot
// silently weaken a policy). Problems are appended as "path: message" ("policy.allow[2]: must
// be a string", "listen.smtp: unknown field"); a field with a problem keeps its default, so a
// caller can go on checking the values and report everything at once. nullopt when the text is
// not a JSON object at all.
std::optional<GateConfigFile> read_gate_config_file(std::string_view json_text,
                                                    std::vector<std::string>& problems);

// The same for callers that want one answer: the Error's message lists every problem, one per
// line.
Result<GateConfigFile> parse_gate_config_file(std::string_view json_text);

}  // namespace acctl::gate
