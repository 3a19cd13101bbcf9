// The ac-gate config file (rendered by acctl): listeners, the egress policy, limits and timeouts.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gate/credential_rules.h"
#include "gate/policy.h"
#include "gate/tls/gate_ca.h"
#include "gate/tls/tls_session.h"
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
  // Tokens the gate adds for this policy's sandbox: for their hosts TLS is terminated. The
  // tokens are read from their files only by load_gate_config (parse_gate_config leaves them
  // empty, for acctl's checks that have no access to them).
  std::vector<CredentialGrant> credentials;

  // The credential whose git or API hosts include `name` (normalised), or nullptr.
  const CredentialGrant* credential_for(std::string_view name) const;
};

// The gate's TLS termination, loaded from the files of the "tls" section: the leaves it mints
// for credential hosts, and the context that verifies their real upstreams.
struct TlsTermination {
  explicit TlsTermination(LeafMinter minter) : leaves(std::move(minter)) {}
  LeafMinter leaves;  // caches; used from the event loop only
  std::shared_ptr<SSL_CTX> upstream;
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
  // Set by load_gate_config when the file has a "tls" section; connections share it.
  std::shared_ptr<TlsTermination> tls;

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

// Reads a file the config names (token files, the CA); nullopt when it cannot.
using ReadFile = std::function<std::optional<std::string>(const std::string& path)>;

// Checks every value of a document whose shape is already checked and compiles it; problems are
// appended to `problems` ("policy.allow[2]: ..."). With `read`, the credentials' tokens and the
// tls section's files are read and loaded too.
GateConfig compile_gate_config(const GateConfigFile& file, std::vector<std::string>& problems,
                               const ReadFile* read = nullptr);

// Parses and checks a whole config document (shape, then values); returns every problem found
// ("policy.allow[2]:
// ...") rather than stopping at the first.
// With `read`, the files it names are read too (see compile_gate_config).
std::variant<GateConfig, std::vector<std::string>> parse_gate_config(
    std::string_view json_text, const ReadFile* read = nullptr);

// Reads FILE and parses it, with its token and CA files; an unreadable file is one problem.
std::variant<GateConfig, std::vector<std::string>> load_gate_config(const std::string& path);

// "IP:PORT" or "[IPv6]:PORT"; with `default_port`, a bare IP too.
std::variant<SocketAddress, std::string> parse_socket_address(std::string_view text,
                                                              std::optional<uint16_t> default_port);

}  // namespace acctl::gate
