// What the gate would decide for one client's connection to NAME:PORT, without traffic: the
// same compiled config and the same decide_* calls the proxy makes, for `acctl policy check`
// and for the tests that hold it to the gate's live answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gate/gate_config.h"

namespace acctl::gate {

struct EgressCheck {
  bool allowed = false;
  std::vector<std::string> rules;  // what decided, in order: name, port, each pinned address
  std::string to_allow;            // for a refusal: what would allow it ("" when nothing can)
  // A name the client's policy does not pin (dns.records) is resolved when it connects, and
  // that address is judged then: `allowed` is the answer up to that point.
  bool resolved_later = false;
};

// `client` is the canonical IP text of the sandbox (GateConfig::sandbox); an unknown one gets
// the top-level policy, as at the gate.
EgressCheck check_egress(const GateConfig& config, const std::string& client, std::string_view name,
                         uint16_t port);

}  // namespace acctl::gate
