// DNS over UDP and TCP: receiving, framing and sending; the answers come from GateContext.
#include "gate/dns_listener.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "gate/dns_message.h"
#include "gate/gate_log.h"
#include "gate/sockets.h"

namespace acctl::gate {
namespace {

// DNS datagrams taken per recvmmsg(2) and answered per sendmmsg(2); each slot holds the largest
// datagram, as a single receive did.
constexpr unsigned kDnsBatch = 32;
constexpr size_t kMaxDatagram = 65536;
// recvmmsg calls per readiness wakeup, so TCP work is not starved by a flood.
constexpr int kDnsRoundsPerWakeup = 4;
constexpr size_t kMaxDnsTcpBuffer = 2 + 65535;
// Connections accepted per wakeup before other work runs.
constexpr int kAcceptBatch = 64;

// DNS over TCP: length-prefixed queries, answered in order. Each query must arrive whole within
// the head timeout of the moment the gate began waiting for it (bytes that trickle in do not
// extend it), and the connection ends after the idle timeout whatever it does, so a client
// cannot hold a slot by sending a byte now and then.
class DnsTcpConnection : public std::enable_shared_from_this<DnsTcpConnection> {
 public:
  DnsTcpConnection(GateContext& gate, UniqueFd fd, std::unique_ptr<FdWatch> watch,
                   std::string client)
      : gate_(gate),
        fd_(std::move(fd)),
        watch_(std::move(watch)),
        timer_(gate.loop().make_timer()),
        lifetime_(gate.loop().make_timer()),
        client_(std::move(client)) {}

  void start(bool has_slot) {
    slot_ = has_slot;
    if (!has_slot) {
      finish();
      return;
    }
    lifetime_->start_after(gate_.config()->tuning.idle_timeout,
                           [self = shared_from_this()] { self->finish(); });
    read();
  }

 private:
  void read() {
    // A new query's clock starts once nothing of one is left; a partial one keeps its clock.
    if (len_ == 0) arm_timer();
    if (in_.size() - len_ < 2048) in_.resize(std::min(kMaxDnsTcpBuffer, len_ + 4096));
    receive();
  }

  void receive() {
    while (true) {
      const ssize_t n = ::recv(fd_.get(), in_.data() + len_, in_.size() - len_, MSG_DONTWAIT);
      if (n > 0) {
        len_ += static_cast<size_t>(n);
        answer();
        return;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch_->wait_readable([self = shared_from_this()](bool ready) {
          if (self->finished_) return;
          ready ? self->receive() : self->finish();
        });
        return;
      }
      finish();  // end of stream or an error
      return;
    }
  }

  void answer() {
    out_.clear();
    sent_ = 0;
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
    send();
  }

  void send() {
    while (sent_ < out_.size()) {
      const ssize_t n =
          ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch_->wait_writable([self = shared_from_this()](bool ready) {
          if (self->finished_) return;
          ready ? self->send() : self->finish();
        });
        return;
      }
      finish();
      return;
    }
    read();
  }

  void arm_timer() {
    timer_->start_after(gate_.config()->tuning.head_timeout,
                        [self = shared_from_this()] { self->finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_->cancel();
    lifetime_->cancel();
    watch_.reset();
    fd_.reset();
    if (slot_) gate_.release_slot(client_);
  }

  GateContext& gate_;
  UniqueFd fd_;
  std::unique_ptr<FdWatch> watch_;
  std::unique_ptr<Timer> timer_;     // the query being waited for
  std::unique_ptr<Timer> lifetime_;  // the whole connection
  std::string client_;
  std::vector<uint8_t> in_;
  size_t len_ = 0;
  std::vector<uint8_t> out_;
  size_t sent_ = 0;
  bool slot_ = false;
  bool finished_ = false;
};

}  // namespace

DnsListeners::~DnsListeners() {
  // Stop watching before the descriptors close.
  udp_watch_.reset();
  tcp_watch_.reset();
}

void DnsListeners::bind(const SocketAddress& address, std::vector<std::string>& problems) {
  auto watched = [&](Result<UniqueFd> fd, UniqueFd& socket, std::unique_ptr<FdWatch>& watch,
                     const char* what) {
    if (fd) {
      auto w = gate_.loop().watch(fd->get());
      if (w) {
        socket = std::move(*fd);
        watch = std::move(*w);
        return;
      }
      fd = sys_error(address.str(), w.error().sys_errno);
    }
    problems.push_back(std::string("listen.dns ") + what + " " + fd.error().message);
  };
  watched(bind_udp(address), udp_, udp_watch_, "udp");
  watched(listen_tcp(address), tcp_, tcp_watch_, "tcp");
  tcp_backoff_ = gate_.loop().make_timer();
}

void DnsListeners::start() {
  receive_udp();
  accept_tcp();
}

void DnsListeners::receive_udp() {
  udp_watch_->wait_readable([this](bool ready) {
    if (!ready) return;
    answer_udp();
    receive_udp();
  });
}

void DnsListeners::answer_udp() {
  if (!udp_buffers_)
    udp_buffers_ = std::make_unique_for_overwrite<uint8_t[]>(kDnsBatch * kMaxDatagram);
  const int fd = udp_.get();
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
  for (int round = 0; round < kDnsRoundsPerWakeup; ++round) {
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
        if (peer_len > sizeof peers[i]) continue;
        client = gate_.client_name(peers[i], peer_len);
        std::memcpy(&last_peer, &peers[i], peer_len);
        last_peer_len = peer_len;
      }
      auto response =
          gate_.answer_dns({udp_buffers_.get() + i * kMaxDatagram, in[i].msg_len}, client);
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
}

void DnsListeners::accept_tcp() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int fd = ::accept4(tcp_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        tcp_watch_->wait_readable([this](bool ready) {
          if (ready) accept_tcp();
        });
        return;
      }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // Usually EMFILE: back off instead of spinning on a listener that stays readable.
      log_warn(std::string("accept on dns tcp: ") + std::strerror(errno));
      tcp_backoff_->start_after(std::chrono::milliseconds(100), [this] { accept_tcp(); });
      return;
    }
    UniqueFd client(fd);
    auto watch = gate_.loop().watch(fd);
    if (!watch) continue;  // closes it
    std::string client_ip = gate_.client_name(peer, peer_len);
    const bool slot = gate_.acquire_slot(client_ip);
    std::make_shared<DnsTcpConnection>(gate_, std::move(client), std::move(*watch),
                                       std::move(client_ip))
        ->start(slot);
  }
  // More may be waiting: let other work run first.
  gate_.loop().post([this] { accept_tcp(); });
}

}  // namespace acctl::gate
