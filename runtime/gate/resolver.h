// How the gate resolves names it is about to dial: the interface, a cache, and a policy's record
// overrides in front of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "gate/clock.h"
#include "netpolicy/address.h"

namespace acctl::gate {

struct ResolveResult {
  std::vector<netpolicy::IpAddress> addresses;  // empty on failure
  uint32_t ttl_seconds = 0;                     // the smallest TTL of the answer
  std::string error;                            // why there are no addresses
  std::string source;                           // "records", "cache" or "upstream"
};

// Asynchronous resolution. `done` runs exactly once, possibly before resolve() returns, on the
// thread that drives the implementation (the gate's event loop).
class Resolver {
 public:
  using Done = std::function<void(ResolveResult)>;
  virtual ~Resolver() = default;
  // `name` is already normalised (lower case, no trailing dot) and allowed by the policy.
  virtual void resolve(const std::string& name, Done done) = 0;
};

// dns.records: normalised name → the addresses a policy pins it to.
using RecordMap = std::map<std::string, std::vector<netpolicy::IpAddress>>;

// Answers from `records` (the client's policy's own, so one sandbox's pins never redirect
// another's connections) when they have the name, else asks `resolver`.
void resolve_with_records(const RecordMap& records, Resolver& resolver, const std::string& name,
                          Resolver::Done done);

// Answers from a TTL cache, else asks `upstream`. Concurrent
// lookups of one name share a single upstream query, so a burst of connections to a name costs
// one round trip. Failures are not cached: the next connection asks again.
class CachingResolver final : public Resolver {
 public:
  // Bounds for cached TTLs: at least 1 s so a TTL of 0 still absorbs a burst, at most 1 h.
  static constexpr uint32_t kMinTtl = 1;
  static constexpr uint32_t kMaxTtl = 3600;

  CachingResolver(Resolver& upstream, const Clock& clock, size_t max_entries = 10000)
      : upstream_(upstream), clock_(clock), max_entries_(max_entries) {}

  void resolve(const std::string& name, Done done) override;

  // Forgets everything cached, answers in flight included (a reload changed the upstreams).
  void forget();
  size_t cached() const { return cache_.size(); }

 private:
  struct Entry {
    std::vector<netpolicy::IpAddress> addresses;
    uint32_t ttl_seconds = 0;
    std::chrono::steady_clock::time_point expires;
  };

  void finish(const std::string& name, uint64_t generation, ResolveResult result);

  Resolver& upstream_;
  const Clock& clock_;
  size_t max_entries_;
  std::unordered_map<std::string, Entry> cache_;
  std::unordered_map<std::string, std::vector<Done>> pending_;
  // Bumped by forget so answers to queries sent before a reload are not cached.
  uint64_t generation_ = 0;
};

}  // namespace acctl::gate
