// Images without a registry against a real dockerd: the debootstrap base image, the base
// Blueprint's image built once and skipped by hash, and a gVisor container of it. Skips without
// an engine (run tests/integration/engine-up.sh as root). The base image stays for later runs.
// Copies between engines run on two private dockerds of their own (root), each in its own
// network namespace, and leave nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "engine/curl_engine.h"
#include "images/image_build.h"
#include "images/image_copy.h"
#include "manifest/manifest.h"
#include "support/run_command.h"

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
  // The agent base image Blueprints build FROM, trusting this machine's local CAs (the npm
  // registry is reached through TLS interception here).
  engine::Result<BuiltImage> ensure_agent_base() {
    std::vector<std::string> cas;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/usr/local/share/ca-certificates", ec))
      if (e.path().extension() == ".crt") cas.push_back(e.path().string());
    std::sort(cas.begin(), cas.end());
    auto recipe = agent_base_image_recipe(source_dir(), kDefaultBaseImage, cas);
    if (!recipe) return recipe.error();
    return build_context_image(*engine_, *recipe, kDefaultBaseImage, false, show);
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
  auto agent_base = ensure_agent_base();
  ASSERT_TRUE(agent_base.ok()) << agent_base.error().message;
  Blueprint bp = project_blueprint("base");

  auto t0 = Clock::now();
  auto built = build_blueprint_image(*engine_, bp, kAgentBaseImage, {}, show);
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
  auto again = build_blueprint_image(*engine_, bp, kAgentBaseImage, {}, show);
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

// --- Copies between two private engines ------------------------------------------------------

constexpr const char* kDockerCli = "/usr/bin/docker";  // /usr/local/bin/docker may be another
constexpr const char* kBusybox = "acctl-test/busybox:latest";

using test_support::run_command;

// A dockerd of the test's own: its socket, exec root (so its own containerd), data root and
// cgroup parent, in a network namespace of its own (started with --bridge=none it would delete
// the machine engine's docker0 otherwise).
class PrivateEngine {
 public:
  explicit PrivateEngine(const std::string& name)
      : name_("acctl-copy-" + std::to_string(getpid()) + "-" + name),
        run_dir_("/run/" + name_),
        data_dir_("/var/lib/" + name_) {}
  ~PrivateEngine() { stop(); }

  std::string host() const { return "unix://" + (run_dir_ / "docker.sock").string(); }
  const fs::path& data_dir() const { return data_dir_; }
  engine::CurlEngine& api() { return *api_; }
  // The docker CLI against this engine, with its output and exit status.
  std::pair<int, std::string> docker(const std::string& args) const {
    auto r =
        run_command("DOCKER_BUILDKIT=0 " + std::string(kDockerCli) + " -H " + host() + " " + args);
    return {r.status, r.output};
  }

  engine::Status start() {
    fs::create_directories(run_dir_);
    fs::create_directories(data_dir_);
    const std::string command =
        "setsid unshare --net dockerd --data-root " + data_dir_.string() + " --exec-root " +
        (run_dir_ / "exec").string() + " --pidfile " + (run_dir_ / "docker.pid").string() + " -H " +
        host() + " --bridge=none --iptables=false --ip-masq=false --cgroup-parent=/" + name_ +
        " >>" + (run_dir_ / "dockerd.log").string() + " 2>&1 </dev/null &";
    if (std::system(command.c_str()) != 0) return Error{0, "cannot start " + command};
    engine::EngineOptions o;
    o.host = host();
    o.request_timeout_ms = 300000;
    const auto until = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < until) {
      if (auto e = engine::CurlEngine::connect(o); e && (*e)->ping().ok()) {
        api_ = std::move(e).value();
        return ok_status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // dockerd has no ready fd
    }
    return Error{0, "the private dockerd " + name_ + " did not come up:\n" +
                        run_command("tail -5 " + (run_dir_ / "dockerd.log").string()).output};
  }

  // Stops the engine and everything it started, and removes its folders.
  void stop() {
    api_.reset();
    if (!fs::exists(run_dir_) && !fs::exists(data_dir_)) return;
    pid_t pid = 0;
    std::ifstream(run_dir_ / "docker.pid") >> pid;
    if (pid > 0 && kill(pid, SIGTERM) == 0) {
      const auto until = Clock::now() + std::chrono::seconds(30);
      while (kill(pid, 0) == 0 && Clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // What it started and left (its containerd, shims): processes that name its run folder.
    for (int round = 0; round < 3; ++round) {
      bool any = false;
      for (const auto& p : fs::directory_iterator("/proc")) {
        const std::string n = p.path().filename().string();
        if (!std::all_of(n.begin(), n.end(), ::isdigit)) continue;
        std::ifstream cmdline(p.path() / "cmdline");
        std::string c((std::istreambuf_iterator<char>(cmdline)), {});
        if (c.find(run_dir_.string()) != std::string::npos ||
            c.find(data_dir_.string()) != std::string::npos) {
          any |= kill(std::stoi(n), SIGKILL) == 0;
        }
      }
      if (!any) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    // Mounts it left (overlays, shm, network namespaces), deepest first.
    std::vector<std::string> mounts;
    std::ifstream table("/proc/self/mounts");
    std::string device, point, rest;
    while (table >> device >> point && std::getline(table, rest)) {
      if (point.starts_with(run_dir_.string()) || point.starts_with(data_dir_.string()))
        mounts.push_back(point);
    }
    std::sort(mounts.rbegin(), mounts.rend());
    for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
    std::error_code ec;
    for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      const fs::path mine = controller.path() / name_;
      if (!fs::is_directory(mine, ec)) continue;
      for (const auto& d : fs::directory_iterator(mine, ec))
        if (d.is_directory()) fs::remove(d.path(), ec);  // rmdir: a cgroup has no files to empty
      fs::remove(mine, ec);
    }
    fs::remove(fs::path("/sys/fs/cgroup") / name_, ec);
    fs::remove_all(run_dir_, ec);
    fs::remove_all(data_dir_, ec);
  }

 private:
  std::string name_;
  fs::path run_dir_, data_dir_;
  std::unique_ptr<engine::CurlEngine> api_;
};

class ImageCopyIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return skip("not root: the test starts dockerds of its own");
    for (const char* tool : {"dockerd", "unshare", "setsid", kDockerCli}) {
      if (run_command(std::string("command -v ") + tool + " >/dev/null").status != 0)
        return skip(std::string(tool) + " is missing (apt-get install docker.io util-linux)");
    }
    // The busybox image comes from the machine's engine: a save, which changes nothing there.
    auto machine = engine::CurlEngine::connect(engine::options_from_env());
    if (!machine) return skip("no machine engine to take " + std::string(kBusybox) + " from");
    if (!(*machine)->inspect_image(kBusybox).ok())
      return skip(std::string(kBusybox) + " is not on the machine's engine (engine-up.sh)");
    src_ = new PrivateEngine("src");
    dst_ = new PrivateEngine("dst");
    for (PrivateEngine* e : {src_, dst_}) {
      if (auto s = e->start(); !s) return skip(s.error().message);
    }
    std::string busybox;
    auto saved = (*machine)->save_images({kBusybox}, [&](std::string_view b) {
      busybox.append(b);
      return true;
    });
    if (!saved) return skip("saving " + std::string(kBusybox) + ": " + saved.error().message);
    auto loaded = src_->api().load_images(engine::source_from_string(std::move(busybox)), {});
    if (!loaded) return skip("loading " + std::string(kBusybox) + ": " + loaded.error().message);
  }
  static void TearDownTestSuite() {
    delete src_;
    delete dst_;
    src_ = dst_ = nullptr;
  }
  static void skip(std::string reason) { skip_reason_ = std::move(reason); }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    scratch_ = "/run/acctl-copy-" + std::to_string(getpid()) + "-scratch/images.tar";
  }
  void TearDown() override {
    EXPECT_FALSE(fs::exists(scratch_));
    fs::remove_all(fs::path(scratch_).parent_path());
  }

  // Builds `tag` on the source engine from a Dockerfile and a context of `files`, without a
  // network.
  static void build(const std::string& tag, const std::string& dockerfile,
                    const std::map<std::string, std::string>& files = {}) {
    const fs::path dir = fs::temp_directory_path() / ("acctl-copy-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "Dockerfile") << dockerfile;
    for (const auto& [name, content] : files) std::ofstream(dir / name) << content;
    auto [code, out] = src_->docker("build --network none -q -t " + tag + " " + dir.string());
    fs::remove_all(dir);
    ASSERT_EQ(code, 0) << out;
  }
  static void print(const std::string& what, const CopiedImages& c, double seconds) {
    std::cout << "  " << what << ": read " << c.bytes_read << " bytes from the source, loaded "
              << c.bytes << " into the destination, " << c.layers_left_out << " layers left out ("
              << c.bytes_left_out << " bytes), " << seconds << " s\n";
  }

  static inline PrivateEngine* src_ = nullptr;
  static inline PrivateEngine* dst_ = nullptr;
  static inline std::string skip_reason_;
  std::string scratch_;
};

TEST_F(ImageCopyIntegration, SharedLayersCrossOnce) {
  build("acctl-it/a:latest",
        std::string("FROM ") + kBusybox + "\nRUN head -c 20971520 /dev/urandom > /a.bin\n");
  build("acctl-it/b:latest", "FROM acctl-it/a:latest\nRUN head -c 5242880 /dev/urandom > /b.bin\n");
  auto a = src_->api().inspect_image("acctl-it/a:latest");
  auto b = src_->api().inspect_image("acctl-it/b:latest");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(b->layers.size(), a->layers.size() + 1);
  const int64_t own = b->size - a->size;  // B's own layer
  std::cout << "  A: " << a->size << " bytes in " << a->layers.size() << " layers; B: " << b->size
            << " bytes, its own layer " << own << "\n";

  auto t0 = Clock::now();
  auto first = copy_images(src_->api(), dst_->api(), {"acctl-it/a:latest"}, scratch_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  print("A to an empty engine", *first, seconds_since(t0));
  EXPECT_EQ(first->layers_left_out, 0);
  EXPECT_EQ(first->bytes, first->bytes_read);

  t0 = Clock::now();
  auto second = copy_images(src_->api(), dst_->api(), {"acctl-it/b:latest"}, scratch_);
  ASSERT_TRUE(second.ok()) << second.error().message;
  print("B, A already there", *second, seconds_since(t0));
  EXPECT_EQ(second->layers_left_out, static_cast<int>(a->layers.size()));
  EXPECT_LE(second->bytes, own + own / 10);
  EXPECT_GE(second->bytes_read, b->size);
  RecordProperty("b_bytes_read", std::to_string(second->bytes_read));
  RecordProperty("b_bytes_loaded", std::to_string(second->bytes));

  for (const char* tag : {"acctl-it/a:latest", "acctl-it/b:latest"}) {
    auto mine = src_->api().inspect_image(tag);
    auto theirs = dst_->api().inspect_image(tag);
    ASSERT_TRUE(theirs.ok()) << tag << ": " << theirs.error().message;
    EXPECT_EQ(theirs->id, mine->id) << tag;
    EXPECT_EQ(theirs->layers, mine->layers) << tag;
  }
  // The engine's layer store names its layers by the chain ids copy_images computes.
  for (const auto& driver : fs::directory_iterator(dst_->data_dir() / "image")) {
    for (const auto& chain : layer_chain_ids(b->layers))
      EXPECT_TRUE(fs::is_directory(driver.path() / "layerdb/sha256" / chain.substr(7))) << chain;
  }
  auto [code, out] = dst_->docker(
      "run --rm --network none acctl-it/b:latest sh -c 'wc -c </a.bin; wc -c </b.bin'");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "20971520\n5242880\n");

  // A again after its tag went: every chain is B's, so not one layer file moves.
  auto removed = dst_->docker("rmi acctl-it/a:latest");
  ASSERT_EQ(removed.first, 0) << removed.second;
  t0 = Clock::now();
  auto third = copy_images(src_->api(), dst_->api(), {"acctl-it/a:latest"}, scratch_);
  ASSERT_TRUE(third.ok()) << third.error().message;
  print("A again, B there", *third, seconds_since(t0));
  EXPECT_EQ(third->layers_left_out, static_cast<int>(a->layers.size()));
  EXPECT_LT(third->bytes, 64 * 1024);
  EXPECT_EQ(dst_->api().inspect_image("acctl-it/a:latest")->id, a->id);
  auto [code_a, out_a] =
      dst_->docker("run --rm --network none acctl-it/a:latest sh -c 'wc -c </a.bin'");
  EXPECT_EQ(code_a, 0) << out_a;
  EXPECT_EQ(out_a, "20971520\n");
}

TEST_F(ImageCopyIntegration, ARepeatedLayerLeftOutLeavesADanglingLinkTheLoadNeverOpens) {
  // The same file copied twice: two layers of the same bytes, one diff id at two positions.
  // The save writes its layer.tar once and a symlink to it for the other position.
  build("acctl-it/c:latest", std::string("FROM ") + kBusybox + "\nCOPY f /f\nCOPY f /f\n",
        {{"f", std::string(100000, 'f')}});
  build("acctl-it/d:latest", "FROM acctl-it/c:latest\nRUN echo d >/d\n");
  auto c = src_->api().inspect_image("acctl-it/c:latest");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->layers.size(), 3u);
  EXPECT_EQ(c->layers[1], c->layers[2]);
  auto listing = src_->docker("save acctl-it/c:latest | tar -tv | grep -c '^l.*layer.tar'");
  EXPECT_EQ(listing.second, "1\n") << "symlinked layer.tar files in the save";

  auto t0 = Clock::now();
  auto d = copy_images(src_->api(), dst_->api(), {"acctl-it/d:latest"}, scratch_);
  ASSERT_TRUE(d.ok()) << d.error().message;
  print("D", *d, seconds_since(t0));
  // Every chain of C is D's: both layer files stay out, the symlink goes in and dangles.
  t0 = Clock::now();
  auto copied = copy_images(src_->api(), dst_->api(), {"acctl-it/c:latest"}, scratch_);
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  print("C, D there", *copied, seconds_since(t0));
  EXPECT_EQ(copied->layers_left_out, 2);
  for (const char* tag : {"acctl-it/c:latest", "acctl-it/d:latest"}) {
    auto theirs = dst_->api().inspect_image(tag);
    ASSERT_TRUE(theirs.ok()) << tag << ": " << theirs.error().message;
    EXPECT_EQ(theirs->id, src_->api().inspect_image(tag)->id) << tag;
  }
  auto [code, out] = dst_->docker("run --rm --network none acctl-it/d:latest cat /d");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "d\n");
}

}  // namespace
}  // namespace acctl
