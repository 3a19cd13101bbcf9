// Request-line, header-field and authority parsing for the gate's HTTP listeners.
#include "gate/http_head.h"

#include <algorithm>
#include <charconv>

#include "common/ascii.h"
#include "netpolicy/address.h"

namespace acctl::gate {
namespace {

constexpr std::string_view kHeadEnd = "\r\n\r\n";

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Visible ASCII only: request targets never contain spaces, controls or raw non-ASCII bytes.
bool is_target_text(std::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return !text.empty();
}

// Field values: visible ASCII, space, tab and obs-text (RFC 9110 5.5); no other controls.
bool is_field_value(std::string_view text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

HttpHeadParse failure(HttpHeadStatus status, std::string reason) {
  HttpHeadParse out;
  out.status = status;
  out.reason = std::move(reason);
  return out;
}

// Parses a head whose lines are known to end in CRLF and which ends with an empty line.
HttpHeadParse parse_complete_head(std::string_view head) {
  auto malformed = [](std::string reason) {
    return failure(HttpHeadStatus::kMalformed, std::move(reason));
  };
  HttpHeadParse out;
  out.status = HttpHeadStatus::kComplete;
  HttpRequestHead& request = out.head;
  request.length = head.size();

  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const size_t first_space = request_line.find(' ');
  const size_t last_space = request_line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return malformed("request line is not METHOD SP TARGET SP VERSION");
  }
  const std::string_view method = request_line.substr(0, first_space);
  const std::string_view target =
      request_line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = request_line.substr(last_space + 1);
  if (!is_token(method)) return malformed("method is not a token");
  if (!is_target_text(target)) return malformed("request target is empty or has invalid bytes");
  if (version == "HTTP/1.1") {
    request.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    request.minor_version = 0;
  } else {
    return malformed("version is not HTTP/1.0 or HTTP/1.1");
  }
  request.method = method;
  request.target = target;

  if (method == "CONNECT") {
    request.form = TargetForm::kAuthority;
    auto authority = split_authority(target, std::nullopt);
    if (auto* error = std::get_if<std::string>(&authority)) {
      return malformed("CONNECT target: " + *error);
    }
  } else if (target.front() == '/') {
    request.form = TargetForm::kOrigin;
  } else if (target == "*") {
    if (method != "OPTIONS") return malformed("'*' target is only for OPTIONS");
    request.form = TargetForm::kAsterisk;
  } else {
    request.form = TargetForm::kAbsolute;
    auto absolute = parse_absolute_target(target);
    if (auto* error = std::get_if<std::string>(&absolute)) {
      return malformed("absolute target: " + *error);
    }
  }

  int host_fields = 0;
  size_t pos = line_end + 2;
  while (true) {
    line_end = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, line_end - pos);
    pos = line_end + 2;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return malformed("obs-fold line continuation");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return malformed("header line without ':'");
    const std::string_view name = line.substr(0, colon);
    // "Host : x" is refused (RFC 9112 5.1): servers disagree on what such a field is.
    if (!is_token(name)) return malformed("header name is not a token");
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) return malformed("control character in header value");
    if (request.fields.size() >= kMaxHeaderFields) {
      return failure(HttpHeadStatus::kTooLarge, "more than 128 header fields");
    }
    if (ascii_iequals(name, "host") && ++host_fields > 1)
      return malformed("more than one Host field");
    request.fields.push_back({std::string(name), std::string(value)});
  }
  if (request.minor_version == 1 && host_fields == 0) return malformed("HTTP/1.1 without Host");
  return out;
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// Hosts agree when they are the same name up to ASCII case and one trailing dot.
bool same_host(const HostPort& a, const HostPort& b) {
  auto bare = [](std::string_view host) {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return ascii_lower(host);
  };
  if (a.ipv6_literal || b.ipv6_literal) {
    if (a.ipv6_literal != b.ipv6_literal) return false;
    return netpolicy::parse_ip(a.host) == netpolicy::parse_ip(b.host);
  }
  return bare(a.host) == bare(b.host);
}

}  // namespace

std::optional<std::string_view> HttpRequestHead::host() const {
  for (const HttpHeaderField& field : fields) {
    if (ascii_iequals(field.name, "host")) return field.value;
  }
  return std::nullopt;
}

HttpHeadParse HttpHeadReader::scan(std::string_view received) {
  // Look at each byte once: at a bare CR or LF, or at the end of the head.
  const size_t limit = std::min(received.size(), max_head_bytes_);
  for (size_t i = checked_; i < limit; ++i) {
    const char c = received[i];
    if (c == '\n' && (i == 0 || received[i - 1] != '\r')) {
      return failure(HttpHeadStatus::kMalformed, "bare LF in head");
    }
    // Only bytes within the limit are judged: what follows it never changes the verdict, so a
    // head read whole and one read in pieces end the same way.
    if (c == '\r' && i + 1 < limit && received[i + 1] != '\n') {
      return failure(HttpHeadStatus::kMalformed, "bare CR in head");
    }
    if (c == '\n' && i >= 3 && received.substr(i - 3, 4) == kHeadEnd) {
      if (i + 1 == 4) return failure(HttpHeadStatus::kMalformed, "empty request line");
      return parse_complete_head(received.substr(0, i + 1));
    }
  }
  // A CR at the end may yet be followed by LF: look at it again next time.
  checked_ = limit > 0 && received[limit - 1] == '\r' ? limit - 1 : limit;
  if (received.size() >= max_head_bytes_) {
    return failure(HttpHeadStatus::kTooLarge,
                   "head longer than " + std::to_string(max_head_bytes_) + " bytes");
  }
  return {};
}

HttpHeadParse parse_http_head(std::string_view received, size_t max_head_bytes) {
  return HttpHeadReader(max_head_bytes).scan(received);
}

std::variant<HostPort, std::string> split_authority(std::string_view authority,
                                                    std::optional<uint16_t> default_port) {
  if (authority.find('@') != std::string_view::npos) return "userinfo ('@') in authority";
  HostPort out;
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "'[' without ']'";
    const std::string_view literal = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    auto ip = netpolicy::parse_ip(literal);
    if (literal.find(':') == std::string_view::npos || !ip) {
      return "\"" + std::string(literal) + "\" in brackets is not an IPv6 address";
    }
    out.host = literal;
    out.ipv6_literal = true;
    if (!rest.empty()) {
      if (rest.front() != ':') return "junk after ']'";
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != authority.rfind(':')) return "more than one ':' (IPv6 literals need brackets)";
    out.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (out.host.empty()) return "empty host";
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) return "port \"" + std::string(port_text) + "\" is not 1..65535";
    out.port = *port;
  } else if (default_port) {
    out.port = *default_port;
  } else {
    return "port missing";
  }
  return out;
}

std::variant<AbsoluteTarget, std::string> parse_absolute_target(std::string_view target) {
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return "not scheme://authority";
  AbsoluteTarget out;
  out.scheme = ascii_lower(target.substr(0, scheme_end));
  uint16_t default_port = 0;
  if (out.scheme == "http") {
    default_port = 80;
  } else if (out.scheme == "https") {
    default_port = 443;
  } else {
    return "scheme \"" + out.scheme + "\" is not http or https";
  }
  const std::string_view rest = target.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) return "fragment in request target";
  const size_t path_start = rest.find_first_of("/?");
  auto authority = split_authority(rest.substr(0, path_start), default_port);
  if (auto* error = std::get_if<std::string>(&authority)) return *error;
  out.authority = std::get<HostPort>(authority);
  out.path = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (out.path.front() == '?') out.path.insert(0, "/");
  return out;
}

std::variant<OriginFormLine, std::string> origin_form_line(const HttpRequestHead& head) {
  auto target = parse_absolute_target(head.target);
  if (auto* error = std::get_if<std::string>(&target)) return "malformed-request: " + *error;
  const AbsoluteTarget& absolute = std::get<AbsoluteTarget>(target);
  if (absolute.scheme != "http") return std::string("https-needs-connect");
  return OriginFormLine{head.method + " " + absolute.path + " HTTP/1." +
                        std::to_string(head.minor_version)};
}

std::variant<HostPort, std::string> request_destination(const HttpRequestHead& head,
                                                        uint16_t default_port) {
  const std::optional<std::string_view> host_field = head.host();
  HostPort target;
  std::optional<uint16_t> host_default;
  switch (head.form) {
    case TargetForm::kAbsolute: {
      auto parsed = parse_absolute_target(head.target);
      if (auto* error = std::get_if<std::string>(&parsed)) return *error;
      const AbsoluteTarget& absolute = std::get<AbsoluteTarget>(parsed);
      target = absolute.authority;
      host_default = absolute.scheme == "https" ? 443 : 80;  // a Host without port means this
      break;
    }
    case TargetForm::kAuthority: {
      auto parsed = split_authority(head.target, std::nullopt);
      if (auto* error = std::get_if<std::string>(&parsed)) return *error;
      target = std::get<HostPort>(parsed);
      host_default = target.port;  // "CONNECT h:443" with "Host: h" agree
      break;
    }
    case TargetForm::kOrigin:
    case TargetForm::kAsterisk: {
      if (!host_field || host_field->empty()) return "no Host field";
      return split_authority(*host_field, default_port);
    }
  }
  if (!host_field) return target;
  auto host = split_authority(*host_field, host_default);
  if (auto* error = std::get_if<std::string>(&host)) return "Host field: " + *error;
  const HostPort& named = std::get<HostPort>(host);
  if (!same_host(named, target) || named.port != target.port) {
    return "Host field \"" + std::string(*host_field) + "\" does not match the request target";
  }
  return target;
}

}  // namespace acctl::gate
