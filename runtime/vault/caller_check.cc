// The caller check's rules (see caller_check.h); every unknown case is a refusal.
#include "vault/caller_check.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/ascii.h"

namespace acctl::vault {

namespace {

// Deeper chains than this are not what an agent's shell produces; refusing bounds the work.
constexpr size_t kMaxChain = 64;

constexpr std::string_view kGit = "/usr/bin/git";
constexpr std::string_view kGitCore = "/usr/lib/git-core/";
constexpr std::array<std::string_view, 4> kBuiltinExes = {"/usr/bin/bash", "/usr/bin/dash",
                                                          "/usr/bin/tmux", "/usr/local/bin/node"};
// The remote helpers between git and the credential helper: they ask, the git above decides.
constexpr std::array<std::string_view, 4> kRemoteHelpers = {
    "/usr/lib/git-core/git-remote-http", "/usr/lib/git-core/git-remote-https",
    "/usr/lib/git-core/git-remote-ftp", "/usr/lib/git-core/git-remote-ftps"};

constexpr std::array<std::string_view, 9> kGitTraceVariables = {
    "GIT_TRACE",        "GIT_TRACE_CURL",        "GIT_CURL_VERBOSE",
    "GIT_TRACE_PACKET", "GIT_TRACE_PACK_ACCESS", "GIT_TRACE_SETUP",
    "GIT_TRACE2",       "GIT_TRACE2_EVENT",      "GIT_TRACE2_PERF"};
constexpr std::array<std::string_view, 4> kToolDebugVariables = {"GH_DEBUG", "GH_TRACE", "DEBUG",
                                                                 "GLAB_DEBUG"};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool is_git(std::string_view exe) {
  return exe == kGit || exe == "/usr/lib/git-core/git";
}
bool is_git_family(std::string_view exe) {
  return exe == kGit || starts_with(exe, kGitCore);
}
bool is_remote_helper(std::string_view exe) {
  return std::find(kRemoteHelpers.begin(), kRemoteHelpers.end(), exe) != kRemoteHelpers.end();
}

std::string describe(const ProcessInfo& p) {
  return "process " + std::to_string(p.pid) + " (" + p.exe + ")";
}

Decision refuse(Decision d, std::string reason) {
  d.allowed = false;
  d.reason = std::move(reason);
  return d;
}

// The variable that turns git tracing on in `p`'s environment, if one does.
std::optional<std::string> git_tracing(const ProcessInfo& p) {
  for (std::string_view name : kGitTraceVariables) {
    const auto v = p.getenv(name);
    if (!v || v->empty()) continue;
    const std::string value = ascii_lower(*v);
    if (value != "0" && value != "false") return std::string(name);
  }
  // Git reads this as a boolean; anything but a plain "true" might be read as false.
  if (const auto v = p.getenv("GIT_TRACE_REDACT")) {
    const std::string value = ascii_lower(*v);
    if (value != "1" && value != "true" && value != "yes" && value != "on")
      return std::string("GIT_TRACE_REDACT=") + *v;
  }
  return std::nullopt;
}

std::optional<Provider> provider_of_host(const CallerPolicy& policy, std::string_view host) {
  if (contains(policy.github_hosts, host)) return Provider::kGithub;
  if (contains(policy.gitlab_hosts, host)) return Provider::kGitlab;
  return std::nullopt;
}

bool holds_token(const CallerPolicy& policy, Provider provider) {
  return provider == Provider::kGithub ? policy.github_token : policy.gitlab_token;
}

std::string no_token(Provider provider) {
  return "the vault holds no " + std::string(provider_name(provider)) + " token";
}

// The request's own fields: which provider's token it is for, or why it is refused.
Decision check_request(const Message& request, const CallerPolicy& policy) {
  Decision d;
  d.op = request.get(key::kOp).value_or("");
  d.host = request.get(key::kHost).value_or("");
  if (d.op == op::kGitCredential) {
    const std::string protocol = request.get(key::kProtocol).value_or("");
    if (protocol != "https")
      return refuse(d, "only https credentials are handed out, not \"" + protocol + "\"");
    d.provider = provider_of_host(policy, d.host);
    if (!d.provider)
      return refuse(d, "host \"" + d.host + "\" is not a configured github or gitlab host");
  } else if (d.op == op::kToken) {
    const std::string provider = request.get(key::kProvider).value_or("");
    const std::string tool = request.get(key::kTool).value_or("");
    if (provider == "github") {
      d.provider = Provider::kGithub;
    } else if (provider == "gitlab") {
      d.provider = Provider::kGitlab;
    } else {
      return refuse(d, "provider \"" + provider + "\" is neither github nor gitlab");
    }
    const std::string_view expected_tool = *d.provider == Provider::kGithub ? "gh" : "glab";
    if (tool != expected_tool)
      return refuse(d, "a " + provider + " token is only for " + std::string(expected_tool) +
                           ", not for \"" + tool + "\"");
    if (provider_of_host(policy, d.host) != d.provider)
      return refuse(d, "host \"" + d.host + "\" is not a configured " + provider + " host");
    d.what = tool;
    if (const auto args = request.get(key::kArgs)) {
      std::string words = *args;
      std::replace(words.begin(), words.end(), kArgsSeparator, ' ');
      if (!words.empty()) d.what += " " + words;
    }
  } else if (d.op.empty()) {
    return refuse(d, "the request names no operation");
  } else {
    return refuse(d, "operation \"" + d.op + "\" is unknown");
  }
  if (!holds_token(policy, *d.provider)) return refuse(d, no_token(*d.provider));
  d.allowed = true;
  return d;
}

}  // namespace

std::string_view provider_name(Provider provider) {
  return provider == Provider::kGithub ? "github" : "gitlab";
}

std::string_view git_username(Provider provider) {
  return provider == Provider::kGithub ? "x-access-token" : "oauth2";
}

const std::vector<std::string_view> kAgentWritableDirs = {"/tmp/",       "/var/tmp/", "/home/",
                                                          "/workspace/", "/dev/shm/", "/run/"};

bool allowed_ancestor(const CallerPolicy& policy, std::string_view exe) {
  if (exe.empty() || exe.front() != '/') return false;
  // A replaced binary, or a path that is not what it seems.
  if (exe.find(" (deleted)") != std::string_view::npos) return false;
  if (exe.find("/../") != std::string_view::npos || exe.find("/./") != std::string_view::npos ||
      exe.find("//") != std::string_view::npos)
    return false;
  for (std::string_view dir : kAgentWritableDirs)
    if (starts_with(exe, dir)) return false;
  if (exe == kGit || starts_with(exe, kGitCore) || exe == policy.init || exe == policy.wrapper)
    return true;
  if (std::find(kBuiltinExes.begin(), kBuiltinExes.end(), exe) != kBuiltinExes.end()) return true;
  if (contains(policy.extra_exes, exe)) return true;
  for (const std::string& prefix : policy.extra_prefixes)
    if (!prefix.empty() && prefix.back() == '/' && starts_with(exe, prefix)) return true;
  return false;
}

GitVerdict judge_git_argv(const std::vector<std::string>& argv, bool allow_push) {
  static const std::array<std::string_view, 3> kWithValue = {"-c", "-C", "--git-dir"};
  static const std::array<std::string_view, 2> kWithValueToo = {"--work-tree", "--namespace"};
  static const std::array<std::string_view, 6> kWithEquals = {
      "--git-dir=",   "--work-tree=",  "--namespace=",
      "--exec-path=", "--config-env=", "--super-prefix="};
  static const std::array<std::string_view, 12> kFlags = {"--exec-path",
                                                          "-p",
                                                          "-P",
                                                          "--paginate",
                                                          "--no-pager",
                                                          "--bare",
                                                          "--no-replace-objects",
                                                          "--literal-pathspecs",
                                                          "--glob-pathspecs",
                                                          "--noglob-pathspecs",
                                                          "--icase-pathspecs",
                                                          "--no-optional-locks"};
  const auto in = [](const auto& list, std::string_view s) {
    return std::find(list.begin(), list.end(), s) != list.end();
  };

  GitVerdict v;
  size_t i = 1;
  while (i < argv.size() && starts_with(argv[i], "-")) {
    const std::string& a = argv[i];
    if (in(kWithValue, a) || in(kWithValueToo, a)) {
      if (i + 1 >= argv.size()) {
        v.reason = "git option " + a + " has no value";
        return v;
      }
      i += 2;
    } else if (in(kFlags, a) ||
               std::any_of(kWithEquals.begin(), kWithEquals.end(),
                           [&](std::string_view p) { return starts_with(a, p); })) {
      ++i;
    } else {
      v.reason = "git option " + a + " is not understood, so git's command is not known";
      return v;
    }
  }
  if (i >= argv.size()) {
    v.reason = "git runs no subcommand";
    return v;
  }
  const std::string& sub = argv[i];
  v.subcommand = sub;
  if (sub == "clone" || sub == "fetch" || sub == "pull" || sub == "ls-remote") {
    v.allowed = true;
    return v;
  }
  if (sub == "push") {
    v.allowed = allow_push;
    if (!allow_push) v.reason = "git push is not allowed in this sandbox (git.allowPush is false)";
    return v;
  }
  // The first word after the subcommand's own quiet/verbose flags.
  const auto action = [&](std::initializer_list<std::string_view> flags) -> std::string {
    size_t j = i + 1;
    while (j < argv.size() && std::find(flags.begin(), flags.end(), argv[j]) != flags.end()) ++j;
    return j < argv.size() ? argv[j] : "";
  };
  if (sub == "remote") {
    const std::string what = action({"-v", "--verbose"});
    v.subcommand += " " + what;
    v.allowed = what == "update" || what == "show" || what == "prune";
    if (!v.allowed) v.reason = "git remote " + what + " does not need a credential";
    return v;
  }
  if (sub == "submodule") {
    const std::string what = action({"-q", "--quiet"});
    v.subcommand += " " + what;
    v.allowed = what == "update";
    if (!v.allowed) v.reason = "git submodule " + what + " does not need a credential";
    return v;
  }
  v.reason = "git " + sub + " does not fetch from or push to a remote, so it gets no credential";
  return v;
}

Decision check_caller(const Message& request, const Peer& peer, const CallerPolicy& policy,
                      ProcReader& proc) {
  if (request.get(key::kOp) == op::kPing) {
    Decision d;
    d.op = op::kPing;
    d.allowed = true;
    return d;
  }
  Decision d = check_request(request, policy);
  if (!d.allowed) return d;
  d.allowed = false;

  const std::string agent = std::to_string(policy.agent_uid);
  if (peer.uid != policy.agent_uid)
    return refuse(d, "the caller runs as uid " + std::to_string(peer.uid) + ", not as the agent (" +
                         agent + ")");
  auto self = proc.read(peer.pid);
  if (!self)
    return refuse(d, "the calling process " + std::to_string(peer.pid) +
                         " cannot be read: " + self.error().message);
  if (self->real_uid != policy.agent_uid || self->effective_uid != policy.agent_uid)
    return refuse(d, "the calling process does not run as the agent (uid " + agent + ") alone");
  if (self->exe != policy.wrapper)
    return refuse(d, "the caller is " + self->exe + ", not the vault client " + policy.wrapper);
  if (self->starttime > peer.accepted_at)
    return refuse(d, "process " + std::to_string(peer.pid) +
                         " started after the connection was accepted: its pid was reused");

  // The chain, nearest first: the peer, its ancestors, and pid 1 when it was reached.
  std::vector<ProcessInfo> chain{*self};
  pid_t next = self->ppid;
  while (next != 0) {
    if (chain.size() > kMaxChain)
      return refuse(d, "the caller has more than " + std::to_string(kMaxChain) + " ancestors");
    auto p = proc.read(next);
    if (!p)
      return refuse(
          d, "ancestor process " + std::to_string(next) + " cannot be read: " + p.error().message);
    if (next == 1 && p->exe != policy.init)
      return refuse(d, "pid 1 is " + p->exe + ", not " + policy.init);
    if (next != 1 && !allowed_ancestor(policy, p->exe))
      return refuse(d, describe(*p) + " is not an allowed parent of the vault client");
    if (p->starttime > chain.back().starttime)
      return refuse(
          d, "process " + std::to_string(next) + " started after its child: its pid was reused");
    chain.push_back(std::move(*p));
    if (next == 1) break;
    next = chain.back().ppid;
  }
  // Read again, now that the whole chain is known: an exit and a reused pid anywhere in it shows
  // as a different start time or parent.
  for (const ProcessInfo& p : chain) {
    auto again = proc.read(p.pid);
    if (!again || again->starttime != p.starttime || again->ppid != p.ppid || again->exe != p.exe)
      return refuse(d, "process " + std::to_string(p.pid) + " changed while it was checked");
  }

  if (d.op == op::kToken) {
    for (std::string_view name : kToolDebugVariables) {
      const auto v = self->getenv(name);
      if (v && !v->empty())
        return refuse(d,
                      "debug output is on (" + std::string(name) + "): the token would be printed");
    }
    d.allowed = true;
    return d;
  }

  // git-credential: no tracing anywhere along git's part of the chain, and a git that needs it.
  for (const ProcessInfo& p : chain) {
    if (&p != &chain.front() && !is_git_family(p.exe)) continue;
    if (const auto variable = git_tracing(p))
      return refuse(d, "git tracing is on (" + *variable + "): the token would be printed");
  }
  // The nearest git command above the remote helpers decides. A dashed git-core program there
  // (git-credential run directly, say) is not a git command this check understands.
  const ProcessInfo* git = nullptr;
  for (size_t i = 1; i < chain.size() && !git; ++i) {
    const ProcessInfo& p = chain[i];
    if (!is_git_family(p.exe) || is_remote_helper(p.exe)) continue;
    if (!is_git(p.exe))
      return refuse(d, describe(p) + " is not a git command that may have a credential");
    // `git remote-https …` is how git starts a remote helper (it waits for the dashed program
    // as its child): part of the helper, not the command; the git above it decides.
    if (is_remote_helper(chain[i - 1].exe) &&
        judge_git_argv(p.argv, false).subcommand.starts_with("remote-"))
      continue;
    git = &p;
  }
  if (!git) return refuse(d, "no git command asked for the credential");
  const GitVerdict verdict = judge_git_argv(git->argv, policy.allow_push);
  d.what = "git " + verdict.subcommand;
  if (!verdict.allowed) return refuse(d, verdict.reason);
  d.allowed = true;
  return d;
}

}  // namespace acctl::vault
