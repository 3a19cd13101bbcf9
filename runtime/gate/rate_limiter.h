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

  double rate() const { return rate_; }
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
  // `per_second` is the key's own rate (each sandbox's policy has one). A bucket whose rate
  // changed (a reload) starts again, full, at the new rate.
  bool allow(const std::string& key, TimePoint now, double per_second);
  void sweep(TimePoint now);
  size_t size() const { return buckets_.size(); }

 private:
  std::unordered_map<std::string, TokenBucket> buckets_;
};

}  // namespace acctl::gate
