// init-guard's logic against a fake system, then the real binary (as root: it drops for real).
#include "init-guard/guard.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <map>
#include <set>

#include "init-guard/gate_trust.h"
#include "init-guard/vault_setup.h"
#include "support/run_command.h"

namespace acctl::guard {
namespace {

struct FakeSystem : GuardSystem {
  pid_t pid = 1;
  uid_t euid = 0;
  bool drop_fails = false, still_root = false, hook_present = true;
  std::deque<int> signals;                     // what wait_signal returns, in order
  std::deque<std::pair<pid_t, int>> finished;  // what reap returns, in order
  std::vector<std::string> calls;              // what was called, in order
  std::vector<std::string> argv, env;          // of spawn or exec
  std::vector<std::string> said;
  int exec_errno = ENOENT;

  pid_t getpid() override { return pid; }
  uid_t geteuid() override { return euid; }
  Status drop_to(uid_t uid, gid_t gid) override {
    calls.push_back("drop " + std::to_string(uid) + ":" + std::to_string(gid));
    if (drop_fails) return Error{0, "setresuid: Operation not permitted"};
    euid = uid;
    return ok_status();
  }
  Status check_dropped(uid_t, gid_t) override {
    calls.push_back("check");
    if (still_root || euid == 0) return Error{0, "setresuid(0) still succeeds"};
    return ok_status();
  }
  std::set<std::string> missing, dirs;  // files that are not there; folders that are
  std::map<std::string, std::string> written;
  bool daemon_fails = false;
  std::vector<std::string> daemon_argv, daemon_env;
  bool is_file(const std::string& p) override {
    if (written.count(p) || files.count(p)) return true;
    // Only the hooks are there unless a test says so.
    return hook_present && !missing.count(p) && p.starts_with("/opt/acctl/lib/");
  }
  std::map<std::string, std::string> files;  // what read_file finds
  Result<std::string> read_file(const std::string& p, size_t limit) override {
    calls.push_back("read " + p);
    if (written.count(p)) return written[p];
    auto it = files.find(p);
    if (it == files.end()) return Error{0, "cannot open " + p + ": No such file or directory"};
    if (it->second.size() > limit) return Error{0, p + " is too large"};
    return it->second;
  }
  bool is_dir(const std::string& p) override { return dirs.count(p) > 0; }
  Status write_new_file(const std::string& p, const std::string& content, mode_t) override {
    calls.push_back("write " + p);
    written[p] = content;
    return ok_status();
  }
  Status chown_dir(const std::string& p, uid_t uid, gid_t gid) override {
    calls.push_back("chown " + p + " " + std::to_string(uid) + ":" + std::to_string(gid));
    return ok_status();
  }
  Result<pid_t> start_daemon(const std::vector<std::string>& a, const std::vector<std::string>& e,
                             int) override {
    calls.push_back("daemon");
    daemon_argv = a;
    daemon_env = e;
    if (daemon_fails) return Error{0, "it exited before it listened"};
    return 9;
  }
  Status block_signals() override {
    calls.push_back("block");
    return ok_status();
  }
  Result<pid_t> spawn(const std::vector<std::string>& a,
                      const std::vector<std::string>& e) override {
    calls.push_back("spawn");
    argv = a;
    env = e;
    return 42;
  }
  int exec(const std::vector<std::string>& a, const std::vector<std::string>& e) override {
    calls.push_back("exec");
    argv = a;
    env = e;
    return exec_errno;
  }
  Result<int> wait_signal() override {
    if (signals.empty()) return Error{0, "no more signals"};
    int s = signals.front();
    signals.pop_front();
    return s;
  }
  std::optional<std::pair<pid_t, int>> reap() override {
    if (finished.empty()) return std::nullopt;
    auto f = finished.front();
    finished.pop_front();
    return f;
  }
  void send(pid_t p, int sig) override {
    calls.push_back("send " + std::to_string(p) + " " + std::to_string(sig));
  }
  void say(std::string_view line) override { said.emplace_back(line); }
};

Options opts(std::vector<std::string> args) {
  return *parse_args(args);
}
int exited(int code) {
  return code << 8;
}

TEST(GuardArgs, NeedACommandAfterTheDashes) {
  EXPECT_FALSE(parse_args({}).ok());
  EXPECT_FALSE(parse_args({"--"}).ok());
  EXPECT_FALSE(parse_args({"bash"}).ok());
  EXPECT_NE(parse_args({"--shell", "--", "bash"}).error().message.find("unknown option --shell"),
            std::string::npos);
  Options o = opts({"--enter", "--", "bash", "-l"});
  EXPECT_TRUE(o.enter);
  EXPECT_EQ(o.command, (std::vector<std::string>{"bash", "-l"}));
}

TEST(GuardEnvironment, TheHooksComeFirstInLdPreloadInOrderOnce) {
  const std::string net = kNetHook, path = kPathHook;
  EXPECT_EQ(command_environment({"PATH=/bin"}, {}), (std::vector<std::string>{"PATH=/bin"}));
  EXPECT_EQ(command_environment({"PATH=/bin", "ACCTL_GATE_ADDR=172.20.0.53"}, {path, net}),
            (std::vector<std::string>{"PATH=/bin", "ACCTL_GATE_ADDR=172.20.0.53",
                                      "LD_PRELOAD=" + path + ":" + net}));
  EXPECT_EQ(
      command_environment(
          {"LD_PRELOAD=/x.so " + net + ":/y.so", "ACCTL_GATE_ADDR=1.2.3.4", "LD_PRELOAD=/evil.so"},
          {net}),
      (std::vector<std::string>{"LD_PRELOAD=" + net + ":/x.so:/y.so", "ACCTL_GATE_ADDR=1.2.3.4"}));
  EXPECT_FALSE(wants_hook({"ACCTL_GATE_ADDR="}));
}

TEST(Guard, AsPid1ItDropsFirstThenRunsTheCommandAsItsChildAndForwardsSignals) {
  FakeSystem sys;
  sys.signals = {SIGWINCH, SIGTERM, SIGPIPE, SIGCHLD};
  // An orphan finishes first; then the command, killed by the forwarded SIGTERM.
  sys.finished = {{7, exited(0)}, {42, SIGTERM}};
  EXPECT_EQ(run(sys, opts({"--", "bash", "run.sh"}), {"ACCTL_GATE_ADDR=172.20.0.53"}),
            128 + SIGTERM);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"drop 1000:1000", "check", "block", "spawn",
                                                 "send 42 " + std::to_string(SIGWINCH),
                                                 "send 42 " + std::to_string(SIGTERM)}));
  EXPECT_EQ(sys.argv, (std::vector<std::string>{"bash", "run.sh"}));
  EXPECT_EQ(sys.env.back(), std::string("LD_PRELOAD=") + kPathHook + ":" + kNetHook);
}

TEST(Guard, ExitsWithTheCommandsStatus) {
  FakeSystem sys;
  sys.signals = {SIGCHLD};
  sys.finished = {{42, exited(3)}};
  EXPECT_EQ(run(sys, opts({"--", "false"}), {}), 3);
}

TEST(Guard, FailsClosedWhenItCannotDropOrCouldGoBack) {
  FakeSystem a;
  a.drop_fails = true;
  EXPECT_EQ(run(a, opts({"--", "bash"}), {}), kExitGuardFailed);
  EXPECT_EQ(a.calls, (std::vector<std::string>{"drop 1000:1000"}));
  ASSERT_FALSE(a.said.empty());
  EXPECT_NE(a.said[0].find("cannot become uid 1000"), std::string::npos);

  FakeSystem b;
  b.still_root = true;
  EXPECT_EQ(run(b, opts({"--", "bash"}), {}), kExitGuardFailed);
  EXPECT_EQ(b.calls, (std::vector<std::string>{"drop 1000:1000", "check"}));
  EXPECT_NE(b.said[0].find("refusing to run the agent"), std::string::npos);
}

TEST(Guard, StartedAsTheAgentItOnlyChecks) {
  FakeSystem sys;
  sys.euid = 1000;
  sys.pid = 77;
  EXPECT_EQ(run(sys, opts({"--", "nothing-here"}), {}), kExitNotFound);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"check", "exec"}));
}

TEST(Guard, EnterExecsWithoutSupervising) {
  FakeSystem sys;
  sys.exec_errno = EACCES;
  EXPECT_EQ(run(sys, opts({"--enter", "--", "bash", "-l"}), {"ACCTL_GATE_ADDR=1.2.3.4"}),
            kExitCannotRun);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"drop 1000:1000", "check", "exec"}));
  EXPECT_EQ(sys.env.back(), std::string("LD_PRELOAD=") + kPathHook + ":" + kNetHook);
}

TEST(Guard, AMissingHookIsRefusedWhereItHasSomethingToEnforce) {
  FakeSystem sys;
  sys.missing = {kNetHook};
  EXPECT_EQ(run(sys, opts({"--", "bash"}), {"ACCTL_GATE_ADDR=1.2.3.4"}), kExitGuardFailed);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"drop 1000:1000", "check"}));
  FakeSystem blocked;
  blocked.missing = {kPathHook};
  EXPECT_EQ(run(blocked, opts({"--", "bash"}), {"ACCTL_BLOCKED_PATHS=/workspace/.env"}),
            kExitGuardFailed);
  ASSERT_FALSE(blocked.said.empty());
  EXPECT_NE(blocked.said[0].find("blocked-paths hook"), std::string::npos);
  FakeSystem without_gate;
  without_gate.hook_present = false;
  without_gate.signals = {SIGCHLD};
  without_gate.finished = {{42, exited(0)}};
  EXPECT_EQ(run(without_gate, opts({"--", "bash"}), {}), 0);
}

// With the secrets mounted: tokens dropped before anything forks, git config written, daemon
// started and listening, home given to the agent — all before the drop; the command gets the
// config and never a token.
TEST(GuardVault, AsPid1TheVaultIsSetUpBeforeTheDropAndNoTokenReachesAnything) {
  FakeSystem sys;
  sys.dirs = {kSecretsDir};
  sys.signals = {SIGCHLD, SIGCHLD};
  sys.finished = {{9, exited(1)}, {42, exited(0)}};  // the daemon ends first: said, not fatal
  const std::vector<std::string> env = {"GITHUB_TOKEN=ghp_secret", "PATH=/bin", "HOME=/root",
                                        "ACCTL_VAULT_GITHUB_HOSTS=github.com,api.github.com",
                                        "ACCTL_VAULT_ALLOW_PUSH=0"};
  EXPECT_EQ(run(sys, opts({"--", "bash"}), env), 0);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"write /run/acctl/gitconfig", "daemon",
                                                 "chown /home/agent 1000:1000", "drop 1000:1000",
                                                 "check", "block", "spawn"}));
  for (const auto* e : {&sys.env, &sys.daemon_env}) {
    for (const std::string& v : *e) EXPECT_EQ(v.find("ghp_secret"), std::string::npos) << v;
  }
  EXPECT_NE(std::find(sys.env.begin(), sys.env.end(), "GIT_CONFIG_SYSTEM=/run/acctl/gitconfig"),
            sys.env.end());
  EXPECT_NE(std::find(sys.env.begin(), sys.env.end(), "PATH=/opt/acctl/vault-bin:/bin"),
            sys.env.end());
  EXPECT_NE(std::find(sys.env.begin(), sys.env.end(), "HOME=/home/agent"), sys.env.end());
  EXPECT_EQ(sys.daemon_argv,
            (std::vector<std::string>{kVaultDaemon, "--secrets", kSecretsDir, "--ready-fd", "3",
                                      "--github-hosts", "github.com,api.github.com",
                                      "--allow-prefix", "/usr/local/lib/node_modules/"}));
  const std::string config = sys.written[kGitConfig];
  EXPECT_NE(config.find("[credential \"https://api.github.com\"]\n\thelper =\n\thelper = "
                        "/opt/acctl/bin/ac-vault git-credential\n"),
            std::string::npos)
      << config;
  bool said_token = false, said_daemon = false;
  for (const std::string& l : sys.said) {
    said_token = said_token || l.find("GITHUB_TOKEN is not passed on") != std::string::npos;
    said_daemon = said_daemon || l.find("the vault daemon ended") != std::string::npos;
  }
  EXPECT_TRUE(said_token);
  EXPECT_TRUE(said_daemon);
}

TEST(GuardVault, ADaemonThatDoesNotStartMeansNoAgent) {
  FakeSystem sys;
  sys.dirs = {kSecretsDir};
  sys.daemon_fails = true;
  EXPECT_EQ(run(sys, opts({"--", "bash"}), {}), kExitGuardFailed);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"write /run/acctl/gitconfig", "daemon"}));
  ASSERT_FALSE(sys.said.empty());
  EXPECT_NE(sys.said.back().find("starting the vault daemon"), std::string::npos);
}

TEST(GuardVault, EnteringDropsTokensAndUsesTheConfigButStartsNothing) {
  FakeSystem sys;
  sys.dirs = {kSecretsDir};
  sys.written[kGitConfig] = "x";
  EXPECT_EQ(run(sys, opts({"--enter", "--", "bash"}), {"GH_TOKEN=t"}), kExitNotFound);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"drop 1000:1000", "check", "exec"}));
  for (const std::string& v : sys.env) EXPECT_NE(v, "GH_TOKEN=t");
}

TEST(GuardVault, TheGitConfigNamesOnlyPlainHosts) {
  const std::string c = git_config_text({"github.com", "evil\"]\n[core]"}, {"gitlab.com:8443"});
  EXPECT_NE(c.find("https://github.com"), std::string::npos);
  EXPECT_NE(c.find("https://gitlab.com:8443"), std::string::npos);
  EXPECT_EQ(c.find("[core]"), std::string::npos);
}

constexpr const char* kCaPem =
    "-----BEGIN CERTIFICATE-----\nMIIBgateca\n-----END CERTIFICATE-----\n";
constexpr const char* kSystemPem =
    "-----BEGIN CERTIFICATE-----\nMIIBsystem\n-----END CERTIFICATE-----\n";

std::string value_of(const std::vector<std::string>& env, const std::string& name) {
  std::string out;
  int seen = 0;
  for (const std::string& e : env) {
    if (e.starts_with(name + "=")) {
      out = e.substr(name.size() + 1);
      ++seen;
    }
  }
  return seen == 1 ? out : seen == 0 ? "<unset>" : "<set " + std::to_string(seen) + " times>";
}

// Started as the agent with the gate's CA mounted: no vault, no drop, the bundle written as the
// agent before the command starts, and the command's TLS clients pointed at it; gh and glab get
// a placeholder, never a token the sandbox was given.
TEST(GuardGate, TheBundleIsWrittenAndEveryTlsClientPointsAtIt) {
  FakeSystem sys;
  sys.euid = 1000;
  sys.files = {{"/run/acctl/gate-ca.pem", kCaPem}, {kSystemBundle, kSystemPem}};
  sys.signals = {SIGCHLD};
  sys.finished = {{42, exited(0)}};
  const std::vector<std::string> env = {"PATH=/bin",
                                        "ACCTL_GATE_ADDR=172.20.0.53",
                                        "ACCTL_GATE_CA=/run/acctl/gate-ca.pem",
                                        "ACCTL_GATE_CREDENTIALS=github,gitlab",
                                        "GH_TOKEN=ghp_given_by_mistake",
                                        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                                        "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"};
  EXPECT_EQ(run(sys, opts({"--", "bash"}), env), 0);
  EXPECT_EQ(sys.calls,
            (std::vector<std::string>{"check", "read /run/acctl/gate-ca.pem",
                                      std::string("read ") + kSystemBundle,
                                      std::string("write ") + kTrustBundle, "block", "spawn"}));
  EXPECT_EQ(sys.written[kTrustBundle], std::string(kSystemPem) + kCaPem);
  for (const char* name : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
                           "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"})
    EXPECT_EQ(value_of(sys.env, name), kTrustBundle) << name;
  EXPECT_EQ(value_of(sys.env, "GH_TOKEN"), kPlaceholderToken);
  EXPECT_EQ(value_of(sys.env, "GH_ENTERPRISE_TOKEN"), kPlaceholderToken);
  EXPECT_EQ(value_of(sys.env, "GITLAB_TOKEN"), kPlaceholderToken);
  EXPECT_EQ(value_of(sys.env, "GIT_TERMINAL_PROMPT"), "0");
  for (const std::string& e : sys.env) EXPECT_EQ(e.find("ghp_given"), std::string::npos) << e;
  // The hooks as in any paranoid sandbox; no vault.
  EXPECT_EQ(sys.env.back(), std::string("LD_PRELOAD=") + kPathHook + ":" + kNetHook);
  EXPECT_EQ(value_of(sys.env, "GIT_CONFIG_SYSTEM"), "<unset>");
  ASSERT_FALSE(sys.said.empty());
  EXPECT_NE(sys.said[0].find("GH_TOKEN is not passed on: the gate adds this sandbox's tokens"),
            std::string::npos);
}

TEST(GuardGate, OnlyTheListedProvidersGetAPlaceholder) {
  std::vector<std::string> replaced;
  const auto env = with_gate_trust(
      {"ACCTL_GATE_CA=/run/acctl/gate-ca.pem", "ACCTL_GATE_CREDENTIALS=gitlab", "GL_TOKEN=x"},
      &replaced);
  EXPECT_EQ(value_of(env, "GITLAB_TOKEN"), kPlaceholderToken);
  EXPECT_EQ(value_of(env, "GH_TOKEN"), "<unset>");
  EXPECT_EQ(value_of(env, "GL_TOKEN"), "<unset>");
  EXPECT_EQ(replaced, std::vector<std::string>{"GL_TOKEN"});
}

TEST(GuardGate, EnteringUsesTheBundlePid1WroteAndWritesNothing) {
  FakeSystem sys;
  sys.euid = 1000;
  sys.pid = 31;
  EXPECT_EQ(run(sys, opts({"--enter", "--", "bash"}),
                {"ACCTL_GATE_CA=/run/acctl/gate-ca.pem", "ACCTL_GATE_CREDENTIALS=github"}),
            kExitNotFound);
  EXPECT_EQ(sys.calls, (std::vector<std::string>{"check", "exec"}));
  EXPECT_EQ(value_of(sys.env, "SSL_CERT_FILE"), kTrustBundle);
  EXPECT_EQ(value_of(sys.env, "GH_TOKEN"), kPlaceholderToken);
}

// Without the CA the agent's TLS to the credential hosts would fail: nothing runs. A missing
// system store is said, and the CA alone is trusted.
TEST(GuardGate, NoCaMeansNoAgent) {
  const std::vector<std::string> env = {"ACCTL_GATE_CA=/run/acctl/gate-ca.pem"};
  FakeSystem missing;
  missing.euid = 1000;
  EXPECT_EQ(run(missing, opts({"--", "bash"}), env), kExitGuardFailed);
  ASSERT_FALSE(missing.said.empty());
  EXPECT_NE(missing.said.back().find("reading the gate's CA /run/acctl/gate-ca.pem"),
            std::string::npos)
      << missing.said.back();
  EXPECT_EQ(std::count(missing.calls.begin(), missing.calls.end(), "spawn"), 0);

  FakeSystem not_pem;
  not_pem.euid = 1000;
  not_pem.files = {{"/run/acctl/gate-ca.pem", "-----BEGIN PRIVATE KEY-----\nx\n"}};
  EXPECT_EQ(run(not_pem, opts({"--", "bash"}), env), kExitGuardFailed);
  EXPECT_NE(not_pem.said.back().find("holds no PEM certificate"), std::string::npos);
  EXPECT_TRUE(not_pem.written.empty());

  FakeSystem no_store;
  no_store.euid = 1000;
  no_store.files = {{"/run/acctl/gate-ca.pem", kCaPem}};
  no_store.signals = {SIGCHLD};
  no_store.finished = {{42, exited(0)}};
  EXPECT_EQ(run(no_store, opts({"--", "bash"}), env), 0);
  EXPECT_EQ(no_store.written[kTrustBundle], kCaPem);
  EXPECT_NE(no_store.said.front().find("the agent trusts the gate's CA only"), std::string::npos);
}

TEST(GuardGate, TheBundleHoldsCertificatesOnly) {
  auto b = trust_bundle_text("sys", std::string("junk\n") + kCaPem + "-----BEGIN PRIVATE KEY-----");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, std::string("sys\n") + kCaPem);
  EXPECT_FALSE(trust_bundle_text(kSystemPem, "").ok());
}

TEST(Guard, ExitStatusIsAShells) {
  EXPECT_EQ(exit_status_of(exited(0)), 0);
  EXPECT_EQ(exit_status_of(exited(255)), 255);
  EXPECT_EQ(exit_status_of(SIGKILL), 137);
}

// The real binary, as PID 1 of a new PID namespace; as root it drops to 1000 for real.
using acctl::test_support::run_command;

TEST(GuardBinary, DropsToTheAgentAndPassesTheExitStatusOnAsPid1) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (drops to uid 1000 for real)";
  auto r = run_command(std::string(INIT_GUARD) + " -- sh -c 'id -u; id -g; id -G'");
  EXPECT_EQ(r.output, "1000\n1000\n1000\n");
  r = run_command(std::string("unshare --pid --fork ") + INIT_GUARD +
                  " -- sh -c 'echo pid $$; sleep 0.2 & exit 4'");
  EXPECT_EQ(r.output, "pid 2\n");  // init-guard is 1, the command its child
  EXPECT_EQ(r.status, 4);
  r = run_command(std::string(INIT_GUARD) + " -- /nonexistent/cmd");
  EXPECT_EQ(r.status, kExitNotFound);
  EXPECT_NE(r.output.find("cannot run /nonexistent/cmd"), std::string::npos) << r.output;
}

TEST(GuardBinary, ForwardsSigtermToTheCommandAsPid1) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare --pid)";
  // unshare forwards nothing itself: the TERM goes to init-guard (pid 1 inside) from outside.
  const std::string out =
      run_command(std::string("unshare --pid --fork --kill-child=TERM sh -c 'exec ") + INIT_GUARD +
                  " -- sh -c \"trap \\\"echo got TERM; exit 9\\\" TERM; echo ready; while :; do "
                  "sleep 0.05; done\"' & p=$!; sleep 0.5; pkill -TERM -f '^" +
                  INIT_GUARD + "'; wait $p; echo rc $?")
          .output;
  EXPECT_NE(out.find("got TERM"), std::string::npos) << out;
  EXPECT_NE(out.find("rc 9"), std::string::npos) << out;
}

}  // namespace
}  // namespace acctl::guard
