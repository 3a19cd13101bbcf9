// Tests of the executor against the fake engine: order, failure propagation, idempotent deletes.
#include "converge/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "fakes/fake_engine.h"

namespace acctl {
namespace {

using engine::FakeEngine;

DesiredObject network_object() {
  DesiredObject d;
  d.type = ObjectType::kNetwork;
  d.name = "net";
  d.network.name = "net";
  d.network.internal = true;
  return d;
}

DesiredObject container_object(const std::string& name) {
  DesiredObject d;
  d.type = ObjectType::kContainer;
  d.name = name;
  d.depends_on = {"net"};
  d.container.name = name;
  d.container.image = "img";
  d.container.network = "net";
  d.container.host_config.network_mode = "net";
  return d;
}

Action create(const DesiredObject& d, std::vector<size_t> after = {}) {
  Action a;
  a.type = ActionType::kCreate;
  a.object = d.type;
  a.name = d.name;
  a.desired = d;
  a.after = std::move(after);
  return a;
}

size_t position(const std::vector<std::string>& calls, const std::string& call) {
  return std::find(calls.begin(), calls.end(), call) - calls.begin();
}

TEST(Executor, RunsInDependencyOrderWithParallelWorkers) {
  FakeEngine fake;
  fake.add_image("img");
  Plan plan;
  plan.actions = {create(network_object())};
  for (int i = 0; i < 8; ++i)
    plan.actions.push_back(create(container_object("c" + std::to_string(i)), {0}));
  ExecuteOptions o;
  o.parallel = 4;
  ExecuteResult r = execute_plan(fake, plan, o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.done, 9u);
  auto calls = fake.mutating_calls();
  for (int i = 0; i < 8; ++i) {
    EXPECT_LT(position(calls, "create_network net"),
              position(calls, "create_container c" + std::to_string(i)));
    EXPECT_LT(position(calls, "create_container c" + std::to_string(i)),
              position(calls, "start_container c" + std::to_string(i)));
  }
}

TEST(Executor, FailureSkipsDependentsButNotIndependentWork) {
  FakeEngine fake;
  fake.add_image("img");
  Plan plan;
  plan.actions = {create(network_object()), create(container_object("a"), {0}),
                  create(container_object("b"), {1})};
  DesiredObject vol;
  vol.type = ObjectType::kVolume;
  vol.name = "v";
  vol.volume.name = "v";
  plan.actions.push_back(create(vol));
  fake.fail("create_network", engine::Error{500, "boom"});
  std::vector<std::string> events;
  ExecuteOptions o;
  o.on_event = [&](const Plan& p, const StepEvent& e) {
    events.push_back(std::string(to_string(e.state)) + " " + p.actions[e.index].name);
  };
  ExecuteResult r = execute_plan(fake, plan, o);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.skipped, 2u);
  EXPECT_EQ(r.done, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("create network net: "), std::string::npos) << r.errors[0];
  EXPECT_NE(std::find(events.begin(), events.end(), "skipped b"), events.end());
  EXPECT_TRUE(fake.inspect_volume("v").ok());
}

TEST(Executor, DeletingWhatIsAlreadyGoneSucceeds) {
  FakeEngine fake;
  Plan plan;
  Action a;
  a.type = ActionType::kDelete;
  a.object = ObjectType::kContainer;
  a.name = "ghost";
  a.observed_id = "no-such-id";
  Action n = a;
  n.object = ObjectType::kNetwork;
  plan.actions = {a, n};
  EXPECT_TRUE(execute_plan(fake, plan, {}).ok());
}

TEST(Executor, CreatesThePrivateWorkspaceFirst) {
  FakeEngine fake;
  fake.add_image("img");
  auto dir =
      std::filesystem::temp_directory_path() / "acctl-exec-ws" / "instances" / "a" / "workspace";
  std::filesystem::remove_all(dir.parent_path().parent_path().parent_path());
  DesiredObject c = container_object("a");
  c.workspace_dir = dir.string();
  Plan plan;
  plan.actions = {create(network_object()), create(c, {0})};
  ASSERT_TRUE(execute_plan(fake, plan, {}).ok());
  EXPECT_EQ(std::filesystem::status(dir).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  std::filesystem::remove_all(dir.parent_path().parent_path().parent_path());
}

TEST(Executor, EmptyPlanDoesNothing) {
  FakeEngine fake;
  ExecuteResult r = execute_plan(fake, Plan{}, {});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(fake.calls().empty());
}

}  // namespace
}  // namespace acctl

namespace acctl {
namespace {

TEST(Executor, RunscThatCannotUpdateLiveIsStoppedUpdatedAndStarted) {
  FakeEngine fake;
  fake.add_image("img");
  engine::ContainerSpec spec;
  spec.name = "sb";
  spec.image = "img";
  spec.host_config.runtime = "runsc";
  auto id = fake.create_container(spec);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(fake.start_container(*id).ok());
  DesiredObject d;
  d.type = ObjectType::kContainer;
  d.name = "sb";
  d.container = spec;
  d.live = {2000000000, 0, 100};
  Action a;
  a.type = ActionType::kUpdate;
  a.name = "sb";
  a.desired = d;
  a.observed_id = *id;
  Plan plan;
  plan.actions = {a};
  // What Debian's runsc does: the engine cannot apply the update to a running sandbox.
  fake.fail("update_resources", engine::Error{500, "runsc did not terminate successfully"});
  fake.clear_calls();
  ASSERT_TRUE(execute_plan(fake, plan, {}).ok());
  EXPECT_EQ(fake.mutating_calls(),
            (std::vector<std::string>{"update_resources sb", "stop_container sb",
                                      "update_resources sb", "start_container sb"}));
  auto info = fake.inspect_container("sb");
  EXPECT_EQ(info->id, *id);
  EXPECT_EQ(info->host_config.nano_cpus, 2000000000);
  EXPECT_TRUE(info->state.running);
}

TEST(Executor, OtherRuntimesDoNotRestartOnAFailedUpdate) {
  FakeEngine fake;
  fake.add_image("img");
  engine::ContainerSpec spec;
  spec.name = "sb";
  spec.image = "img";
  auto id = fake.create_container(spec);
  ASSERT_TRUE(fake.start_container(*id).ok());
  DesiredObject d;
  d.type = ObjectType::kContainer;
  d.name = "sb";
  d.container = spec;
  Action a;
  a.type = ActionType::kUpdate;
  a.desired = d;
  a.observed_id = *id;
  Plan plan;
  plan.actions = {a};
  fake.fail("update_resources", engine::Error{500, "no"});
  fake.clear_calls();
  EXPECT_FALSE(execute_plan(fake, plan, {}).ok());
  EXPECT_EQ(fake.mutating_calls(), std::vector<std::string>{"update_resources sb"});
}

}  // namespace
}  // namespace acctl

namespace acctl {
namespace {

TEST(Executor, NameTakenMeanwhileByOurOwnIdenticalContainerIsAdopted) {
  FakeEngine fake;
  fake.add_image("img");
  DesiredObject d = container_object("a");
  d.spec_hash = "h1";
  d.container.labels = {{kLabelManagedBy, kManagedByValue}, {kLabelSpecHash, "h1"}};
  d.container.network.clear();
  d.container.host_config.network_mode.clear();
  d.depends_on.clear();
  // A killed acctl's create that the engine finished after the plan was made.
  ASSERT_TRUE(fake.create_container(d.container).ok());
  Plan plan;
  plan.actions = {create(d)};
  ASSERT_TRUE(execute_plan(fake, plan, {}).ok());
  EXPECT_TRUE(fake.inspect_container("a")->state.running);
}

TEST(Executor, NameTakenByAnUnmanagedContainerFailsAndLeavesIt) {
  FakeEngine fake;
  fake.add_image("img");
  DesiredObject d = container_object("a");
  d.container.network.clear();
  d.container.host_config.network_mode.clear();
  engine::ContainerSpec theirs;
  theirs.name = "a";
  theirs.image = "img";
  auto id = fake.create_container(theirs);
  Plan plan;
  plan.actions = {create(d)};
  EXPECT_FALSE(execute_plan(fake, plan, {}).ok());
  EXPECT_EQ(fake.inspect_container("a")->id, *id);
  EXPECT_FALSE(fake.inspect_container("a")->state.running);
}

}  // namespace
}  // namespace acctl
