// Token-bucket arithmetic for the per-client DNS rate limit.
#include "gate/rate_limiter.h"

#include <algorithm>

namespace acctl::gate {

void TokenBucket::refill(TimePoint now) {
  if (now <= last_) return;  // a clock that does not move forward never adds tokens
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  last_ = now;
}

bool TokenBucket::take(TimePoint now) {
  refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

bool TokenBucket::full(TimePoint now) const {
  if (now <= last_) return tokens_ >= burst_;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  return tokens_ + seconds * rate_ >= burst_;
}

bool RateLimiter::allow(const std::string& key, TimePoint now, double per_second) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    it = buckets_.emplace(key, TokenBucket(per_second, per_second, now)).first;
  } else if (it->second.rate() != per_second) {
    it->second = TokenBucket(per_second, per_second, now);
  }
  return it->second.take(now);
}

void RateLimiter::sweep(TimePoint now) {
  std::erase_if(buckets_, [now](const auto& entry) { return entry.second.full(now); });
}

}  // namespace acctl::gate
