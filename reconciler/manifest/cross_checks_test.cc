// validate finds what apply would refuse across documents, at the line that says it.
#include "manifest/cross_checks.h"

#include <gtest/gtest.h>

#include "manifest/test_support.h"

namespace acctl {
namespace {

std::vector<std::string> check(const std::string& yaml, ManifestOptions options) {
  options.blueprints_dir = testing::project_options().blueprints_dir;
  return testing::check_text(yaml, "m.yaml", nullptr, options);
}

constexpr const char* kDindHost = R"(apiVersion: acctl/v1alpha1
kind: Host
metadata: {name: local}
spec: {isolation: dind}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: default}
spec: {allow: [github.com]}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: other}
spec: {allow: [example.org]}
)";

std::string sandbox(const std::string& name, const std::string& policy) {
  return "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: " + name +
         "}\nspec:\n  blueprint: base\n  egressPolicy: " + policy + "\n";
}

TEST(CrossChecks, SandboxesOfOneDindHostHaveTheirOwnPoliciesAndShareAResolver) {
  // Different EgressPolicies on one Host: each sandbox gets its own at the gate.
  EXPECT_TRUE(
      check(std::string(kDindHost) + sandbox("a", "default") + sandbox("b", "other"), {}).empty());
  std::string yaml = std::string(kDindHost) + sandbox("a", "default") + sandbox("b", "other");
  yaml.replace(yaml.find("spec: {allow: [example.org]}"), 28,
               "spec: {allow: [example.org], dns: {upstreams: [\"192.0.2.1\"]}}");
  auto errors = check(yaml, {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  // Line 28 is Sandbox b's egressPolicy.
  EXPECT_EQ(errors[0],
            "m.yaml:28:17: Sandbox/b: Host/local's gate has one resolver, so its Sandboxes' "
            "EgressPolicies must agree on dns.upstreams: Sandbox/a uses default, Sandbox/b uses "
            "other (give them the same dns.upstreams)");
}

TEST(CrossChecks, DindHostNeedsAnEngineOnThisMachine) {
  std::string yaml = kDindHost;
  yaml.replace(yaml.find("spec: {isolation: dind}"), 23,
               "spec: {isolation: dind, engine: \"tcp://10.0.0.9:2375\"}");
  auto errors = check(yaml, {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_TRUE(
      errors[0].starts_with("m.yaml:4:33: Host/local: a dind Host's engine must be on "
                            "this machine (a unix:// address)"))
      << errors[0];
  // Without spec.engine, $DOCKER_HOST decides, and the message says so, at the isolation.
  ManifestOptions remote;
  remote.default_engine = "tcp://10.0.0.9:2375";
  errors = check(kDindHost, remote);
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("m.yaml:4:19: Host/local:"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("tcp://10.0.0.9:2375 comes from $DOCKER_HOST"), std::string::npos);
  // A direct Host may use any engine.
  std::string direct = kDindHost;
  direct.replace(direct.find("spec: {isolation: dind}"), 23, "spec: {isolation: direct}");
  EXPECT_TRUE(check(direct, remote).empty());
}

TEST(CrossChecks, NestedEngineSocketPathMustFit) {
  ManifestOptions deep;
  deep.state_dir = "/" + std::string(90, 'x');
  auto errors = check(kDindHost, deep);
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_TRUE(errors[0].starts_with("m.yaml:3:18: Host/local: the nested engine's socket /xxx"))
      << errors[0];
  EXPECT_NE(errors[0].find("set ACCTL_HOME to a shorter folder"), std::string::npos);
  ManifestOptions shallow;
  shallow.state_dir = "/srv/acctl";
  EXPECT_TRUE(check(kDindHost, shallow).empty());
}

TEST(CrossChecks, ADindHostNeedsNoPolicyOfItsOwn) {
  // Its gate allows nothing to a client that is not one of its Sandboxes.
  std::string yaml = kDindHost;
  yaml.replace(yaml.find("metadata: {name: default}"), 25, "metadata: {name: first}");
  EXPECT_TRUE(check(yaml, {}).empty());
}

TEST(CrossChecks, AWorkspaceIsItsSandboxsAlone) {
  auto with_workspaces = [](const std::string& a, const std::string& b) {
    return std::string(kDindHost) + sandbox("a", "default") + "  workspace: {path: " + a + "}\n" +
           sandbox("b", "default") + "  workspace: {path: " + b + "}\n";
  };
  auto errors = check(with_workspaces("instances/a/workspace", "instances/a/workspace/inner"), {});
  ASSERT_EQ(errors.size(), 2u) << testing::joined(errors);
  EXPECT_EQ(errors[0],
            "m.yaml:22:21: Sandbox/a: workspace instances/a/workspace overlaps Sandbox/b's "
            "workspace instances/a/workspace/inner: each Sandbox needs a folder of its own");
  errors = check(with_workspaces("instances/shared", "instances/shared"), {});
  EXPECT_EQ(errors.size(), 2u) << testing::joined(errors);
  errors = check(with_workspaces("instances/b/home/w", "instances/b/workspace"), {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("overlaps Sandbox/b's home folder instances/b/home"), std::string::npos)
      << errors[0];
  EXPECT_TRUE(check(with_workspaces("instances/a/workspace", "instances/b/workspace"), {}).empty());
  EXPECT_TRUE(check(with_workspaces("instances/a/src", "instances/shared-b"), {}).empty());
}

TEST(CrossChecks, WorkspacePathsCannotCarryBindSeparators) {
  auto errors = check(std::string(kDindHost) + sandbox("a", "default") +
                          "  workspace: {path: \"instances/a/x:rw\"}\n",
                      {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("has a ':' or ',', which a bind mount cannot carry"), std::string::npos);
}

// A Sandbox with credentials on the kDindHost Host; `lines` go under its spec.
std::string with_credentials(const std::string& lines, const std::string& blueprint = "base") {
  return std::string(kDindHost) +
         "---\napiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: plain}\n"
         "spec: {image: \"acctl-test/busybox:latest\", hardening: standard}\n"
         "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec:\n"
         "  blueprint: " +
         blueprint + "\n" + lines;
}

TEST(CrossChecks, GateDeliveryIsTheDefaultAndNeedsAParanoidBlueprint) {
  EXPECT_TRUE(check(with_credentials("  credentials: {github: {env: T}, gitlab: {file: /t}}\n"
                                     "  git: {repositories: [o/r, group/sub/repo]}\n"),
                    {})
                  .empty());
  auto errors = check(with_credentials("  credentials: {github: {env: T}}\n", "plain"), {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_EQ(errors[0],
            "m.yaml:26:16: Sandbox/s: credentials delivered by the gate need a paranoid "
            "Blueprint, whose init-guard puts the gate's CA in the sandbox's trust store, and "
            "Blueprint/plain is hardening: standard, which has none (use a paranoid Blueprint, or "
            "leave credentials out)");
  // The vault's own message, as before.
  errors =
      check(with_credentials("  credentials: {github: {env: T, delivery: vault}}\n", "plain"), {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("credentials need the vault of a paranoid Blueprint"),
            std::string::npos);
}

TEST(CrossChecks, TheGateNeedsADindHost) {
  std::string direct = with_credentials("  credentials: {github: {env: T}, gitlab: {env: U}}\n");
  direct.replace(direct.find("spec: {isolation: dind}"), 23, "spec: {isolation: direct}");
  auto errors = check(direct, {});
  ASSERT_EQ(errors.size(), 2u) << testing::joined(errors);
  EXPECT_EQ(errors[0],
            "m.yaml:26:25: Sandbox/s: credentials.github is delivered by the gate (delivery: gate, "
            "the default), and Host/local is isolation: direct, which has no gate: use delivery: "
            "vault, or a dind Host");
  EXPECT_NE(errors[1].find("credentials.gitlab is delivered by the gate"), std::string::npos);
  // The vault works there.
  std::string vault = with_credentials("  credentials: {github: {env: T, delivery: vault}}\n");
  vault.replace(vault.find("spec: {isolation: dind}"), 23, "spec: {isolation: direct}");
  EXPECT_TRUE(check(vault, {}).empty());
}

TEST(CrossChecks, FieldsOnlyTheGateEnforcesAreRefusedWithTheVault) {
  auto errors = check(with_credentials("  credentials: {github: {env: T, delivery: vault}}\n"
                                       "  git: {repositories: [o/r]}\n"),
                      {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_EQ(errors[0],
            "m.yaml:27:23: Sandbox/s: git.repositories is enforced by the gate: use delivery: "
            "gate (credentials.github is delivery: vault, and the vault cannot tell repositories "
            "apart)");
  // Without credentials they would limit nothing.
  errors = check(with_credentials("  git: {repositories: [o/r]}\n"), {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("m.yaml:26:23: Sandbox/s: git.repositories limits what the "
                           "credentials reach, and this Sandbox has none"),
            std::string::npos)
      << errors[0];
}

TEST(CrossChecks, OneDeliveryPerSandboxAndOneCredentialPerHost) {
  auto errors = check(
      with_credentials("  credentials: {github: {env: T}, gitlab: {env: U, delivery: vault}}\n"),
      {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("Sandbox/s: credentials.github is delivery: gate and "
                           "credentials.gitlab delivery: vault; the credentials of one Sandbox "
                           "share one delivery"),
            std::string::npos)
      << errors[0];
  errors = check(with_credentials("  credentials: {github: {env: T}, gitlab: {env: U}}\n"
                                  "  git: {githubHosts: [git.example.org], gitlabHosts: "
                                  "[gitlab.com, \"git.example.org:8443\"]}\n"),
                 {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("Sandbox/s: git.example.org is in git.githubHosts too: the gate "
                           "gives each host one credential"),
            std::string::npos)
      << errors[0];
  errors =
      check(with_credentials("  credentials: {gitlab: {env: U}}\n  git: {gitlabHosts: []}\n"), {});
  ASSERT_EQ(errors.size(), 1u) << testing::joined(errors);
  EXPECT_NE(errors[0].find("credentials.gitlab goes through the gate to git.gitlabHosts, and "
                           "that list is empty"),
            std::string::npos)
      << errors[0];
}

}  // namespace
}  // namespace acctl
