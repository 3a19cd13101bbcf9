// Per-client token buckets: the gate's DNS rate limit (limits.dnsQPS per client IP).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace acctl::gate {

// `rate` tokens per second, holding at most `burst`; starts full.
class TokenBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  TokenBucket(double rate, double burst, TimePoint now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes one token if there is one.
  bool take(TimePoint now);
  // Whether the bucket has refilled completely (an entry that can be forgotten).
  bool full(TimePoint now) const;

 private:
  void refill(TimePoint now);

  double rate_;
  double burst_;
  double tokens_;
  TimePoint last_;
};

// One bucket per key, created on first use. Full buckets are swept so that memory follows the
// number of recently active clients, not every address ever seen.
class RateLimiter {
 public:
  using TimePoint = TokenBucket::TimePoint;

  // The burst is one second's worth: a client may answer a page's burst of lookups at once.
  explicit RateLimiter(double per_second) : rate_(per_second) {}

  bool allow(const std::string& key, TimePoint now);
  // New buckets use the new rate; existing ones keep theirs until swept.
  void set_rate(double per_second) { rate_ = per_second; }
  void sweep(TimePoint now);
  size_t size() const { return buckets_.size(); }

 private:
  double rate_;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

}  // namespace acctl::gate
