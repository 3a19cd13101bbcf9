// Tests for ac-gate's config parser: defaults, every field, and all problems reported at once.
#include "gate/gate_config.h"

#include <gtest/gtest.h>

#include <string>

namespace acctl::gate {
namespace {

std::vector<std::string> problems_of(std::string_view text) {
  auto result = parse_gate_config(text);
  if (auto* problems = std::get_if<std::vector<std::string>>(&result)) return *problems;
  return {};
}

bool mentions(const std::vector<std::string>& problems, std::string_view needle) {
  for (const std::string& problem : problems) {
    if (problem.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(GateConfig, ParsesAFullConfig) {
  auto result = parse_gate_config(R"({
    "policy": {"allow": ["github.com", "*.github.com"], "deny": ["gist.github.com"],
               "ports": [443, 8443], "allowCIDRs": ["10.9.0.0/24"], "denyCIDRs": [],
               "dns": {"upstreams": ["1.1.1.1", "[2606:4700::1111]:5353"],
                       "records": {"Intercept.Test.": ["10.9.0.5", "fd00::5"]}},
               "limits": {"dnsQPS": 50, "connections": 100}},
    "gateIP": "172.20.0.53",
    "listen": {"dns": "172.20.0.53:53", "proxy": "[::1]:3128", "control": "127.0.0.1:9090"},
    "sandboxes": {"172.20.0.7": "pi-1"},
    "auditLog": "/var/log/gate.jsonl",
    "tuning": {"headTimeoutMs": 500, "httpsPort": 8443}})");
  ASSERT_TRUE(std::holds_alternative<GateConfig>(result))
      << std::get<std::vector<std::string>>(result).front();
  const GateConfig& config = std::get<GateConfig>(result);
  EXPECT_TRUE(config.fallback->rules->decide_name("api.github.com").allowed);
  EXPECT_FALSE(config.fallback->rules->decide_name("gist.github.com").allowed);
  EXPECT_TRUE(config.fallback->rules->decide_port(8443).allowed);
  EXPECT_FALSE(config.fallback->rules->decide_port(80).allowed);
  ASSERT_EQ(config.upstreams.size(), 2u);
  EXPECT_EQ(config.upstreams[0].str(), "1.1.1.1:53");
  EXPECT_EQ(config.upstreams[1].str(), "[2606:4700::1111]:5353");
  ASSERT_TRUE(config.fallback->records.contains("intercept.test"));  // normalised
  EXPECT_EQ(config.fallback->records.at("intercept.test").size(), 2u);
  EXPECT_EQ(config.fallback->dns_qps, 50u);
  EXPECT_EQ(config.connections, 100u);
  EXPECT_EQ(config.connections_per_client, 25u);  // a quarter by default
  EXPECT_EQ(config.gate_ip, (std::array<uint8_t, 4>{172, 20, 0, 53}));
  ASSERT_TRUE(config.listen.dns && config.listen.proxy && config.listen.control);
  EXPECT_FALSE(config.listen.http);
  EXPECT_EQ(config.listen.proxy->str(), "[::1]:3128");
  EXPECT_EQ(config.sandboxes.at("172.20.0.7").name, "pi-1");
  EXPECT_EQ(config.sandboxes.at("172.20.0.7").policy, config.fallback);
  EXPECT_EQ(config.audit_log, "/var/log/gate.jsonl");
  EXPECT_EQ(config.tuning.head_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(config.tuning.https_port, 8443);
  EXPECT_EQ(config.tuning.idle_timeout, std::chrono::seconds(300));
}

TEST(GateConfig, DefaultsFollowTheEgressPolicySchema) {
  auto result = parse_gate_config(R"({"policy": {}, "gateIP": "10.0.0.1"})");
  ASSERT_TRUE(std::holds_alternative<GateConfig>(result));
  const GateConfig& config = std::get<GateConfig>(result);
  EXPECT_TRUE(config.fallback->rules->decide_port(80).allowed);
  EXPECT_TRUE(config.fallback->rules->decide_port(443).allowed);
  EXPECT_FALSE(
      config.fallback->rules->decide_name("github.com").allowed);  // allow defaults to nothing
  EXPECT_EQ(config.fallback->dns_qps, 200u);
  EXPECT_EQ(config.connections, 1024u);
  EXPECT_EQ(config.audit_log, "-");
}

TEST(GateConfig, EachSandboxIsJudgedByItsOwnPolicy) {
  auto result = parse_gate_config(R"({
    "policy": {"allow": [], "dns": {"upstreams": ["10.0.0.9"]}, "limits": {"connections": 400}},
    "policies": {
      "web": {"allow": ["example.com"], "dns": {"records": {"pinned.test": ["10.9.0.5"]}},
              "limits": {"dnsQPS": 20, "connections": 8}},
      "git": {"allow": ["github.com"], "ports": [443]}},
    "gateIP": "172.20.0.53",
    "sandboxes": {"172.20.0.7": {"name": "a", "policy": "web", "egressPolicy": "web"},
                  "172.20.0.8": {"name": "b", "policy": "git"},
                  "172.20.0.9": "c"}})");
  ASSERT_TRUE(std::holds_alternative<GateConfig>(result))
      << std::get<std::vector<std::string>>(result).front();
  const GateConfig& config = std::get<GateConfig>(result);
  const ClientPolicy& a = config.policy_for("172.20.0.7");
  const ClientPolicy& b = config.policy_for("172.20.0.8");
  EXPECT_EQ(a.key, "web");
  EXPECT_TRUE(a.rules->decide_name("example.com").allowed);
  EXPECT_FALSE(a.rules->decide_name("github.com").allowed);
  EXPECT_TRUE(b.rules->decide_name("github.com").allowed);
  EXPECT_FALSE(b.rules->decide_name("example.com").allowed);
  EXPECT_FALSE(b.rules->decide_port(80).allowed);
  EXPECT_TRUE(a.records.contains("pinned.test"));
  EXPECT_FALSE(b.records.contains("pinned.test"));
  EXPECT_EQ(a.dns_qps, 20u);
  EXPECT_EQ(a.connections, 8u);
  EXPECT_EQ(config.connections, 400u);  // the gate's cap is the top-level policy's
  ASSERT_EQ(config.upstreams.size(), 1u);
  EXPECT_EQ(config.sandbox("172.20.0.7")->egress_policy, "web");
  // A sandbox without a policy key, and an unknown client: the top-level policy (nothing).
  EXPECT_EQ(&config.policy_for("172.20.0.9"), config.fallback.get());
  EXPECT_EQ(&config.policy_for("172.20.0.99"), config.fallback.get());
  EXPECT_EQ(config.sandbox("172.20.0.99"), nullptr);
  EXPECT_FALSE(config.policy_for("172.20.0.99").rules->decide_name("example.com").allowed);
}

TEST(GateConfig, RefusesAMissingPolicyKeyAndAResolverPerPolicy) {
  const auto problems = problems_of(R"({
    "policy": {}, "gateIP": "10.0.0.1",
    "policies": {"web": {"dns": {"upstreams": ["1.1.1.1"]}, "limits": {"dnsQPS": 0}}},
    "sandboxes": {"10.0.0.7": {"name": "a", "policy": "wbe"}}})");
  for (std::string_view needle :
       {"policies.web.dns.upstreams: the gate has one resolver", "policies.web.limits.dnsQPS",
        "sandboxes.10.0.0.7.policy: no policy \"wbe\""}) {
    EXPECT_TRUE(mentions(problems, needle)) << "no problem mentions " << needle;
  }
}

TEST(GateConfig, CredentialsAreCompiledAndTheirTokensReadOnlyWhenAsked) {
  const std::string text = R"({
    "policy": {}, "gateIP": "10.0.0.1",
    "policies": {"gh": {"allow": ["github.com", "api.github.com"],
      "credentials": [{"provider": "github", "gitHosts": ["GitHub.com"],
                       "apiHosts": ["api.github.com"], "tokenFile": "/s/gh",
                       "repositories": ["O/R"]}]}},
    "sandboxes": {"10.0.0.7": {"name": "a", "policy": "gh"}},
    "tls": {"caCert": "/tls/ca.pem", "caKey": "/tls/ca.key"}})";
  // Without a reader (acctl's checks): compiled, no token, no TLS loaded.
  auto plain = parse_gate_config(text);
  ASSERT_TRUE(std::holds_alternative<GateConfig>(plain))
      << std::get<std::vector<std::string>>(plain).front();
  const ClientPolicy& p = std::get<GateConfig>(plain).policy_for("10.0.0.7");
  ASSERT_EQ(p.credentials.size(), 1u);
  EXPECT_EQ(p.credentials[0].git_hosts, std::vector<std::string>{"github.com"});
  EXPECT_EQ(p.credentials[0].repositories, std::vector<std::string>{"o/r"});
  EXPECT_TRUE(p.credentials[0].token.empty());
  EXPECT_EQ(p.credential_for("api.github.com"), &p.credentials[0]);
  EXPECT_EQ(p.credential_for("gitlab.com"), nullptr);
  EXPECT_FALSE(std::get<GateConfig>(plain).tls);
  // With one: the token file is read (its newline dropped), a missing file is a problem.
  const ReadFile read = [](const std::string& path) -> std::optional<std::string> {
    if (path == "/s/gh") return std::string("tok\n");
    return std::nullopt;
  };
  auto loaded = parse_gate_config(text, &read);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(loaded));
  const auto& problems = std::get<std::vector<std::string>>(loaded);
  EXPECT_TRUE(mentions(problems, "tls.caCert: cannot read /tls/ca.pem"));
  EXPECT_FALSE(mentions(problems, "tokenFile"));
}

TEST(GateConfig, RefusesCredentialsItCouldNotInject) {
  const auto problems = problems_of(R"({
    "policy": {"credentials": [{"provider": "github", "gitHosts": ["github.com"],
                                "tokenFile": "/t"}]},
    "gateIP": "10.0.0.1",
    "policies": {"p": {"allow": ["example.com"], "credentials": [
      {"provider": "bitbucket", "gitHosts": ["github.com"], "tokenFile": "/t"},
      {"provider": "gitlab", "gitHosts": ["github.com", "1.2.3.4"]},
      {"provider": "github"}]}}})");
  for (std::string_view needle :
       {"policy.credentials: only a sandbox's policy", "policies.p.credentials[0].provider",
        "github.com is not allowed by the policy's names",
        "policies.p.credentials[1].gitHosts[0]: github.com is a host of another credential",
        "policies.p.credentials[1].gitHosts[1]: not a host name",
        "policies.p.credentials[1].tokenFile: required", "policies.p.credentials[2]: names no host",
        "tls: required"}) {
    EXPECT_TRUE(mentions(problems, needle)) << "no problem mentions " << needle;
  }
}

TEST(GateConfig, ReportsEveryProblemWithItsPath) {
  const auto problems = problems_of(R"({
    "policy": {"allow": ["GitHub.com", 7], "ports": [0, 443, 443], "allowCIDRs": ["10.0.0.1/8"],
               "dns": {"upstreams": ["1.1.1.1:99999", "dns.google"],
                       "records": {"x.test": [], "1.2.3.4": ["1.1.1.1"], "y.test": ["nope"]}},
               "limits": {"dnsQPS": 0, "burst": 3},
               "typo": true},
    "gateIP": "::1",
    "listen": {"dns": "0.0.0.0", "smtp": "1.2.3.4:25"},
    "sandboxes": {"not-an-ip": "x"},
    "auditLog": "",
    "tuning": {"headTimeoutMs": 0}})");
  for (std::string_view needle :
       {"policy.allow[1]", "allow \"GitHub.com\"", "policy.ports[0]", "policy.ports[2]",
        "allowCIDRs \"10.0.0.1/8\"", "policy.dns.upstreams[0]", "policy.dns.upstreams[1]",
        "policy.dns.records.x.test", "policy.dns.records.1.2.3.4", "policy.dns.records.y.test[0]",
        "policy.limits.dnsQPS", "policy.limits.burst: unknown field", "policy.typo: unknown field",
        "gateIP", "listen.dns", "listen.smtp: unknown field", "sandboxes.not-an-ip", "auditLog",
        "tuning.headTimeoutMs"}) {
    EXPECT_TRUE(mentions(problems, needle)) << "no problem mentions " << needle;
  }
}

TEST(GateConfig, RequiresPolicyAndGateIp) {
  const auto problems = problems_of("{}");
  EXPECT_TRUE(mentions(problems, "policy: required"));
  EXPECT_TRUE(mentions(problems, "gateIP: required"));
  EXPECT_TRUE(mentions(problems_of("[1]"), "must be a JSON object"));
  EXPECT_TRUE(mentions(problems_of("{"), "not JSON"));
}

TEST(GateConfig, LoadNamesTheFileInEveryProblem) {
  const auto result = load_gate_config("/nonexistent/gate.json");
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(result));
  EXPECT_EQ(std::get<std::vector<std::string>>(result).front(),
            "/nonexistent/gate.json: cannot read");
}

TEST(GateConfig, SocketAddresses) {
  EXPECT_EQ(std::get<SocketAddress>(parse_socket_address("127.0.0.1:53", std::nullopt)).port, 53);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_socket_address("127.0.0.1", std::nullopt)));
  EXPECT_EQ(std::get<SocketAddress>(parse_socket_address("127.0.0.1", 53)).str(), "127.0.0.1:53");
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_socket_address("::1:53", std::nullopt)));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_socket_address("[1.2.3.4]:53", 53)));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_socket_address("host:53", 53)));
}

}  // namespace
}  // namespace acctl::gate
