// DNS wire format for the gate's resolver face: a strict query parser and the few responses it
// sends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace acctl::gate {

enum class DnsRcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeAaaa = 28;
inline constexpr uint16_t kDnsTypeOpt = 41;
inline constexpr uint16_t kDnsClassIn = 1;

// The header fields a response copies from the query it answers.
struct DnsHeaderEcho {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool recursion_desired = false;
};

struct DnsQuestion {
  // Labels exactly as sent (case kept: resolvers check that 0x20-randomised case is echoed).
  std::vector<std::string> labels;
  uint16_t qtype = 0;
  uint16_t qclass = 0;

  // The name in dotted form without a trailing dot ("" for the root), or nullopt when a label
  // holds a '.' and so the dotted form would name something else ("github.com" as one label).
  std::optional<std::string> dotted_name() const;
};

struct DnsQuery {
  DnsHeaderEcho header;
  DnsQuestion question;
  bool has_edns = false;  // an OPT record was present (read, then ignored)
};

// Why a message was not a query we answer. `header` is set when the message is long enough to
// carry an ID and is not itself a response, i.e. when answering with `rcode` is safe.
struct DnsParseFailure {
  std::string reason;
  std::optional<DnsHeaderEcho> header;
  DnsRcode rcode = DnsRcode::kFormErr;
};

// Parses one DNS message (UDP payload or one TCP frame without its length prefix). Accepts only a
// standard query with exactly one question, no answer or authority records and at most one
// additional record, which must be an OPT (EDNS). Trailing bytes are an error.
std::variant<DnsQuery, DnsParseFailure> parse_dns_query(std::span<const uint8_t> message);

// Responses. Each copies ID, opcode and RD from the query, sets QR and RA, and repeats the
// question exactly as parsed; nothing else from the query is echoed (no OPT is returned).
std::vector<uint8_t> build_a_answer(const DnsQuery& query, std::array<uint8_t, 4> ipv4,
                                    uint32_t ttl);
// NOERROR with no answer: the name exists but has no record of the asked type.
std::vector<uint8_t> build_nodata(const DnsQuery& query);
// NXDOMAIN, REFUSED, SERVFAIL, FORMERR, NOTIMP with the question repeated.
std::vector<uint8_t> build_error(const DnsQuery& query, DnsRcode rcode);
// A header-only response for a message that did not parse: no question is repeated.
std::vector<uint8_t> build_header_only(const DnsHeaderEcho& header, DnsRcode rcode);

// DNS over TCP frames each message with a two-byte big-endian length.
std::vector<uint8_t> frame_for_tcp(std::span<const uint8_t> message);

struct TcpDnsFrame {
  bool complete = false;             // false: wait for more bytes
  std::span<const uint8_t> message;  // the frame's payload when complete
  size_t consumed = 0;               // bytes of `buffered` the frame occupies when complete
};
// Takes the first frame off the front of the bytes buffered from a TCP client.
TcpDnsFrame next_tcp_frame(std::span<const uint8_t> buffered);

}  // namespace acctl::gate
