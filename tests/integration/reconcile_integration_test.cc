// The acctl binary against a real dockerd with runsc: apply, in-place updates and replacements,
// prune, SIGKILL mid-apply, concurrent applies, drift, name conflicts, JSON output. Skips
// without an engine, runsc or the test image (run images/engine-up.sh first).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/curl_engine.h"

extern char** environ;

namespace acctl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kImage = "acctl-test/busybox:latest";
constexpr const char* kDocker = "/usr/bin/docker";  // /usr/local/bin/docker is another client

struct ProcResult {
  int status = -1;  // exit code, or 128 + signal when killed
  std::string out, err;
  std::string text() const {
    return "exit " + std::to_string(status) + "\nstdout:\n" + out + "stderr:\n" + err;
  }
};

// A child process whose stdout and stderr are drained by a thread until it exits.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& set_env,
        const std::set<std::string>& unset_env) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      result_ = std::async(std::launch::deferred, [] {
        return ProcResult{-1, "", std::string("pipe: ") + std::strerror(errno)};
      });
      return;
    }
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e, key = kv.substr(0, kv.find('='));
      if (!set_env.count(key) && !unset_env.count(key)) env.push_back(kv);
    }
    for (const auto& [k, v] : set_env) env.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(out[0]);
      ::close(err[0]);
      std::string msg = "spawn " + argv[0] + ": " + std::strerror(rc);
      result_ = std::async(std::launch::deferred, [msg] { return ProcResult{-1, "", msg}; });
      return;
    }
    result_ =
        std::async(std::launch::async, [this, o = out[0], e = err[0]] { return drain(o, e); });
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (result_.valid()) {
      kill(SIGKILL);
      result_.wait();
    }
  }
  // Safe until the child is reaped (the pid cannot be reused while it is a zombie).
  void kill(int sig) {
    std::lock_guard lock(mu_);
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
  }
  ProcResult wait() { return result_.get(); }

 private:
  ProcResult drain(int out_fd, int err_fd) {
    ProcResult r;
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open = 2;
    char buf[8192];
    while (open > 0) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        }
      }
    }
    int ws = 0;
    while (::waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lock(mu_);
      reaped_ = true;
    }
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return r;
  }

  std::mutex mu_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::future<ProcResult> result_;
};

// Polls `done` every 20 ms until it holds or the deadline passes.
bool eventually(std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  while (true) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class ReconcileIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(ACCTL_BIN)) {
      skip_reason_ = std::string("acctl binary missing at ") + ACCTL_BIN;
      return;
    }
    auto e = engine::CurlEngine::connect(engine::options_from_env());
    if (!e) {
      skip_reason_ =
          "no Docker engine: " + e.error().message + " (run images/engine-up.sh as root)";
      return;
    }
    engine_ = std::move(e).value().release();
    auto v = engine_->version();
    if (!v) {
      skip_reason_ = "engine version: " + v.error().message;
      return;
    }
    if (std::find(v->runtimes.begin(), v->runtimes.end(), "runsc") == v->runtimes.end()) {
      skip_reason_ = "the engine has no runsc runtime (run images/engine-up.sh)";
      return;
    }
    if (auto image = engine_->inspect_image(kImage); !image) {
      skip_reason_ = std::string("test image ") + kImage +
                     " missing (run images/engine-up.sh): " + image.error().message;
      return;
    }
    if (!fs::exists(kDocker))
      skip_reason_ = std::string(kDocker) + " missing (apt-get install docker.io)";
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }

  // Names, subnet and state folder of this test; `index` keeps parallel tests apart.
  void begin(int index, bool own_lock_dir = true) {
    index_ = index;
    const std::string tag = "acit" + std::to_string(::getpid()) + "-" + std::to_string(index);
    host_ = tag + "-h";
    prefix_ = tag + "-";
    subnet_ = "172.30." + std::to_string(index) + ".0/24";
    gate_ip_ = "172.30." + std::to_string(index) + ".53";
    home_ = fs::temp_directory_path() / ("acctl-it-" + tag);
    fs::remove_all(home_);
    fs::create_directories(home_);
    env_["ACCTL_HOME"] = home_.string();
    if (own_lock_dir) {
      env_["ACCTL_LOCK_DIR"] = (home_ / "locks").string();
    } else {
      unset_.insert("ACCTL_LOCK_DIR");  // the machine's lock, shared with every acctl
    }
    sweep_stale_subnet();
    begun_ = true;
  }

  void TearDown() override {
    if (!begun_) return;
    if (!last_manifest_.empty()) {
      ProcResult r = acctl({"delete", "-f", manifest_path()});
      EXPECT_EQ(r.status, 0) << "cleanup: " << r.text();
    }
    sweep_host(host_);
    for (const std::string& name : unmanaged_) {
      auto r = engine_->remove_container(name, true, true);
      EXPECT_TRUE(r.ok() || r.not_found()) << "remove " << name << ": " << r.error().message;
    }
    fs::remove_all(home_);
  }

  // Removes whatever carries this host's label: the safety net behind `acctl delete`.
  static void sweep_host(const std::string& host) {
    engine::Filters mine{{"label", {"ac.host=" + host}}};
    if (auto cs = engine_->list_containers(mine, true)) {
      for (const auto& c : *cs) {
        auto r = engine_->remove_container(c.id, true, true);
        EXPECT_TRUE(r.ok() || r.not_found()) << "sweep " << c.id << ": " << r.error().message;
      }
    }
    if (auto ns = engine_->list_networks(mine)) {
      for (const auto& n : *ns) {
        auto r = engine_->remove_network(n.id);
        EXPECT_TRUE(r.ok() || r.not_found()) << "sweep " << n.name << ": " << r.error().message;
      }
    }
  }

  // A crashed earlier run of this suite may still hold our subnet; only its own objects go.
  void sweep_stale_subnet() {
    auto ns = engine_->list_networks({{"label", {"ac.managed-by=acctl"}}});
    if (!ns) return;
    for (const auto& n : *ns) {
      auto h = n.labels.find("ac.host");
      if (h == n.labels.end() || !h->second.starts_with("acit")) continue;
      for (const auto& pool : n.ipam) {
        if (pool.subnet == subnet_) sweep_host(h->second);
      }
    }
  }

  std::string sandbox_name(int k) const { return prefix_ + "s" + std::to_string(k); }
  std::string container_name(int k) const { return "ac-sb-" + sandbox_name(k); }
  std::string manifest_path() const { return (home_ / "manifests.yaml").string(); }

  // A Host, the default EgressPolicy, a Blueprint on the test image and Sandboxes 0..n-1,
  // each with `spec_extra(k)` appended to its spec.
  void write_manifests(int n, const std::function<std::string(int)>& spec_extra = nullptr,
                       const std::set<int>& omit = {}) {
    std::ostringstream y;
    y << "apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: " << host_
      << "}\nspec: {isolation: direct, network: {subnet: " << subnet_ << ", gateIP: " << gate_ip_
      << "}}\n---\napiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: default}\n"
      << "spec: {allow: [example.com]}\n---\napiVersion: acctl/v1alpha1\nkind: Blueprint\n"
      << "metadata: {name: tiny}\nspec: {hardening: standard, image: " << kImage << "}\n";
    for (int k = 0; k < n; ++k) {
      if (omit.count(k)) continue;
      y << "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: " << sandbox_name(k)
        << "}\nspec: {blueprint: tiny, host: " << host_ << ", mode: idle"
        << (spec_extra ? spec_extra(k) : "") << "}\n";
    }
    last_manifest_ = y.str();
    std::ofstream(manifest_path()) << last_manifest_;
  }

  std::vector<std::string> acctl_argv(std::vector<std::string> args) const {
    args.insert(args.begin(), ACCTL_BIN);
    return args;
  }
  ProcResult acctl(const std::vector<std::string>& args) {
    return Child(acctl_argv(args), env_, unset_).wait();
  }
  std::unique_ptr<Child> start_acctl(const std::vector<std::string>& args) {
    return std::make_unique<Child>(acctl_argv(args), env_, unset_);
  }
  ProcResult apply(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"apply", "-f", manifest_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    return acctl(args);
  }
  ProcResult diff(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"diff", "-f", manifest_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    return acctl(args);
  }
  static ProcResult docker(std::vector<std::string> args) {
    args.insert(args.begin(), kDocker);
    return Child(args, {}, {}).wait();
  }

  // Every container (any state) labelled with this test's host.
  std::vector<engine::ContainerSummary> host_containers() {
    auto cs = engine_->list_containers({{"label", {"ac.host=" + host_}}}, true);
    EXPECT_TRUE(cs.ok()) << cs.error().message;
    return cs.ok() ? *cs : std::vector<engine::ContainerSummary>{};
  }
  engine::ContainerInfo inspect(const std::string& name) {
    auto r = engine_->inspect_container(name);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : engine::ContainerInfo{};
  }

  // Converged: exactly one running container per sandbox, named as acctl names it, nothing else.
  void expect_one_running_container_each(int n) {
    std::map<std::string, int> per_name;
    for (auto& c : host_containers()) {
      auto it = c.labels.find("ac.name");
      ++per_name[it == c.labels.end() ? "(unlabelled " + c.id + ")" : it->second];
      EXPECT_EQ(c.state, "running") << (c.names.empty() ? c.id : c.names[0]);
      ASSERT_EQ(c.names.size(), 1u);
      EXPECT_EQ(c.names[0], "ac-sb-" + c.labels["ac.name"]);
    }
    EXPECT_EQ(per_name.size(), static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) EXPECT_EQ(per_name[sandbox_name(k)], 1) << sandbox_name(k);
  }

  static inline engine::CurlEngine* engine_ = nullptr;
  static inline std::string skip_reason_;

  int index_ = 0;
  bool begun_ = false;
  std::string host_, prefix_, subnet_, gate_ip_, last_manifest_;
  fs::path home_;
  std::map<std::string, std::string> env_;
  std::set<std::string> unset_;
  std::vector<std::string> unmanaged_;
};

const char* kInSync =
    "Plan: 0 to create, 0 to update in place, 0 to replace, 0 to delete, 0 to start";

TEST_F(ReconcileIntegration, ApplyCreatesLabelledLimitedGvisorContainersThenIsInSync) {
  begin(1);
  write_manifests(2, [](int) { return ", resources: {cpus: 0.5, memory: 64m, pids: 100}"; });
  ProcResult first = apply();
  ASSERT_EQ(first.status, 0) << first.text();
  EXPECT_NE(first.out.find("Plan: 3 to create"), std::string::npos) << first.out;

  auto net = engine_->inspect_network("ac-net-" + host_);
  ASSERT_TRUE(net.ok()) << net.error().message;
  EXPECT_TRUE(net->internal);
  ASSERT_EQ(net->ipam.size(), 1u);
  EXPECT_EQ(net->ipam[0].subnet, subnet_);
  engine::Labels net_labels = net->labels;
  EXPECT_EQ(net_labels["ac.managed-by"], "acctl");
  EXPECT_EQ(net_labels["ac.kind"], "Host");
  EXPECT_EQ(net_labels["ac.host"], host_);

  ASSERT_EQ(host_containers().size(), 2u);
  for (int k = 0; k < 2; ++k) {
    engine::ContainerInfo c = inspect(container_name(k));
    auto& l = c.config.labels;
    EXPECT_EQ(l["ac.managed-by"], "acctl");
    EXPECT_EQ(l["ac.kind"], "Sandbox");
    EXPECT_EQ(l["ac.name"], sandbox_name(k));
    EXPECT_EQ(l["ac.instance"], sandbox_name(k));
    EXPECT_EQ(l["ac.host"], host_);
    EXPECT_EQ(l["ac.spec-hash"].size(), 16u) << l["ac.spec-hash"];
    EXPECT_EQ(c.host_config.nano_cpus, 500'000'000);
    EXPECT_EQ(c.host_config.memory, 64LL << 20);
    EXPECT_EQ(c.host_config.pids_limit, 100);
    EXPECT_EQ(c.host_config.runtime, "runsc");
    EXPECT_TRUE(c.state.running) << c.state.status;
    EXPECT_EQ(c.networks.size(), 1u);
    EXPECT_TRUE(c.networks.count("ac-net-" + host_));
    EXPECT_EQ(c.host_config.binds,
              (std::vector<std::string>{
                  (home_ / "instances" / sandbox_name(k) / "workspace").string() + ":/workspace",
                  (home_ / "instances" / sandbox_name(k) / "home").string() + ":/home/agent"}));
    EXPECT_EQ(c.config.user, "1000:1000");
    EXPECT_TRUE(c.host_config.readonly_rootfs);
  }
  // The kernel the sandbox sees is gVisor's, not the host's.
  ProcResult dmesg = docker({"exec", container_name(0), "dmesg"});
  EXPECT_EQ(dmesg.status, 0) << dmesg.text();
  EXPECT_NE(dmesg.out.find("gVisor"), std::string::npos) << dmesg.out;
  // From the sandbox's side: uid 1000, no capability at all, a root filesystem it cannot write,
  // scratch space it can.
  ProcResult who = docker({"exec", container_name(0), "sh", "-c",
                           "id -u; grep CapEff /proc/self/status; touch /etc/owned 2>&1; "
                           "echo touched=$?; touch /tmp/mine && echo tmp-ok; "
                           "awk '$2 == \"/\" {print \"root \" $4}' /proc/mounts"});
  EXPECT_EQ(who.status, 0) << who.text();
  EXPECT_TRUE(who.out.starts_with("1000\n")) << who.out;
  EXPECT_NE(who.out.find("CapEff:\t0000000000000000"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("root ro"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("touched=1"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("tmp-ok"), std::string::npos) << who.out;

  ProcResult second = apply();
  ASSERT_EQ(second.status, 0) << second.text();
  EXPECT_NE(second.out.find(kInSync), std::string::npos) << second.out;
  ProcResult d = diff();
  EXPECT_EQ(d.status, 0) << d.text();
  EXPECT_NE(d.out.find(std::string(kInSync) + "; 3 in sync."), std::string::npos) << d.out;
}

TEST_F(ReconcileIntegration, CpusUpdateInPlaceEnvReplaces) {
  begin(2);
  write_manifests(1, [](int) { return ", resources: {cpus: 1}"; });
  ASSERT_EQ(apply().status, 0);
  const std::string id = inspect(container_name(0)).id;
  ASSERT_FALSE(id.empty());

  write_manifests(1, [](int) { return ", resources: {cpus: 2}"; });
  ProcResult d = diff();
  EXPECT_EQ(d.status, 1) << d.text();
  EXPECT_NE(d.out.find("~   update  container " + container_name(0)), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("cpus 1 → 2"), std::string::npos) << d.out;
  ProcResult a = apply();
  EXPECT_EQ(a.status, 0) << a.text();
  engine::ContainerInfo updated = inspect(container_name(0));
  EXPECT_EQ(updated.id, id);
  EXPECT_EQ(updated.host_config.nano_cpus, 2'000'000'000);
  EXPECT_TRUE(updated.state.running);
  EXPECT_EQ(diff().status, 0);

  write_manifests(1, [](int) { return ", resources: {cpus: 2}, env: {MODE: fast}"; });
  d = diff();
  EXPECT_EQ(d.status, 1) << d.text();
  EXPECT_NE(d.out.find("-/+ replace container " + container_name(0)), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("because env changed"), std::string::npos) << d.out;
  a = apply();
  ASSERT_EQ(a.status, 0) << a.text();
  engine::ContainerInfo replaced = inspect(container_name(0));
  EXPECT_NE(replaced.id, id);
  EXPECT_NE(std::find(replaced.config.env.begin(), replaced.config.env.end(), "MODE=fast"),
            replaced.config.env.end());
  EXPECT_EQ(replaced.host_config.nano_cpus, 2'000'000'000);
  EXPECT_TRUE(replaced.state.running);
  ProcResult env = docker({"exec", container_name(0), "sh", "-c", "echo $MODE"});
  EXPECT_EQ(env.out, "fast\n") << env.text();
  EXPECT_EQ(diff().status, 0);
  EXPECT_EQ(host_containers().size(), 1u);
}

TEST_F(ReconcileIntegration, PruneDeletesTheContainerButKeepsTheWorkspace) {
  begin(3);
  write_manifests(2);
  ASSERT_EQ(apply().status, 0);
  const std::string kept_id = inspect(container_name(0)).id;
  const fs::path workspace = home_ / "instances" / sandbox_name(1) / "workspace";
  ASSERT_TRUE(fs::is_directory(workspace));
  std::ofstream(workspace / "notes.txt") << "keep me";
  // The file is the one the sandbox sees at /workspace.
  ProcResult cat = docker({"exec", container_name(1), "cat", "/workspace/notes.txt"});
  EXPECT_EQ(cat.out, "keep me") << cat.text();

  write_manifests(2, nullptr, {1});
  EXPECT_EQ(diff().status, 0) << "without --prune nothing is deleted";
  ProcResult d = diff({"--prune"});
  EXPECT_EQ(d.status, 1) << d.text();
  EXPECT_NE(d.out.find("-   delete  container " + container_name(1)), std::string::npos) << d.out;
  ProcResult a = apply({"--prune"});
  ASSERT_EQ(a.status, 0) << a.text();
  EXPECT_TRUE(engine_->inspect_container(container_name(1)).not_found());
  EXPECT_EQ(inspect(container_name(0)).id, kept_id);
  std::ifstream notes(workspace / "notes.txt");
  std::string content((std::istreambuf_iterator<char>(notes)), {});
  EXPECT_EQ(content, "keep me");
  EXPECT_EQ(diff({"--prune"}).status, 0);
}

// SIGKILL at several moments of applies that create, replace or start containers; the next
// apply must converge with exactly one container per sandbox.
TEST_F(ReconcileIntegration, ApplyKilledAtAnyPointIsConvergedByTheNext) {
  begin(4, /*own_lock_dir=*/false);  // a killed holder must release the real lock
  constexpr int kSandboxes = 6;
  struct Round {
    int delay_ms;  // -1: as soon as the first managed container exists
    std::string label;
  };
  const std::vector<Round> rounds = {{-1, "first container exists"},
                                     {0, "0 ms"},
                                     {50, "50 ms"},
                                     {150, "150 ms"},
                                     {300, "300 ms"},
                                     {600, "600 ms"},
                                     {1200, "1200 ms"},
                                     {2000, "2000 ms"}};
  for (size_t r = 0; r < rounds.size(); ++r) {
    SCOPED_TRACE("kill " + rounds[r].label + " into round " + std::to_string(r));
    // Each round changes env, so every container is replaced (the first round creates).
    const std::string round_env = "ROUND" + std::to_string(r);
    write_manifests(kSandboxes, [&](int) {
      return ", resources: {cpus: 0.5, memory: 64m}, env: {ROUND: " + round_env + "}";
    });
    auto victim = start_acctl({"apply", "-f", manifest_path()});
    if (rounds[r].delay_ms < 0) {
      const bool some = eventually(30s, [&] {
        auto cs = engine_->list_containers({{"label", {"ac.host=" + host_}}}, true);
        return cs.ok() && !cs->empty();
      });
      EXPECT_TRUE(some) << "no managed container appeared";
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(rounds[r].delay_ms));
    }
    victim->kill(SIGKILL);
    ProcResult killed = victim->wait();
    const size_t mid = host_containers().size();
    std::cerr << "[   info   ] kill " << rounds[r].label << ": "
              << (killed.status == 128 + SIGKILL
                      ? "killed mid-apply"
                      : "had finished (" + std::to_string(killed.status) + ")")
              << ", " << mid
              << " containers present, steps done: " << count_of(killed.out, "  done   ") << "\n";
    if (rounds[r].delay_ms < 0) {
      EXPECT_EQ(killed.status, 128 + SIGKILL) << "the apply finished before the kill:\n"
                                              << killed.text();
    }

    ProcResult again = apply();
    ASSERT_EQ(again.status, 0) << "after a kill with " << mid << " containers present:\n"
                               << "killed run:\n"
                               << killed.text() << "\nnext apply:\n"
                               << again.text();
    ProcResult d = diff();
    EXPECT_EQ(d.status, 0) << d.text();
    expect_one_running_container_each(kSandboxes);
    for (int k = 0; k < kSandboxes; ++k) {
      auto env = inspect(container_name(k)).config.env;
      EXPECT_NE(std::find(env.begin(), env.end(), "ROUND=" + round_env), env.end())
          << container_name(k);
    }
  }
  EXPECT_EQ(engine_->list_networks({{"label", {"ac.host=" + host_}}})->size(), 1u);
}

TEST_F(ReconcileIntegration, ConcurrentAppliesSerialiseWithoutDuplicates) {
  begin(5, /*own_lock_dir=*/false);  // the lock under test is the machine's
  constexpr int kSandboxes = 4;
  write_manifests(kSandboxes);
  auto one = start_acctl({"apply", "-f", manifest_path()});
  auto two = start_acctl({"apply", "-f", manifest_path()});
  ProcResult a = one->wait(), b = two->wait();
  ASSERT_EQ(a.status, 0) << a.text();
  ASSERT_EQ(b.status, 0) << b.text();
  expect_one_running_container_each(kSandboxes);
  EXPECT_EQ(diff().status, 0);
  // One waited for the other's lock and then found everything done.
  const bool a_waited = a.err.find("waiting for another acctl") != std::string::npos;
  const bool b_waited = b.err.find("waiting for another acctl") != std::string::npos;
  EXPECT_TRUE(a_waited != b_waited) << "first:\n" << a.text() << "\nsecond:\n" << b.text();
  const ProcResult& waiter = a_waited ? a : b;
  const ProcResult& worker = a_waited ? b : a;
  EXPECT_NE(waiter.out.find(kInSync), std::string::npos) << waiter.out;
  EXPECT_EQ(count_of(worker.out, "+   create  container"), static_cast<size_t>(kSandboxes))
      << worker.out;
}

TEST_F(ReconcileIntegration, DriftIsFoundAndRepaired) {
  begin(6);
  write_manifests(3, [](int) { return ", resources: {cpus: 1, memory: 64m}"; });
  ASSERT_EQ(apply().status, 0);
  const std::string stopped_id = inspect(container_name(0)).id;
  ASSERT_EQ(docker({"stop", "-t", "5", container_name(0)}).status, 0);
  ASSERT_EQ(docker({"rm", "-f", container_name(1)}).status, 0);
  // runsc cannot change the limits of a running container (`runsc update` does not exist,
  // gVisor issue 9554), so the hand edit is made while it is stopped.
  ASSERT_EQ(docker({"stop", "-t", "5", container_name(2)}).status, 0);
  ProcResult upd = docker({"update", "--cpus", "1.5", container_name(2)});
  ASSERT_EQ(upd.status, 0) << upd.text();
  ASSERT_EQ(docker({"start", container_name(2)}).status, 0);
  ASSERT_EQ(inspect(container_name(2)).host_config.nano_cpus, 1'500'000'000);

  ProcResult d = diff();
  EXPECT_EQ(d.status, 1) << d.text();
  EXPECT_NE(d.out.find(">   start   container " + container_name(0)), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("+   create  container " + container_name(1)), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("~   update  container " + container_name(2)), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("cpus 1.5 → 1"), std::string::npos) << d.out;

  ProcResult a = apply();
  ASSERT_EQ(a.status, 0) << a.text();
  EXPECT_EQ(diff().status, 0);
  expect_one_running_container_each(3);
  EXPECT_EQ(inspect(container_name(0)).id, stopped_id);
  EXPECT_EQ(inspect(container_name(2)).host_config.nano_cpus, 1'000'000'000);
}

TEST_F(ReconcileIntegration, UnmanagedSameNameContainerIsAnErrorAndUntouched) {
  begin(7);
  write_manifests(1);
  unmanaged_.push_back(container_name(0));
  ProcResult made = docker({"create", "--name", container_name(0), kImage, "sleep", "600"});
  ASSERT_EQ(made.status, 0) << made.text();
  const engine::ContainerInfo before = inspect(container_name(0));

  ProcResult a = apply();
  EXPECT_EQ(a.status, 2) << a.text();
  EXPECT_NE(a.err.find("does not manage it"), std::string::npos) << a.err;
  ProcResult d = diff();
  EXPECT_EQ(d.status, 2) << d.text();

  const engine::ContainerInfo after = inspect(container_name(0));
  EXPECT_EQ(after.id, before.id);
  EXPECT_EQ(after.config.labels, before.config.labels);
  EXPECT_FALSE(after.config.labels.count("ac.managed-by"));
  EXPECT_EQ(after.state.status, "created");
  EXPECT_EQ(after.config.cmd, (std::vector<std::string>{"sleep", "600"}));
  // Nothing was half-applied: not even the Host's network.
  EXPECT_TRUE(engine_->inspect_network("ac-net-" + host_).not_found());
  EXPECT_TRUE(host_containers().empty());
}

TEST_F(ReconcileIntegration, JsonOutputIsOneObjectPerLineEndingWithASummary) {
  begin(8);
  write_manifests(2);
  ProcResult a = apply({"-o", "json"});
  ASSERT_EQ(a.status, 0) << a.text();
  std::istringstream lines(a.out);
  std::string line;
  nlohmann::json last;
  int done_steps = 0, objects = 0;
  while (std::getline(lines, line)) {
    ASSERT_FALSE(line.empty());
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    ASSERT_TRUE(j.contains("event")) << line;
    if (j["event"] == "step" && j["state"] == "done") ++done_steps;
    ++objects;
    last = j;
  }
  EXPECT_GE(objects, 4);
  EXPECT_EQ(done_steps, 3);
  EXPECT_EQ(last["event"], "summary") << last.dump();
  EXPECT_EQ(last["ok"], true);
  EXPECT_EQ(last["done"], 3);
  EXPECT_EQ(last["failed"], 0);

  ProcResult again = apply({"-o", "json"});
  ASSERT_EQ(again.status, 0) << again.text();
  nlohmann::json only = nlohmann::json::parse(again.out, nullptr, false);
  ASSERT_TRUE(only.is_object()) << "an apply with nothing to do prints only the summary:\n"
                                << again.out;
  EXPECT_EQ(only["event"], "summary");
  EXPECT_EQ(only["done"], 0);
}

}  // namespace
}  // namespace acctl
