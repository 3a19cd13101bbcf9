// EventLoop over standalone Asio: the one translation unit of ac-gate that compiles Asio.
#include "gate/asio_event_loop.h"

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <optional>

namespace acctl::gate {
namespace {

class AsioTimer final : public Timer {
 public:
  explicit AsioTimer(asio::io_context& io) : timer_(io) {}
  void start_at(std::chrono::steady_clock::time_point deadline,
                std::function<void()> fire) override {
    timer_.expires_at(deadline);
    timer_.async_wait([fire = std::move(fire)](std::error_code ec) {
      if (!ec) fire();
    });
  }
  void cancel() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

class AsioFdWatch final : public FdWatch {
 public:
  AsioFdWatch(asio::io_context& io) : descriptor_(io) {}
  ~AsioFdWatch() override {
    // Cancels the waits (their handlers see operation_aborted) without closing the descriptor.
    if (descriptor_.is_open()) (void)descriptor_.release();
  }
  std::error_code assign(int fd) {
    std::error_code ec;
    descriptor_.assign(fd, ec);
    return ec;
  }
  void wait_readable(std::function<void(bool)> done) override {
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read,
                           [done = std::move(done)](std::error_code ec) { done(!ec); });
  }
  void wait_writable(std::function<void(bool)> done) override {
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_write,
                           [done = std::move(done)](std::error_code ec) { done(!ec); });
  }

 private:
  asio::posix::stream_descriptor descriptor_;
};

class AsioEventLoop final : public EventLoop {
 public:
  void post(std::function<void()> fn) override { asio::post(io_, std::move(fn)); }
  std::unique_ptr<Timer> make_timer() override { return std::make_unique<AsioTimer>(io_); }
  Result<std::unique_ptr<FdWatch>> watch(int fd) override {
    auto watch = std::make_unique<AsioFdWatch>(io_);
    if (std::error_code ec = watch->assign(fd))
      return sys_error("watching a descriptor", ec.value());
    return std::unique_ptr<FdWatch>(std::move(watch));
  }
  Status on_signals(const std::vector<int>& signals, std::function<void(int)> on_signal) override {
    signals_.emplace(io_);
    for (int signal : signals) {
      std::error_code ec;
      signals_->add(signal, ec);
      if (ec) return sys_error("signal " + std::to_string(signal), ec.value());
    }
    on_signal_ = std::move(on_signal);
    wait_signal();
    return ok_status();
  }
  void run() override { io_.run(); }
  void stop() override { io_.stop(); }

 private:
  void wait_signal() {
    signals_->async_wait([this](std::error_code ec, int signal) {
      if (ec) return;
      on_signal_(signal);
      wait_signal();
    });
  }

  asio::io_context io_;
  std::optional<asio::signal_set> signals_;
  std::function<void(int)> on_signal_;
};

}  // namespace

std::unique_ptr<EventLoop> make_asio_event_loop() {
  return std::make_unique<AsioEventLoop>();
}

}  // namespace acctl::gate
