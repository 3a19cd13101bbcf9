// The real server on a socket in a temp dir, with real /proc: concurrent clients, deadlines,
// malformed frames, the client cap, the socket's directory; and the built ac-vaultd binary.
#include "vault/vault_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/syscall.h"

namespace acctl::vault {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "ghp_servertest_0123456789";

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Real /proc, but this process is where the chain ends (as a `docker exec` would): what runs
// the tests above it is no business of theirs.
class ChainEndsHere : public ProcReader {
 public:
  Result<ProcessInfo> read(pid_t pid) override {
    auto p = real_.read(pid);
    if (p && pid == ::getpid()) p->ppid = 0;
    return p;
  }
  uint64_t boot_ticks_now() override { return real_.boot_ticks_now(); }

 private:
  RealProcReader real_;
};

std::string make_temp_dir() {
  char tmpl[] = "/tmp/vault-server-XXXXXX";
  return ::mkdtemp(tmpl) ? tmpl : "";
}

UniqueFd connect_to(const std::string& path) {
  auto fd = open_socket(AF_UNIX, SOCK_STREAM);
  if (!fd) return UniqueFd();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return std::move(*fd);
}

// Waits until the server closes `fd` (or `limit` passes); returns how long that took.
Clock::duration time_to_close(int fd, Clock::duration limit) {
  const auto start = Clock::now();
  char c;
  while (Clock::now() - start < limit) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0 && ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0) break;
  }
  return Clock::now() - start;
}

Message ping() {
  Message m;
  m.set(key::kOp, op::kPing);
  return m;
}

Message gh_request() {
  Message m;
  m.set(key::kOp, op::kToken);
  m.set(key::kProvider, "github");
  m.set(key::kHost, "github.com");
  m.set(key::kTool, "gh");
  m.set(key::kArgs, args_field({"pr", "list"}));
  return m;
}

class VaultServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir();
    ASSERT_FALSE(dir.empty());
    socket_path = dir + "/run/vault.sock";
    config.socket_path = socket_path;
    config.owner = ::geteuid();
    config.deadline = 1500ms;
    config.max_clients = 8;
    config.policy.agent_uid = ::getuid();
    config.policy.wrapper = self_exe();
  }
  void TearDown() override {
    if (server_thread.joinable()) {
      (void)write_all(stop.write.get(), "x");
      server_thread.join();
      EXPECT_TRUE(served) << served.error().message;
    }
    ::unlink(socket_path.c_str());
    ::rmdir((dir + "/run").c_str());
    ::rmdir(dir.c_str());
  }

  void start() {
    auto listener = listen_vault_socket(socket_path, config.owner);
    ASSERT_TRUE(listener) << listener.error().message;
    auto pipe = make_pipe();
    ASSERT_TRUE(pipe);
    stop = std::move(*pipe);
    Tokens tokens;
    tokens.github.emplace(kToken);
    server = std::make_unique<VaultServer>(config, std::move(tokens), proc, std::move(*listener),
                                           [this](std::string_view line) {
                                             std::lock_guard lock(log_mutex);
                                             log.emplace_back(line);
                                           });
    server_thread = std::thread([this] { served = server->serve(stop.read.get()); });
  }

  std::vector<std::string> log_lines() {
    std::lock_guard lock(log_mutex);
    return log;
  }

  std::string dir;
  std::string socket_path;
  ServerConfig config;
  ChainEndsHere proc;
  Pipe stop;
  std::unique_ptr<VaultServer> server;
  std::thread server_thread;
  Status served = ok_status();
  std::mutex log_mutex;
  std::vector<std::string> log;
};

TEST_F(VaultServerTest, AnswersPingAndHandsTheTokenToTheWrapper) {
  start();
  auto pong = exchange(socket_path, ping(), 2000);
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->fields, (decltype(pong->fields){{"status", "ok"}}));

  auto reply = exchange(socket_path, gh_request(), 2000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->get(key::kStatus), "ok") << reply->get(key::kReason).value_or("");
  EXPECT_EQ(reply->get(key::kToken), kToken);

  const auto lines = log_lines();
  const std::string pid = std::to_string(::getpid());
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "vault: allowed token github.com for pid " + pid + " (gh pr list)"),
            lines.end());
  for (const auto& line : lines) EXPECT_EQ(line.find(kToken), std::string::npos) << line;
}

TEST_F(VaultServerTest, RefusesAGitCredentialWithoutGit) {
  start();
  Message m;
  m.set(key::kOp, op::kGitCredential);
  m.set(key::kProtocol, "https");
  m.set(key::kHost, "github.com");
  auto reply = exchange(socket_path, m, 2000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->get(key::kStatus), "refused");
  EXPECT_EQ(reply->get(key::kReason), "no git command asked for the credential");
  EXPECT_FALSE(reply->get(key::kPassword));
}

TEST_F(VaultServerTest, RefusesACallerThatIsNotTheWrapper) {
  config.policy.wrapper = "/opt/acctl/bin/ac-vault";
  start();
  auto reply = exchange(socket_path, gh_request(), 2000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->get(key::kStatus), "refused");
  EXPECT_EQ(reply->get(key::kReason),
            "the caller is " + self_exe() + ", not the vault client /opt/acctl/bin/ac-vault");
}

TEST_F(VaultServerTest, IdleAndTricklingClientsDoNotDelayOthers) {
  start();
  UniqueFd idle = connect_to(socket_path);
  UniqueFd trickle = connect_to(socket_path);
  ASSERT_TRUE(idle && trickle);
  ASSERT_TRUE(write_all(trickle.get(), "\0\0"s));
  const auto idle_since = Clock::now();

  // Several at once: all connected and sent before any reply is read.
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(connect_to(socket_path));
    ASSERT_TRUE(clients.back());
    ASSERT_TRUE(send_message(clients.back().get(), i % 2 ? ping() : gh_request()));
  }
  const auto start_replies = Clock::now();
  for (size_t i = 0; i < clients.size(); ++i) {
    auto reply = receive_message(clients[i].get(), 1000);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->get(key::kStatus), "ok");
  }
  EXPECT_LT(Clock::now() - start_replies, 500ms);

  // The idle one lasts until its deadline, 1.5 s after it was accepted, and not much longer.
  (void)time_to_close(idle.get(), 4s);
  EXPECT_GE(Clock::now() - idle_since, 1400ms);
  EXPECT_LT(Clock::now() - idle_since, 3s);
  EXPECT_LT(time_to_close(trickle.get(), 1s), 1s);  // dropped with the idle one
  const auto lines = log_lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) {
                            return l.find("no whole request within 1500 ms") != std::string::npos;
                          }),
            2);
}

TEST_F(VaultServerTest, RefusesAGarbageFrameAndCloses) {
  start();
  UniqueFd c = connect_to(socket_path);
  ASSERT_TRUE(c);
  ASSERT_TRUE(write_all(c.get(), "\0\0\0\x10GET / HTTP/1.1\r\n"s));
  auto reply = receive_message(c.get(), 1000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->get(key::kStatus), "refused");
  EXPECT_EQ(reply->get(key::kReason), "the request is malformed: a line has no '='");
  EXPECT_LT(time_to_close(c.get(), 1s), 1s);
}

TEST_F(VaultServerTest, RefusesAnOversizeLengthAtOnce) {
  start();
  UniqueFd c = connect_to(socket_path);
  ASSERT_TRUE(c);
  // More follows the length: the server reads none of it, replies and closes all the same.
  ASSERT_TRUE(write_all(c.get(), "\x7f\xff\xff\xff"s + std::string(1000, 'x')));
  auto reply = receive_message(c.get(), 1000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->get(key::kReason),
            "the request is malformed: frame of 2147483647 bytes is larger than the 16384-byte "
            "limit");
}

TEST_F(VaultServerTest, ClosesConnectionsBeyondTheCapAtOnce) {
  start();
  std::vector<UniqueFd> idle;
  for (size_t i = 0; i < config.max_clients; ++i) {
    idle.push_back(connect_to(socket_path));
    ASSERT_TRUE(idle.back());
  }
  // Accepted in the order they connected: this one is one too many.
  UniqueFd extra = connect_to(socket_path);
  ASSERT_TRUE(extra);
  (void)send_message(extra.get(), ping());  // may already find it closed
  const auto start_wait = Clock::now();
  auto reply = receive_message(extra.get(), 1000);
  EXPECT_FALSE(reply);
  EXPECT_LT(Clock::now() - start_wait, 500ms);
  const auto lines = log_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "vault: refused a connection: 8 clients are already being served");

  // One leaves: once the server has seen it go, there is room again.
  idle.pop_back();
  const auto left_at = Clock::now();
  while (Clock::now() - left_at < 1s &&
         log_lines().back().find("closed the connection") == std::string::npos)
    std::this_thread::yield();
  auto pong = exchange(socket_path, ping(), 1000);
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->get(key::kStatus), "ok");
}

TEST_F(VaultServerTest, ReplacesAStaleSocketAndOpensItToEveryone) {
  start();
  struct stat st;
  ASSERT_EQ(::stat(socket_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  ASSERT_EQ(::stat((dir + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  // A second server on the same path: the first one's socket counts as stale.
  auto again = listen_vault_socket(socket_path, config.owner);
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(VaultServerTest, RefusesAnUnsafeSocketDirectory) {
  ASSERT_EQ(::mkdir((dir + "/run").c_str(), 0777), 0);
  ASSERT_EQ(::chmod((dir + "/run").c_str(), 0777), 0);
  auto l = listen_vault_socket(socket_path, config.owner);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message, dir + "/run is writable by group or others");
  EXPECT_FALSE(listen_vault_socket(socket_path, config.owner + 1));
  ASSERT_EQ(::rmdir((dir + "/run").c_str()), 0);

  ASSERT_EQ(::symlink("/tmp", (dir + "/run").c_str()), 0);
  l = listen_vault_socket(socket_path, config.owner);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message, dir + "/run is a symlink");
  ASSERT_EQ(::unlink((dir + "/run").c_str()), 0);
}

TEST_F(VaultServerTest, RefusesAFileInTheSocketsPlace) {
  ASSERT_EQ(::mkdir((dir + "/run").c_str(), 0755), 0);
  std::ofstream(socket_path) << "x";
  auto l = listen_vault_socket(socket_path, config.owner);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message, socket_path + " exists and is not a socket");
}

#ifdef ACCTL_VAULTD
// The built binary: usage and start failures, then ready, a ping, SIGTERM.
class VaultDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir();
    ASSERT_FALSE(dir.empty());
  }
  void TearDown() override {
    for (const char* f : {"/secrets/github", "/run/vault.sock"}) ::unlink((dir + f).c_str());
    for (const char* d : {"/secrets", "/run", ""}) ::rmdir((dir + d).c_str());
  }
  // Runs the daemon; returns its pid, with its ready pipe's read end in `ready`.
  pid_t spawn(std::vector<std::string> args, UniqueFd& ready) {
    auto pipe = make_pipe();
    if (!pipe) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::dup(pipe->write.get());  // not close-on-exec
      args.insert(args.begin(), ACCTL_VAULTD);
      args.push_back("--ready-fd");
      args.push_back(std::to_string(fd));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ready = std::move(pipe->read);
    return pid;
  }
  int wait_for(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string dir;
};

TEST_F(VaultDaemonTest, UsageErrorsExit2AndStartFailuresExit1) {
  UniqueFd ready;
  EXPECT_EQ(wait_for(spawn({"--frobnicate"}, ready)), 2);
  EXPECT_EQ(
      wait_for(spawn({"--secrets", dir + "/missing", "--socket", dir + "/run/vault.sock"}, ready)),
      1);
}

TEST_F(VaultDaemonTest, AnnouncesReadinessAnswersPingAndStopsOnSigterm) {
  if (::geteuid() != 0) GTEST_SKIP() << "the daemon wants root-owned secrets and socket dir";
  ASSERT_EQ(::mkdir((dir + "/secrets").c_str(), 0700), 0);
  { std::ofstream(dir + "/secrets/github") << kToken << "\n"; }
  ASSERT_EQ(::chmod((dir + "/secrets/github").c_str(), 0600), 0);
  const std::string sock = dir + "/run/vault.sock";
  UniqueFd ready;
  const pid_t pid = spawn({"--secrets", dir + "/secrets", "--socket", sock}, ready);
  ASSERT_GT(pid, 0);
  auto said = read_all(ready.get());
  ASSERT_TRUE(said);
  EXPECT_EQ(*said, "ready\n");

  auto pong = exchange(sock, ping(), 2000);
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->get(key::kStatus), "ok");
  auto refused = exchange(sock, gh_request(), 2000);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->get(key::kStatus), "refused");
  EXPECT_FALSE(refused->get(key::kToken));

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(wait_for(pid), 0);
}
#endif

}  // namespace
}  // namespace acctl::vault
