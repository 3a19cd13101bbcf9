// The gate's resolution cache (TTL expiry, coalescing of concurrent lookups) and the record
// overrides in front of it.
#include "gate/resolver.h"

#include <algorithm>

namespace acctl::gate {

void resolve_with_records(const RecordMap& records, Resolver& resolver, const std::string& name,
                          Resolver::Done done) {
  if (auto record = records.find(name); record != records.end()) {
    done(ResolveResult{record->second, 0, "", "records"});
    return;
  }
  resolver.resolve(name, std::move(done));
}

void CachingResolver::resolve(const std::string& name, Done done) {
  const auto now = clock_.now();
  if (auto entry = cache_.find(name); entry != cache_.end()) {
    if (entry->second.expires > now) {
      const auto left =
          std::chrono::duration_cast<std::chrono::seconds>(entry->second.expires - now);
      done(
          ResolveResult{entry->second.addresses, static_cast<uint32_t>(left.count()), "", "cache"});
      return;
    }
    cache_.erase(entry);
  }
  auto [waiting, first] = pending_.try_emplace(name);
  waiting->second.push_back(std::move(done));
  if (!first) return;
  const uint64_t generation = generation_;
  upstream_.resolve(name, [this, name, generation](ResolveResult result) {
    finish(name, generation, std::move(result));
  });
}

void CachingResolver::finish(const std::string& name, uint64_t generation, ResolveResult result) {
  result.source = "upstream";
  if (result.error.empty() && result.addresses.empty()) result.error = "no addresses";
  if (result.error.empty() && generation == generation_) {
    if (cache_.size() >= max_entries_) {
      // Drop expired entries first; if the cache is still full of live ones, start over rather
      // than tracking recency: names are bounded by the allowlist, so this is rare.
      const auto now = clock_.now();
      std::erase_if(cache_, [now](const auto& entry) { return entry.second.expires <= now; });
      if (cache_.size() >= max_entries_) cache_.clear();
    }
    const uint32_t ttl = std::clamp(result.ttl_seconds, kMinTtl, kMaxTtl);
    cache_[name] = Entry{result.addresses, ttl, clock_.now() + std::chrono::seconds(ttl)};
  }
  auto waiting = pending_.extract(name);
  if (waiting.empty()) return;
  for (Done& done : waiting.mapped()) done(result);
}

void CachingResolver::forget() {
  cache_.clear();
  ++generation_;
}

}  // namespace acctl::gate
