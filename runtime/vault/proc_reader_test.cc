// The /proc parsers on tricky input, and RealProcReader on this very process.
#include "vault/proc_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace acctl::vault {
namespace {

TEST(ProcParseStat, CountsFieldsAfterTheLastParenthesis) {
  // A command name can hold ") 1 2 3 (" itself.
  const std::string line =
      "4242 (evil) 9 9 (x) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 "
      "1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  auto f = parse_stat(line);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->ppid, 17);
  EXPECT_EQ(f->starttime, 123456u);
}

TEST(ProcParseStat, RefusesTruncatedLines) {
  EXPECT_FALSE(parse_stat("12 (x) S 1 2 3"));
  EXPECT_FALSE(parse_stat("no parenthesis"));
  EXPECT_FALSE(parse_stat("1 (x) S one 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"));
}

TEST(ProcParseStatusUids, TakesRealAndEffective) {
  auto uids = parse_status_uids("Name:\tgit\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\n");
  ASSERT_TRUE(uids);
  EXPECT_EQ(uids->first, 1000u);
  EXPECT_EQ(uids->second, 0u);
  EXPECT_FALSE(parse_status_uids("Name:\tgit\n"));
  EXPECT_FALSE(parse_status_uids("Uid:\tx\t1\n"));
}

TEST(ProcSplitNul, KeepsEmptyWordsButNotTheTrailingNul) {
  using namespace std::string_literals;
  EXPECT_EQ(split_nul("git\0-c\0\0fetch\0"s), (std::vector<std::string>{"git", "-c", "", "fetch"}));
  EXPECT_EQ(split_nul(""), std::vector<std::string>{});
  EXPECT_EQ(split_nul("no-nul"), std::vector<std::string>{"no-nul"});
}

TEST(ProcParseEnviron, SplitsAtTheFirstEquals) {
  using namespace std::string_literals;
  const auto env = parse_environ("A=1\0B=x=y\0C\0"s);
  ASSERT_EQ(env.size(), 3u);
  EXPECT_EQ(env[1], (std::pair<std::string, std::string>{"B", "x=y"}));
  EXPECT_EQ(env[2], (std::pair<std::string, std::string>{"C", ""}));
}

TEST(ProcRealProcReader, ReadsThisProcess) {
  ASSERT_EQ(::setenv("VAULT_PROC_TEST", "seen", 1), 0);
  RealProcReader proc;
  auto self = proc.read(::getpid());
  ASSERT_TRUE(self) << self.error().message;
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe);
  ASSERT_GT(n, 0);
  EXPECT_EQ(self->exe, std::string(exe, static_cast<size_t>(n)));
  EXPECT_EQ(self->ppid, ::getppid());
  EXPECT_EQ(self->real_uid, ::getuid());
  EXPECT_EQ(self->effective_uid, ::geteuid());
  EXPECT_LE(self->starttime, proc.boot_ticks_now());
  EXPECT_GT(self->starttime, 0u);
  ASSERT_FALSE(self->argv.empty());
  // environ is what the process was started with, not what it set since.
  EXPECT_FALSE(self->getenv("VAULT_PROC_TEST"));
}

TEST(ProcRealProcReader, FailsForAMissingProcess) {
  RealProcReader proc;
  EXPECT_FALSE(proc.read(0x3fffffff));
}

}  // namespace
}  // namespace acctl::vault
