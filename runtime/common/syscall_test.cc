// Tests for the checked system calls, on temp files, pipes and socket pairs.
#include "common/syscall.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace acctl {
namespace {

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/acctl-syscall-test-" + std::to_string(::getpid()) +
         "-" + name;
}

TEST(Check, KeepsTheErrnoAndSaysWhatFailed) {
  errno = ENOTDIR;
  Status s = check(-1, "mkdir /x/y");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().sys_errno, ENOTDIR);
  EXPECT_EQ(s.error().message, "mkdir /x/y: Not a directory");
  EXPECT_TRUE(check(0, "anything").ok());
}

TEST(OpenFile, ReportsThePathAndErrno) {
  auto fd = open_file("/nonexistent/acctl/file", O_RDONLY);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().sys_errno, ENOENT);
  EXPECT_NE(fd.error().message.find("/nonexistent/acctl/file"), std::string::npos);
}

TEST(OpenFile, OpensCloseOnExecAndRoundTripsContent) {
  const std::string path = temp_path("roundtrip");
  {
    auto fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_TRUE(write_all(fd->get(), "hello, file").ok());
    EXPECT_TRUE(fd->close().ok());
  }
  auto fd = open_file(path, O_RDONLY);
  ASSERT_TRUE(fd.ok());
  char buffer[64];
  auto n = read_full(fd->get(), buffer, sizeof buffer);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buffer, *n), "hello, file");  // short only because the file ended
  ::unlink(path.c_str());
}

TEST(Pipes, WriteAllCarriesMoreThanThePipeHoldsThroughShortWrites) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  EXPECT_TRUE(::fcntl(pipe->read.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(pipe->write.get(), F_GETFD) & FD_CLOEXEC);
  // Several times a pipe's capacity (64 KiB), read back in small pieces so writes come up short.
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 251);
  std::string received;
  std::thread reader([&] {
    char chunk[1000];
    while (true) {
      const ssize_t n = ::read(pipe->read.get(), chunk, sizeof chunk);
      if (n <= 0) break;
      received.append(chunk, static_cast<size_t>(n));
    }
  });
  Status written = write_all(pipe->write.get(), payload);
  pipe->write.reset();  // EOF for the reader
  reader.join();
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload);
}

TEST(Pipes, ReadAllReadsUpToEndOfFile) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  const std::string text(40'000, 'x');
  std::thread writer([&] {
    (void)write_all(pipe->write.get(), text);
    pipe->write.reset();
  });
  auto all = read_all(pipe->read.get());
  writer.join();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, text);
}

TEST(Pipes, NonBlockingReadOfAnEmptyPipeIsEagainNotEndOfFile) {
  auto pipe = make_pipe(O_NONBLOCK);
  ASSERT_TRUE(pipe.ok());
  char c;
  auto n = read_full(pipe->read.get(), &c, 1);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().sys_errno, EAGAIN);
}

TEST(Pipes, WritingToAPipeWithoutReaderIsEpipe) {
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &previous), 0);
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  pipe->read.reset();
  Status s = write_all(pipe->write.get(), "lost");
  ::sigaction(SIGPIPE, &previous, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().sys_errno, EPIPE);
}

TEST(Sockets, SocketPairCarriesBytesBothWays) {
  auto pair = socket_pair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());
  auto& [a, b] = *pair;
  EXPECT_TRUE(::fcntl(a.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_TRUE(write_all(a.get(), "ping").ok());
  ASSERT_TRUE(write_all(b.get(), "pong!").ok());
  char buffer[8];
  auto n = read_full(b.get(), buffer, 4);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buffer, *n), "ping");
  n = read_full(a.get(), buffer, 5);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buffer, *n), "pong!");
}

TEST(Sockets, AnUnknownFamilyIsRefusedWithItsErrno) {
  auto fd = open_socket(-1, SOCK_STREAM);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().sys_errno, EAFNOSUPPORT);
}

TEST(ReadFull, ReportsAClosedDescriptor) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  const int raw = pipe->read.get();
  pipe->read.reset();
  char c;
  auto n = read_full(raw, &c, 1);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().sys_errno, EBADF);
}

}  // namespace
}  // namespace acctl
