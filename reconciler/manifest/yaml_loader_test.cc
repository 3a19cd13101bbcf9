// Tests of YAML loading: positions, scalar typing, anchors, merges, and input that must not hang.
#include "manifest/yaml_loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace acctl {
namespace {

using nlohmann::json;

LoadResult load(const std::string& text) {
  LoadResult r;
  load_yaml_text(text, "f.yaml", r);
  return r;
}

std::string first_error(const LoadResult& r) {
  return r.diagnostics.empty() ? "" : r.diagnostics.sorted().front().str();
}

TEST(YamlLoader, PositionsOfNestedKeysAndValues) {
  auto r = load("a:\n  b:\n    - x\n    - {c: 3}\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  ASSERT_EQ(r.documents.size(), 1u);
  const Document& d = r.documents[0];
  EXPECT_EQ(d.value_pos("/a/b/0").line, 3);
  EXPECT_EQ(d.value_pos("/a/b/0").col, 7);
  EXPECT_EQ(d.value_pos("/a/b/1/c").line, 4);
  EXPECT_EQ(d.value_pos("/a/b/1/c").col, 11);
  EXPECT_EQ(d.key_pos("/a/b/1/c").col, 8);
  EXPECT_EQ(d.key_pos("/a/b").line, 2);
  EXPECT_EQ(d.key_pos("/a/b").col, 3);
  // A missing node falls back to its closest ancestor.
  EXPECT_EQ(d.value_pos("/a/b/1/missing").line, 4);
}

TEST(YamlLoader, PlainScalarsFollowYaml12CoreSchema) {
  auto r = load(
      "i: 42\nneg: -7\nhex: 0x1f\noct: 0o17\nf: 1.5\nexp: 2e3\nt: true\nn: ~\nempty:\n"
      "yes_is_string: yes\non_is_string: on\nleading_zero: 0755\nquoted: \"42\"\nsingle: 'true'\n"
      "tagged: !!str 12\nversion: 1.10\ninf: .inf\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  const json& v = r.documents[0].value;
  EXPECT_EQ(v["i"], 42);
  EXPECT_EQ(v["neg"], -7);
  EXPECT_EQ(v["hex"], 31);
  EXPECT_EQ(v["oct"], 15);
  EXPECT_EQ(v["f"], 1.5);
  EXPECT_EQ(v["exp"], 2000.0);
  EXPECT_EQ(v["t"], true);
  EXPECT_TRUE(v["n"].is_null());
  EXPECT_TRUE(v["empty"].is_null());
  EXPECT_EQ(v["yes_is_string"], "yes");
  EXPECT_EQ(v["on_is_string"], "on");
  EXPECT_EQ(v["leading_zero"], 755);
  EXPECT_EQ(v["quoted"], "42");
  EXPECT_EQ(v["single"], "true");
  EXPECT_EQ(v["tagged"], "12");
  EXPECT_EQ(v["version"], 1.1);
  EXPECT_TRUE(std::isinf(v["inf"].get<double>()));
}

TEST(YamlLoader, MultipleDocumentsKeepTheirIndexAndStart) {
  auto r = load("a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: 3\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  ASSERT_EQ(r.documents.size(), 3u);
  EXPECT_EQ(r.documents[1].value["b"], 2);
  EXPECT_EQ(r.documents[1].index, 2);
  EXPECT_EQ(r.documents[2].index, 4);  // the empty third document still counts
  EXPECT_EQ(r.documents[2].value_pos("/c").line, 7);
}

TEST(YamlLoader, AnchorsAndAliasesCopyValuesAndPositions) {
  auto r = load("base: &b {cpus: 2, memory: 1g}\nother: *b\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  const Document& d = r.documents[0];
  EXPECT_EQ(d.value["other"]["memory"], "1g");
  // The alias's own position is where it is used; its inner nodes point at the anchor.
  EXPECT_EQ(d.value_pos("/other").line, 2);
  EXPECT_EQ(d.value_pos("/other/memory").line, 1);
}

TEST(YamlLoader, MergeKeysLetExplicitKeysWin) {
  auto r = load(
      "defaults: &d {cpus: 1, memory: 1g}\nextra: &e {pids: 64}\n"
      "s:\n  cpus: 4\n  <<: [*d, *e]\n  memory: 2g\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  const json& s = r.documents[0].value["s"];
  EXPECT_EQ(s["cpus"], 4);
  EXPECT_EQ(s["memory"], "2g");
  EXPECT_EQ(s["pids"], 64);
  EXPECT_FALSE(s.contains("<<"));
  EXPECT_EQ(r.documents[0].key_pos("/s/memory").line, 6);
}

TEST(YamlLoader, QuotedMergeKeyIsAnOrdinaryKey) {
  auto r = load("'<<': {a: 1}\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  EXPECT_TRUE(r.documents[0].value.contains("<<"));
}

TEST(YamlLoader, MergeOfAScalarIsAnError) {
  auto r = load("a:\n  <<: 3\n");
  EXPECT_NE(first_error(r).find("merge key"), std::string::npos) << first_error(r);
}

TEST(YamlLoader, DuplicateKeysAreErrorsWithBothLines) {
  auto r = load("a: 1\nb: 2\na: 3\n");
  EXPECT_EQ(first_error(r), "f.yaml:3:1: document 1: duplicate key \"a\" (first at line 1)");
}

TEST(YamlLoader, LoneCommaDoesNotHang) {
  auto start = std::chrono::steady_clock::now();
  auto r = load("a: 1\n---\n,\n---\nb: 2\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(first_error(r).find("YAML syntax error"), std::string::npos) << first_error(r);
}

TEST(YamlLoader, SyntaxErrorsPointAtTheParserStop) {
  auto r = load("a: [1, 2\nb: 3\n");
  EXPECT_NE(first_error(r).find("f.yaml:"), std::string::npos);
  EXPECT_NE(first_error(r).find("YAML syntax error"), std::string::npos) << first_error(r);
}

TEST(YamlLoader, TabsInIndentationGetAHint) {
  auto r = load("a:\n\tb: 1\n");
  EXPECT_NE(first_error(r).find("tabs cannot indent"), std::string::npos) << first_error(r);
}

TEST(YamlLoader, EmptyFileIsAnError) {
  EXPECT_EQ(first_error(load("")),
            "f.yaml:1:1: document 1: empty document: the file holds no manifest");
  EXPECT_EQ(first_error(load("# nothing\n\n")),
            "f.yaml:1:1: document 1: empty document: the file holds no manifest");
}

TEST(YamlLoader, BinaryGarbageAndInvalidUtf8AreRefused) {
  EXPECT_NE(first_error(load(std::string("a: \xff\xfe\n"))).find("not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(first_error(load(std::string("a: b\0c\n", 7))).find("NUL byte"), std::string::npos);
  EXPECT_EQ(first_error(load(std::string("a: \xff\n"))).substr(0, 11), "f.yaml:1:4:");
}

TEST(YamlLoader, Utf8ByteOrderMarkIsAccepted) {
  auto r = load(
      "\xEF\xBB\xBF"
      "a: 1\n");
  EXPECT_TRUE(r.diagnostics.empty()) << first_error(r);
}

TEST(YamlLoader, AliasBombIsStopped) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  auto r = load(bomb);
  EXPECT_NE(first_error(r).find("document too large"), std::string::npos) << first_error(r);
}

TEST(YamlLoader, UnknownAliasAndUnsupportedTags) {
  EXPECT_NE(first_error(load("a: *nope\n")).find("anchor"), std::string::npos);
  EXPECT_NE(first_error(load("a: !custom 1\n")).find("unsupported tag"), std::string::npos);
  EXPECT_NE(first_error(load("a: !!int x\n")).find("not an integer"), std::string::npos);
}

TEST(YamlLoader, CollectionKeysAreRefused) {
  EXPECT_NE(first_error(load("? [a, b]\n: 1\n")).find("mapping keys"), std::string::npos);
}

TEST(YamlLoader, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  auto r = load(deep);
  EXPECT_FALSE(r.diagnostics.empty());
}

class LoadPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("acctl-load-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "sub" / ".hidden");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  std::filesystem::path dir_;
};

TEST_F(LoadPathTest, FoldersAreReadRecursivelyInOrderSkippingHiddenAndOtherFiles) {
  write("b.yaml", "b: 1\n");
  write("a.yml", "a: 1\n");
  write("sub/c.yaml", "c: 1\n---\nd: 1\n");
  write("sub/.hidden/e.yaml", "e: 1\n");
  write("notes.txt", "not yaml: [\n");
  LoadResult r;
  std::istringstream in;
  load_path(dir_.string(), in, r);
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  ASSERT_EQ(r.documents.size(), 4u);
  EXPECT_TRUE(r.documents[0].value.contains("a"));
  EXPECT_TRUE(r.documents[1].value.contains("b"));
  EXPECT_TRUE(r.documents[3].value.contains("d"));
  EXPECT_EQ(r.documents[3].file, (dir_ / "sub/c.yaml").string());
}

TEST_F(LoadPathTest, StdinIsNamedInDiagnostics) {
  LoadResult r;
  std::istringstream in("a: 1\na: 2\n");
  load_path("-", in, r);
  EXPECT_EQ(first_error(r).substr(0, 12), "<stdin>:2:1:");
}

TEST_F(LoadPathTest, MissingPathAndEmptyFolder) {
  LoadResult r;
  std::istringstream in;
  load_path((dir_ / "nope.yaml").string(), in, r);
  EXPECT_NE(first_error(r).find("no such file or folder"), std::string::npos);
  LoadResult r2;
  load_path((dir_ / "sub").string(), in, r2);
  EXPECT_NE(first_error(r2).find("holds no *.yaml"), std::string::npos);
}

}  // namespace
}  // namespace acctl

namespace acctl {
namespace {

TEST(YamlLoader, UnclosedQuoteAtEndOfInputIsAnError) {
  // yaml-cpp 0.7 alone accepts this silently.
  EXPECT_EQ(first_error(load("a: \"abc\n")),
            "f.yaml:1:4: document 1: YAML syntax error: quoted string is never closed");
  EXPECT_EQ(first_error(load("a: 'abc\n")),
            "f.yaml:1:4: document 1: YAML syntax error: quoted string is never closed");
  EXPECT_TRUE(load("a: 'it''s'\nb: \"q\\\"x\"\n").diagnostics.empty());
}

TEST(YamlLoader, LargeFilesParsedInParallelKeepPositionsAndIndexes) {
  std::string text = "# header comment\n";
  const int docs = 7000;  // well over the size where parsing goes parallel
  for (int i = 0; i < docs; ++i) {
    text += "---\nname: doc-" + std::to_string(i) + "\nvalue: {a: 1, b: [x, y]}\n";
    if (i == 3000) text += "value: again\n";  // a duplicate key in document 3001
  }
  ASSERT_GT(text.size(), 256u * 1024);
  auto r = load(text);
  ASSERT_EQ(r.documents.size(), static_cast<size_t>(docs - 1));
  EXPECT_EQ(r.documents[2999].value["name"], "doc-2999");
  EXPECT_EQ(r.documents[2999].index, 3000);
  EXPECT_EQ(r.documents[2999].value_pos("/name").line, 2 + 3 * 2999 + 1);
  EXPECT_EQ(r.documents[3000].value["name"], "doc-3001");
  EXPECT_EQ(r.documents[3000].value_pos("/name").line, 2 + 3 * 3001 + 2);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics.items()[0].str(),
            "f.yaml:" + std::to_string(2 + 3 * 3000 + 3) +
                ":1: document 3001: duplicate key \"value\" (first at line " +
                std::to_string(2 + 3 * 3000 + 2) + ")");
}

TEST(YamlLoader, DirectivesAndDocumentEndMarkersStillParse) {
  auto r = load("%YAML 1.2\n---\na: 1\n...\n---\nb: 2\n");
  ASSERT_TRUE(r.diagnostics.empty()) << first_error(r);
  ASSERT_EQ(r.documents.size(), 2u);
  EXPECT_EQ(r.documents[1].value_pos("/b").line, 6);
}

TEST(YamlLoader, SyntaxErrorInOneDocumentDoesNotHideTheOthers) {
  auto r = load("a: [1\n---\nb: 2\n---\nc: {\n");
  EXPECT_EQ(r.documents.size(), 1u);
  EXPECT_EQ(r.diagnostics.size(), 2u);
}

}  // namespace
}  // namespace acctl
