// Whether a connected caller may have a token: the vault's whole security decision.
//
// The socket is open to every process in the sandbox; this is the boundary. A request is
// granted only when all of these hold, and refused (with one sentence saying why) otherwise:
//  - the peer (the SCM_CREDENTIALS its request came with, which the kernel does not let a
//    process forge; this gVisor's SO_PEERCRED names the listener, not the peer) is the agent's
//    uid, real and effective, and its exe is exactly the wrapper (ac-vault); op=ping alone is
//    answered to anyone;
//  - it started no later than its request arrived (a process that took the pid of a caller
//    that exited started after it), and every ancestor started no later than its child;
//  - every ancestor up to pid 1 (or one whose parent is 0, a `docker exec`) runs a binary on the
//    allowlist, none under a directory the agent can write; pid 1 is init-guard; the whole chain,
//    read twice, has the same start times and parents both times;
//  - git-credential: https to a configured host of a provider with a token, asked for by a git
//    that talks to a remote (clone, fetch, pull, ls-remote, remote update|show|prune,
//    submodule update; push only when allowed), with no tracing that would print the token in
//    the caller's or any git process's environment. The git that decides is the nearest git
//    process above the remote helpers (git-remote-https); a dashed git-core program there
//    (git-credential run directly) is refused;
//  - token: a provider with a token, its tool (gh or glab), and no debug output switched on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vault/proc_reader.h"
#include "vault/protocol.h"

namespace acctl::vault {

enum class Provider { kGithub, kGitlab };
std::string_view provider_name(Provider provider);
// The git username that goes with the provider's tokens.
std::string_view git_username(Provider provider);

struct CallerPolicy {
  uid_t agent_uid = 1000;
  std::string wrapper = kDefaultWrapper;
  std::string init = "/opt/acctl/bin/init-guard";
  bool allow_push = false;
  std::vector<std::string> github_hosts = {"github.com", "api.github.com"};
  std::vector<std::string> gitlab_hosts = {"gitlab.com"};
  bool github_token = false;  // whether the vault holds one
  bool gitlab_token = false;
  // Ancestors allowed besides the built-in list: exact paths, and prefixes ending in '/'.
  std::vector<std::string> extra_exes;
  std::vector<std::string> extra_prefixes;
};

// Directories the agent can write to: no ancestor may run from below them, whatever the config.
extern const std::vector<std::string_view> kAgentWritableDirs;
// Whether `exe` may be an ancestor of the wrapper under `policy`.
bool allowed_ancestor(const CallerPolicy& policy, std::string_view exe);

// The connection, as the server saw it at accept.
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  uint64_t accepted_at = 0;  // boot ticks when its request's credentials arrived
};

struct Decision {
  bool allowed = false;
  std::string reason;                // why not, one sentence (empty when allowed)
  std::optional<Provider> provider;  // whose token to hand out (git-credential, token)
  // For the log: the op and host, and what asked ("git fetch", "gh pr list").
  std::string op;
  std::string host;
  std::string what;
};

// The subcommand of a git command line when it talks to a remote and may have a credential,
// e.g. "fetch" or "remote update"; otherwise the reason it may not.
struct GitVerdict {
  bool allowed = false;
  std::string subcommand;  // as far as it was understood (for the log)
  std::string reason;
};
GitVerdict judge_git_argv(const std::vector<std::string>& argv, bool allow_push);

Decision check_caller(const Message& request, const Peer& peer, const CallerPolicy& policy,
                      ProcReader& proc);

}  // namespace acctl::vault
