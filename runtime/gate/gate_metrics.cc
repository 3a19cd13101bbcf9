// Renders the gate's counters in the Prometheus text exposition format (version 0.0.4).
#include "gate/gate_metrics.h"

#include <cstdio>
#include <sstream>

namespace acctl::gate {
namespace {

// Label values come from our own reason words and protocol names, but escape anyway.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

}  // namespace

namespace {

std::string_view reason_word(std::string_view reason) {
  const std::string_view word = reason.substr(0, reason.find_first_of(" :"));
  return word.empty() ? "none" : word;
}

}  // namespace

std::string reason_kind(std::string_view reason) {
  return std::string(reason_word(reason));
}

void GateMetrics::decision(std::string_view protocol, bool allowed, std::string_view reason) {
  const std::tuple<std::string_view, std::string_view, std::string_view> key{
      protocol, allowed ? "allow" : "deny", reason_word(reason)};
  auto it = decisions_.find(key);
  if (it == decisions_.end()) {
    it = decisions_.emplace(std::tuple<std::string, std::string, std::string>(key), 0).first;
  }
  ++it->second;
}

void GateMetrics::dns_query(std::string_view result) {
  auto it = dns_queries_.find(result);
  if (it == dns_queries_.end()) it = dns_queries_.emplace(std::string(result), 0).first;
  ++it->second;
}

void GateMetrics::connection_closed(uint64_t bytes_up, uint64_t bytes_down) {
  if (active_connections_ > 0) --active_connections_;
  ++connections_total_;
  bytes_up_ += bytes_up;
  bytes_down_ += bytes_down;
}

void GateMetrics::connect_latency(std::chrono::steady_clock::duration latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  for (size_t i = 0; i < kConnectBuckets.size(); ++i) {
    if (seconds <= kConnectBuckets[i]) ++connect_buckets_[i];
  }
  ++connect_count_;
  connect_sum_ += seconds;
}

std::string GateMetrics::prometheus_text() const {
  std::ostringstream out;
  out << "# HELP acctl_gate_decisions_total Egress decisions by protocol, decision and reason.\n"
      << "# TYPE acctl_gate_decisions_total counter\n";
  for (const auto& [key, count] : decisions_) {
    const auto& [protocol, decision, reason] = key;
    out << "acctl_gate_decisions_total{protocol=\"" << label(protocol) << "\",decision=\""
        << decision << "\",reason=\"" << label(reason) << "\"} " << count << "\n";
  }
  out << "# HELP acctl_gate_dns_queries_total DNS queries by result.\n"
      << "# TYPE acctl_gate_dns_queries_total counter\n";
  for (const auto& [result, count] : dns_queries_) {
    out << "acctl_gate_dns_queries_total{result=\"" << label(result) << "\"} " << count << "\n";
  }
  out << "# HELP acctl_gate_active_connections Client connections open now.\n"
      << "# TYPE acctl_gate_active_connections gauge\n"
      << "acctl_gate_active_connections " << active_connections_ << "\n"
      << "# HELP acctl_gate_connections_total Client connections closed.\n"
      << "# TYPE acctl_gate_connections_total counter\n"
      << "acctl_gate_connections_total " << connections_total_ << "\n"
      << "# HELP acctl_gate_bytes_total Bytes relayed, up (client to upstream) and down.\n"
      << "# TYPE acctl_gate_bytes_total counter\n"
      << "acctl_gate_bytes_total{direction=\"up\"} " << bytes_up_ << "\n"
      << "acctl_gate_bytes_total{direction=\"down\"} " << bytes_down_ << "\n"
      << "# HELP acctl_gate_upstream_connect_seconds Time to connect to an upstream.\n"
      << "# TYPE acctl_gate_upstream_connect_seconds histogram\n";
  for (size_t i = 0; i < kConnectBuckets.size(); ++i) {
    out << "acctl_gate_upstream_connect_seconds_bucket{le=\"" << number(kConnectBuckets[i])
        << "\"} " << connect_buckets_[i] << "\n";
  }
  out << "acctl_gate_upstream_connect_seconds_bucket{le=\"+Inf\"} " << connect_count_ << "\n"
      << "acctl_gate_upstream_connect_seconds_sum " << number(connect_sum_) << "\n"
      << "acctl_gate_upstream_connect_seconds_count " << connect_count_ << "\n"
      << "# HELP acctl_gate_reloads_total Config reloads by result.\n"
      << "# TYPE acctl_gate_reloads_total counter\n"
      << "acctl_gate_reloads_total{result=\"ok\"} " << reloads_ok_ << "\n"
      << "acctl_gate_reloads_total{result=\"failed\"} " << reloads_failed_ << "\n"
      << "# HELP acctl_gate_audit_suppressed_total Refusals not logged one by one (rate limit).\n"
      << "# TYPE acctl_gate_audit_suppressed_total counter\n"
      << "acctl_gate_audit_suppressed_total " << audit_suppressed_ << "\n"
      << "# HELP acctl_gate_audit_write_errors_total Audit log writes that failed.\n"
      << "# TYPE acctl_gate_audit_write_errors_total counter\n"
      << "acctl_gate_audit_write_errors_total " << audit_write_errors_ << "\n";
  return out.str();
}

}  // namespace acctl::gate
