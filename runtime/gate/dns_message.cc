// Strict RFC 1035 query parsing and response building for the gate's DNS listener.
#include "gate/dns_message.h"

#include <cassert>

namespace acctl::gate {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWireLength = 255;  // RFC 1035 2.3.4, counting length octets and root
constexpr size_t kMaxLabelLength = 63;
constexpr uint8_t kPointerTag = 0xc0;

// Bounds-checked big-endian reader over the message; every read reports whether it fit.
class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> data) : data_(data) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return data_.size() - offset_; }
  std::span<const uint8_t> data() const { return data_; }

  bool u8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[offset_++];
    return true;
  }
  bool u16(uint16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<uint16_t>(data_[offset_] << 8 | data_[offset_ + 1]);
    offset_ += 2;
    return true;
  }
  bool u32(uint32_t& out) {
    uint16_t hi = 0, lo = 0;
    if (remaining() < 4) return false;
    u16(hi);
    u16(lo);
    out = static_cast<uint32_t>(hi) << 16 | lo;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    offset_ += n;
    return true;
  }

 private:
  std::span<const uint8_t> data_;
  size_t offset_ = 0;
};

// Reads a possibly compressed name at the reader's position and leaves the reader after it.
// Every pointer must point strictly before the earliest byte of the name read so far, so a
// chain of pointers always moves backwards and ends; pointers into the header are refused.
std::optional<std::string> read_name(WireReader& reader, std::vector<std::string>& labels) {
  const std::span<const uint8_t> data = reader.data();
  size_t pos = reader.offset();
  size_t earliest = pos;
  size_t resume = 0;  // where the reader continues once the first pointer is followed
  bool jumped = false;
  size_t wire_length = 1;  // the root label's length octet
  labels.clear();
  while (true) {
    if (pos >= data.size()) return "name runs past the end of the message";
    const uint8_t len = data[pos];
    if ((len & kPointerTag) == kPointerTag) {
      if (pos + 1 >= data.size()) return "compression pointer runs past the end of the message";
      const size_t target = static_cast<size_t>(len & 0x3f) << 8 | data[pos + 1];
      if (target < kHeaderSize) return "compression pointer into the header";
      if (target >= earliest) return "compression pointer does not point backwards";
      if (!jumped) resume = pos + 2;
      jumped = true;
      earliest = target;
      pos = target;
      continue;
    }
    if ((len & kPointerTag) != 0) return "reserved label type";
    if (len == 0) {
      ++pos;
      break;
    }
    if (len > kMaxLabelLength) return "label longer than 63 octets";
    if (pos + 1 + len > data.size()) return "label runs past the end of the message";
    wire_length += 1 + len;
    if (wire_length > kMaxNameWireLength) return "name longer than 255 octets";
    labels.emplace_back(reinterpret_cast<const char*>(data.data() + pos + 1), len);
    pos += 1 + len;
  }
  const size_t end = jumped ? resume : pos;
  reader.skip(end - reader.offset());
  return std::nullopt;
}

void put_u16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value & 0xff));
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  put_u16(out, static_cast<uint16_t>(value >> 16));
  put_u16(out, static_cast<uint16_t>(value & 0xffff));
}

void put_header(std::vector<uint8_t>& out, const DnsHeaderEcho& header, DnsRcode rcode,
                uint16_t qdcount, uint16_t ancount) {
  put_u16(out, header.id);
  // QR=1, opcode copied, AA=0, TC=0, RD copied; RA=1 because the gate is the sandboxes'
  // resolver and answers every name itself.
  out.push_back(static_cast<uint8_t>(0x80 | (header.opcode & 0x0f) << 3 |
                                     (header.recursion_desired ? 0x01 : 0x00)));
  out.push_back(static_cast<uint8_t>(0x80 | (static_cast<uint8_t>(rcode) & 0x0f)));
  put_u16(out, qdcount);
  put_u16(out, ancount);
  put_u16(out, 0);  // NSCOUNT
  put_u16(out, 0);  // ARCOUNT
}

void put_question(std::vector<uint8_t>& out, const DnsQuestion& question) {
  for (const std::string& label : question.labels) {
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  put_u16(out, question.qtype);
  put_u16(out, question.qclass);
}

std::vector<uint8_t> build_with_question(const DnsQuery& query, DnsRcode rcode, uint16_t ancount) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + kMaxNameWireLength + 4 + 16);
  put_header(out, query.header, rcode, 1, ancount);
  put_question(out, query.question);
  return out;
}

}  // namespace

std::optional<std::string> DnsQuestion::dotted_name() const {
  std::string out;
  for (const std::string& label : labels) {
    if (label.find('.') != std::string::npos) return std::nullopt;
    if (!out.empty()) out += '.';
    out += label;
  }
  return out;
}

std::variant<DnsQuery, DnsParseFailure> parse_dns_query(std::span<const uint8_t> message) {
  WireReader reader(message);
  uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  if (!reader.u16(id) || !reader.u16(flags) || !reader.u16(qdcount) || !reader.u16(ancount) ||
      !reader.u16(nscount) || !reader.u16(arcount)) {
    return DnsParseFailure{"shorter than a DNS header", std::nullopt};
  }
  // Answering a response could start a loop between two servers: drop it silently.
  if (flags & 0x8000) return DnsParseFailure{"message is a response", std::nullopt};
  DnsQuery query;
  query.header.id = id;
  query.header.opcode = static_cast<uint8_t>(flags >> 11 & 0x0f);
  query.header.recursion_desired = (flags & 0x0100) != 0;
  auto fail = [&](std::string reason, DnsRcode rcode = DnsRcode::kFormErr) {
    return DnsParseFailure{std::move(reason), query.header, rcode};
  };
  if (query.header.opcode != 0) return fail("opcode is not QUERY", DnsRcode::kNotImp);
  if (qdcount != 1) return fail("question count is not 1");
  if (ancount != 0 || nscount != 0) return fail("query carries answer or authority records");
  if (arcount > 1) return fail("more than one additional record");

  if (auto error = read_name(reader, query.question.labels)) return fail("question: " + *error);
  if (!reader.u16(query.question.qtype) || !reader.u16(query.question.qclass)) {
    return fail("question: truncated type or class");
  }

  if (arcount == 1) {
    std::vector<std::string> owner;
    uint16_t type = 0, udp_size = 0, rdlength = 0;
    uint32_t extended = 0;
    if (auto error = read_name(reader, owner)) return fail("additional: " + *error);
    if (!reader.u16(type) || !reader.u16(udp_size) || !reader.u32(extended) ||
        !reader.u16(rdlength)) {
      return fail("additional: truncated record");
    }
    if (type != kDnsTypeOpt) return fail("additional record is not OPT");
    if (!owner.empty()) return fail("OPT record owner is not the root");
    if (!reader.skip(rdlength)) return fail("OPT record data runs past the end of the message");
    query.has_edns = true;
  }
  if (reader.remaining() != 0) return fail("trailing bytes after the last record");
  return query;
}

std::vector<uint8_t> build_a_answer(const DnsQuery& query, std::array<uint8_t, 4> ipv4,
                                    uint32_t ttl) {
  std::vector<uint8_t> out = build_with_question(query, DnsRcode::kNoError, 1);
  put_u16(out, 0xc000 | kHeaderSize);  // the owner is the question's name, which follows the header
  put_u16(out, kDnsTypeA);
  put_u16(out, kDnsClassIn);
  put_u32(out, ttl);
  put_u16(out, 4);
  out.insert(out.end(), ipv4.begin(), ipv4.end());
  return out;
}

std::vector<uint8_t> build_nodata(const DnsQuery& query) {
  return build_with_question(query, DnsRcode::kNoError, 0);
}

std::vector<uint8_t> build_error(const DnsQuery& query, DnsRcode rcode) {
  return build_with_question(query, rcode, 0);
}

std::vector<uint8_t> build_header_only(const DnsHeaderEcho& header, DnsRcode rcode) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize);
  put_header(out, header, rcode, 0, 0);
  return out;
}

std::vector<uint8_t> frame_for_tcp(std::span<const uint8_t> message) {
  assert(message.size() <= 0xffff);  // the gate's responses are a few hundred bytes at most
  std::vector<uint8_t> out;
  out.reserve(2 + message.size());
  put_u16(out, static_cast<uint16_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

TcpDnsFrame next_tcp_frame(std::span<const uint8_t> buffered) {
  if (buffered.size() < 2) return {};
  const size_t length = static_cast<size_t>(buffered[0]) << 8 | buffered[1];
  if (buffered.size() < 2 + length) return {};
  return {true, buffered.subspan(2, length), 2 + length};
}

}  // namespace acctl::gate
