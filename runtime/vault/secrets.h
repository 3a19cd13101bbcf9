// The tokens the vault holds: read once at start from root-only files, then kept in memory only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace acctl::vault {

// Bytes in a private mapping: locked in memory when the kernel allows it (best effort), left out
// of core dumps, and wiped before they are unmapped.
class SecretBuffer {
 public:
  explicit SecretBuffer(std::string_view bytes);
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer();

  std::string_view view() const { return {data_, size_}; }

 private:
  void release();

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
};

// Wipes a string that held a secret (a reply being sent), then empties it.
void wipe(std::string& s);

inline constexpr size_t kMaxTokenSize = 4096;

struct Tokens {
  std::optional<SecretBuffer> github;
  std::optional<SecretBuffer> gitlab;
};

// Reads DIR/github and DIR/gitlab; a missing file means no token for that provider. Each must be
// a regular file (not a symlink) owned by `owner` and unreadable to group and others, holding one
// line: a trailing newline is stripped, and an empty token, a second line or any other control
// character is refused. Every problem with either file is reported, joined by "; ".
Result<Tokens> load_tokens(const std::string& dir, uid_t owner = 0);

}  // namespace acctl::vault
