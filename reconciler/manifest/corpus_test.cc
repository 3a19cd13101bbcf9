// Runs every file of tests/data/invalid (each states its expected error) and tests/data/valid.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "manifest/test_support.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

TEST(InvalidCorpus, EveryFileReportsItsExpectedError) {
  const fs::path dir = fs::path(testing::source_dir()) / "tests/data/invalid";
  auto files = yaml_files(dir);
  ASSERT_GE(files.size(), 40u);
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.filename().string());
    std::string text = read(f);
    // First line: "# expect: LINE:COL PREFIX: PHRASE"
    const std::string marker = "# expect: ";
    ASSERT_TRUE(text.starts_with(marker)) << "first line must state the expected error";
    std::string expect = text.substr(marker.size(), text.find('\n') - marker.size());
    size_t space = expect.find(' ');
    size_t colon = expect.find(": ", space);
    ASSERT_NE(colon, std::string::npos) << expect;
    std::string location = expect.substr(0, space);
    std::string subject = expect.substr(space + 1, colon - space - 1);
    std::string phrase = expect.substr(colon + 2);
    const std::string name = f.filename().string();
    auto errors = testing::check_text(text, name);
    bool found = false;
    for (const std::string& e : errors) {
      std::string head = name + ":" + location + ": " + subject + ": ";
      found = found || (e.starts_with(head) && lower(e).find(lower(phrase)) != std::string::npos);
    }
    EXPECT_TRUE(found) << "expected " << expect << "\ngot:\n" << testing::joined(errors);
  }
}

TEST(ValidCorpus, EveryFileIsValidAlone) {
  const fs::path dir = fs::path(testing::source_dir()) / "tests/data/valid";
  for (const fs::path& f : yaml_files(dir)) {
    SCOPED_TRACE(f.filename().string());
    // Blueprint scripts are looked up next to the manifest, so use the real path.
    auto errors = testing::check_text(read(f), f.string());
    EXPECT_TRUE(errors.empty()) << testing::joined(errors);
  }
}

}  // namespace
}  // namespace acctl
