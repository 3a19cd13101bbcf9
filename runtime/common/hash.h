// A short content hash for change detection (spec hashes, build contexts): not for security.
#pragma once

#include <string>
#include <string_view>

namespace acctl {

// 64-bit FNV-1a as 16 hex digits.
std::string short_hash(std::string_view bytes);

}  // namespace acctl
