// gate_tls against the openssl command line over loopback sockets: a client session talking to
// `openssl s_server`, and `openssl s_client` talking to a server session.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "gate/tls/gate_ca.h"
#include "gate/tls/tls_session.h"
#include "gate/tls/tls_test_support.h"
#include "support/run_command.h"

namespace acctl::gate {
namespace {

using testing::leaf_of;
using testing::pem_of;
using testing::TempDir;
using testing::TestCa;
using State = TlsSession::State;

constexpr int kTimeoutMs = 10000;

using acctl::test_support::CommandResult;
using acctl::test_support::run_command;

bool have_openssl() {
  return run_command("command -v openssl").status == 0;
}

// Waits up to kTimeoutMs for bytes; appends them. False on end of stream, error or timeout.
bool receive(int fd, std::string& out) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kTimeoutMs) <= 0) return false;
  char buffer[16384];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  if (n <= 0) return false;
  out.append(buffer, static_cast<size_t>(n));
  return true;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

UniqueFd connect_to(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in addr = loopback(port);
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return UniqueFd();
  }
  return fd;
}

// Drives `session` over the socket until its handshake is over.
State handshake(TlsSession& session, int fd) {
  while (true) {
    const State state = session.advance();
    if (!send_all(fd, session.take_output())) return session.advance();
    if (state != State::kHandshaking) return state;
    std::string in;
    if (!receive(fd, in)) return session.advance();
    session.feed(in);
  }
}

// `openssl s_server -www` on 127.0.0.1, on the ephemeral port it reports; killed at the end.
class SServer {
 public:
  SServer() = default;
  SServer(const SServer&) = delete;
  SServer& operator=(const SServer&) = delete;
  ~SServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

  // Starts it and waits for its "ACCEPT 127.0.0.1:PORT" line; false if that never comes.
  bool start(const std::string& cert, const std::string& key, const std::string& log) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return false;
    UniqueFd read_end(ends[0]);
    UniqueFd write_end(ends[1]);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      const int null = ::open("/dev/null", O_RDONLY);
      if (log_fd < 0 || null < 0 || ::dup2(write_end.get(), 1) < 0 || ::dup2(log_fd, 2) < 0 ||
          ::dup2(null, 0) < 0) {
        ::_exit(126);
      }
      ::execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert.c_str(),
               "-key", key.c_str(), "-www", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    write_end.reset();
    std::string out;
    while (out.find('\n', out.find("ACCEPT 127.0.0.1:")) == std::string::npos) {
      if (!receive_from_pipe(read_end.get(), out)) return false;
    }
    port_ = static_cast<uint16_t>(std::stoi(out.substr(out.find("ACCEPT 127.0.0.1:") + 17)));
    // s_server writes little more to stdout; the pipe stays open so it never gets SIGPIPE.
    stdout_ = std::move(read_end);
    return port_ != 0;
  }
  uint16_t port() const { return port_; }

 private:
  static bool receive_from_pipe(int fd, std::string& out) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kTimeoutMs) <= 0) return false;
    char buffer[512];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return false;
    out.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  UniqueFd stdout_;
  uint16_t port_ = 0;
};

// A CA in a temp folder, with a github.com leaf minted from it and written out for s_server.
class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_openssl()) GTEST_SKIP() << "openssl is not installed (Debian: openssl)";
    ASSERT_TRUE(dir_.ok());
    std::optional<TestCa> ca = TestCa::make();
    ASSERT_TRUE(ca);
    ca_.emplace(std::move(*ca));
    ca_file_ = dir_.write("ca.pem", ca_->pem.cert_pem);
    Result<std::shared_ptr<SSL_CTX>> server = ca_->minter.server_context("github.com");
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_context_ = *server;
  }

  TempDir dir_;
  std::optional<TestCa> ca_;
  std::string ca_file_;
  std::shared_ptr<SSL_CTX> server_context_;
};

TEST_F(InteropTest, ClientSessionTalksToOpensslSServer) {
  const std::string leaf = dir_.write("leaf.pem", pem_of(leaf_of(*server_context_)));
  const std::string key =
      dir_.write("key.pem", pem_of(*SSL_CTX_get0_privatekey(server_context_.get())));
  SServer s_server;
  ASSERT_TRUE(s_server.start(leaf, key, dir_.path() + "/s_server.log"))
      << "openssl s_server did not start";

  Result<std::shared_ptr<SSL_CTX>> trusting = make_upstream_context({ca_file_});
  ASSERT_TRUE(trusting.ok()) << trusting.error().message;
  {
    UniqueFd fd = connect_to(s_server.port());
    ASSERT_TRUE(fd);
    auto session = TlsSession::client(**trusting, "github.com");
    ASSERT_EQ(handshake(*session, fd.get()), State::kOpen) << session->error();
    session->write("GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(send_all(fd.get(), session->take_output()));
    std::string response;
    std::string in;
    while (session->advance() == State::kOpen && receive(fd.get(), in)) {
      session->feed(in);
      in.clear();
      session->read(response);
    }
    EXPECT_EQ(response.rfind("HTTP/1.0 200 ok\r\n", 0), 0u) << response;
    EXPECT_NE(response.find("s_server"), std::string::npos);
  }

  Result<std::shared_ptr<SSL_CTX>> system_only = make_upstream_context({});
  ASSERT_TRUE(system_only.ok()) << system_only.error().message;
  {
    UniqueFd fd = connect_to(s_server.port());
    ASSERT_TRUE(fd);
    auto session = TlsSession::client(**system_only, "github.com");
    EXPECT_EQ(handshake(*session, fd.get()), State::kFailed);
    EXPECT_EQ(session->error(),
              "upstream certificate not trusted: unable to get local issuer certificate");
  }
  {
    UniqueFd fd = connect_to(s_server.port());
    ASSERT_TRUE(fd);
    auto session = TlsSession::client(**trusting, "gitlab.com");
    EXPECT_EQ(handshake(*session, fd.get()), State::kFailed);
    EXPECT_EQ(session->error(), "certificate does not match host gitlab.com");
  }
}

// What a server session saw of one connection.
struct Served {
  State state = State::kHandshaking;
  std::string error;
  std::string sni;
  std::string alpn;
};

// Accepts one connection on `listener` and serves a server session on it until the client is
// done: the peer's close_notify is answered with ours.
Served serve_one(int listener, SSL_CTX& context) {
  Served served;
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, kTimeoutMs) <= 0) return served;
  UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return served;
  auto session = TlsSession::server(context);
  std::string plaintext;
  while (true) {
    session->read(plaintext);
    const State state = session->advance();
    if (state == State::kClosed) session->shutdown();
    if (!send_all(fd.get(), session->take_output())) break;
    if (state == State::kClosed || state == State::kFailed) break;
    std::string in;
    if (!receive(fd.get(), in)) break;
    session->feed(in);
  }
  served.state = session->advance();
  served.error = session->error();
  served.sni = session->sni();
  served.alpn = session->alpn();
  return served;
}

class SClientTest : public InteropTest {
 protected:
  void SetUp() override {
    InteropTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback(0);
    socklen_t length = sizeof addr;
    ASSERT_TRUE(listener_);
    ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener_.get(), 4), 0);
    ASSERT_EQ(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &length), 0);
    port_ = ntohs(addr.sin_port);
  }

  // Runs s_client with `flags` against one served connection.
  std::pair<CommandResult, Served> s_client(const std::string& flags) {
    Served served;
    std::thread server([&] { served = serve_one(listener_.get(), *server_context_); });
    CommandResult result = run_command(
        "timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port_) + " -CAfile " +
        ca_file_ + " -verify_return_error -brief " + flags + " </dev/null");
    server.join();
    return {result, served};
  }

  UniqueFd listener_;
  uint16_t port_ = 0;
};

TEST_F(SClientTest, VerifiesTheMintedLeaf) {
  auto [result, served] =
      s_client("-servername github.com -verify_hostname github.com -alpn h2,http/1.1");
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("Verification: OK"), std::string::npos) << result.output;
  EXPECT_EQ(served.sni, "github.com");
  EXPECT_EQ(served.alpn, "http/1.1");
  EXPECT_NE(served.state, State::kFailed) << served.error;
}

TEST_F(SClientTest, RejectsTheLeafForAnotherName) {
  auto [result, served] = s_client("-servername other.example -verify_hostname other.example");
  EXPECT_NE(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("hostname mismatch"), std::string::npos) << result.output;
  EXPECT_EQ(served.sni, "other.example");
  EXPECT_EQ(served.state, State::kFailed);
}

}  // namespace
}  // namespace acctl::gate
