// The caller check against a fake /proc: every rule, and the reason each refusal gives.
#include "vault/caller_check.h"

#include <gtest/gtest.h>

#include <map>

namespace acctl::vault {
namespace {

// A process table; a pid can be given later versions, returned on its later reads.
class FakeProcReader : public ProcReader {
 public:
  Result<ProcessInfo> read(pid_t pid) override {
    ++reads[pid];
    auto it = table.find(pid);
    if (it == table.end()) return Error{0, "no such process"};
    auto& versions = it->second;
    const size_t n = static_cast<size_t>(reads[pid]) - 1;
    return versions[std::min(n, versions.size() - 1)];
  }
  uint64_t boot_ticks_now() override { return now; }

  void add(ProcessInfo p) { table[p.pid] = {std::move(p)}; }
  ProcessInfo& at(pid_t pid) { return table.at(pid).front(); }

  std::map<pid_t, std::vector<ProcessInfo>> table;
  std::map<pid_t, int> reads;
  uint64_t now = 1000;
};

ProcessInfo process(pid_t pid, pid_t ppid, uint64_t start, std::string exe,
                    std::vector<std::string> argv, uid_t uid = 1000) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.starttime = start;
  p.exe = std::move(exe);
  p.argv = std::move(argv);
  p.real_uid = p.effective_uid = uid;
  return p;
}

Message git_credential(std::string host = "github.com") {
  Message m;
  m.set(key::kOp, op::kGitCredential);
  m.set(key::kProtocol, "https");
  m.set(key::kHost, host);
  return m;
}

Message token_request(std::string provider = "github", std::string tool = "gh",
                      std::string host = "github.com") {
  Message m;
  m.set(key::kOp, op::kToken);
  m.set(key::kProvider, provider);
  m.set(key::kHost, host);
  m.set(key::kTool, tool);
  m.set(key::kArgs, args_field({"pr", "list"}));
  return m;
}

class CallerCheckTest : public ::testing::Test {
 protected:
  // init-guard -> node (the agent) -> bash -> git fetch -> git-remote-https -> ac-vault
  void SetUp() override {
    proc.add(process(1, 0, 1, "/opt/acctl/bin/init-guard", {"init-guard"}, 1000));
    proc.add(process(10, 1, 100, "/usr/local/bin/node", {"node", "claude"}));
    proc.add(process(20, 10, 200, "/usr/bin/bash", {"bash", "-c", "git fetch origin"}));
    proc.add(process(30, 20, 300, "/usr/bin/git", {"git", "fetch", "origin"}));
    proc.add(process(40, 30, 301, "/usr/lib/git-core/git-remote-https",
                     {"git-remote-https", "origin", "https://github.com/o/r"}));
    proc.add(process(50, 40, 302, kDefaultWrapper, {"ac-vault", "get"}));
    policy.github_token = true;
    policy.gitlab_token = true;
  }

  Decision check(const Message& request) { return check_caller(request, peer, policy, proc); }
  // The caller runs `argv` through bash, without git: bash (20) -> ac-vault (50).
  void without_git() { proc.at(50).ppid = 20; }

  FakeProcReader proc;
  CallerPolicy policy;
  Peer peer{50, 1000, 1000};
};

TEST_F(CallerCheckTest, AllowsGitFetchThroughTheRemoteHelper) {
  const Decision d = check(git_credential());
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.provider, Provider::kGithub);
  EXPECT_EQ(d.what, "git fetch");
  EXPECT_EQ(d.host, "github.com");
}

// As git really runs a helper (measured in a sandbox): git clone -> `git remote-https` (the git
// binary, waiting for the dashed program) -> git-remote-https -> sh -> ac-vault. The dispatcher
// is not the deciding command; typed by hand with nothing above it, it is refused.
TEST_F(CallerCheckTest, TheGitRemoteHelperDispatcherIsSkipped) {
  proc.add(process(35, 30, 300, "/usr/bin/git",
                   {"git", "remote-https", "origin", "https://github.com/o/r"}));
  proc.at(40).ppid = 35;
  proc.add(process(45, 40, 301, "/usr/bin/dash", {"/bin/sh", "-c", "ac-vault git-credential get"}));
  proc.at(50).ppid = 45;
  proc.at(30).argv = {"git", "clone", "https://github.com/o/r"};
  Decision d = check(git_credential());
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.what, "git clone");
  proc.at(35).ppid = 20;  // bash -> git remote-https, typed by hand
  d = check(git_credential());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "no git command asked for the credential");
}

TEST_F(CallerCheckTest, ReadsEveryProcessOfTheChainTwice) {
  ASSERT_TRUE(check(git_credential()).allowed);
  for (pid_t pid : {1, 10, 20, 30, 40, 50}) EXPECT_EQ(proc.reads[pid], 2) << pid;
}

TEST_F(CallerCheckTest, GitlabHostGetsTheGitlabToken) {
  const Decision d = check(git_credential("gitlab.com"));
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.provider, Provider::kGitlab);
}

TEST_F(CallerCheckTest, ConfiguredHostsReplaceTheDefaults) {
  policy.github_hosts = {"github.example.com"};
  EXPECT_TRUE(check(git_credential("github.example.com")).allowed);
  EXPECT_EQ(check(git_credential("github.com")).reason,
            "host \"github.com\" is not a configured github or gitlab host");
}

TEST_F(CallerCheckTest, PingIsAnsweredToAnyoneWithoutLookingAtProc) {
  Message ping;
  ping.set(key::kOp, op::kPing);
  peer.uid = 0;
  peer.pid = 4242;
  EXPECT_TRUE(check(ping).allowed);
  EXPECT_TRUE(proc.reads.empty());
}

TEST_F(CallerCheckTest, RefusesRootForACredential) {
  peer.uid = 0;
  EXPECT_EQ(check(git_credential()).reason, "the caller runs as uid 0, not as the agent (1000)");
}

TEST_F(CallerCheckTest, RefusesACallerWhoseProcSaysAnotherUid) {
  proc.at(50).effective_uid = 0;
  EXPECT_EQ(check(git_credential()).reason,
            "the calling process does not run as the agent (uid 1000) alone");
}

TEST_F(CallerCheckTest, RefusesACallerThatIsNotTheWrapper) {
  proc.at(50).exe = "/usr/bin/python3.11";
  EXPECT_EQ(check(git_credential()).reason,
            "the caller is /usr/bin/python3.11, not the vault client /opt/acctl/bin/ac-vault");
}

TEST_F(CallerCheckTest, RefusesAnUnreadableCaller) {
  proc.table.erase(50);
  EXPECT_EQ(check(git_credential()).reason,
            "the calling process 50 cannot be read: no such process");
}

TEST_F(CallerCheckTest, RefusesAPeerPidTakenAfterTheAccept) {
  proc.at(50).starttime = peer.accepted_at + 1;
  EXPECT_EQ(check(git_credential()).reason,
            "process 50 started after the connection was accepted: its pid was reused");
}

TEST_F(CallerCheckTest, APeerStartedInTheAcceptTickIsFine) {
  proc.at(50).starttime = peer.accepted_at;
  proc.at(40).starttime = peer.accepted_at;
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesAnAncestorThatStartedAfterItsChild) {
  proc.at(30).starttime = 900;  // pid 30 now belongs to a newer process
  EXPECT_EQ(check(git_credential()).reason,
            "process 30 started after its child: its pid was reused");
}

TEST_F(CallerCheckTest, RefusesAnAncestorThatChangesBetweenReads) {
  ProcessInfo later = proc.at(20);
  later.starttime = 250;
  proc.table[20].push_back(later);
  EXPECT_EQ(check(git_credential()).reason, "process 20 changed while it was checked");
}

TEST_F(CallerCheckTest, RefusesAnAncestorWhoseParentChangesBetweenReads) {
  ProcessInfo later = proc.at(40);
  later.ppid = 1;  // git exited and the helper was reparented
  proc.table[40].push_back(later);
  EXPECT_EQ(check(git_credential()).reason, "process 40 changed while it was checked");
}

TEST_F(CallerCheckTest, RefusesAnAncestorThatVanishesBeforeTheSecondRead) {
  proc.table[30].push_back(proc.at(30));
  proc.table[30][1].starttime = 0;
  proc.table[30][1].exe = "/usr/bin/dash";
  EXPECT_EQ(check(git_credential()).reason, "process 30 changed while it was checked");
}

TEST_F(CallerCheckTest, RefusesAPython3Parent) {
  proc.at(20).exe = "/usr/bin/python3.11";
  EXPECT_EQ(check(git_credential()).reason,
            "process 20 (/usr/bin/python3.11) is not an allowed parent of the vault client");
}

TEST_F(CallerCheckTest, RefusesAPerlParent) {
  proc.at(40).exe = "/usr/bin/perl";
  EXPECT_FALSE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesAStaticBinaryInTmpEvenUnderAnAllowedPrefix) {
  proc.at(40).exe = "/tmp/helper";
  policy.extra_prefixes = {"/"};
  EXPECT_EQ(check(git_credential()).reason,
            "process 40 (/tmp/helper) is not an allowed parent of the vault client");
}

TEST_F(CallerCheckTest, RefusesADeletedBinary) {
  proc.at(40).exe = "/usr/lib/git-core/git-remote-https (deleted)";
  EXPECT_FALSE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesAnUnreadableAncestor) {
  proc.table.erase(20);
  EXPECT_EQ(check(git_credential()).reason, "ancestor process 20 cannot be read: no such process");
}

TEST_F(CallerCheckTest, AllowsTheAgentsOwnBinariesByConfiguredPrefix) {
  proc.at(10).exe = "/usr/local/lib/node_modules/@openai/codex/bin/codex";
  EXPECT_FALSE(check(git_credential()).allowed);
  policy.extra_prefixes = {"/usr/local/lib/node_modules/"};
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, AllowsConfiguredExactPaths) {
  proc.at(10).exe = "/usr/bin/zsh";
  EXPECT_FALSE(check(git_credential()).allowed);
  policy.extra_exes = {"/usr/bin/zsh"};
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesWhenPid1IsNotInitGuard) {
  proc.at(1).exe = "/usr/bin/bash";
  EXPECT_EQ(check(git_credential()).reason,
            "pid 1 is /usr/bin/bash, not /opt/acctl/bin/init-guard");
}

TEST_F(CallerCheckTest, AllowsADockerExecChainThatEndsInParent0) {
  proc.at(10).ppid = 0;
  proc.table.erase(1);
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesAChainThatNeverEnds) {
  proc.at(20).ppid = 20;
  EXPECT_EQ(check(git_credential()).reason, "the caller has more than 64 ancestors");
}

TEST_F(CallerCheckTest, AllowsGitWithGlobalOptions) {
  proc.at(30).argv = {"git", "-c", "x=y", "-C", "/workspace/r", "--no-pager", "fetch"};
  const Decision d = check(git_credential());
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.what, "git fetch");
}

TEST_F(CallerCheckTest, RefusesGitCredentialFill) {
  proc.at(30).argv = {"git", "credential", "fill"};
  proc.at(40).exe = "/usr/bin/bash";
  const Decision d = check(git_credential());
  EXPECT_EQ(d.reason,
            "git credential does not fetch from or push to a remote, so it gets no credential");
  EXPECT_EQ(d.what, "git credential");
}

TEST_F(CallerCheckTest, RefusesADashedGitProgramBelowAnAllowedGit) {
  // git fetch -> remote helper -> git-credential fill -> ac-vault: the nearest git decides.
  proc.add(process(45, 40, 302, "/usr/lib/git-core/git-credential", {"git-credential", "fill"}));
  proc.at(50).ppid = 45;
  EXPECT_EQ(check(git_credential()).reason,
            "process 45 (/usr/lib/git-core/git-credential) is not a git command that may have a "
            "credential");
}

TEST_F(CallerCheckTest, TheNearestGitDecides) {
  // git credential fill run by a git fetch's child shell.
  proc.add(process(35, 30, 300, "/usr/bin/git", {"git", "credential", "fill"}));
  proc.at(40).ppid = 35;
  EXPECT_FALSE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, PushIsRefusedUnlessAllowed) {
  proc.at(30).argv = {"git", "push", "origin", "main"};
  EXPECT_EQ(check(git_credential()).reason,
            "git push is not allowed in this sandbox (git.allowPush is false)");
  policy.allow_push = true;
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesWithoutAGitAncestor) {
  without_git();
  EXPECT_EQ(check(git_credential()).reason, "no git command asked for the credential");
}

TEST_F(CallerCheckTest, RefusesGitTracingOnTheGit) {
  proc.at(30).env = {{"GIT_TRACE_CURL", "1"}};
  EXPECT_EQ(check(git_credential()).reason,
            "git tracing is on (GIT_TRACE_CURL): the token would be printed");
}

TEST_F(CallerCheckTest, RefusesGitTracingOnTheRemoteHelperOrTheCaller) {
  proc.at(40).env = {{"GIT_TRACE", "/tmp/trace"}};
  EXPECT_FALSE(check(git_credential()).allowed);
  proc.at(40).env.clear();
  proc.at(50).env = {{"GIT_CURL_VERBOSE", "true"}};
  EXPECT_FALSE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, TracingSwitchedOffIsFine) {
  proc.at(30).env = {{"GIT_TRACE", "0"},
                     {"GIT_TRACE2", "false"},
                     {"GIT_TRACE_PACKET", ""},
                     {"GIT_TRACE_REDACT", "1"}};
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, TracingInANonGitAncestorIsNotGits) {
  proc.at(10).env = {{"GIT_TRACE", "1"}};  // node's; git's own environment decides
  EXPECT_TRUE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesRedactionSwitchedOff) {
  proc.at(30).env = {{"GIT_TRACE_REDACT", "0"}};
  EXPECT_EQ(check(git_credential()).reason,
            "git tracing is on (GIT_TRACE_REDACT=0): the token would be printed");
  proc.at(30).env = {{"GIT_TRACE_REDACT", "no"}};
  EXPECT_FALSE(check(git_credential()).allowed);
}

TEST_F(CallerCheckTest, RefusesPlainHttp) {
  Message m = git_credential();
  m.set(key::kProtocol, "http");
  EXPECT_EQ(check(m).reason, "only https credentials are handed out, not \"http\"");
}

TEST_F(CallerCheckTest, RefusesAnUnknownHost) {
  EXPECT_EQ(check(git_credential("evil.example")).reason,
            "host \"evil.example\" is not a configured github or gitlab host");
}

TEST_F(CallerCheckTest, RefusesAProviderWithoutAToken) {
  policy.github_token = false;
  EXPECT_EQ(check(git_credential()).reason, "the vault holds no github token");
  without_git();
  EXPECT_EQ(check(token_request()).reason, "the vault holds no github token");
}

TEST_F(CallerCheckTest, AllowsGhWithoutGit) {
  without_git();
  const Decision d = check(token_request());
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.provider, Provider::kGithub);
  EXPECT_EQ(d.what, "gh pr list");
}

TEST_F(CallerCheckTest, AllowsGlabForGitlab) {
  without_git();
  const Decision d = check(token_request("gitlab", "glab", "gitlab.com"));
  EXPECT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.provider, Provider::kGitlab);
}

TEST_F(CallerCheckTest, TokenRequestsFollowTheChainRules) {
  without_git();
  proc.at(20).exe = "/tmp/sh";
  EXPECT_FALSE(check(token_request()).allowed);
}

TEST_F(CallerCheckTest, RefusesToolDebugOutput) {
  without_git();
  for (const char* name : {"GH_DEBUG", "DEBUG", "GLAB_DEBUG", "GH_TRACE"}) {
    proc.at(50).env = {{name, "1"}};
    EXPECT_EQ(check(token_request()).reason,
              "debug output is on (" + std::string(name) + "): the token would be printed");
  }
}

TEST_F(CallerCheckTest, RefusesAMismatchedToolOrProvider) {
  without_git();
  EXPECT_EQ(check(token_request("github", "glab")).reason,
            "a github token is only for gh, not for \"glab\"");
  EXPECT_EQ(check(token_request("bitbucket", "gh")).reason,
            "provider \"bitbucket\" is neither github nor gitlab");
  EXPECT_EQ(check(token_request("github", "gh", "gitlab.com")).reason,
            "host \"gitlab.com\" is not a configured github host");
}

TEST_F(CallerCheckTest, RefusesUnknownAndMissingOperations) {
  Message m;
  EXPECT_EQ(check(m).reason, "the request names no operation");
  m.set(key::kOp, "dump");
  EXPECT_EQ(check(m).reason, "operation \"dump\" is unknown");
}

struct GitArgvCase {
  std::vector<std::string> argv;
  bool allowed;
  std::string subcommand;
};

TEST(JudgeGitArgv, KnowsWhichCommandsTalkToARemote) {
  const std::vector<GitArgvCase> cases = {
      {{"git", "clone", "https://github.com/o/r"}, true, "clone"},
      {{"git", "pull"}, true, "pull"},
      {{"git", "ls-remote", "origin"}, true, "ls-remote"},
      {{"git", "--git-dir", "/r/.git", "--work-tree=/r", "fetch"}, true, "fetch"},
      {{"git", "--exec-path=/usr/lib/git-core", "--config-env=a.b=C", "fetch"}, true, "fetch"},
      {{"git", "-P", "--bare", "--no-optional-locks", "--literal-pathspecs", "fetch"},
       true,
       "fetch"},
      {{"git", "remote", "update"}, true, "remote update"},
      {{"git", "remote", "-v", "show", "origin"}, true, "remote show"},
      {{"git", "remote", "prune", "origin"}, true, "remote prune"},
      {{"git", "remote", "add", "x", "https://e/x"}, false, "remote add"},
      {{"git", "submodule", "update", "--init"}, true, "submodule update"},
      {{"git", "submodule", "--quiet", "update"}, true, "submodule update"},
      {{"git", "submodule", "foreach", "git fetch"}, false, "submodule foreach"},
      {{"git", "config", "--get", "remote.origin.url"}, false, "config"},
      {{"git", "credential", "fill"}, false, "credential"},
      {{"git", "fe"}, false, "fe"},  // an alias: what it runs is not known
      {{"git", "--upload-pack=x", "fetch"}, false, ""},
      {{"git", "-c"}, false, ""},
      {{"git"}, false, ""},
  };
  for (const auto& c : cases) {
    const GitVerdict v = judge_git_argv(c.argv, false);
    std::string line;
    for (const auto& w : c.argv) line += w + " ";
    EXPECT_EQ(v.allowed, c.allowed) << line << v.reason;
    EXPECT_EQ(v.subcommand, c.subcommand) << line;
    EXPECT_EQ(v.reason.empty(), c.allowed) << line;
  }
}

TEST(JudgeGitArgv, ExplainsAnUnknownOption) {
  EXPECT_EQ(judge_git_argv({"git", "--html-path", "fetch"}, false).reason,
            "git option --html-path is not understood, so git's command is not known");
}

TEST(AllowedAncestor, BuiltinsOnlyOutsideAgentWritableDirs) {
  const CallerPolicy policy;
  for (const char* exe : {"/usr/bin/git", "/usr/lib/git-core/git-remote-https", "/usr/bin/bash",
                          "/usr/bin/dash", "/usr/bin/tmux", "/usr/local/bin/node",
                          "/opt/acctl/bin/init-guard", "/opt/acctl/bin/ac-vault"})
    EXPECT_TRUE(allowed_ancestor(policy, exe)) << exe;
  for (const char* exe :
       {"/usr/bin/python3.11", "/usr/bin/perl", "/usr/bin/sh", "/tmp/x", "/var/tmp/x",
        "/home/agent/bin/git", "/workspace/node", "/dev/shm/x", "/run/x", "relative/git",
        "/usr/lib/git-core/../../../tmp/x", "/usr/bin//bash", ""})
    EXPECT_FALSE(allowed_ancestor(policy, exe)) << exe;
}

}  // namespace
}  // namespace acctl::vault
