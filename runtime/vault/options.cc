// Parsing ac-vaultd's command line (see options.h).
#include "vault/options.h"

#include <charconv>

namespace acctl::vault {

namespace {

std::vector<std::string> split_hosts(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool under_agent_writable_dir(const std::string& path) {
  for (std::string_view dir : kAgentWritableDirs) {
    // Either way round: a prefix of "/" would take /tmp in too.
    if (path.compare(0, dir.size(), dir) == 0 || dir.compare(0, path.size(), path) == 0)
      return true;
  }
  return false;
}

}  // namespace

Result<DaemonOptions> parse_options(const std::vector<std::string>& args) {
  DaemonOptions o;
  std::vector<std::string> problems;
  CallerPolicy& policy = o.server.policy;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--allow-push") {
      policy.allow_push = true;
      continue;
    }
    const bool takes_value = a == "--secrets" || a == "--socket" || a == "--github-hosts" ||
                             a == "--gitlab-hosts" || a == "--allow-exe" || a == "--allow-prefix" ||
                             a == "--ready-fd";
    if (!takes_value) {
      problems.push_back("unknown argument " + a);
      continue;
    }
    if (i + 1 >= args.size()) {
      problems.push_back(a + " needs a value");
      break;
    }
    const std::string& v = args[++i];
    if (a == "--secrets") {
      o.secrets_dir = v;
    } else if (a == "--socket") {
      if (v.empty() || v.front() != '/')
        problems.push_back("--socket " + v + ": not an absolute path");
      o.server.socket_path = v;
    } else if (a == "--github-hosts" || a == "--gitlab-hosts") {
      auto hosts = split_hosts(v);
      if (hosts.empty()) problems.push_back(a + " names no host");
      (a == "--github-hosts" ? policy.github_hosts : policy.gitlab_hosts) = std::move(hosts);
    } else if (a == "--allow-exe") {
      if (v.empty() || v.front() != '/' || v.back() == '/')
        problems.push_back("--allow-exe " + v + ": not an absolute file path");
      else if (under_agent_writable_dir(v))
        problems.push_back("--allow-exe " + v + ": the agent can write there");
      else
        policy.extra_exes.push_back(v);
    } else if (a == "--allow-prefix") {
      if (v.empty() || v.front() != '/' || v.back() != '/')
        problems.push_back("--allow-prefix " + v + ": not an absolute directory ending in /");
      else if (under_agent_writable_dir(v))
        problems.push_back("--allow-prefix " + v + ": the agent can write there");
      else
        policy.extra_prefixes.push_back(v);
    } else if (a == "--ready-fd") {
      int fd = -1;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), fd);
      if (ec != std::errc() || end != v.data() + v.size() || fd < 0)
        problems.push_back("--ready-fd " + v + ": not a descriptor number");
      else
        o.ready_fd = fd;
    }
  }
  if (o.secrets_dir.empty()) problems.push_back("--secrets DIR is required");
  for (const auto& h : policy.github_hosts)
    for (const auto& g : policy.gitlab_hosts)
      if (h == g) problems.push_back("host " + h + " is both a github and a gitlab host");
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    return Error{0, message};
  }
  return o;
}

}  // namespace acctl::vault
