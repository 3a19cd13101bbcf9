// A credential host's connection, terminated at the gate: two TLS sessions over memory BIOs (the
// client's, with a leaf from the Host's CA; the upstream's, verified against the system store
// and the Host's CAs) and, between them, every request head judged and given the real token.
#include "gate/intercept_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "common/ascii.h"
#include "gate/credential_rules.h"
#include "gate/gate_log.h"
#include "gate/http_response.h"
#include "gate/request_stream.h"
#include "gate/tls/tls_session.h"

namespace acctl::gate {
namespace {

using Steady = std::chrono::steady_clock;

constexpr unsigned kClientTag = 0;
constexpr unsigned kUpstreamTag = 1;
// Stop reading a side while this much is queued toward the other: memory follows the slower
// peer's pace, not the faster one's.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
// How long a closing connection may take to hand over what is queued.
constexpr auto kCloseLinger = std::chrono::seconds(2);

class InterceptConnection final : public PollTarget,
                                  public std::enable_shared_from_this<InterceptConnection> {
 public:
  InterceptConnection(GateContext& gate, InterceptStart start)
      : gate_(gate),
        config_(std::move(start.config)),
        grant_(start.grant),
        name_(std::move(start.name)),
        record_(std::move(start.record)),
        slot_(start.slot),
        leaf_(std::move(start.leaf)),
        timer_(gate.loop().make_timer()),
        started_(Steady::now()) {
    // Only the descriptor and whether the poller has it: registered stays 0, so that the first
    // watch() re-points the socket's events here even when they are the same events.
    client_.fd = std::move(start.client.fd);
    client_.in_poller = start.client.in_poller;
    upstream_.fd = std::move(start.upstream.fd);
    upstream_.in_poller = start.upstream.in_poller;
    pending_client_bytes_ = std::move(start.client_bytes);
    record_.protocol = "tls-credential";
  }

  void start() {
    gate_.poller().adopt(shared_from_this());
    server_ = TlsSession::server(*leaf_);
    upstream_tls_ = TlsSession::client(*config_->tls->upstream, name_);
    requests_ = std::make_unique<RequestStream>(
        std::string(), 0, BodyFraming{},
        [this](const HttpRequestHead& head, std::string& bytes) { return judge(head, bytes); });
    // Read both before waiting: what arrived while the other connection had them raised edges
    // that connection took.
    client_.readable = upstream_.readable = true;
    if (!watch(client_) || !watch(upstream_, true)) return;
    server_->feed(pending_client_bytes_);
    pending_client_bytes_.clear();
    last_activity_ = Steady::now();
    arm_timer(config_->tuning.connect_timeout);
    pump();
  }

  void on_events(uint32_t events, unsigned tag) override {
    if (finished_) return;
    Peer& peer = tag == kUpstreamTag ? upstream_ : client_;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer.readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) peer.blocked = false;
    pump();
  }

 private:
  struct Peer : PolledSocket {
    bool eof = false;
    std::string out;      // ciphertext to send it, from out_sent on
    size_t out_sent = 0;  // sent from the front of out: erasing each time would be quadratic
    size_t queued() const { return out.size() - out_sent; }
  };

  // Every request head on the connection, the first included.
  std::optional<std::string> judge(const HttpRequestHead& head, std::string& bytes) {
    AuditRecord r = record_;
    r.name = name_;
    CredentialVerdict verdict;
    for (const HttpHeaderField& field : head.fields) {
      // After an upgrade the stream would no longer be HTTP, and no longer judged.
      if (ascii_iequals(field.name, "upgrade"))
        verdict = {false, "upgrade-not-allowed", "other", ""};
    }
    if (verdict.reason.empty()) verdict = judge_credential_request(head, name_, *grant_);
    r.allowed = verdict.allowed;
    r.reason = verdict.reason;
    r.to_allow = what_would_allow_request(verdict, record_.sandbox);
    gate_.metrics().decision(record_.protocol, verdict.allowed, verdict.reason);
    gate_.audit(r);
    ++requests_judged_;
    if (!verdict.allowed) {
      refused_hint_ = r.to_allow;
      return verdict.reason;
    }
    bytes = rewrite_head_with_token(bytes, head, name_, *grant_);
    return std::nullopt;
  }

  void pump() {
    for (int round = 0; round < 64 && !finished_; ++round) {
      const size_t before = progress_;
      if (!closing_) {
        read_from(client_, upstream_, *server_);
        read_from(upstream_, client_, *upstream_tls_);
        move_plaintext();
        if (finished_) return;
      }
      server_->take_output(client_.out);
      upstream_tls_->take_output(upstream_.out);
      flush(client_);
      flush(upstream_);
      if (finished_) return;
      if (closing_ && client_.queued() == 0 && upstream_.queued() == 0) {
        finish();
        return;
      }
      if (progress_ == before) break;
    }
    if (!finished_) {
      watch(client_);
      watch(upstream_);
    }
  }

  // Ciphertext from `from` into its session, while the other side is not backed up.
  // At most kHighWater a call, so that what it decrypts to is bounded too.
  void read_from(Peer& from, const Peer& other, TlsSession& session) {
    char buffer[kReadChunk];
    size_t taken = 0;
    while (from.readable && !from.eof && other.queued() < kHighWater &&
           requests_->held() < kHighWater && taken < kHighWater) {
      const ssize_t n = ::recv(from.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        session.feed(std::string_view(buffer, static_cast<size_t>(n)));
        taken += static_cast<size_t>(n);
        progress_ += static_cast<size_t>(n);
        last_activity_ = Steady::now();
        continue;
      }
      if (n == 0) {
        from.eof = true;
        ++progress_;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) from.eof = true;
      from.readable = false;
    }
  }

  // Drives both sessions: the client's plaintext through the judge to the upstream, the
  // upstream's plaintext back. Ends the connection on a TLS failure or a refused request.
  void move_plaintext() {
    const TlsSession::State client_state = server_->advance();
    if (client_state == TlsSession::State::kFailed) {
      // Most often the client does not trust the gate's CA: say so in the audit line.
      fail("client-tls: " + server_->error());
      return;
    }
    const TlsSession::State upstream_state = upstream_tls_->advance();
    if (upstream_state == TlsSession::State::kFailed) {
      refuse_over_tls(502, "upstream-tls: " + upstream_tls_->error());
      return;
    }
    std::string plain;
    if (server_->read(plain)) {
      requests_->append(plain);
      progress_ += plain.size();
    }
    const bool judged = requests_->advance();
    const bool upstream_open = upstream_state == TlsSession::State::kOpen;
    if (upstream_open) {
      const std::string_view ready = requests_->forwardable();
      if (!ready.empty()) {
        upstream_tls_->write(ready);
        bytes_up_ += ready.size();
        progress_ += ready.size();
        requests_->consumed(ready.size());
      }
    }
    if (!judged && requests_->forwardable().empty()) {
      refuse_over_tls(403, requests_->refusal());
      return;
    }
    response_.clear();  // kept between calls: its capacity is reused
    if (upstream_tls_->read(response_) && !response_.empty()) {
      server_->write(response_);
      bytes_down_ += response_.size();
      progress_ += response_.size();
    }
    // Where both sessions stand after this round's reads and writes.
    const TlsSession::State client_now = server_->advance();
    const TlsSession::State upstream_now = upstream_tls_->advance();
    const bool client_done = client_.eof || client_now == TlsSession::State::kClosed;
    const bool upstream_done = upstream_.eof || upstream_now == TlsSession::State::kClosed;
    if (client_done || upstream_done) {
      // What one side sent before it closed is already queued for the other.
      if (client_now == TlsSession::State::kOpen || client_now == TlsSession::State::kClosed)
        server_->shutdown();
      if (upstream_now == TlsSession::State::kOpen || upstream_now == TlsSession::State::kClosed)
        upstream_tls_->shutdown();
      start_closing(client_done ? "client" : "upstream");
    }
  }

  // Answers the client over its TLS session (when it is up) and ends the connection.
  void refuse_over_tls(int status, const std::string& reason) {
    if (closing_) return;
    AuditRecord r = record_;
    r.name = name_;
    r.allowed = false;
    r.reason = reason;
    // A refused request was audited by the judge already.
    if (status != 403) {
      gate_.metrics().decision(record_.protocol, false, reason);
      gate_.audit(r);
    }
    const TlsSession::State s = server_->advance();
    if (s == TlsSession::State::kOpen) {
      std::string body = "acctl gate: refused " + header_safe(name_) + " for Sandbox/" +
                         header_safe(record_.sandbox) + ": " + header_safe(reason) + "\n";
      if (status == 403 && !refused_hint_.empty())
        body += "to allow it: " + header_safe(refused_hint_) + "\n";
      server_->write(http_response(
          status, body,
          "X-Acctl-Gate-Reason: " + header_safe(reason) + "\r\nConnection: close\r\n"));
      server_->shutdown();
    }
    refused_ = true;
    start_closing("gate");
  }

  void fail(const std::string& reason) {
    AuditRecord r = record_;
    r.name = name_;
    r.allowed = false;
    r.reason = reason;
    gate_.metrics().decision(record_.protocol, false, reason);
    gate_.audit(r);
    refused_ = true;
    finish();
  }

  void start_closing(const char* by) {
    if (closing_) return;
    closing_ = true;
    closed_by_ = by;
    arm_timer(kCloseLinger);
  }

  void flush(Peer& peer) {
    while (peer.queued() > 0 && !peer.blocked) {
      const ssize_t n = ::send(peer.fd.get(), peer.out.data() + peer.out_sent, peer.queued(),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        peer.out_sent += static_cast<size_t>(n);
        if (peer.out_sent == peer.out.size()) {
          peer.out.clear();
          peer.out_sent = 0;
        }
        progress_ += static_cast<size_t>(n);
        last_activity_ = Steady::now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        peer.blocked = true;
        return;
      }
      // The peer is gone: nothing more can reach it.
      peer.out.clear();
      peer.out_sent = 0;
      peer.eof = true;
      start_closing(&peer == &client_ ? "client" : "upstream");
      return;
    }
  }

  bool watch(Peer& peer, bool want_out = false) {
    const unsigned tag = &peer == &upstream_ ? kUpstreamTag : kClientTag;
    if (gate_.poller().watch(peer, this, tag, want_out)) return true;
    log_warn(std::string("epoll_ctl: ") + std::strerror(errno));
    finish();
    return false;
  }

  void arm_timer(Steady::duration delay) {
    const uint64_t generation = ++timer_generation_;
    timer_->start_after(delay, [self = shared_from_this(), generation] {
      if (self->finished_ || generation != self->timer_generation_) return;
      self->on_timer();
    });
  }

  void on_timer() {
    if (closing_) {
      finish();
      return;
    }
    const bool handshaking = server_->advance() == TlsSession::State::kHandshaking ||
                             upstream_tls_->advance() == TlsSession::State::kHandshaking;
    if (handshaking) {
      refuse_over_tls(504, "tls-handshake-timeout");
      return;
    }
    const auto idle = Steady::now() - last_activity_;
    if (idle >= config_->tuning.idle_timeout) {
      closed_by_ = "idle-timeout";
      finish();
      return;
    }
    arm_timer(config_->tuning.idle_timeout - idle);
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_->cancel();
    client_ = Peer{};
    upstream_ = Peer{};
    if (!refused_) {
      AuditRecord r = record_;
      r.name = name_;
      r.allowed = true;
      r.reason = record_.reason + "; tls terminated, " + std::to_string(requests_judged_) +
                 " requests judged";
      r.bytes_up = bytes_up_;
      r.bytes_down = bytes_down_;
      r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_);
      gate_.audit(r);
    }
    if (slot_) {
      gate_.metrics().connection_closed(bytes_up_, bytes_down_);
      gate_.release_slot(record_.client);
    }
    gate_.poller().release(*this);
  }

  GateContext& gate_;
  std::shared_ptr<const GateConfig> config_;
  const CredentialGrant* grant_;
  std::string name_;
  AuditRecord record_;
  bool slot_;
  std::shared_ptr<SSL_CTX> leaf_;
  std::unique_ptr<Timer> timer_;
  uint64_t timer_generation_ = 0;
  Steady::time_point started_;
  Steady::time_point last_activity_;
  std::string pending_client_bytes_;
  Peer client_;
  Peer upstream_;
  std::unique_ptr<TlsSession> server_;        // towards the client, with the minted leaf
  std::unique_ptr<TlsSession> upstream_tls_;  // towards the real upstream, verified
  std::unique_ptr<RequestStream> requests_;
  std::string response_;      // the upstream's plaintext on its way to the client
  std::string refused_hint_;  // what would allow the refused request, for its 403
  size_t progress_ = 0;       // bytes moved anywhere, to know when a round did nothing
  uint64_t bytes_up_ = 0, bytes_down_ = 0, requests_judged_ = 0;
  bool closing_ = false, finished_ = false, refused_ = false;
  std::string closed_by_;
};

}  // namespace

void start_intercept_connection(GateContext& gate, InterceptStart start) {
  std::make_shared<InterceptConnection>(gate, std::move(start))->start();
}

}  // namespace acctl::gate
