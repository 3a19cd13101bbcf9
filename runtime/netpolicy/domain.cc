// Domain-name syntax checks and wildcard matching (RFC 1035 LDH labels, RFC 3492 punycode form).
#include "netpolicy/domain.h"

#include "common/ascii.h"
namespace acctl::netpolicy {
namespace {

constexpr size_t kMaxNameLength = 253;
constexpr size_t kMaxLabelLength = 63;

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

std::optional<std::string> check_name(std::string_view name, bool wildcard) {
  if (name.empty()) return "empty name";
  if (name.size() > kMaxNameLength) return "longer than 253 characters";
  if (name.back() == '.') return "trailing dot: write the name without it";
  for (unsigned char c : name) {
    if (c >= 0x80) return "non-ASCII character: write the name in its punycode (xn--) form";
    if (c >= 'A' && c <= 'Z') return "upper-case letter: names are lower-case";
    if (c == '*') return "'*' is only allowed as a whole first label (\"*.example.com\")";
    if (!is_ldh(static_cast<char>(c)) && c != '.') {
      return std::string("character '") + static_cast<char>(c) + "' is not allowed in a host name";
    }
  }
  size_t labels = 0;
  bool last_label_numeric = false;
  std::string_view last_label;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "empty label (\"..\" or a leading dot)";
    if (label.size() > kMaxLabelLength) return "label longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "label starts or ends with '-'";
    last_label_numeric = true;
    for (char c : label) last_label_numeric = last_label_numeric && c >= '0' && c <= '9';
    last_label = label;
    ++labels;
    start = dot + 1;
  }
  // Top-level domains are never all digits nor 0x-hex; such a name is an IPv4 literal in some
  // notation inet_aton accepts ("2130706433", "127.1", "0x7f000001", "0x7f.0x1").
  bool last_label_hex =
      last_label.size() > 2 && last_label.starts_with("0x") &&
      last_label.substr(2).find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (last_label_numeric || last_label_hex)
    return "looks like an IP address: the allowlist takes names only";
  if (wildcard && labels < 2)
    return "a wildcard must cover at least two labels (\"*.example.com\")";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_domain_pattern(std::string_view pattern) {
  if (pattern == "*") return "a bare \"*\" would allow everything; list the names instead";
  if (pattern.starts_with("*.")) return check_name(pattern.substr(2), /*wildcard=*/true);
  return check_name(pattern, /*wildcard=*/false);
}

std::optional<std::string> check_hostname(std::string_view name) {
  return check_name(name, /*wildcard=*/false);
}

bool domain_matches(std::string_view pattern, std::string_view name) {
  if (!pattern.starts_with("*.")) return pattern == name;
  std::string_view suffix = pattern.substr(1);  // ".example.com"
  return name.size() > suffix.size() && name.ends_with(suffix);
}

std::optional<std::string> normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out = ascii_lower(name);
  if (check_name(out, /*wildcard=*/false)) return std::nullopt;
  return out;
}

}  // namespace acctl::netpolicy
