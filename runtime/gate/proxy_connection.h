// One proxied client connection (http, https or explicit proxy listener), from accept to close.
#pragma once

#include <string>

#include "common/fd.h"
#include "gate/gate_context.h"

namespace acctl::gate {

// What the listener a connection came in on decides by.
enum class ProxyKind {
  kHttp,   // the Host header
  kTls,    // the ClientHello's SNI
  kProxy,  // absolute-form requests and CONNECT
};

// Takes over `client` (accepted non-blocking) from `client_ip`. Without `has_slot` (a
// connection cap is reached) it is refused with 503; otherwise it is judged, audited, and
// spliced to the destination or refused. It releases its slot when it ends.
void start_proxy_connection(GateContext& gate, UniqueFd client, ProxyKind kind,
                            std::string client_ip, bool has_slot);

}  // namespace acctl::gate
