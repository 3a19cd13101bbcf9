// ac-vault's logic against a fake system, then the real binary against an in-test vault socket.
#include "vault-wrapper/wrapper.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/syscall.h"

namespace acctl::wrapper {
namespace {

using vault::Message;

Message ok_reply(std::vector<std::pair<std::string, std::string>> fields) {
  Message m;
  m.set("status", "ok");
  for (auto& [k, v] : fields) m.set(k, v);
  return m;
}

struct FakeSystem : WrapperSystem {
  // The vault.
  std::optional<Error> connect_error;
  std::optional<Error> exchange_error;
  Message reply = ok_reply({{"username", "x-access-token"}, {"password", "ghp_secret123"}});
  std::vector<std::string> connected_to;
  std::vector<Message> requests;
  // stdin, stdout.
  std::deque<std::string> input;
  size_t input_reads = 0;
  std::string output;
  bool stdout_broken = false;
  // Files.
  std::set<std::string> executables{kRealGh, kRealGlab};
  std::string made_dir;
  std::map<std::string, std::string> files;  // what exists in made_dir (path -> content)
  std::set<std::string> subdirs;             // folders the "CLI" made in it
  std::set<std::string> fail_unlink, fail_write;
  bool rmdir_fails = false;
  // The CLI.
  std::vector<std::string> argv, env;
  std::optional<Error> spawn_error;
  std::deque<Signal> signals;
  std::deque<std::optional<int>> waits;  // what reap returns, in order
  std::vector<std::string> created_by_cli;
  // Everything, in order.
  std::vector<std::string> calls;
  std::vector<std::string> said;

  Status connect(const std::string& socket) override {
    calls.push_back("connect " + socket);
    connected_to.push_back(socket);
    if (connect_error) return *connect_error;
    return ok_status();
  }
  Result<Message> exchange(const Message& request, int timeout_ms) override {
    calls.push_back("exchange");
    EXPECT_EQ(timeout_ms, kTimeoutMs);
    requests.push_back(request);
    if (exchange_error) return *exchange_error;
    return reply;
  }
  Result<std::string> read_stdin(size_t max) override {
    ++input_reads;
    if (input.empty()) return std::string();
    std::string chunk = input.front().substr(0, max);
    input.front().erase(0, chunk.size());
    if (input.front().empty()) input.pop_front();
    return chunk;
  }
  Status write_stdout(std::string_view bytes) override {
    if (stdout_broken) return sys_error("stdout: write", EPIPE);
    output += bytes;
    return ok_status();
  }
  bool is_executable(const std::string& path) override { return executables.count(path) > 0; }
  Result<std::string> make_private_dir(const std::string& base,
                                       const std::string& prefix) override {
    made_dir = base + "/" + prefix + "Ab12Cd";
    calls.push_back("mkdtemp " + made_dir);
    return made_dir;
  }
  Status write_new_file(const std::string& path, std::string_view content) override {
    calls.push_back("write " + path);
    if (fail_write.count(path)) return sys_error("write " + path, ENOSPC);
    if (files.count(path)) return sys_error("open " + path, EEXIST);
    files[path] = std::string(content);
    return ok_status();
  }
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override {
    calls.push_back("list " + dir);
    std::vector<DirEntry> out;
    for (auto& [path, content] : files) out.push_back({path.substr(dir.size() + 1), false});
    for (auto& d : subdirs) out.push_back({d, true});
    return out;
  }
  Status unlink(const std::string& path) override {
    calls.push_back("unlink " + path);
    if (fail_unlink.count(path)) return sys_error("unlink " + path, EACCES);
    if (!files.erase(path)) return sys_error("unlink " + path, ENOENT);
    return ok_status();
  }
  Status rmdir(const std::string& path) override {
    calls.push_back("rmdir " + path);
    if (rmdir_fails || !files.empty() || !subdirs.empty())
      return sys_error("rmdir " + path, ENOTEMPTY);
    made_dir.clear();
    return ok_status();
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
    if (spawn_error) return *spawn_error;
    for (const std::string& name : created_by_cli) files[made_dir + "/" + name] = "by the CLI";
    return 42;
  }
  Result<Signal> wait_signal() override {
    if (signals.empty()) return Error{0, "no more signals"};
    Signal s = signals.front();
    signals.pop_front();
    return s;
  }
  Result<std::optional<int>> reap(pid_t pid) override {
    EXPECT_EQ(pid, 42);
    if (waits.empty()) return sys_error("waitpid", ECHILD);
    auto w = waits.front();
    waits.pop_front();
    return w;
  }
  void send(pid_t p, int sig) override {
    calls.push_back("send " + std::to_string(p) + " " + std::to_string(sig));
  }
  void say(std::string_view line) override { said.emplace_back(line); }

  // The CLI exits with `code` at the first SIGCHLD.
  void cli_exits(int code) {
    signals.push_back({SIGCHLD, false});
    waits.push_back(code << 8);
  }
};

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
bool said_once(const FakeSystem& sys, const std::string& needle) {
  return sys.said.size() == 1 && has(sys.said[0], needle) && has(sys.said[0], "acctl vault: ");
}
bool asked_vault(const FakeSystem& sys) {
  return !sys.connected_to.empty();
}
std::string fields_of(const Message& m) {
  std::string out;
  for (auto& [k, v] : m.fields) out += k + "=" + v + "\n";
  return out;
}

Invocation inv(std::vector<std::string> argv) {
  auto i = parse_invocation(argv);
  EXPECT_TRUE(i.ok()) << argv[0];
  return i.ok() ? *i : Invocation{Mode::kPing, {"?"}};
}

// --- invocation ---------------------------------------------------------------------------

TEST(WrapperInvocation, TheModeComesFromTheNameOrTheFirstArgument) {
  Invocation gh = inv({"/usr/local/bin/gh", "pr", "list"});
  EXPECT_EQ(gh.mode, Mode::kGh);
  EXPECT_EQ(gh.args, (std::vector<std::string>{"pr", "list"}));
  EXPECT_EQ(inv({"glab", "mr", "list"}).mode, Mode::kGlab);
  Invocation git = inv({"/opt/acctl/bin/ac-vault", "git-credential", "get"});
  EXPECT_EQ(git.mode, Mode::kGitCredential);
  EXPECT_EQ(git.args, (std::vector<std::string>{"get"}));
  EXPECT_EQ(inv({"ac-vault", "ping"}).mode, Mode::kPing);
  Invocation via = inv({"ac-vault", "gh", "issue", "list"});
  EXPECT_EQ(via.mode, Mode::kGh);
  EXPECT_EQ(via.args, (std::vector<std::string>{"issue", "list"}));

  EXPECT_FALSE(parse_invocation({}).ok());
  EXPECT_FALSE(parse_invocation({"ac-vault"}).ok());
  EXPECT_TRUE(has(parse_invocation({"ac-vault", "token"}).error().message, "unknown mode token"));
  EXPECT_TRUE(has(parse_invocation({"/tmp/hub", "x"}).error().message, "not hub"));
}

// --- git credential helper ----------------------------------------------------------------

TEST(WrapperGit, GetPassesGitsRequestOnAndPrintsTheCredentialOnlyOnStdout) {
  FakeSystem sys;
  // In pieces, with attributes the vault does not need, and bytes after the blank line.
  sys.input = {"protocol=https\nhost=git", "hub.com\npath=acme/app.git\nwwwauth[]=Basic realm=x\n",
               "capability[]=authtype\n\nprotocol=ignored\n"};
  EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {"PATH=/bin", "GIT_TRACE=0"}), 0);
  ASSERT_EQ(sys.requests.size(), 1u);
  EXPECT_EQ(fields_of(sys.requests[0]),
            "op=git-credential\nprotocol=https\nhost=github.com\npath=acme/app.git\n");
  EXPECT_EQ(sys.connected_to, (std::vector<std::string>{"/run/acctl/vault/vault.sock"}));
  EXPECT_EQ(sys.output, "username=x-access-token\npassword=ghp_secret123\n");
  EXPECT_TRUE(sys.said.empty());
}

TEST(WrapperGit, ARefusalIsOneStderrLineAndNothingOnStdout) {
  FakeSystem sys;
  sys.input = {"protocol=https\nhost=github.com\n"};
  sys.reply = vault::refusal("git push is not allowed in this sandbox");
  EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_EQ(sys.output, "");
  EXPECT_EQ(sys.said,
            (std::vector<std::string>{"acctl vault: git push is not allowed in this sandbox"}));
}

TEST(WrapperGit, AVaultThatIsNotRunningFailsClosed) {
  FakeSystem sys;
  sys.input = {"protocol=https\nhost=github.com\n"};
  sys.connect_error = sys_error("connect /run/acctl/vault/vault.sock", ENOENT);
  EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_EQ(sys.output, "");
  EXPECT_EQ(sys.said,
            (std::vector<std::string>{"acctl vault: the vault is not running (connect "
                                      "/run/acctl/vault/vault.sock: No such file or directory)"}));

  FakeSystem slow;
  slow.input = {"protocol=https\nhost=github.com\n"};
  slow.exchange_error = Error{0, "no reply", 0, true};
  EXPECT_EQ(run(slow, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(slow, "did not answer within 10 s"));
  EXPECT_EQ(slow.output, "");
}

TEST(WrapperGit, TracingThatWouldPrintTheTokenIsRefusedBeforeAsking) {
  for (const char* var :
       {"GIT_TRACE", "GIT_TRACE_CURL", "GIT_CURL_VERBOSE", "GIT_TRACE_PACKET", "GIT_TRACE2",
        "GIT_TRACE2_EVENT", "GIT_TRACE2_PERF", "GIT_TRACE_SETUP", "GIT_TRACE_PACK_ACCESS"}) {
    for (const char* value : {"1", "true", "/tmp/trace.log", "2"}) {
      FakeSystem sys;
      sys.input = {"protocol=https\nhost=github.com\n"};
      EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}),
                    {"PATH=/bin", std::string(var) + "=" + value}),
                kExitRefused)
          << var << "=" << value;
      EXPECT_TRUE(said_once(sys, var)) << var;
      EXPECT_FALSE(asked_vault(sys));
      EXPECT_EQ(sys.output, "");
    }
  }
  for (const char* value : {"0", "false", "FALSE", "no", "off", ""}) {
    FakeSystem sys;
    sys.input = {"protocol=https\nhost=github.com\n"};
    EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}),
                  {std::string("GIT_TRACE_REDACT=") + value}),
              kExitRefused)
        << value;
    EXPECT_TRUE(said_once(sys, "GIT_TRACE_REDACT")) << value;
    EXPECT_FALSE(asked_vault(sys));
  }
  // Off in git's own sense, or redaction explicitly on: asked. GIT_CURL_VERBOSE counts even at
  // 0, since git turns curl's trace on for it being set.
  FakeSystem off;
  off.input = {"protocol=https\nhost=github.com\n"};
  EXPECT_EQ(run(off, inv({"ac-vault", "git-credential", "get"}),
                {"GIT_TRACE=0", "GIT_TRACE_CURL=false", "GIT_TRACE2=", "GIT_TRACE_REDACT=1"}),
            0);
  FakeSystem curl;
  EXPECT_EQ(run(curl, inv({"ac-vault", "git-credential", "get"}), {"GIT_CURL_VERBOSE=0"}),
            kExitRefused);
  // A second, later definition counts too.
  FakeSystem twice;
  EXPECT_EQ(run(twice, inv({"ac-vault", "git-credential", "get"}), {"GIT_TRACE=0", "GIT_TRACE=1"}),
            kExitRefused);
}

TEST(WrapperGit, MalformedRequestsAreRefused) {
  auto refused = [](const std::string& input) {
    auto r = parse_git_request(input);
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_TRUE(has(refused(std::string("protocol=https\nhost=github.com\0x\n", 33)), "NUL"));
  EXPECT_TRUE(has(refused("protocol=https\nhost=github.com\ngarbage\n"), "not key=value"));
  EXPECT_TRUE(has(refused("protocol=https\n=x\nhost=github.com\n"), "not key=value"));
  EXPECT_TRUE(has(refused("protocol=https\nhost=github.com\nhost=evil.com\n"), "twice"));
  EXPECT_TRUE(has(refused("protocol=https\npath=x\n"), "no host"));
  EXPECT_TRUE(has(refused("host=github.com\n"), "no protocol"));
  EXPECT_TRUE(has(refused("protocol=https\nhost=github.com\npath=a\rb\n"), "control"));
  EXPECT_TRUE(has(refused("protocol=https\nhost=github.com\npath=" + std::string(5000, 'a')),
                  "longer than"));
  EXPECT_TRUE(has(refused("protocol=https\nhost=git hub.com\n"), "not a host name"));
  EXPECT_TRUE(has(refused("protocol=ht tps\nhost=github.com\n"), "not a URL scheme"));
  // The request ends at the blank line, which is also how git ends it.
  EXPECT_TRUE(has(refused("\nprotocol=https\nhost=github.com\n"), "no protocol"));
  auto r = parse_git_request("protocol=https\nhost=gitlab.com:8443\nusername=me\n\nhost=x\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->host, "gitlab.com:8443");
  EXPECT_FALSE(r->path.has_value());

  FakeSystem sys;
  sys.input = {"protocol=https\nhost=github.com\ngarbage\n"};
  EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(sys, "refusing git's request: a line is not key=value"));
  EXPECT_FALSE(asked_vault(sys));
  FakeSystem huge;
  huge.input = {"protocol=https\nhost=github.com\n" + std::string(kMaxGitInput, 'x')};
  EXPECT_EQ(run(huge, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(huge, "larger than 65536 bytes"));
  EXPECT_FALSE(asked_vault(huge));
}

TEST(WrapperGit, AMalformedCredentialIsNotPassedToGit) {
  for (const char* password : {"ghp_x\nusername=evil", "two words", ""}) {
    FakeSystem sys;
    sys.input = {"protocol=https\nhost=github.com\n"};
    sys.reply = ok_reply({{"username", "x-access-token"}, {"password", password}});
    EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
    EXPECT_EQ(sys.output, "");
    EXPECT_TRUE(said_once(sys, "malformed credential"));
  }
}

TEST(WrapperGit, AGitThatStoppedListeningIsAFailure) {
  FakeSystem sys;
  sys.input = {"protocol=https\nhost=github.com\n"};
  sys.stdout_broken = true;
  EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", "get"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(sys, "writing the credential to git"));
  EXPECT_FALSE(has(sys.said[0], "ghp_secret123"));
}

TEST(WrapperGit, StoreAndEraseReadEverythingAndKeepNothing) {
  for (const char* action : {"store", "erase", "future-action"}) {
    FakeSystem sys;
    sys.input = {"protocol=https\nhost=github.com\npassword=p\n", "\n"};
    EXPECT_EQ(run(sys, inv({"ac-vault", "git-credential", action}), {"GIT_TRACE=1"}), 0);
    EXPECT_TRUE(sys.input.empty()) << action;
    EXPECT_FALSE(asked_vault(sys));
    EXPECT_EQ(sys.output, "");
    EXPECT_TRUE(sys.said.empty());
  }
  FakeSystem bare;
  EXPECT_EQ(run(bare, inv({"ac-vault", "git-credential"}), {}), kExitUsage);
}

// --- gh and glab --------------------------------------------------------------------------

const std::vector<std::string> kAgentEnv{"PATH=/usr/local/bin:/usr/bin",
                                         "HOME=/home/agent",
                                         "TMPDIR=/home/agent/tmp/",
                                         "GH_TOKEN=agent-own",
                                         "GITHUB_TOKEN=x",
                                         "GH_ENTERPRISE_TOKEN=x",
                                         "GITHUB_ENTERPRISE_TOKEN=x",
                                         "GITLAB_TOKEN=x",
                                         "GL_TOKEN=x",
                                         "GH_CONFIG_DIR=/home/agent/gh",
                                         "GH_HOST=evil.example",
                                         "GLAB_CONFIG_DIR=/x",
                                         "GH_DEBUG=",
                                         "TERM=xterm"};

TEST(WrapperCli, GhRunsWithTheTokenOnlyInAFreshConfigFolderThatIsRemovedAfterwards) {
  FakeSystem sys;
  sys.reply = ok_reply({{"token", "ghp_secret123"}});
  sys.created_by_cli = {"state.lock"};
  sys.signals = {{SIGWINCH, true}, {SIGINT, false}};  // a resize from the tty, a kill -INT
  sys.cli_exits(3);
  EXPECT_EQ(run(sys, inv({"/usr/local/bin/gh", "pr", "list", "--limit", "5"}), kAgentEnv), 3);

  ASSERT_EQ(sys.requests.size(), 1u);
  EXPECT_EQ(fields_of(sys.requests[0]),
            "op=token\nprovider=github\nhost=github.com\ntool=gh\nargs=pr\x1flist\x1f--limit\x1f"
            "5\n");
  const std::string dir = "/home/agent/tmp/ac-vault-gh-Ab12Cd";
  EXPECT_EQ(sys.calls,
            (std::vector<std::string>{
                "connect /run/acctl/vault/vault.sock", "exchange", "block", "mkdtemp " + dir,
                "write " + dir + "/config.yml", "write " + dir + "/hosts.yml", "spawn",
                "send 42 " + std::to_string(SIGINT), "unlink " + dir + "/config.yml",
                "unlink " + dir + "/hosts.yml", "list " + dir, "unlink " + dir + "/state.lock",
                "rmdir " + dir}));
  EXPECT_EQ(sys.argv, (std::vector<std::string>{"/usr/bin/gh", "pr", "list", "--limit", "5"}));
  EXPECT_EQ(sys.env, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin", "HOME=/home/agent",
                                               "TMPDIR=/home/agent/tmp/", "GH_DEBUG=", "TERM=xterm",
                                               "GH_CONFIG_DIR=" + dir, "GH_NO_UPDATE_NOTIFIER=1"}));
  for (const std::string& e : sys.env) EXPECT_FALSE(has(e, "ghp_secret123")) << e;
  EXPECT_TRUE(sys.files.empty());
  EXPECT_TRUE(sys.made_dir.empty());  // removed
  EXPECT_TRUE(sys.said.empty());
}

TEST(WrapperCli, TheConfigFilesAreTheClisOwnFormat) {
  auto gh = cli_config_files(Cli::kGh, std::string("ghp_T0k"));
  ASSERT_EQ(gh.size(), 2u);
  EXPECT_EQ(gh[0].name, "config.yml");
  EXPECT_EQ(gh[0].content, "version: \"1\"\ngit_protocol: https\n");
  EXPECT_EQ(gh[1].name, "hosts.yml");
  EXPECT_EQ(gh[1].content,
            "github.com:\n"
            "    users:\n"
            "        x-access-token:\n"
            "            oauth_token: \"ghp_T0k\"\n"
            "    oauth_token: \"ghp_T0k\"\n"
            "    git_protocol: https\n"
            "    user: x-access-token\n");
  auto glab = cli_config_files(Cli::kGlab, std::string("glpat-T0k"));
  ASSERT_EQ(glab.size(), 1u);
  EXPECT_EQ(glab[0].name, "config.yml");
  EXPECT_EQ(glab[0].content,
            "check_update: false\ngit_protocol: https\nhosts:\n    gitlab.com:\n"
            "        token: \"glpat-T0k\"\n        api_host: gitlab.com\n"
            "        api_protocol: https\n        git_protocol: https\n");
  // Without a token (help, version): no token anywhere.
  auto bare = cli_config_files(Cli::kGh, std::nullopt);
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_FALSE(has(cli_config_files(Cli::kGlab, std::nullopt)[0].content, "token"));
}

TEST(WrapperCli, GlabGetsItsConfigFolderAndTheGitlabToken) {
  FakeSystem sys;
  sys.reply = ok_reply({{"token", "glpat-abc"}});
  sys.cli_exits(0);
  EXPECT_EQ(run(sys, inv({"glab", "mr", "list"}), {"GITLAB_TOKEN=mine", "GLAB_CONFIG_DIR=/x"}), 0);
  EXPECT_EQ(fields_of(sys.requests[0]),
            "op=token\nprovider=gitlab\nhost=gitlab.com\ntool=glab\nargs=mr\x1flist\n");
  EXPECT_EQ(sys.argv, (std::vector<std::string>{"/usr/bin/glab", "mr", "list"}));
  EXPECT_EQ(sys.env, (std::vector<std::string>{"GLAB_CONFIG_DIR=/tmp/ac-vault-glab-Ab12Cd"}));
  EXPECT_TRUE(has(sys.calls[4], "write /tmp/ac-vault-glab-Ab12Cd/config.yml"));
}

TEST(WrapperCli, TheClisStatusIsPassedOnAndASignalIs128PlusN) {
  FakeSystem sys;
  sys.reply = ok_reply({{"token", "ghp_x"}});
  sys.signals = {{SIGTERM, false}, {SIGCHLD, false}, {SIGCHLD, false}};
  sys.waits = {std::nullopt, SIGTERM};  // a first SIGCHLD while it still runs (a stop, say)
  EXPECT_EQ(run(sys, inv({"gh", "run", "watch"}), {}), 128 + SIGTERM);
  EXPECT_TRUE(sys.made_dir.empty());
}

TEST(WrapperCli, RefusedArgumentsNameTheRefusedWordAndNeverReachTheVault) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused{
      {{"auth", "token"}, "`gh auth token`"},
      {{"auth", "login", "--with-token"}, "`gh auth login`"},
      {{"auth", "logout"}, "`gh auth logout`"},
      {{"auth", "refresh"}, "`gh auth refresh`"},
      {{"auth", "setup-git"}, "`gh auth setup-git`"},
      {{"auth", "git-credential"}, "`gh auth git-credential`"},
      {{"auth", "switch"}, "`gh auth switch`"},
      {{"auth"}, "only `auth status`"},
      {{"auth", "status", "-t"}, "`gh auth status -t`"},
      {{"auth", "status", "-at"}, "prints the token"},
      {{"auth", "status", "--json"}, "`gh auth status --json`"},
      {{"auth", "status", "--show-token"}, "`gh --show-token`"},
      {{"pr", "list", "--show-token=1"}, "--show-token"},
      {{"config", "get", "oauth_token"}, "`gh config`"},
      {{"config", "list"}, "`gh config`"},
      {{"extension", "install", "x/y"}, "extensions run arbitrary code"},
      {{"extensions", "list"}, "`gh extensions`"},
      {{"ext", "exec", "x"}, "`gh ext`"},
      {{"alias", "set", "x", "!sh"}, "`gh alias`"},
      {{"browse"}, "opens a browser"},
      {{"codespace", "ssh"}, "`gh codespace`: not on acctl's list"},
      {{"my-extension"}, "`gh my-extension`"},
      {{"-R", "o/r", "issue", "list"}, "`gh -R`: put options after the command"},
      {{"--version", "pr"}, "`gh --version`"},
      {{"api", "--verbose", "/user"}, "`gh api --verbose`"},
  };
  for (const auto& [args, word] : refused) {
    FakeSystem sys;
    std::vector<std::string> argv{"gh"};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(run(sys, inv(argv), {}), kExitRefused) << word;
    EXPECT_TRUE(said_once(sys, word)) << word << ": " << (sys.said.empty() ? "" : sys.said[0]);
    EXPECT_FALSE(asked_vault(sys)) << word;
    EXPECT_TRUE(sys.argv.empty()) << word;
  }
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"mr", "list"},
                                             {"auth", "token"},
                                             {"config", "get", "token"},
                                             {"alias", "set"},
                                             {"pr", "list"},
                                             {"auth", "status", "--show-token"}}) {
    FakeSystem sys;
    std::vector<std::string> argv{"glab"};
    argv.insert(argv.end(), args.begin(), args.end());
    run(sys, inv(argv), {});
    if (args[0] == "mr") {
      EXPECT_TRUE(asked_vault(sys));
    } else {
      EXPECT_TRUE(said_once(sys, "`glab ")) << args[0];
      EXPECT_FALSE(asked_vault(sys)) << args[0];
    }
  }
}

TEST(WrapperCli, TheAllowedCommandsAskTheVault) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"api", "/repos/o/r/pulls"},
                                             {"issue", "create", "-t", "title"},
                                             {"pr", "checkout", "7"},
                                             {"repo", "clone", "o/r"},
                                             {"release", "list"},
                                             {"run", "list"},
                                             {"workflow", "list"},
                                             {"search", "issues", "x"},
                                             {"gist", "list"},
                                             {"label", "list"},
                                             {"status"},
                                             {"cache", "list"},
                                             {"ruleset", "list"},
                                             {"project", "list"},
                                             {"variable", "list"},
                                             {"secret", "list"},
                                             {"org", "list"},
                                             {"auth", "status"},
                                             {"auth", "status", "-h", "github.com"},
                                             {"auth", "status", "--hostname=github.com", "-a"}}) {
    EXPECT_EQ(cli_args_refusal(Cli::kGh, args), std::nullopt) << args[0];
    EXPECT_TRUE(cli_needs_token(args)) << args[0];
  }
  for (const char* first : {"api", "issue", "mr", "repo", "release", "ci", "label", "variable"})
    EXPECT_EQ(cli_args_refusal(Cli::kGlab, {first, "list"}), std::nullopt) << first;
  EXPECT_EQ(cli_args_refusal(Cli::kGlab, {"auth", "status"}), std::nullopt);
  EXPECT_NE(cli_args_refusal(Cli::kGh, {"mr", "list"}), std::nullopt);
  EXPECT_NE(cli_args_refusal(Cli::kGlab, {"gist", "list"}), std::nullopt);
}

TEST(WrapperCli, HelpAndVersionRunWithoutAToken) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {}, {"--version"}, {"version"}, {"help"}, {"help", "pr"}, {"--help"}, {"-h"}}) {
    FakeSystem sys;
    sys.cli_exits(0);
    std::vector<std::string> argv{"gh"};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(run(sys, inv(argv), {}), 0);
    EXPECT_FALSE(asked_vault(sys));
    EXPECT_EQ(sys.calls[2], "write /tmp/ac-vault-gh-Ab12Cd/config.yml");
    EXPECT_EQ(sys.calls[3], "spawn");  // no hosts.yml
  }
}

TEST(WrapperCli, DebugOutputIsRefusedBeforeAsking) {
  for (const char* var : {"GH_DEBUG", "DEBUG", "GH_TRACE", "GLAB_DEBUG"}) {
    for (const char* cli : {"gh", "glab"}) {
      FakeSystem sys;
      EXPECT_EQ(run(sys, inv({cli, "api", "/user"}), {std::string(var) + "=api"}), kExitRefused);
      EXPECT_TRUE(said_once(sys, std::string(var) + " set")) << var;
      EXPECT_FALSE(asked_vault(sys));
    }
  }
}

TEST(WrapperCli, AMissingGlabIsSaidAndExits127) {
  FakeSystem sys;
  sys.executables = {kRealGh};
  EXPECT_EQ(run(sys, inv({"glab", "mr", "list"}), {}), kExitNotInstalled);
  EXPECT_EQ(sys.said,
            (std::vector<std::string>{"acctl vault: glab is not installed in this image"}));
  EXPECT_FALSE(asked_vault(sys));
}

TEST(WrapperCli, VaultRefusalsAndBadTokensStopBeforeAnyFile) {
  FakeSystem refused;
  refused.reply = vault::refusal("gh is not allowed from this process");
  EXPECT_EQ(run(refused, inv({"gh", "pr", "list"}), {}), kExitRefused);
  EXPECT_EQ(refused.said,
            (std::vector<std::string>{"acctl vault: gh is not allowed from this process"}));
  EXPECT_TRUE(refused.made_dir.empty());

  FakeSystem down;
  down.connect_error = sys_error("connect /run/acctl/vault/vault.sock", ECONNREFUSED);
  EXPECT_EQ(run(down, inv({"gh", "pr", "list"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(down, "the vault is not running (connect"));

  for (const char* token : {"ghp_x\"\nevil: 1", "", "a b"}) {
    FakeSystem bad;
    bad.reply = ok_reply({{"token", token}});
    EXPECT_EQ(run(bad, inv({"gh", "pr", "list"}), {}), kExitRefused);
    EXPECT_TRUE(said_once(bad, "malformed token"));
    EXPECT_TRUE(bad.made_dir.empty());
    EXPECT_TRUE(bad.argv.empty());
  }
}

TEST(WrapperCli, FailuresAfterTheTokenIsWrittenStillRemoveIt) {
  FakeSystem write_fails;
  write_fails.reply = ok_reply({{"token", "ghp_x"}});
  write_fails.fail_write = {"/tmp/ac-vault-gh-Ab12Cd/hosts.yml"};
  EXPECT_EQ(run(write_fails, inv({"gh", "pr", "list"}), {}), kExitRefused);
  EXPECT_TRUE(write_fails.argv.empty());
  EXPECT_TRUE(write_fails.made_dir.empty());
  EXPECT_TRUE(said_once(write_fails, "writing gh's config"));

  FakeSystem spawn_fails;
  spawn_fails.reply = ok_reply({{"token", "ghp_x"}});
  spawn_fails.spawn_error = sys_error("fork", EAGAIN);
  EXPECT_EQ(run(spawn_fails, inv({"gh", "pr", "list"}), {}), kExitRefused);
  EXPECT_TRUE(spawn_fails.files.empty());
  EXPECT_TRUE(spawn_fails.made_dir.empty());

  FakeSystem wait_fails;  // no SIGCHLD comes: the CLI is killed, the folder still removed
  wait_fails.reply = ok_reply({{"token", "ghp_x"}});
  EXPECT_EQ(run(wait_fails, inv({"gh", "pr", "list"}), {}), kExitRefused);
  EXPECT_TRUE(has(wait_fails.calls[7], "send 42 " + std::to_string(SIGKILL)));
  EXPECT_TRUE(wait_fails.made_dir.empty());
}

TEST(WrapperCli, WhatCannotBeRemovedIsReportedAndTheClisStatusStands) {
  FakeSystem sys;
  sys.reply = ok_reply({{"token", "ghp_x"}});
  sys.cli_exits(0);
  sys.fail_unlink = {"/tmp/ac-vault-gh-Ab12Cd/hosts.yml"};
  sys.subdirs = {"cache"};
  EXPECT_EQ(run(sys, inv({"gh", "pr", "list"}), {}), 0);
  ASSERT_EQ(sys.said.size(), 3u);  // hosts.yml, the folder inside, the config folder
  EXPECT_TRUE(has(sys.said[0], "acctl vault: could not remove /tmp/ac-vault-gh-Ab12Cd/hosts.yml"));
  EXPECT_TRUE(has(sys.said[1], "left /tmp/ac-vault-gh-Ab12Cd/cache in place"));
  EXPECT_TRUE(has(sys.said[2], "could not remove /tmp/ac-vault-gh-Ab12Cd: "));
}

// --- the socket, ping ---------------------------------------------------------------------

TEST(WrapperSocket, AnOverrideMustBeAbsoluteAndIsNamedInErrors) {
  FakeSystem sys;
  EXPECT_EQ(run(sys, inv({"ac-vault", "ping"}), {"ACCTL_VAULT_SOCKET=/tmp/t/v.sock"}), 0);
  EXPECT_EQ(sys.connected_to, (std::vector<std::string>{"/tmp/t/v.sock"}));
  FakeSystem relative;
  EXPECT_EQ(run(relative, inv({"ac-vault", "ping"}), {"ACCTL_VAULT_SOCKET=v.sock"}), kExitRefused);
  EXPECT_TRUE(said_once(relative, "must be an absolute path"));
  EXPECT_FALSE(asked_vault(relative));
  // The override never reaches the CLI.
  FakeSystem gh;
  gh.reply = ok_reply({{"token", "ghp_x"}});
  gh.cli_exits(0);
  EXPECT_EQ(run(gh, inv({"gh", "pr", "list"}), {"ACCTL_VAULT_SOCKET=/tmp/t/v.sock"}), 0);
  EXPECT_EQ(gh.env.size(), 2u);
}

TEST(WrapperPing, SaysWhetherTheVaultAnswers) {
  FakeSystem up;
  up.reply = ok_reply({});
  EXPECT_EQ(run(up, inv({"ac-vault", "ping"}), {}), 0);
  EXPECT_EQ(up.output, "vault: answering\n");
  EXPECT_EQ(fields_of(up.requests[0]), "op=ping\n");

  FakeSystem down;
  down.connect_error = sys_error("connect /run/acctl/vault/vault.sock", ENOENT);
  EXPECT_EQ(run(down, inv({"ac-vault", "ping"}), {}), kExitRefused);
  EXPECT_EQ(down.said, (std::vector<std::string>{
                           "acctl vault: not answering (connect /run/acctl/vault/vault.sock: No "
                           "such file or directory)"}));
  EXPECT_EQ(down.output, "");

  FakeSystem refused;
  refused.reply = vault::refusal("ping is for root");
  EXPECT_EQ(run(refused, inv({"ac-vault", "ping"}), {}), kExitRefused);
  EXPECT_TRUE(said_once(refused, "not answering (refused: ping is for root)"));

  FakeSystem extra;
  EXPECT_EQ(run(extra, inv({"ac-vault", "ping", "now"}), {}), kExitUsage);
}

// --- the real binary ----------------------------------------------------------------------

// A vault that answers one connection with `reply` and keeps the request it got.
class TestVault {
 public:
  explicit TestVault(Message reply) {
    char tmpl[] = "/tmp/ac-vault-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/vault.sock";
    listener_ = *open_socket(AF_UNIX, SOCK_STREAM);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_.get(), 4), 0);
    thread_ = std::thread([this, reply] { serve(reply); });
  }
  ~TestVault() {
    thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  std::optional<Message> request;

 private:
  void serve(const Message& reply) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 20'000) != 1) return;  // the binary never came: the test fails on its own
    UniqueFd c(::accept(listener_.get(), nullptr, nullptr));
    if (!c) return;
    auto r = vault::receive_message(c.get(), 10'000);
    if (!r) return;
    request = *r;
    (void)vault::send_message(c.get(), reply);
  }
  std::string dir_, path_;
  UniqueFd listener_;
  std::thread thread_;
};

struct Ran {
  int status = -1;
  std::string out, err;
};
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
// Runs `env -i VARS ac-vault ARGS` with `input` on stdin, from a folder of its own.
Ran run_binary(const std::string& vars, const std::string& args, const std::string& input) {
  char tmpl[] = "/tmp/ac-vault-run-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/in") << input;
  const std::string cmd = "env -i " + vars + " " + AC_VAULT + " " + args + " <" + dir + "/in >" +
                          dir + "/out 2>" + dir + "/err";
  Ran r;
  r.status = ::system(cmd.c_str());
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  for (const char* f : {"/in", "/out", "/err"}) ::unlink((dir + f).c_str());
  ::rmdir(dir.c_str());
  return r;
}

TEST(WrapperBinary, GitCredentialGetAsksTheVaultOnItsSocketAndAnswersGit) {
  TestVault vault(ok_reply({{"username", "x-access-token"}, {"password", "ghp_fromthevault"}}));
  Ran r = run_binary("ACCTL_VAULT_SOCKET=" + vault.path(), "git-credential get",
                     "protocol=https\nhost=github.com\npath=acme/app.git\n\n");
  EXPECT_EQ(WEXITSTATUS(r.status), 0) << r.err;
  EXPECT_EQ(r.out, "username=x-access-token\npassword=ghp_fromthevault\n");
  EXPECT_EQ(r.err, "");
  ASSERT_TRUE(vault.request.has_value());
  EXPECT_EQ(fields_of(*vault.request),
            "op=git-credential\nprotocol=https\nhost=github.com\npath=acme/app.git\n");
}

TEST(WrapperBinary, ARefusalLeavesGitsStdoutEmpty) {
  TestVault vault(vault::refusal("this process may not have a github token"));
  Ran r = run_binary("ACCTL_VAULT_SOCKET=" + vault.path(), "git-credential get",
                     "protocol=https\nhost=github.com\n");
  EXPECT_EQ(WEXITSTATUS(r.status), 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "acctl vault: this process may not have a github token\n");
}

TEST(WrapperBinary, NoVaultMeansNoCredentialAndPingSaysSo) {
  Ran r = run_binary("ACCTL_VAULT_SOCKET=/nonexistent/vault.sock", "git-credential get",
                     "protocol=https\nhost=github.com\n");
  EXPECT_EQ(WEXITSTATUS(r.status), 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "acctl vault: the vault is not running (connect /nonexistent/vault.sock: No such file "
            "or directory)\n");
  Ran p = run_binary("ACCTL_VAULT_SOCKET=/nonexistent/vault.sock", "ping", "");
  EXPECT_EQ(WEXITSTATUS(p.status), 1);
  EXPECT_TRUE(has(p.err, "acctl vault: not answering (connect /nonexistent/vault.sock"));

  TestVault vault(ok_reply({}));
  Ran up = run_binary("ACCTL_VAULT_SOCKET=" + vault.path(), "ping", "");
  EXPECT_EQ(WEXITSTATUS(up.status), 0) << up.err;
  EXPECT_EQ(up.out, "vault: answering\n");
}

// The real gh, where the machine has it: it must read the token from the hosts.yml that
// ac-vault wrote (no keyring, no network needed to see that), and the folder must be gone.
TEST(WrapperBinary, TheRealGhReadsTheTokenFromTheFolderThatIsRemovedAfterwards) {
  if (::access(kRealGh, X_OK) != 0) GTEST_SKIP() << "no " << kRealGh << " on this machine";
  TestVault vault(ok_reply({{"token", "ghp_FAKE0123456789abcdef"}}));
  char tmpl[] = "/tmp/ac-vault-tmpdir-XXXXXX";
  const std::string tmpdir = ::mkdtemp(tmpl);
  Ran r = run_binary("ACCTL_VAULT_SOCKET=" + vault.path() + " TMPDIR=" + tmpdir +
                         " HOME=/nonexistent GH_TOKEN=agent-own",
                     "gh auth status", "");
  ASSERT_TRUE(vault.request.has_value());
  EXPECT_EQ(vault.request->get("tool"), "gh");
  // gh names where it found the token; offline it then fails to validate it.
  const std::string all = r.out + r.err;
  EXPECT_TRUE(has(all, tmpdir + "/ac-vault-gh-")) << all;
  EXPECT_TRUE(has(all, "hosts.yml")) << all;
  EXPECT_FALSE(has(all, "ghp_FAKE0123456789abcdef")) << all;
  EXPECT_FALSE(has(all, "not logged into")) << all;
  EXPECT_EQ(::rmdir(tmpdir.c_str()), 0) << "ac-vault left something in " << tmpdir;
}

}  // namespace
}  // namespace acctl::wrapper
