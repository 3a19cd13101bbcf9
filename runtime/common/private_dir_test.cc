// make_private_dir never follows a symlink, and says which part it refused.
#include "common/private_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace acctl {
namespace {

namespace fs = std::filesystem;

class PrivateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("acctl-private-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    fs::create_directories(base_ / "elsewhere");
    fs::permissions(base_ / "elsewhere", fs::perms(0755));
  }
  void TearDown() override { fs::remove_all(base_); }
  fs::path base_;
};

TEST_F(PrivateDir, CreatesEveryPartPrivate) {
  auto fd = make_private_dir(base_.string(), "instances/a/workspace", std::nullopt);
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  EXPECT_TRUE(fs::is_directory(base_ / "instances/a/workspace"));
  EXPECT_EQ(fs::status(base_ / "instances/a/workspace").permissions() & fs::perms::all,
            fs::perms::owner_all);
  // Again: it is there, nothing changes, the same answer.
  EXPECT_TRUE(make_private_dir(base_.string(), "instances/a/workspace", std::nullopt).ok());
}

TEST_F(PrivateDir, ASymlinkedLastPartIsRefusedAndItsTargetUntouched) {
  fs::create_directories(base_ / "instances/a");
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "instances/a/workspace");
  auto fd = make_private_dir(base_.string(), "instances/a/workspace",
                             PrivateDirOwner{::geteuid(), ::getegid()});
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().message, "refused " + base_.string() +
                                    "/instances/a/workspace: it is a symlink, and acctl does not "
                                    "follow one");
  EXPECT_EQ(fs::status(base_ / "elsewhere").permissions() & fs::perms::all, fs::perms(0755));
}

TEST_F(PrivateDir, ASymlinkHigherUpIsRefusedToo) {
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "instances");
  auto fd = make_private_dir(base_.string(), "instances/a/workspace", std::nullopt);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("/instances: it is a symlink"), std::string::npos)
      << fd.error().message;
  EXPECT_FALSE(fs::exists(base_ / "elsewhere/a"));
}

TEST_F(PrivateDir, AFileInTheWayIsNotAFolder) {
  fs::create_directories(base_ / "instances/a");
  { std::ofstream(base_ / "instances/a/workspace") << "x"; }
  auto fd = make_private_dir(base_.string(), "instances/a/workspace", std::nullopt);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("it is not a folder"), std::string::npos);
  EXPECT_FALSE(make_private_dir(base_.string(), "instances/../x", std::nullopt).ok());
}

}  // namespace
}  // namespace acctl
