// Tests for the resolution cache: record overrides, TTL expiry on a fake clock, coalescing.
#include "gate/resolver.h"

#include <gtest/gtest.h>

namespace acctl::gate {
namespace {

netpolicy::IpAddress ip(std::string_view text) {
  return *netpolicy::parse_ip(text);
}

// Records what was asked; the test completes queries when it chooses.
class FakeResolver final : public Resolver {
 public:
  void resolve(const std::string& name, Done done) override {
    asked.push_back(name);
    waiting.push_back(std::move(done));
  }
  void answer(ResolveResult result) {
    Done done = std::move(waiting.front());
    waiting.erase(waiting.begin());
    done(std::move(result));
  }
  std::vector<std::string> asked;
  std::vector<Done> waiting;
};

struct Collected {
  std::vector<ResolveResult> results;
  Resolver::Done sink() {
    return [this](ResolveResult result) { results.push_back(std::move(result)); };
  }
};

TEST(GateCachingResolver, RecordsOverrideUpstream) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  const RecordMap records = {{"intercept.test", {ip("10.9.0.5")}}};
  Collected got;
  resolve_with_records(records, resolver, "intercept.test", got.sink());
  ASSERT_EQ(got.results.size(), 1u);
  EXPECT_EQ(got.results[0].addresses, std::vector{ip("10.9.0.5")});
  EXPECT_EQ(got.results[0].source, "records");
  EXPECT_TRUE(upstream.asked.empty());
  // Another policy's records do not have it: the name goes upstream.
  resolve_with_records({}, resolver, "intercept.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 1u);
}

TEST(GateCachingResolver, CachesForTheTtlThenAsksAgain) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  Collected got;
  resolver.resolve("a.test", got.sink());
  upstream.answer({{ip("93.184.216.34")}, 30, "", ""});
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 1u);
  ASSERT_EQ(got.results.size(), 2u);
  EXPECT_EQ(got.results[1].source, "cache");
  clock.advance(std::chrono::seconds(29));
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 1u);
  clock.advance(std::chrono::seconds(1));
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 2u);  // expired: the records may have changed
}

TEST(GateCachingResolver, ConcurrentLookupsShareOneQuery) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  Collected got;
  for (int i = 0; i < 3; ++i) resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 1u);
  EXPECT_TRUE(got.results.empty());
  upstream.answer({{ip("1.2.3.4")}, 60, "", ""});
  ASSERT_EQ(got.results.size(), 3u);
  for (const auto& result : got.results) EXPECT_EQ(result.addresses, std::vector{ip("1.2.3.4")});
}

TEST(GateCachingResolver, FailuresAreNotCached) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  Collected got;
  resolver.resolve("a.test", got.sink());
  upstream.answer({{}, 0, "resolve: timeout", ""});
  EXPECT_EQ(got.results.at(0).error, "resolve: timeout");
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 2u);
}

TEST(GateCachingResolver, ZeroTtlStillAbsorbsABurstAndReloadForgets) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  Collected got;
  resolver.resolve("a.test", got.sink());
  upstream.answer({{ip("1.2.3.4")}, 0, "", ""});
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 1u);  // kept for the minimum TTL
  resolver.forget();
  resolver.resolve("a.test", got.sink());
  EXPECT_EQ(upstream.asked.size(), 2u);
}

TEST(GateCachingResolver, AnswersToQueriesSentBeforeAReloadAreNotCached) {
  FakeResolver upstream;
  FakeClock clock;
  CachingResolver resolver(upstream, clock);
  Collected got;
  resolver.resolve("a.test", got.sink());
  resolver.forget();
  upstream.answer({{ip("1.2.3.4")}, 60, "", ""});
  EXPECT_EQ(got.results.size(), 1u);
  EXPECT_EQ(resolver.cached(), 0u);
}

}  // namespace
}  // namespace acctl::gate
