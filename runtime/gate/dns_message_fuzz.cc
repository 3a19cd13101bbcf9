// libFuzzer target: the DNS query parser and the responses built from what it accepts.
#include <algorithm>
#include <cstdlib>

#include "gate/dns_message.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acctl::gate;
  const std::span<const uint8_t> input(data, size);
  auto parsed = parse_dns_query(input);
  if (auto* failure = std::get_if<DnsParseFailure>(&parsed)) {
    // A reply is offered exactly when the message has a header and is not a response.
    check(failure->header.has_value() == (size >= 12 && (data[2] & 0x80) == 0));
    if (failure->header) {
      check(failure->header->id == (data[0] << 8 | data[1]));
      check(build_header_only(*failure->header, failure->rcode).size() == 12);
    }
  } else {
    const DnsQuery& query = std::get<DnsQuery>(parsed);
    size_t wire = 1;
    for (const std::string& label : query.question.labels) {
      check(!label.empty() && label.size() <= 63);
      wire += 1 + label.size();
    }
    check(wire <= 255);
    check(query.header.opcode == 0);
    const std::vector<uint8_t> answer = build_a_answer(query, {172, 20, 0, 53}, 60);
    check(answer.size() == 12 + wire + 4 + 16);
    check(answer[0] == data[0] && answer[1] == data[1]);
    check((answer[2] & 0x01) == (data[2] & 0x01));  // RD copied
    // A response never grows past the question it repeats: nothing else is echoed.
    check(build_nodata(query).size() == 12 + wire + 4);
    check(build_error(query, DnsRcode::kNxDomain).size() == 12 + wire + 4);
    // An uncompressed question is repeated byte for byte.
    if (size == 12 + wire + 4) check(std::equal(data + 12, data + size, answer.begin() + 12));
  }
  // The same bytes read as a TCP stream: frames never claim more than was buffered.
  const TcpDnsFrame frame = next_tcp_frame(input);
  if (frame.complete) {
    check(frame.consumed <= size && frame.consumed == frame.message.size() + 2);
    const std::vector<uint8_t> framed = frame_for_tcp(frame.message);
    check(std::equal(framed.begin(), framed.end(), data));
  } else {
    check(size < 2 || size < 2u + (data[0] << 8 | data[1]));
  }
  return 0;
}
