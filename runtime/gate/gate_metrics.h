// The gate's counters and their Prometheus text form (served on the control listener only).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

namespace acctl::gate {

// The stable first word of a decision reason ("deny *.evil.com" → "deny", "private-address
// 10.0.0.0/8" → "private-address"): metric labels must not grow with names or ports.
std::string reason_kind(std::string_view reason);

// Updated from the event-loop thread only, so plain integers suffice.
class GateMetrics {
 public:
  static constexpr std::array<double, 12> kConnectBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  void decision(std::string_view protocol, bool allowed, std::string_view reason);
  void dns_query(std::string_view result);
  void connection_opened() { ++active_connections_; }
  void connection_closed(uint64_t bytes_up, uint64_t bytes_down);
  void connect_latency(std::chrono::steady_clock::duration latency);
  void reload(bool ok) { ++(ok ? reloads_ok_ : reloads_failed_); }
  // The audit log's losses so far: refusals suppressed by the rate limit, failed writes.
  void audit_state(uint64_t suppressed, uint64_t write_errors) {
    audit_suppressed_ = suppressed;
    audit_write_errors_ = write_errors;
  }
  uint64_t audit_write_errors() const { return audit_write_errors_; }

  uint64_t active_connections() const { return active_connections_; }
  std::string prometheus_text() const;

 private:
  // Transparent comparators: counting an existing label set allocates nothing.
  // (protocol, decision, reason) keys, looked up with string_views so counting allocates nothing.
  // Both sides are compared as views: libstdc++ 12 has no tuple<string> < tuple<string_view> for
  // clang, so std::less<> alone does not build there.
  struct DecisionKeyLess {
    using is_transparent = void;
    template <typename Key>
    static std::tuple<std::string_view, std::string_view, std::string_view> view(const Key& k) {
      return {std::get<0>(k), std::get<1>(k), std::get<2>(k)};
    }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
  };
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t, DecisionKeyLess> decisions_;
  std::map<std::string, uint64_t, std::less<>> dns_queries_;
  uint64_t active_connections_ = 0;
  uint64_t connections_total_ = 0;
  uint64_t bytes_up_ = 0;
  uint64_t bytes_down_ = 0;
  std::array<uint64_t, kConnectBuckets.size()> connect_buckets_{};
  uint64_t connect_count_ = 0;
  double connect_sum_ = 0;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
  uint64_t audit_suppressed_ = 0;
  uint64_t audit_write_errors_ = 0;
};

}  // namespace acctl::gate
