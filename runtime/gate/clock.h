// The clocks the gate reads, behind an interface so timeouts, caches and rate limits are testable.
#pragma once

#include <chrono>

namespace acctl::gate {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for timeouts, TTLs and token buckets.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // Wall time for audit lines.
  virtual std::chrono::system_clock::time_point wall() const = 0;
};

class RealClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::now();
  }
};

// A clock that moves only when a test advances it.
class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return now_; }
  std::chrono::system_clock::time_point wall() const override { return wall_; }
  void advance(std::chrono::steady_clock::duration by) {
    now_ += by;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
  }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'800'000'000)};
};

}  // namespace acctl::gate
