// Tests of the whole manifest pipeline: every kind valid and invalid, semantic checks, the model.
#include "manifest/manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "manifest/test_support.h"

namespace acctl {
namespace {

using testing::check_text;
using testing::joined;
using testing::kBase;

std::string sandbox_document(const std::string& spec_lines, const std::string& name) {
  return "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: " + name +
         "}\nspec:\n  blueprint: base\n" + spec_lines;
}

std::string sandbox(const std::string& spec_lines, const std::string& name = "dev") {
  return std::string(kBase) + sandbox_document(spec_lines, name);
}

TEST(Manifest, QuickstartIsValidAndTyped) {
  ManifestSet set;
  std::istringstream in;
  set = load_manifests({testing::source_dir() + "/manifests/quickstart.yaml"}, in,
                       testing::project_options());
  ASSERT_TRUE(set.ok()) << set.diagnostics.sorted().front().str();
  ASSERT_EQ(set.model.hosts.size(), 1u);
  const Host& h = set.model.hosts[0];
  EXPECT_EQ(h.spec.isolation, Isolation::kDind);
  EXPECT_EQ(h.spec.subnet.str(), "172.20.0.0/16");
  EXPECT_EQ(h.spec.gate_ip.str(), "172.20.0.53");
  ASSERT_EQ(set.model.sandboxes.size(), 1u);
  const Sandbox& s = set.model.sandboxes[0];
  EXPECT_EQ(s.spec.host, "local");
  EXPECT_EQ(s.spec.egress_policy, "default");
  EXPECT_EQ(s.spec.workspace, "instances/" + s.meta.name + "/workspace");
  ASSERT_NE(set.model.find_blueprint("base"), nullptr);
  EXPECT_EQ(set.project_blueprints, std::vector<std::string>{"base"});
  const EgressPolicy* p = set.model.find_policy("default");
  ASSERT_NE(p, nullptr);
  EXPECT_NE(std::find(p->spec.allow.begin(), p->spec.allow.end(), "github.com"),
            p->spec.allow.end());
}

TEST(Manifest, WholeManifestsFolderAndEveryProjectBlueprintValidate) {
  std::istringstream in;
  ManifestSet set =
      load_manifests({testing::source_dir() + "/manifests", testing::source_dir() + "/blueprints"},
                     in, testing::project_options());
  ASSERT_TRUE(set.ok()) << joined([&] {
    std::vector<std::string> l;
    for (auto& d : set.diagnostics.sorted()) l.push_back(d.str());
    return l;
  }());
  EXPECT_EQ(set.model.blueprints.size(), 8u);
}

TEST(Manifest, SandboxDefaultsAndTypedFields) {
  ManifestSet set;
  auto errors =
      check_text(sandbox("  resources: {cpus: \"1.5\", memory: 1.5g, gpus: [\"0\", \"1\"]}\n"
                         "  credentials: {github: {env: GITHUB_TOKEN}, gitlab: {file: ~/.t}}\n"
                         "  git: {githubHosts: [\"ghe.example.com:8443\"]}\n"
                         "  workspace: {path: instances/shared/./ws}\n"
                         "  blockedPaths: [/workspace/.env]\n"),
                 "t.yaml", &set);
  ASSERT_TRUE(errors.empty()) << joined(errors);
  const Sandbox& s = set.model.sandboxes.at(0);
  EXPECT_EQ(s.spec.mode, SandboxMode::kHeadless);
  EXPECT_EQ(s.spec.restart, RestartPolicy::kNever);
  EXPECT_EQ(*s.spec.cpus, 1.5);
  EXPECT_EQ(*s.spec.memory_bytes, 3LL << 29);
  EXPECT_EQ(s.spec.gpus.device_ids, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(s.spec.pids, 1024);
  EXPECT_EQ(s.spec.github->env, "GITHUB_TOKEN");
  EXPECT_EQ(s.spec.gitlab->file, "~/.t");
  // The gate delivers credentials unless a Sandbox says vault.
  EXPECT_EQ(s.spec.github->delivery, CredentialDelivery::kGate);
  EXPECT_EQ(s.spec.gitlab->delivery, CredentialDelivery::kGate);
  EXPECT_TRUE(s.spec.has_credentials(CredentialDelivery::kGate));
  EXPECT_FALSE(s.spec.has_credentials(CredentialDelivery::kVault));
  EXPECT_TRUE(s.spec.git_repositories.empty());
  EXPECT_EQ(s.spec.blocked_paths, (std::vector<std::string>{"/workspace/.env"}));
  EXPECT_EQ(s.spec.workspace, "instances/shared/ws");
  EXPECT_EQ(s.spec.host, "local");
}

TEST(Manifest, DeliveryAndRepositoriesAreTyped) {
  ManifestSet set;
  auto errors = check_text(
      sandbox("  credentials: {github: {env: T, delivery: vault}, gitlab: {file: /t, delivery: "
              "vault}}\n",
              "v") +
          "---\n" +
          sandbox_document("  credentials: {gitlab: {env: T}}\n"
                           "  git: {repositories: [Octo-Org/Repo, group/Sub/.dotted-Repo]}\n",
                           "g"),
      "t.yaml", &set);
  ASSERT_TRUE(errors.empty()) << joined(errors);
  const Sandbox& v = *set.model.find_sandbox("v");
  EXPECT_EQ(v.spec.github->delivery, CredentialDelivery::kVault);
  EXPECT_TRUE(v.spec.has_credentials(CredentialDelivery::kVault));
  EXPECT_FALSE(v.spec.has_credentials(CredentialDelivery::kGate));
  const Sandbox& g = *set.model.find_sandbox("g");
  EXPECT_EQ(g.spec.gitlab->delivery, CredentialDelivery::kGate);
  EXPECT_EQ(g.spec.git_repositories,
            (std::vector<std::string>{"octo-org/repo", "group/sub/.dotted-repo"}));
}

// A blocked path is covered by a mount: one that would hide what the sandbox runs in, or that
// a bind cannot carry, is refused.
TEST(Manifest, BlockedPathsThatCannotBeCoveredAreRefused) {
  const std::string errors = joined(
      check_text(sandbox("  blockedPaths: [/home/agent, /proc/self/environ, /srv/a:b, /]\n")));
  EXPECT_NE(errors.find("\"/home/agent\" would hide /home/agent"), std::string::npos) << errors;
  EXPECT_NE(errors.find("\"/proc/self/environ\" is inside /proc"), std::string::npos) << errors;
  EXPECT_NE(errors.find("\"/srv/a:b\" has a ':'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("blocking \"/\" would block everything"), std::string::npos) << errors;
  EXPECT_TRUE(check_text(sandbox("  blockedPaths: [/workspace/.env, /etc/shadow]\n")).empty());
}

TEST(Manifest, GpusForms) {
  ManifestSet a, b;
  ASSERT_TRUE(check_text(sandbox("  resources: {gpus: all}\n"), "t.yaml", &a).empty());
  EXPECT_TRUE(a.model.sandboxes[0].spec.gpus.all);
  ASSERT_TRUE(check_text(sandbox("  resources: {gpus: 2}\n"), "t.yaml", &b).empty());
  EXPECT_EQ(b.model.sandboxes[0].spec.gpus.count, 2);
  EXPECT_NE(joined(check_text(sandbox("  resources: {gpus: [\"\"]}\n"))).find("invalid gpus"),
            std::string::npos);
}

struct Case {
  const char* spec;  // lines under spec:, or a whole document set when it starts with "apiVersion"
  const char* expected;  // one full diagnostic line expected in the output
};

class SemanticCheck : public ::testing::TestWithParam<Case> {};

TEST_P(SemanticCheck, ReportsAtTheValue) {
  const Case& c = GetParam();
  std::string text = std::string(c.spec).starts_with("apiVersion") ? c.spec : sandbox(c.spec);
  std::string out = joined(check_text(text));
  EXPECT_NE(out.find(c.expected), std::string::npos) << "expected: " << c.expected << "\ngot:\n"
                                                     << out;
}

INSTANTIATE_TEST_SUITE_P(
    Sandbox, SemanticCheck,
    ::testing::Values(
        Case{"  resources: {memory: 1k}\n",
             "t.yaml:16:23: Sandbox/dev: memory must be at least 6m (got \"1k\")"},
        Case{"  resources: {cpus: 0.0000001}\n", "Sandbox/dev: cpus must be at least 0.001"},
        Case{"  env: {LD_PRELOAD: /x.so}\n",
             "t.yaml:16:9: Sandbox/dev: environment variable \"LD_PRELOAD\" is reserved"},
        Case{"  env: {\"1BAD\": x}\n", "invalid environment variable name \"1BAD\""},
        Case{"  credentials: {github: {env: \"NOT-VALID\"}}\n",
             "t.yaml:16:31: Sandbox/dev: invalid environment variable name"},
        Case{"  credentials: {github: {}}\n", "must set exactly one of \"env\" or \"file\""},
        Case{"  credentials: {github: {delivery: gate}}\n",
             "must set exactly one of \"env\" or \"file\""},
        Case{"  credentials: {github: {env: T, file: /t}}\n",
             "must set exactly one of \"env\" or \"file\""},
        Case{"  credentials: {github: {env: T, delivery: proxy}}\n",
             "t.yaml:16:44: Sandbox/dev: must be one of: gate, vault (got \"proxy\")"},
        Case{"  credentials: {github: {env: T, deliver: gate}}\n",
             "t.yaml:16:34: Sandbox/dev: unknown field \"deliver\" (did you mean \"delivery\"?)"},
        Case{"  git: {repositories: [octo]}\n",
             "t.yaml:16:24: Sandbox/dev: must be a repository like owner/repo (GitLab: "
             "group/subgroup/repo): letters, digits, '.', '_' or '-' between the slashes (got "
             "\"octo\")"},
        Case{"  git: {repositories: [\"o/r/\"]}\n", "must be a repository like owner/repo"},
        Case{"  git: {repositories: [\"o r/x\"]}\n", "must be a repository like owner/repo"},
        Case{"  credentials: {github: {env: T}}\n  git: {repositories: [o/.., o/r]}\n",
             "t.yaml:17:24: Sandbox/dev: repository \"o/..\" has a \".\" or \"..\" part"},
        Case{"  credentials: {github: {env: T}}\n  git: {repositories: [o/r.git]}\n",
             "t.yaml:17:24: Sandbox/dev: repository \"o/r.git\" ends in .git: write \"o/r\""},
        Case{"  credentials: {github: {env: T}}\n  git: {repositories: [group/sub/repo]}\n",
             "t.yaml:17:24: Sandbox/dev: repository \"group/sub/repo\" has 3 parts, which only a "
             "GitLab repository (group/subgroup/repo) has, and this Sandbox has no gitlab "
             "credential"},
        Case{"  credentials: {github: {env: T}}\n  git: {repositories: [o/r, x/y, O/R]}\n",
             "t.yaml:17:34: Sandbox/dev: duplicate repository \"O/R\" (first listed at "
             "t.yaml:17:24)"},
        Case{"  git: {githubHosts: [\"Git.Example.com\"]}\n",
             "t.yaml:16:23: Sandbox/dev: must be a lower-case host name like github.com"},
        Case{"  git: {gitlabHosts: [\"gl.example.com:99999\"]}\n",
             "invalid port in \"gl.example.com:99999\""},
        Case{"  workspace: {path: instances}\n", "escapes the instances folder"},
        Case{"  workspace: {path: instances/../instances2/x}\n", "escapes the instances folder"},
        Case{"  blockedPaths: [relative/path]\n",
             "t.yaml:16:18: Sandbox/dev: must be an absolute path like /workspace/.env (got "
             "\"relative/path\")"},
        Case{"  blockedPaths: [/]\n", "would block everything"},
        Case{"  blockedPaths: [/home/../etc]\n", "is not in normal form (write \"/etc\")"},
        Case{"  blueprint: nope\n", "duplicate key \"blueprint\""},
        Case{"  egressPolicy: strict\n",
             "t.yaml:16:17: Sandbox/dev: egress policy \"strict\" not found"},
        Case{"  host: elsewhere\n", "t.yaml:16:9: Sandbox/dev: host \"elsewhere\" not found"},
        Case{"  mode: idle\n  args: [1]\n",
             "t.yaml:17:10: Sandbox/dev: expected string, got integer 1"}),
    [](const auto& info) { return std::to_string(info.index); });

INSTANTIATE_TEST_SUITE_P(
    Documents, SemanticCheck,
    ::testing::Values(
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  network: "
             "{subnet: 10.0.0.0/8, gateIP: 10.0.0.1}\n",
             "t.yaml:5:41: Host/h: gateIP 10.0.0.1 is the network's bridge gateway address"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  network: "
             "{subnet: 10.0.0.0/8, gateIP: 10.255.255.255}\n",
             "is the network or broadcast address"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  network: "
             "{subnet: 10.0.0.1/8}\n",
             "t.yaml:5:21: Host/h: invalid CIDR \"10.0.0.1/8\": host bits are set; the range is "
             "10.0.0.0/8"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  network: "
             "{subnet: \"fd00::/64\"}\n",
             "t.yaml:5:21: Host/h: invalid CIDR: must be an IPv4 range like 172.20.0.0/16 (got "
             "\"fd00::/64\")"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  network: "
             "{subnet: 10.1.2.0/30}\n",
             "is too small"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  resources: "
             "{memory: 1m}\n",
             "host memory must be at least 64m"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec: {engine: "
             "\"unix://relative.sock\"}\n",
             "needs an absolute socket path"},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  allow: "
             "[\"*.com\", \"1.2.3.4\", \"github.com.\"]\n",
             "t.yaml:5:11: EgressPolicy/p: invalid domain pattern \"*.com\": a wildcard must cover "
             "at least two labels"},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  allow: "
             "[\"1.2.3.4\"]\n",
             "looks like an IP address"},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  deny: "
             "[\"xn--nxasmq6b.com\", \"b\\u00fccher.de\"]\n",
             "t.yaml:5:30: EgressPolicy/p: must be a lower-case domain name or a \"*.\" wildcard "
             "(got \"bücher.de\")"},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  "
             "denyCIDRs: [\"010.0.0.0/8\"]\n",
             "invalid CIDR \"010.0.0.0/8\""},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  dns: "
             "{upstreams: [\"1.1.1.1:0\"]}\n",
             "invalid DNS upstream"},
        Case{"apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: p}\nspec:\n  dns: "
             "{records: {\"Bad_Name\": [10.0.0.1]}}\n",
             "t.yaml:5:19: EgressPolicy/p: invalid host name \"Bad_Name\""},
        Case{"apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: b}\nspec: {install: "
             "../escape.sh}\n",
             "t.yaml:4:17: Blueprint/b: \"../escape.sh\" must be a file inside the blueprint's "
             "folder"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: b}\nspec: {run: "
             "missing.sh}\n",
             "\"missing.sh\" not found in the blueprint's folder"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: b}\nspec: {hardening: "
             "standard, env: {LD_PRELOAD: x}}\n",
             "\"install.sh\" not found"},
        Case{"apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec: {blueprint: "
             "base}\n",
             "t.yaml:4:7: Sandbox/s: no Host in the manifests"}),
    [](const auto& info) { return std::to_string(info.index); });

TEST(Manifest, ReservedLoaderVariablesAreAllowedInStandardBlueprints) {
  std::string out =
      joined(check_text("apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: b}\nspec: "
                        "{hardening: standard, env: {LD_PRELOAD: x}}\n"));
  EXPECT_EQ(out.find("reserved"), std::string::npos) << out;
}

TEST(Manifest, SeveralHostsNeedAnExplicitHost) {
  std::string text =
      std::string(kBase) +
      "apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: second}\nspec: {}\n---\n"
      "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec: {blueprint: base}\n";
  EXPECT_NE(
      joined(check_text(text)).find("several Hosts are defined (local, second): set spec.host"),
      std::string::npos);
}

TEST(Manifest, DuplicateNamesAcrossFilesPointAtBoth) {
  LoadResult loaded;
  load_yaml_text(std::string(kBase) +
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: x}\nspec: "
                     "{blueprint: base}\n",
                 "one.yaml", loaded);
  load_yaml_text(
      "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata:\n  name: x\nspec: {blueprint: base}\n",
      "two.yaml", loaded);
  ManifestSet set;
  validate_documents(loaded.documents, testing::project_options(), set);
  ASSERT_EQ(set.diagnostics.size(), 1u);
  EXPECT_EQ(set.diagnostics.sorted()[0].str(),
            "two.yaml:4:9: Sandbox/x: duplicate Sandbox \"x\" (first defined at one.yaml:13:18)");
}

TEST(Manifest, SameNameInDifferentKindsIsFine) {
  std::string text = std::string(kBase) +
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: local}\nspec: "
                     "{blueprint: base}\n";
  EXPECT_TRUE(check_text(text).empty()) << joined(check_text(text));
}

TEST(Manifest, AllErrorsOfAllDocumentsAreReportedSorted) {
  std::string text = std::string(kBase) +
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec: "
                     "{blueprint: base, colour: red}\n---\n"
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: b}\nspec: "
                     "{blueprint: nope}\n---\n"
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: c}\nspec: "
                     "{blueprint: base, resources: {memory: 2q}}\n";
  auto errors = check_text(text);
  ASSERT_EQ(errors.size(), 3u) << joined(errors);
  EXPECT_NE(errors[0].find("t.yaml:14:25: Sandbox/a: unknown field \"colour\""), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("t.yaml:19:19: Sandbox/b: blueprint \"nope\" not found"),
            std::string::npos)
      << errors[1];
  EXPECT_NE(errors[2].find("t.yaml:24:45: Sandbox/c: invalid size"), std::string::npos)
      << errors[2];
}

TEST(Manifest, ReferenceToABrokenObjectIsNotAlsoNotFound) {
  std::string text =
      "apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: local}\nspec: {colour: red}\n---\n"
      "apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: default}\nspec: {}\n---\n"
      "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec: {blueprint: base, "
      "host: local}\n";
  auto errors = check_text(text);
  ASSERT_EQ(errors.size(), 1u) << joined(errors);
  EXPECT_NE(errors[0].find("unknown field \"colour\""), std::string::npos);
}

TEST(Manifest, UnknownFieldSuggestsTheNearestName) {
  std::string out = joined(check_text(sandbox("  resorces: {cpus: 1}\n")));
  EXPECT_NE(
      out.find(
          "t.yaml:16:3: Sandbox/dev: unknown field \"resorces\" (did you mean \"resources\"?)"),
      std::string::npos)
      << out;
}

TEST(Manifest, WrongTypesNameWhatWasExpected) {
  std::string out =
      joined(check_text(sandbox("  resources:\n    pids: \"many\"\n    cpus: [1]\n")));
  EXPECT_NE(out.find("t.yaml:17:11: Sandbox/dev: expected integer, got string \"many\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("t.yaml:18:11: Sandbox/dev: invalid CPU count"), std::string::npos) << out;
}

TEST(Manifest, MissingRequiredFieldPointsAtItsMapping) {
  std::string out = joined(check_text(
      std::string(kBase) +
      "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec:\n  mode: idle\n"));
  EXPECT_NE(out.find("t.yaml:15:3: Sandbox/s: missing required field \"blueprint\""),
            std::string::npos)
      << out;
}

TEST(Manifest, OverLongPatternedStringIsRefusedNotRegexed) {
  std::string out = joined(check_text(sandbox("  egressPolicy: " + std::string(5000, 'a') + "\n")));
  EXPECT_NE(out.find("too long"), std::string::npos) << out;
}

TEST(Manifest, ProjectBlueprintMustNameItself) {
  auto dir = std::filesystem::temp_directory_path() / "acctl-bp-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "odd");
  std::ofstream(dir / "odd" / "blueprint.yaml")
      << "apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: other}\nspec: {}\n";
  LoadResult loaded;
  load_yaml_text(std::string(kBase) +
                     "apiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: s}\nspec: "
                     "{blueprint: odd}\n",
                 "t.yaml", loaded);
  ManifestSet set;
  validate_documents(loaded.documents, {dir.string()}, set);
  std::string out;
  for (auto& d : set.diagnostics.sorted()) out += d.str() + "\n";
  EXPECT_NE(out.find("must hold the Blueprint \"odd\""), std::string::npos) << out;
  EXPECT_EQ(out.find("not found"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace acctl
