// A connection to one of a sandbox's credential hosts, with its TLS terminated at the gate: the
// client's requests are judged one by one (gate/credential_rules.h) and go upstream, over TLS
// the gate verified, with the sandbox's real token in place of whatever it sent.
#pragma once

#include <memory>
#include <string>

#include "common/fd.h"
#include "gate/audit_log.h"
#include "gate/connection_poller.h"
#include "gate/gate_context.h"

namespace acctl::gate {

// What a proxy connection hands over once the name is allowed and the upstream's TCP connection
// is up: both sockets, with whether each is in the poller already (then re-pointed here, else
// added: a client whose ClientHello was read before it ever had to wait was never added), the
// client's bytes read so far (its ClientHello, and anything after it), and the grant in
// `config` to inject.
struct InterceptStart {
  PolledSocket client;
  PolledSocket upstream;
  std::string client_bytes;
  std::string name;  // normalised: the SNI, which the CONNECT name (if any) matched
  std::shared_ptr<const GateConfig> config;
  const CredentialGrant* grant = nullptr;  // in config
  AuditRecord record;                      // the connection's, so far
  bool slot = false;                       // a connection slot to release at the end
  std::shared_ptr<SSL_CTX> leaf;           // the server context presenting a leaf for name
};

void start_intercept_connection(GateContext& gate, InterceptStart start);

}  // namespace acctl::gate
