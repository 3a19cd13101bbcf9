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

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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
// Connections accepted per listener wakeup before other work runs.
constexpr int kAcceptBatch = 64;
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

// Something with descriptors in a ConnectionPoller. Targets the poller owns (adopt()) are kept
// alive by it until they release themselves; listeners are owned by the service instead.
class PollTarget {
 public:
  // `events` as epoll_wait reported them; `tag` is the bit given to ConnectionPoller::add.
  virtual void on_events(uint32_t events, unsigned tag) = 0;

 protected:
  ~PollTarget() = default;

 private:
  friend class ConnectionPoller;
  PollTarget* prev_ = nullptr;
  PollTarget* next_ = nullptr;
  std::shared_ptr<PollTarget> self_;
};

// A second epoll set for the proxy listeners and their connections, nested in Asio's reactor as
// one descriptor. Each socket is added once (edge-triggered) and only modified to add EPOLLOUT
// when a write would block; all I/O is direct non-blocking calls. Asio's reactor, by contrast,
// issues an epoll_ctl for every async_wait, an ioctl per socket to set O_NONBLOCK, and poll(2)
// plus getsockopt(2) per connect: with one request per connection that was about half of the
// gate's system calls. Asio keeps the timers, DNS, the control port and c-ares.
class ConnectionPoller {
 public:
  explicit ConnectionPoller(asio::io_context& io) : io_(io), watch_(io) {}
  ConnectionPoller(const ConnectionPoller&) = delete;
  ConnectionPoller& operator=(const ConnectionPoller&) = delete;
  // Destroys the targets it still owns, which closes their descriptors.
  ~ConnectionPoller() {
    while (live_ != nullptr) {
      PollTarget* target = live_;
      unlink(*target);
      std::shared_ptr<PollTarget> last = std::move(target->self_);
    }
  }

  std::optional<std::string> open() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return std::string("epoll_create1: ") + std::strerror(errno);
    std::error_code ec;
    watch_.assign(fd, ec);
    if (ec) {
      ::close(fd);
      return "epoll descriptor: " + ec.message();
    }
    epoll_fd_ = fd;
    return std::nullopt;
  }
  void start() { arm(); }

  // False (errno set) when the kernel refuses; the caller fails that connection.
  bool add(int fd, uint32_t events, PollTarget* target, unsigned tag) {
    return control(EPOLL_CTL_ADD, fd, events, target, tag);
  }
  bool modify(int fd, uint32_t events, PollTarget* target, unsigned tag) {
    return control(EPOLL_CTL_MOD, fd, events, target, tag);
  }

  // Owns `target` until release().
  void adopt(std::shared_ptr<PollTarget> target) {
    PollTarget& t = *target;
    t.self_ = std::move(target);
    t.next_ = live_;
    if (live_ != nullptr) live_->prev_ = &t;
    live_ = &t;
  }
  // Drops the ownership adopt() took, once events already taken from the kernel (which may
  // point at `target`) have been delivered.
  void release(PollTarget& target) {
    if (!target.self_) return;
    unlink(target);
    if (delivering_) {
      retired_.push_back(std::move(target.self_));
    } else {
      asio::post(io_, [last = std::move(target.self_)] {});
    }
  }

 private:
  static constexpr size_t kMaxEvents = 256;

  bool control(int op, int fd, uint32_t events, PollTarget* target, unsigned tag) {
    epoll_event event{};
    event.events = events;
    // Targets are pointer-aligned, so the low bit is free for the tag.
    event.data.u64 = reinterpret_cast<uintptr_t>(target) | (tag & 1u);
    return ::epoll_ctl(epoll_fd_, op, fd, &event) == 0;
  }

  void unlink(PollTarget& target) {
    if (target.prev_ != nullptr) target.prev_->next_ = target.next_;
    if (target.next_ != nullptr) target.next_->prev_ = target.prev_;
    if (live_ == &target) live_ = target.next_;
    target.prev_ = target.next_ = nullptr;
  }

  void arm() {
    watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
      if (!ec) poll();
    });
  }

  void poll() {
    const int n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(kMaxEvents), 0);
    delivering_ = true;
    for (int i = 0; i < n; ++i) {
      const uint64_t data = events_[i].data.u64;
      reinterpret_cast<PollTarget*>(static_cast<uintptr_t>(data & ~uint64_t{1}))
          ->on_events(events_[i].events, static_cast<unsigned>(data & 1));
    }
    delivering_ = false;
    retired_.clear();
    // Re-arming re-checks readiness, so events left over (more than kMaxEvents) wake us again.
    arm();
  }

  asio::io_context& io_;
  asio::posix::stream_descriptor watch_;  // owns epoll_fd_
  int epoll_fd_ = -1;
  PollTarget* live_ = nullptr;
  bool delivering_ = false;
  std::vector<std::shared_ptr<PollTarget>> retired_;
  std::array<epoll_event, kMaxEvents> events_;
};

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
  ConnectionPoller& poller() { return poller_; }
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
  // A proxy listener, in the ConnectionPoller level-triggered so that a bounded accept loop
  // leaves nothing behind.
  struct TcpListener final : PollTarget {
    TcpListener(GateService& gate, Listener kind, std::string name)
        : gate(gate), kind(kind), name(std::move(name)), backoff(gate.io_) {}
    ~TcpListener() {
      if (fd >= 0) ::close(fd);
    }
    void on_events(uint32_t, unsigned) override { gate.accept_proxies(*this); }
    GateService& gate;
    Listener kind;
    std::string name;
    int fd = -1;
    asio::steady_timer backoff;
  };
  struct WatchedFd {
    explicit WatchedFd(asio::io_context& io, int fd) : descriptor(io, fd) {}
    asio::posix::stream_descriptor descriptor;
    bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
  };

  std::optional<std::string> bind_tcp(const SocketAddress& address, tcp::acceptor& acceptor);
  void accept_proxies(TcpListener& listener);
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
  // After the Asio objects it uses, before the listeners it delivers to.
  ConnectionPoller poller_{io_};
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
// resolve and check, dial, replay what was read, then relay bytes both ways. Its sockets live in
// the ConnectionPoller, which owns it from start() to finish().
class ProxyConnection final : public PollTarget,
                              public std::enable_shared_from_this<ProxyConnection> {
 public:
  ProxyConnection(GateService& gate, int client_fd, Listener kind, std::string client_ip)
      : gate_(gate),
        config_(gate.config()),
        timer_(gate.io()),
        kind_(kind),
        started_(Steady::now()) {
    client_.fd = client_fd;
    // accept(2) returns once the handshake is done, and clients send at once: the first read
    // is tried before waiting (and before registering, which would report the socket ready).
    client_.readable = true;
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
  ~ProxyConnection() {
    close_peer(client_);
    close_peer(upstream_);
  }

  void start(bool has_slot) {
    gate_.poller().adopt(shared_from_this());
    slot_ = has_slot;
    if (!has_slot) {
      refuse(503, "connection-limit");
      return;
    }
    gate_.metrics().connection_opened();
    arm_timer(config_->tuning.head_timeout);
    read_client();
  }

  void on_events(uint32_t events, unsigned tag) override {
    if (finished_) return;
    Peer& peer = tag == kUpstreamTag ? upstream_ : client_;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer.readable = true;
    if ((events & EPOLLRDHUP) && !(events & EPOLLERR)) peer.fin = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) peer.blocked = false;
    const bool is_client = &peer == &client_;
    switch (phase_) {
      case Phase::kHead:
      case Phase::kTunnelHello:
        if (is_client) read_client();
        return;
      case Phase::kResolving:
        return;
      case Phase::kConnecting:
        if (!is_client && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) check_connected(events);
        return;
      case Phase::kEstablishing:
      case Phase::kRefusing:
        if (is_client && !client_.blocked) send_reply();
        return;
      case Phase::kLingering:
        if (is_client) drain();
        return;
      case Phase::kSplicing: {
        Direction& writing = is_client ? down_ : up_;
        if (writing.pending_len > 0 && !peer.blocked) relay(writing);
        if (!finished_) relay(is_client ? up_ : down_);
        return;
      }
    }
  }

 private:
  enum class Phase {
    kHead,
    kResolving,
    kConnecting,
    kEstablishing,  // writing "200 Connection established"
    kTunnelHello,
    kSplicing,
    kRefusing,  // writing the refusal
    kLingering,
  };
  static constexpr unsigned kClientTag = 0;
  static constexpr unsigned kUpstreamTag = 1;
  static constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
  // Relay chunks per wakeup before yielding to other connections.
  static constexpr int kRelayRounds = 8;

  // One socket and what the poller last said about it (edge-triggered, so it must be kept).
  struct Peer {
    int fd = -1;
    uint32_t registered = 0;  // the events it is in the poller for; 0 while not in it
    bool readable = false;    // an edge arrived and reads have not come up empty since
    bool fin = false;         // the peer's FIN has arrived: after the queued bytes comes EOF
    bool blocked = false;     // a write would block: wait for EPOLLOUT
  };

  struct Direction {
    Peer* from = nullptr;
    Peer* to = nullptr;
    std::unique_ptr<char[]> buffer;  // from the pool, only while bytes are in flight
    const char* pending = nullptr;   // read, not yet written
    size_t pending_len = 0;
    bool pending_is_head = false;  // pending points into in_ (the replayed head)
    bool eof_next = false;         // everything before `from`'s FIN has been read
    uint64_t bytes = 0;
    bool done = false;
  };

  // Registers the socket, or adds EPOLLOUT once a write has blocked. Fails the connection
  // (closed, not left hanging) when the kernel refuses.
  bool watch(Peer& peer, bool want_out = false) {
    const bool out = want_out || peer.blocked || (peer.registered & EPOLLOUT);
    const uint32_t events = kReadEvents | (out ? uint32_t{EPOLLOUT} : 0u);
    if (peer.registered == events) return true;
    const unsigned tag = &peer == &upstream_ ? kUpstreamTag : kClientTag;
    const bool ok = peer.registered == 0 ? gate_.poller().add(peer.fd, events, this, tag)
                                         : gate_.poller().modify(peer.fd, events, this, tag);
    if (!ok) {
      spdlog::warn("epoll_ctl: {}", std::strerror(errno));
      finish();
      return false;
    }
    peer.registered = events;
    return true;
  }

  static void close_peer(Peer& peer) {
    // Closing also takes the descriptor out of the poller's set.
    if (peer.fd >= 0) ::close(peer.fd);
    peer = Peer{};
  }

  // Reads the head (or, after CONNECT, the tunnel's ClientHello) until it can be judged.
  void read_client() {
    while (!finished_ && !refusing_) {
      if (!client_.readable) {
        watch(client_);
        return;
      }
      const size_t limit = phase_ == Phase::kTunnelHello ? head_len_ + kMaxHelloBytes
                           : kind_ == Listener::kTls     ? kMaxHelloBytes
                                                         : kDefaultMaxHeadBytes + 1;
      if (in_len_ >= limit) {
        refuse(kind_ == Listener::kTls || phase_ == Phase::kTunnelHello ? 0 : 400,
               "head-too-large");
        return;
      }
      if (in_.size() - in_len_ < 4096)
        in_.resize(std::min(limit, std::max(in_.size() * 2, in_len_ + 4096)));
      const size_t room = in_.size() - in_len_;
      const ssize_t n = ::recv(client_.fd, in_.data() + in_len_, room, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          client_.readable = false;
          continue;
        }
        refuse(0, "client-error");
        return;
      }
      if (n == 0) {
        refuse(0, "client-closed-early");
        return;
      }
      // A short read emptied the socket: the next bytes come with an edge.
      if (static_cast<size_t>(n) < room && !client_.fin) client_.readable = false;
      in_len_ += static_cast<size_t>(n);
      const bool more = phase_ == Phase::kTunnelHello ? judge_tunnel() : judge_head();
      if (!more) return;
    }
  }

  // True when the head needs more bytes; otherwise it has been decided (or refused).
  bool judge_head() {
    if (kind_ == Listener::kTls) {
      const ClientHelloScan scan = scan_client_hello({in_.data(), in_len_});
      switch (scan.status) {
        case ClientHelloStatus::kNeedMore:
          return true;
        case ClientHelloStatus::kNoSni:
          refuse(0, "no-sni");
          return false;
        case ClientHelloStatus::kNotTls:
          refuse(0, "not-tls");
          return false;
        case ClientHelloStatus::kMalformed:
          refuse(0, "malformed-client-hello: " + scan.reason);
          return false;
        case ClientHelloStatus::kSni:
          record_.name = scan.sni;
          // ECH hides the real destination behind the outer name: not judgeable by name.
          if (scan.offers_ech) {
            refuse(0, "ech");
            return false;
          }
          decide(scan.sni, config_->tuning.https_port);
          return false;
      }
      return false;
    }
    const HttpHeadParse parse =
        reader_.scan(std::string_view(reinterpret_cast<const char*>(in_.data()), in_len_));
    switch (parse.status) {
      case HttpHeadStatus::kNeedMore:
        return true;
      case HttpHeadStatus::kMalformed:
      case HttpHeadStatus::kTooLarge:
        refuse(400, "malformed-request: " + parse.reason);
        return false;
      case HttpHeadStatus::kComplete:
        on_request(parse.head);
        return false;
    }
    return false;
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
    if (finished_ || refusing_) return;
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

  // Dials exactly an address that decide_address accepted: a non-blocking connect, registered
  // once for both directions.
  void dial_next() {
    const netpolicy::IpAddress address = candidates_.front();
    candidates_.erase(candidates_.begin());
    record_.resolved = address.str();
    connect_started_ = Steady::now();
    close_peer(upstream_);
    sockaddr_storage storage{};
    socklen_t length;
    if (address.is_v4) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(record_.port);
      std::memcpy(&v4->sin_addr, address.bytes.data() + 12, 4);
      length = sizeof *v4;
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(record_.port);
      std::memcpy(&v6->sin6_addr, address.bytes.data(), 16);
      length = sizeof *v6;
    }
    const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      on_connect_failed(errno);
      return;
    }
    upstream_.fd = fd;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort, as before
    int result;
    do {
      result = ::connect(fd, reinterpret_cast<const sockaddr*>(&storage), length);
    } while (result != 0 && errno == EINTR);
    if (result != 0 && errno != EINPROGRESS) {
      on_connect_failed(errno);
      return;
    }
    // EPOLLOUT from the start: it reports the connect, and then saves adding it later.
    if (!watch(upstream_, true)) return;
    if (result == 0) on_connected();
  }

  void check_connected(uint32_t events) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(upstream_.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) {
      on_connect_failed(error);
      return;
    }
    if (events & EPOLLOUT) on_connected();
  }

  void on_connect_failed(int error) {
    if (!candidates_.empty()) {
      dial_next();
      return;
    }
    refuse(502, "connect-failed: " + std::system_category().message(error));
  }

  void on_connected() {
    gate_.metrics().connect_latency(Steady::now() - connect_started_);
    if (!is_connect_) {
      start_splice(0);
      return;
    }
    out_ = "HTTP/1.1 200 Connection established\r\n\r\n";
    out_sent_ = 0;
    phase_ = Phase::kEstablishing;
    send_reply();
  }

  // Writes out_ to the client; the CONNECT reply and refusals.
  void send_reply() {
    while (out_sent_ < out_.size()) {
      const ssize_t n = ::send(client_.fd, out_.data() + out_sent_, out_.size() - out_sent_,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          client_.blocked = true;
          watch(client_);
          return;
        }
        if (phase_ == Phase::kEstablishing) {
          refuse(0, "client-error");
        } else {
          finish();
        }
        return;
      }
      out_sent_ += static_cast<size_t>(n);
    }
    if (phase_ == Phase::kRefusing) {
      ::shutdown(client_.fd, SHUT_WR);
      phase_ = Phase::kLingering;
      arm_timer(kRefusalLinger);
      drain();
      return;
    }
    phase_ = Phase::kTunnelHello;
    arm_timer(config_->tuning.head_timeout);
    if (judge_tunnel()) read_client();
  }

  // After CONNECT: if the tunnel carries TLS, its SNI must name the CONNECT target. True when
  // more bytes are needed.
  bool judge_tunnel() {
    if (in_len_ == head_len_) return true;
    const ClientHelloScan scan = scan_client_hello({in_.data() + head_len_, in_len_ - head_len_});
    switch (scan.status) {
      case ClientHelloStatus::kNeedMore:
        return true;
      case ClientHelloStatus::kNotTls:
        start_splice(head_len_);
        return false;
      case ClientHelloStatus::kNoSni:
        refuse(0, "no-sni");
        return false;
      case ClientHelloStatus::kMalformed:
        refuse(0, "malformed-client-hello: " + scan.reason);
        return false;
      case ClientHelloStatus::kSni: {
        if (scan.offers_ech) {
          refuse(0, "ech");
          return false;
        }
        const std::optional<std::string> sni = netpolicy::normalize_name(lower(scan.sni));
        if (!sni || *sni != name_) {
          refuse(0, "sni-mismatch: " + header_safe(scan.sni));
          return false;
        }
        start_splice(head_len_);
        return false;
      }
    }
    return false;
  }

  // Replays in_[from, in_len_) to the upstream, then relays both ways.
  void start_splice(size_t from) {
    phase_ = Phase::kSplicing;
    record_.allowed = true;
    record_.reason = allow_reason_;
    gate_.metrics().decision(record_.protocol, true, allow_reason_);
    touch();
    arm_idle();
    if (from < in_len_) {
      up_.pending = reinterpret_cast<const char*>(in_.data()) + from;
      up_.pending_len = in_len_ - from;
      up_.pending_is_head = true;
    } else {
      in_ = {};
    }
    relay(up_);
    if (!finished_) relay(down_);
  }

  // Moves bytes along `d` until a read comes up empty or a write would block. A read fills the
  // pooled buffer at most; everything read is written before the next read, so the receiver's
  // window is the backpressure. The buffer goes back to the pool whenever the direction waits.
  void relay(Direction& d) {
    for (int rounds = 0; !finished_ && !d.done;) {
      if (d.pending_len > 0) {
        if (d.to->blocked) return;
        // The last bytes before a FIN go out with it, in one segment (see end_direction).
        const int more = d.eof_next ? MSG_MORE : 0;
        const ssize_t n =
            ::send(d.to->fd, d.pending, d.pending_len, MSG_NOSIGNAL | MSG_DONTWAIT | more);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            d.to->blocked = true;
            watch(*d.to);
            return;
          }
          finish();
          return;
        }
        d.pending += n;
        d.pending_len -= static_cast<size_t>(n);
        if (d.pending_is_head) d.bytes += static_cast<uint64_t>(n);
        touch();
        if (d.pending_len == 0 && d.pending_is_head) {
          d.pending_is_head = false;
          in_ = {};
        }
        continue;
      }
      if (d.eof_next) {
        end_direction(d);
        return;
      }
      if (!d.from->readable) {
        gate_.give_relay_buffer(std::move(d.buffer));
        watch(*d.from);
        return;
      }
      if (++rounds > kRelayRounds) {
        // Let other connections run; the edge was consumed, so come back by posting.
        asio::post(gate_.io(), [self = shared_from_this(), &d] {
          if (!self->finished_) self->relay(d);
        });
        return;
      }
      if (!d.buffer) d.buffer = gate_.take_relay_buffer();
      const ssize_t n = ::recv(d.from->fd, d.buffer.get(), kSpliceBuffer, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          d.from->readable = false;
          continue;
        }
        finish();
        return;
      }
      if (n == 0) {
        d.eof_next = true;
        continue;
      }
      d.bytes += static_cast<uint64_t>(n);
      d.pending = d.buffer.get();
      d.pending_len = static_cast<size_t>(n);
      touch();
      // A short read emptied the socket. If the FIN had already arrived, it is all there was:
      // end the direction without another read.
      if (static_cast<size_t>(n) < kSpliceBuffer) {
        if (d.from->fin) {
          d.eof_next = true;
        } else {
          d.from->readable = false;
        }
      }
    }
  }

  // Half-close: pass the FIN on and keep the other direction running. When both are done,
  // close() sends the last FIN itself.
  void end_direction(Direction& d) {
    d.done = true;
    gate_.give_relay_buffer(std::move(d.buffer));
    if (up_.done && down_.done) {
      finish();
      return;
    }
    ::shutdown(d.to->fd, SHUT_WR);
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
      case Phase::kEstablishing:  // still under the connect timeout
        refuse(0, "connect-timeout");
        return;
      case Phase::kResolving:
      case Phase::kConnecting:
        refuse(504, "connect-timeout");
        return;
      case Phase::kRefusing:
      case Phase::kLingering:
        finish();
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
    out_sent_ = 0;
    phase_ = Phase::kRefusing;
    arm_timer(kRefusalLinger);  // bounds the write too; the linger restarts once it is out
    send_reply();
  }

  // Reads and drops what the refused client still sends until it closes or time runs out.
  void drain() {
    for (int rounds = 0; !finished_; ++rounds) {
      if (!client_.readable) {
        watch(client_);
        return;
      }
      if (rounds == kRelayRounds) {
        asio::post(gate_.io(), [self = shared_from_this()] {
          if (!self->finished_) self->drain();
        });
        return;
      }
      char scratch[4096];
      const ssize_t n = ::recv(client_.fd, scratch, sizeof scratch, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        client_.readable = false;
        continue;
      }
      if (n <= 0) {
        finish();
        return;
      }
    }
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    close_peer(client_);
    close_peer(upstream_);
    gate_.give_relay_buffer(std::move(up_.buffer));
    gate_.give_relay_buffer(std::move(down_.buffer));
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
    gate_.poller().release(*this);
  }

  GateService& gate_;
  std::shared_ptr<const GateConfig> config_;  // the policy this connection was judged by
  Peer client_;
  Peer upstream_;
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
  size_t out_sent_ = 0;
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
    tcp::acceptor acceptor(io_);
    if (auto error = bind_tcp(**address, acceptor)) {
      problems.push_back(std::string("listen.") + name + " " + *error);
      continue;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt(2), not one per
    // connection. Best effort, as it was per connection.
    std::error_code ignored;
    acceptor.set_option(tcp::no_delay(true), ignored);
    auto listener = std::make_unique<TcpListener>(*this, kind, name);
    // The listener moves from Asio's reactor to the ConnectionPoller.
    // Non-blocking, so the accept loop ends on EAGAIN instead of waiting in accept(2).
    std::error_code ec;
    acceptor.non_blocking(true, ec);
    if (!ec) listener->fd = acceptor.release(ec);
    if (ec) {
      problems.push_back(std::string("listen.") + name + " " + ec.message());
      continue;
    }
    listeners_.push_back(std::move(listener));
  }
  if (auto error = poller_.open()) {
    problems.push_back(*error);
  } else {
    for (auto& listener : listeners_) {
      if (!poller_.add(listener->fd, EPOLLIN, listener.get(), 0))
        problems.push_back("listen." + listener->name + ": epoll_ctl: " + std::strerror(errno));
    }
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

  poller_.start();
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

void GateService::accept_proxies(TcpListener& listener) {
  // Bounded, so a connection flood cannot starve the rest of the loop; the listener is
  // level-triggered, so what is left is reported again.
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    // The peer address comes with accept itself (no getpeername), the socket already
    // non-blocking (no fcntl or ioctl).
    const int fd = ::accept4(listener.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // A connection that failed before it was taken, or a signal: take the next one.
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // Usually EMFILE: back off instead of spinning on a listener that stays readable.
      spdlog::warn("accept on {}: {}", listener.name, std::strerror(errno));
      poller_.modify(listener.fd, 0, &listener, 0);
      listener.backoff.expires_after(std::chrono::milliseconds(100));
      listener.backoff.async_wait([this, &listener](std::error_code ec) {
        if (!ec && !poller_.modify(listener.fd, EPOLLIN, &listener, 0))
          spdlog::error("accept on {}: epoll_ctl: {}", listener.name, std::strerror(errno));
      });
      return;
    }
    tcp::endpoint endpoint;
    if (peer_len <= endpoint.capacity()) {
      std::memcpy(endpoint.data(), &peer, peer_len);
      endpoint.resize(peer_len);
    }
    std::string client = client_name(endpoint.address());
    const bool slot = acquire_slot(client);
    std::make_shared<ProxyConnection>(*this, fd, listener.kind, std::move(client))->start(slot);
  }
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
