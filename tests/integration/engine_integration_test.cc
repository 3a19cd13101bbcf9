// CurlEngine against a real dockerd: every call acctl relies on, with runsc. Skips without an
// engine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <thread>

#include "engine/curl_engine.h"

namespace acctl::engine {
namespace {

constexpr const char* kImage = "acctl-test/busybox:latest";

// A minimal ustar writer: enough for a build context or a root filesystem of a few files.
class Tar {
 public:
  void add(const std::string& name, const std::string& content, int mode = 0644) {
    std::string h(512, '\0');
    auto put = [&](std::size_t off, std::size_t len, const std::string& v) {
      h.replace(off, std::min(len, v.size()), v.substr(0, len));
    };
    auto octal = [](std::size_t width, unsigned long value) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%0*lo", static_cast<int>(width - 1), value);
      return std::string(buf);
    };
    put(0, 100, name);
    put(100, 8, octal(8, static_cast<unsigned long>(mode)));
    put(108, 8, octal(8, 0));
    put(116, 8, octal(8, 0));
    put(124, 12, octal(12, content.size()));
    put(136, 12, octal(12, 1700000000));
    h[156] = '0';
    put(257, 6, std::string("ustar\0", 6));
    put(263, 2, "00");
    put(148, 8, "        ");
    unsigned long sum = 0;
    for (unsigned char c : h) sum += c;
    put(148, 7, octal(7, sum));
    bytes_ += h + content + std::string((512 - content.size() % 512) % 512, '\0');
  }
  std::string finish() const { return bytes_ + std::string(1024, '\0'); }

 private:
  std::string bytes_;
};

class EngineIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto e = CurlEngine::connect(options_from_env());
    if (!e) {
      skip_reason_ = "no Docker engine: " + e.error().message +
                     " (run images/engine-up.sh as root)";
      return;
    }
    engine_ = std::move(e).value().release();
    if (auto image = engine_->inspect_image(kImage); !image) {
      skip_reason_ = std::string("test image ") + kImage +
                     " missing (run images/engine-up.sh): " + image.error().message;
      return;
    }
    // Every object a run creates carries this label, so cleanup finds exactly those.
    run_ = std::to_string(getpid()) + "-" + std::to_string(std::time(nullptr));
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }
  void TearDown() override {
    if (!engine_) return;
    Filters mine{{"label", {"ac.test-run=" + run_}}};
    if (auto cs = engine_->list_containers(mine, true)) {
      for (const auto& c : *cs) EXPECT_TRUE(engine_->remove_container(c.id, true, true).ok());
    }
    if (auto ns = engine_->list_networks(mine)) {
      for (const auto& n : *ns) EXPECT_TRUE(engine_->remove_network(n.id).ok());
    }
    if (auto vs = engine_->list_volumes(mine)) {
      for (const auto& v : *vs) EXPECT_TRUE(engine_->remove_volume(v.name, true).ok());
    }
    if (auto is = engine_->list_images(mine)) {
      for (const auto& i : *is) EXPECT_TRUE(engine_->remove_image(i.id, true).ok());
    }
  }

  static std::string name(const std::string& what) { return "acctl-it-" + run_ + "-" + what; }
  static Labels labels(Labels extra = {}) {
    extra["ac.test-run"] = run_;
    return extra;
  }
  static ContainerSpec spec(const std::string& what, std::vector<std::string> cmd) {
    ContainerSpec s;
    s.name = name(what);
    s.image = kImage;
    s.cmd = std::move(cmd);
    s.labels = labels({{"ac.name", what}});
    return s;
  }
  EngineApi& engine() { return *engine_; }

  static inline CurlEngine* engine_ = nullptr;
  static inline std::string skip_reason_;
  static inline std::string run_;
};

TEST_F(EngineIntegration, VersionNegotiatedAndRunscRegistered) {
  auto v = engine().version();
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->api_version, "1.41");
  EXPECT_EQ(v->os, "linux");
  EXPECT_FALSE(v->server_version.empty());
  EXPECT_NE(std::find(v->runtimes.begin(), v->runtimes.end(), "runsc"), v->runtimes.end())
      << "runsc is not registered with the engine";
}

TEST_F(EngineIntegration, ContainerLifecycleWithLiveUpdate) {
  auto s = spec("life", {"sleep", "300"});
  s.host_config.nano_cpus = 500'000'000;
  s.host_config.memory = 64 << 20;
  s.host_config.pids_limit = 64;
  s.env = {"A=1"};
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto running = engine().inspect_container(s.name);
  ASSERT_TRUE(running.ok()) << running.error().message;
  EXPECT_EQ(running->id, *id);
  EXPECT_TRUE(running->state.running);
  EXPECT_EQ(running->config.labels.at("ac.name"), "life");
  EXPECT_EQ(running->host_config.nano_cpus, 500'000'000);
  EXPECT_EQ(running->host_config.pids_limit, 64);
  EXPECT_NE(std::find(running->config.env.begin(), running->config.env.end(), "A=1"),
            running->config.env.end());

  ResourceUpdate u;
  u.nano_cpus = 1'000'000'000;
  u.pids_limit = 128;
  auto updated = engine().update_resources(*id, u);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  auto after = engine().inspect_container(*id);
  EXPECT_EQ(after->id, *id);
  EXPECT_EQ(after->host_config.nano_cpus, 1'000'000'000);
  EXPECT_EQ(after->host_config.pids_limit, 128);
  EXPECT_TRUE(after->state.running);

  EXPECT_TRUE(engine().start_container(*id).ok()) << "starting a running container is a no-op";
  ASSERT_TRUE(engine().stop_container(*id, 1).ok());
  EXPECT_EQ(engine().inspect_container(*id)->state.status, "exited");
  ASSERT_TRUE(engine().remove_container(*id, false, false).ok());
  EXPECT_TRUE(engine().inspect_container(*id).not_found());
}

TEST_F(EngineIntegration, LabelFilteredList) {
  auto a = spec("a", {"true"});
  a.labels["ac.kind"] = "Sandbox";
  auto b = spec("b", {"true"});
  b.labels["ac.kind"] = "Gate";
  ASSERT_TRUE(engine().create_container(a).ok());
  ASSERT_TRUE(engine().create_container(b).ok());
  auto both = engine().list_containers({{"label", {"ac.test-run=" + run_}}}, true);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 2u);
  auto sandboxes =
      engine().list_containers({{"label", {"ac.test-run=" + run_, "ac.kind=Sandbox"}}}, true);
  ASSERT_TRUE(sandboxes.ok());
  ASSERT_EQ(sandboxes->size(), 1u);
  EXPECT_EQ((*sandboxes)[0].names, std::vector<std::string>{a.name});
  EXPECT_EQ((*sandboxes)[0].state, "created");
  EXPECT_EQ(engine().list_containers({{"label", {"ac.test-run=" + run_}}}, false)->size(), 0u);
}

TEST_F(EngineIntegration, RunscContainerRunsToCompletion) {
  auto s = spec("runsc", {"true"});
  s.host_config.runtime = "runsc";
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto code = engine().wait_container(*id);
  ASSERT_TRUE(code.ok()) << code.error().message;
  EXPECT_EQ(*code, 0);
  auto info = engine().inspect_container(*id);
  EXPECT_EQ(info->host_config.runtime, "runsc");
  EXPECT_EQ(info->state.status, "exited");
}

TEST_F(EngineIntegration, InternalNetworkWithStaticAddress) {
  // A /24 per run, out of the range the engine hands out by default.
  std::string prefix = "10.213." + std::to_string(getpid() % 250) + ".";
  NetworkSpec n;
  n.name = name("net");
  n.internal = true;
  n.ipam = {{prefix + "0/24", prefix + "1", ""}};
  n.labels = labels();
  auto net = engine().create_network(n);
  ASSERT_TRUE(net.ok()) << net.error().message;
  auto dup = engine().create_network(n);
  EXPECT_FALSE(dup.ok()) << "a second network of the same name must be refused";

  auto s = spec("static", {"sleep", "300"});
  s.network = n.name;
  s.ipv4_address = prefix + "53";
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto info = engine().inspect_container(*id);
  ASSERT_EQ(info->networks.count(n.name), 1u);
  EXPECT_EQ(info->networks.at(n.name).ip_address, prefix + "53");
  auto inspected = engine().inspect_network(n.name);
  ASSERT_TRUE(inspected.ok());
  EXPECT_TRUE(inspected->internal);
  ASSERT_EQ(inspected->ipam.size(), 1u);
  EXPECT_EQ(inspected->ipam[0].subnet, prefix + "0/24");
  EXPECT_EQ(inspected->containers.at(*id), prefix + "53/24");
  EXPECT_EQ(engine().list_networks({{"label", {"ac.test-run=" + run_}}})->size(), 1u);

  ASSERT_TRUE(engine().disconnect_network(n.name, *id, true).ok());
  ASSERT_TRUE(engine().connect_network(n.name, *id, prefix + "54", {"again"}).ok());
  EXPECT_EQ(engine().inspect_container(*id)->networks.at(n.name).ip_address, prefix + "54");
  ASSERT_TRUE(engine().remove_container(*id, true, false).ok());
  ASSERT_TRUE(engine().remove_network(*net).ok());
  EXPECT_TRUE(engine().inspect_network(*net).not_found());
}

TEST_F(EngineIntegration, VolumeCreateListRemove) {
  auto v = engine().create_volume({name("vol"), "local", labels(), {}});
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->labels.at("ac.test-run"), run_);
  EXPECT_EQ(engine().list_volumes({{"label", {"ac.test-run=" + run_}}})->size(), 1u);
  ASSERT_TRUE(engine().remove_volume(v->name, false).ok());
  EXPECT_TRUE(engine().inspect_volume(v->name).not_found());
}

TEST_F(EngineIntegration, LogsComeBackDemultiplexed) {
  auto s = spec("logs", {"sh", "-c", "echo out; echo err >&2; echo out2"});
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(engine().start_container(*id).ok());
  ASSERT_EQ(*engine().wait_container(*id), 0);
  std::string out, err;
  auto st = engine().logs(*id, {}, [&](LogStream stream, std::string_view bytes) {
    (stream == LogStream::kStderr ? err : out).append(bytes);
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(out, "out\nout2\n");
  EXPECT_EQ(err, "err\n");
}

TEST_F(EngineIntegration, FollowedLogsArriveWhileTheContainerRuns) {
  auto s = spec("follow", {"sh", "-c", "echo first; sleep 30; echo never"});
  s.tty = true;  // a TTY container's log is the raw terminal stream
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(engine().start_container(*id).ok());
  std::string seen;
  LogStream kind = LogStream::kStdout;
  auto start = std::chrono::steady_clock::now();
  LogOptions o;
  o.follow = true;
  auto st = engine().logs(*id, o, [&](LogStream stream, std::string_view bytes) {
    kind = stream;
    seen.append(bytes);
    return seen.find("first") == std::string::npos;  // stop as soon as it shows
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_NE(seen.find("first"), std::string::npos);
  EXPECT_EQ(kind, LogStream::kRaw);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST_F(EngineIntegration, ImportImageFromATar) {
  Tar tar;
  tar.add("hello.txt", "hi from a tar\n");
  std::string ref = "acctl-it/import:" + run_;
  ImportSpec spec;
  spec.reference = ref;
  spec.labels = labels({{"ac.kind", "Blueprint"}});
  spec.changes = {R"(CMD ["/hello.txt"])"};
  auto id = engine().import_image(spec, source_from_string(tar.finish()));
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto image = engine().inspect_image(ref);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->id, *id);
  EXPECT_EQ(image->labels.at("ac.kind"), "Blueprint");
  EXPECT_EQ(engine().list_images({{"label", {"ac.test-run=" + run_}}})->size(), 1u);
  ASSERT_TRUE(engine().remove_image(ref, false).ok());
  EXPECT_TRUE(engine().inspect_image(ref).not_found());
}

TEST_F(EngineIntegration, BuildImageReportsProgress) {
  Tar context;
  context.add("Dockerfile", std::string("FROM ") + kImage + "\nRUN echo hi-from-build\n");
  BuildSpec b;
  b.tag = "acctl-it/build:" + run_;
  b.labels = labels({{"ac.kind", "Blueprint"}});
  std::vector<std::string> lines;
  auto id = engine().build_image(b, source_from_string(context.finish()),
                                 [&](const ProgressLine& l) { lines.push_back(l.text); });
  ASSERT_TRUE(id.ok()) << id.error().message;
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_NE(all.find("Step 1/"), std::string::npos) << all;
  EXPECT_NE(all.find("hi-from-build"), std::string::npos) << all;
  auto image = engine().inspect_image(b.tag);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->id, *id);
  EXPECT_EQ(image->labels.at("ac.test-run"), run_);
}

TEST_F(EngineIntegration, FailingBuildStepIsAnError) {
  Tar context;
  context.add("Dockerfile", std::string("FROM ") + kImage + "\nRUN exit 7\n");
  BuildSpec b;
  b.tag = "acctl-it/broken:" + run_;
  b.labels = labels();
  auto id = engine().build_image(b, source_from_string(context.finish()), {});
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().message.find("non-zero code: 7"), std::string::npos) << id.error().message;
  EXPECT_FALSE(id.not_found());
}

TEST_F(EngineIntegration, MissingObjectsAreNotFound) {
  EXPECT_TRUE(engine().inspect_container(name("nothing")).not_found());
  EXPECT_TRUE(engine().inspect_image("acctl-it/nothing:none").not_found());
  EXPECT_TRUE(engine().inspect_network(name("nothing")).not_found());
  EXPECT_TRUE(engine().inspect_volume(name("nothing")).not_found());
  EXPECT_TRUE(engine().remove_container(name("nothing"), true, false).not_found());
  auto no_image = spec("noimage", {"true"});
  no_image.image = "acctl-it/nothing:none";
  EXPECT_TRUE(engine().create_container(no_image).not_found());
  auto dup = spec("dup", {"true"});
  ASSERT_TRUE(engine().create_container(dup).ok());
  auto again = engine().create_container(dup);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().conflict()) << again.error().message;
}

TEST_F(EngineIntegration, EventsStreamAndStop) {
  int64_t t0 = std::time(nullptr) - 1;
  auto s = spec("events", {"true"});
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(engine().start_container(*id).ok());
  ASSERT_EQ(*engine().wait_container(*id), 0);
  std::vector<std::string> actions;
  EventOptions o;
  o.filters = {{"type", {"container"}}, {"label", {"ac.test-run=" + run_, "ac.name=events"}}};
  o.since = t0;
  auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  o.stop = [&] { return std::chrono::steady_clock::now() > stop_at; };
  auto st = engine().events(o, [&](const Event& e) {
    EXPECT_EQ(e.actor_id, *id);
    actions.push_back(e.action);
    return e.action != "die";
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(actions, (std::vector<std::string>{"create", "start", "die"}));

  // With nothing happening, only the stop condition ends the stream.
  auto quiet_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  EventOptions quiet;
  quiet.filters = {{"label", {"ac.test-run=" + run_ + "-never"}}};
  quiet.stop = [&] { return std::chrono::steady_clock::now() > quiet_until; };
  auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine().events(quiet, [](const Event&) { return true; }).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
}

// Reads until `done` says so, the stream ends or 20 s pass; -> whether `done` was satisfied.
bool read_until(AttachedStream& stream, const std::function<bool()>& done, const LogFn& on_bytes) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    auto r = stream.read(on_bytes, std::chrono::milliseconds(200));
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok() || *r == AttachedStream::ReadResult::kEnded) break;
  }
  return done();
}

TEST_F(EngineIntegration, AttachWithoutTtyDemultiplexesAndHalfCloses) {
  auto s = spec("cat", {"sh", "-c", "cat; echo done >&2"});
  s.open_stdin = true;
  s.stdin_once = true;              // the half-close reaches cat as EOF
  s.host_config.runtime = "runsc";  // as acctl's sandboxes run
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto stream = engine().attach_container(*id, {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_FALSE((*stream)->tty());
  ASSERT_TRUE((*stream)->write("hello\n").ok());
  ASSERT_TRUE((*stream)->close_stdin().ok());
  std::string out, err;
  bool ended = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    auto r = (*stream)->read(
        [&](LogStream stream, std::string_view bytes) {
          EXPECT_NE(stream, LogStream::kRaw);
          (stream == LogStream::kStderr ? err : out).append(bytes);
          return true;
        },
        std::chrono::milliseconds(500));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ended = *r == AttachedStream::ReadResult::kEnded;
  }
  EXPECT_TRUE(ended) << "the stream ends when the process exits";
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(err, "done\n");
  EXPECT_EQ(*engine().wait_container(*id), 0);
}

TEST_F(EngineIntegration, AttachToATtyShellWhileReadingOnAnotherThread) {
  auto s = spec("tty", {"sh"});
  s.tty = true;
  s.open_stdin = true;
  s.host_config.runtime = "runsc";
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto stream = engine().attach_container(*id, {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_TRUE((*stream)->tty());
  std::string seen;
  bool all_raw = true;
  std::atomic<bool> found{false};
  std::thread reader([&] {
    read_until(
        **stream, [&] { return found.load(); },
        [&](LogStream kind, std::string_view bytes) {
          all_raw &= kind == LogStream::kRaw;
          seen.append(bytes);
          // The terminal echoes the command line, which says 6*7, not 42.
          found = seen.find("42") != std::string::npos;
          return true;
        });
  });
  std::this_thread::yield();
  EXPECT_TRUE((*stream)->write("echo $((6*7))\nexit\n").ok());
  reader.join();
  EXPECT_TRUE(found) << seen;
  EXPECT_TRUE(all_raw);
}

TEST_F(EngineIntegration, AttachResizesTheTerminal) {
  auto s = spec("resize", {"sh"});
  s.tty = true;
  s.open_stdin = true;
  s.host_config.runtime = "runsc";
  auto id = engine().create_container(s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().start_container(*id).ok());
  auto stream = engine().attach_container(*id, {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  auto resized = (*stream)->resize(33, 101);
  ASSERT_TRUE(resized.ok()) << resized.error().message;
  ASSERT_TRUE((*stream)->write("stty size\n").ok());
  std::string seen;
  EXPECT_TRUE(read_until(
      **stream, [&] { return seen.find("33 101") != std::string::npos; },
      [&](LogStream, std::string_view bytes) {
        seen.append(bytes);
        return true;
      }))
      << seen;
}

TEST_F(EngineIntegration, AttachErrorsSayWhatIsWrong) {
  auto missing = engine().attach_container(name("nothing"), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.not_found()) << missing.error().message;
  // Without inspection the refusal comes from the engine, on the upgraded connection itself.
  AttachOptions no_inspect;
  no_inspect.tty = false;
  auto raw = engine().attach_container(name("nothing"), no_inspect);
  ASSERT_FALSE(raw.ok());
  EXPECT_TRUE(raw.not_found()) << raw.error().message;
  EXPECT_EQ(raw.error().message,
            "attach to container " + name("nothing") + ": No such container: " + name("nothing"));

  auto s = spec("idle", {"true"});
  ASSERT_TRUE(engine().create_container(s).ok());
  auto stopped = engine().attach_container(s.name, {});
  ASSERT_FALSE(stopped.ok());
  EXPECT_TRUE(stopped.error().conflict()) << stopped.error().message;
  EXPECT_NE(stopped.error().message.find("not running"), std::string::npos);
}

// Exec -------------------------------------------------------------------------------------------

// What an exec stream printed, by kind, and whether it ended within 20 s.
struct ExecOutput {
  std::string out, err, raw;
  bool ended = false;
};
ExecOutput read_to_end_within(AttachedStream& stream) {
  ExecOutput o;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!o.ended && std::chrono::steady_clock::now() < deadline) {
    auto r = stream.read(
        [&](LogStream kind, std::string_view bytes) {
          (kind == LogStream::kStderr ? o.err
           : kind == LogStream::kRaw  ? o.raw
                                      : o.out)
              .append(bytes);
          return true;
        },
        std::chrono::milliseconds(500));
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok()) break;
    o.ended = *r == AttachedStream::ReadResult::kEnded;
  }
  return o;
}

// The runtimes an exec must work under: the engine's default and gVisor, as sandboxes run.
const char* const kExecRuntimes[] = {"runc", "runsc"};

class ExecIntegration : public EngineIntegration {
 protected:
  // A started container that idles, for execs to run in.
  std::string running(const std::string& what, const std::string& runtime) {
    auto s = spec(what + "-" + runtime, {"sleep", "300"});
    s.host_config.runtime = runtime;
    // An exec needs no network; "none" also keeps these tests independent of the default bridge.
    s.host_config.network_mode = "none";
    auto id = engine().create_container(s);
    EXPECT_TRUE(id.ok()) << id.error().message;
    if (!id) return "";
    auto started = engine().start_container(*id);
    EXPECT_TRUE(started.ok()) << started.error().message;
    return *id;
  }
};

TEST_F(ExecIntegration, WithoutTtySeparatesTheStreamsAndKeepsTheExitCode) {
  for (const char* runtime : kExecRuntimes) {
    SCOPED_TRACE(runtime);
    std::string container = running("echo", runtime);
    ASSERT_FALSE(container.empty());
    auto id = engine().create_exec(
        container, {.cmd = {"sh", "-c", "echo out; echo err >&2; echo out2; exit 3"}});
    ASSERT_TRUE(id.ok()) << id.error().message;
    auto before = engine().inspect_exec(*id);
    ASSERT_TRUE(before.ok()) << before.error().message;
    EXPECT_FALSE(before->running);
    EXPECT_FALSE(before->exit_code) << "not started: no exit code yet";
    EXPECT_EQ(before->container_id, container);
    EXPECT_FALSE(before->tty);

    auto stream = engine().start_exec(*id, false);
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    EXPECT_FALSE((*stream)->tty());
    ExecOutput o = read_to_end_within(**stream);
    EXPECT_TRUE(o.ended) << "the stream ends when the process exits";
    EXPECT_EQ(o.out, "out\nout2\n");
    EXPECT_EQ(o.err, "err\n");
    EXPECT_EQ(o.raw, "");
    // Right after the stream's end, without waiting: the engine sets the exit code first.
    auto after = engine().inspect_exec(*id);
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_FALSE(after->running);
    EXPECT_EQ(after->exit_code, 3);
    EXPECT_GT(after->pid, 0);
    EXPECT_FALSE((*stream)->resize(24, 80).ok()) << "no TTY to resize";

    auto again = engine().start_exec(*id, false);
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(again.error().conflict()) << again.error().message;
  }
}

TEST_F(ExecIntegration, TakesEnvUserAndWorkingDir) {
  std::string container = running("env", "runsc");
  ASSERT_FALSE(container.empty());
  auto id = engine().create_exec(container, {.cmd = {"sh", "-c", "echo $GREETING; id -u; pwd"},
                                             .env = {"GREETING=hi"},
                                             .user = "1000",
                                             .working_dir = "/tmp"});
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto stream = engine().start_exec(*id, false);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  ExecOutput o = read_to_end_within(**stream);
  EXPECT_EQ(o.out, "hi\n1000\n/tmp\n") << o.err;
  EXPECT_EQ(engine().inspect_exec(*id)->exit_code, 0);
}

TEST_F(ExecIntegration, WithATtyTheShellSeesTheSizeSet) {
  for (const char* runtime : kExecRuntimes) {
    SCOPED_TRACE(runtime);
    std::string container = running("tty", runtime);
    ASSERT_FALSE(container.empty());
    auto id = engine().create_exec(container, {.cmd = {"sh"}, .tty = true, .attach_stdin = true});
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_TRUE(engine().inspect_exec(*id)->tty);
    auto stream = engine().start_exec(*id, true);
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    EXPECT_TRUE((*stream)->tty());
    // Straight after the start: the engine waits for the process to be there before resizing.
    auto resized = (*stream)->resize(33, 101);
    ASSERT_TRUE(resized.ok()) << resized.error().message;
    ASSERT_TRUE((*stream)->write("stty size; exit 5\n").ok());
    ExecOutput o = read_to_end_within(**stream);
    EXPECT_TRUE(o.ended);
    EXPECT_NE(o.raw.find("33 101"), std::string::npos) << o.raw;
    EXPECT_EQ(o.out + o.err, "") << "a terminal's bytes come raw";
    EXPECT_EQ(engine().inspect_exec(*id)->exit_code, 5);
  }
}

TEST_F(ExecIntegration, WithATtyStdinEndsAtCtrlDAndClosingItLeavesTheProcess) {
  std::string container = running("eof", "runsc");
  ASSERT_FALSE(container.empty());
  ExecSpec cat{.cmd = {"cat"}, .tty = true, .attach_stdin = true};
  auto id = engine().create_exec(container, cat);
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto stream = engine().start_exec(*id, true);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  ASSERT_TRUE((*stream)->write("abc\n\x04").ok());
  ExecOutput o = read_to_end_within(**stream);
  EXPECT_TRUE(o.ended) << "^D is the terminal's end of input";
  EXPECT_NE(o.raw.find("abc"), std::string::npos) << o.raw;
  EXPECT_EQ(engine().inspect_exec(*id)->exit_code, 0);

  auto left = engine().create_exec(container, cat);
  ASSERT_TRUE(left.ok()) << left.error().message;
  auto half_closed = engine().start_exec(*left, true);
  ASSERT_TRUE(half_closed.ok()) << half_closed.error().message;
  ASSERT_TRUE((*half_closed)->close_stdin().ok());
  EXPECT_TRUE(read_to_end_within(**half_closed).ended) << "the engine ends the output";
  auto info = engine().inspect_exec(*left);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_TRUE(info->running) << "cat got no EOF and runs on";
  EXPECT_FALSE(info->exit_code);
}

TEST_F(ExecIntegration, StdinHalfClosedReachesCat) {
  for (const char* runtime : kExecRuntimes) {
    SCOPED_TRACE(runtime);
    std::string container = running("cat", runtime);
    ASSERT_FALSE(container.empty());
    auto id = engine().create_exec(container, {.cmd = {"cat"}, .attach_stdin = true});
    ASSERT_TRUE(id.ok()) << id.error().message;
    auto stream = engine().start_exec(*id, false);
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    ASSERT_TRUE((*stream)->write("hello\n").ok());
    ASSERT_TRUE((*stream)->write("world\n").ok());
    ASSERT_TRUE((*stream)->close_stdin().ok());
    ExecOutput o = read_to_end_within(**stream);
    EXPECT_TRUE(o.ended) << "cat ends at its stdin's end";
    EXPECT_EQ(o.out, "hello\nworld\n");
    EXPECT_EQ(engine().inspect_exec(*id)->exit_code, 0);
  }
}

TEST_F(ExecIntegration, OnlyIntoARunningContainer) {
  auto missing = engine().create_exec(name("nothing"), {.cmd = {"true"}});
  EXPECT_TRUE(missing.not_found()) << missing.error().message;
  EXPECT_TRUE(engine().inspect_exec("0123456789abcdef").not_found());
  EXPECT_TRUE(engine().start_exec("0123456789abcdef", false).not_found());

  auto idle = spec("never-started", {"sleep", "300"});
  idle.host_config.network_mode = "none";
  ASSERT_TRUE(engine().create_container(idle).ok());
  auto created_only = engine().create_exec(idle.name, {.cmd = {"true"}});
  ASSERT_FALSE(created_only.ok());
  EXPECT_TRUE(created_only.error().conflict()) << created_only.error().message;
  EXPECT_NE(created_only.error().message.find("is not running"), std::string::npos);

  // The container stops between an exec's creation and its start: the engine forgets the exec,
  // but keeps one that ran to the end.
  std::string container = running("stopped", "runsc");
  ASSERT_FALSE(container.empty());
  auto finished = engine().create_exec(container, {.cmd = {"true"}});
  ASSERT_TRUE(finished.ok()) << finished.error().message;
  auto first = engine().start_exec(*finished, false);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(read_to_end_within(**first).ended);
  auto id = engine().create_exec(container, {.cmd = {"true"}});
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(engine().kill_container(container, "KILL").ok());
  ASSERT_EQ(*engine().wait_container(container), 137);
  auto stream = engine().start_exec(*id, false);
  ASSERT_FALSE(stream.ok());
  EXPECT_TRUE(stream.not_found()) << stream.error().message;
  auto kept = engine().inspect_exec(*finished);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->exit_code, 0);
  auto after_stop = engine().create_exec(container, {.cmd = {"true"}});
  ASSERT_FALSE(after_stop.ok());
  EXPECT_TRUE(after_stop.error().conflict()) << after_stop.error().message;
}

TEST_F(EngineIntegration, ParallelCallsShareTheEngine) {
  // The executor runs independent steps in parallel through one CurlEngine.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) ok += engine().list_containers({}, true).ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace acctl::engine
