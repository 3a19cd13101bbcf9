// init-guard's vault duties: see vault_setup.h.
#include "init-guard/vault_setup.h"

#include "init-guard/guard.h"

namespace acctl::guard {

namespace {

constexpr const char* kTokenVariables[] = {"GH_TOKEN",
                                           "GITHUB_TOKEN",
                                           "GH_ENTERPRISE_TOKEN",
                                           "GITHUB_ENTERPRISE_TOKEN",
                                           "GITLAB_TOKEN",
                                           "GITLAB_ACCESS_TOKEN",
                                           "GL_TOKEN",
                                           "OAUTH_TOKEN"};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// A host name or host:port as acctl validated it; anything else would let a value write
// another section of the config.
bool plain_host(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> without_tokens(const std::vector<std::string>& env,
                                        std::vector<std::string>* dropped) {
  std::vector<std::string> out;
  for (const std::string& e : env) {
    const std::string name = e.substr(0, e.find('='));
    bool token = false;
    for (const char* t : kTokenVariables) token = token || name == t;
    if (!token) {
      out.push_back(e);
    } else if (dropped) {
      dropped->push_back(name);
    }
  }
  return out;
}

std::vector<std::string> with_vault_path(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  const std::string first = std::string(kVaultBin);
  bool had = false;
  for (const std::string& e : env) {
    if (e.compare(0, 5, "PATH=") != 0) {
      out.push_back(e);
    } else if (!had) {
      had = true;
      out.push_back("PATH=" + first + (e.size() > 5 ? ":" + e.substr(5) : ""));
    }
  }
  if (!had) out.push_back("PATH=" + first + ":/usr/local/bin:/usr/bin:/bin");
  return out;
}

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  const std::string prefix = name + "=";
  std::string value;
  for (const std::string& e : env) {
    if (e.compare(0, prefix.size(), prefix) == 0) value = e.substr(prefix.size());
  }
  return value;
}

std::string git_config_text(const std::vector<std::string>& github_hosts,
                            const std::vector<std::string>& gitlab_hosts) {
  std::string out =
      "# Written by init-guard: git asks acctl's vault for these hosts' credentials.\n";
  for (const auto* hosts : {&github_hosts, &gitlab_hosts}) {
    for (const std::string& h : *hosts) {
      if (!plain_host(h)) continue;
      // The empty helper first drops any helper configured before this one.
      out += "[credential \"https://" + h +
             "\"]\n\thelper =\n\thelper = " + std::string(kVaultClient) + " git-credential\n";
    }
  }
  return out;
}

std::vector<std::string> daemon_command(const std::vector<std::string>& env) {
  std::vector<std::string> argv = {kVaultDaemon, "--secrets", kSecretsDir, "--ready-fd", "3"};
  const std::string github = env_value(env, kGithubHostsVariable);
  const std::string gitlab = env_value(env, kGitlabHostsVariable);
  if (!github.empty()) argv.insert(argv.end(), {"--github-hosts", joined(split_list(github))});
  if (!gitlab.empty()) argv.insert(argv.end(), {"--gitlab-hosts", joined(split_list(gitlab))});
  if (env_value(env, kAllowPushVariable) == "1") argv.push_back("--allow-push");
  // The agents' own programs (npm installs them there, root's and read-only).
  argv.insert(argv.end(), {"--allow-prefix", "/usr/local/lib/node_modules/"});
  return argv;
}

Result<pid_t> set_up_vault(GuardSystem& sys, const std::vector<std::string>& env) {
  const std::vector<std::string> github = split_list(env_value(env, kGithubHostsVariable));
  const std::vector<std::string> gitlab = split_list(env_value(env, kGitlabHostsVariable));
  if (auto w = sys.write_new_file(kGitConfig, git_config_text(github, gitlab), 0644); !w)
    return w.error().within("writing the system git config");
  // The daemon's environment is a fixed one: nothing of the container's reaches it.
  const std::vector<std::string> daemon_env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  auto daemon = sys.start_daemon(daemon_command(env), daemon_env, kDaemonReadyMs);
  if (!daemon) return daemon.error().within("starting the vault daemon");
  if (auto c = sys.chown_dir(kAgentHome, kAgentUid, kAgentGid); !c)
    return c.error().within("giving " + std::string(kAgentHome) + " to the agent");
  return *daemon;
}

}  // namespace acctl::guard
