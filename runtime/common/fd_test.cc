// Tests for UniqueFd: ownership moves, descriptors are closed once, close errors are reported.
#include "common/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <gtest/gtest.h>

namespace acctl {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

int new_fd() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

TEST(UniqueFd, ClosesOnDestruction) {
  const int raw = new_fd();
  { UniqueFd fd(raw); }
  EXPECT_FALSE(is_open(raw));
  EXPECT_EQ(errno, EBADF);
}

TEST(UniqueFd, ReleaseGivesTheDescriptorUpWithoutClosingIt) {
  const int raw = new_fd();
  int released;
  {
    UniqueFd fd(raw);
    released = fd.release();
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_EQ(released, raw);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFd, MoveTransfersOwnershipAndAssignmentClosesTheOldOne) {
  const int first = new_fd();
  const int second = new_fd();
  UniqueFd a(first);
  UniqueFd b(std::move(a));
  EXPECT_EQ(a.get(), -1);
  EXPECT_EQ(b.get(), first);
  UniqueFd c(second);
  c = std::move(b);  // closes `second`, takes `first`
  EXPECT_FALSE(is_open(second));
  EXPECT_TRUE(is_open(first));
  EXPECT_EQ(c.get(), first);
}

TEST(UniqueFd, ResetClosesTheCurrentDescriptor) {
  const int first = new_fd();
  const int second = new_fd();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, CloseReportsTheKernelsErrorWithItsErrno) {
  const int raw = new_fd();
  UniqueFd fd(raw);
  ::close(raw);  // someone else closed it: the owner's close must not pass silently
  Status closed = fd.close();
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().sys_errno, EBADF);
  EXPECT_NE(closed.error().message.find("close"), std::string::npos);
  EXPECT_FALSE(fd.valid());
}

TEST(UniqueFd, CloseIsOnceOnly) {
  const int raw = new_fd();
  UniqueFd fd(raw);
  EXPECT_TRUE(fd.close().ok());
  EXPECT_FALSE(is_open(raw));
  EXPECT_TRUE(fd.close().ok());  // nothing owned any more: a no-op, not a second close(2)
}

}  // namespace
}  // namespace acctl
