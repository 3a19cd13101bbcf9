// Tests of the fake engine: the rules planner and executor tests will lean on.
#include "fakes/fake_engine.h"

#include <gtest/gtest.h>

#include <thread>

namespace acctl::engine {
namespace {

ContainerSpec sandbox(const std::string& name, Labels labels = {}) {
  ContainerSpec s;
  s.name = name;
  s.image = "acctl-test/busybox:latest";
  s.labels = std::move(labels);
  s.host_config.runtime = "runsc";
  s.host_config.nano_cpus = 1'000'000'000;
  return s;
}

class FakeEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { engine.add_image("acctl-test/busybox"); }
  FakeEngine engine;
};

TEST_F(FakeEngineTest, ContainerLifecycleAndCallLog) {
  auto id = engine.create_container(sandbox("ac-sb-dev", {{"ac.managed-by", "acctl"}}));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->size(), 64u);
  EXPECT_EQ(engine.inspect_container("ac-sb-dev")->state.status, "created");
  ASSERT_TRUE(engine.start_container(*id).ok());
  auto running = engine.inspect_container(*id);
  EXPECT_TRUE(running->state.running);
  EXPECT_EQ(running->host_config.runtime, "runsc");
  ASSERT_TRUE(engine.stop_container("ac-sb-dev", 10).ok());
  EXPECT_EQ(engine.inspect_container(*id)->state.status, "exited");
  ASSERT_TRUE(engine.remove_container(*id, false, false).ok());
  EXPECT_TRUE(engine.inspect_container(*id).not_found());
  EXPECT_EQ(engine.mutating_calls(),
            (std::vector<std::string>{"create_container ac-sb-dev", "start_container ac-sb-dev",
                                      "stop_container ac-sb-dev", "remove_container ac-sb-dev"}));
  EXPECT_EQ(engine.calls().size(), 8u);
}

TEST_F(FakeEngineTest, IdsAreDeterministic) {
  FakeEngine other;
  other.add_image("acctl-test/busybox");
  EXPECT_EQ(*engine.create_container(sandbox("a")), *other.create_container(sandbox("a")));
}

TEST_F(FakeEngineTest, EngineRulesSurface) {
  ASSERT_TRUE(engine.create_container(sandbox("x")).ok());
  auto dup = engine.create_container(sandbox("x"));
  EXPECT_TRUE(dup.error().conflict());
  auto no_image = sandbox("y");
  no_image.image = "missing:latest";
  EXPECT_TRUE(engine.create_container(no_image).not_found());
  engine.set_runtimes({"runc"});
  auto no_runsc = engine.create_container(sandbox("z"));
  ASSERT_FALSE(no_runsc.ok());
  EXPECT_EQ(no_runsc.error().status, 400);
  ASSERT_TRUE(engine.start_container("x").ok());
  EXPECT_TRUE(engine.remove_container("x", false, false).error().conflict());
  EXPECT_TRUE(engine.remove_container("x", true, false).ok());
}

TEST_F(FakeEngineTest, LabelFiltersAreAnded) {
  ASSERT_TRUE(
      engine.create_container(sandbox("a", {{"ac.managed-by", "acctl"}, {"ac.kind", "Sandbox"}}))
          .ok());
  ASSERT_TRUE(
      engine.create_container(sandbox("b", {{"ac.managed-by", "acctl"}, {"ac.kind", "Gate"}}))
          .ok());
  ASSERT_TRUE(engine.create_container(sandbox("c")).ok());
  auto managed = engine.list_containers({{"label", {"ac.managed-by=acctl"}}}, true);
  EXPECT_EQ(managed->size(), 2u);
  auto sandboxes =
      engine.list_containers({{"label", {"ac.managed-by=acctl", "ac.kind=Sandbox"}}}, true);
  ASSERT_EQ(sandboxes->size(), 1u);
  EXPECT_EQ((*sandboxes)[0].names[0], "a");
  EXPECT_EQ(engine.list_containers({{"label", {"ac.kind"}}}, true)->size(), 2u);
  EXPECT_EQ(engine.list_containers({}, false)->size(), 0u);  // none running
}

TEST_F(FakeEngineTest, UpdateResourcesKeepsTheId) {
  auto id = engine.create_container(sandbox("a"));
  ResourceUpdate u;
  u.nano_cpus = 2'000'000'000;
  u.pids_limit = 512;
  ASSERT_TRUE(engine.update_resources("a", u).ok());
  auto after = engine.inspect_container("a");
  EXPECT_EQ(after->id, *id);
  EXPECT_EQ(after->host_config.nano_cpus, 2'000'000'000);
  EXPECT_EQ(after->host_config.pids_limit, 512);
}

TEST_F(FakeEngineTest, InjectedFailuresFireOnceWhereAsked) {
  engine.fail("start_container", Error{500, "boom"}, /*skip=*/1);
  ASSERT_TRUE(engine.create_container(sandbox("a")).ok());
  ASSERT_TRUE(engine.create_container(sandbox("b")).ok());
  EXPECT_TRUE(engine.start_container("a").ok());
  auto failed = engine.start_container("b");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "boom");
  EXPECT_FALSE(engine.inspect_container("b")->state.running);  // the failed call changed nothing
  EXPECT_TRUE(engine.start_container("b").ok());

  engine.fail_nth_call(2, Error{0, "connection reset"});
  EXPECT_TRUE(engine.version().ok());
  EXPECT_FALSE(engine.list_networks({}).ok());
  EXPECT_TRUE(engine.list_networks({}).ok());
}

TEST_F(FakeEngineTest, NetworksWithStaticAddresses) {
  NetworkSpec n{
      "ac-net", "bridge", true, false, {{"172.20.0.0/16", "172.20.0.1", ""}}, {{"ac.kind", "Host"}},
      {}};
  ASSERT_TRUE(engine.create_network(n).ok());
  EXPECT_TRUE(engine.create_network(n).error().conflict());
  EXPECT_EQ(engine.list_networks({{"label", {"ac.kind=Host"}}})->size(), 1u);
  EXPECT_EQ(engine.list_networks({})->size(), 4u);  // bridge, host, none + ours
  auto gate = sandbox("ac-gate");
  gate.network = "ac-net";
  gate.ipv4_address = "172.20.0.53";
  ASSERT_TRUE(engine.create_container(gate).ok());
  ASSERT_TRUE(engine.start_container("ac-gate").ok());
  EXPECT_EQ(engine.inspect_container("ac-gate")->networks.at("ac-net").ip_address, "172.20.0.53");
  EXPECT_FALSE(engine.remove_network("ac-net").ok());  // active endpoint
  ASSERT_TRUE(engine.remove_container("ac-gate", true, false).ok());
  EXPECT_TRUE(engine.remove_network("ac-net").ok());
  EXPECT_TRUE(engine.inspect_network("ac-net").not_found());
}

TEST_F(FakeEngineTest, VolumesAndImages) {
  ASSERT_TRUE(engine.create_volume({"ac-cache", "local", {{"ac.kind", "Host"}}, {}}).ok());
  EXPECT_EQ(engine.list_volumes({{"label", {"ac.kind=Host"}}})->size(), 1u);
  EXPECT_TRUE(engine.remove_volume("ac-cache", false).ok());
  EXPECT_TRUE(engine.remove_volume("ac-cache", false).not_found());

  auto id = engine.import_image({"acctl/base:1", {{"ac.kind", "Blueprint"}}, {}, ""},
                                source_from_string("tar"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(engine.inspect_image("acctl/base:1")->id, *id);
  std::vector<std::string> progress;
  auto built = engine.build_image({.tag = "acctl/pi:latest"}, source_from_string("ctx"),
                                  [&](const ProgressLine& l) { progress.push_back(l.text); });
  ASSERT_TRUE(built.ok());
  EXPECT_FALSE(progress.empty());
  EXPECT_EQ(engine.list_images({{"label", {"ac.kind=Blueprint"}}})->size(), 1u);
  EXPECT_TRUE(engine.inspect_image("acctl/nothing").not_found());
}

std::string saved(FakeEngine& engine, const std::vector<std::string>& refs) {
  std::string out;
  EXPECT_TRUE(engine
                  .save_images(refs,
                               [&](std::string_view b) {
                                 out.append(b);
                                 return true;
                               })
                  .ok());
  return out;
}

TEST_F(FakeEngineTest, SavedImagesLoadElsewhereWithTheirIdsLayersAndLabels) {
  const std::string base = std::string(3000, 'b'), top = std::string(1000, 't');
  auto a = engine.add_image_with_layers("acctl/a", {base}, {{"ac.kind", "Blueprint"}});
  auto b = engine.add_image_with_layers("acctl/b", {base, top});
  EXPECT_EQ(a.substr(0, 7), "sha256:");
  EXPECT_EQ(engine.inspect_image("acctl/b")->layers.size(), 2u);
  EXPECT_TRUE(engine.list_images({})->at(0).layers.empty());  // as GET /images/json

  const std::string tar = saved(engine, {"acctl/a", "acctl/b:latest", "acctl-test/busybox"});
  EXPECT_EQ(tar.substr(257, 5), "ustar");  // a tar, as docker save writes
  FakeEngine other;
  std::vector<std::string> progress;
  ASSERT_TRUE(other
                  .load_images(source_from_string(tar),
                               [&](const ProgressLine& l) { progress.push_back(l.text); })
                  .ok());
  EXPECT_EQ(progress.size(), 3u);
  for (const char* ref : {"acctl/a:latest", "acctl/b:latest", "acctl-test/busybox:latest"}) {
    auto mine = engine.inspect_image(ref);
    auto theirs = other.inspect_image(ref);
    ASSERT_TRUE(theirs.ok()) << ref;
    EXPECT_EQ(theirs->id, mine->id) << ref;
    EXPECT_EQ(theirs->layers, mine->layers) << ref;
    EXPECT_EQ(theirs->labels, mine->labels) << ref;
  }
  EXPECT_EQ(other.inspect_image("acctl/b")->size, 4000);
  // Saved again from there, the same tar.
  EXPECT_EQ(saved(other, {"acctl/a", "acctl/b:latest", "acctl-test/busybox"}), tar);
}

TEST_F(FakeEngineTest, LoadReadsALayerOnlyWhenItLacksTheLayersChain) {
  const std::string base = std::string(3000, 'b'), top = std::string(1000, 't');
  engine.add_image_with_layers("acctl/b", {base, top});
  const std::string tar = saved(engine, {"acctl/b"});
  // The tar without the base's layer.tar: it loads where the base's chain is, nowhere else.
  std::string cut = tar;
  const size_t at = cut.find(base);
  ASSERT_NE(at, std::string::npos);
  cut.replace(at, base.size(), std::string(base.size(), 'x'));  // another diff id
  FakeEngine empty;
  auto failed = empty.load_images(source_from_string(cut), {});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("invalid diffID for layer 0"), std::string::npos)
      << failed.error().message;
  EXPECT_TRUE(empty.inspect_image("acctl/b").not_found());
  FakeEngine with_base;
  with_base.add_image_with_layers("acctl/base", {base});
  EXPECT_TRUE(with_base.load_images(source_from_string(cut), {}).ok());
  EXPECT_EQ(with_base.inspect_image("acctl/b")->id, engine.inspect_image("acctl/b")->id);
  // The same base above another layer is another chain: the file is read, and found wrong.
  FakeEngine shifted;
  shifted.add_image_with_layers("acctl/base", {top, base});
  EXPECT_FALSE(shifted.load_images(source_from_string(cut), {}).ok());
}

TEST_F(FakeEngineTest, LoadWantsADockerSaveTar) {
  EXPECT_FALSE(engine.load_images(source_from_string("not a tar at all"), {}).ok());
}

TEST_F(FakeEngineTest, LogsAndEvents) {
  ASSERT_TRUE(engine.create_container(sandbox("a", {{"ac.instance", "a"}})).ok());
  engine.set_logs("a", {{LogStream::kStdout, "out\n"}, {LogStream::kStderr, "err\n"}});
  std::string out, err;
  ASSERT_TRUE(engine
                  .logs("a", {},
                        [&](LogStream s, std::string_view b) {
                          (s == LogStream::kStderr ? err : out).append(b);
                          return true;
                        })
                  .ok());
  EXPECT_EQ(out, "out\n");
  EXPECT_EQ(err, "err\n");
  ASSERT_TRUE(engine.start_container("a").ok());
  engine.simulate_exit("a", 3);
  EXPECT_EQ(*engine.wait_container("a"), 3);
  std::vector<std::string> actions;
  ASSERT_TRUE(engine
                  .events({.filters = {{"type", {"container"}}, {"label", {"ac.instance=a"}}}},
                          [&](const Event& e) {
                            actions.push_back(e.action);
                            return e.action != "die";
                          })
                  .ok());
  EXPECT_EQ(actions, (std::vector<std::string>{"create", "start", "die"}));
}

TEST_F(FakeEngineTest, AttachCapturesStdinAndPlaysBackOutput) {
  auto spec = sandbox("sh");
  spec.open_stdin = true;
  ASSERT_TRUE(engine.create_container(spec).ok());
  ASSERT_TRUE(engine.start_container("sh").ok());
  engine.set_logs("sh", {{LogStream::kStdout, "earlier\n"}});
  engine.set_attach_output("sh", {{LogStream::kStdout, "hello\n"}, {LogStream::kStderr, "done\n"}});
  engine.clear_calls();

  AttachOptions o;
  o.logs = true;
  auto stream = engine.attach_container("sh", o);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_FALSE((*stream)->tty());
  ASSERT_TRUE((*stream)->write("hello\n").ok());
  ASSERT_TRUE((*stream)->close_stdin().ok());
  EXPECT_FALSE((*stream)->write("late").ok()) << "stdin was closed";
  EXPECT_EQ(engine.attached_stdin("sh"), "hello\n");
  EXPECT_TRUE(engine.attached_stdin_closed("sh"));

  std::string out, err;
  ASSERT_TRUE((*stream)
                  ->read_to_end([&](LogStream s, std::string_view b) {
                    (s == LogStream::kStderr ? err : out).append(b);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(out, "earlier\nhello\n");
  EXPECT_EQ(err, "done\n");
  EXPECT_FALSE((*stream)->resize(24, 80).ok()) << "no TTY to resize";
  EXPECT_EQ(engine.calls(),
            (std::vector<std::string>{"attach_container sh", "resize_container sh 24x80"}));
  EXPECT_TRUE(engine.mutating_calls().empty());
}

TEST_F(FakeEngineTest, AttachToATtyIsRawAndStopsWhenAsked) {
  auto spec = sandbox("tty");
  spec.tty = true;
  ASSERT_TRUE(engine.create_container(spec).ok());
  ASSERT_TRUE(engine.start_container("tty").ok());
  engine.set_attach_output("tty", {{LogStream::kStdout, "$ "},
                                   {LogStream::kStderr, "42\r\n"},
                                   {LogStream::kStdout, "never read"}});
  auto stream = engine.attach_container("tty", {});
  ASSERT_TRUE(stream.ok());
  EXPECT_TRUE((*stream)->tty());
  std::string seen;
  auto r = (*stream)->read_to_end([&](LogStream s, std::string_view b) {
    EXPECT_EQ(s, LogStream::kRaw);
    seen.append(b);
    return seen.find("42") == std::string::npos;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, "$ 42\r\n");
  EXPECT_TRUE((*stream)->resize(50, 132).ok());
  EXPECT_EQ(engine.calls().back(), "resize_container tty 50x132");
}

TEST_F(FakeEngineTest, AttachErrors) {
  EXPECT_TRUE(engine.attach_container("missing", {}).not_found());
  ASSERT_TRUE(engine.create_container(sandbox("stopped")).ok());
  auto stopped = engine.attach_container("stopped", {});
  ASSERT_FALSE(stopped.ok());
  EXPECT_TRUE(stopped.error().conflict());
  EXPECT_NE(stopped.error().message.find("not running"), std::string::npos);
  AttachOptions known_tty;
  known_tty.tty = false;  // no inspection: attaching before the start is allowed
  EXPECT_TRUE(engine.attach_container("stopped", known_tty).ok());
  ASSERT_TRUE(engine.start_container("stopped").ok());
  engine.fail("attach_container", Error{500, "boom"});
  EXPECT_EQ(engine.attach_container("stopped", {}).error().message, "boom");
}

// Collects a stream's output by kind until it ends.
struct Output {
  std::string out, err, raw;
  LogFn sink() {
    return [this](LogStream s, std::string_view b) {
      (s == LogStream::kStderr ? err : s == LogStream::kRaw ? raw : out).append(b);
      return true;
    };
  }
};

TEST_F(FakeEngineTest, ExecRunsTheScriptedProcessAndKeepsItsExitCode) {
  ASSERT_TRUE(engine.create_container(sandbox("sh")).ok());
  ASSERT_TRUE(engine.start_container("sh").ok());
  engine.set_exec_handler(
      [](const ExecSpec& spec, std::string_view, std::string& out, std::string& err) {
        out = "ran " + spec.cmd.back() + " as " + spec.user + "\n";
        err = "warning\n";
        return 3;
      });
  engine.clear_calls();

  ExecSpec spec{.cmd = {"sh", "-c", "make test"}, .user = "agent"};
  auto id = engine.create_exec("sh", spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto before = engine.inspect_exec(*id);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->running);
  EXPECT_FALSE(before->exit_code) << "not started yet: no exit code";
  EXPECT_EQ(before->container_id, engine.inspect_container("sh")->id);

  auto stream = engine.start_exec(*id, false);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_FALSE((*stream)->tty());
  EXPECT_TRUE(engine.inspect_exec(*id)->running);
  EXPECT_GT(engine.inspect_exec(*id)->pid, 0);
  Output o;
  ASSERT_TRUE((*stream)->read_to_end(o.sink()).ok());
  EXPECT_EQ(o.out, "ran make test as agent\n");
  EXPECT_EQ(o.err, "warning\n");
  EXPECT_EQ(o.raw, "");
  auto after = engine.inspect_exec(*id);
  EXPECT_FALSE(after->running);
  EXPECT_EQ(after->exit_code, 3);
  EXPECT_FALSE((*stream)->resize(24, 80).ok()) << "no TTY to resize";
  EXPECT_EQ(engine.mutating_calls(),
            (std::vector<std::string>{"create_exec sh sh -c make test", "start_exec sh"}));
  EXPECT_EQ(engine.calls().back(), "resize_exec sh 24x80");
}

TEST_F(FakeEngineTest, ExecStdinReachesTheProcessWhenClosed) {
  ASSERT_TRUE(engine.create_container(sandbox("sh")).ok());
  ASSERT_TRUE(engine.start_container("sh").ok());
  engine.set_exec_handler([](const ExecSpec&, std::string_view in, std::string& out, std::string&) {
    out = "got " + std::string(in);
    return 0;
  });
  auto id = engine.create_exec("sh", {.cmd = {"cat"}, .attach_stdin = true});
  ASSERT_TRUE(id.ok());
  auto stream = engine.start_exec(*id, false);
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE((*stream)->write("hello ").ok());
  Output o;
  auto idle = (*stream)->read(o.sink(), std::chrono::milliseconds(0));
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(*idle, AttachedStream::ReadResult::kIdle) << "cat waits for the end of its stdin";
  EXPECT_TRUE(engine.inspect_exec(*id)->running);

  // The reader blocks until another thread closes stdin, as `acctl shell` uses it.
  std::thread reader([&] { EXPECT_TRUE((*stream)->read_to_end(o.sink()).ok()); });
  ASSERT_TRUE((*stream)->write("world").ok());
  ASSERT_TRUE((*stream)->close_stdin().ok());
  reader.join();
  EXPECT_EQ(o.out, "got hello world");
  EXPECT_FALSE((*stream)->write("late").ok()) << "stdin was closed";
  EXPECT_EQ(engine.inspect_exec(*id)->exit_code, 0);

  auto no_stdin = engine.create_exec("sh", {.cmd = {"true"}});
  auto quiet = engine.start_exec(*no_stdin, false);
  EXPECT_FALSE((*quiet)->write("x").ok()) << "stdin was not attached";
}

TEST_F(FakeEngineTest, ExecWithATtyIsRawAndResizes) {
  ASSERT_TRUE(engine.create_container(sandbox("sh")).ok());
  ASSERT_TRUE(engine.start_container("sh").ok());
  engine.set_exec_handler(
      [](const ExecSpec&, std::string_view, std::string& out, std::string& err) {
        out = "$ ";
        err = "oops\r\n";
        return 0;
      });
  auto id = engine.create_exec("sh", {.cmd = {"sh"}, .tty = true});
  auto stream = engine.start_exec(*id, true);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_TRUE((*stream)->tty());
  EXPECT_TRUE(engine.inspect_exec(*id)->tty);
  ASSERT_TRUE((*stream)->resize(50, 132).ok());
  EXPECT_EQ(engine.calls().back(), "resize_exec sh 50x132");
  Output o;
  ASSERT_TRUE((*stream)->read_to_end(o.sink()).ok());
  EXPECT_EQ(o.raw, "$ oops\r\n");
  EXPECT_EQ(o.out + o.err, "");
}

TEST_F(FakeEngineTest, ExecWithATtyEndsItsInputAtCtrlDNotAtClose) {
  ASSERT_TRUE(engine.create_container(sandbox("sh")).ok());
  ASSERT_TRUE(engine.start_container("sh").ok());
  engine.set_exec_handler([](const ExecSpec&, std::string_view in, std::string& out, std::string&) {
    out = std::string(in);
    return 0;
  });
  ExecSpec cat{.cmd = {"cat"}, .tty = true, .attach_stdin = true};
  auto id = engine.create_exec("sh", cat);
  auto stream = engine.start_exec(*id, true);
  ASSERT_TRUE((*stream)->write("abc\n\x04ignored").ok());
  Output o;
  ASSERT_TRUE((*stream)->read_to_end(o.sink()).ok());
  EXPECT_EQ(o.raw, "abc\n");
  EXPECT_EQ(engine.inspect_exec(*id)->exit_code, 0);

  auto closed = engine.create_exec("sh", cat);
  auto left = engine.start_exec(*closed, true);
  ASSERT_TRUE((*left)->write("abc\n").ok());
  ASSERT_TRUE((*left)->close_stdin().ok());
  Output none;
  ASSERT_TRUE((*left)->read_to_end(none.sink()).ok());
  EXPECT_EQ(none.raw, "") << "the stream ends without the process's output";
  EXPECT_TRUE(engine.inspect_exec(*closed)->running) << "and the process runs on";
}

TEST_F(FakeEngineTest, ExecErrorsAreTheEngines) {
  EXPECT_TRUE(engine.create_exec("missing", {.cmd = {"true"}}).not_found());
  ASSERT_TRUE(engine.create_container(sandbox("sh")).ok());
  auto stopped = engine.create_exec("sh", {.cmd = {"true"}});
  ASSERT_FALSE(stopped.ok());
  EXPECT_TRUE(stopped.error().conflict());
  EXPECT_NE(stopped.error().message.find("is not running"), std::string::npos);

  ASSERT_TRUE(engine.start_container("sh").ok());
  EXPECT_EQ(engine.create_exec("sh", {}).error().status, 400) << "an exec needs a command";
  EXPECT_TRUE(engine.start_exec("nothing", false).not_found());
  EXPECT_TRUE(engine.inspect_exec("nothing").not_found());

  auto id = engine.create_exec("sh", {.cmd = {"true"}});
  ASSERT_TRUE(id.ok());
  auto mismatch = engine.start_exec(*id, true);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("without a TTY"), std::string::npos);
  ASSERT_TRUE(engine.start_exec(*id, false).ok());
  auto again = engine.start_exec(*id, false);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().conflict()) << "an exec runs once";

  auto finished = engine.create_exec("sh", {.cmd = {"true"}});
  ASSERT_TRUE(
      (*engine.start_exec(*finished, false))->read_to_end([](auto, auto) { return true; }).ok());
  auto late = engine.create_exec("sh", {.cmd = {"true"}});
  ASSERT_TRUE(engine.stop_container("sh", 1).ok());
  EXPECT_TRUE(engine.start_exec(*late, false).not_found()) << "gone with the container's stop";
  EXPECT_EQ(engine.inspect_exec(*finished)->exit_code, 0) << "a finished exec stays";
  EXPECT_TRUE(engine.create_exec("sh", {.cmd = {"true"}}).error().conflict());
  engine.fail("create_exec", Error{500, "boom"});
  EXPECT_EQ(engine.create_exec("sh", {.cmd = {"true"}}).error().message, "boom");
  ASSERT_TRUE(engine.remove_container("sh", true, false).ok());
  EXPECT_TRUE(engine.inspect_exec(*finished).not_found()) << "execs go with their container";
}

}  // namespace
}  // namespace acctl::engine
