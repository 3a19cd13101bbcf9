// Tests for the per-client token buckets behind limits.dnsQPS, on a fake clock.
#include "gate/rate_limiter.h"

#include <gtest/gtest.h>

namespace acctl::gate {
namespace {

using std::chrono::milliseconds;

TEST(GateRateLimiter, AllowsABurstThenTheRate) {
  RateLimiter limiter(10);
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  int allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += limiter.allow("10.0.0.1", now);
  EXPECT_EQ(allowed, 10);  // the burst is one second's worth
  now += milliseconds(100);
  EXPECT_TRUE(limiter.allow("10.0.0.1", now));  // 100 ms refills one token at 10/s
  EXPECT_FALSE(limiter.allow("10.0.0.1", now));
  now += std::chrono::seconds(60);
  allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += limiter.allow("10.0.0.1", now);
  EXPECT_EQ(allowed, 10);  // refilling stops at the burst
}

TEST(GateRateLimiter, ClientsHaveTheirOwnBuckets) {
  RateLimiter limiter(2);
  const auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  EXPECT_TRUE(limiter.allow("a", now));
  EXPECT_TRUE(limiter.allow("a", now));
  EXPECT_FALSE(limiter.allow("a", now));
  EXPECT_TRUE(limiter.allow("b", now));
}

TEST(GateRateLimiter, SweepForgetsOnlyRefilledBuckets) {
  RateLimiter limiter(5);
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  limiter.allow("idle", now);
  now += std::chrono::seconds(2);
  for (int i = 0; i < 5; ++i) limiter.allow("busy", now);
  limiter.sweep(now);
  EXPECT_EQ(limiter.size(), 1u);
  EXPECT_FALSE(limiter.allow("busy", now));  // sweeping did not hand the busy client new tokens
}

TEST(GateRateLimiter, ABackwardsClockAddsNothing) {
  TokenBucket bucket(1, 1, std::chrono::steady_clock::time_point(std::chrono::hours(2)));
  EXPECT_TRUE(bucket.take(std::chrono::steady_clock::time_point(std::chrono::hours(2))));
  EXPECT_FALSE(bucket.take(std::chrono::steady_clock::time_point(std::chrono::hours(1))));
}

}  // namespace
}  // namespace acctl::gate
