// The control port's HTTP: one request per connection, answered from the gate's metrics and
// reload.
#include "gate/control_listener.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "gate/gate_log.h"
#include "gate/http_head.h"
#include "gate/http_response.h"
#include "gate/sockets.h"

namespace acctl::gate {
namespace {

constexpr size_t kMaxControlHead = 8 * 1024;
// Connections accepted per wakeup before other work runs.
constexpr int kAcceptBatch = 64;

class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(GateContext& gate, UniqueFd fd, std::unique_ptr<FdWatch> watch)
      : gate_(gate),
        fd_(std::move(fd)),
        watch_(std::move(watch)),
        timer_(gate.loop().make_timer()),
        reader_(kMaxControlHead) {}

  void start() {
    timer_->start_after(std::chrono::seconds(10), [self = shared_from_this()] { self->close(); });
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
    while (!closed_) {
      const ssize_t n = ::recv(fd_.get(), in_.data() + len_, in_.size() - len_, MSG_DONTWAIT);
      if (n > 0) {
        len_ += static_cast<size_t>(n);
        on_bytes();
        return;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch_->wait_readable([self = shared_from_this()](bool ready) {
          if (self->closed_) return;
          ready ? self->read() : self->close();
        });
        return;
      }
      close();  // end of stream or an error
    }
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
    sent_ = 0;
    send();
  }

  void send() {
    while (!closed_ && sent_ < out_.size()) {
      const ssize_t n =
          ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch_->wait_writable([self = shared_from_this()](bool ready) {
          if (self->closed_) return;
          ready ? self->send() : self->close();
        });
        return;
      }
      break;  // closed below, as after a complete write
    }
    if (closed_) return;
    ::shutdown(fd_.get(), SHUT_WR);
    close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_->cancel();
    watch_.reset();
    fd_.reset();
  }

  GateContext& gate_;
  UniqueFd fd_;
  std::unique_ptr<FdWatch> watch_;
  std::unique_ptr<Timer> timer_;
  HttpHeadReader reader_;
  std::vector<char> in_;
  size_t len_ = 0;
  std::string out_;
  size_t sent_ = 0;
  bool closed_ = false;
};

}  // namespace

ControlListener::~ControlListener() {
  watch_.reset();
}

Status ControlListener::bind(const SocketAddress& address) {
  auto fd = listen_tcp(address);
  if (!fd) return fd.error();
  auto watch = gate_.loop().watch(fd->get());
  if (!watch) return sys_error(address.str(), watch.error().sys_errno);
  fd_ = std::move(*fd);
  watch_ = std::move(*watch);
  backoff_ = gate_.loop().make_timer();
  return ok_status();
}

void ControlListener::accept() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch_->wait_readable([this](bool ready) {
          if (ready) accept();
        });
        return;
      }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // Usually EMFILE: back off instead of spinning on a listener that stays readable.
      log_warn(std::string("accept on control: ") + std::strerror(errno));
      backoff_->start_after(std::chrono::milliseconds(100), [this] { accept(); });
      return;
    }
    UniqueFd client(fd);
    auto watch = gate_.loop().watch(fd);
    if (!watch) continue;  // closes it
    std::make_shared<ControlConnection>(gate_, std::move(client), std::move(*watch))->start();
  }
  // More may be waiting: let other work run first.
  gate_.loop().post([this] { accept(); });
}

}  // namespace acctl::gate
