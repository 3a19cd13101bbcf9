// Images without a registry against a real dockerd: the debootstrap base image, the base
// Blueprint's image built once and skipped by hash, and a gVisor container of it. Skips without
// an engine (run tests/integration/engine-up.sh as root). The base image stays for later runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/curl_engine.h"
#include "images/image_build.h"
#include "manifest/manifest.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string source_dir() {
  const char* d = std::getenv("ACCTL_SOURCE_DIR");
  return d ? d : ACCTL_TEST_SOURCE_DIR;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Prints as the test goes: image steps take a while and a person watching wants to know why.
void show(const engine::ProgressLine& line) {
  std::string t = line.text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  if (!t.empty()) std::cout << "    | " << t << "\n" << std::flush;
}

class ImageIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto e = engine::CurlEngine::connect(engine::options_from_env());
    if (!e) {
      skip_reason_ = "no Docker engine: " + e.error().message +
                     " (run tests/integration/engine-up.sh as root)";
      return;
    }
    engine_ = std::move(e).value().release();
    run_ = std::to_string(getpid()) + "-" + std::to_string(std::time(nullptr));
    // The base image is made once per machine and kept; without root or debootstrap it cannot be.
    if (!engine_->inspect_image(kDefaultBaseImage).ok()) {
      if (geteuid() != 0) skip_reason_ = "base image missing and not root (debootstrap needs it)";
      if (std::system("command -v debootstrap >/dev/null 2>&1") != 0)
        skip_reason_ =
            "base image missing and debootstrap not installed (apt-get install debootstrap)";
    }
  }
  static void TearDownTestSuite() {
    if (engine_) {
      engine::Filters mine{{"label", {"ac.test-run=" + run_}}};
      if (auto cs = engine_->list_containers(mine, true)) {
        for (const auto& c : *cs) (void)engine_->remove_container(c.id, true, true);
      }
      for (const std::string& tag : created_tags_) (void)engine_->remove_image(tag, true);
    }
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }

  // The project's Blueprint `name`, renamed for this run so its tag cannot clash with real ones.
  static Blueprint project_blueprint(const std::string& name) {
    std::istringstream no_stdin;
    ManifestSet set = load_manifests({source_dir() + "/blueprints/" + name + "/blueprint.yaml"},
                                     no_stdin, {source_dir() + "/blueprints"});
    EXPECT_TRUE(set.ok()) << (set.diagnostics.empty() ? "" : set.diagnostics.sorted()[0].str());
    EXPECT_EQ(set.model.blueprints.size(), 1u);
    Blueprint bp = set.model.blueprints.at(0);
    bp.meta.name = "it-" + name + "-" + run_;
    created_tags_.push_back(blueprint_image_tag(bp.meta.name));
    return bp;
  }

  engine::Result<BaseImage> ensure_base() {
    return ensure_base_image(*engine_, kDefaultBaseImage, rootfs_script(source_dir()), false, show);
  }

  // Runs the image under runsc with `args` as its CMD; -> exit code and stdout.
  std::pair<int, std::string> run_in_gvisor(const std::string& image,
                                            std::vector<std::string> args) {
    engine::ContainerSpec s;
    s.name = "acctl-it-" + run_ + "-" + std::to_string(++containers_);
    s.image = image;
    s.cmd = std::move(args);
    s.labels = {{"ac.test-run", run_}};
    s.host_config.runtime = "runsc";
    auto id = engine_->create_container(s);
    EXPECT_TRUE(id.ok()) << id.error().message;
    if (!id) return {-1, ""};
    auto started = engine_->start_container(*id);
    EXPECT_TRUE(started.ok()) << started.error().message;
    auto code = engine_->wait_container(*id);
    EXPECT_TRUE(code.ok()) << code.error().message;
    std::string out;
    engine::LogOptions lo;
    lo.stderr = false;
    (void)engine_->logs(*id, lo, [&](engine::LogStream, std::string_view b) {
      out.append(b);
      return true;
    });
    return {code.ok() ? *code : -1, out};
  }

  static inline engine::CurlEngine* engine_ = nullptr;
  static inline std::string skip_reason_;
  static inline std::string run_;
  static inline std::vector<std::string> created_tags_;
  int containers_ = 0;
};

TEST_F(ImageIntegration, BaseImageIsImportedOnceThenFound) {
  auto t0 = Clock::now();
  auto first = ensure_base();
  ASSERT_TRUE(first.ok()) << first.error().message;
  double first_s = seconds_since(t0);
  std::cout << "  ensure_base_image: " << (first->imported ? "bootstrapped/imported" : "present")
            << " in " << first_s << " s\n";

  t0 = Clock::now();
  auto second = ensure_base();
  ASSERT_TRUE(second.ok()) << second.error().message;
  double second_s = seconds_since(t0);
  std::cout << "  ensure_base_image again: " << second_s << " s\n";
  EXPECT_FALSE(second->imported);
  EXPECT_EQ(second->id, first->id);
  EXPECT_LT(second_s, 1.0) << "a present base image needs one inspect, nothing more";
  RecordProperty("first_seconds", std::to_string(first_s));
  RecordProperty("second_seconds", std::to_string(second_s));

  auto image = engine_->inspect_image(kDefaultBaseImage);
  ASSERT_TRUE(image.ok());
  if (image->labels.count("ac.kind")) {  // imported by acctl (not loaded by hand)
    EXPECT_EQ(image->labels.at("ac.managed-by"), "acctl");
    EXPECT_EQ(image->labels.at("ac.kind"), "Image");
  }
}

TEST_F(ImageIntegration, BaseBlueprintBuildsOnceAndRunsAsAgentUnderGvisor) {
  ASSERT_TRUE(ensure_base().ok());
  Blueprint bp = project_blueprint("base");

  auto t0 = Clock::now();
  auto built = build_blueprint_image(*engine_, bp, kDefaultBaseImage, {}, show);
  ASSERT_TRUE(built.ok()) << built.error().message;
  double build_s = seconds_since(t0);
  std::cout << "  base blueprint built in " << build_s << " s\n";
  EXPECT_TRUE(built->built);
  EXPECT_EQ(built->tag, "acctl/blueprint-" + bp.meta.name + ":latest");

  auto image = engine_->inspect_image(built->tag);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->id, built->id);
  EXPECT_EQ(image->labels["ac.managed-by"], "acctl");
  EXPECT_EQ(image->labels["ac.kind"], "Blueprint");
  EXPECT_EQ(image->labels["ac.name"], bp.meta.name);
  EXPECT_EQ(image->labels["ac.spec-hash"], built->spec_hash);

  t0 = Clock::now();
  auto again = build_blueprint_image(*engine_, bp, kDefaultBaseImage, {}, show);
  ASSERT_TRUE(again.ok()) << again.error().message;
  double again_s = seconds_since(t0);
  std::cout << "  unchanged blueprint checked in " << again_s << " s\n";
  EXPECT_FALSE(again->built) << "same context and base: the build is skipped";
  EXPECT_EQ(again->id, built->id);
  EXPECT_LT(again_s, 1.0);
  RecordProperty("build_seconds", std::to_string(build_s));
  RecordProperty("cached_seconds", std::to_string(again_s));

  // The Sandbox's args are the CMD: they reach run.sh, which hands them to bash.
  auto [code, out] = run_in_gvisor(built->tag, {"-c", "id -u agent; id -un; pwd; echo $HOME"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "1000\nagent\n/workspace\n/home/agent\n");
}

TEST_F(ImageIntegration, FailingInstallStepReportsWhatTheScriptSaid) {
  ASSERT_TRUE(ensure_base().ok());
  fs::path dir = fs::temp_directory_path() / ("acctl-it-bp-" + run_);
  fs::create_directories(dir);
  std::ofstream(dir / "install.sh")
      << "echo 'cannot reach installer.example.invalid: this blueprint needs it' >&2\nexit 1\n";
  std::ofstream(dir / "run.sh") << "exec bash \"$@\"\n";
  Blueprint bp;
  bp.meta.name = "it-failing-" + run_;
  bp.spec.hardening = Hardening::kStandard;
  bp.spec.install = "install.sh";
  bp.spec.run = "run.sh";
  bp.spec.folder = dir.string();
  created_tags_.push_back(blueprint_image_tag(bp.meta.name));

  auto r = build_blueprint_image(*engine_, bp, kDefaultBaseImage, {}, show);
  fs::remove_all(dir);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  std::cout << "  the error as acctl reports it:\n" << m << "\n";
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << "no terminal colour codes\n" << m;
  EXPECT_NE(m.find("Blueprint/" + bp.meta.name), std::string::npos) << m;
  EXPECT_NE(m.find("non-zero code: 1"), std::string::npos) << "the engine's own message\n" << m;
  EXPECT_NE(m.find("cannot reach installer.example.invalid"), std::string::npos)
      << "the script's last words\n"
      << m;
  EXPECT_TRUE(engine_->inspect_image(blueprint_image_tag(bp.meta.name)).not_found());
}

TEST_F(ImageIntegration, UnreachableVendorInstallerFailsNamingItsHost) {
  ASSERT_TRUE(ensure_base().ok());
  Blueprint bp = project_blueprint("hermes");
  // The host the blueprint's own script names (installer_host="…").
  std::ifstream script(source_dir() + "/blueprints/hermes/install.sh");
  std::string line, host;
  while (std::getline(script, line) && host.empty()) {
    if (line.starts_with("installer_host=\"")) host = line.substr(16, line.size() - 17);
  }
  ASSERT_FALSE(host.empty()) << "blueprints/hermes/install.sh no longer sets installer_host";
  auto r = build_blueprint_image(*engine_, bp, kDefaultBaseImage, {}, show);
  ASSERT_FALSE(r.ok()) << "hermes' installer host is not reachable from this machine kind";
  EXPECT_NE(r.error().message.find(host), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace acctl
