// Maps a parsed DNS query and the policy to the gate's response bytes.
#include "gate/dns_responder.h"

#include "gate/dns_message.h"

namespace acctl::gate {

DnsOutcome answer_dns_query(std::span<const uint8_t> message, const EgressPolicy& policy,
                            const DnsAnswerSettings& settings, bool rate_limited) {
  DnsOutcome outcome;
  auto parsed = parse_dns_query(message);
  if (auto* failure = std::get_if<DnsParseFailure>(&parsed)) {
    outcome.reason = "malformed: " + failure->reason;
    if (!failure->header || rate_limited) {
      outcome.result = rate_limited ? "rate-limited" : "dropped";
      return outcome;
    }
    outcome.response = build_header_only(*failure->header, failure->rcode);
    outcome.result = failure->rcode == DnsRcode::kFormErr ? "formerr" : "refused";
    return outcome;
  }
  const DnsQuery& query = std::get<DnsQuery>(parsed);
  outcome.qtype = query.question.qtype;
  // A label holding a '.' has no dotted form that names the same thing: it cannot be allowed.
  const std::optional<std::string> dotted = query.question.dotted_name();
  outcome.name = dotted.value_or("");
  if (rate_limited) {
    outcome.response = build_error(query, DnsRcode::kRefused);
    outcome.result = "rate-limited";
    outcome.reason = "rate-limited";
    return outcome;
  }
  if (query.question.qclass != kDnsClassIn) {
    outcome.response = build_error(query, DnsRcode::kRefused);
    outcome.result = "refused";
    outcome.reason = "class-not-in";
    return outcome;
  }
  const Decision decision = dotted ? policy.decide_name(*dotted) : Decision{false, "invalid-name"};
  outcome.allowed = decision.allowed;
  outcome.reason = decision.reason;
  if (!decision.allowed) {
    outcome.response = build_error(query, DnsRcode::kNxDomain);
    outcome.result = "nxdomain";
  } else if (query.question.qtype == kDnsTypeA) {
    outcome.response = build_a_answer(query, settings.gate_ip, settings.ttl);
    outcome.result = "answer";
  } else {
    outcome.response = build_nodata(query);
    outcome.result = "nodata";
  }
  return outcome;
}

}  // namespace acctl::gate
