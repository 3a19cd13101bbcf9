// Tests of the executor against the fake engine: order, failure propagation, idempotent deletes.
#include "executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/fake_engine.h"

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
