// The reconciler end to end against the fake engine: apply, diff, drift, prune, conflicts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"
#include "converge/desired.h"
#include "converge/engine_lock.h"
#include "converge/system.h"
#include "fakes/fake_engine.h"
#include "manifest/test_support.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using engine::FakeEngine;

constexpr const char* kImage = "acctl-test/busybox:latest";

std::string manifests(const std::string& sandboxes, const std::string& host_extra = "") {
  return std::string(
             "apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: local}\nspec: {isolation: "
             "direct" +
             host_extra +
             "}\n---\n"
             "apiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: default}\nspec: "
             "{allow: [example.com]}\n---\n"
             "apiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: tiny}\nspec: "
             "{hardening: standard, image: ") +
         kImage + "}\n" + sandboxes;
}

std::string sandbox(const std::string& name, const std::string& spec_extra = "") {
  return "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: " + name +
         "}\nspec: {blueprint: tiny, mode: idle" + spec_extra + "}\n";
}

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("acctl-reconcile-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(home_);
    fs::create_directories(home_);
    setenv("ACCTL_HOME", home_.c_str(), 1);
    setenv("ACCTL_LOCK_DIR", (home_ / "locks").c_str(), 1);
    unsetenv("DOCKER_HOST");
    fake_ = std::make_shared<FakeEngine>();
    fake_->set_runtimes({"runc", "runsc"});
    fake_->add_image(kImage);
  }
  void TearDown() override { fs::remove_all(home_); }

  struct Out {
    int status;
    std::string out, err;
  };
  Out run(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    CliEnv env{in, out, err, "", nullptr, false};
    env.connect_engine = [this](const engine::EngineOptions& o) {
      // The fake waits out a call it does not answer as the client would: keep that short.
      engine::EngineOptions quick = o;
      quick.request_timeout_ms = 300;
      fake_->set_options(quick);
      return engine::Result<std::shared_ptr<engine::EngineApi>>(
          std::shared_ptr<engine::EngineApi>(fake_));
    };
    int status = run_cli(args, env);
    return {status, out.str(), err.str()};
  }
  Out apply(const std::string& yaml, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"apply", "-f", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, yaml);
  }
  Out diff(const std::string& yaml, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"diff", "-f", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, yaml);
  }
  engine::ContainerInfo container(const std::string& name) {
    auto r = fake_->inspect_container(name);
    EXPECT_TRUE(r.ok()) << name;
    return r.ok() ? *r : engine::ContainerInfo{};
  }

  fs::path home_;
  std::shared_ptr<FakeEngine> fake_;
};

TEST_F(ReconcileTest, ApplyCreatesLabelledLimitedGvisorContainersThenIsInSync) {
  std::string yaml =
      manifests(sandbox("a", ", resources: {cpus: 1.5, memory: 512m, pids: 100}") + sandbox("b"));
  Out first = apply(yaml);
  ASSERT_EQ(first.status, 0) << first.err << first.out;
  EXPECT_NE(first.out.find("+   create  network   ac-net-local (Host/local)"), std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("+   create  container ac-sb-a (Sandbox/a)"), std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("Applied: 3 done, 0 failed, 0 skipped"), std::string::npos) << first.out;

  engine::ContainerInfo a = container("ac-sb-a");
  EXPECT_EQ(a.host_config.runtime, "runsc");
  EXPECT_EQ(a.host_config.nano_cpus, 1500000000);
  EXPECT_EQ(a.host_config.memory, 512LL << 20);
  EXPECT_EQ(a.host_config.pids_limit, 100);
  EXPECT_EQ(a.host_config.network_mode, "ac-net-local");
  EXPECT_TRUE(a.state.running);
  EXPECT_EQ(a.config.labels.at("ac.managed-by"), "acctl");
  EXPECT_EQ(a.config.labels.at("ac.kind"), "Sandbox");
  EXPECT_EQ(a.config.labels.at("ac.name"), "a");
  EXPECT_EQ(a.config.labels.at("ac.instance"), "a");
  EXPECT_EQ(a.config.labels.at("ac.host"), "local");
  EXPECT_FALSE(a.config.labels.at("ac.spec-hash").empty());
  ASSERT_EQ(a.host_config.binds.size(), 2u);
  EXPECT_EQ(a.host_config.binds[0], (home_ / "instances/a/workspace").string() + ":/workspace");
  // The agent's home outlives the container.
  EXPECT_EQ(a.host_config.binds[1], (home_ / "instances/a/home").string() + ":/home/agent");
  EXPECT_EQ(fs::status(home_ / "instances/a/home").permissions() & fs::perms::all,
            fs::perms::owner_all);
  // Hardened: uid 1000, no capability, no privilege gain, a read-only root, tmpfs scratch.
  EXPECT_EQ(a.config.user, "1000:1000");
  EXPECT_EQ(a.host_config.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_EQ(a.host_config.security_opt, std::vector<std::string>{"no-new-privileges"});
  EXPECT_TRUE(a.host_config.readonly_rootfs);
  EXPECT_EQ(a.host_config.tmpfs.at("/tmp"), "rw,nosuid,nodev,mode=1777");
  EXPECT_EQ(fs::status(home_ / "instances/a/workspace").permissions() & fs::perms::all,
            fs::perms::owner_all);
  auto net = fake_->inspect_network("ac-net-local");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->internal);

  fake_->clear_calls();
  Out again = diff(yaml);
  EXPECT_EQ(again.status, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("Plan: 0 to create, 0 to update in place, 0 to replace, 0 to delete, 0 "
                           "to start; 3 in sync."),
            std::string::npos)
      << again.out;
  EXPECT_TRUE(fake_->mutating_calls().empty());
  Out second = apply(yaml);
  EXPECT_EQ(second.status, 0);
  EXPECT_TRUE(fake_->mutating_calls().empty()) << testing::joined(fake_->mutating_calls());
}

TEST_F(ReconcileTest, LimitsUpdateInPlaceAndOtherFieldsReplace) {
  ASSERT_EQ(apply(manifests(sandbox("a", ", resources: {cpus: 1}"))).status, 0);
  const std::string id = container("ac-sb-a").id;

  std::string cpus2 = manifests(sandbox("a", ", resources: {cpus: 2, memory: 1g}"));
  Out d = diff(cpus2);
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(
      d.out.find("~   update  container ac-sb-a (Sandbox/a): cpus 1 → 2, memory unlimited → 1g"),
      std::string::npos)
      << d.out;
  ASSERT_EQ(apply(cpus2).status, 0);
  EXPECT_EQ(container("ac-sb-a").id, id);
  EXPECT_EQ(container("ac-sb-a").host_config.nano_cpus, 2000000000);
  EXPECT_EQ(container("ac-sb-a").host_config.memory, 1LL << 30);

  std::string env =
      manifests(sandbox("a", ", resources: {cpus: 2, memory: 1g}, env: {MODE: fast}"));
  d = diff(env);
  EXPECT_NE(d.out.find("-/+ replace container ac-sb-a (Sandbox/a) because env changed"),
            std::string::npos)
      << d.out;
  ASSERT_EQ(apply(env).status, 0);
  EXPECT_NE(container("ac-sb-a").id, id);
  EXPECT_EQ(diff(env).status, 0);
}

TEST_F(ReconcileTest, PruneDeletesWhatIsGoneButKeepsWorkspaces) {
  ASSERT_EQ(apply(manifests(sandbox("a") + sandbox("b"))).status, 0);
  fs::path file = home_ / "instances/b/workspace/notes.txt";
  std::ofstream(file) << "keep me";
  std::string only_a = manifests(sandbox("a"));
  Out plain = diff(only_a);
  EXPECT_EQ(plain.status, 0) << "without --prune nothing is deleted:\n" << plain.out;
  Out d = diff(only_a, {"--prune"});
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(d.out.find("-   delete  container ac-sb-b (Sandbox/b): not in the manifests"),
            std::string::npos)
      << d.out;
  ASSERT_EQ(apply(only_a, {"--prune"}).status, 0);
  EXPECT_TRUE(fake_->inspect_container("ac-sb-b").not_found());
  EXPECT_TRUE(fake_->inspect_container("ac-sb-a").ok());
  EXPECT_TRUE(fs::exists(file));
}

TEST_F(ReconcileTest, PruneNeverTouchesOtherHostsOrUnmanagedObjects) {
  ASSERT_EQ(apply(manifests(sandbox("a"))).status, 0);
  engine::ContainerSpec other;
  other.name = "ac-sb-elsewhere";
  other.image = kImage;
  other.labels = {{"ac.managed-by", "acctl"},
                  {"ac.kind", "Sandbox"},
                  {"ac.name", "elsewhere"},
                  {"ac.host", "other"}};
  ASSERT_TRUE(fake_->create_container(other).ok());
  engine::ContainerSpec mine;
  mine.name = "users-own";
  mine.image = kImage;
  ASSERT_TRUE(fake_->create_container(mine).ok());
  ASSERT_EQ(apply(manifests(""), {"--prune"}).status, 0);
  EXPECT_TRUE(fake_->inspect_container("ac-sb-a").not_found());
  EXPECT_TRUE(fake_->inspect_container("ac-sb-elsewhere").ok());
  EXPECT_TRUE(fake_->inspect_container("users-own").ok());
}

TEST_F(ReconcileTest, UnmanagedObjectWithTheSameNameIsAnErrorAndUntouched) {
  engine::ContainerSpec squatter;
  squatter.name = "ac-sb-a";
  squatter.image = kImage;
  ASSERT_TRUE(fake_->create_container(squatter).ok());
  fake_->clear_calls();
  Out r = apply(manifests(sandbox("a")));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find("Sandbox/a: a container named \"ac-sb-a\" exists but acctl does not manage it"),
      std::string::npos)
      << r.err;
  EXPECT_TRUE(fake_->mutating_calls().empty()) << testing::joined(fake_->mutating_calls());
  EXPECT_TRUE(container("ac-sb-a").config.labels.empty());
}

TEST_F(ReconcileTest, DriftIsFoundAndRepaired) {
  std::string yaml =
      manifests(sandbox("a", ", resources: {cpus: 1}") + sandbox("b") + sandbox("c"));
  ASSERT_EQ(apply(yaml).status, 0);
  ASSERT_TRUE(fake_->stop_container(container("ac-sb-a").id, 1).ok());
  ASSERT_TRUE(fake_->remove_container(container("ac-sb-b").id, true, false).ok());
  engine::ResourceUpdate u;
  u.nano_cpus = 3000000000;
  ASSERT_TRUE(fake_->update_resources(container("ac-sb-c").id, u).ok());
  Out d = diff(yaml);
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(d.out.find(">   start   container ac-sb-a (Sandbox/a): found exited"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("+   create  container ac-sb-b (Sandbox/b)"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("~   update  container ac-sb-c (Sandbox/c): cpus 3 → unlimited"),
            std::string::npos)
      << d.out;
  ASSERT_EQ(apply(yaml).status, 0);
  EXPECT_EQ(diff(yaml).status, 0);
}

TEST_F(ReconcileTest, FinishedHeadlessRunIsLeftAlone) {
  std::string yaml = manifests(
      "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: job}\n"
      "spec: {blueprint: tiny, mode: headless, args: [echo, hi]}\n");
  ASSERT_EQ(apply(yaml).status, 0);
  fake_->simulate_exit("ac-sb-job", 0);
  EXPECT_EQ(diff(yaml).status, 0);
}

TEST_F(ReconcileTest, FailedStepSkipsDependentsAndTheNextApplyConverges) {
  std::string yaml = manifests(sandbox("a") + sandbox("b"));
  fake_->fail("create_network", engine::Error{500, "engine hiccup"});
  Out r = apply(yaml);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("FAILED  create network ac-net-local"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped create container ac-sb-a"), std::string::npos) << r.out;
  fake_->fail("start_container", engine::Error{500, "start failed"});
  r = apply(yaml);
  EXPECT_EQ(r.status, 2);
  // One container was created but never started: the next apply starts it.
  Out d = diff(yaml);
  EXPECT_NE(d.out.find("found created"), std::string::npos) << d.out;
  ASSERT_EQ(apply(yaml).status, 0);
  EXPECT_EQ(diff(yaml).status, 0);
  EXPECT_TRUE(container("ac-sb-a").state.running);
  EXPECT_TRUE(container("ac-sb-b").state.running);
}

TEST_F(ReconcileTest, MissingRunscOrImageAreClearErrors) {
  fake_->set_runtimes({"runc"});
  Out r = apply(manifests(sandbox("a")));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("has no \"runsc\" runtime"), std::string::npos) << r.err;

  fake_->set_runtimes({"runc", "runsc"});
  std::string other_image = std::string(manifests(sandbox("a")));
  other_image.replace(other_image.find(kImage), std::string(kImage).size(), "nothing/here:1");
  r = diff(other_image);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("error: Sandbox/a: image \"nothing/here:1\" is not on the engine"),
            std::string::npos)
      << r.out;
}

TEST_F(ReconcileTest, GpusNeedTheNvidiaRuntimeElseTheyAreRefusedNotDropped) {
  const std::string yaml = manifests(sandbox("g", ", resources: {gpus: all}"));
  Out r = diff(yaml);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("Sandbox/g: resources.gpus asks for GPUs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no NVIDIA runtime (its runtimes: runc, runsc)"), std::string::npos)
      << r.out;
  r = apply(yaml);
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(fake_->inspect_container("ac-sb-g").ok()) << "created without its GPUs";

  fake_->set_runtimes({"runc", "runsc", "nvidia"});
  r = apply(manifests(sandbox("g", ", resources: {gpus: [\"0\", \"1\"]}")));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto& requests = container("ac-sb-g").host_config.device_requests;
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].device_ids, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(requests[0].capabilities, (std::vector<std::vector<std::string>>{{"gpu"}}));
}

TEST_F(ReconcileTest, DryRunChangesNothing) {
  fake_->clear_calls();
  Out r = apply(manifests(sandbox("a")), {"--dry-run"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("+   create  container ac-sb-a"), std::string::npos);
  EXPECT_TRUE(fake_->mutating_calls().empty());
}

TEST_F(ReconcileTest, JsonOutputHasAnEventPerStepAndASummary) {
  Out r = apply(manifests(sandbox("a")), {"-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int steps = 0;
  nlohmann::json last;
  while (std::getline(lines, line)) {
    last = nlohmann::json::parse(line);
    if (last["event"] == "step" && last["state"] == "done") ++steps;
  }
  EXPECT_EQ(steps, 2);
  EXPECT_EQ(last["event"], "summary");
  EXPECT_EQ(last["ok"], true);
  EXPECT_EQ(last["done"], 2);
}

TEST_F(ReconcileTest, DeleteByManifestAndByName) {
  std::string yaml = manifests(sandbox("a") + sandbox("b"));
  ASSERT_EQ(apply(yaml).status, 0);
  Out r = run({"delete", "sandbox", "a"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fake_->inspect_container("ac-sb-a").not_found());
  EXPECT_TRUE(fake_->inspect_container("ac-sb-b").ok());
  r = run({"delete", "-f", "-"}, yaml);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fake_->inspect_container("ac-sb-b").not_found());
  EXPECT_TRUE(fake_->inspect_network("ac-net-local").not_found());
  EXPECT_TRUE(fs::exists(home_ / "instances/b/workspace"));
  EXPECT_EQ(run({"delete", "sandbox", "a"}).out, "Nothing to delete.\n");
}

TEST_F(ReconcileTest, GetListsManagedObjects) {
  ASSERT_EQ(apply(manifests(sandbox("a", ", resources: {cpus: 2, memory: 1g}"))).status, 0);
  Out r = run({"get", "sandboxes", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["name"], "a");
  EXPECT_EQ(j[0]["state"], "running");
  EXPECT_EQ(j[0]["memory"], "1g");
  Out table = run({"get"});
  EXPECT_NE(table.out.find("Sandbox  a"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Host     local"), std::string::npos) << table.out;
  EXPECT_EQ(run({"get", "sandbox", "nope"}).status, 2);
}

// The lock of the fake's engine is free again: nothing is left holding it.
bool lock_is_free() {
  auto lock = EngineLock::acquire(std::string(engine::kDefaultEngineHost),
                                  EngineLock::default_dir(real_system()),
                                  std::chrono::milliseconds(0), nullptr, real_system());
  return lock.ok();
}

TEST_F(ReconcileTest, EngineThatStopsAnsweringMidApplyEndsItWithinTheDeadline) {
  fake_->stop_answering("start_container ac-sb-b");
  const auto start = std::chrono::steady_clock::now();
  Out r = apply(manifests(sandbox("a") + sandbox("b")), {"--timeout", "20s"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  // The call and the object, and whether the engine answers anything else.
  EXPECT_NE(r.err.find("start_container ac-sb-b: the engine did not answer within 0.3s"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the engine answers other calls, so dockerd is holding that object"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fake_->inspect_container("ac-sb-a")->state.running);
  EXPECT_TRUE(lock_is_free());
  fake_->answer_again();
  Out again = apply(manifests(sandbox("a") + sandbox("b")));
  EXPECT_EQ(again.status, 0) << again.err;
}

TEST_F(ReconcileTest, StuckContainerIsReportedAndDoesNotStallTheDiff) {
  ASSERT_EQ(apply(manifests(sandbox("a") + sandbox("b"))).status, 0);
  fake_->stop_answering("inspect_container ac-sb-a");
  const auto start = std::chrono::steady_clock::now();
  Out d = diff(manifests(sandbox("a") + sandbox("b")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(d.status, 2) << d.out << d.err;
  EXPECT_NE(d.out.find("error: Sandbox/a: the engine did not answer an inspect of container "
                       "ac-sb-a in time"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("2 in sync"), std::string::npos) << "b and the network are read: " << d.out;
  EXPECT_TRUE(lock_is_free());
}

TEST_F(ReconcileTest, EngineThatAnswersNothingEndsTheDiffWithinItsTimeout) {
  ASSERT_EQ(apply(manifests(sandbox("a"))).status, 0);
  fake_->stop_answering();
  const auto start = std::chrono::steady_clock::now();
  Out d = diff(manifests(sandbox("a")), {"--timeout", "2s"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(d.status, 2) << d.out;
  EXPECT_NE(d.err.find("list_networks: the engine did not answer within 0.3s"), std::string::npos)
      << d.err;
  EXPECT_NE(d.err.find("the engine does not answer at all now"), std::string::npos) << d.err;
  EXPECT_TRUE(lock_is_free());
  Out g = run({"get"});
  EXPECT_EQ(g.status, 2);
  EXPECT_NE(g.err.find("did not answer"), std::string::npos) << g.err;
}

}  // namespace
}  // namespace acctl
