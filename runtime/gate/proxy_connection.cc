// One client connection on a proxy listener: read just enough to decide, resolve and check the
// destination, dial, replay what was read, then relay bytes both ways. On plain HTTP (not TLS,
// not a CONNECT tunnel) every later request head is judged too, before it is forwarded
// (request_stream.h): keep-alive never carries another Host to the upstream the first chose.
#include "gate/proxy_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/ascii.h"
#include "common/syscall.h"
#include "gate/gate_log.h"
#include "gate/http_head.h"
#include "gate/http_response.h"
#include "gate/intercept_connection.h"
#include "gate/request_stream.h"
#include "gate/sockets.h"
#include "gate/tls_client_hello.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

using Steady = std::chrono::steady_clock;

// A ClientHello of the maximum length split into the maximum number of records.
constexpr size_t kMaxHelloBytes = kMaxClientHelloLength + 5 * kMaxClientHelloRecords;
// How long a refused HTTP client may keep sending before the gate closes on it (so the 403 is
// not lost to a reset caused by unread bytes).
constexpr auto kRefusalLinger = std::chrono::seconds(2);

// Its sockets live in the ConnectionPoller, which owns it from start() to finish().
class ProxyConnection final : public PollTarget,
                              public std::enable_shared_from_this<ProxyConnection> {
 public:
  ProxyConnection(GateContext& gate, UniqueFd client_fd, ProxyKind kind, std::string client_ip)
      : gate_(gate),
        config_(gate.config()),
        timer_(gate.loop().make_timer()),
        kind_(kind),
        started_(Steady::now()) {
    client_.fd = std::move(client_fd);
    // accept(2) returns once the handshake is done, and clients send at once: the first read
    // is tried before waiting (and before registering, which would report the socket ready).
    client_.readable = true;
    record_.client = std::move(client_ip);
    // By the address it connects from: acctl assigned it and a sandbox cannot send from another.
    sandbox_ = config_->sandbox(record_.client);
    policy_ = &config_->policy_for(record_.client);
    record_.sandbox = sandbox_ ? sandbox_->name : "";
    record_.policy = sandbox_ ? sandbox_->egress_policy : "";
    record_.protocol = kind == ProxyKind::kHttp  ? "http"
                       : kind == ProxyKind::kTls ? "tls"
                                                 : "proxy-http";
    up_.from = &client_;
    up_.to = &upstream_;
    down_.from = &upstream_;
    down_.to = &client_;
  }

  void start(bool has_slot) {
    gate_.poller().adopt(shared_from_this());
    slot_ = has_slot;
    if (has_slot && gate_.audit_unwritable()) {
      refuse(503, "audit-log-unwritable");
      return;
    }
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
        if (has_pending(writing) && !peer.blocked) pump(writing);
        if (!finished_) pump(is_client ? up_ : down_);
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
  // Relay chunks per wakeup before yielding to other connections.
  static constexpr int kRelayRounds = 8;

  struct Peer : PolledSocket {
    bool fin = false;  // the peer's FIN has arrived: after the queued bytes comes EOF
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
    const unsigned tag = &peer == &upstream_ ? kUpstreamTag : kClientTag;
    if (gate_.poller().watch(peer, this, tag, want_out)) return true;
    log_warn(std::string("epoll_ctl: ") + std::strerror(errno));
    finish();
    return false;
  }

  static void close_peer(Peer& peer) {
    // Closing also takes the descriptor out of the poller's set.
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
                           : kind_ == ProxyKind::kTls    ? kMaxHelloBytes
                                                         : kDefaultMaxHeadBytes + 1;
      if (in_len_ >= limit) {
        refuse(kind_ == ProxyKind::kTls || phase_ == Phase::kTunnelHello ? 0 : 400,
               "head-too-large");
        return;
      }
      if (in_.size() - in_len_ < 4096)
        in_.resize(std::min(limit, std::max(in_.size() * 2, in_len_ + 4096)));
      const size_t room = in_.size() - in_len_;
      const ssize_t n = ::recv(client_.fd.get(), in_.data() + in_len_, room, MSG_DONTWAIT);
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
    if (kind_ == ProxyKind::kTls) {
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
    if (kind_ == ProxyKind::kProxy) {
      if (head.form == TargetForm::kAuthority) {
        is_connect_ = true;
        record_.protocol = "connect";
        head_len_ = head.length;
      } else if (head.form == TargetForm::kAbsolute) {
        auto line = origin_form_line(head);
        if (auto* refusal = std::get_if<std::string>(&line)) {
          refuse(400, *refusal);
          return;
        }
        const size_t before = in_len_;
        replace_request_line(std::get<OriginFormLine>(line).line);
        first_head_len_ = head.length + in_len_ - before;
      } else {
        refuse(400, "not-a-proxy-request");
        return;
      }
      default_port = 80;
    }
    if (!is_connect_) {
      // How its body ends, so the next head is found and judged; ambiguity is refused.
      auto framing = request_body_framing(head);
      if (auto* error = std::get_if<std::string>(&framing)) {
        refuse(400, "bad-framing: " + *error);
        return;
      }
      first_framing_ = std::get<BodyFraming>(framing);
      if (first_head_len_ == 0) first_head_len_ = head.length;
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

  // The first request's line, in origin-form now; the fields are forwarded exactly as the
  // strict parser accepted them.
  void replace_request_line(const std::string& line) {
    const std::string_view received(reinterpret_cast<const char*>(in_.data()), in_len_);
    const size_t line_end = received.find("\r\n");
    in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(line_end));
    in_.insert(in_.begin(), line.begin(), line.end());
    in_len_ = in_len_ - line_end + line.size();
  }

  void decide(const std::string& host, uint16_t port) {
    record_.name = host;
    record_.port = port;
    const Decision name = policy_->rules->decide_name(host);
    if (!name.allowed) {
      refuse_by_policy(name, ascii_lower(host));
      return;
    }
    const Decision port_ok = policy_->rules->decide_port(port);
    if (!port_ok.allowed) {
      refuse_by_policy(port_ok, std::to_string(port));
      return;
    }
    // decide_name accepted it, so it normalises.
    const std::string lowered = ascii_lower(host);
    name_ = netpolicy::normalize_name(lowered).value_or(lowered);
    record_.name = name_;
    allow_reason_ = name.reason;
    phase_ = Phase::kResolving;
    arm_timer(config_->tuning.connect_timeout);
    resolve_with_records(policy_->records, gate_.resolver(), name_,
                         [self = shared_from_this()](ResolveResult result) {
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
    std::optional<Decision> first_denial;
    for (int pass = 0; pass < 2; ++pass) {
      for (const netpolicy::IpAddress& address : result.addresses) {
        if (address.is_v4 != (pass == 0)) continue;
        Decision decision = policy_->rules->decide_address(address);
        if (decision.allowed) {
          candidates_.push_back(address);
        } else if (!first_denial) {
          first_denial = std::move(decision);
          record_.resolved = address.str();
        }
      }
    }
    if (candidates_.empty()) {
      refuse_by_policy(*first_denial, record_.resolved);
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
    const socklen_t length = to_sockaddr(address, record_.port, storage);
    auto fd = open_socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK);
    if (!fd) {
      on_connect_failed(fd.error().sys_errno);
      return;
    }
    upstream_.fd = std::move(*fd);
    const int one = 1;
    // Best effort, as before.
    ::setsockopt(upstream_.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int result;
    do {
      result = ::connect(upstream_.fd.get(), reinterpret_cast<const sockaddr*>(&storage), length);
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
    if (::getsockopt(upstream_.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
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
      const ssize_t n = ::send(client_.fd.get(), out_.data() + out_sent_, out_.size() - out_sent_,
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
      ::shutdown(client_.fd.get(), SHUT_WR);
      phase_ = Phase::kLingering;
      arm_timer(kRefusalLinger);
      drain();
      return;
    }
    phase_ = Phase::kTunnelHello;
    arm_timer(config_->tuning.head_timeout);
    if (judge_tunnel()) read_client();
  }

  // After CONNECT: the tunnel must carry TLS whose SNI names the CONNECT target; anything else
  // is refused. True when more bytes are needed.
  bool judge_tunnel() {
    if (in_len_ == head_len_) return true;
    const ClientHelloScan scan = scan_client_hello({in_.data() + head_len_, in_len_ - head_len_});
    switch (scan.status) {
      case ClientHelloStatus::kNeedMore:
        return true;
      case ClientHelloStatus::kNotTls:
        // Anything else in a tunnel (plain HTTP with another Host, say) would go unjudged to
        // the address the CONNECT chose: plain HTTP goes through the proxy in absolute-form.
        refuse(0, "tunnel-not-tls");
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
        const std::optional<std::string> sni = netpolicy::normalize_name(ascii_lower(scan.sni));
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
    if (kind_ == ProxyKind::kTls || is_connect_) {
      if (const CredentialGrant* grant = config_->tls ? policy_->credential_for(name_) : nullptr) {
        hand_over_to_interception(from, *grant);
        return;
      }
    }
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
    if (kind_ != ProxyKind::kTls && !is_connect_) {
      // Plain HTTP: the rest of the client's bytes go through the request framer.
      std::string received(reinterpret_cast<const char*>(in_.data()) + from, in_len_ - from);
      in_ = {};
      up_.pending = nullptr;
      up_.pending_len = 0;
      up_.pending_is_head = false;
      requests_ = std::make_unique<RequestStream>(
          std::move(received), first_head_len_, first_framing_,
          [this](const HttpRequestHead& head, std::string& bytes) {
            LaterRequest r = judge_later_request(head, bytes, kind_ == ProxyKind::kProxy,
                                                 config_->tuning.http_port, name_, record_.port);
            if (r.refusal) {
              later_name_ = r.host;
              later_port_ = r.port;
            }
            return r.refusal;
          });
    }
    pump(up_);
    if (!finished_) pump(down_);
  }

  // A credential host: its TLS is terminated and each request judged and given the token
  // (intercept_connection.cc), so the descriptors and the slot move there.
  void hand_over_to_interception(size_t from, const CredentialGrant& grant) {
    auto leaf = config_->tls->leaves.server_context(name_);
    if (!leaf) {
      refuse(0, "leaf-certificate: " + leaf.error().message);
      return;
    }
    InterceptStart start;
    start.client = std::move(static_cast<PolledSocket&>(client_));
    start.upstream = std::move(static_cast<PolledSocket&>(upstream_));
    if (from < in_len_)
      start.client_bytes.assign(reinterpret_cast<const char*>(in_.data()) + from, in_len_ - from);
    start.name = name_;
    start.config = config_;
    start.grant = &grant;
    start.record = record_;
    start.record.reason = allow_reason_;
    start.slot = slot_;
    start.leaf = std::move(*leaf);
    gate_.metrics().decision(record_.protocol, true, allow_reason_);
    // This connection ends without a line or a slot of its own: they are the other's now. The
    // other starts first (finish() may release this object).
    slot_ = false;
    record_.allowed = false;
    refusing_ = true;
    start_intercept_connection(gate_, std::move(start));
    finish();
  }

  bool has_pending(const Direction& d) const {
    if (&d == &up_ && requests_) return !requests_->forwardable().empty();
    return d.pending_len > 0;
  }
  void pump(Direction& d) {
    if (&d == &up_ && requests_) {
      relay_requests();
    } else {
      relay(d);
    }
  }

  // A later request was refused: its own audit line (the connection's follows at the end). The
  // upstream gets a FIN instead of it, and still answers what it was sent before; then the
  // connection closes. Nothing more from the client is read.
  void refuse_later_request(const std::string& reason) {
    AuditRecord r = record_;
    r.allowed = false;
    r.reason = reason;
    if (!later_name_.empty()) {
      r.name = later_name_;
      r.port = later_port_;
    }
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_);
    gate_.metrics().decision(record_.protocol, false, reason);
    gate_.audit(r);
    end_direction(up_);
  }

  // relay() for the client's side of a plain-HTTP connection: bytes go through the framer, and
  // only what it cleared (bodies, and heads the judge let through) is sent.
  void relay_requests() {
    Direction& d = up_;
    for (int rounds = 0; !finished_ && !d.done;) {
      // What came before a refused head still goes (it was judged); then the refusal.
      const bool judged = requests_->advance();
      const std::string_view out = requests_->forwardable();
      if (out.empty() && !judged) {
        refuse_later_request(requests_->refusal());
        return;
      }
      if (!out.empty()) {
        if (d.to->blocked) return;
        const std::optional<size_t> n = send_some(d, out.data(), out.size(), 0);
        if (!n) return;
        requests_->consumed(*n);
        d.bytes += *n;
        continue;
      }
      // (A head still arriving when the client stops is never forwarded.)
      if (pause_between_reads(d, rounds)) return;
      const std::optional<size_t> n = recv_some(d);
      if (!n) return;
      requests_->append(std::string_view(d.buffer.get(), *n));
    }
  }

  // Moves bytes along `d` until a read comes up empty or a write would block. A read fills the
  // pooled buffer at most; everything read is written before the next read, so the receiver's
  // window is the backpressure. The buffer goes back to the pool whenever the direction waits.
  void relay(Direction& d) {
    for (int rounds = 0; !finished_ && !d.done;) {
      if (d.pending_len > 0) {
        if (d.to->blocked) return;
        // The last bytes before a FIN go out with it, in one segment (see end_direction).
        const std::optional<size_t> n =
            send_some(d, d.pending, d.pending_len, d.eof_next ? MSG_MORE : 0);
        if (!n) return;
        d.pending += *n;
        d.pending_len -= *n;
        if (d.pending_is_head) d.bytes += *n;
        if (d.pending_len == 0 && d.pending_is_head) {
          d.pending_is_head = false;
          in_ = {};
        }
        continue;
      }
      if (pause_between_reads(d, rounds)) return;
      const std::optional<size_t> n = recv_some(d);
      if (!n) return;
      d.bytes += *n;
      d.pending = d.buffer.get();
      d.pending_len = *n;
    }
  }

  // Before the next read: ends the direction at its FIN, waits for the next edge, or lets other
  // connections run after kRelayRounds reads (the edge was consumed, so it comes back by posting).
  // True when the relay must return.
  bool pause_between_reads(Direction& d, int& rounds) {
    if (d.eof_next) {
      end_direction(d);
      return true;
    }
    if (!d.from->readable) {
      gate_.give_relay_buffer(std::move(d.buffer));
      watch(*d.from);
      return true;
    }
    if (++rounds > kRelayRounds) {
      gate_.loop().post([self = shared_from_this(), &d] {
        if (!self->finished_) self->pump(d);
      });
      return true;
    }
    return false;
  }

  // One send toward d.to: how many bytes went, or nullopt when the direction waits for EPOLLOUT
  // (it is watched for it) or the connection has ended.
  std::optional<size_t> send_some(Direction& d, const char* data, size_t len, int flags) {
    while (true) {
      const ssize_t n = ::send(d.to->fd.get(), data, len, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
      if (n >= 0) {
        touch();
        return static_cast<size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        d.to->blocked = true;
        watch(*d.to);
      } else {
        finish();
      }
      return std::nullopt;
    }
  }

  // One read from d.from into d's pooled buffer: how many bytes came (0: none for now, or the
  // FIN, which sets d.eof_next), or nullopt when the connection has ended.
  std::optional<size_t> recv_some(Direction& d) {
    if (!d.buffer) d.buffer = gate_.take_relay_buffer();
    while (true) {
      const ssize_t n = ::recv(d.from->fd.get(), d.buffer.get(), kSpliceBuffer, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          d.from->readable = false;
          return 0;
        }
        finish();
        return std::nullopt;
      }
      if (n == 0) {
        d.eof_next = true;
        return 0;
      }
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
      return static_cast<size_t>(n);
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
    ::shutdown(d.to->fd.get(), SHUT_WR);
  }

  void touch() { last_activity_ = Steady::now(); }

  void arm_timer(Steady::duration delay) {
    const uint64_t generation = ++timer_generation_;
    timer_->start_after(delay, [self = shared_from_this(), generation] {
      if (generation != self->timer_generation_ || self->finished_) return;
      self->on_timer();
    });
  }

  // The idle timer re-arms itself from the last activity instead of being reset on every read.
  void arm_idle() {
    const uint64_t generation = ++timer_generation_;
    timer_->start_at(
        last_activity_ + config_->tuning.idle_timeout, [self = shared_from_this(), generation] {
          if (generation != self->timer_generation_ || self->finished_) return;
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
        refuse(kind_ == ProxyKind::kTls ? 0 : 408, "head-timeout");
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

  // A refusal by the client's policy: the answer and the audit line say whose policy refused
  // what and what would allow it (`subject` is the refused name, port or address).
  void refuse_by_policy(const Decision& refused, const std::string& subject) {
    const PolicySource source =
        sandbox_ ? PolicySource{sandbox_->egress_policy, sandbox_->blueprint} : PolicySource{};
    record_.to_allow = what_would_allow(refused, subject, source);
    std::string body =
        "acctl gate: refused " + header_safe(record_.name) + ":" + std::to_string(record_.port);
    if (sandbox_) {
      body += " for Sandbox/" + header_safe(sandbox_->name) + " (EgressPolicy/" +
              header_safe(sandbox_->egress_policy) + "): " + header_safe(refused.reason) + "\n";
      if (!record_.to_allow.empty()) body += "to allow it: " + header_safe(record_.to_allow) + "\n";
    } else {
      body += ": " + header_safe(refused.reason) + " (" + header_safe(record_.client) +
              " is no sandbox of this gate, so nothing is allowed)\n";
    }
    refuse(403, refused.reason, body);
  }

  // Logs the denial, answers HTTP clients (status != 0) and closes. `body` replaces the plain
  // "acctl gate: REASON" answer.
  void refuse(int status, const std::string& reason, const std::string& body = "") {
    if (finished_ || refusing_) return;
    refusing_ = true;
    record_.allowed = false;
    record_.reason = reason;
    record_.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_);
    gate_.metrics().decision(record_.protocol, false, reason);
    gate_.audit(record_);
    if (status == 0 || kind_ == ProxyKind::kTls) {
      finish();
      return;
    }
    out_ = http_response(status, body.empty() ? "acctl gate: " + header_safe(reason) + "\n" : body,
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
        gate_.loop().post([self = shared_from_this()] {
          if (!self->finished_) self->drain();
        });
        return;
      }
      char scratch[4096];
      const ssize_t n = ::recv(client_.fd.get(), scratch, sizeof scratch, MSG_DONTWAIT);
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
    timer_->cancel();
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

  GateContext& gate_;
  std::shared_ptr<const GateConfig> config_;  // the policy this connection was judged by
  // In config_: the sandbox at the client's address (nullptr: unknown) and its policy.
  const SandboxEntry* sandbox_ = nullptr;
  const ClientPolicy* policy_ = nullptr;
  Peer client_;
  Peer upstream_;
  std::unique_ptr<Timer> timer_;
  uint64_t timer_generation_ = 0;
  ProxyKind kind_;
  Phase phase_ = Phase::kHead;
  HttpHeadReader reader_;
  std::vector<uint8_t> in_;  // everything read before the decision, replayed upstream
  size_t in_len_ = 0;
  size_t head_len_ = 0;  // CONNECT: where the tunnel's bytes start
  // Plain HTTP: the first head as sent upstream, its body's framing, and the framer after it.
  size_t first_head_len_ = 0;
  BodyFraming first_framing_;
  std::unique_ptr<RequestStream> requests_;
  std::string later_name_;  // a refused later request's destination, for its audit line
  uint16_t later_port_ = 0;
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

}  // namespace

void start_proxy_connection(GateContext& gate, UniqueFd client, ProxyKind kind,
                            std::string client_ip, bool has_slot) {
  std::make_shared<ProxyConnection>(gate, std::move(client), kind, std::move(client_ip))
      ->start(has_slot);
}

}  // namespace acctl::gate
