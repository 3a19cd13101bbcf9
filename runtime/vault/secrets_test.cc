// Loading the token files: what is accepted, what is refused, and that every problem is named.
#include "vault/secrets.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace acctl::vault {
namespace {

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vault-secrets-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    for (const char* name : {"github", "gitlab", "real"}) ::unlink((dir + "/" + name).c_str());
    ::rmdir((dir + "/github").c_str());
    ::rmdir(dir.c_str());
  }
  void write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  Result<Tokens> load() { return load_tokens(dir, ::geteuid()); }

  std::string dir;
};

TEST_F(SecretsTest, ReadsBothTokensAndStripsOneNewline) {
  write("github", "ghp_abc\n");
  write("gitlab", "glpat-xyz");
  auto t = load();
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->github);
  EXPECT_EQ(t->github->view(), "ghp_abc");
  EXPECT_EQ(t->gitlab->view(), "glpat-xyz");
}

TEST_F(SecretsTest, AMissingFileMeansNoToken) {
  write("gitlab", "glpat-xyz\n");
  auto t = load();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->github);
  EXPECT_TRUE(t->gitlab);
}

TEST_F(SecretsTest, RefusesASymlink) {
  write("real", "ghp_abc\n");
  ASSERT_EQ(::symlink((dir + "/real").c_str(), (dir + "/github").c_str()), 0);
  auto t = load();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, dir + "/github is a symlink");
}

TEST_F(SecretsTest, RefusesAFileOthersCanRead) {
  write("github", "ghp_abc\n", 0640);
  auto t = load();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, dir + "/github is readable or writable by group or others");
}

TEST_F(SecretsTest, RefusesAFileOfAnotherOwner) {
  write("github", "ghp_abc\n");
  auto t = load_tokens(dir, ::geteuid() + 1);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("is owned by uid"), std::string::npos);
}

TEST_F(SecretsTest, RefusesADirectory) {
  ASSERT_EQ(::mkdir((dir + "/github").c_str(), 0700), 0);
  auto t = load();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, dir + "/github is not a regular file");
}

TEST_F(SecretsTest, RefusesBadContentAndReportsBothFiles) {
  write("github", "\n");
  write("gitlab", "one\ntwo\n");
  auto t = load();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message,
            dir + "/github holds an empty token; " + dir + "/gitlab holds more than one line");
}

TEST_F(SecretsTest, RefusesControlCharacters) {
  write("github", "ghp\x1b[0m\n");
  EXPECT_FALSE(load());
  write("github", "ghp_abc\r\n");
  EXPECT_FALSE(load());
}

TEST_F(SecretsTest, RefusesAMissingDirectory) {
  EXPECT_FALSE(load_tokens(dir + "/nope", ::geteuid()));
}

TEST(VaultSecretBuffer, HoldsAndMovesTheBytes) {
  SecretBuffer a("secret");
  SecretBuffer b(std::move(a));
  EXPECT_EQ(b.view(), "secret");
  EXPECT_EQ(a.view(), "");
  SecretBuffer c("x");
  c = std::move(b);
  EXPECT_EQ(c.view(), "secret");
}

}  // namespace
}  // namespace acctl::vault
