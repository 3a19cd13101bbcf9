// The ac-gate event loop (standalone Asio, one thread): listeners, proxied connections, DNS,
// the control port, reload, and the glue that drives c-ares from the same loop.
#include "gate/gate_server.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <unordered_map>

#include "gate/ares_resolver.h"
#include "gate/audit_log.h"
#include "gate/dns_message.h"
#include "gate/dns_responder.h"
#include "gate/gate_metrics.h"
#include "gate/http_head.h"
#include "gate/rate_limiter.h"
#include "gate/resolver.h"
#include "gate/tls_client_hello.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

using asio::ip::tcp;
using asio::ip::udp;
using Steady = std::chrono::steady_clock;

// Per direction of a spliced connection; held only while bytes are moving, so idle
// connections cost a few hundred bytes.
constexpr size_t kSpliceBuffer = 64 * 1024;
// Relay buffers kept for reuse between bursts (4 MiB at most, whatever the connection count).
constexpr size_t kRelayPoolSize = 64;
// DNS datagrams taken per recvmmsg(2) and answered per sendmmsg(2); each slot holds the largest
// datagram, as a single receive did.
constexpr unsigned kDnsBatch = 32;
constexpr size_t kMaxDatagram = 65536;
// recvmmsg calls per readiness wakeup, so TCP work is not starved by a flood.
constexpr int kDnsRoundsPerWakeup = 4;
// A ClientHello of the maximum length split into the maximum number of records.
constexpr size_t kMaxHelloBytes = kMaxClientHelloLength + 5 * kMaxClientHelloRecords;
constexpr size_t kMaxControlHead = 8 * 1024;
constexpr size_t kMaxDnsTcpBuffer = 2 + 65535;
// How long a refused HTTP client may keep sending before the gate closes on it (so the 403 is
// not lost to a reset caused by unread bytes).
constexpr auto kRefusalLinger = std::chrono::seconds(2);

enum class Listener { kHttp, kTls, kProxy };

asio::ip::address to_asio(const netpolicy::IpAddress& ip) {
  if (ip.is_v4) {
    asio::ip::address_v4::bytes_type bytes;
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), bytes.begin());
    return asio::ip::address_v4(bytes);
  }
  asio::ip::address_v6::bytes_type bytes;
  std::copy(ip.bytes.begin(), ip.bytes.end(), bytes.begin());
  return asio::ip::address_v6(bytes);
}

// The client's address in the canonical text form the config's sandboxes map uses.
std::string client_text(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  std::optional<netpolicy::IpAddress> parsed = netpolicy::parse_ip(address.to_string());
  return parsed ? parsed->str() : address.to_string();
}

std::string sandbox_of(const GateConfig& config, const std::string& client) {
  auto it = config.sandboxes.find(client);
  return it == config.sandboxes.end() ? "" : it->second;
}

// Header-safe: reasons can carry names a client wrote.
std::string header_safe(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

std::string status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string http_response(int status, std::string_view body, std::string_view extra_headers = {},
                          std::string_view content_type = "text/plain; charset=utf-8") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) + "\r\n";
  out += extra_headers;
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

class GateService final : public SocketWatcher {
 public:
  GateService(GateConfig config, std::string config_path, const Clock& clock)
      : config_(std::make_shared<const GateConfig>(std::move(config))),
        config_path_(std::move(config_path)),
        clock_(clock),
        signals_(io_, SIGHUP, SIGINT, SIGTERM),
        ares_timer_(io_),
        sweep_timer_(io_),
        audit_([this] { asio::post(io_, [this] { audit_.flush(); }); }),
        dns_limiter_(config_->dns_qps) {}

  std::vector<std::string> start();
  void run() { io_.run(); }

  // Re-reads the config file and swaps it in; nullopt when it did, else why not.
  std::optional<std::string> reload();

  // SocketWatcher, for c-ares.
  void watch(int fd, bool readable, bool writable) override;
  void schedule_timeout(std::chrono::milliseconds delay) override;

  // What connections use.
  asio::io_context& io() { return io_; }
  const Clock& clock() const { return clock_; }
  std::shared_ptr<const GateConfig> config() const { return config_; }
  Resolver& resolver() { return *resolver_; }
  GateMetrics& metrics() { return metrics_; }
  void audit(const AuditRecord& record) { audit_.write(record, clock_.wall()); }
  bool acquire_slot(const std::string& client);
  void release_slot(const std::string& client);
  // client_text(address), remembering the last one: connections come from a few clients in runs.
  const std::string& client_name(const asio::ip::address& address);
  // An uninitialised kSpliceBuffer-byte buffer, from the pool when it has one.
  std::unique_ptr<char[]> take_relay_buffer();
  void give_relay_buffer(std::unique_ptr<char[]> buffer);
  // The response to one DNS message from `client`, or nothing.
  std::optional<std::vector<uint8_t>> answer_dns(std::span<const uint8_t> message,
                                                 const std::string& client);

 private:
  struct TcpListener {
    Listener kind;
    std::string name;
    tcp::acceptor acceptor;
    asio::steady_timer backoff;
    tcp::endpoint peer;  // filled by accept(2) itself: no getpeername(2) per connection
  };
  struct WatchedFd {
    explicit WatchedFd(asio::io_context& io, int fd) : descriptor(io, fd) {}
    asio::posix::stream_descriptor descriptor;
    bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
  };

  std::optional<std::string> bind_tcp(const SocketAddress& address, tcp::acceptor& acceptor);
  void accept_proxy(TcpListener& listener);
  void accept_dns_tcp();
  void accept_control();
  void receive_udp();
  void wait_signal();
  void sweep();
  void arm_fd(const std::shared_ptr<WatchedFd>& entry, int fd);
  void stop();

  // Declared first so that it is destroyed last: everything below holds Asio objects.
  asio::io_context io_;
  std::shared_ptr<const GateConfig> config_;
  std::string config_path_;
  const Clock& clock_;
  asio::signal_set signals_;
  asio::steady_timer ares_timer_;
  asio::steady_timer sweep_timer_;
  std::unordered_map<int, std::shared_ptr<WatchedFd>> watched_;
  std::unique_ptr<AresResolver> ares_;  // after watched_: its destructor reports closed sockets
  std::unique_ptr<CachingResolver> resolver_;
  GateMetrics metrics_;
  AuditLog audit_;
  RateLimiter dns_limiter_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::optional<udp::socket> dns_udp_;
  std::optional<tcp::acceptor> dns_tcp_;
  std::optional<tcp::acceptor> control_;
  std::unique_ptr<uint8_t[]> udp_buffers_;  // kDnsBatch slots of kMaxDatagram bytes
  std::vector<std::unique_ptr<char[]>> relay_pool_;
  std::optional<asio::ip::address> last_client_address_;
  std::string last_client_name_;
  uint64_t active_ = 0;
  std::unordered_map<std::string, uint32_t> per_client_;
};

namespace {

// One client connection on the http, https or proxy listener: read just enough to decide,
// resolve and check, dial, replay what was read, then relay bytes both ways.
class ProxyConnection : public std::enable_shared_from_this<ProxyConnection> {
 public:
  ProxyConnection(GateService& gate, tcp::socket client, Listener kind, std::string client_ip)
      : gate_(gate),
        config_(gate.config()),
        client_(std::move(client)),
        upstream_(gate.io()),
        timer_(gate.io()),
        kind_(kind),
        started_(Steady::now()) {
    record_.client = std::move(client_ip);
    record_.sandbox = sandbox_of(*config_, record_.client);
    record_.protocol = kind == Listener::kHttp  ? "http"
                       : kind == Listener::kTls ? "tls"
                                                : "proxy-http";
    up_.from = &client_;
    up_.to = &upstream_;
    down_.from = &upstream_;
    down_.to = &client_;
  }

  void start(bool has_slot) {
    slot_ = has_slot;
    if (!has_slot) {
      refuse(503, "connection-limit");
      return;
    }
    gate_.metrics().connection_opened();
    arm_timer(config_->tuning.head_timeout);
    read_more();
  }

 private:
  enum class Phase { kHead, kResolving, kConnecting, kTunnelHello, kSplicing };

  struct Direction {
    tcp::socket* from = nullptr;
    tcp::socket* to = nullptr;
    std::unique_ptr<char[]> buffer;
    uint64_t bytes = 0;
    bool done = false;
  };

  void read_more() {
    const size_t limit = phase_ == Phase::kTunnelHello ? head_len_ + kMaxHelloBytes
                         : kind_ == Listener::kTls     ? kMaxHelloBytes
                                                       : kDefaultMaxHeadBytes + 1;
    if (in_len_ >= limit) {
      refuse(kind_ == Listener::kTls || phase_ == Phase::kTunnelHello ? 0 : 400, "head-too-large");
      return;
    }
    if (in_.size() - in_len_ < 4096)
      in_.resize(std::min(limit, std::max(in_.size() * 2, in_len_ + 4096)));
    client_.async_read_some(
        asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
        [self = shared_from_this()](std::error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(std::error_code ec, size_t n) {
    if (finished_) return;
    if (ec) {
      refuse(0, ec == asio::error::eof ? "client-closed-early" : "client-error");
      return;
    }
    in_len_ += n;
    if (phase_ == Phase::kTunnelHello) {
      on_tunnel_bytes();
    } else {
      on_head_bytes();
    }
  }

  void on_head_bytes() {
    if (kind_ == Listener::kTls) {
      const ClientHelloScan scan = scan_client_hello({in_.data(), in_len_});
      switch (scan.status) {
        case ClientHelloStatus::kNeedMore:
          read_more();
          return;
        case ClientHelloStatus::kNoSni:
          refuse(0, "no-sni");
          return;
        case ClientHelloStatus::kNotTls:
          refuse(0, "not-tls");
          return;
        case ClientHelloStatus::kMalformed:
          refuse(0, "malformed-client-hello: " + scan.reason);
          return;
        case ClientHelloStatus::kSni:
          record_.name = scan.sni;
          // ECH hides the real destination behind the outer name: not judgeable by name.
          if (scan.offers_ech) {
            refuse(0, "ech");
            return;
          }
          decide(scan.sni, config_->tuning.https_port);
          return;
      }
      return;
    }
    const HttpHeadParse parse =
        reader_.scan(std::string_view(reinterpret_cast<const char*>(in_.data()), in_len_));
    switch (parse.status) {
      case HttpHeadStatus::kNeedMore:
        read_more();
        return;
      case HttpHeadStatus::kMalformed:
      case HttpHeadStatus::kTooLarge:
        refuse(400, "malformed-request: " + parse.reason);
        return;
      case HttpHeadStatus::kComplete:
        on_request(parse.head);
        return;
    }
  }

  void on_request(const HttpRequestHead& head) {
    uint16_t default_port = config_->tuning.http_port;
    if (kind_ == Listener::kProxy) {
      if (head.form == TargetForm::kAuthority) {
        is_connect_ = true;
        record_.protocol = "connect";
        head_len_ = head.length;
      } else if (head.form == TargetForm::kAbsolute) {
        auto target = parse_absolute_target(head.target);
        if (auto* error = std::get_if<std::string>(&target)) {
          refuse(400, "malformed-request: " + *error);
          return;
        }
        // The gate never originates TLS: an https:// target must come as CONNECT.
        if (std::get<AbsoluteTarget>(target).scheme != "http") {
          refuse(400, "https-needs-connect");
          return;
        }
        rewrite_to_origin_form(head, std::get<AbsoluteTarget>(target).path);
      } else {
        refuse(400, "not-a-proxy-request");
        return;
      }
      default_port = 80;
    }
    auto destination = request_destination(head, default_port);
    if (auto* error = std::get_if<std::string>(&destination)) {
      const bool mismatch = error->find("does not match") != std::string::npos;
      refuse(mismatch ? 403 : 400, (mismatch ? "host-mismatch: " : "bad-destination: ") + *error);
      return;
    }
    const HostPort& target = std::get<HostPort>(destination);
    record_.name = target.host;
    decide(target.host, target.port);
  }

  // RFC 9112 3.2.1: an origin server is sent origin-form. Only the request line changes; the
  // fields are forwarded exactly as the strict parser accepted them.
  void rewrite_to_origin_form(const HttpRequestHead& head, const std::string& path) {
    const std::string_view received(reinterpret_cast<const char*>(in_.data()), in_len_);
    const size_t line_end = received.find("\r\n");
    const std::string line =
        head.method + " " + path + " HTTP/1." + std::to_string(head.minor_version) + "\r\n";
    in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(line_end + 2));
    in_.insert(in_.begin(), line.begin(), line.end());
    in_len_ = in_len_ - (line_end + 2) + line.size();
  }

  void decide(const std::string& host, uint16_t port) {
    record_.name = host;
    record_.port = port;
    const Decision name = config_->policy->decide_name(host);
    if (!name.allowed) {
      refuse(403, name.reason);
      return;
    }
    const Decision port_ok = config_->policy->decide_port(port);
    if (!port_ok.allowed) {
      refuse(403, port_ok.reason);
      return;
    }
    // decide_name accepted it, so it normalises.
    name_ = netpolicy::normalize_name(lower(host)).value_or(lower(host));
    record_.name = name_;
    allow_reason_ = name.reason;
    phase_ = Phase::kResolving;
    arm_timer(config_->tuning.connect_timeout);
    gate_.resolver().resolve(name_, [self = shared_from_this()](ResolveResult result) {
      self->on_resolved(std::move(result));
    });
  }

  void on_resolved(ResolveResult result) {
    if (finished_) return;
    if (!result.error.empty()) {
      refuse(502, "resolve-failed: " + result.error);
      return;
    }
    // IPv4 first: the gate's network may have no IPv6 route, and a failed dial moves on.
    std::string first_denial;
    for (int pass = 0; pass < 2; ++pass) {
      for (const netpolicy::IpAddress& address : result.addresses) {
        if (address.is_v4 != (pass == 0)) continue;
        const Decision decision = config_->policy->decide_address(address);
        if (decision.allowed) {
          candidates_.push_back(address);
        } else if (first_denial.empty()) {
          first_denial = decision.reason;
          record_.resolved = address.str();
        }
      }
    }
    if (candidates_.empty()) {
      refuse(403, first_denial);
      return;
    }
    phase_ = Phase::kConnecting;
    dial_next();
  }

  // Dials exactly an address that decide_address accepted.
  void dial_next() {
    const netpolicy::IpAddress address = candidates_.front();
    candidates_.erase(candidates_.begin());
    record_.resolved = address.str();
    connect_started_ = Steady::now();
    std::error_code ignored;
    upstream_.close(ignored);
    upstream_.async_connect(
        tcp::endpoint(to_asio(address), record_.port),
        [self = shared_from_this()](std::error_code ec) { self->on_connected(ec); });
  }

  void on_connected(std::error_code ec) {
    if (finished_) return;
    if (ec) {
      if (!candidates_.empty()) {
        dial_next();
        return;
      }
      refuse(502, "connect-failed: " + ec.message());
      return;
    }
    gate_.metrics().connect_latency(Steady::now() - connect_started_);
    std::error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    if (!is_connect_) {
      start_splice(0);
      return;
    }
    out_ = "HTTP/1.1 200 Connection established\r\n\r\n";
    asio::async_write(client_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code ec, size_t) {
                        if (self->finished_) return;
                        if (ec) {
                          self->refuse(0, "client-error");
                          return;
                        }
                        self->phase_ = Phase::kTunnelHello;
                        self->arm_timer(self->config_->tuning.head_timeout);
                        self->on_tunnel_bytes();
                      });
  }

  // After CONNECT: if the tunnel carries TLS, its SNI must name the CONNECT target.
  void on_tunnel_bytes() {
    if (in_len_ == head_len_) {
      read_more();
      return;
    }
    const ClientHelloScan scan = scan_client_hello({in_.data() + head_len_, in_len_ - head_len_});
    switch (scan.status) {
      case ClientHelloStatus::kNeedMore:
        read_more();
        return;
      case ClientHelloStatus::kNotTls:
        start_splice(head_len_);
        return;
      case ClientHelloStatus::kNoSni:
        refuse(0, "no-sni");
        return;
      case ClientHelloStatus::kMalformed:
        refuse(0, "malformed-client-hello: " + scan.reason);
        return;
      case ClientHelloStatus::kSni: {
        if (scan.offers_ech) {
          refuse(0, "ech");
          return;
        }
        const std::optional<std::string> sni = netpolicy::normalize_name(lower(scan.sni));
        if (!sni || *sni != name_) {
          refuse(0, "sni-mismatch: " + header_safe(scan.sni));
          return;
        }
        start_splice(head_len_);
        return;
      }
    }
  }

  // Replays in_[from, in_len_) to the upstream, then relays both ways.
  void start_splice(size_t from) {
    phase_ = Phase::kSplicing;
    record_.allowed = true;
    record_.reason = allow_reason_;
    gate_.metrics().decision(record_.protocol, true, allow_reason_);
    touch();
    arm_idle();
    pump(down_);
    if (from == in_len_) {
      in_ = {};
      pump(up_);
      return;
    }
    asio::async_write(upstream_, asio::buffer(in_.data() + from, in_len_ - from),
                      [self = shared_from_this()](std::error_code ec, size_t n) {
                        if (self->finished_) return;
                        if (ec) {
                          self->finish();
                          return;
                        }
                        self->up_.bytes += n;
                        self->in_ = {};
                        self->touch();
                        self->pump(self->up_);
                      });
  }

  // Waits for readability before taking a buffer.
  void pump(Direction& d) {
    d.from->async_wait(tcp::socket::wait_read, [self = shared_from_this(), &d](std::error_code ec) {
      if (self->finished_) return;
      if (ec) {
        self->finish();
        return;
      }
      self->relay(d);
    });
  }

  // Reads what is there, writes all of it, and only then reads again: the peer's window is the
  // backpressure. A read that filled the buffer means more is likely queued, so the next read
  // goes ahead at once with the same buffer; after a short one the buffer goes back to the pool
  // and the direction waits for readability.
  void relay(Direction& d) {
    if (!d.buffer) d.buffer = gate_.take_relay_buffer();
    // recv(2) with MSG_DONTWAIT rather than a synchronous Asio read: that needs the socket in
    // user non-blocking mode, two more ioctl(2) calls per connection.
    ssize_t received;
    do {
      received = ::recv(d.from->native_handle(), d.buffer.get(), kSpliceBuffer, MSG_DONTWAIT);
    } while (received < 0 && errno == EINTR);
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      gate_.give_relay_buffer(std::move(d.buffer));
      pump(d);
      return;
    }
    if (received == 0) {
      // Half-close: pass the FIN on, keep the other direction running.
      d.done = true;
      gate_.give_relay_buffer(std::move(d.buffer));
      std::error_code ignored;
      d.to->shutdown(tcp::socket::shutdown_send, ignored);
      if (up_.done && down_.done) finish();
      return;
    }
    if (received < 0) {
      finish();
      return;
    }
    const size_t n = static_cast<size_t>(received);
    d.bytes += n;
    touch();
    asio::async_write(*d.to, asio::buffer(d.buffer.get(), n),
                      [self = shared_from_this(), &d, n](std::error_code ec, size_t) {
                        if (self->finished_) return;
                        if (ec) {
                          self->finish();
                          return;
                        }
                        self->touch();
                        if (n == kSpliceBuffer) {
                          self->relay(d);
                          return;
                        }
                        self->gate_.give_relay_buffer(std::move(d.buffer));
                        self->pump(d);
                      });
  }

  void touch() { last_activity_ = Steady::now(); }

  void arm_timer(Steady::duration delay) {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this(), generation](std::error_code ec) {
      if (ec || generation != self->timer_generation_ || self->finished_) return;
      self->on_timer();
    });
  }

  // The idle timer re-arms itself from the last activity instead of being reset on every read.
  void arm_idle() {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(last_activity_ + config_->tuning.idle_timeout);
    timer_.async_wait([self = shared_from_this(), generation](std::error_code ec) {
      if (ec || generation != self->timer_generation_ || self->finished_) return;
      if (Steady::now() - self->last_activity_ >= self->config_->tuning.idle_timeout) {
        self->closed_by_ = "idle-timeout";
        self->finish();
      } else {
        self->arm_idle();
      }
    });
  }

  void on_timer() {
    switch (phase_) {
      case Phase::kHead:
        refuse(kind_ == Listener::kTls ? 0 : 408, "head-timeout");
        return;
      case Phase::kTunnelHello:
        refuse(0, "head-timeout");
        return;
      case Phase::kResolving:
      case Phase::kConnecting:
        refuse(504, "connect-timeout");
        return;
      case Phase::kSplicing:
        return;
    }
  }

  // Logs the denial, answers HTTP clients (status != 0) and closes.
  void refuse(int status, const std::string& reason) {
    if (finished_ || refusing_) return;
    refusing_ = true;
    record_.allowed = false;
    record_.reason = reason;
    record_.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_);
    gate_.metrics().decision(record_.protocol, false, reason);
    gate_.audit(record_);
    if (status == 0 || kind_ == Listener::kTls) {
      finish();
      return;
    }
    out_ = http_response(status, "acctl gate: " + header_safe(reason) + "\n",
                         "X-Acctl-Gate-Reason: " + header_safe(reason) + "\r\n");
    ++timer_generation_;  // the phase timer no longer applies
    asio::async_write(client_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code ec, size_t) {
                        if (self->finished_) return;
                        if (ec) {
                          self->finish();
                          return;
                        }
                        std::error_code ignored;
                        self->client_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->linger();
                      });
  }

  // Reads and drops what the refused client still sends until it closes or time runs out.
  void linger() {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_after(kRefusalLinger);
    timer_.async_wait([self = shared_from_this(), generation](std::error_code ec) {
      if (!ec && generation == self->timer_generation_) self->finish();
    });
    drain();
  }

  void drain() {
    if (in_.size() < 4096) in_.resize(4096);
    client_.async_read_some(asio::buffer(in_.data(), 4096),
                            [self = shared_from_this()](std::error_code ec, size_t) {
                              if (self->finished_) return;
                              if (ec) {
                                self->finish();
                                return;
                              }
                              self->drain();
                            });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    std::error_code ignored;
    timer_.cancel();
    client_.close(ignored);
    upstream_.close(ignored);
    if (record_.allowed) {
      record_.bytes_up = up_.bytes;
      record_.bytes_down = down_.bytes;
      record_.duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_);
      gate_.audit(record_);
    }
    if (slot_) {
      gate_.metrics().connection_closed(up_.bytes, down_.bytes);
      gate_.release_slot(record_.client);
    }
  }

  GateService& gate_;
  std::shared_ptr<const GateConfig> config_;  // the policy this connection was judged by
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  Listener kind_;
  Phase phase_ = Phase::kHead;
  HttpHeadReader reader_;
  std::vector<uint8_t> in_;  // everything read before the decision, replayed upstream
  size_t in_len_ = 0;
  size_t head_len_ = 0;  // CONNECT: where the tunnel's bytes start
  bool is_connect_ = false;
  std::string name_;  // normalised destination name
  std::string allow_reason_;
  std::vector<netpolicy::IpAddress> candidates_;
  std::string out_;
  Direction up_;
  Direction down_;
  AuditRecord record_;
  std::string closed_by_;
  Steady::time_point started_;
  Steady::time_point connect_started_;
  Steady::time_point last_activity_;
  bool slot_ = false;
  bool refusing_ = false;
  bool finished_ = false;
};

// DNS over TCP: length-prefixed queries, answered in order, until idle for the head timeout.
class DnsTcpConnection : public std::enable_shared_from_this<DnsTcpConnection> {
 public:
  DnsTcpConnection(GateService& gate, tcp::socket socket, std::string client)
      : gate_(gate), socket_(std::move(socket)), timer_(gate.io()), client_(std::move(client)) {}

  void start(bool has_slot) {
    slot_ = has_slot;
    if (!has_slot) {
      finish();
      return;
    }
    read();
  }

 private:
  void read() {
    arm_timer();
    if (in_.size() - len_ < 2048) in_.resize(std::min(kMaxDnsTcpBuffer, len_ + 4096));
    socket_.async_read_some(asio::buffer(in_.data() + len_, in_.size() - len_),
                            [self = shared_from_this()](std::error_code ec, size_t n) {
                              if (self->finished_) return;
                              if (ec) {
                                self->finish();
                                return;
                              }
                              self->len_ += n;
                              self->answer();
                            });
  }

  void answer() {
    out_.clear();
    size_t offset = 0;
    while (true) {
      const TcpDnsFrame frame = next_tcp_frame({in_.data() + offset, len_ - offset});
      if (!frame.complete) break;
      if (auto response = gate_.answer_dns(frame.message, client_)) {
        const std::vector<uint8_t> framed = frame_for_tcp(*response);
        out_.insert(out_.end(), framed.begin(), framed.end());
      }
      offset += frame.consumed;
    }
    std::copy(in_.begin() + offset, in_.begin() + len_, in_.begin());
    len_ -= offset;
    if (out_.empty()) {
      read();
      return;
    }
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code ec, size_t) {
                        if (self->finished_) return;
                        if (ec) {
                          self->finish();
                          return;
                        }
                        self->read();
                      });
  }

  void arm_timer() {
    timer_.expires_after(gate_.config()->tuning.head_timeout);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->finish();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    if (slot_) gate_.release_slot(client_);
  }

  GateService& gate_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string client_;
  std::vector<uint8_t> in_;
  size_t len_ = 0;
  std::vector<uint8_t> out_;
  bool slot_ = false;
  bool finished_ = false;
};

// The control port: /healthz, /metrics, POST /reload; one request per connection.
class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(GateService& gate, tcp::socket socket)
      : gate_(gate), socket_(std::move(socket)), timer_(gate.io()), reader_(kMaxControlHead) {}

  void start() {
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->close();
    });
    read();
  }

 private:
  void read() {
    if (in_.size() == len_) {
      if (in_.size() > kMaxControlHead) {
        respond(400, "head too large\n");
        return;
      }
      in_.resize(in_.size() + 1024);
    }
    socket_.async_read_some(asio::buffer(in_.data() + len_, in_.size() - len_),
                            [self = shared_from_this()](std::error_code ec, size_t n) {
                              if (ec) {
                                self->close();
                                return;
                              }
                              self->len_ += n;
                              self->on_bytes();
                            });
  }

  void on_bytes() {
    const HttpHeadParse parse = reader_.scan(std::string_view(in_.data(), len_));
    if (parse.status == HttpHeadStatus::kNeedMore) {
      read();
      return;
    }
    if (parse.status != HttpHeadStatus::kComplete) {
      respond(400, parse.reason + "\n");
      return;
    }
    const std::string& method = parse.head.method;
    const std::string path = parse.head.target.substr(0, parse.head.target.find('?'));
    if (path == "/healthz") {
      method == "GET" || method == "HEAD" ? respond(200, "ok\n") : respond(405, "GET\n");
    } else if (path == "/metrics") {
      if (method != "GET") {
        respond(405, "GET\n");
        return;
      }
      respond(200, gate_.metrics().prometheus_text(), "text/plain; version=0.0.4");
    } else if (path == "/reload") {
      if (method != "POST") {
        respond(405, "POST\n");
        return;
      }
      const std::optional<std::string> error = gate_.reload();
      error ? respond(400, *error) : respond(200, "reloaded\n");
    } else {
      respond(404, "not found\n");
    }
  }

  void respond(int status, std::string body,
               std::string_view content_type = "text/plain; charset=utf-8") {
    out_ = http_response(status, body, {}, content_type);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code, size_t) {
                        std::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->close();
                      });
  }

  void close() {
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  GateService& gate_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  HttpHeadReader reader_;
  std::vector<char> in_;
  size_t len_ = 0;
  std::string out_;
};

}  // namespace

std::optional<std::string> GateService::bind_tcp(const SocketAddress& address,
                                                 tcp::acceptor& acceptor) {
  std::error_code ec;
  const tcp::endpoint endpoint(to_asio(address.ip), address.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(4096, ec);
  if (ec) return address.str() + ": " + ec.message();
  return std::nullopt;
}

std::vector<std::string> GateService::start() {
  std::vector<std::string> problems;
  if (auto error = audit_.open(config_->audit_log)) problems.push_back(*error);

  auto ares = AresResolver::create(*this, config_->upstreams);
  if (auto* error = std::get_if<std::string>(&ares)) {
    problems.push_back(*error);
  } else {
    ares_ = std::move(std::get<std::unique_ptr<AresResolver>>(ares));
    resolver_ = std::make_unique<CachingResolver>(*ares_, clock_);
    resolver_->set_records(config_->records);
  }

  const GateListen& listen = config_->listen;
  const std::pair<const std::optional<SocketAddress>*, Listener> proxies[] = {
      {&listen.http, Listener::kHttp},
      {&listen.https, Listener::kTls},
      {&listen.proxy, Listener::kProxy}};
  for (const auto& [address, kind] : proxies) {
    if (!*address) continue;
    const char* name = kind == Listener::kHttp  ? "http"
                       : kind == Listener::kTls ? "https"
                                                : "proxy";
    auto listener = std::unique_ptr<TcpListener>(
        new TcpListener{kind, name, tcp::acceptor(io_), asio::steady_timer(io_), tcp::endpoint()});
    if (auto error = bind_tcp(**address, listener->acceptor)) {
      problems.push_back(std::string("listen.") + name + " " + *error);
      continue;
    }
    listeners_.push_back(std::move(listener));
  }
  if (listen.dns) {
    std::error_code ec;
    const udp::endpoint endpoint(to_asio(listen.dns->ip), listen.dns->port);
    dns_udp_.emplace(io_);
    dns_udp_->open(endpoint.protocol(), ec);
    if (!ec) dns_udp_->bind(endpoint, ec);
    if (!ec) dns_udp_->non_blocking(true, ec);
    if (ec) problems.push_back("listen.dns udp " + listen.dns->str() + ": " + ec.message());
    dns_tcp_.emplace(io_);
    if (auto error = bind_tcp(*listen.dns, *dns_tcp_))
      problems.push_back("listen.dns tcp " + *error);
  }
  if (listen.control) {
    control_.emplace(io_);
    if (auto error = bind_tcp(*listen.control, *control_)) {
      problems.push_back("listen.control " + *error);
    }
  }
  if (!problems.empty()) return problems;

  for (auto& listener : listeners_) accept_proxy(*listener);
  if (dns_udp_) receive_udp();
  if (dns_tcp_) accept_dns_tcp();
  if (control_) accept_control();
  wait_signal();
  sweep();
  spdlog::info("ac-gate serving: dns={} http={} https={} proxy={} control={}",
               listen.dns ? listen.dns->str() : "-", listen.http ? listen.http->str() : "-",
               listen.https ? listen.https->str() : "-", listen.proxy ? listen.proxy->str() : "-",
               listen.control ? listen.control->str() : "-");
  return problems;
}

void GateService::accept_proxy(TcpListener& listener) {
  listener.acceptor.async_accept(listener.peer, [this, &listener](std::error_code ec,
                                                                  tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Usually EMFILE: back off instead of spinning on a listener that stays readable.
      spdlog::warn("accept on {}: {}", listener.name, ec.message());
      listener.backoff.expires_after(std::chrono::milliseconds(100));
      listener.backoff.async_wait([this, &listener](std::error_code ec) {
        if (!ec) accept_proxy(listener);
      });
      return;
    }
    std::error_code ignored;
    std::string client = client_name(listener.peer.address());
    socket.set_option(tcp::no_delay(true), ignored);
    const bool slot = acquire_slot(client);
    std::make_shared<ProxyConnection>(*this, std::move(socket), listener.kind, std::move(client))
        ->start(slot);
    accept_proxy(listener);
  });
}

void GateService::accept_dns_tcp() {
  dns_tcp_->async_accept([this](std::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::error_code ignored;
      std::string client = client_name(socket.remote_endpoint(ignored).address());
      const bool slot = acquire_slot(client);
      std::make_shared<DnsTcpConnection>(*this, std::move(socket), std::move(client))->start(slot);
    }
    accept_dns_tcp();
  });
}

void GateService::accept_control() {
  control_->async_accept([this](std::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<ControlConnection>(*this, std::move(socket))->start();
    accept_control();
  });
}

void GateService::receive_udp() {
  dns_udp_->async_wait(udp::socket::wait_read, [this](std::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    if (!udp_buffers_)
      udp_buffers_ = std::make_unique_for_overwrite<uint8_t[]>(kDnsBatch * kMaxDatagram);
    const int fd = dns_udp_->native_handle();
    std::array<sockaddr_storage, kDnsBatch> peers;
    std::array<iovec, kDnsBatch> in_iov;
    std::array<mmsghdr, kDnsBatch> in;
    std::array<std::vector<uint8_t>, kDnsBatch> responses;
    std::array<iovec, kDnsBatch> out_iov;
    std::array<mmsghdr, kDnsBatch> out;
    // The peer of the previous datagram and its text form: a client usually sends many.
    sockaddr_storage last_peer{};
    socklen_t last_peer_len = 0;
    std::string client;
    // Drain what is queued (bounded, so TCP work is not starved) before waiting again.
    for (int round = 0; round < kDnsRoundsPerWakeup && !ec; ++round) {
      for (unsigned i = 0; i < kDnsBatch; ++i) {
        in_iov[i] = {udp_buffers_.get() + i * kMaxDatagram, kMaxDatagram};
        in[i] = {};
        in[i].msg_hdr.msg_name = &peers[i];
        in[i].msg_hdr.msg_namelen = sizeof peers[i];
        in[i].msg_hdr.msg_iov = &in_iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
      }
      const int received = ::recvmmsg(fd, in.data(), kDnsBatch, MSG_DONTWAIT, nullptr);
      if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        continue;  // e.g. an ICMP error for an earlier reply
      }
      unsigned answers = 0;
      for (unsigned i = 0; i < static_cast<unsigned>(received); ++i) {
        const socklen_t peer_len = in[i].msg_hdr.msg_namelen;
        if (peer_len != last_peer_len || std::memcmp(&peers[i], &last_peer, peer_len) != 0) {
          udp::endpoint peer;
          if (peer_len > peer.capacity()) continue;
          std::memcpy(peer.data(), &peers[i], peer_len);
          peer.resize(peer_len);
          client = client_name(peer.address());
          std::memcpy(&last_peer, &peers[i], peer_len);
          last_peer_len = peer_len;
        }
        auto response = answer_dns({udp_buffers_.get() + i * kMaxDatagram, in[i].msg_len}, client);
        if (!response) continue;
        responses[answers] = std::move(*response);
        out_iov[answers] = {responses[answers].data(), responses[answers].size()};
        out[answers] = {};
        out[answers].msg_hdr.msg_name = &peers[i];
        out[answers].msg_hdr.msg_namelen = peer_len;
        out[answers].msg_hdr.msg_iov = &out_iov[answers];
        out[answers].msg_hdr.msg_iovlen = 1;
        ++answers;
      }
      // A full send buffer drops the remaining replies, as the network might; another error
      // drops the reply it is about.
      for (unsigned sent = 0; sent < answers;) {
        const int n = ::sendmmsg(fd, out.data() + sent, answers - sent, MSG_DONTWAIT);
        if (n > 0) {
          sent += static_cast<unsigned>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          break;
        } else {
          ++sent;
        }
      }
      if (static_cast<unsigned>(received) < kDnsBatch) break;  // the queue is empty
    }
    receive_udp();
  });
}

std::optional<std::vector<uint8_t>> GateService::answer_dns(std::span<const uint8_t> message,
                                                            const std::string& client) {
  const bool limited = !dns_limiter_.allow(client, clock_.now());
  const DnsOutcome outcome = answer_dns_query(
      message, *config_->policy, {config_->gate_ip, config_->tuning.dns_answer_ttl}, limited);
  metrics_.dns_query(outcome.result);
  // Rate-limited queries are counted, not logged: a flood must not become a flood of lines.
  if (outcome.result != "rate-limited") {
    metrics_.decision("dns", outcome.allowed, outcome.reason);
    AuditRecord record;
    record.sandbox = sandbox_of(*config_, client);
    record.client = client;
    record.protocol = "dns";
    record.name = outcome.name;
    record.qtype = outcome.qtype;
    record.allowed = outcome.allowed;
    record.reason = outcome.reason;
    audit(record);
  }
  return outcome.response;
}

bool GateService::acquire_slot(const std::string& client) {
  uint32_t& mine = per_client_[client];
  if (active_ >= config_->connections || mine >= config_->connections_per_client) {
    if (mine == 0) per_client_.erase(client);
    return false;
  }
  ++mine;
  ++active_;
  return true;
}

const std::string& GateService::client_name(const asio::ip::address& address) {
  if (last_client_address_ != address) {
    last_client_name_ = client_text(address);
    last_client_address_ = address;
  }
  return last_client_name_;
}

std::unique_ptr<char[]> GateService::take_relay_buffer() {
  if (relay_pool_.empty()) return std::make_unique_for_overwrite<char[]>(kSpliceBuffer);
  std::unique_ptr<char[]> buffer = std::move(relay_pool_.back());
  relay_pool_.pop_back();
  return buffer;
}

void GateService::give_relay_buffer(std::unique_ptr<char[]> buffer) {
  if (buffer && relay_pool_.size() < kRelayPoolSize) relay_pool_.push_back(std::move(buffer));
}

void GateService::release_slot(const std::string& client) {
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  if (active_ > 0) --active_;
}

std::optional<std::string> GateService::reload() {
  auto loaded = load_gate_config(config_path_);
  if (auto* problems = std::get_if<std::vector<std::string>>(&loaded)) {
    std::string why = "reload failed, keeping the current config:\n";
    for (const std::string& problem : *problems) why += "  " + problem + "\n";
    spdlog::error("{}", why);
    metrics_.reload(false);
    return why;
  }
  GateConfig& next = std::get<GateConfig>(loaded);
  if (next.upstreams != config_->upstreams) {
    if (auto error = ares_->set_upstreams(next.upstreams)) {
      metrics_.reload(false);
      return "reload failed, keeping the current config: " + *error + "\n";
    }
  }
  if (!(next.listen == config_->listen)) {
    spdlog::warn("reload: listen addresses changed; they take effect on restart");
  }
  // Reopening on every reload also follows a rotated file.
  if (auto error = audit_.open(next.audit_log)) spdlog::error("reload: {}", *error);
  resolver_->set_records(next.records);
  dns_limiter_.set_rate(next.dns_qps);
  // Connections already open keep the config they were judged by; new ones see this one.
  config_ = std::make_shared<const GateConfig>(std::move(next));
  metrics_.reload(true);
  spdlog::info("reloaded {}", config_path_);
  return std::nullopt;
}

void GateService::watch(int fd, bool readable, bool writable) {
  auto it = watched_.find(fd);
  if (!readable && !writable) {
    if (it == watched_.end()) return;
    // c-ares closes the socket itself: give the descriptor back without closing it.
    it->second->closed = true;
    it->second->descriptor.release();
    watched_.erase(it);
    return;
  }
  if (it == watched_.end()) it = watched_.emplace(fd, std::make_shared<WatchedFd>(io_, fd)).first;
  it->second->want_read = readable;
  it->second->want_write = writable;
  arm_fd(it->second, fd);
}

void GateService::arm_fd(const std::shared_ptr<WatchedFd>& entry, int fd) {
  if (entry->want_read && !entry->reading) {
    entry->reading = true;
    entry->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                 [this, entry, fd](std::error_code ec) {
                                   entry->reading = false;
                                   if (entry->closed || ec) return;
                                   ares_->process(fd, -1);
                                   if (!entry->closed) arm_fd(entry, fd);
                                 });
  }
  if (entry->want_write && !entry->writing) {
    entry->writing = true;
    entry->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                 [this, entry, fd](std::error_code ec) {
                                   entry->writing = false;
                                   if (entry->closed || ec) return;
                                   ares_->process(-1, fd);
                                   if (!entry->closed) arm_fd(entry, fd);
                                 });
  }
}

void GateService::schedule_timeout(std::chrono::milliseconds delay) {
  ares_timer_.expires_after(delay);
  ares_timer_.async_wait([this](std::error_code ec) {
    if (!ec) ares_->process_timeouts();
  });
}

void GateService::wait_signal() {
  signals_.async_wait([this](std::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      reload();
      wait_signal();
      return;
    }
    spdlog::info("signal {}: stopping", signal);
    stop();
  });
}

void GateService::sweep() {
  dns_limiter_.sweep(clock_.now());
  sweep_timer_.expires_after(std::chrono::seconds(10));
  sweep_timer_.async_wait([this](std::error_code ec) {
    if (!ec) sweep();
  });
}

void GateService::stop() {
  audit_.flush();
  io_.stop();
}

GateServer::GateServer(std::unique_ptr<GateService> service) : service_(std::move(service)) {}
GateServer::~GateServer() = default;

std::variant<std::unique_ptr<GateServer>, std::vector<std::string>> GateServer::start(
    GateConfig config, std::string config_path, const Clock& clock) {
  // Operational logs go to stderr: stdout may be the audit log.
  if (!spdlog::get("ac-gate")) {
    auto logger = spdlog::stderr_color_mt("ac-gate");
    spdlog::set_default_logger(logger);
  }
  auto service = std::make_unique<GateService>(std::move(config), std::move(config_path), clock);
  std::vector<std::string> problems = service->start();
  if (!problems.empty()) return problems;
  return std::unique_ptr<GateServer>(new GateServer(std::move(service)));
}

void GateServer::run() {
  service_->run();
}

}  // namespace acctl::gate
