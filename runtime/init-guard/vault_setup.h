// init-guard's root duties in a sandbox with credentials (acctl mounts the instance's secrets at
// kSecretsDir, root-only): the system git config that makes the vault git's credential helper
// for the configured hosts, the vault daemon started (it reads the tokens into its memory; the
// mount stays unreachable to the agent by its mode), the home handed to the agent without
// following a symlink. Token variables are dropped from the environment before anything forks,
// so neither the daemon nor the agent inherits one.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace acctl::guard {

class GuardSystem;

inline constexpr const char* kSecretsDir = "/run/acctl/secrets";
inline constexpr const char* kGitConfig = "/run/acctl/gitconfig";
inline constexpr const char* kVaultDaemon = "/opt/acctl/bin/ac-vaultd";
inline constexpr const char* kVaultClient = "/opt/acctl/bin/ac-vault";
inline constexpr const char* kAgentHome = "/home/agent";
// Set by acctl in the container's environment (not secret): which hosts get which token, and
// whether git push may have it.
inline constexpr const char* kGithubHostsVariable = "ACCTL_VAULT_GITHUB_HOSTS";
inline constexpr const char* kGitlabHostsVariable = "ACCTL_VAULT_GITLAB_HOSTS";
inline constexpr const char* kAllowPushVariable = "ACCTL_VAULT_ALLOW_PUSH";
// How long the daemon may take to say it listens.
inline constexpr int kDaemonReadyMs = 10000;

// `env` without the variables git, gh and glab would take a token from; their names go to
// `dropped`.
std::vector<std::string> without_tokens(const std::vector<std::string>& env,
                                        std::vector<std::string>* dropped);

// `env` with kVaultBin first in PATH (gh and glab there are the vault's client).
inline constexpr const char* kVaultBin = "/opt/acctl/vault-bin";
std::vector<std::string> with_vault_path(const std::vector<std::string>& env);

// The value of NAME in `env` ("" when unset).
std::string env_value(const std::vector<std::string>& env, const std::string& name);

// The system git config: the vault as the only credential helper of each host.
std::string git_config_text(const std::vector<std::string>& github_hosts,
                            const std::vector<std::string>& gitlab_hosts);

// The daemon's command line for this environment.
std::vector<std::string> daemon_command(const std::vector<std::string>& env);

// Writes the git config, starts the daemon and waits until it listens, gives the home to the
// agent. -> the daemon's pid. Errors say which duty failed; init-guard then runs nothing.
Result<pid_t> set_up_vault(GuardSystem& sys, const std::vector<std::string>& env);

}  // namespace acctl::guard
