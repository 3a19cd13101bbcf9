// Tests of the pure planner: each action kind, ordering, dependencies, prune scope, text.
#include "converge/plan.h"

#include <gtest/gtest.h>

namespace acctl {
namespace {

DesiredObject network(const std::string& host) {
  DesiredObject d;
  d.type = ObjectType::kNetwork;
  d.name = "ac-net-" + host;
  d.owner = "Host/" + host;
  d.host = host;
  d.spec_hash = "n1";
  d.field_hashes = {{"subnet", "s1"}};
  d.labels = {{kLabelSpecHash, "n1"}, {kLabelSpecFields, "subnet:s1"},
              {kLabelHost, host},     {kLabelKind, "Host"},
              {kLabelName, host},     {kLabelManagedBy, kManagedByValue}};
  return d;
}

DesiredObject container(const std::string& name, const std::string& host = "h") {
  DesiredObject d;
  d.type = ObjectType::kContainer;
  d.name = "ac-sb-" + name;
  d.owner = "Sandbox/" + name;
  d.host = host;
  d.depends_on = {"ac-net-" + host};
  d.container.image = "img";
  d.spec_hash = "c1";
  d.field_hashes = {{"env", "e1"}, {"image", "i1"}};
  d.labels = {{kLabelSpecHash, "c1"}, {kLabelSpecFields, "env:e1,image:i1"},
              {kLabelHost, host},     {kLabelKind, "Sandbox"},
              {kLabelName, name},     {kLabelManagedBy, kManagedByValue}};
  d.live = {1000000000, 0, 1024};
  d.keep_running = true;
  return d;
}

ObservedObject seen(const DesiredObject& d, const std::string& state = "running") {
  ObservedObject o;
  o.type = d.type;
  o.id = "id-" + d.name;
  o.name = d.name;
  o.labels = d.labels;
  o.state = d.type == ObjectType::kContainer ? state : "";
  o.live = d.live;
  o.image_id = "sha-img";
  return o;
}

ObservedState observed_of(std::vector<ObservedObject> objects) {
  ObservedState s;
  s.objects = std::move(objects);
  s.image_ids["img"] = "sha-img";
  return s;
}

TEST(Plan, FreshEngineCreatesNetworkBeforeContainers) {
  DesiredState want{{network("h"), container("b"), container("a")}, {"h"}, {}};
  Plan p = plan_changes(want, observed_of({}), {});
  ASSERT_EQ(p.actions.size(), 3u);
  EXPECT_EQ(p.actions[0].name, "ac-net-h");
  EXPECT_EQ(p.actions[1].name, "ac-sb-a");  // sorted by name: the text is stable
  EXPECT_EQ(p.actions[2].name, "ac-sb-b");
  EXPECT_EQ(p.actions[1].after, std::vector<size_t>{0});
  EXPECT_EQ(p.text(),
            "+   create  network   ac-net-h (Host/h)\n"
            "+   create  container ac-sb-a (Sandbox/a)\n"
            "+   create  container ac-sb-b (Sandbox/b)\n"
            "Plan: 3 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start; 0 in "
            "sync.\n");
}

TEST(Plan, InSyncIsEmptyAndIdempotent) {
  DesiredState want{{network("h"), container("a")}, {"h"}, {}};
  Plan p = plan_changes(want, observed_of({seen(want.objects[0]), seen(want.objects[1])}),
                        {true, {"h"}});
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.in_sync, 2u);
}

TEST(Plan, LiveLimitsUpdateInPlace) {
  DesiredState want{{container("a")}, {"h"}, {}};
  ObservedObject o = seen(want.objects[0]);
  o.live = {500000000, 1LL << 30, 1024};
  Plan p = plan_changes(want, observed_of({o}), {});
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].type, ActionType::kUpdate);
  EXPECT_EQ(p.actions[0].observed_id, "id-ac-sb-a");
  EXPECT_EQ(p.actions[0].reasons,
            (std::vector<std::string>{"cpus 0.5 → 1", "memory 1g → unlimited"}));
}

TEST(Plan, SpecChangeReplacesAndNamesTheFields) {
  DesiredState want{{network("h"), container("a")}, {"h"}, {}};
  ObservedObject o = seen(want.objects[1]);
  o.labels[kLabelSpecHash] = "old";
  o.labels[kLabelSpecFields] = "env:e0,image:i1";
  Plan p = plan_changes(want, observed_of({seen(want.objects[0]), o}), {});
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].type, ActionType::kDelete);
  EXPECT_TRUE(p.actions[0].replacing);
  EXPECT_EQ(p.actions[1].type, ActionType::kCreate);
  EXPECT_EQ(p.actions[1].after, std::vector<size_t>{0});
  EXPECT_EQ(p.text(),
            "-/+ replace container ac-sb-a (Sandbox/a) because env changed\n"
            "Plan: 0 to create, 0 to update in place, 1 to replace, 0 to delete, 0 to start; 1 in "
            "sync.\n");
}

TEST(Plan, RebuiltImageReplaces) {
  DesiredState want{{container("a")}, {"h"}, {}};
  ObservedState s = observed_of({seen(want.objects[0])});
  s.image_ids["img"] = "sha-new";
  Plan p = plan_changes(want, s, {});
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[1].reasons, std::vector<std::string>{"image img was rebuilt"});
}

TEST(Plan, ReplacedNetworkCascadesToItsContainers) {
  DesiredState want{{network("h"), container("a")}, {"h"}, {}};
  ObservedObject n = seen(want.objects[0]);
  n.labels[kLabelSpecHash] = "old";
  Plan p = plan_changes(want, observed_of({n, seen(want.objects[1])}), {});
  // delete container, delete network (after it), create network, create container (after both)
  ASSERT_EQ(p.actions.size(), 4u);
  EXPECT_EQ(p.actions[0].name, "ac-sb-a");
  EXPECT_EQ(p.actions[1].name, "ac-net-h");
  EXPECT_EQ(p.actions[1].after, std::vector<size_t>{0});
  EXPECT_EQ(p.actions[2].name, "ac-net-h");
  EXPECT_EQ(p.actions[3].name, "ac-sb-a");
  EXPECT_EQ(p.actions[3].reasons, std::vector<std::string>{"network ac-net-h is replaced"});
  EXPECT_EQ(p.actions[3].after, (std::vector<size_t>{0, 2}));
}

TEST(Plan, StoppedContainersStartOnlyWhenTheyShouldRun) {
  DesiredState want{{container("idle"), container("job"), container("fresh")}, {"h"}, {}};
  want.objects[1].keep_running = false;
  want.objects[2].keep_running = false;
  Plan p =
      plan_changes(want,
                   observed_of({seen(want.objects[0], "exited"), seen(want.objects[1], "exited"),
                                seen(want.objects[2], "created")}),
                   {});
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].name, "ac-sb-fresh");
  EXPECT_EQ(p.actions[0].reasons, std::vector<std::string>{"found created"});
  EXPECT_EQ(p.actions[1].name, "ac-sb-idle");
  EXPECT_EQ(p.in_sync, 1u);
}

TEST(Plan, PruneIsScopedToTheManifestsHostsAndOrdersDeletes) {
  DesiredState want{{}, {"h"}, {}};
  DesiredObject gone_net = network("h");
  DesiredObject gone = container("x");
  DesiredObject other = container("y", "elsewhere");
  ObservedState s = observed_of({seen(gone_net), seen(gone), seen(other)});
  EXPECT_TRUE(plan_changes(want, s, {false, {"h"}}).empty());
  Plan p = plan_changes(want, s, {true, {"h"}});
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].name, "ac-sb-x");
  EXPECT_EQ(p.actions[1].name, "ac-net-h");
  EXPECT_EQ(p.actions[1].after, std::vector<size_t>{0});
}

TEST(Plan, ConflictsAndMissingImagesAreErrors) {
  DesiredState want{{container("a"), container("b")}, {"h"}, {}};
  want.objects[1].container.image = "absent";
  ObservedState s = observed_of({});
  s.unmanaged_names.insert("ac-sb-a");
  s.image_ids["absent"] = "";
  Plan p = plan_changes(want, s, {});
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_NE(p.errors[0].find("exists but acctl does not manage it"), std::string::npos);
  EXPECT_NE(p.errors[1].find("image \"absent\" is not on the engine"), std::string::npos);
  EXPECT_EQ(p.actions.size(), 1u);  // only b's create; a is untouched
}

TEST(Plan, DescribeLiveChange) {
  EXPECT_EQ(describe_live_change({0, 0, 0}, {2500000000, 512LL << 20, 64}),
            (std::vector<std::string>{"cpus unlimited → 2.5", "memory unlimited → 512m",
                                      "pids unlimited → 64"}));
  EXPECT_TRUE(describe_live_change({1, 2, 3}, {1, 2, 3}).empty());
}

// Images, files, reloads and waits are steps of the plan like engine objects.
DesiredObject image(const std::string& tag, ImageSource source, const std::string& base = "") {
  DesiredObject d;
  d.type = ObjectType::kImage;
  d.name = tag;
  d.owner = "Host/h";
  d.host = "h";
  d.image.source = source;
  d.image.base = base;
  d.image.suite = "bookworm";
  if (source == ImageSource::kBuild) {
    auto p =
        prepare_image({tag, "Image", "x", {{"Dockerfile", "", "FROM " + base + "\n", 0644}}, {}});
    d.image.prepared = std::make_shared<const PreparedImage>(*p);
  }
  return d;
}

TEST(Plan, ImagesFilesReloadsAndWaitsAreStepsWithStableText) {
  DesiredObject config;
  config.type = ObjectType::kFile;
  config.name = config.file.path = "/run/h/gate/config.json";
  config.file.label = "gate/config.json";
  config.file.content = "new";
  config.file.reload_container = "ac-gate-h";
  config.owner = "Host/h";
  config.file.explain = [](const std::string&) {
    return std::vector<std::string>{"policy changed"};
  };
  DesiredObject gate = container("gate");
  gate.name = "ac-gate-h";
  gate.owner = "Host/h";
  DesiredObject sb = container("a");
  sb.depends_on.push_back("ac-gate-h");
  sb.container.image = "acctl/blueprint-a:latest";
  DesiredObject engine;
  engine.type = ObjectType::kEngine;
  engine.name = "unix:///run/h/docker.sock";
  engine.owner = "Host/h";
  engine.nested = {"unix:///run/h/docker.sock", "ac-dind-host-h", "", "h"};
  DesiredState want{
      {image("acctl/debian:bookworm", ImageSource::kImport),
       image("acctl/host:latest", ImageSource::kBuild, "acctl/debian:bookworm"),
       image("acctl/blueprint-a:latest", ImageSource::kCopy), config, gate, sb, engine},
      {"h"},
      {}};
  ObservedState s = observed_of({seen(gate)});
  s.image_ids["acctl/debian:bookworm"] = "";
  s.source_image_ids["acctl/blueprint-a:latest"] = "sha-src";
  s.image_ids["acctl/blueprint-a:latest"] = "sha-old";
  s.files[config.file.path] = std::string("old");
  Plan p = plan_changes(want, s, {});
  EXPECT_EQ(
      p.text(),
      "+   import  image     acctl/debian:bookworm (Host/h): not on the engine (from the "
      "Debian bookworm rootfs)\n"
      "+   build   image     acctl/host:latest (Host/h): base image acctl/debian:bookworm is "
      "made first\n"
      "+   copy    image     acctl/blueprint-a:latest (Host/h): differs from the Host's "
      "engine's\n"
      "~   write   file      gate/config.json (Host/h): policy changed\n"
      "~   reload  gate      ac-gate-h (Host/h): policy changed\n"
      "+   create  container ac-sb-a (Sandbox/a)\n"
      ">   wait    engine    ac-dind-host-h (Host/h): its nested engine is not answering yet\n"
      "Plan: 1 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start, 2 "
      "images to build, 1 image to copy, 1 file to write, 1 gate to reload, 1 engine to wait "
      "for; 1 in sync.\n");
  // The build waits for the import; the reload for the write; the sandbox for its image's copy
  // and for the gate to know it.
  EXPECT_EQ(p.actions[1].after, std::vector<size_t>{0});
  EXPECT_EQ(p.actions[4].after, std::vector<size_t>{3});
  EXPECT_EQ(p.actions[5].after, (std::vector<size_t>{2, 4}));
  EXPECT_EQ(p.images_made(), (std::set<std::string>{"acctl/blueprint-a:latest",
                                                    "acctl/debian:bookworm", "acctl/host:latest"}));
}

// The engine that answered while the plan was made belongs to the host container it replaces
// or starts again: the stage waits for the new one, after the host container.
TEST(Plan, ANestedEngineIsWaitedForWhenItsHostContainerStartsAnew) {
  DesiredObject host = container("h");
  host.name = "ac-dind-host-h";
  host.owner = "Host/h";
  host.keep_running = true;
  DesiredObject engine;
  engine.type = ObjectType::kEngine;
  engine.name = "unix:///run/h/docker.sock";
  engine.owner = "Host/h";
  engine.nested = {engine.name, host.name, "", "h"};
  engine.depends_on = {host.name};
  DesiredState want{{network("h"), host, engine}, {"h"}, {}};

  ObservedObject changed = seen(host);
  changed.labels[kLabelSpecHash] = "old";
  changed.labels[kLabelSpecFields] = "env:e0,image:i1";
  ObservedState s = observed_of({seen(want.objects[0]), changed});
  s.engines_ready[engine.name] = true;
  Plan replaced = plan_changes(want, s, {});
  ASSERT_EQ(replaced.actions.size(), 3u);
  EXPECT_EQ(replaced.actions[2].type, ActionType::kWait);
  EXPECT_EQ(replaced.actions[2].reasons,
            std::vector<std::string>{"restarting with its host container"});
  EXPECT_EQ(replaced.actions[2].after, std::vector<size_t>{1});
  // An engine that did not answer before is not said to be restarting.
  s.engines_ready[engine.name] = false;
  EXPECT_EQ(plan_changes(want, s, {}).actions[2].reasons,
            std::vector<std::string>{"not answering yet"});
  s.engines_ready[engine.name] = true;

  s = observed_of({seen(want.objects[0]), seen(host, "exited")});
  s.engines_ready[engine.name] = true;
  Plan started = plan_changes(want, s, {});
  ASSERT_EQ(started.actions.size(), 2u);
  EXPECT_EQ(started.actions[0].type, ActionType::kStart);
  EXPECT_EQ(started.actions[1].type, ActionType::kWait);

  s = observed_of({seen(want.objects[0]), seen(host)});
  s.engines_ready[engine.name] = true;
  EXPECT_TRUE(plan_changes(want, s, {}).empty());
}

// A gate re-reads every file it was given at once: two changed files are one reload, after
// both writes, with both reasons.
TEST(Plan, OneReloadPerGateAfterEveryFileItReads) {
  auto file = [](const std::string& path, const std::string& owner, const std::string& why) {
    DesiredObject f;
    f.type = ObjectType::kFile;
    f.name = f.file.path = path;
    f.file.label = path.substr(1);
    f.file.content = "new";
    f.file.reload_container = "ac-gate-h";
    f.owner = owner;
    f.file.explain = [why](const std::string&) { return std::vector<std::string>{why}; };
    return f;
  };
  DesiredObject gate = container("gate");
  gate.name = "ac-gate-h";
  gate.owner = "Host/h";
  DesiredState want{{file("/gate/config.json", "Host/h", "sandbox a added"),
                     file("/gate/secrets/a/github", "Sandbox/a", "the token changed"), gate},
                    {"h"},
                    {}};
  ObservedState s = observed_of({seen(gate)});
  s.files["/gate/config.json"] = std::string("old");
  s.files["/gate/secrets/a/github"] = std::string("old");
  Plan p = plan_changes(want, s, {});
  EXPECT_EQ(p.text(),
            "~   write   file      gate/config.json (Host/h): sandbox a added\n"
            "~   write   file      gate/secrets/a/github (Sandbox/a): the token changed\n"
            "~   reload  gate      ac-gate-h (Host/h): sandbox a added, the token changed\n"
            "Plan: 0 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start, 2 "
            "files to write, 1 gate to reload; 1 in sync.\n");
  EXPECT_EQ(p.actions[2].after, (std::vector<size_t>{0, 1}));
}

TEST(Plan, CurrentImagesAndFilesAreInSync) {
  DesiredObject built = image("acctl/host:latest", ImageSource::kBuild, "base");
  DesiredObject file;
  file.type = ObjectType::kFile;
  file.name = file.file.path = "/f";
  file.file.content = "same";
  DesiredState want{{built, file}, {"h"}, {}};
  ObservedState s;
  s.image_ids = {{"base", "sha-base"}, {"acctl/host:latest", "sha-host"}};
  s.image_labels["acctl/host:latest"] = {
      {kLabelSpecHash, image_spec_hash(*built.image.prepared, "sha-base")}};
  s.files["/f"] = std::string("same");
  Plan p = plan_changes(want, s, {});
  EXPECT_TRUE(p.empty()) << p.text();
  EXPECT_EQ(p.in_sync, 2u);
  // Another base image id: the same recipe is built again.
  s.image_ids["base"] = "sha-base-2";
  Plan again = plan_changes(want, s, {});
  ASSERT_EQ(again.actions.size(), 1u);
  EXPECT_EQ(again.actions[0].reasons,
            std::vector<std::string>{"build context or base image changed"});
}

}  // namespace
}  // namespace acctl
