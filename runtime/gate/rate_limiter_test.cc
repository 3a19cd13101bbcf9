// Tests for the per-client token buckets behind limits.dnsQPS, on a fake clock.
#include "gate/rate_limiter.h"

#include <gtest/gtest.h>

namespace acctl::gate {
namespace {

using std::chrono::milliseconds;

TEST(GateRateLimiter, AllowsABurstThenTheRate) {
  RateLimiter limiter;
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  int allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += limiter.allow("10.0.0.1", now, 10);
  EXPECT_EQ(allowed, 10);  // the burst is one second's worth
  now += milliseconds(100);
  EXPECT_TRUE(limiter.allow("10.0.0.1", now, 10));  // 100 ms refills one token at 10/s
  EXPECT_FALSE(limiter.allow("10.0.0.1", now, 10));
  now += std::chrono::seconds(60);
  allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += limiter.allow("10.0.0.1", now, 10);
  EXPECT_EQ(allowed, 10);  // refilling stops at the burst
}

TEST(GateRateLimiter, ClientsHaveTheirOwnBuckets) {
  RateLimiter limiter;
  const auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  EXPECT_TRUE(limiter.allow("a", now, 2));
  EXPECT_TRUE(limiter.allow("a", now, 2));
  EXPECT_FALSE(limiter.allow("a", now, 2));
  EXPECT_TRUE(limiter.allow("b", now, 2));
}

TEST(GateRateLimiter, SweepForgetsOnlyRefilledBuckets) {
  RateLimiter limiter;
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  limiter.allow("idle", now, 5);
  now += std::chrono::seconds(2);
  for (int i = 0; i < 5; ++i) limiter.allow("busy", now, 5);
  limiter.sweep(now);
  EXPECT_EQ(limiter.size(), 1u);
  EXPECT_FALSE(limiter.allow("busy", now, 5));  // sweeping did not hand the busy client new tokens
}

TEST(GateRateLimiter, EachKeyHasItsOwnRateAndAChangedRateStartsAgain) {
  RateLimiter limiter;
  const auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  int strict = 0, loose = 0;
  for (int i = 0; i < 10; ++i) strict += limiter.allow("strict", now, 2);
  for (int i = 0; i < 10; ++i) loose += limiter.allow("loose", now, 8);
  EXPECT_EQ(strict, 2);
  EXPECT_EQ(loose, 8);
  // A reload gave "strict" a new rate: its bucket is the new rate's, full.
  int after = 0;
  for (int i = 0; i < 10; ++i) after += limiter.allow("strict", now, 5);
  EXPECT_EQ(after, 5);
}

TEST(GateRateLimiter, ABackwardsClockAddsNothing) {
  TokenBucket bucket(1, 1, std::chrono::steady_clock::time_point(std::chrono::hours(2)));
  EXPECT_TRUE(bucket.take(std::chrono::steady_clock::time_point(std::chrono::hours(2))));
  EXPECT_FALSE(bucket.take(std::chrono::steady_clock::time_point(std::chrono::hours(1))));
}

}  // namespace
}  // namespace acctl::gate
