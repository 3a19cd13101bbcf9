// Loopback tests of the real ac-gate binary with real clients (dig, curl, openssl) and local
// upstreams (an in-test HTTP server and `openssl s_server` with a test certificate).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "gate/gate_config.h"
#include "gate/policy_check.h"
#include "support/run_command.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using acctl::gate::check_egress;
using acctl::gate::EgressCheck;
using acctl::gate::GateConfig;
using acctl::gate::parse_gate_config;

using acctl::test_support::CommandResult;
using acctl::test_support::run_command;

bool have(const char* tool) {
  return run_command(std::string("command -v ") + tool).status == 0;
}

// Whether `port` on loopback can be bound now, for TCP and for UDP (the gate's DNS has both).
bool bindable(uint16_t port) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

// A port for a listener the test starts. Below the kernel's ephemeral range: a port the kernel
// handed out and the test let go would be any client's next source port (curl's, dig's, those
// of the tests running beside this one), and the listener would then find it taken.
uint16_t free_port() {
  static std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  unsigned low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
  const unsigned top = std::max(low, 12000u);
  std::uniform_int_distribution<unsigned> pick(10000, top - 1);
  for (int tries = 0; tries < 1000; ++tries) {
    const auto port = static_cast<uint16_t>(pick(random));
    if (bindable(port)) return port;
  }
  ADD_FAILURE() << "no free loopback port below " << top;
  return 0;
}

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Polls until something accepts on `port`: processes started by the test need a moment.
bool wait_for_port(uint16_t port) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    const int fd = connect_to(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Reads until EOF or `timeout`; returns what arrived and whether EOF was seen.
std::pair<std::string, bool> read_all(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return {out, true};
    out.append(buffer, static_cast<size_t>(n));
  }
  return {out, false};
}

// A child process (ac-gate, openssl s_server), killed when the object goes away.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }

  void start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::string& cwd = "") {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// A plain HTTP/1.1 origin: answers every request with the request line it received, then
// closes. One thread per connection: enough for a test, and easy to trust.
class HttpUpstream {
 public:
  HttpUpstream() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 4096);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~HttpUpstream() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard lock(mutex_);
    for (std::thread& worker : workers_) worker.join();
  }
  uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mutex_);
      workers_.emplace_back([fd] { serve(fd); });
    }
  }
  static void serve(int fd) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      head.append(buffer, static_cast<size_t>(n));
    }
    const std::string body = "upstream-ok " + head.substr(0, head.find("\r\n")) + "\n";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    read_all(fd, std::chrono::milliseconds(2000));
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

constexpr const char* kGateIp = "127.0.0.53";

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"curl", "openssl", "dig"}) {
      if (!have(tool))
        GTEST_SKIP() << tool << " is not installed (Debian: curl, openssl, bind9-dnsutils)";
    }
    char pattern[] = "/tmp/gate-it-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    // A test CA and a server certificate for tls.test and other.test.
    const CommandResult ca = run_command(
        "cd " + dir_ +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
        "ca.key -out ca.pem -days 1"
        " -subj /CN=gate-test-ca"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
        "server.key -out server.csr"
        " -subj /CN=tls.test"
        " && printf 'subjectAltName=DNS:tls.test,DNS:other.test\\n' > san.ext"
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 1 -extfile san.ext");
    ASSERT_EQ(ca.status, 0) << ca.output;
    tls_port_ = free_port();
    tls_server_.start({"openssl", "s_server", "-accept", std::to_string(tls_port_), "-cert",
                       dir_ + "/server.pem", "-key", dir_ + "/server.key", "-www", "-quiet"},
                      dir_ + "/s_server.log");
    ASSERT_TRUE(wait_for_port(tls_port_)) << "openssl s_server did not start";
    dns_port_ = free_port();
    http_port_ = free_port();
    https_port_ = free_port();
    proxy_port_ = free_port();
    control_port_ = free_port();
    config_path_ = dir_ + "/gate.json";
    audit_path_ = dir_ + "/audit.jsonl";
  }

  void TearDown() override {
    gate_.stop();
    tls_server_.stop();
    if (!dir_.empty() && !HasFailure()) run_command("rm -rf " + dir_);
    if (HasFailure()) std::fprintf(stderr, "gate test files kept in %s\n", dir_.c_str());
  }

  json base_config() const {
    return json{{"policy",
                 {{"allow", {"plain.test", "tls.test", "other.test", "meta.test", "*.wild.test"}},
                  {"deny", {"bad.wild.test"}},
                  {"ports", {upstream_.port(), tls_port_}},
                  {"allowCIDRs", {"127.0.0.0/8"}},
                  {"dns",
                   {{"records",
                     {{"plain.test", {"127.0.0.1"}},
                      {"tls.test", {"127.0.0.1"}},
                      {"other.test", {"127.0.0.1"}},
                      {"a.wild.test", {"127.0.0.1"}},
                      {"meta.test", {"169.254.169.254"}}}}}},
                  {"limits", {{"dnsQPS", 1000}, {"connections", 4000}}}}},
                {"gateIP", kGateIp},
                {"listen",
                 {{"dns", "127.0.0.1:" + std::to_string(dns_port_)},
                  {"http", "127.0.0.1:" + std::to_string(http_port_)},
                  {"https", "127.0.0.1:" + std::to_string(https_port_)},
                  {"proxy", "127.0.0.1:" + std::to_string(proxy_port_)},
                  {"control", "127.0.0.1:" + std::to_string(control_port_)}}},
                {"sandboxes", {{"127.0.0.1", "sb-local"}}},
                {"auditLog", audit_path_},
                {"tuning",
                 {{"headTimeoutMs", 700},
                  {"httpPort", upstream_.port()},
                  {"httpsPort", tls_port_},
                  {"connectionsPerClient", 4000}}}};
  }

  void write_config(const json& config) const { std::ofstream(config_path_) << config.dump(2); }

  void start_gate(const json& config) {
    write_config(config);
    gate_.start({ACCTL_GATE_BINARY, "--config", config_path_}, dir_ + "/gate.log");
    ASSERT_TRUE(wait_for_port(control_port_)) << run_command("cat " + dir_ + "/gate.log").output;
  }

  std::string dig(const std::string& args) const {
    return run_command("dig @127.0.0.1 -p " + std::to_string(dns_port_) + " +time=2 +tries=1 " +
                       args)
        .output;
  }

  std::string proxy() const { return "-x http://127.0.0.1:" + std::to_string(proxy_port_); }
  std::string plain_url(const std::string& path = "/") const {
    return "http://plain.test:" + std::to_string(upstream_.port()) + path;
  }
  std::string tls_url(const std::string& host = "tls.test") const {
    return "https://" + host + ":" + std::to_string(tls_port_) + "/";
  }
  std::string ca() const { return " --cacert " + dir_ + "/ca.pem "; }

  // curl, printing the body then the status code on the last line.
  CommandResult curl(const std::string& args) const {
    return run_command("curl -sS -m 10 -w '\\n%{http_code}' " + args);
  }
  static std::string status_of(const CommandResult& result) {
    return result.output.substr(result.output.rfind('\n') + 1);
  }
  // The reason header of a refusal.
  std::string refusal_reason(const std::string& args) const {
    const CommandResult result = run_command("curl -sS -m 10 -o /dev/null -D - " + args);
    const size_t at = result.output.find("X-Acctl-Gate-Reason: ");
    if (at == std::string::npos) return "(no reason header) " + result.output;
    const size_t start = at + std::string("X-Acctl-Gate-Reason: ").size();
    return result.output.substr(start, result.output.find('\r', start) - start);
  }

  std::vector<json> audit_lines() const {
    std::vector<json> lines;
    std::ifstream in(audit_path_);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }

  // The audit lines once `done` holds for them, reading again for up to 2 s: a connection's line
  // is written a moment after its client sees the close. The last lines read if it never holds.
  std::vector<json> audit_lines_when(
      const std::function<bool(const std::vector<json>&)>& done) const {
    std::vector<json> lines = audit_lines();
    for (int i = 0; i < 100 && !done(lines); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      lines = audit_lines();
    }
    return lines;
  }
  // Whether a line that `match`es is in the audit log within 2 s.
  bool audit_has(const std::function<bool(const json&)>& match) const {
    auto any = [&](const std::vector<json>& lines) {
      return std::any_of(lines.begin(), lines.end(), match);
    };
    return any(audit_lines_when(any));
  }
  static size_t count_lines(const std::vector<json>& lines,
                            const std::function<bool(const json&)>& match) {
    return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), match));
  }

  CommandResult control(const std::string& method, const std::string& path) const {
    return run_command("curl -sS -m 10 -X " + method + " -w '\\n%{http_code}' http://127.0.0.1:" +
                       std::to_string(control_port_) + path);
  }

  HttpUpstream upstream_;
  Child tls_server_;
  Child gate_;
  std::string dir_, config_path_, audit_path_;
  uint16_t tls_port_ = 0, dns_port_ = 0, http_port_ = 0, https_port_ = 0, proxy_port_ = 0,
           control_port_ = 0;
};

TEST_F(GateTest, CheckConfigValidatesAndReportsEveryProblem) {
  write_config(base_config());
  EXPECT_EQ(run_command(std::string(ACCTL_GATE_BINARY) + " --check-config " + config_path_).status,
            0);
  json bad = base_config();
  bad["policy"]["allow"].push_back("Bad Name");
  bad["gateIP"] = "nope";
  write_config(bad);
  const CommandResult result =
      run_command(std::string(ACCTL_GATE_BINARY) + " --check-config " + config_path_);
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.output.find("Bad Name"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("gateIP"), std::string::npos) << result.output;
}

TEST_F(GateTest, StartupFailsWithExit2WhenAListenerCannotBind) {
  json config = base_config();
  config["listen"]["http"] = "127.0.0.1:" + std::to_string(upstream_.port());  // taken
  write_config(config);
  const CommandResult result =
      run_command(std::string(ACCTL_GATE_BINARY) + " --config " + config_path_);
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.output.find("listen.http"), std::string::npos) << result.output;
}

TEST_F(GateTest, DnsAnswersAllowedNamesWithTheGateAndNothingElse) {
  start_gate(base_config());
  EXPECT_EQ(
      run_command("dig @127.0.0.1 -p " + std::to_string(dns_port_) + " +short plain.test").output,
      std::string(kGateIp) + "\n");
  EXPECT_EQ(
      run_command("dig @127.0.0.1 -p " + std::to_string(dns_port_) + " +short A.WILD.test").output,
      std::string(kGateIp) + "\n");
  EXPECT_NE(dig("evil.test").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(dig("bad.wild.test").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(dig("127.0.0.1").find("status: NXDOMAIN"), std::string::npos);
  const std::string aaaa = dig("plain.test AAAA");
  EXPECT_NE(aaaa.find("status: NOERROR"), std::string::npos) << aaaa;
  EXPECT_NE(aaaa.find("ANSWER: 0"), std::string::npos) << aaaa;
  const std::string txt = dig("plain.test TXT");
  EXPECT_NE(txt.find("ANSWER: 0"), std::string::npos) << txt;
  EXPECT_NE(dig("-c CH plain.test").find("status: REFUSED"), std::string::npos);
  EXPECT_EQ(
      run_command("dig @127.0.0.1 -p " + std::to_string(dns_port_) + " +tcp +short plain.test")
          .output,
      std::string(kGateIp) + "\n");
  EXPECT_NE(dig("+tcp evil.test").find("status: NXDOMAIN"), std::string::npos);
}

TEST_F(GateTest, DnsRateLimitRefusesOverTheLimit) {
  json config = base_config();
  config["policy"]["limits"]["dnsQPS"] = 3;
  start_gate(config);
  // dig's batch mode sends the queries back to back from one client.
  std::string batch;
  for (int i = 0; i < 10; ++i) batch += "plain.test\n";
  std::ofstream(dir_ + "/batch") << batch;
  const std::string out = dig("-f " + dir_ + "/batch");
  size_t refused = 0;
  for (size_t at = out.find("status: REFUSED"); at != std::string::npos;
       at = out.find("status: REFUSED", at + 1)) {
    ++refused;
  }
  EXPECT_GE(refused, 5u) << out;
  EXPECT_NE(control("GET", "/metrics")
                .output.find("acctl_gate_dns_queries_total{result=\"rate-limited\"}"),
            std::string::npos);
}

TEST_F(GateTest, HttpListenerDecidesOnHost) {
  start_gate(base_config());
  const std::string port = std::to_string(upstream_.port());
  const std::string to_gate = " --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " ";
  CommandResult ok = curl(to_gate + plain_url("/hello"));
  EXPECT_EQ(status_of(ok), "200") << ok.output;
  EXPECT_NE(ok.output.find("upstream-ok GET /hello HTTP/1.1"), std::string::npos) << ok.output;
  EXPECT_EQ(refusal_reason(to_gate + "http://evil.test:" + port + "/"), "not-allowed");
  EXPECT_EQ(refusal_reason(to_gate + "http://bad.wild.test:" + port + "/"), "deny bad.wild.test");
  EXPECT_EQ(refusal_reason(to_gate + "-H 'Host: 127.0.0.1:" + port + "' http://x.test/"),
            "ip-literal");
  EXPECT_EQ(refusal_reason(to_gate + "-H 'Host: 0x7f000001:" + port + "' http://x.test/"),
            "ip-literal");
  EXPECT_EQ(refusal_reason(to_gate + "http://plain.test:22/"), "port-not-allowed 22");
}

TEST_F(GateTest, HttpsListenerDecidesOnSniWithoutTerminatingTls) {
  start_gate(base_config());
  const std::string to_gate = " --connect-to ::127.0.0.1:" + std::to_string(https_port_) + " ";
  // The certificate verifies against the test CA: the gate relayed the upstream's TLS untouched.
  const CommandResult ok = curl(ca() + to_gate + tls_url());
  EXPECT_EQ(status_of(ok), "200") << ok.output;
  const CommandResult denied = curl("-k" + to_gate + tls_url("evil.test"));
  EXPECT_EQ(status_of(denied), "000") << denied.output;  // closed during the handshake
  const std::string gate = "127.0.0.1:" + std::to_string(https_port_);
  const CommandResult allowed = run_command("echo | openssl s_client -connect " + gate +
                                            " -servername tls.test -CAfile " + dir_ + "/ca.pem");
  EXPECT_NE(allowed.output.find("Verify return code: 0 (ok)"), std::string::npos) << allowed.output;
  const CommandResult blocked =
      run_command("echo | openssl s_client -connect " + gate + " -servername evil.test");
  EXPECT_EQ(blocked.output.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(blocked.output.find("Server certificate"), std::string::npos) << blocked.output;
  const CommandResult no_sni =
      run_command("echo | openssl s_client -connect " + gate + " -noservername");
  EXPECT_EQ(no_sni.output.find("Server certificate"), std::string::npos) << no_sni.output;
}

TEST_F(GateTest, ProxyAbsoluteFormAndConnect) {
  start_gate(base_config());
  const std::string port = std::to_string(upstream_.port());
  const CommandResult ok = curl(proxy() + " " + plain_url("/abs?q=1"));
  EXPECT_EQ(status_of(ok), "200") << ok.output;
  // Forwarded in origin form, as RFC 9112 asks of a proxy talking to an origin.
  EXPECT_NE(ok.output.find("upstream-ok GET /abs?q=1 HTTP/1.1"), std::string::npos) << ok.output;
  const CommandResult tunnel = curl(proxy() + ca() + tls_url());
  EXPECT_EQ(status_of(tunnel), "200") << tunnel.output;
  EXPECT_EQ(refusal_reason(proxy() + " http://evil.test:" + port + "/"), "not-allowed");
  EXPECT_EQ(refusal_reason(proxy() + " http://plain.test:22/"), "port-not-allowed 22");
  EXPECT_EQ(refusal_reason(proxy() + " http://127.0.0.1:" + port + "/"), "ip-literal");
  EXPECT_EQ(refusal_reason(proxy() + " http://[::1]:" + port + "/"), "ip-literal");
  EXPECT_EQ(refusal_reason(proxy() + " http://2130706433:" + port + "/"), "ip-literal");
  EXPECT_EQ(refusal_reason(proxy() + " http://meta.test:" + port + "/"),
            "link-local 169.254.0.0/16");
  // CONNECT to a denied name is answered 403 before any tunnel exists.
  const CommandResult denied = run_command("curl -sS -m 10 -o /dev/null -w '%{http_connect}' -k " +
                                           proxy() + " " + tls_url("evil.test"));
  EXPECT_EQ(denied.output.substr(denied.output.size() - 3), "403") << denied.output;

  // A tunnel must carry TLS for the CONNECT name: plain HTTP inside one (with another Host) is
  // refused, not spliced to the address the CONNECT chose.
  const int fd = connect_to(proxy_port_);
  ASSERT_GE(fd, 0);
  const std::string tls_port = std::to_string(tls_port_);
  const std::string smuggled = "CONNECT tls.test:" + tls_port +
                               " HTTP/1.1\r\nHost: tls.test:" + tls_port +
                               "\r\n\r\nGET / HTTP/1.1\r\nHost: evil.test\r\n\r\n";
  ::send(fd, smuggled.data(), smuggled.size(), MSG_NOSIGNAL);
  const auto [got, closed] = read_all(fd, std::chrono::seconds(5));
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(audit_has([](const json& line) { return line["reason"] == "tunnel-not-tls"; }))
      << got;
}

TEST_F(GateTest, NameHostConnectAndSniMustAgree) {
  start_gate(base_config());
  const std::string port = std::to_string(upstream_.port());
  EXPECT_EQ(refusal_reason(proxy() + " -H 'Host: other.test:" + port + "' " + plain_url())
                .rfind("host-mismatch", 0),
            0u);
  // CONNECT tls.test, then a ClientHello for other.test (allowed, same certificate): refused.
  const std::string connect = "openssl s_client -proxy 127.0.0.1:" + std::to_string(proxy_port_) +
                              " -connect tls.test:" + std::to_string(tls_port_) + " -CAfile " +
                              dir_ + "/ca.pem";
  const CommandResult mismatch = run_command("echo | " + connect + " -servername other.test");
  EXPECT_EQ(mismatch.output.find("Server certificate"), std::string::npos) << mismatch.output;
  const CommandResult match = run_command("echo | " + connect + " -servername tls.test");
  EXPECT_NE(match.output.find("Verify return code: 0 (ok)"), std::string::npos) << match.output;
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["protocol"] == "connect" && line["decision"] == "deny" &&
           line["reason"].get<std::string>().rfind("sni-mismatch", 0) == 0;
  }));
}

TEST_F(GateTest, LoopbackAndMetadataNeedAllowCidrs) {
  json config = base_config();
  config["policy"]["allowCIDRs"] = json::array();
  start_gate(config);
  const std::string port = std::to_string(upstream_.port());
  EXPECT_EQ(refusal_reason(proxy() + " " + plain_url()).rfind("loopback", 0), 0u);
  EXPECT_EQ(refusal_reason(proxy() + " http://meta.test:" + port + "/"),
            "link-local 169.254.0.0/16");
  const CommandResult tls = run_command("curl -sS -m 10 -o /dev/null -w '%{http_connect}' -k " +
                                        proxy() + " " + tls_url());
  EXPECT_EQ(tls.output.substr(tls.output.size() - 3), "403") << tls.output;
}

TEST_F(GateTest, ASlowClientIsClosedAfterTheHeadTimeout) {
  start_gate(base_config());  // headTimeoutMs 700
  for (uint16_t port : {http_port_, https_port_, proxy_port_}) {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    const std::string partial =
        port == https_port_ ? std::string("\x16\x03\x01", 3) : "GET / HTTP/1.1\r\n";
    ::send(fd, partial.data(), partial.size(), 0);
    const auto start = Clock::now();
    const auto [got, closed] = read_all(fd, std::chrono::seconds(5));
    const auto waited = Clock::now() - start;
    ::close(fd);
    EXPECT_TRUE(closed) << port;
    EXPECT_GE(waited, std::chrono::milliseconds(600)) << port;
    EXPECT_LT(waited, std::chrono::milliseconds(3000)) << port;
    if (port != https_port_) {
      EXPECT_NE(got.find("408"), std::string::npos) << got;
    }
  }
  auto timeouts = [](const std::vector<json>& lines) {
    return count_lines(lines, [](const json& line) { return line["reason"] == "head-timeout"; });
  };
  EXPECT_EQ(timeouts(audit_lines_when([&](const auto& lines) { return timeouts(lines) >= 3; })),
            3u);
}

// An upstream that takes one connection and keeps every byte it is sent, until the gate closes.
class RecordingUpstream {
 public:
  RecordingUpstream() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        std::lock_guard lock(mutex_);
        got_.append(buf, static_cast<size_t>(n));
        ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
      std::lock_guard lock(mutex_);
      done_ = true;
    });
  }
  ~RecordingUpstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  // Everything received, once the connection ended (or after `wait`).
  std::string received(std::chrono::milliseconds wait) {
    const auto until = Clock::now() + wait;
    while (Clock::now() < until) {
      {
        std::lock_guard lock(mutex_);
        if (done_) return got_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard lock(mutex_);
    return got_;
  }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string got_;
  bool done_ = false;
};

// Keep-alive: every request head is judged, not only the first. A body that looks like a request
// is a body; a later request for another (even allowed) name never reaches the upstream the first
// one chose, and has an audit line of its own.
TEST_F(GateTest, EveryRequestOnAKeepAliveConnectionIsJudged) {
  RecordingUpstream upstream;
  json config = base_config();
  config["policy"]["ports"] = {upstream.port()};
  config["tuning"]["httpPort"] = upstream.port();
  start_gate(config);
  const std::string hidden = "GET /hidden HTTP/1.1\r\nHost: other.test\r\n\r\n";
  const std::string requests =
      "GET /one HTTP/1.1\r\nHost: plain.test\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: plain.test\r\nContent-Length: " +
      std::to_string(hidden.size()) + "\r\n\r\n" + hidden +
      "GET /three HTTP/1.1\r\nHost: other.test\r\n\r\n"
      "GET /four HTTP/1.1\r\nHost: plain.test\r\n\r\n";
  const int fd = connect_to(http_port_);
  ASSERT_GE(fd, 0);
  ::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL);
  const auto [answers, closed] = read_all(fd, std::chrono::seconds(5));
  ::close(fd);
  EXPECT_TRUE(closed);
  const std::string got = upstream.received(std::chrono::seconds(5));
  EXPECT_NE(got.find("GET /one HTTP/1.1"), std::string::npos) << got;
  EXPECT_NE(got.find("POST /two HTTP/1.1"), std::string::npos) << got;
  EXPECT_NE(got.find(hidden), std::string::npos) << "the body went as a body: " << got;
  EXPECT_EQ(got.find("GET /three"), std::string::npos) << got;
  EXPECT_EQ(got.find("GET /four"), std::string::npos) << got;
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["decision"] == "deny" && line["name"] == "other.test" &&
           line["reason"].get<std::string>().rfind("another-host-on-keep-alive: other.test", 0) ==
               0;
  }));

  // Ambiguous framing is refused before anything is dialled.
  const int fd2 = connect_to(http_port_);
  const std::string smuggle =
      "POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  ::send(fd2, smuggle.data(), smuggle.size(), MSG_NOSIGNAL);
  const auto [refusal, closed2] = read_all(fd2, std::chrono::seconds(5));
  ::close(fd2);
  EXPECT_NE(refusal.find("400"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("bad-framing"), std::string::npos) << refusal;
}

// A flood of refusals cannot wipe the audit log: past the client's burst they are counted, and
// the count is logged with the client's next line that goes through.
TEST_F(GateTest, AFloodOfRefusalsIsCountedNotLoggedLineByLine) {
  start_gate(base_config());
  const std::string evil = "GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n";
  for (int i = 0; i < 500; ++i) {
    const int fd = connect_to(http_port_);
    ASSERT_GE(fd, 0);
    ::send(fd, evil.data(), evil.size(), MSG_NOSIGNAL);
    read_all(fd, std::chrono::seconds(5));
    ::close(fd);
  }
  const CommandResult ok =
      curl(" --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " " + plain_url("/after"));
  EXPECT_EQ(status_of(ok), "200") << ok.output;
  // Every refusal is a line or in a count; the counts come with the next line that goes through.
  size_t denied = 0, suppressed = 0;
  auto after = [](const std::vector<json>& lines) {
    return std::any_of(lines.begin(), lines.end(),
                       [](const json& line) { return line["decision"] == "allow"; });
  };
  const std::vector<json> lines = audit_lines_when(after);
  EXPECT_TRUE(after(lines));
  for (const json& line : lines) {
    denied += line["reason"] == "not-allowed";
    const std::string reason = line["reason"];
    if (reason.find("similar decisions suppressed") != std::string::npos)
      suppressed += std::stoul(reason);
  }
  EXPECT_LT(denied, 300u);  // the burst (200) and what the rate let through meanwhile
  EXPECT_EQ(denied + suppressed, 500u);
  const CommandResult metrics =
      run_command("curl -sS http://127.0.0.1:" + std::to_string(control_port_) + "/metrics");
  EXPECT_NE(metrics.output.find("acctl_gate_audit_suppressed_total " + std::to_string(suppressed)),
            std::string::npos)
      << metrics.output;
  EXPECT_NE(metrics.output.find("acctl_gate_audit_write_errors_total 0"), std::string::npos);
}

// DNS over TCP: a query that trickles in a byte at a time does not keep the connection: it must
// arrive whole within the head timeout, however often bytes come.
// audit: required, with a log that takes no line (/dev/full: every write fails with ENOSPC):
// once a write has failed, a new connection gets 503 audit-log-unwritable without reaching the
// upstream and DNS answers REFUSED. Best effort (the default) keeps serving and counts.
TEST_F(GateTest, AFullAuditLogRefusesNewConnectionsWhenAuditIsRequired) {
  json config = base_config();
  config["auditLog"] = "/dev/full";
  config["auditRequired"] = true;
  start_gate(config);
  const std::string to_gate = " --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " ";
  curl(to_gate + plain_url("/first"));  // its decision is what finds the log full
  bool failing = false;
  for (int i = 0; i < 100 && !failing; ++i) {
    failing = control("GET", "/metrics").output.find("acctl_gate_audit_write_errors_total 0") ==
              std::string::npos;
    if (!failing) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(failing) << control("GET", "/metrics").output;
  const CommandResult refused = curl(to_gate + plain_url("/second"));
  EXPECT_EQ(status_of(refused), "503") << refused.output;
  EXPECT_EQ(refused.output.find("upstream-ok"), std::string::npos) << refused.output;
  EXPECT_EQ(refusal_reason(to_gate + plain_url("/third")), "audit-log-unwritable");
  EXPECT_NE(dig("plain.test").find("status: REFUSED"), std::string::npos);
}

TEST_F(GateTest, AFullAuditLogIsCountedButServedWhenAuditIsBestEffort) {
  json config = base_config();
  config["auditLog"] = "/dev/full";
  start_gate(config);
  const std::string to_gate = " --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " ";
  for (int i = 0; i < 3; ++i) {
    const CommandResult ok = curl(to_gate + plain_url("/x"));
    EXPECT_EQ(status_of(ok), "200") << ok.output;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(control("GET", "/metrics").output.find("acctl_gate_audit_write_errors_total 0"),
            std::string::npos);
}

TEST_F(GateTest, ADnsTcpQueryTricklingInIsClosedAfterTheHeadTimeout) {
  start_gate(base_config());  // headTimeoutMs 700
  const int fd = connect_to(dns_port_);
  ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  bool closed = false;
  // A 29-byte query announced, then one byte every 100 ms: 2.9 s if it were let through.
  const char length[2] = {0, 29};
  ::send(fd, length, 2, MSG_NOSIGNAL);
  for (int i = 0; i < 40 && !closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    char byte = 'a';
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) < 0) closed = true;
    char buf[64];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
  }
  const auto waited = Clock::now() - start;
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_GE(waited, std::chrono::milliseconds(600));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

// A client that connects and leaves without a byte (a port probe) must not stall the event loop:
// every other listener keeps answering. (A data-path rewrite once hung here; the sandbox-host
// end-to-end test found it.)
TEST_F(GateTest, AClientThatConnectsAndLeavesAtOnceStallsNothing) {
  start_gate(base_config());
  for (int round = 0; round < 3; ++round) {
    for (uint16_t port : {http_port_, https_port_, proxy_port_}) {
      const int fd = connect_to(port);
      ASSERT_GE(fd, 0);
      ::close(fd);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_NE(dig("plain.test").find("status: NOERROR"), std::string::npos);
  EXPECT_EQ(
      run_command("curl -s -m 3 http://127.0.0.1:" + std::to_string(control_port_) + "/healthz")
          .output,
      "ok\n");
}

// A connection from `source` (a loopback address) to `port`; -1 on failure.
int connect_from(const char* source, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Two sandboxes at 127.0.0.2 and 127.0.0.3 with policies of their own; 127.0.0.1 is no sandbox.
json two_sandbox_config(json config) {
  json web = config["policy"];
  web["allow"] = {"plain.test", "tls.test"};
  json git = config["policy"];
  git["allow"] = {"other.test"};
  git["dns"]["records"] = {{"other.test", {"127.0.0.1"}}};
  git["dns"]["upstreams"] = json::array();
  web["dns"]["upstreams"] = json::array();
  config["policies"] = {{"web+pi", web}, {"git", git}};
  config["policy"]["allow"] = json::array();
  config["sandboxes"] = {
      {"127.0.0.2",
       {{"name", "sb-a"}, {"policy", "web+pi"}, {"egressPolicy", "web"}, {"blueprint", "pi"}}},
      {"127.0.0.3", {{"name", "sb-b"}, {"policy", "git"}, {"egressPolicy", "git"}}}};
  return config;
}

TEST_F(GateTest, EachSandboxIsJudgedByItsOwnPolicyFromItsAddress) {
  const json config = two_sandbox_config(base_config());
  start_gate(config);
  auto status_from = [&](const char* source, const std::string& url) {
    return status_of(curl(std::string("--interface ") + source + " " + proxy() + " " + url));
  };
  const std::string other_url = "http://other.test:" + std::to_string(upstream_.port()) + "/";
  EXPECT_EQ(status_from("127.0.0.2", plain_url()), "200");
  EXPECT_EQ(status_from("127.0.0.2", other_url), "403");
  EXPECT_EQ(status_from("127.0.0.3", other_url), "200");
  EXPECT_EQ(status_from("127.0.0.3", plain_url()), "403");
  EXPECT_EQ(status_from("127.0.0.1", plain_url()), "403");  // no sandbox: nothing
  EXPECT_EQ(status_from("127.0.0.1", other_url), "403");

  // The refusal says whose policy refused what, and what would allow it.
  const CommandResult refused = curl("--interface 127.0.0.2 " + proxy() + " " + other_url);
  EXPECT_NE(
      refused.output.find("acctl gate: refused other.test:" + std::to_string(upstream_.port()) +
                          " for Sandbox/sb-a (EgressPolicy/web): not-allowed\n"
                          "to allow it: add other.test (or a *. pattern) to EgressPolicy/web "
                          "spec.allow or Blueprint/pi spec.egress\n"),
      std::string::npos)
      << refused.output;
  const CommandResult stranger = curl("--interface 127.0.0.1 " + proxy() + " " + plain_url());
  EXPECT_NE(stranger.output.find("127.0.0.1 is no sandbox of this gate"), std::string::npos)
      << stranger.output;
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["sandbox"] == "sb-a" && line["name"] == "other.test" &&
           line["decision"] == "deny" && line.value("policy", "") == "web" &&
           line.value("toAllow", "").find("add other.test") != std::string::npos;
  }));

  // DNS too: each client's names, nobody else's.
  auto dig_from = [&](const char* source, const std::string& name) {
    return run_command("dig @127.0.0.1 -p " + std::to_string(dns_port_) + " -b " + source +
                       " +time=2 +tries=1 " + name)
        .output;
  };
  EXPECT_NE(dig_from("127.0.0.2", "plain.test").find("status: NOERROR"), std::string::npos);
  EXPECT_NE(dig_from("127.0.0.2", "other.test").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(dig_from("127.0.0.3", "other.test").find("status: NOERROR"), std::string::npos);
  EXPECT_NE(dig_from("127.0.0.3", "plain.test").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(dig_from("127.0.0.1", "plain.test").find("status: NXDOMAIN"), std::string::npos);
}

// `acctl policy check` answers with check_egress over the same compiled config: on every case
// of this suite's policies it must say what the gate did.
TEST_F(GateTest, PolicyCheckAgreesWithTheLiveGateOnEveryCase) {
  json config = two_sandbox_config(base_config());
  config["policies"]["web+pi"]["allow"] = {"plain.test", "tls.test", "meta.test", "*.wild.test"};
  config["policies"]["web+pi"]["deny"] = {"bad.wild.test"};
  config["policies"]["web+pi"]["dns"]["records"]["a.wild.test"] = {"127.0.0.1"};
  config["policies"]["web+pi"]["dns"]["records"]["meta.test"] = {"169.254.169.254"};
  config["policies"]["git"]["dns"]["records"]["lan.test"] = {"10.1.2.3"};
  config["policies"]["git"]["allow"] = {"other.test", "lan.test"};
  start_gate(config);
  auto compiled = parse_gate_config(config.dump());
  ASSERT_TRUE(std::holds_alternative<GateConfig>(compiled));
  const GateConfig& gate = std::get<GateConfig>(compiled);
  int cases = 0;
  for (const char* client : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
    for (const char* name : {"plain.test", "other.test", "tls.test", "a.wild.test", "bad.wild.test",
                             "meta.test", "lan.test", "evil.test", "127.0.0.1"}) {
      for (uint16_t p : {upstream_.port(), static_cast<uint16_t>(9)}) {
        const EgressCheck check = check_egress(gate, client, name, p);
        // Names the policy pins are answered outright; the rest here are unpinned refusals.
        ASSERT_FALSE(check.allowed && check.resolved_later) << name;
        const std::string url = "http://" + std::string(name) + ":" + std::to_string(p) + "/";
        const std::string live =
            status_of(curl(std::string("--interface ") + client + " " + proxy() + " " + url));
        EXPECT_EQ(live == "200", check.allowed)
            << client << " " << url << ": gate " << live << ", check " << check.rules.front();
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 54);
}

TEST_F(GateTest, ChangingOneSandboxsPolicyLeavesAnothersOpenConnectionAlone) {
  RecordingUpstream keep_alive;  // answers every request on its one connection
  json config = base_config();
  config["policy"]["ports"].push_back(keep_alive.port());
  config["tuning"]["httpPort"] = keep_alive.port();
  config = two_sandbox_config(config);
  start_gate(config);
  const int fd = connect_from("127.0.0.2", http_port_);
  ASSERT_GE(fd, 0);
  const std::string request = "GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n";
  auto one_answer = [&]() {
    std::string got;
    char buffer[4096];
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline && got.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) got.append(buffer, static_cast<size_t>(n));
      if (n == 0) break;
      if (n < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The upstream's small body follows its head; give it a moment and drop it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    while (::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
    }
    return got;
  };
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  EXPECT_NE(one_answer().find("200"), std::string::npos);

  // sb-b's policy changes (it may now reach plain.test); sb-a's connection is not touched.
  config["policies"]["git"]["allow"] = {"other.test", "plain.test"};
  config["policies"]["git"]["dns"]["records"]["plain.test"] = {"127.0.0.1"};
  write_config(config);
  const CommandResult reloaded = control("POST", "/reload");
  ASSERT_EQ(status_of(reloaded), "200") << reloaded.output;
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  EXPECT_NE(one_answer().find("200"), std::string::npos) << "sb-a's keep-alive connection broke";
  ::close(fd);
  EXPECT_EQ(status_of(curl("--interface 127.0.0.3 " + proxy() + " " + plain_url())), "200");
  EXPECT_EQ(status_of(curl("--interface 127.0.0.2 " + proxy() + " " + plain_url())), "200");
}

// The stand-in for github.com: a test CA's certificate for it, two bare repositories, and
// git http-backend over TLS that wants the token (tests/e2e/vault/git_server.py).
class GitUpstream {
 public:
  GitUpstream(const std::string& dir, const std::string& token) : dir_(dir) {
    const std::string script =
        "set -e; cd " + dir +
        "; mkdir -p repos/o up\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "  -subj '/CN=upstream test CA' -keyout up/ca.key -out up/ca.pem\n"
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=github.com"
        "  -keyout up/key.pem -out up/req.pem\n"
        "printf 'subjectAltName=DNS:github.com\\n' > up/ext.cnf\n"
        "openssl x509 -req -in up/req.pem -CA up/ca.pem -CAkey up/ca.key -CAcreateserial -days 2"
        "  -extfile up/ext.cnf -out up/cert.pem\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        "  -subj /CN=github.com -addext subjectAltName=DNS:github.com"
        "  -keyout up/self.key -out up/self.pem\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        "  -subj '/CN=gate test CA' -addext basicConstraints=critical,CA:TRUE,pathlen:0"
        "  -addext keyUsage=critical,keyCertSign,cRLSign -keyout gate-ca.key -out gate-ca.pem\n"
        "for r in r other; do git init -q --bare repos/o/$r.git;"
        "  git -C repos/o/$r.git config http.receivepack true; done\n"
        "seed=$(mktemp -d); git -C $seed init -q; echo hello > $seed/README;"
        " git -C $seed add README; git -C $seed -c user.name=t -c user.email=t@t commit -qm seed;"
        " for r in r other; do git -C $seed push -q " +
        dir +
        "/repos/o/$r.git HEAD:refs/heads/main;"
        " git -C repos/o/$r.git symbolic-ref HEAD refs/heads/main; done; rm -rf $seed\n"
        "printf '%s\\n' '" +
        token + "' > token\n";
    const CommandResult made = run_command(script);
    ok_ = made.status == 0;
    if (!ok_) std::fprintf(stderr, "%s\n", made.output.c_str());
  }
  bool ok() const { return ok_; }
  void start(const std::string& token, bool self_signed = false) {
    stop();
    if (port_ == 0) port_ = free_port();  // a restart keeps the port the policy names
    const std::string cert = dir_ + (self_signed ? "/up/self.pem" : "/up/cert.pem");
    const std::string key = dir_ + (self_signed ? "/up/self.key" : "/up/key.pem");
    server_.start({"python3", ACCTL_SOURCE_DIR "/tests/e2e/vault/git_server.py", dir_ + "/repos",
                   cert, key, token, dir_ + "/requests.log", std::to_string(port_)},
                  dir_ + "/git-server.out");
    wait_for_port(port_);
  }
  void stop() { server_.stop(); }
  uint16_t port() const { return port_; }
  std::string requests() const {
    return run_command("cat " + dir_ + "/requests.log 2>/dev/null").output;
  }

 private:
  std::string dir_;
  bool ok_ = false;
  uint16_t port_ = 0;
  Child server_;
};

// A gate whose one sandbox (127.0.0.1, sb-gh) has github.com as a credential git host, served by
// `upstream`, with the gate's CA from GitUpstream and the upstream's CA trusted.
json credential_config(json config, const GitUpstream& upstream, const std::string& dir,
                       const json& repositories) {
  json gh = config["policy"];
  gh["allow"] = {"github.com"};
  gh["ports"] = {upstream.port()};
  gh["dns"]["records"] = {{"github.com", {"127.0.0.1"}}};
  gh["credentials"] = {{{"provider", "github"},
                        {"gitHosts", {"github.com"}},
                        {"apiHosts", json::array()},
                        {"tokenFile", dir + "/token"},
                        {"allowPush", false},
                        {"repositories", repositories}}};
  config["policies"] = {{"gh", gh}};
  config["sandboxes"] = {{"127.0.0.1", {{"name", "sb-gh"}, {"policy", "gh"}}}};
  config["tls"] = {{"caCert", dir + "/gate-ca.pem"},
                   {"caKey", dir + "/gate-ca.key"},
                   {"trust", {dir + "/up/ca.pem"}}};
  return config;
}

TEST_F(GateTest, CredentialHostsAreTerminatedJudgedAndGivenTheToken) {
  if (!have("git") || !have("python3")) GTEST_SKIP() << "needs git and python3";
  const std::string token = "ghp_gateOnlyToken1234567890";
  GitUpstream upstream(dir_, token);
  ASSERT_TRUE(upstream.ok());
  upstream.start(token);
  json config = credential_config(base_config(), upstream, dir_, json::array({"o/r"}));
  start_gate(config);
  // git trusts only the gate's CA: whatever it talks to is the gate's termination.
  const std::string git =
      "cd " + dir_ + " && GIT_TERMINAL_PROMPT=0 GIT_SSL_CAINFO=" + dir_ +
      "/gate-ca.pem git -c http.proxy=" + "http://127.0.0.1:" + std::to_string(proxy_port_) + " ";
  const std::string url = "https://github.com:" + std::to_string(upstream.port()) + "/o/";

  const CommandResult cloned = run_command(git + "clone -q " + url + "r.git clone-r");
  ASSERT_EQ(cloned.status, 0) << cloned.output << run_command("cat " + dir_ + "/gate.log").output;
  EXPECT_EQ(run_command("cat " + dir_ + "/clone-r/README").output, "hello\n");
  const std::string seen = upstream.requests();
  EXPECT_NE(seen.find("GET /o/r.git/info/refs?service=git-upload-pack auth=ok"), std::string::npos)
      << seen;
  EXPECT_NE(seen.find("POST /o/r.git/git-upload-pack auth=ok"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("auth=missing"), std::string::npos) << seen;

  // A placeholder the client sends is replaced, not forwarded.
  const CommandResult placeholder = run_command(
      git + "-c 'http.extraHeader=Authorization: Basic eDp5' " + "ls-remote " + url + "r.git");
  EXPECT_EQ(placeholder.status, 0) << placeholder.output;
  EXPECT_EQ(upstream.requests().find("auth=wrong"), std::string::npos) << upstream.requests();

  // Push is refused at the gate (allowPush false): the upstream never sees receive-pack.
  run_command("cd " + dir_ +
              "/clone-r && echo more >> README && git -c user.name=t -c user.email=t@t " +
              "commit -qam more");
  const CommandResult pushed =
      run_command(git + "-C " + dir_ + "/clone-r push -q origin HEAD:refs/heads/main");
  EXPECT_NE(pushed.status, 0) << pushed.output;
  EXPECT_NE(pushed.output.find("403"), std::string::npos) << pushed.output;
  EXPECT_EQ(upstream.requests().find("receive-pack"), std::string::npos) << upstream.requests();

  // A repository outside the list is refused.
  const CommandResult other = run_command(git + "clone -q " + url + "other.git clone-other");
  EXPECT_NE(other.status, 0) << other.output;
  EXPECT_EQ(upstream.requests().find("/o/other"), std::string::npos) << upstream.requests();

  EXPECT_TRUE(audit_has([](const json& line) {
    return line["decision"] == "deny" && line.value("reason", "") == "push-not-allowed" &&
           line.value("toAllow", "") == "set git.allowPush: true on Sandbox/sb-gh";
  }));
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["decision"] == "deny" &&
           line.value("reason", "") == "repository-not-listed o/other";
  }));
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["decision"] == "allow" &&
           line.value("reason", "").find("tls terminated") != std::string::npos;
  }));
  // The token is in no audit line.
  EXPECT_EQ(run_command("cat " + audit_path_).output.find(token), std::string::npos);

  // An upstream whose certificate the gate cannot verify is refused before any request.
  const size_t before = upstream.requests().size();
  upstream.start(token, /*self_signed=*/true);
  const CommandResult unverified = run_command(git + "ls-remote " + url + "r.git");
  EXPECT_NE(unverified.status, 0) << unverified.output;
  EXPECT_EQ(upstream.requests().size(), before) << upstream.requests();
  EXPECT_TRUE(audit_has([](const json& line) {
    return line.value("reason", "").rfind("upstream-tls: upstream certificate not trusted", 0) == 0;
  }));
  upstream.stop();
}

// A ClientHello that is already waiting when the gate accepts is read at once, before the
// client's socket ever had to be added to the poller; the terminating connection it is handed
// to must then add it, not modify it. The gate is stopped while curl connects and sends, so
// that the whole ClientHello is queued by the time it accepts.
TEST_F(GateTest, AClientHelloQueuedBeforeTheGateAcceptsIsTerminatedAllTheSame) {
  if (!have("git") || !have("python3")) GTEST_SKIP() << "needs git and python3";
  const std::string token = "ghp_queuedHelloToken123456789";
  GitUpstream upstream(dir_, token);
  ASSERT_TRUE(upstream.ok());
  upstream.start(token);
  json config = credential_config(base_config(), upstream, dir_, json::array());
  config["tuning"]["httpsPort"] = upstream.port();  // the https listener's upstream port
  start_gate(config);
  const std::string https = std::to_string(https_port_);
  const std::string fetch = "curl -sS -m 20 -o /dev/null -w '%{http_code}' --cacert " + dir_ +
                            "/gate-ca.pem --resolve github.com:" + https +
                            ":127.0.0.1 'https://github.com:" + https +
                            "/o/r.git/info/refs?service=git-upload-pack'";
  for (int attempt = 0; attempt < 3; ++attempt) {
    gate_.signal(SIGSTOP);
    auto fetched = std::async(std::launch::async, [&] { return run_command(fetch); });
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // connect + ClientHello
    gate_.signal(SIGCONT);
    const CommandResult result = fetched.get();
    EXPECT_EQ(result.output, "200") << "attempt " << attempt << ": " << result.output
                                    << run_command("cat " + dir_ + "/gate.log").output;
  }
  EXPECT_NE(upstream.requests().find("GET /o/r.git/info/refs?service=git-upload-pack auth=ok"),
            std::string::npos)
      << upstream.requests();
  upstream.stop();
}

TEST_F(GateTest, ReloadSwitchesANameFromAllowedToDenied) {
  json config = base_config();
  start_gate(config);
  EXPECT_EQ(status_of(curl(proxy() + " " + plain_url())), "200");
  // An invalid file keeps the old policy and says why.
  std::ofstream(config_path_) << "{\"policy\": {\"allow\": [\"Nope!\"]}}";
  const CommandResult rejected = control("POST", "/reload");
  EXPECT_EQ(status_of(rejected), "400");
  EXPECT_NE(rejected.output.find("Nope!"), std::string::npos) << rejected.output;
  EXPECT_EQ(status_of(curl(proxy() + " " + plain_url())), "200");

  config["policy"]["allow"] = {"tls.test"};
  write_config(config);
  const CommandResult reloaded = control("POST", "/reload");
  EXPECT_EQ(status_of(reloaded), "200") << reloaded.output;
  EXPECT_EQ(refusal_reason(proxy() + " " + plain_url()), "not-allowed");
  EXPECT_NE(dig("plain.test").find("status: NXDOMAIN"), std::string::npos);

  // SIGHUP does the same.
  config["policy"]["allow"] = {"plain.test"};
  write_config(config);
  gate_.signal(SIGHUP);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline && status_of(curl(proxy() + " " + plain_url())) != "200") {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status_of(curl(proxy() + " " + plain_url())), "200");
  EXPECT_NE(control("GET", "/metrics").output.find("acctl_gate_reloads_total{result=\"ok\"} 2"),
            std::string::npos);
}

TEST_F(GateTest, ControlPortServesHealthAndMetrics) {
  start_gate(base_config());
  EXPECT_EQ(control("GET", "/healthz").output, "ok\n\n200");
  curl(proxy() + " " + plain_url());
  curl(proxy() + " http://evil.test/");
  const std::string metrics = control("GET", "/metrics").output;
  for (std::string_view needle :
       {"acctl_gate_decisions_total{protocol=\"proxy-http\",decision=\"allow\",reason=\"allow\"} 1",
        "acctl_gate_decisions_total{protocol=\"proxy-http\",decision=\"deny\",reason=\"not-"
        "allowed\"} 1",
        "acctl_gate_active_connections 0", "acctl_gate_upstream_connect_seconds_count 1"}) {
    EXPECT_NE(metrics.find(needle), std::string::npos) << needle << "\n" << metrics;
  }
  EXPECT_EQ(status_of(control("GET", "/nope")), "404");
  EXPECT_EQ(status_of(control("GET", "/reload")), "405");
}

TEST_F(GateTest, AuditLinesCarryEveryField) {
  start_gate(base_config());
  curl(proxy() + " " + plain_url("/audited"));
  curl(proxy() + " http://evil.test/");
  dig("plain.test");
  gate_.stop();  // flushes nothing extra: lines are flushed as they are written
  const std::vector<json> lines = audit_lines();
  const json* allowed = nullptr;
  const json* denied = nullptr;
  const json* dns = nullptr;
  for (const json& line : lines) {
    for (const char* field : {"time", "sandbox", "client", "protocol", "name", "port", "resolved",
                              "decision", "reason", "bytesUp", "bytesDown", "durationMs"}) {
      EXPECT_TRUE(line.contains(field)) << field << " missing in " << line.dump();
    }
    if (line["protocol"] == "proxy-http" && line["decision"] == "allow") allowed = &line;
    if (line["protocol"] == "proxy-http" && line["decision"] == "deny") denied = &line;
    if (line["protocol"] == "dns") dns = &line;
  }
  ASSERT_TRUE(allowed && denied && dns);
  EXPECT_EQ((*allowed)["sandbox"], "sb-local");
  EXPECT_EQ((*allowed)["client"], "127.0.0.1");
  EXPECT_EQ((*allowed)["name"], "plain.test");
  EXPECT_EQ((*allowed)["port"], upstream_.port());
  EXPECT_EQ((*allowed)["resolved"], "127.0.0.1");
  EXPECT_EQ((*allowed)["reason"], "allow plain.test");
  EXPECT_GT((*allowed)["bytesUp"].get<int>(), 0);
  EXPECT_GT((*allowed)["bytesDown"].get<int>(), 0);
  EXPECT_EQ((*denied)["name"], "evil.test");
  EXPECT_EQ((*denied)["reason"], "not-allowed");
  EXPECT_EQ((*dns)["name"], "plain.test");
  EXPECT_EQ((*dns)["decision"], "allow");
  const std::string time = (*allowed)["time"];
  EXPECT_EQ(time.size(), 24u);
  EXPECT_EQ(time.back(), 'Z');
}

// A second gate resolves through the first gate's DNS with c-ares: the asynchronous upstream
// path end to end, including the address check on what came back.
TEST_F(GateTest, ResolvesThroughUpstreamDnsWithCares) {
  json config = base_config();
  config["gateIP"] = "127.0.0.1";  // the first gate answers allowed names with 127.0.0.1
  config["policy"]["allow"].push_back("via-dns.test");
  start_gate(config);

  json second = base_config();
  const uint16_t second_proxy = free_port();
  const uint16_t second_control = free_port();
  second["policy"]["allow"] = {"via-dns.test", "evil.test"};
  second["policy"]["dns"] = {{"upstreams", {"127.0.0.1:" + std::to_string(dns_port_)}}};
  second["listen"] = {{"proxy", "127.0.0.1:" + std::to_string(second_proxy)},
                      {"control", "127.0.0.1:" + std::to_string(second_control)}};
  second["auditLog"] = dir_ + "/audit2.jsonl";
  std::ofstream(dir_ + "/gate2.json") << second.dump();
  Child gate2;
  gate2.start({ACCTL_GATE_BINARY, "--config", dir_ + "/gate2.json"}, dir_ + "/gate2.log");
  ASSERT_TRUE(wait_for_port(second_control));
  const std::string via = "-x http://127.0.0.1:" + std::to_string(second_proxy) + " ";
  const std::string port = std::to_string(upstream_.port());
  const CommandResult ok = curl(via + "http://via-dns.test:" + port + "/x");
  EXPECT_EQ(status_of(ok), "200") << ok.output << run_command("cat " + dir_ + "/gate2.log").output;
  // Allowed by the second gate, NXDOMAIN from the first: refused with the resolver's reason.
  EXPECT_EQ(refusal_reason(via + "http://evil.test:" + port + "/").rfind("resolve-failed", 0), 0u);
}

TEST_F(GateTest, ThousandConcurrentConnections) {
  // The clients and the upstream both live in this process: two descriptors per connection.
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < 2500) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";
  start_gate(base_config());
  constexpr int kConnections = 1000;
  std::vector<int> fds;
  const std::string request =
      "GET /c HTTP/1.1\r\nHost: plain.test:" + std::to_string(upstream_.port()) + "\r\n\r\n";
  for (int i = 0; i < kConnections; ++i) {
    const int fd = connect_to(http_port_);
    ASSERT_GE(fd, 0) << i;
    fds.push_back(fd);
  }
  // All are open at the gate at once before any request is sent.
  for (int fd : fds) ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  int ok = 0;
  for (int fd : fds) {
    const auto [got, closed] = read_all(fd, std::chrono::seconds(20));
    ok += closed && got.find("upstream-ok GET /c") != std::string::npos;
    ::close(fd);
  }
  EXPECT_EQ(ok, kConnections);
}

// One request through the proxy listener on a fresh connection; true when the upstream answered.
bool proxied_request_ok(uint16_t proxy_port, uint16_t upstream_port, const std::string& path) {
  const int fd = connect_to(proxy_port);
  if (fd < 0) return false;
  const std::string authority = "plain.test:" + std::to_string(upstream_port);
  const std::string request = "GET http://" + authority + path + " HTTP/1.1\r\nHost: " + authority +
                              "\r\nConnection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  const auto [got, closed] = read_all(fd, std::chrono::seconds(10));
  ::close(fd);
  return closed && got.rfind("HTTP/1.1 200", 0) == 0 &&
         got.find("upstream-ok GET " + path + " HTTP/1.1") != std::string::npos;
}

// Raises the soft descriptor limit (and, as root, the hard one) to at least `wanted`.
bool raise_nofile(rlim_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_max < wanted) {
    rlimit raised{wanted, wanted};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return true;
  }
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur >= wanted;
}

TEST_F(GateTest, ReloadUnderLoadFailsNoConnection) {
  constexpr int kThreads = 8;
  constexpr int kRequestsPerThread = 200;
  constexpr int kStraddling = 50;
  constexpr int kReloads = 20;
  // Each in-flight request holds a client and an upstream descriptor here, plus thread stacks.
  if (!raise_nofile(4096)) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";
  json config = base_config();
  config["tuning"]["headTimeoutMs"] = 10000;  // the straddling connections wait for the reloads
  start_gate(config);
  const std::string authority = "plain.test:" + std::to_string(upstream_.port());

  // Connections accepted before the reloads whose heads arrive only after them.
  std::vector<int> straddling;
  const std::string half = "GET http://" + authority + "/straddle HTTP/1.1\r\n";
  for (int i = 0; i < kStraddling; ++i) {
    const int fd = connect_to(proxy_port_);
    ASSERT_GE(fd, 0);
    ::send(fd, half.data(), half.size(), MSG_NOSIGNAL);
    straddling.push_back(fd);
  }

  std::atomic<int> ok{0}, failed{0};
  // The clients keep sending until the reloads are done (and at least kRequestsPerThread each),
  // so every reload lands during the load however fast the gate is.
  std::atomic<bool> reloading{true};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kRequestsPerThread || reloading; ++i) {
        const std::string path = "/t" + std::to_string(t) + "-" + std::to_string(i);
        (proxied_request_ok(proxy_port_, upstream_.port(), path) ? ok : failed)++;
      }
    });
  }
  // Reloads while the load runs, each changing something else: another name in or out of the
  // allowlist, a record, the DNS rate. plain.test stays allowed throughout.
  int reloads = 0;
  std::string reload_errors;
  while (reloads < kReloads) {
    json next = base_config();
    next["tuning"]["headTimeoutMs"] = 10000;
    if (reloads % 2 == 0) {
      next["policy"]["allow"] = {"plain.test", "tls.test",
                                 "reload-" + std::to_string(reloads) + ".test"};
      next["policy"]["dns"]["records"]["other.test"] = {"127.0.0.2"};
    }
    next["policy"]["limits"]["dnsQPS"] = 1000 + reloads;
    write_config(next);
    const CommandResult result = control("POST", "/reload");
    if (status_of(result) != "200") reload_errors += result.output + "\n";
    ++reloads;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int during_reloads = ok + failed;
  reloading = false;
  for (std::thread& client : clients) client.join();

  const std::string rest = "Host: " + authority + "\r\nConnection: close\r\n\r\n";
  int straddled_ok = 0;
  for (int fd : straddling) {
    ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    const auto [got, closed] = read_all(fd, std::chrono::seconds(10));
    straddled_ok += closed && got.find("upstream-ok GET /straddle") != std::string::npos;
    ::close(fd);
  }

  EXPECT_EQ(reload_errors, "");
  // The load ran through all the reloads: requests completed while they happened.
  EXPECT_GT(during_reloads, 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GE(ok.load(), kThreads * kRequestsPerThread);
  EXPECT_EQ(straddled_ok, kStraddling);
  EXPECT_NE(control("GET", "/metrics")
                .output.find("acctl_gate_reloads_total{result=\"ok\"} " + std::to_string(reloads)),
            std::string::npos);
  // The last reload took effect: other.test is allowed exactly when the last config had it.
  const bool other_allowed = (reloads - 1) % 2 == 1;
  const CommandResult other =
      curl(proxy() + " http://other.test:" + std::to_string(upstream_.port()) + "/");
  EXPECT_EQ(status_of(other), other_allowed ? "200" : "403") << other.output;
}

TEST_F(GateTest, RecordsChangedByReloadAreCheckedAgain) {
  json config = base_config();
  config["policy"]["allowCIDRs"] = {"127.0.0.0/8"};
  start_gate(config);
  const std::string port = std::to_string(upstream_.port());
  // Allowed and dialled: the gate now holds a resolution of plain.test.
  EXPECT_EQ(status_of(curl(proxy() + " " + plain_url("/before"))), "200");
  EXPECT_EQ(status_of(curl(" --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " " +
                           plain_url("/before"))),
            "200");

  config["policy"]["dns"]["records"]["plain.test"] = {"169.254.169.254"};
  write_config(config);
  ASSERT_EQ(status_of(control("POST", "/reload")), "200");
  // The name is still allowed; the address it now has is not, on every listener.
  EXPECT_EQ(refusal_reason(proxy() + " " + plain_url("/after")), "link-local 169.254.0.0/16");
  EXPECT_EQ(refusal_reason(" --connect-to ::127.0.0.1:" + std::to_string(http_port_) + " " +
                           plain_url("/after")),
            "link-local 169.254.0.0/16");
  const CommandResult tunnel = run_command("curl -sS -m 10 -o /dev/null -w '%{http_connect}' -k " +
                                           proxy() + " https://plain.test:" + port + "/");
  EXPECT_EQ(tunnel.output.substr(tunnel.output.size() - 3), "403") << tunnel.output;
  EXPECT_TRUE(audit_has([](const json& line) {
    return line["name"] == "plain.test" && line["decision"] == "deny" &&
           line["resolved"] == "169.254.169.254";
  }));

  // And back: the allowance returns with the address, so nothing is cached as denied either.
  config["policy"]["dns"]["records"]["plain.test"] = {"127.0.0.1"};
  write_config(config);
  ASSERT_EQ(status_of(control("POST", "/reload")), "200");
  EXPECT_EQ(status_of(curl(proxy() + " " + plain_url("/again"))), "200");
}

// The same through real DNS: an upstream whose answer for an allowed name flips to the metadata
// address (DNS rebinding) is re-checked once the cached answer's TTL runs out.
TEST_F(GateTest, UpstreamAnswerThatTurnsToMetadataIsRefusedAfterItsTtl) {
  json first = base_config();
  first["gateIP"] = "127.0.0.1";
  first["policy"]["allow"].push_back("rebind.test");
  first["tuning"]["dnsAnswerTTL"] = 1;
  start_gate(first);

  json second = base_config();
  const uint16_t second_proxy = free_port();
  const uint16_t second_control = free_port();
  second["policy"]["allow"] = {"rebind.test"};
  second["policy"]["dns"] = {{"upstreams", {"127.0.0.1:" + std::to_string(dns_port_)}}};
  second["listen"] = {{"proxy", "127.0.0.1:" + std::to_string(second_proxy)},
                      {"control", "127.0.0.1:" + std::to_string(second_control)}};
  second["auditLog"] = dir_ + "/audit2.jsonl";
  std::ofstream(dir_ + "/gate2.json") << second.dump();
  Child gate2;
  gate2.start({ACCTL_GATE_BINARY, "--config", dir_ + "/gate2.json"}, dir_ + "/gate2.log");
  ASSERT_TRUE(wait_for_port(second_control));
  const std::string via = "-x http://127.0.0.1:" + std::to_string(second_proxy) + " ";
  const std::string url = "http://rebind.test:" + std::to_string(upstream_.port()) + "/";
  ASSERT_EQ(status_of(curl(via + url)), "200") << run_command("cat " + dir_ + "/gate2.log").output;

  first["gateIP"] = "169.254.169.254";
  write_config(first);
  ASSERT_EQ(status_of(control("POST", "/reload")), "200");
  // Within the 1 s TTL the cached answer may still be used; after it, never.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(refusal_reason(via + url), "link-local 169.254.0.0/16");
}

TEST_F(GateTest, ThreeThousandConcurrentIdleConnectionsAllComplete) {
  constexpr int kConnections = 3000;
  // Clients and upstream in this process (two descriptors per connection), ac-gate inherits it.
  if (!raise_nofile(3 * kConnections + 512)) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";
  json config = base_config();
  config["policy"]["limits"]["connections"] = kConnections + 100;
  config["tuning"]["connectionsPerClient"] = kConnections + 100;
  config["tuning"]["headTimeoutMs"] = 60000;  // idle for as long as opening them all takes
  start_gate(config);
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = connect_to(http_port_);
    ASSERT_GE(fd, 0) << i << ": " << std::strerror(errno);
    fds.push_back(fd);
  }
  // Every one of them is open at the gate at once before any request is sent.
  const std::string gauge = "acctl_gate_active_connections " + std::to_string(kConnections) + "\n";
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  std::string metrics;
  while (Clock::now() < deadline &&
         (metrics = control("GET", "/metrics").output).find(gauge) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(metrics.find(gauge), std::string::npos) << metrics;
  const std::string request =
      "GET /c HTTP/1.1\r\nHost: plain.test:" + std::to_string(upstream_.port()) +
      "\r\nConnection: close\r\n\r\n";
  for (int fd : fds) ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  int ok = 0;
  for (int fd : fds) {
    const auto [got, closed] = read_all(fd, std::chrono::seconds(30));
    ok += closed && got.find("upstream-ok GET /c") != std::string::npos;
    ::close(fd);
  }
  EXPECT_EQ(ok, kConnections);
  // Audit lines are written as connections end: wait until the gate has closed them all.
  const auto closed_by = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < closed_by &&
         control("GET", "/metrics").output.find("acctl_gate_active_connections 0\n") ==
             std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto allowed = [](const std::vector<json>& lines) {
    return count_lines(lines, [](const json& line) { return line["decision"] == "allow"; });
  };
  EXPECT_EQ(allowed(audit_lines_when([&](const auto& lines) {
              return allowed(lines) >= static_cast<size_t>(kConnections);
            })),
            static_cast<size_t>(kConnections));
}

}  // namespace
