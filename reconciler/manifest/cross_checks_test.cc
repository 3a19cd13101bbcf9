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

}  // namespace
}  // namespace acctl
