// Tests of acctl's command line: exit statuses, output formats and help.
#include "cli/cli.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "manifest/test_support.h"

namespace acctl {
namespace {

struct CliRun {
  int status;
  std::string out, err;
};

CliRun run(std::vector<std::string> args, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  CliEnv env{in, out, err, "", nullptr, false};
  setenv("ACCTL_BLUEPRINTS", (testing::source_dir() + "/blueprints").c_str(), 1);
  int status = run_cli(args, env);
  return {status, out.str(), err.str()};
}

TEST(Cli, ValidateQuickstartSucceedsWithASummary) {
  CliRun r = run({"validate", "-f", testing::source_dir() + "/manifests/"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with(
      "valid: 5 documents in 2 files: 1 Host, 1 EgressPolicy, 3 Blueprints, 3 Sandboxes"))
      << r.out;
}

TEST(Cli, ValidateReportsEveryErrorAndExitsOne) {
  CliRun r = run({"validate", "-f", "-"},
                 std::string(testing::kBase) +
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\n"
                     "spec: {blueprint: nope, mode: asleep}\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("<stdin>:14:31: Sandbox/s: must be one of: headless, interactive, idle"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("1 error; nothing was applied"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Cli, ValidateJsonOutput) {
  CliRun r = run({"validate", "-o", "json", "-f", "-"}, "kind: Pod\n");
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["valid"], false);
  ASSERT_EQ(j["errors"].size(), 2u);  // no apiVersion, unknown kind
  EXPECT_EQ(j["errors"][1]["file"], "<stdin>");
  EXPECT_EQ(j["errors"][1]["line"], 1);
  EXPECT_EQ(j["errors"][1]["column"], 7);
  EXPECT_EQ(j["errors"][1]["object"], "document 1");
  EXPECT_NE(j["errors"][1]["message"].get<std::string>().find("unknown kind \"Pod\""),
            std::string::npos);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"validate"}).status, 2);
  EXPECT_EQ(run({"validate", "-f"}).status, 2);
  EXPECT_EQ(run({"validate", "--frobnicate"}).status, 2);
  EXPECT_EQ(run({"validate", "-o", "xml", "-f", "x"}).status, 2);
  EXPECT_EQ(run({"nosuch"}).status, 2);
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"schema", "Pod"}).status, 2);
}

TEST(Cli, HelpForEveryCommand) {
  CliRun main_help = run({"--help"});
  EXPECT_EQ(main_help.status, 0);
  for (const char* cmd : {"validate", "schema", "version"}) {
    EXPECT_NE(main_help.out.find(cmd), std::string::npos) << cmd;
    CliRun r = run({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_TRUE(r.out.starts_with("Usage: acctl " + std::string(cmd))) << r.out;
    EXPECT_EQ(run({"help", cmd}).out, r.out);
  }
}

TEST(Cli, SchemaPrintsJson) {
  CliRun all = run({"schema"});
  EXPECT_EQ(all.status, 0);
  auto j = nlohmann::json::parse(all.out);
  EXPECT_EQ(j["allOf"].size(), 4u);
  CliRun one = run({"schema", "sandbox"});
  EXPECT_EQ(nlohmann::json::parse(one.out)["properties"]["kind"]["const"], "Sandbox");
}

TEST(Cli, Version) {
  CliRun r = run({"version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.out.starts_with("acctl ")) << r.out;
}

}  // namespace
}  // namespace acctl
