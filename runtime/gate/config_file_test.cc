// Tests for the gate config file's shape: round trips, deterministic text, refused fields.
#include "gate/config_file.h"

#include <gtest/gtest.h>

#include <string>

namespace acctl::gate {
namespace {

GateConfigFile full_file() {
  GateConfigFile f;
  f.policy.allow = {"*.github.com", "github.com"};
  f.policy.deny = {"gist.github.com"};
  f.policy.ports = {443, 8443};
  f.policy.allow_cidrs = {"10.9.0.0/24"};
  f.policy.deny_cidrs = {"10.9.0.128/25"};
  f.policy.dns.upstreams = {"1.1.1.1", "[2606:4700::1111]:5353"};
  f.policy.dns.records = {{"intercept.test", {"10.9.0.5", "fd00::5"}}};
  f.policy.limits = {50, 100};
  f.gate_ip = "172.20.0.53";
  f.listen.dns = "172.20.0.53:53";
  f.listen.proxy = "172.20.0.53:3128";
  f.listen.control = "127.0.0.1:9099";
  f.sandboxes = {{"172.20.0.7", {"pi-1", "", "", ""}},
                 {"172.20.0.8", {"codex-2", "strict+codex", "strict", "codex"}}};
  PolicyFile strict;
  strict.allow = {"api.openai.com"};
  strict.dns.records = {{"intercept.test", {"10.9.0.6"}}};
  strict.limits = {20, 64};
  CredentialFile github;
  github.provider = "github";
  github.git_hosts = {"github.com"};
  github.api_hosts = {"api.github.com"};
  github.token_file = "/etc/ac-gate/secrets/codex-2/github";
  github.allow_push = true;
  github.repositories = {"o/r"};
  strict.credentials = {github};
  f.policies = {{"strict+codex", strict}};
  f.tls =
      TlsFile{"/etc/ac-gate/tls/ca.pem", "/etc/ac-gate/tls/ca.key", {"/etc/ac-gate/trust/a.pem"}};
  f.audit_log = "/var/log/gate.jsonl";
  f.audit_required = true;
  TuningFile t;
  t.head_timeout_ms = 500;
  t.https_port = 8443;
  f.tuning = t;
  return f;
}

std::string problems_of(std::string_view text) {
  auto parsed = parse_gate_config_file(text);
  return parsed ? "" : parsed.error().message;
}

TEST(GateConfigFile, RoundTripsThroughText) {
  const GateConfigFile f = full_file();
  auto back = parse_gate_config_file(to_json_text(f));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == f);
  EXPECT_FALSE(back->listen.http);  // absent stays absent
  ASSERT_TRUE(back->tuning);
  EXPECT_FALSE(back->tuning->idle_timeout_ms);
}

TEST(GateConfigFile, DefaultsRoundTripAndAbsentFieldsMeanTheDefaults) {
  GateConfigFile f;
  f.gate_ip = "10.0.0.1";
  auto back = parse_gate_config_file(to_json_text(f));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == f);
  auto minimal = parse_gate_config_file(R"({"policy": {}, "gateIP": "10.0.0.1"})");
  ASSERT_TRUE(minimal.ok()) << minimal.error().message;
  EXPECT_TRUE(*minimal == f);
  EXPECT_EQ(minimal->policy.ports, (std::vector<int64_t>{80, 443}));
  EXPECT_EQ(minimal->audit_log, "-");
  EXPECT_FALSE(minimal->audit_required);
  // Best effort is not written, so configs from before the field keep their text.
  EXPECT_EQ(to_json_text(*minimal).find("auditRequired"), std::string::npos);
  EXPECT_FALSE(minimal->tuning);
}

TEST(GateConfigFile, TextIsDeterministicSortedAndIndented) {
  GateConfigFile a = full_file();
  GateConfigFile b = full_file();
  // Built in another order: the same document.
  b.sandboxes.clear();
  b.sandboxes["172.20.0.8"] = {"codex-2", "strict+codex", "strict", "codex"};
  b.sandboxes["172.20.0.7"] = {"pi-1", "", "", ""};
  EXPECT_EQ(to_json_text(a), to_json_text(b));
  b.sandboxes["172.20.0.9"] = {"pi-3", "", "", ""};
  EXPECT_NE(to_json_text(a), to_json_text(b));

  GateConfigFile small;
  small.gate_ip = "172.20.0.53";
  small.listen.dns = "172.20.0.53:53";
  small.sandboxes = {{"172.20.0.7", {"pi-1", "", "", ""}}};
  EXPECT_EQ(to_json_text(small), R"({
  "auditLog": "-",
  "gateIP": "172.20.0.53",
  "listen": {
    "dns": "172.20.0.53:53"
  },
  "policy": {
    "allow": [],
    "allowCIDRs": [],
    "deny": [],
    "denyCIDRs": [],
    "dns": {
      "records": {},
      "upstreams": []
    },
    "limits": {
      "connections": 1024,
      "dnsQPS": 200
    },
    "ports": [
      80,
      443
    ]
  },
  "sandboxes": {
    "172.20.0.7": {
      "name": "pi-1"
    }
  }
}
)");
}

TEST(GateConfigFile, CredentialsAndTlsAreCheckedWithTheirPaths) {
  const std::string problems = problems_of(R"({
    "policy": {}, "gateIP": "10.0.0.1",
    "policies": {"p": {"credentials": [{"provider": 1, "allowPush": "no", "color": 2}, 3]}},
    "tls": {"caCert": "/ca.pem", "extra": 1}})");
  for (const char* needle :
       {"policies.p.credentials[0].provider: must be a string",
        "policies.p.credentials[0].allowPush: must be true or false",
        "policies.p.credentials[0].color: unknown field", "policies.p.credentials[1]: must be an",
        "tls.extra: unknown field", "tls.caKey: required"}) {
    EXPECT_NE(problems.find(needle), std::string::npos) << "no problem says " << needle;
  }
}

TEST(GateConfigFile, ASandboxMayBeJustItsNameAndPoliciesAreCheckedLikePolicy) {
  auto plain = parse_gate_config_file(
      R"({"policy": {}, "gateIP": "10.0.0.1", "sandboxes": {"10.0.0.7": "pi-1"}})");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->sandboxes.at("10.0.0.7"), (SandboxFile{"pi-1", "", "", ""}));
  const std::string problems = problems_of(R"({
    "policy": {}, "gateIP": "10.0.0.1",
    "policies": {"p": {"allow": [3], "typo": 1}, "q": 7},
    "sandboxes": {"10.0.0.7": {"policy": "p", "color": "red"}, "10.0.0.8": {"name": 5}}})");
  for (const char* needle :
       {"policies.p.allow[0]: must be a string", "policies.p.typo: unknown field",
        "policies.q: must be an object", "sandboxes.10.0.0.7.color: unknown field",
        "sandboxes.10.0.0.7.name: required", "sandboxes.10.0.0.8.name: must be a string"}) {
    EXPECT_NE(problems.find(needle), std::string::npos) << "no problem says " << needle;
  }
}

TEST(GateConfigFile, RefusesUnknownFieldsWithTheirPath) {
  const std::string problems = problems_of(R"({
    "policy": {"allow": [], "typo": 1, "dns": {"recrods": {}}, "limits": {"burst": 3}},
    "gateIP": "10.0.0.1",
    "listen": {"smtp": "1.2.3.4:25"},
    "tuning": {"headTimeout": 5},
    "extra": true})");
  for (const char* needle : {"policy.typo: unknown field", "policy.dns.recrods: unknown field",
                             "policy.limits.burst: unknown field", "listen.smtp: unknown field",
                             "tuning.headTimeout: unknown field", "config.extra: unknown field"}) {
    EXPECT_NE(problems.find(needle), std::string::npos) << "no problem says " << needle;
  }
}

TEST(GateConfigFile, ChecksTypesAndRequiredFieldsAndReportsThemAll) {
  const std::string problems = problems_of(R"({
    "policy": {"allow": ["a.test", 7], "ports": [443, "80"], "limits": {"dnsQPS": 1.5},
               "dns": {"records": {"x.test": "1.2.3.4", "y.test": [false]}}},
    "listen": {"dns": 53},
    "sandboxes": {"172.20.0.7": 1},
    "auditLog": 0,
    "auditRequired": "yes",
    "tuning": {"httpPort": "80"}})");
  for (const char* needle :
       {"policy.allow[1]: must be a string", "policy.ports[1]: must be a port number",
        "policy.limits.dnsQPS: must be an integer", "policy.dns.records.x.test: must be a",
        "policy.dns.records.y.test[0]", "gateIP: required", "listen.dns: must be a string",
        "sandboxes.172.20.0.7: must be a sandbox name", "auditLog: must be",
        "auditRequired: must be true or false", "tuning.httpPort: must be an integer"}) {
    EXPECT_NE(problems.find(needle), std::string::npos) << "no problem says " << needle;
  }
  EXPECT_NE(problems_of(R"({"gateIP": "10.0.0.1"})").find("policy: required"), std::string::npos);
  EXPECT_NE(problems_of(R"({"policy": null, "gateIP": "10.0.0.1"})").find("policy: required"),
            std::string::npos);
  EXPECT_NE(
      problems_of(R"({"policy": [], "gateIP": "10.0.0.1"})").find("policy: must be an object"),
      std::string::npos);
  EXPECT_NE(problems_of("[]").find("config: must be a JSON object"), std::string::npos);
  EXPECT_NE(problems_of("{").find("config: not JSON"), std::string::npos);
}

TEST(GateConfigFile, ValuesAreNotItsBusiness) {
  // Meaningless values of the right type pass the shape check; ac-gate's compile refuses them.
  auto parsed = parse_gate_config_file(R"({"policy": {"ports": [0], "allowCIDRs": ["x"]},
                                          "gateIP": "not-an-ip", "listen": {"dns": "nowhere"}})");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->gate_ip, "not-an-ip");
  EXPECT_EQ(parsed->policy.ports, std::vector<int64_t>{0});
}

}  // namespace
}  // namespace acctl::gate
