// ac-vaultd's command line: defaults, every option, and the usage errors.
#include "vault/options.h"

#include <gtest/gtest.h>

namespace acctl::vault {
namespace {

TEST(VaultdOptions, Defaults) {
  auto o = parse_options({"--secrets", "/run/secrets/vault"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->secrets_dir, "/run/secrets/vault");
  EXPECT_EQ(o->server.socket_path, "/run/acctl/vault/vault.sock");
  EXPECT_FALSE(o->server.policy.allow_push);
  EXPECT_EQ(o->server.policy.github_hosts,
            (std::vector<std::string>{"github.com", "api.github.com"}));
  EXPECT_EQ(o->server.policy.gitlab_hosts, std::vector<std::string>{"gitlab.com"});
  EXPECT_FALSE(o->ready_fd);
}

TEST(VaultdOptions, EveryOption) {
  auto o = parse_options({"--secrets", "/s", "--socket", "/x/v.sock", "--allow-push",
                          "--github-hosts", "ghe.example,api.ghe.example", "--gitlab-hosts",
                          "gl.example", "--allow-exe", "/usr/bin/zsh", "--allow-prefix",
                          "/usr/local/lib/node_modules/", "--ready-fd", "3"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->server.socket_path, "/x/v.sock");
  EXPECT_TRUE(o->server.policy.allow_push);
  EXPECT_EQ(o->server.policy.github_hosts,
            (std::vector<std::string>{"ghe.example", "api.ghe.example"}));
  EXPECT_EQ(o->server.policy.gitlab_hosts, std::vector<std::string>{"gl.example"});
  EXPECT_EQ(o->server.policy.extra_exes, std::vector<std::string>{"/usr/bin/zsh"});
  EXPECT_EQ(o->server.policy.extra_prefixes,
            std::vector<std::string>{"/usr/local/lib/node_modules/"});
  EXPECT_EQ(o->ready_fd, 3);
}

TEST(VaultdOptions, ReportsEveryProblem) {
  auto o = parse_options({"--bogus", "--ready-fd", "x", "--allow-prefix", "/tmp/"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "unknown argument --bogus; --ready-fd x: not a descriptor number; --allow-prefix "
            "/tmp/: the agent can write there; --secrets DIR is required");
}

TEST(VaultdOptions, RefusesPrefixesThatTakeInAgentWritableDirs) {
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--allow-prefix", "/"}));
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--allow-prefix", "/usr/local/lib"}));
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--allow-exe", "/home/agent/tool"}));
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--allow-exe", "tool"}));
}

TEST(VaultdOptions, RefusesAHostOfBothProviders) {
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--gitlab-hosts", "github.com"}));
  EXPECT_FALSE(parse_options({"--secrets", "/s", "--github-hosts", ","}));
  EXPECT_FALSE(parse_options({"--secrets"}));
}

}  // namespace
}  // namespace acctl::vault
