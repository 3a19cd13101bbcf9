// CurlEngine without an engine: what a user sees when dockerd is not there, and the exact
// requests of the hijacked streams, against a scripted stand-in for dockerd.
#include "engine/curl_engine.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

namespace acctl::engine {
namespace {

TEST(CurlEngineConnect, SaysWhereItLookedAndWhatToDo) {
  EngineOptions o;
  o.host = "unix:///nonexistent/acctl-test.sock";
  auto e = CurlEngine::connect(o);
  ASSERT_FALSE(e.ok());
  const std::string& m = e.error().message;
  EXPECT_NE(m.find("cannot connect to the Docker engine at unix:///nonexistent/acctl-test.sock"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("is dockerd running?"), std::string::npos) << m;
  EXPECT_FALSE(e.not_found());
}

TEST(CurlEngineConnect, RefusesAnUnusableAddressBeforeConnecting) {
  EngineOptions o;
  o.host = "ssh://me@host";
  auto e = CurlEngine::connect(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("scheme ssh"), std::string::npos) << e.error().message;
}

// A stand-in for dockerd on a unix socket in a temporary directory: each request gets what the
// script answers, and every request is kept for the test to look at.
class ScriptedEngine {
 public:
  struct Request {
    std::string method, target, body;
    std::map<std::string, std::string> headers;  // names lower-cased
  };
  struct Reply {
    std::string bytes;
    // Set for an upgrade: after `bytes`, speaks the raw stream on the connection's socket; the
    // connection ends when it returns.
    std::function<void(int fd)> hijack{};
  };
  using Script = std::function<Reply(const Request&)>;

  explicit ScriptedEngine(Script script) : script_(std::move(script)) {
    char dir[] = "/tmp/acctl-scripted-XXXXXX";
    if (!mkdtemp(dir)) return;
    dir_ = dir;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir_ + "/docker.sock";
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener_, 8) != 0 || pipe(stop_) != 0) {
      return;
    }
    host_ = "unix://" + path;
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedEngine() {
    if (acceptor_.joinable()) {
      (void)!write(stop_[1], "x", 1);
      acceptor_.join();
    }
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      for (int fd : connections_) shutdown(fd, SHUT_RDWR);
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
    for (int fd : connections_) close(fd);
    for (int fd : {listener_, stop_[0], stop_[1]})
      if (fd >= 0) close(fd);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Empty when the socket could not be set up.
  const std::string& host() const { return host_; }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  static bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything the client sends until it half-closes.
  static std::string read_to_eof(int fd) {
    std::string all;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) all.append(chunk, static_cast<std::size_t>(n));
    return all;
  }

  static std::string json_reply(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  static constexpr const char* kUpgraded =
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
  // One frame of the engine's multiplexed stream.
  static std::string frame(LogStream stream, const std::string& payload) {
    std::string h(8, '\0');
    h[0] = static_cast<char>(stream);
    for (int i = 0; i < 4; ++i) h[7 - i] = static_cast<char>(payload.size() >> (8 * i) & 0xff);
    return h + payload;
  }

 private:
  void accept_loop() {
    while (true) {
      pollfd p[2] = {{listener_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (poll(p, 2, -1) < 0) return;
      if (p[1].revents) return;
      int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      connections_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Answers requests on one connection until the client closes it or an upgrade ends.
  void serve(int fd) {
    std::string buffer;
    char chunk[4096];
    while (true) {
      std::size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      Request r;
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      r.method = first.substr(0, first.find(' '));
      r.target = first.substr(r.method.size() + 1, first.rfind(' ') - r.method.size() - 1);
      for (std::size_t at = line_end; at != std::string::npos && at < head.size();) {
        std::size_t next = head.find("\r\n", at + 2);
        std::string line = head.substr(at + 2, next == std::string::npos ? next : next - at - 2);
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto value = line.find_first_not_of(' ', colon + 1);
        r.headers[name] = value == std::string::npos ? "" : line.substr(value);
        at = next;
      }
      std::size_t length =
          r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
      while (buffer.size() < length) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      r.body = buffer.substr(0, length);
      buffer.erase(0, length);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
      }
      Reply reply = script_(r);
      if (!send_all(fd, reply.bytes)) return;
      if (reply.hijack) {
        reply.hijack(fd);
        shutdown(fd, SHUT_RDWR);  // the end of the stream, as when the process exits
        return;
      }
    }
  }

  Script script_;
  std::string dir_, host_;
  int listener_ = -1;
  int stop_[2] = {-1, -1};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
  std::vector<Request> requests_;
};

constexpr const char* kVersion = R"({"Version":"20.10.24","ApiVersion":"1.41","Os":"linux"})";

// The engine's reply to GET /exec/e1/json before the start, with the given Tty.
std::string fresh_exec(bool tty) {
  return std::string(R"({"ID":"e1","ContainerID":"c1","Running":false,"ExitCode":null,"Pid":0,)") +
         R"("ProcessConfig":{"tty":)" + (tty ? "true" : "false") + "}}";
}

Result<std::unique_ptr<CurlEngine>> connect_to(const ScriptedEngine& server) {
  EngineOptions o;
  o.host = server.host();
  o.request_timeout_ms = 10000;
  return CurlEngine::connect(o);
}

TEST(CurlEngineExec, StartUpgradesWithTheStartBodyAndDemultiplexes) {
  ScriptedEngine server([](const ScriptedEngine::Request& r) -> ScriptedEngine::Reply {
    if (r.target == "/version") return {ScriptedEngine::json_reply(200, kVersion)};
    if (r.target == "/v1.41/containers/c1/exec") {
      return {ScriptedEngine::json_reply(201, R"({"Id":"e1"})")};
    }
    if (r.target == "/v1.41/exec/e1/json")
      return {ScriptedEngine::json_reply(200, fresh_exec(false))};
    if (r.target == "/v1.41/exec/e1/start") {
      // Some output comes with the reply head, the rest after stdin's end, as cat's would.
      return {
          std::string(ScriptedEngine::kUpgraded) + ScriptedEngine::frame(LogStream::kStderr, "hi"),
          [](int fd) {
            std::string in = ScriptedEngine::read_to_eof(fd);
            ScriptedEngine::send_all(fd, ScriptedEngine::frame(LogStream::kStdout, in));
          }};
    }
    return {ScriptedEngine::json_reply(404, R"({"message":"page not found"})")};
  });
  ASSERT_FALSE(server.host().empty()) << "cannot listen on a unix socket";
  auto engine = connect_to(server);
  ASSERT_TRUE(engine.ok()) << engine.error().message;

  auto id = (*engine)->create_exec("c1", {.cmd = {"cat"}, .attach_stdin = true});
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "e1");
  auto stream = (*engine)->start_exec(*id, false);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_FALSE((*stream)->tty());
  ASSERT_TRUE((*stream)->write("typed\n").ok());
  ASSERT_TRUE((*stream)->close_stdin().ok());
  std::string out, err;
  ASSERT_TRUE((*stream)
                  ->read_to_end([&](LogStream s, std::string_view b) {
                    (s == LogStream::kStderr ? err : out).append(b);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(out, "typed\n");
  EXPECT_EQ(err, "hi");
  EXPECT_FALSE((*stream)->resize(24, 80).ok()) << "the exec has no TTY";

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  const auto& create = requests[1];
  EXPECT_EQ(create.method, "POST");
  EXPECT_NE(create.body.find(R"("Cmd":["cat"])"), std::string::npos) << create.body;
  EXPECT_NE(create.body.find(R"("AttachStdin":true)"), std::string::npos) << create.body;
  EXPECT_EQ(requests[2].target, "/v1.41/exec/e1/json") << "start inspects first";
  const auto& start = requests[3];
  EXPECT_EQ(start.method, "POST");
  EXPECT_EQ(start.body, R"({"Detach":false,"Tty":false})");
  EXPECT_EQ(start.headers.at("content-type"), "application/json");
  EXPECT_EQ(start.headers.at("content-length"), std::to_string(start.body.size()));
  EXPECT_EQ(start.headers.at("connection"), "Upgrade");
  EXPECT_EQ(start.headers.at("upgrade"), "tcp");
}

TEST(CurlEngineExec, TtyStreamIsRawAndResizesTheExec) {
  ScriptedEngine server([](const ScriptedEngine::Request& r) -> ScriptedEngine::Reply {
    if (r.target == "/version") return {ScriptedEngine::json_reply(200, kVersion)};
    if (r.target == "/v1.41/exec/e1/json")
      return {ScriptedEngine::json_reply(200, fresh_exec(true))};
    if (r.target == "/v1.41/exec/e1/start") {
      return {std::string(ScriptedEngine::kUpgraded) + "$ ",
              [](int fd) { ScriptedEngine::read_to_eof(fd); }};
    }
    if (r.target == "/v1.41/exec/e1/resize?h=33&w=101")
      return {ScriptedEngine::json_reply(201, "")};
    return {ScriptedEngine::json_reply(404, R"({"message":"page not found"})")};
  });
  ASSERT_FALSE(server.host().empty());
  auto engine = connect_to(server);
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  auto stream = (*engine)->start_exec("e1", true);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_TRUE((*stream)->tty());
  auto resized = (*stream)->resize(33, 101);
  EXPECT_TRUE(resized.ok()) << resized.error().message;
  std::string seen;
  auto r = (*stream)->read(
      [&](LogStream s, std::string_view b) {
        EXPECT_EQ(s, LogStream::kRaw);
        seen.append(b);
        return true;
      },
      std::chrono::milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, "$ ");
  ASSERT_TRUE((*stream)->close_stdin().ok());
  EXPECT_TRUE((*stream)->read_to_end([](LogStream, std::string_view) { return true; }).ok());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[2].target, "/v1.41/exec/e1/start");
  EXPECT_EQ(requests[2].body, R"({"Detach":false,"Tty":true})");
  EXPECT_EQ(requests[3].method, "POST");
  EXPECT_EQ(requests[3].target, "/v1.41/exec/e1/resize?h=33&w=101");
}

TEST(CurlEngineExec, RefusalsComeBeforeAnyUpgrade) {
  std::string exec_state = R"({"ID":"e1","Running":false,"ExitCode":0,"ProcessConfig":{}})";
  ScriptedEngine server([&](const ScriptedEngine::Request& r) -> ScriptedEngine::Reply {
    if (r.target == "/version") return {ScriptedEngine::json_reply(200, kVersion)};
    if (r.target == "/v1.41/exec/e1/json") return {ScriptedEngine::json_reply(200, exec_state)};
    if (r.target == "/v1.41/exec/e2/json")
      return {ScriptedEngine::json_reply(200, fresh_exec(false))};
    if (r.target == "/v1.41/exec/e2/start") {
      // The engine's refusal on the upgrade request itself: no length, connection closed after.
      return {
          "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n"
          R"({"message":"Container c1 is not running"})",
          [](int) {}};
    }
    if (r.target == "/v1.41/containers/c1/exec") {
      return {ScriptedEngine::json_reply(409, R"({"message":"Container c1 is not running"})")};
    }
    return {ScriptedEngine::json_reply(404, R"({"message":"No such exec instance: x"})")};
  });
  ASSERT_FALSE(server.host().empty());
  auto engine = connect_to(server);
  ASSERT_TRUE(engine.ok()) << engine.error().message;

  auto created = (*engine)->create_exec("c1", {.cmd = {"true"}});
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(created.error().conflict());
  EXPECT_EQ(created.error().message, "create exec in container c1: Container c1 is not running");

  auto twice = (*engine)->start_exec("e1", false);
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(twice.error().conflict()) << twice.error().message;
  auto mismatch = (*engine)->start_exec("e2", true);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("without a TTY"), std::string::npos);
  EXPECT_TRUE((*engine)->start_exec("nothing", false).not_found());
  auto stopped = (*engine)->start_exec("e2", false);
  ASSERT_FALSE(stopped.ok());
  EXPECT_TRUE(stopped.error().conflict());
  EXPECT_EQ(stopped.error().message, "start exec e2: Container c1 is not running");
  for (const auto& r : server.requests()) {
    EXPECT_NE(r.target, "/v1.41/exec/e1/start") << "a second start never reaches the engine";
  }

  auto info = (*engine)->inspect_exec("e1");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->exit_code, 0);
}

TEST(CurlEngineAttach, GoesThroughTheSameUpgradeAndResizesTheContainer) {
  ScriptedEngine server([](const ScriptedEngine::Request& r) -> ScriptedEngine::Reply {
    if (r.target == "/version") return {ScriptedEngine::json_reply(200, kVersion)};
    if (r.target == "/v1.41/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=0") {
      return {
          std::string(ScriptedEngine::kUpgraded) + ScriptedEngine::frame(LogStream::kStdout, "up"),
          [](int fd) { ScriptedEngine::read_to_eof(fd); }};
    }
    if (r.target == "/v1.41/containers/c1/resize?h=24&w=80")
      return {ScriptedEngine::json_reply(200, "")};
    return {ScriptedEngine::json_reply(404, R"({"message":"page not found"})")};
  });
  ASSERT_FALSE(server.host().empty());
  auto engine = connect_to(server);
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  AttachOptions o;
  o.tty = false;
  auto stream = (*engine)->attach_container("c1", o);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  auto resized = (*stream)->resize(24, 80);
  EXPECT_TRUE(resized.ok()) << resized.error().message;
  ASSERT_TRUE((*stream)->close_stdin().ok());
  std::string out;
  ASSERT_TRUE((*stream)
                  ->read_to_end([&](LogStream, std::string_view b) {
                    out.append(b);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(out, "up");
  auto attach = server.requests()[1];
  EXPECT_EQ(attach.headers.at("content-type"), "text/plain");
  EXPECT_EQ(attach.headers.count("content-length"), 0u);
  EXPECT_EQ(attach.headers.at("upgrade"), "tcp");
}

}  // namespace
}  // namespace acctl::engine
