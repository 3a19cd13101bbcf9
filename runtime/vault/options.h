// ac-vaultd's command line.
//
//   ac-vaultd --secrets DIR [--socket PATH] [--allow-push] [--github-hosts a,b]
//             [--gitlab-hosts c] [--allow-exe PATH]... [--allow-prefix DIR/]... [--ready-fd N]
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "vault/vault_server.h"

namespace acctl::vault {

struct DaemonOptions {
  std::string secrets_dir;
  ServerConfig server;
  std::optional<int> ready_fd;  // gets "ready\n" and is closed once the socket listens
};

inline constexpr const char* kUsage =
    "usage: ac-vaultd --secrets DIR [--socket PATH] [--allow-push] [--github-hosts a,b] "
    "[--gitlab-hosts c] [--allow-exe PATH]... [--allow-prefix DIR/]... [--ready-fd N]";

// Errors: what is wrong with the arguments, every problem, joined by "; ".
Result<DaemonOptions> parse_options(const std::vector<std::string>& args);

}  // namespace acctl::vault
