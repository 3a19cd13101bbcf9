// ASCII case folding for protocol text (host names, header names, schemes, units): only A-Z
// change, whatever the C locale says, so a name means the same to every part of acctl.
// Header-only: the LD_PRELOAD hooks use it without linking acctl_common.
#pragma once

#include <string>
#include <string_view>

namespace acctl {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace acctl
