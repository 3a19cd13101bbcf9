// Tests for the Prometheus text: bounded labels, counters, the latency histogram.
#include "gate/gate_metrics.h"

#include <gtest/gtest.h>

namespace acctl::gate {
namespace {

TEST(GateMetrics, ReasonKindsAreTheFirstWord) {
  EXPECT_EQ(reason_kind("deny *.evil.com"), "deny");
  EXPECT_EQ(reason_kind("port-not-allowed 22"), "port-not-allowed");
  EXPECT_EQ(reason_kind("resolve-failed: resolve: timeout"), "resolve-failed");
  EXPECT_EQ(reason_kind(""), "none");
}

TEST(GateMetrics, RendersCountersGaugesAndHistogram) {
  GateMetrics metrics;
  metrics.decision("tls", true, "allow github.com");
  metrics.decision("tls", true, "allow *.github.com");
  metrics.decision("http", false, "port-not-allowed 22");
  metrics.dns_query("nxdomain");
  metrics.connection_opened();
  metrics.connection_opened();
  metrics.connection_closed(10, 20);
  metrics.connect_latency(std::chrono::milliseconds(3));
  metrics.reload(false);
  const std::string text = metrics.prometheus_text();
  auto has = [&](std::string_view line) { return text.find(line) != std::string::npos; };
  EXPECT_TRUE(
      has("acctl_gate_decisions_total{protocol=\"tls\",decision=\"allow\",reason=\"allow\"} 2\n"));
  EXPECT_TRUE(
      has("acctl_gate_decisions_total{protocol=\"http\",decision=\"deny\",reason=\"port-not-"
          "allowed\"} 1\n"));
  EXPECT_TRUE(has("acctl_gate_dns_queries_total{result=\"nxdomain\"} 1\n"));
  EXPECT_TRUE(has("acctl_gate_active_connections 1\n"));
  EXPECT_TRUE(has("acctl_gate_bytes_total{direction=\"up\"} 10\n"));
  EXPECT_TRUE(has("acctl_gate_bytes_total{direction=\"down\"} 20\n"));
  EXPECT_TRUE(has("acctl_gate_upstream_connect_seconds_bucket{le=\"0.0025\"} 0\n"));
  EXPECT_TRUE(has("acctl_gate_upstream_connect_seconds_bucket{le=\"0.005\"} 1\n"));
  EXPECT_TRUE(has("acctl_gate_upstream_connect_seconds_bucket{le=\"+Inf\"} 1\n"));
  EXPECT_TRUE(has("acctl_gate_upstream_connect_seconds_count 1\n"));
  EXPECT_TRUE(has("acctl_gate_reloads_total{result=\"failed\"} 1\n"));
}

}  // namespace
}  // namespace acctl::gate
