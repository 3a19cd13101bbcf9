// The gate's answer to one DNS query: allowed A → gateIP, allowed other → NODATA, else NXDOMAIN.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gate/policy.h"

namespace acctl::gate {

struct DnsOutcome {
  std::optional<std::vector<uint8_t>> response;  // nullopt: send nothing
  // For metrics: answer, nodata, nxdomain, refused, formerr, rate-limited, dropped.
  std::string result;
  std::string name;  // the question's name as the policy saw it ("" when unparsed)
  uint16_t qtype = 0;
  bool allowed = false;
  std::string reason;  // the policy's reason, or why the message was not answered normally
};

struct DnsAnswerSettings {
  std::array<uint8_t, 4> gate_ip{};
  uint32_t ttl = 30;
};

// Never forwards anything upstream: the answer depends only on the question and the policy.
// `rate_limited` turns a well-formed query into REFUSED (the response is never larger than the
// query, so refusing costs no amplification) and an unparsable one into silence.
DnsOutcome answer_dns_query(std::span<const uint8_t> message, const EgressPolicy& policy,
                            const DnsAnswerSettings& settings, bool rate_limited);

}  // namespace acctl::gate
