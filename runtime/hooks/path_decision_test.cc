// The blocked-paths hook's policy, without a file.
#include "hooks/path_decision.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

std::string normal(const char* base, const char* path) {
  char out[AC_PATH_LEN_MAX];
  if (ac_path_normalise(base, path, out, sizeof out) != 0) return "(none)";
  return out;
}

struct List {
  explicit List(const char* value) : list(std::make_unique<ac_path_list>()) {
    skipped = ac_path_list_parse(value, list.get());
  }
  // The entry `path` (normalised by the caller) falls under, or "" when it is not blocked.
  std::string match(const char* path) const {
    const ac_path_entry* e = ac_path_match(list.get(), path);
    return e ? e->path : "";
  }
  std::unique_ptr<ac_path_list> list;
  unsigned skipped = 0;
};

TEST(PathDecision, NormalisesLexically) {
  EXPECT_EQ(normal(nullptr, "/workspace//.env/"), "/workspace/.env");
  EXPECT_EQ(normal(nullptr, "/workspace/./x/../.env"), "/workspace/.env");
  EXPECT_EQ(normal(nullptr, "/../../workspace/.env"), "/workspace/.env");
  EXPECT_EQ(normal(nullptr, "/"), "/");
  EXPECT_EQ(normal(nullptr, "/a/.."), "/");
  EXPECT_EQ(normal(nullptr, "/..."), "/...");  // a name, not a step up
}

TEST(PathDecision, RelativePathsAreJoinedToTheirFolder) {
  EXPECT_EQ(normal("/workspace", ".env"), "/workspace/.env");
  EXPECT_EQ(normal("/workspace/src/", "../.env"), "/workspace/.env");
  EXPECT_EQ(normal("/workspace/src", "../../../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(normal("/workspace", "."), "/workspace");
  // An absolute path ignores the folder; a relative one needs an absolute folder.
  EXPECT_EQ(normal("/workspace", "/run/acctl/vault"), "/run/acctl/vault");
  EXPECT_EQ(normal(nullptr, ".env"), "(none)");
  EXPECT_EQ(normal("workspace", ".env"), "(none)");
}

TEST(PathDecision, APathThatDoesNotFitIsNotJudged) {
  char out[16];
  EXPECT_EQ(ac_path_normalise(nullptr, "/workspace/.env", out, sizeof out), 0);
  EXPECT_STREQ(out, "/workspace/.env");
  EXPECT_EQ(ac_path_normalise(nullptr, "/workspace/.envrc", out, sizeof out), -1);
  EXPECT_EQ(ac_path_normalise("/workspace/longer", ".env", out, sizeof out), -1);
}

TEST(PathDecision, AnEntryBlocksItselfAndWhatIsUnderItButNotItsNeighbours) {
  List l("/workspace/.env:/home/agent/.ssh");
  EXPECT_EQ(l.match("/workspace/.env"), "/workspace/.env");
  EXPECT_EQ(l.match("/workspace/.env/x"), "/workspace/.env");
  EXPECT_EQ(l.match("/home/agent/.ssh/id_ed25519"), "/home/agent/.ssh");
  EXPECT_EQ(l.match("/workspace/.envrc"), "");
  EXPECT_EQ(l.match("/workspace/.en"), "");
  EXPECT_EQ(l.match("/workspace"), "");
  EXPECT_EQ(l.match("/"), "");
}

TEST(PathDecision, TheVaultsPathsAreAlwaysBlocked) {
  for (const char* value : {static_cast<const char*>(nullptr), "", "/workspace/.env"}) {
    List l(value);
    EXPECT_EQ(l.match("/run/acctl/secrets"), "/run/acctl/secrets");
    EXPECT_EQ(l.match("/run/acctl/secrets/github"), "/run/acctl/secrets");
    // The daemon's socket stays reachable: its checks, not the hook, decide.
    EXPECT_EQ(l.match("/run/acctl/vault/vault.sock"), "");
    EXPECT_EQ(l.match("/run/acctl/resolv.conf"), "");
    EXPECT_TRUE(ac_path_match(l.list.get(), "/run/acctl/secrets")->vault);
  }
  List l("/workspace/.env");
  EXPECT_FALSE(ac_path_match(l.list.get(), "/workspace/.env")->vault);
}

TEST(PathDecision, EntriesAreNormalisedAndBadOnesSkipped) {
  List l("/workspace//.env/::relative/.env:/a/./b/../c:.");
  EXPECT_EQ(l.skipped, 2u);      // "relative/.env" and "."; the empty entry is no entry
  EXPECT_EQ(l.list->count, 3u);  // the two, and the secrets mount
  EXPECT_EQ(l.match("/workspace/.env"), "/workspace/.env");
  EXPECT_EQ(l.match("/a/c/d"), "/a/c");
  EXPECT_EQ(l.match("/a/b"), "");
}

TEST(PathDecision, TheListIsCappedInCountAndLength) {
  std::string value;
  for (int i = 0; i < AC_PATH_ENTRIES_MAX + 6; ++i) value += "/p" + std::to_string(i) + ":";
  List many(value.c_str());
  EXPECT_EQ(many.skipped, 6u);
  EXPECT_EQ(many.list->count, AC_PATH_ENTRIES_MAX + 1u);  // and the secrets mount
  EXPECT_EQ(many.match("/p63"), "/p63");
  EXPECT_EQ(many.match("/p64"), "");

  const std::string long_entry = "/" + std::string(AC_PATH_LEN_MAX, 'x');
  List too_long(("/ok:" + long_entry).c_str());
  EXPECT_EQ(too_long.skipped, 1u);
  EXPECT_EQ(too_long.match("/ok"), "/ok");
}

TEST(PathDecision, TheLineNamesThePathAndWhy) {
  List l("/workspace/.env");
  char line[640];
  ac_path_message(ac_path_match(l.list.get(), "/workspace/.env/x"), "/workspace/.env/x", line,
                  sizeof line);
  EXPECT_STREQ(line, "acctl: /workspace/.env/x is blocked in this sandbox (blockedPaths)\n");
  ac_path_message(ac_path_match(l.list.get(), "/run/acctl/secrets"), "/run/acctl/secrets", line,
                  sizeof line);
  EXPECT_EQ(std::string(line).rfind("acctl: /run/acctl/secrets is the vault's (", 0), 0u) << line;
}

TEST(PathDecision, ALongPathIsShortenedButTheReasonStays) {
  List l("/w");
  const std::string shown = "/w/" + std::string(3000, 'y');
  char line[640];
  const size_t n =
      ac_path_message(ac_path_match(l.list.get(), shown.c_str()), shown.c_str(), line, sizeof line);
  const std::string text(line);
  EXPECT_EQ(n, text.size());
  EXPECT_LT(n, sizeof line);
  EXPECT_EQ(text.rfind("acctl: /w/yyy", 0), 0u);
  EXPECT_NE(text.find("y... is blocked in this sandbox (blockedPaths)\n"), std::string::npos)
      << text;
  // Even a buffer too small for the reason ends in one newline.
  char tiny[8];
  ac_path_message(ac_path_match(l.list.get(), "/w"), "/w", tiny, sizeof tiny);
  EXPECT_EQ(std::string(tiny).back(), '\n');
}

}  // namespace
