// The gate's config, from the manifests through acctl's writer into ac-gate's own reader.
#include "converge/gate_policy.h"

#include <gtest/gtest.h>

#include <variant>

#include "gate/gate_config.h"
#include "manifest/test_support.h"

namespace acctl {
namespace {

constexpr const char* kManifests = R"(apiVersion: acctl/v1alpha1
kind: Host
metadata: {name: local}
spec: {network: {subnet: 10.77.0.0/16, gateIP: 10.77.0.53}}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: default}
spec:
  allow: [github.com, "*.githubusercontent.com"]
  deny: ["*.evil.example"]
  ports: [443, 8443]
  allowCIDRs: [10.9.0.0/24]
  denyCIDRs: [203.0.113.0/24]
  dns: {upstreams: ["192.0.2.1:5353", "[2001:db8::1]:53"], records: {intercept.test: [10.9.0.5]}}
  limits: {dnsQPS: 50, connections: 300}
---
apiVersion: acctl/v1alpha1
kind: Sandbox
metadata: {name: dev}
spec: {blueprint: pi}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: web}
spec:
  allow: [example.com]
  limits: {connections: 2000}
  dns: {upstreams: ["192.0.2.1:5353", "[2001:db8::1]:53"]}
---
apiVersion: acctl/v1alpha1
kind: Sandbox
metadata: {name: shell}
spec: {blueprint: base, egressPolicy: web}
)";

TEST(GateConfig, WhatAcctlWritesIsWhatTheGateReads) {
  ManifestSet set;
  ASSERT_TRUE(testing::check_text(kManifests, "t.yaml", &set).empty());
  const Host& host = set.model.hosts.front();
  auto policy = gate_policy_for(set.model, host);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  const std::map<std::string, std::string> addresses = {
      {"10.77.0.2", "dev"}, {"10.77.0.3", "shell"}, {"10.77.0.4", "gone"}};
  const std::string text = gate_config_text(host, *policy, addresses);

  auto parsed = gate::parse_gate_config(text);
  ASSERT_TRUE(std::holds_alternative<gate::GateConfig>(parsed))
      << testing::joined(std::get<std::vector<std::string>>(parsed));
  const gate::GateConfig& g = std::get<gate::GateConfig>(parsed);
  const gate::ClientPolicy& dev = g.policy_for("10.77.0.2");
  const gate::ClientPolicy& shell = g.policy_for("10.77.0.3");
  EXPECT_EQ(dev.key, "default+pi");
  EXPECT_EQ(shell.key, "web");
  // The Blueprint's egress names joined the policy's own.
  EXPECT_TRUE(dev.rules->decide_name("pi.dev").allowed);
  EXPECT_TRUE(dev.rules->decide_name("github.com").allowed);
  EXPECT_TRUE(dev.rules->decide_name("raw.githubusercontent.com").allowed);
  EXPECT_FALSE(dev.rules->decide_name("a.evil.example").allowed);
  EXPECT_FALSE(dev.rules->decide_name("example.org").allowed);
  EXPECT_TRUE(dev.rules->decide_port(8443).allowed);
  EXPECT_FALSE(dev.rules->decide_port(80).allowed);
  EXPECT_TRUE(dev.rules->decide_address(*netpolicy::parse_ip("10.9.0.7")).allowed);
  EXPECT_FALSE(dev.rules->decide_address(*netpolicy::parse_ip("203.0.113.9")).allowed);
  // The sandbox network and the gate itself are never dialled.
  EXPECT_FALSE(dev.rules->decide_address(*netpolicy::parse_ip("10.77.0.2")).allowed);
  EXPECT_FALSE(dev.rules->decide_address(*netpolicy::parse_ip("::ffff:10.77.0.53")).allowed);
  // The other sandbox has its own: not the other's names, Blueprint egress or records.
  EXPECT_TRUE(shell.rules->decide_name("example.com").allowed);
  EXPECT_FALSE(shell.rules->decide_name("github.com").allowed);
  EXPECT_FALSE(shell.rules->decide_name("pi.dev").allowed);
  EXPECT_TRUE(shell.rules->decide_port(80).allowed);
  EXPECT_FALSE(shell.rules->decide_address(*netpolicy::parse_ip("10.77.0.2")).allowed);
  EXPECT_FALSE(shell.records.contains("intercept.test"));
  // A name the manifests do not have, and any other client: nothing.
  EXPECT_EQ(&g.policy_for("10.77.0.4"), g.fallback.get());
  EXPECT_EQ(g.sandbox("10.77.0.4")->name, "gone");
  EXPECT_FALSE(g.policy_for("10.77.0.99").rules->decide_name("github.com").allowed);
  EXPECT_FALSE(g.policy_for("10.77.0.99").rules->decide_name("example.com").allowed);
  EXPECT_EQ(dev.records.at("intercept.test").front().str(), "10.9.0.5");
  ASSERT_EQ(g.upstreams.size(), 2u);  // both policies name the same resolver
  EXPECT_EQ(g.upstreams[0].str(), "192.0.2.1:5353");
  EXPECT_EQ(g.upstreams[1].str(), "[2001:db8::1]:53");
  EXPECT_EQ(dev.dns_qps, 50u);
  EXPECT_EQ(dev.connections, 300u);
  EXPECT_EQ(g.connections, 2000u);  // the largest of the sandboxes' limits
  EXPECT_EQ(g.listen.dns->str(), "10.77.0.53:53");
  EXPECT_EQ(g.listen.https->str(), "10.77.0.53:443");
  EXPECT_EQ(g.listen.proxy->str(), "10.77.0.53:3128");
  EXPECT_EQ(g.listen.control->str(), "127.0.0.1:9099");
  EXPECT_EQ(g.sandboxes.at("10.77.0.2").name, "dev");
  EXPECT_EQ(g.sandboxes.at("10.77.0.2").egress_policy, "default");
  EXPECT_EQ(g.sandboxes.at("10.77.0.2").blueprint, "pi");
  EXPECT_EQ(g.gate_ip, (std::array<uint8_t, 4>{10, 77, 0, 53}));

  // The same struct back, byte for byte: equal configs are equal files, so nothing reloads.
  auto file = gate::parse_gate_config_file(text);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(*file, gate_config_file(host, *policy, addresses));
  EXPECT_EQ(gate::to_json_text(*file), text);
}

TEST(GateConfig, ChangesAreNamedBySection) {
  ManifestSet set;
  ASSERT_TRUE(testing::check_text(kManifests, "t.yaml", &set).empty());
  const Host& host = set.model.hosts.front();
  auto policy = gate_policy_for(set.model, host);
  ASSERT_TRUE(policy.ok());
  const std::string before = gate_config_text(host, *policy, {{"10.77.0.2", "dev"}});
  const std::string more_sandboxes =
      gate_config_text(host, *policy, {{"10.77.0.2", "dev"}, {"10.77.0.3", "shell"}});
  GatePolicy wider = *policy;
  wider.sandboxes.at("dev").allow.push_back("example.org");
  const std::string wider_text = gate_config_text(host, wider, {{"10.77.0.2", "dev"}});
  EXPECT_EQ(explain_gate_config_change(before, more_sandboxes),
            std::vector<std::string>{"sandbox shell added"});
  EXPECT_EQ(explain_gate_config_change(more_sandboxes, before),
            std::vector<std::string>{"sandbox shell removed"});
  EXPECT_EQ(explain_gate_config_change(before, wider_text),
            std::vector<std::string>{"policy of sandbox dev changed"});
  EXPECT_EQ(explain_gate_config_change("", before), std::vector<std::string>{"not written yet"});
}

// A Sandbox whose credentials the gate delivers has a policy of its own, with them in it, their
// hosts allowed and the ports they name; the file gets the tls section then, and only then.
TEST(GateConfig, GateCredentialsAreTheSandboxsOwnPolicy) {
  const std::string manifests =
      std::string(kManifests) +
      "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: coder}\n"
      "spec:\n  blueprint: pi\n"
      "  credentials: {github: {env: GH}, gitlab: {file: /t}}\n"
      "  git:\n    allowPush: true\n"
      "    githubHosts: [github.com, api.github.com, \"ghe.example.com:8443\", "
      "\"ghe.example.com\", api.ghe.example.com]\n"
      "    gitlabHosts: [gitlab.com, \"git.example.org:9443\"]\n"
      "    repositories: [Octo/Repo, group/sub/repo]\n";
  ManifestSet set;
  ASSERT_TRUE(testing::check_text(manifests, "t.yaml", &set).empty())
      << testing::joined(testing::check_text(manifests, "t.yaml"));
  const Host& host = set.model.hosts.front();
  auto policy = gate_policy_for(set.model, host);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  const SandboxPolicy& sp = policy->sandboxes.at("coder");
  // Its own key: the same EgressPolicy and Blueprint as dev's, but not dev's policy.
  EXPECT_EQ(sp.key, "default+pi@coder");
  EXPECT_EQ(policy->sandboxes.at("dev").key, "default+pi");
  const std::map<std::string, std::string> addresses = {{"10.77.0.2", "dev"},
                                                        {"10.77.0.5", "coder"}};
  const gate::GateConfigFile file = gate_config_file(host, *policy, addresses);
  const gate::PolicyFile& mine = file.policies.at("default+pi@coder");
  ASSERT_EQ(mine.credentials.size(), 2u);
  const gate::CredentialFile& gh = mine.credentials[0];
  EXPECT_EQ(gh.provider, "github");
  EXPECT_EQ(gh.git_hosts, (std::vector<std::string>{"github.com", "ghe.example.com"}));
  EXPECT_EQ(gh.api_hosts, (std::vector<std::string>{"api.github.com", "api.ghe.example.com"}));
  EXPECT_EQ(gh.token_file, "/etc/ac-gate/secrets/coder/github");
  EXPECT_TRUE(gh.allow_push);
  EXPECT_EQ(gh.repositories, (std::vector<std::string>{"octo/repo", "group/sub/repo"}));
  const gate::CredentialFile& gl = mine.credentials[1];
  EXPECT_EQ(gl.provider, "gitlab");
  EXPECT_EQ(gl.git_hosts, (std::vector<std::string>{"gitlab.com", "git.example.org"}));
  EXPECT_TRUE(gl.api_hosts.empty());
  EXPECT_EQ(gl.token_file, "/etc/ac-gate/secrets/coder/gitlab");
  // The policy's ports, then the ones the credential hosts name that it lacks.
  EXPECT_EQ(mine.ports, (std::vector<int64_t>{443, 8443, 9443}));
  for (const char* name : {"github.com", "api.github.com", "ghe.example.com", "api.ghe.example.com",
                           "gitlab.com", "git.example.org", "pi.dev"})
    EXPECT_NE(std::find(mine.allow.begin(), mine.allow.end(), name), mine.allow.end()) << name;
  EXPECT_TRUE(file.policies.at("default+pi").credentials.empty());
  ASSERT_TRUE(file.tls.has_value());
  EXPECT_EQ(file.tls->ca_cert, "/etc/ac-gate/tls/ca.pem");
  EXPECT_EQ(file.tls->ca_key, "/etc/ac-gate/tls/ca.key");
  EXPECT_TRUE(file.tls->trust.empty());

  // The gate compiles it (tokens and CA are read only when it loads it for real).
  auto parsed = gate::parse_gate_config(gate::to_json_text(file));
  ASSERT_TRUE(std::holds_alternative<gate::GateConfig>(parsed))
      << testing::joined(std::get<std::vector<std::string>>(parsed));
  const gate::GateConfig& g = std::get<gate::GateConfig>(parsed);
  EXPECT_NE(g.policy_for("10.77.0.5").credential_for("ghe.example.com"), nullptr);
  EXPECT_EQ(g.policy_for("10.77.0.2").credential_for("github.com"), nullptr);
  EXPECT_TRUE(g.policy_for("10.77.0.5").rules->decide_port(9443).allowed);
  EXPECT_FALSE(g.policy_for("10.77.0.2").rules->decide_port(9443).allowed);

  // Without that sandbox the file has no tls section; the change is named.
  const std::string without = gate_config_text(host, *policy, {{"10.77.0.2", "dev"}});
  EXPECT_EQ(without.find("\"tls\""), std::string::npos) << without;
  EXPECT_EQ(
      explain_gate_config_change(without, gate::to_json_text(file)),
      (std::vector<std::string>{"sandbox coder added", "TLS termination for credential hosts on"}));
}

TEST(GateConfig, VaultCredentialsLeaveTheGateAlone) {
  const std::string manifests =
      std::string(kManifests) +
      "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: coder}\n"
      "spec: {blueprint: pi, credentials: {github: {env: GH, delivery: vault}}}\n";
  ManifestSet set;
  ASSERT_TRUE(testing::check_text(manifests, "t.yaml", &set).empty());
  auto policy = gate_policy_for(set.model, set.model.hosts.front());
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->sandboxes.at("coder").key, "default+pi");
  EXPECT_TRUE(policy->sandboxes.at("coder").credentials.empty());
  const gate::GateConfigFile file =
      gate_config_file(set.model.hosts.front(), *policy, {{"10.77.0.5", "coder"}});
  EXPECT_FALSE(file.tls.has_value());
}

TEST(GateConfig, TrustFilesKeepTheirNamesUnlessTwoShareOne) {
  Host h;
  h.spec.ca_files = {"/a/corp.pem", "/b/corp.pem", "/b/corp.pem.d", "/c/root.crt", "/d/corp.pem"};
  std::vector<std::string> names;
  for (const TrustFile& t : gate_trust_files(h)) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"corp.pem", "corp-2.pem", "corp.pem.d", "root.crt",
                                             "corp-3.pem"}));
  EXPECT_EQ(gate_tls_file(h).trust.front(), "/etc/ac-gate/trust/corp.pem");
}

}  // namespace
}  // namespace acctl
