// Image building without an engine: deterministic tar contexts, the generated Dockerfile, and
// the base/Blueprint image logic against the FakeEngine.
#include "images/image_build.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "fakes/fake_engine.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using engine::FakeEngine;

struct TarEntry {
  std::string path;
  int mode = 0;
  bool dir = false;
  std::string content;
  int64_t mtime = 0;
  int64_t uid = -1;
};

// Reads a tar back with libarchive: what the engine will see.
std::vector<TarEntry> read_tar(const std::string& bytes) {
  std::vector<TarEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    TarEntry t;
    t.path = archive_entry_pathname(e);
    t.mode = archive_entry_perm(e);
    t.dir = archive_entry_filetype(e) == AE_IFDIR;
    t.mtime = archive_entry_mtime(e);
    t.uid = archive_entry_uid(e);
    t.content.resize(archive_entry_size(e));
    if (!t.content.empty()) archive_read_data(a, t.content.data(), t.content.size());
    out.push_back(t);
  }
  archive_read_free(a);
  return out;
}

std::string tar_of(const std::vector<ContextFile>& files) {
  auto t = build_context_tar(files);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : "";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "acctl-image-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content, int mode = 0644) {
    fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    fs::permissions(p, static_cast<fs::perms>(mode));
    return p.string();
  }

 private:
  std::string path_;
};

TEST(BuildContextTar, SameFilesGiveSameBytesWhateverTheOrder) {
  std::vector<ContextFile> a = {{"Dockerfile", "", "FROM x\n", 0644},
                                {"blueprint/install.sh", "", "echo hi\n", 0755}};
  std::vector<ContextFile> b = {a[1], a[0]};
  std::string ta = tar_of(a), tb = tar_of(b);
  EXPECT_EQ(ta, tb);
  EXPECT_EQ(context_hash(ta), context_hash(tb));
  EXPECT_EQ(context_hash(ta).size(), 16u);
}

TEST(BuildContextTar, FileSourceAndInlineContentGiveTheSameTar) {
  TempDir dir;
  std::string src = dir.write("install.sh", "apt-get update\n", 0600);
  EXPECT_EQ(tar_of({{"install.sh", src, "", 0755}}),
            tar_of({{"install.sh", "", "apt-get update\n", 0755}}))
      << "the source file's own mode and mtime must not leak into the tar";
}

TEST(BuildContextTar, KeepsModesContentsAndAddsParentFoldersWithFixedMetadata) {
  auto entries = read_tar(tar_of(
      {{"blueprint/sub/run.sh", "", "exec bash\n", 0755}, {"Dockerfile", "", "FROM x\n", 0600}}));
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].path, "Dockerfile");
  EXPECT_EQ(entries[0].mode, 0600);
  EXPECT_EQ(entries[0].content, "FROM x\n");
  EXPECT_TRUE(entries[1].dir);
  EXPECT_EQ(entries[1].path.substr(0, 9), "blueprint");
  EXPECT_EQ(entries[1].mode, 0755);
  EXPECT_TRUE(entries[2].dir);
  EXPECT_EQ(entries[3].path, "blueprint/sub/run.sh");
  EXPECT_EQ(entries[3].mode, 0755);
  EXPECT_EQ(entries[3].content, "exec bash\n");
  for (const TarEntry& e : entries) {
    EXPECT_EQ(e.uid, 0) << e.path;
    EXPECT_EQ(e.mtime, entries[0].mtime) << e.path;
  }
}

TEST(BuildContextTar, AnyChangeChangesTheHash) {
  std::vector<ContextFile> files = {{"Dockerfile", "", "FROM x\n", 0644}};
  std::string base = context_hash(tar_of(files));
  auto added = files;
  added.push_back({"extra.txt", "", "", 0644});
  EXPECT_NE(context_hash(tar_of(added)), base) << "an added (even empty) file";
  auto edited = files;
  edited[0].content = "FROM y\n";
  EXPECT_NE(context_hash(tar_of(edited)), base) << "changed content";
  auto chmodded = files;
  chmodded[0].mode = 0755;
  EXPECT_NE(context_hash(tar_of(chmodded)), base) << "changed mode";
}

TEST(BuildContextTar, LongPathsRoundTrip) {
  std::string deep;
  for (int i = 0; i < 12; ++i) deep += "folder-with-a-long-name-" + std::to_string(i) + "/";
  std::string path = deep + std::string(120, 'f') + ".sh";
  ASSERT_GT(path.size(), 255u);  // beyond ustar's 100 + 155 characters
  std::string tar = tar_of({{path, "", "x", 0755}});
  EXPECT_EQ(tar, tar_of({{path, "", "x", 0755}}));
  auto entries = read_tar(tar);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().path, path);
  EXPECT_EQ(entries.back().content, "x");
  // libarchive's pax headers carry no process id or time: the bytes cannot depend on who ran it.
  EXPECT_EQ(tar.find(std::to_string(::getpid())), std::string::npos);
}

TEST(BuildContextTar, RefusesBadAndDuplicatePaths) {
  for (const char* bad : {"/abs", "../up", "a/../b", "a//b", "./a", "a/", ""}) {
    auto t = build_context_tar({{bad, "", "x", 0644}});
    EXPECT_FALSE(t.ok()) << bad;
  }
  EXPECT_FALSE(build_context_tar({{"a", "", "1", 0644}, {"a", "", "2", 0644}}).ok());
  EXPECT_FALSE(build_context_tar({{"a", "", "1", 0644}, {"a/b", "", "2", 0644}}).ok());
  auto missing = build_context_tar({{"a", "/nonexistent/acctl/file", "", 0644}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/acctl/file"), std::string::npos);
}

Blueprint blueprint(const std::string& folder, const std::string& name = "demo") {
  Blueprint bp;
  bp.meta.name = name;
  bp.spec.hardening = Hardening::kStandard;
  bp.spec.install = "install.sh";
  bp.spec.run = "run.sh";
  bp.spec.folder = folder;
  return bp;
}

TEST(BlueprintDockerfile, InstallsAsRootThenRunsAsAgent) {
  Blueprint bp = blueprint("/nowhere");
  bp.spec.env = {{"DISABLE_AUTOUPDATER", "1"}, {"GREETING", "say \"hi\" to $USER\\"}};
  auto d = blueprint_dockerfile(bp, "acctl/agent-base:latest");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d,
            "# Generated by acctl for Blueprint/demo (hardening: standard); rebuilt when this "
            "context changes.\n"
            "FROM acctl/agent-base:latest\n"
            "COPY blueprint/ /opt/acctl/blueprint/\n"
            "RUN cd /opt/acctl/blueprint && DEBIAN_FRONTEND=noninteractive bash "
            "'/opt/acctl/blueprint/install.sh'\n"
            "RUN find / -xdev -type f -perm /6000 -exec chmod ug-s {} +\n"
            "ENV DISABLE_AUTOUPDATER=\"1\"\n"
            "ENV GREETING=\"say \\\"hi\\\" to \\$USER\\\\\"\n"
            "WORKDIR /workspace\n"
            "USER agent\n"
            "ENTRYPOINT [\"/bin/bash\", \"/opt/acctl/blueprint/run.sh\"]\n"
            "CMD []\n");
}

TEST(BlueprintDockerfile, ParanoidRunsBehindInitGuard) {
  Blueprint bp = blueprint("/nowhere");
  bp.spec.hardening = Hardening::kParanoid;
  auto d = blueprint_dockerfile(bp, "acctl/agent-base:latest");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_NE(d->find("ENTRYPOINT [\"/opt/acctl/bin/init-guard\", \"--\", \"/bin/bash\", "
                    "\"/opt/acctl/blueprint/run.sh\"]\n"),
            std::string::npos)
      << *d;
}

TEST(BlueprintDockerfile, RefusesEnvAnImageCannotCarry) {
  Blueprint bp = blueprint("/nowhere");
  bp.spec.env = {{"BAD-NAME", "1"}};
  EXPECT_FALSE(blueprint_dockerfile(bp, "b").ok());
  bp.spec.env = {{"OK", "two\nlines"}};
  EXPECT_FALSE(blueprint_dockerfile(bp, "b").ok());
}

TEST(BlueprintContext, HoldsTheDockerfileAndBothScriptsWithTheirExecBits) {
  TempDir dir;
  dir.write("install.sh", "echo install\n", 0755);
  dir.write("run.sh", "exec bash\n", 0644);
  dir.write("unrelated.yaml", "kind: Sandbox\n");
  auto files = blueprint_context(blueprint(dir.path()), "b");
  ASSERT_TRUE(files.ok()) << files.error().message;
  auto entries = read_tar(tar_of(*files));
  std::map<std::string, int> modes;
  for (const TarEntry& e : entries)
    if (!e.dir) modes[e.path] = e.mode;
  EXPECT_EQ(modes,
            (std::map<std::string, int>{
                {"Dockerfile", 0644}, {"blueprint/install.sh", 0755}, {"blueprint/run.sh", 0644}}));
}

TEST(BlueprintContext, MissingScriptIsAnErrorNamingIt) {
  TempDir dir;
  dir.write("install.sh", "true\n");
  auto files = blueprint_context(blueprint(dir.path()), "b");
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.error().message.find("run.sh"), std::string::npos) << files.error().message;
}

class BlueprintImageBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("install.sh", "echo install\n", 0755);
    dir_.write("run.sh", "exec bash\n", 0755);
    fake_.add_image(kDefaultBaseImage, {{"ac.kind", "Image"}});
  }
  engine::Result<BlueprintImage> build(BlueprintBuildOptions o = {}) {
    return build_blueprint_image(fake_, blueprint(dir_.path()), kDefaultBaseImage, o, nullptr);
  }
  int builds() const {
    auto calls = fake_.calls();
    return static_cast<int>(
        std::count(calls.begin(), calls.end(), "build_image acctl/blueprint-demo:latest"));
  }
  TempDir dir_;
  FakeEngine fake_;
};

TEST_F(BlueprintImageBuild, BuildsOnceWithLabelsThenSkipsByHash) {
  auto first = build();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->built);
  EXPECT_EQ(first->tag, "acctl/blueprint-demo:latest");
  auto image = fake_.inspect_image(first->tag);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->labels, (engine::Labels{{"ac.managed-by", "acctl"},
                                           {"ac.kind", "Blueprint"},
                                           {"ac.name", "demo"},
                                           {"ac.spec-hash", first->spec_hash}}));
  auto second = build();
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->built);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(builds(), 1);

  auto forced = build({.no_cache = true});
  ASSERT_TRUE(forced.ok());
  EXPECT_TRUE(forced->built);
  EXPECT_EQ(builds(), 2);
  EXPECT_FALSE(fake_.inspect_image(first->id).ok()) << "the replaced image is removed";
}

TEST_F(BlueprintImageBuild, ChangedInstallScriptOrBaseImageRebuilds) {
  auto first = build();
  ASSERT_TRUE(first.ok());
  dir_.write("install.sh", "echo install v2\n", 0755);
  auto edited = build();
  ASSERT_TRUE(edited.ok());
  EXPECT_TRUE(edited->built);
  EXPECT_NE(edited->spec_hash, first->spec_hash);

  // Re-imported: the tag moves to a new id.
  ASSERT_TRUE(fake_.import_image({kDefaultBaseImage}, engine::source_from_string("tar")).ok());
  auto rebased = build();
  ASSERT_TRUE(rebased.ok());
  EXPECT_TRUE(rebased->built);
  EXPECT_NE(rebased->spec_hash, edited->spec_hash);
  EXPECT_EQ(builds(), 3);
}

TEST_F(BlueprintImageBuild, MissingBaseImageFailsWithoutBuilding) {
  auto r = build_blueprint_image(fake_, blueprint(dir_.path()), "acctl/debian:trixie", {}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("acctl/debian:trixie"), std::string::npos) << r.error().message;
  EXPECT_EQ(builds(), 0);
}

TEST_F(BlueprintImageBuild, FailingBuildCarriesTheEnginesMessage) {
  fake_.fail("build_image",
             {0, "The command '/bin/sh -c bash install.sh' returned a non-zero code: 1"});
  auto r = build();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Blueprint/demo"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("returned a non-zero code: 1"), std::string::npos)
      << r.error().message;
}

TEST_F(BlueprintImageBuild, PrebuiltImageHasNothingToBuild) {
  Blueprint bp = blueprint(dir_.path());
  bp.spec.image = "vendor/agent:1";
  EXPECT_FALSE(build_blueprint_image(fake_, bp, kDefaultBaseImage, {}, nullptr).ok());
  EXPECT_EQ(builds(), 0);
}

TEST(BaseImage, SuiteComesOnlyFromAcctlsOwnReferences) {
  EXPECT_EQ(suite_of_base_image("acctl/debian:bookworm"), "bookworm");
  EXPECT_EQ(suite_of_base_image("acctl/debian:trixie"), "trixie");
  EXPECT_EQ(suite_of_base_image("acctl/debian:latest"), "");
  EXPECT_EQ(suite_of_base_image("acctl/debian:Bad;rm"), "");
  EXPECT_EQ(suite_of_base_image("debian:bookworm"), "");
}

struct BootstrapStub {
  std::string tarball;
  std::vector<std::string> suites;
  RootfsBootstrap fn() {
    return [this](const std::string& suite, bool, const engine::ProgressFn&) {
      suites.push_back(suite);
      return engine::Result<std::string>(tarball);
    };
  }
};

TEST(BaseImage, ImportsOnceWhenMissingThenLeavesItAlone) {
  TempDir dir;
  BootstrapStub stub{dir.write("rootfs.tar", std::string(1024, '\0')), {}};
  FakeEngine fake;
  std::vector<std::string> progress;
  auto on = [&](const engine::ProgressLine& l) { progress.push_back(l.text); };
  auto first = ensure_base_image(fake, kDefaultBaseImage, stub.fn(), false, on);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->imported);
  EXPECT_EQ(stub.suites, std::vector<std::string>{"bookworm"});
  auto image = fake.inspect_image(kDefaultBaseImage);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->labels.at("ac.managed-by"), "acctl");
  EXPECT_EQ(image->labels.at("ac.kind"), "Image");
  EXPECT_FALSE(progress.empty());

  auto second = ensure_base_image(fake, kDefaultBaseImage, stub.fn(), false, on);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->imported);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(stub.suites.size(), 1u);

  auto refreshed = ensure_base_image(fake, kDefaultBaseImage, stub.fn(), true, on);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_TRUE(refreshed->imported);
  EXPECT_EQ(stub.suites.size(), 2u);
}

TEST(BaseImage, ForeignReferenceIsNeverMadeUp) {
  BootstrapStub stub{"/unused", {}};
  FakeEngine fake;
  auto r = ensure_base_image(fake, "corp/debian:12", stub.fn(), false, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("corp/debian:12"), std::string::npos);
  EXPECT_TRUE(stub.suites.empty());
  fake.add_image("corp/debian:12");
  EXPECT_TRUE(ensure_base_image(fake, "corp/debian:12", stub.fn(), true, nullptr).ok())
      << "a present foreign image is used as it is, even when asked to refresh";
  EXPECT_TRUE(stub.suites.empty());
}

TEST(BaseImage, BootstrapFailureIsReported) {
  FakeEngine fake;
  RootfsBootstrap failing = [](const std::string&, bool, const engine::ProgressFn&) {
    return engine::Result<std::string>(engine::Error{0, "debootstrap failed: cannot reach mirror"});
  };
  auto r = ensure_base_image(fake, kDefaultBaseImage, failing, false, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot reach mirror"), std::string::npos);
  EXPECT_FALSE(fake.inspect_image(kDefaultBaseImage).ok());
}

TEST(RootfsScript, PassesArgumentsReportsProgressAndReturnsTheTarball) {
  TempDir project;
  std::string tar = project.write("cache/bookworm.tar", "tar");
  project.write("images/rootfs.sh",
                "echo \"rootfs: args $*\" >&2\n"
                "echo " +
                    tar + "\n");
  std::vector<std::string> progress;
  auto r = rootfs_script(project.path(), project.path() + "/cache")(
      "bookworm", true, [&](const engine::ProgressLine& l) { progress.push_back(l.text); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, tar);
  EXPECT_EQ(progress, std::vector<std::string>{"rootfs: args --suite bookworm --cache " +
                                               project.path() + "/cache --refresh"});
}

TEST(RootfsScript, FailureCarriesTheScriptsOutput) {
  TempDir project;
  project.write("images/rootfs.sh", "echo 'E: Failed getting release file' >&2; exit 1\n");
  auto r = rootfs_script(project.path())("bookworm", false, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Failed getting release file"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("exit 1"), std::string::npos) << r.error().message;
}

// A checkout with what the gate's image is built from, and what it is not.
class GateRecipe : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* file :
         {"images/gate/Dockerfile", "CMakeLists.txt", "runtime/CMakeLists.txt",
          "runtime/common/result.h", "runtime/netpolicy/domain.cc", "runtime/gate/CMakeLists.txt",
          "runtime/gate/gate_server.cc", "reconciler/cli/cli.cc"}) {
      dir_.write(file, std::string("// ") + file + "\n");
    }
  }
  std::string recipe_hash() {
    auto recipe = gate_image_recipe(dir_.path(), "acctl/debian:bookworm");
    EXPECT_TRUE(recipe.ok()) << (recipe.ok() ? "" : recipe.error().message);
    if (!recipe.ok()) return "";
    return context_hash(tar_of(recipe->files));
  }
  std::vector<std::string> recipe_paths() {
    auto recipe = gate_image_recipe(dir_.path(), "acctl/debian:bookworm");
    std::vector<std::string> paths;
    if (recipe.ok()) {
      for (const ContextFile& f : recipe->files) paths.push_back(f.path);
    }
    std::sort(paths.begin(), paths.end());
    return paths;
  }
  TempDir dir_;
};

TEST_F(GateRecipe, PacksOnlyTheBuildFilesAndTheGatesRuntimeFolders) {
  EXPECT_EQ(recipe_paths(), (std::vector<std::string>{
                                "CMakeLists.txt", "Dockerfile", "runtime/CMakeLists.txt",
                                "runtime/common/result.h", "runtime/gate/CMakeLists.txt",
                                "runtime/gate/gate_server.cc", "runtime/netpolicy/domain.cc"}));
}

TEST_F(GateRecipe, AnotherRuntimeComponentDoesNotChangeItsHash) {
  const std::string before = recipe_hash();
  ASSERT_FALSE(before.empty());
  dir_.write("runtime/vault/CMakeLists.txt", "add_executable(vault vault.cc)\n");
  dir_.write("runtime/vault/vault.cc", "int main() {}\n");
  dir_.write("reconciler/cli/cli.cc", "// changed\n");
  EXPECT_EQ(recipe_hash(), before);
}

TEST_F(GateRecipe, AChangeUnderRuntimeGateOrCommonChangesItsHash) {
  const std::string before = recipe_hash();
  dir_.write("runtime/gate/gate_server.cc", "// changed\n");
  const std::string after_gate = recipe_hash();
  EXPECT_NE(after_gate, before);
  dir_.write("runtime/common/fd.h", "// new\n");
  EXPECT_NE(recipe_hash(), after_gate);
}

}  // namespace
}  // namespace acctl
