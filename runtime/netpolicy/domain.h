// Domain names and allowlist patterns: the exact syntax acctl accepts and the gate matches.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace acctl::netpolicy {

// Checks an allowlist entry: a lower-case LDH/punycode name ("github.com") or one leading
// wildcard label ("*.github.com", which matches names strictly below github.com).
// Returns why it is rejected, or nullopt when it is valid.
std::optional<std::string> check_domain_pattern(std::string_view pattern);

// Checks an exact host name (no wildcard), same rules as a pattern's name part.
std::optional<std::string> check_hostname(std::string_view name);

// Whether `name` (already normalised, see normalize_name) matches `pattern` (already checked).
// "*.example.com" matches "a.example.com" and "a.b.example.com" but not "example.com".
bool domain_matches(std::string_view pattern, std::string_view name);

// Normalises a name seen on the wire (DNS question, Host header, SNI, CONNECT target):
// ASCII lower-case, one trailing dot dropped. Returns nullopt when the result is not a valid
// host name, so callers treat it as not allowed.
std::optional<std::string> normalize_name(std::string_view name);

}  // namespace acctl::netpolicy
