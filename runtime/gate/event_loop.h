// What the gate's listeners and connections need from the event loop, so that only the loop's
// implementation (asio_event_loop.cc) compiles Asio.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "common/result.h"

namespace acctl::gate {

// A one-shot timer. Starting it again replaces the earlier deadline; cancel() or destroying it
// means the pending `fire` is not called. As with any timer, a deadline that passed just before
// a restart may still fire: callers that care keep a generation number.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void start_at(std::chrono::steady_clock::time_point deadline,
                        std::function<void()> fire) = 0;
  void start_after(std::chrono::steady_clock::duration delay, std::function<void()> fire) {
    start_at(std::chrono::steady_clock::now() + delay, std::move(fire));
  }
  virtual void cancel() = 0;
};

// Readiness waits on a descriptor the loop does not own. Each wait is one-shot; `done(true)`
// when the descriptor is ready, `done(false)` when the wait failed or was cancelled.
// Destroying the watch cancels its waits and leaves the descriptor open.
class FdWatch {
 public:
  virtual ~FdWatch() = default;
  virtual void wait_readable(std::function<void(bool ready)> done) = 0;
  virtual void wait_writable(std::function<void(bool ready)> done) = 0;
};

// One thread runs everything: callbacks never overlap, and nothing here is thread-safe.
class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Runs `fn` from the loop soon, after the work at hand.
  virtual void post(std::function<void()> fn) = 0;
  virtual std::unique_ptr<Timer> make_timer() = 0;
  virtual Result<std::unique_ptr<FdWatch>> watch(int fd) = 0;
  // Calls `on_signal` with each of `signals` as it arrives (from the loop, not the handler).
  virtual Status on_signals(const std::vector<int>& signals,
                            std::function<void(int signal)> on_signal) = 0;
  // Runs until stop().
  virtual void run() = 0;
  virtual void stop() = 0;
};

}  // namespace acctl::gate
