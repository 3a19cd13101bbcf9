// The ac-gate config file (rendered by acctl): listeners, the egress policy, limits and timeouts.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gate/policy.h"
#include "netpolicy/address.h"

namespace acctl::gate {

struct SocketAddress {
  netpolicy::IpAddress ip;
  uint16_t port = 0;

  std::string str() const;  // "1.2.3.4:53", "[::1]:53"
  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

struct GateListen {
  std::optional<SocketAddress> dns;      // UDP and TCP
  std::optional<SocketAddress> http;     // decides on Host
  std::optional<SocketAddress> https;    // decides on the ClientHello's SNI
  std::optional<SocketAddress> proxy;    // absolute-form and CONNECT
  std::optional<SocketAddress> control;  // /healthz, /metrics, /reload: never for sandboxes

  friend bool operator==(const GateListen&, const GateListen&) = default;
};

// Knobs that are the gate's, not the policy's (top-level "tuning" object; all optional).
struct GateTuning {
  std::chrono::milliseconds head_timeout{10'000};     // to finish a request head or ClientHello
  std::chrono::milliseconds idle_timeout{300'000};    // no bytes either way
  std::chrono::milliseconds connect_timeout{10'000};  // to the upstream
  uint32_t dns_answer_ttl = 30;                       // TTL of the gate's A answers
  // Destination ports of the transparent listeners: a client that resolved a name to the gate
  // and connected to it meant these ports.
  uint16_t http_port = 80;
  uint16_t https_port = 443;
  // Concurrent connections one client IP may hold; 0 means a quarter of limits.connections, so
  // one sandbox cannot starve the others.
  uint32_t connections_per_client = 0;
};

// One compiled policy and what belongs with it: the names it allows, its own dns.records (only its
// sandboxes' connections dial them) and its per-client limits.
struct ClientPolicy {
  std::string key;  // its key in "policies"; "" for the top-level "policy"
  std::shared_ptr<const EgressPolicy> rules;
  // dns.records with names normalised (lower case, no trailing dot).
  std::map<std::string, std::vector<netpolicy::IpAddress>> records;
  uint32_t dns_qps = 200;       // per client IP
  uint32_t connections = 1024;  // per client IP, within the gate's own per-client cap
};

// A sandbox the gate knows by its address on the internal network (acctl assigns it).
struct SandboxEntry {
  std::string name;
  std::string egress_policy;  // for messages: the EgressPolicy and Blueprint its policy comes from
  std::string blueprint;
  std::shared_ptr<const ClientPolicy> policy;
};

struct GateConfig {
  // "policy": for every client "sandboxes" does not name (acctl writes one that allows nothing).
  std::shared_ptr<const ClientPolicy> fallback;
  std::map<std::string, std::shared_ptr<const ClientPolicy>> policies;  // "policies", by key
  std::vector<SocketAddress> upstreams;   // empty: the system's resolvers
  uint32_t connections = 1024;            // global cap on proxied connections
  uint32_t connections_per_client = 256;  // resolved from tuning
  std::array<uint8_t, 4> gate_ip{};
  GateListen listen;
  std::unordered_map<std::string, SandboxEntry> sandboxes;  // canonical client IP → sandbox
  std::string audit_log = "-";                              // path, or "-" for stdout
  // While the audit log cannot be written, new connections and DNS answers are refused.
  bool audit_required = false;
  GateTuning tuning;

  // The sandbox at `client` (canonical IP text), or nullptr for an unknown client.
  const SandboxEntry* sandbox(const std::string& client) const {
    auto it = sandboxes.find(client);
    return it == sandboxes.end() ? nullptr : &it->second;
  }
  // The policy every decision about `client` is made by.
  const ClientPolicy& policy_for(const std::string& client) const {
    const SandboxEntry* s = sandbox(client);
    return s && s->policy ? *s->policy : *fallback;
  }
};

struct GateConfigFile;  // gate/config_file.h: the document as written

// Checks every value of a document whose shape is already checked and compiles it; problems are
// appended to `problems` ("policy.allow[2]: ...").
GateConfig compile_gate_config(const GateConfigFile& file, std::vector<std::string>& problems);

// Parses and checks a whole config document (shape, then values); returns every problem found
// ("policy.allow[2]:
// ...") rather than stopping at the first.
std::variant<GateConfig, std::vector<std::string>> parse_gate_config(std::string_view json_text);

// Reads FILE and parses it; an unreadable file is one problem.
std::variant<GateConfig, std::vector<std::string>> load_gate_config(const std::string& path);

// "IP:PORT" or "[IPv6]:PORT"; with `default_port`, a bare IP too.
std::variant<SocketAddress, std::string> parse_socket_address(std::string_view text,
                                                              std::optional<uint16_t> default_port);

}  // namespace acctl::gate
