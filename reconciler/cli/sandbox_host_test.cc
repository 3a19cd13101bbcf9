// dind Hosts against two fake engines (outer and nested): rendering, the apply pipeline across
// both engines, image transfer, the gate's policy file and its reload, start/stop/down/status.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "converge/desired.h"
#include "converge/sandbox_host.h"
#include "fakes/fake_engine.h"
#include "gate/gate_config.h"
#include "gate/tls/gate_ca.h"
#include "images/image_build.h"
#include "manifest/manifest.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using engine::FakeEngine;
using nlohmann::json;

TEST(Privileges, FullBoundingSetIsPrivileged) {
  HostPrivileges p = privileges_from_mask(0x1ffffffffffULL, 40);
  EXPECT_TRUE(p.privileged);
  EXPECT_TRUE(p.capabilities.empty());
  EXPECT_TRUE(p.missing.empty());
}

TEST(Privileges, MissingSysResourceGivesEveryOtherCapability) {
  // This machine kind: the VM's bounding set lacks CAP_SYS_RESOURCE (24).
  HostPrivileges p = privileges_from_mask(0x1ffffffffffULL & ~(1ULL << 24), 40);
  EXPECT_FALSE(p.privileged);
  EXPECT_EQ(p.missing, std::vector<std::string>{"SYS_RESOURCE"});
  // 41 capabilities, less SYS_RESOURCE, less the three Docker 20.10 does not know.
  EXPECT_EQ(p.capabilities.size(), 37u);
  EXPECT_NE(std::find(p.capabilities.begin(), p.capabilities.end(), "SYS_ADMIN"),
            p.capabilities.end());
  EXPECT_EQ(std::find(p.capabilities.begin(), p.capabilities.end(), "SYS_RESOURCE"),
            p.capabilities.end());
}

constexpr const char* kHost =
    "apiVersion: acctl/v1alpha1\nkind: Host\nmetadata: {name: local}\nspec:\n"
    "  isolation: dind\n  network: {subnet: 172.20.0.0/16, gateIP: 172.20.0.53}\n";

std::string policy(const std::string& name, const std::string& allow) {
  return "---\napiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: {name: " + name +
         "}\nspec: {allow: [" + allow +
         "], dns: {records: {intercept.test: [10.9.0.5]}}, allowCIDRs: [10.9.0.0/24]}\n";
}

std::string sandbox(const std::string& name, const std::string& extra = "") {
  return "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: " + name +
         "}\nspec: {blueprint: base, mode: idle" + extra + "}\n";
}

class DindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("acctl-dind-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(home_);
    fs::create_directories(home_);
    setenv("ACCTL_HOME", home_.c_str(), 1);
    setenv("ACCTL_LOCK_DIR", (home_ / "locks").c_str(), 1);
    setenv("ACCTL_BLUEPRINTS", ACCTL_TEST_SOURCE_DIR "/blueprints", 1);
    unsetenv("DOCKER_HOST");
    outer_ = std::make_shared<FakeEngine>();
    outer_->set_runtimes({"runc"});
    outer_->add_image(kDefaultBaseImage);
    nested_ = std::make_shared<FakeEngine>();
    nested_->set_runtimes({"runc", "runsc"});
    paths_ = host_paths(home_.string(), "local");
  }
  void TearDown() override {
    fs::remove_all(home_);
    unsetenv("ACCTL_BLUEPRINTS");
  }

  // What the host container's entrypoint does once its nested engine is up.
  void nested_engine_comes_up() {
    nested_up_ = true;
    fs::create_directories(paths_.run_dir);
    std::ofstream(paths_.status_file())
        << R"({"ready": true, "runscNetwork": "host", "reason": "gVisor 10704", "platform": "ptrace", "debug": false, "runscVersion": "20221219", "dockerVersion": "20.10.24"})";
  }

  struct Out {
    int status;
    std::string out, err;
  };
  Out run(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    CliEnv env{in, out, err, "", nullptr, false};
    env.connect_engine =
        [this](
            const engine::EngineOptions& o) -> engine::Result<std::shared_ptr<engine::EngineApi>> {
      if (o.host == paths_.endpoint()) {
        if (!nested_up_) return engine::Error{0, "cannot connect to " + o.host};
        return std::shared_ptr<engine::EngineApi>(nested_);
      }
      return std::shared_ptr<engine::EngineApi>(outer_);
    };
    int status = run_cli(args, env);
    return {status, out.str(), err.str()};
  }
  json gate_config() {
    std::ifstream in(paths_.gate_config());
    return json::parse(in, nullptr, false);
  }

  fs::path home_;
  HostPaths paths_;
  std::shared_ptr<FakeEngine> outer_, nested_;
  bool nested_up_ = false;
};

TEST_F(DindTest, DiffPlansBothEnginesBeforeTheHostExists) {
  Out r = run({"diff", "-f", "-"},
              std::string(kHost) + policy("default", "example.com") + sandbox("a"));
  EXPECT_EQ(r.status, 1) << r.err << r.out;
  for (const char* line :
       {"+   create  volume    ac-dind-data-local (Host/local)",
        "+   create  container ac-dind-host-local (Host/local)",
        "nested engine of Host/local (not running yet: everything in it is to create):",
        "+   create  network   ac-net-local (Host/local)",
        "+   create  network   ac-egress-local (Host/local)",
        "+   create  container ac-gate-local (Host/local)",
        "+   create  container ac-sb-a (Sandbox/a)"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  EXPECT_TRUE(outer_->mutating_calls().empty());
}

TEST_F(DindTest, ApplyBuildsHostThenConvergesTheNestedEngine) {
  const std::string yaml = std::string(kHost) + policy("default", "example.com") + sandbox("a");
  // The entrypoint reports ready as soon as the host container exists.
  nested_engine_comes_up();
  Out r = run({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(r.status, 0) << r.err << r.out;

  // Outer: base image present, host image built, volume and host container.
  auto host = outer_->inspect_container("ac-dind-host-local");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->config.image, kHostImage);
  EXPECT_EQ(host->host_config.runtime, "runc");
  EXPECT_TRUE(host->state.running);
  EXPECT_NE(std::find(host->host_config.security_opt.begin(), host->host_config.security_opt.end(),
                      "seccomp=unconfined"),
            host->host_config.security_opt.end());
  EXPECT_NE(std::find(host->host_config.binds.begin(), host->host_config.binds.end(),
                      "ac-dind-data-local:/var/lib/docker"),
            host->host_config.binds.end());
  EXPECT_NE(std::find(host->host_config.binds.begin(), host->host_config.binds.end(),
                      paths_.run_dir + ":/run/acctl"),
            host->host_config.binds.end());
  EXPECT_TRUE(outer_->inspect_volume("ac-dind-data-local").ok());
  EXPECT_TRUE(outer_->inspect_image(kGateImage).ok());

  // Nested: images came over, networks, gate at gateIP on both networks, the sandbox.
  EXPECT_TRUE(nested_->inspect_image(kGateImage).ok());
  EXPECT_TRUE(nested_->inspect_image("acctl/blueprint-base:latest").ok());
  auto net = nested_->inspect_network("ac-net-local");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->internal);
  EXPECT_EQ(net->options.at("com.docker.network.bridge.name"), "acsb0");
  auto gate = nested_->inspect_container("ac-gate-local");
  ASSERT_TRUE(gate.ok());
  EXPECT_EQ(gate->networks.at("ac-net-local").ipam_ipv4, "172.20.0.53");
  EXPECT_TRUE(gate->networks.count("ac-egress-local"));
  EXPECT_EQ(gate->host_config.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_TRUE(gate->host_config.readonly_rootfs);
  auto sb = nested_->inspect_container("ac-sb-a");
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->host_config.runtime, "runsc");
  EXPECT_NE(std::find(sb->host_config.binds.begin(), sb->host_config.binds.end(),
                      "/run/acctl/resolv.conf:/etc/resolv.conf:ro"),
            sb->host_config.binds.end());
  // base is paranoid: init-guard is PID 1 even idle, and the connect() hook knows the gate.
  EXPECT_EQ(sb->config.entrypoint, (std::vector<std::string>{"/opt/acctl/bin/init-guard", "--"}));
  EXPECT_NE(std::find(sb->config.env.begin(), sb->config.env.end(), "ACCTL_GATE_ADDR=172.20.0.53"),
            sb->config.env.end());
  EXPECT_EQ(sb->config.user, "1000:1000");

  // The gate's config: the policy, listeners on gateIP, control on loopback, sandbox map.
  json c = gate_config();
  ASSERT_TRUE(c.is_object());
  // Its sandbox's own policy; any other client gets the top-level one, which allows nothing.
  const std::string key = c["sandboxes"].begin().value()["policy"];
  EXPECT_EQ(c["policies"][key]["allow"], json({"example.com"}));
  EXPECT_EQ(c["policies"][key]["allowCIDRs"], json({"10.9.0.0/24"}));
  EXPECT_EQ(c["policies"][key]["dns"]["records"]["intercept.test"], json({"10.9.0.5"}));
  EXPECT_EQ(c["policy"]["allow"], json::array());
  EXPECT_EQ(c["listen"]["dns"], "172.20.0.53:53");
  EXPECT_EQ(c["listen"]["control"], "127.0.0.1:9099");
  EXPECT_EQ(c["gateIP"], "172.20.0.53");
  std::ifstream resolv(paths_.resolv_conf());
  std::string text((std::istreambuf_iterator<char>(resolv)), {});
  EXPECT_NE(text.find("nameserver 172.20.0.53"), std::string::npos);

  // Second apply: nothing to do on either engine, nothing built or copied again.
  outer_->clear_calls();
  nested_->clear_calls();
  Out again = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(again.status, 0) << again.out << again.err;
  Out apply2 = run({"apply", "-f", "-"}, yaml);
  EXPECT_EQ(apply2.status, 0) << apply2.err;
  EXPECT_TRUE(outer_->mutating_calls().empty()) << testing::PrintToString(outer_->mutating_calls());
  EXPECT_TRUE(nested_->mutating_calls().empty())
      << testing::PrintToString(nested_->mutating_calls());
}

// A paranoid Sandbox with credentials delivered by the vault: the token goes to
// instances/NAME/secrets (0600) and from there only through a root-only mount; the container
// starts as root with the vault's few capabilities; nothing the engine holds or the plan prints
// carries the token; a changed token replaces the sandbox. A blocked path is covered by a
// root-only empty file.
TEST_F(DindTest, VaultCredentialsGoToTheSecretsFolderAndNowhereElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the secrets folder is made root's)";
  const std::string token = "ghp_unit_test_token_0123456789";
  setenv("ACCTL_UNIT_TOKEN", token.c_str(), 1);
  const std::string yaml = std::string(kHost) + policy("default", "example.com") +
                           sandbox("v",
                                   ", credentials: {github: {env: ACCTL_UNIT_TOKEN, delivery: "
                                   "vault}}, blockedPaths: [/workspace/.env]");
  nested_engine_comes_up();
  Out diff = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(diff.out.find(token), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("instances/v/secrets/github"), std::string::npos) << diff.out;
  Out r = run({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos);
  EXPECT_EQ(r.err.find(token), std::string::npos);

  const fs::path secret = home_ / "instances/v/secrets/github";
  std::ifstream in(secret);
  std::string stored((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(stored, token);
  EXPECT_EQ(fs::status(secret).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(secret.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);

  auto sb = nested_->inspect_container("ac-sb-v");
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->config.user, "0:0");
  EXPECT_EQ(sb->host_config.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_EQ(sb->host_config.cap_add,
            (std::vector<std::string>{"CHOWN", "SETUID", "SETGID", "SYS_PTRACE"}));
  auto has_bind = [&](const std::string& b) {
    return std::find(sb->host_config.binds.begin(), sb->host_config.binds.end(), b) !=
           sb->host_config.binds.end();
  };
  EXPECT_TRUE(has_bind((home_ / "instances/v/secrets").string() + ":/run/acctl/secrets:ro"));
  EXPECT_TRUE(has_bind((home_ / "instances/v/blocked/empty").string() + ":/workspace/.env:ro"));
  EXPECT_EQ(fs::status(home_ / "instances/v/blocked/empty").permissions() & fs::perms::all,
            fs::perms::owner_read);
  EXPECT_NE(std::find(sb->config.env.begin(), sb->config.env.end(),
                      "ACCTL_BLOCKED_PATHS=/workspace/.env"),
            sb->config.env.end());
  json seen = {{"env", sb->config.env}, {"labels", sb->config.labels}, {"cmd", sb->config.cmd}};
  EXPECT_EQ(seen.dump().find(token), std::string::npos) << seen.dump();

  // In sync without the variable (the stored copy stands in); a new token is a replacement
  // that says why without saying what.
  unsetenv("ACCTL_UNIT_TOKEN");
  EXPECT_EQ(run({"diff", "-f", "-"}, yaml).status, 0);
  setenv("ACCTL_UNIT_TOKEN", "ghp_the_next_token_987654321", 1);
  Out changed = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(changed.status, 1);
  EXPECT_NE(changed.out.find("credentials"), std::string::npos) << changed.out;
  EXPECT_EQ(changed.out.find("ghp_the_next_token"), std::string::npos) << changed.out;
  unsetenv("ACCTL_UNIT_TOKEN");
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

fs::perms mode_of(const fs::path& p) {
  return fs::status(p).permissions() & fs::perms::all;
}

// Every regular file below `dir` holding `needle`.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && file_text(it->path()).find(needle) != std::string::npos)
      out.push_back(it->path().string());
  }
  return out;
}

// A paranoid Sandbox with a GitHub credential delivered by the gate (the default): the token
// goes to the gate's own folder and nowhere the sandbox reaches; the gate's config gives the
// sandbox its own policy with the credential, the tls section and the credential hosts; the
// sandbox gets the Host's CA certificate (never its key) and stays the agent's, without the
// vault's capabilities; the CA is made once; a new token reloads the gate and replaces nothing.
TEST_F(DindTest, GateCredentialsGoToTheGateAndNeverIntoTheSandbox) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the gate's secrets folder is made root's)";
  const std::string token = "ghp_gate_unit_test_token_0123456789";
  setenv("ACCTL_UNIT_TOKEN", token.c_str(), 1);
  const std::string yaml =
      std::string(kHost) + policy("default", "example.com") +
      sandbox("g",
              ", credentials: {github: {env: ACCTL_UNIT_TOKEN}}, git: {repositories: "
              "[Octo-Org/Octo-Repo]}");
  nested_engine_comes_up();
  Out diff = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(diff.status, 1) << diff.err;
  for (const char* line :
       {"+   write   file      gate/tls/ca.pem (Host/local): not written yet\n",
        "+   write   file      gate/tls/ca.key (Host/local): not written yet\n",
        "+   write   file      gate/secrets/g/github (Sandbox/g): not written yet\n"}) {
    EXPECT_NE(diff.out.find(line), std::string::npos) << line << diff.out;
  }
  EXPECT_EQ(diff.out.find("instances/g/secrets"), std::string::npos) << diff.out;
  Out r = run({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  for (const std::string* text : {&diff.out, &diff.err, &r.out, &r.err})
    EXPECT_EQ(text->find(token), std::string::npos) << *text;

  // The CA: made once, the key root's alone, the certificate readable.
  const fs::path ca_cert = paths_.gate_ca_cert(), ca_key = paths_.gate_ca_key();
  const std::string cert = file_text(ca_cert), key = file_text(ca_key);
  EXPECT_TRUE(cert.starts_with("-----BEGIN CERTIFICATE-----")) << cert;
  EXPECT_NE(key.find("PRIVATE KEY-----"), std::string::npos);
  EXPECT_EQ(mode_of(ca_cert), fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  EXPECT_EQ(mode_of(ca_key), fs::perms::owner_read | fs::perms::owner_write);

  // The token: in the gate's folder, root's and 0600, in a 0700 folder.
  const fs::path secret = paths_.gate_secrets("g") + "/github";
  EXPECT_EQ(file_text(secret), token);
  EXPECT_EQ(mode_of(secret), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode_of(secret.parent_path()), fs::perms::owner_all);

  // The gate's config: the sandbox's own policy, its credential by file, the tls section.
  json c = gate_config();
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c.dump().find(token), std::string::npos);
  const json& entry = c["sandboxes"]["172.20.0.2"];
  EXPECT_EQ(entry["name"], "g");
  EXPECT_EQ(entry["policy"], "default@g");
  const json& p = c["policies"]["default@g"];
  EXPECT_EQ(p["allow"], json({"api.github.com", "example.com", "github.com"}));
  EXPECT_EQ(p["credentials"], json::parse(R"([{"provider": "github", "gitHosts": ["github.com"],
      "apiHosts": ["api.github.com"], "tokenFile": "/etc/ac-gate/secrets/g/github",
      "allowPush": false, "repositories": ["octo-org/octo-repo"]}])"));
  EXPECT_EQ(c["tls"], json::parse(R"({"caCert": "/etc/ac-gate/tls/ca.pem",
      "caKey": "/etc/ac-gate/tls/ca.key", "trust": []})"));
  // The gate loads it, with the token and the CA read from where its container has them.
  const gate::ReadFile read = [&](const std::string& path) -> std::optional<std::string> {
    const std::string mount = "/etc/ac-gate/";
    if (!path.starts_with(mount)) return std::nullopt;
    const fs::path on_machine = fs::path(paths_.gate_dir()) / path.substr(mount.size());
    if (!fs::exists(on_machine)) return std::nullopt;
    return file_text(on_machine);
  };
  auto loaded = gate::parse_gate_config(file_text(paths_.gate_config()), &read);
  ASSERT_TRUE(std::holds_alternative<gate::GateConfig>(loaded))
      << testing::PrintToString(std::get<std::vector<std::string>>(loaded));
  const gate::GateConfig& g = std::get<gate::GateConfig>(loaded);
  ASSERT_NE(g.tls, nullptr);
  const gate::CredentialGrant* grant = g.policy_for("172.20.0.2").credential_for("github.com");
  ASSERT_NE(grant, nullptr);
  EXPECT_EQ(grant->token, token);

  // The sandbox: the agent's uid, no capability, the CA certificate and not the key, a tmpfs
  // for init-guard's bundle, and not one byte of the token.
  auto sb = nested_->inspect_container("ac-sb-g");
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->config.user, "1000:1000");
  EXPECT_TRUE(sb->host_config.cap_add.empty());
  EXPECT_EQ(sb->host_config.cap_drop, std::vector<std::string>{"ALL"});
  const auto& binds = sb->host_config.binds;
  EXPECT_NE(
      std::find(binds.begin(), binds.end(), "/run/acctl/gate/tls/ca.pem:/run/acctl/gate-ca.pem:ro"),
      binds.end());
  for (const std::string& b : binds) {
    EXPECT_EQ(b.find("ca.key"), std::string::npos) << b;
    EXPECT_EQ(b.find("secrets"), std::string::npos) << b;
    EXPECT_FALSE(b.starts_with("/run/acctl/gate:")) << b;
  }
  EXPECT_EQ(sb->host_config.tmpfs.at("/run/acctl"),
            "rw,nosuid,nodev,noexec,size=1m,uid=1000,gid=1000,mode=0755");
  const auto& env = sb->config.env;
  EXPECT_NE(std::find(env.begin(), env.end(), "ACCTL_GATE_CA=/run/acctl/gate-ca.pem"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "ACCTL_GATE_CREDENTIALS=github"), env.end());
  for (const std::string& e : env) EXPECT_FALSE(e.starts_with("ACCTL_VAULT_")) << e;
  json seen = {{"env", env},
               {"labels", sb->config.labels},
               {"cmd", sb->config.cmd},
               {"binds", binds},
               {"tmpfs", sb->host_config.tmpfs}};
  EXPECT_EQ(seen.dump().find(token), std::string::npos) << seen.dump();
  EXPECT_TRUE(files_holding(home_ / "instances", token).empty())
      << testing::PrintToString(files_holding(home_ / "instances", token));
  EXPECT_FALSE(fs::exists(home_ / "instances/g/secrets/github"));

  // Again: in sync, the CA as it was, byte for byte.
  outer_->clear_calls();
  nested_->clear_calls();
  EXPECT_EQ(run({"diff", "-f", "-"}, yaml).status, 0);
  ASSERT_EQ(run({"apply", "-f", "-"}, yaml).status, 0);
  EXPECT_TRUE(nested_->mutating_calls().empty())
      << testing::PrintToString(nested_->mutating_calls());
  EXPECT_EQ(file_text(ca_cert), cert);
  EXPECT_EQ(file_text(ca_key), key);

  // Without the variable the gate's copy stands in; a new token is a write and a reload of the
  // gate, saying so without the value, and the sandbox stays.
  unsetenv("ACCTL_UNIT_TOKEN");
  EXPECT_EQ(run({"diff", "-f", "-"}, yaml).status, 0);
  const std::string next = "ghp_the_next_gate_token_987654321";
  setenv("ACCTL_UNIT_TOKEN", next.c_str(), 1);
  Out changed = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(changed.status, 1);
  const std::string why =
      "the github token of sandbox g changed (the gate adds it to requests: the sandbox is not "
      "replaced)";
  EXPECT_NE(changed.out.find("~   write   file      gate/secrets/g/github (Sandbox/g): " + why),
            std::string::npos)
      << changed.out;
  EXPECT_NE(changed.out.find("~   reload  gate      ac-gate-local (Sandbox/g): " + why),
            std::string::npos)
      << changed.out;
  EXPECT_EQ(changed.out.find("-/+ replace"), std::string::npos) << changed.out;
  EXPECT_EQ(changed.out.find(next), std::string::npos) << changed.out;
  const std::string sandbox_id = sb->id;
  nested_->clear_calls();
  Out applied = run({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(applied.status, 0) << applied.err;
  EXPECT_EQ(applied.out.find(next), std::string::npos);
  EXPECT_EQ(nested_->mutating_calls(), std::vector<std::string>{"kill_container ac-gate-local"});
  EXPECT_EQ(nested_->inspect_container("ac-sb-g")->id, sandbox_id);
  EXPECT_EQ(file_text(secret), next);
  unsetenv("ACCTL_UNIT_TOKEN");
}

// The gate verifies upstreams with the Host's extra CAs too: copies in gate/trust/, listed in
// the tls section; a Host without gate credentials has no tls section at all.
TEST_F(DindTest, TheGateTrustsTheHostsCaFilesForUpstreams) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the gate's secrets folder is made root's)";
  auto made = gate::create_ca("unit test upstream CA", 1);
  ASSERT_TRUE(made.ok());
  fs::create_directories(home_ / "cas/a");
  fs::create_directories(home_ / "cas/b");
  std::ofstream(home_ / "cas/a/corp.pem") << made->cert_pem;
  std::ofstream(home_ / "cas/b/corp.pem") << made->cert_pem;
  const std::string host = std::string(kHost) + "  trust: {caFiles: [" +
                           (home_ / "cas/a/corp.pem").string() + ", " + (home_ / "cas/b").string() +
                           "]}\n";
  nested_engine_comes_up();
  ASSERT_EQ(
      run({"apply", "-f", "-"}, host + policy("default", "example.com") + sandbox("a")).status, 0);
  EXPECT_FALSE(gate_config().contains("tls")) << gate_config().dump();
  EXPECT_TRUE(fs::exists(paths_.gate_ca_cert()));  // made at the Host's converge anyway
  setenv("ACCTL_UNIT_TOKEN", "glpat-unit", 1);
  Out r = run({"apply", "-f", "-"},
              host + policy("default", "example.com") +
                  sandbox("a",
                          ", credentials: {gitlab: {env: ACCTL_UNIT_TOKEN}}, git: "
                          "{gitlabHosts: [gitlab.com, \"git.example.org:8443\"]}"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  unsetenv("ACCTL_UNIT_TOKEN");
  json c = gate_config();
  EXPECT_EQ(c["tls"]["trust"],
            json({"/etc/ac-gate/trust/corp.pem", "/etc/ac-gate/trust/corp-2.pem"}));
  EXPECT_EQ(file_text(paths_.gate_trust_dir() + "/corp.pem"), made->cert_pem);
  EXPECT_EQ(file_text(paths_.gate_trust_dir() + "/corp-2.pem"), made->cert_pem);
  // GitLab: every host is a git host (it serves its API itself); a port joins the policy's.
  const json& p = c["policies"]["default@a"];
  EXPECT_EQ(p["credentials"][0]["gitHosts"], json({"gitlab.com", "git.example.org"}));
  EXPECT_EQ(p["credentials"][0]["apiHosts"], json::array());
  EXPECT_EQ(p["ports"], json({80, 443, 8443}));
  EXPECT_NE(std::find(p["allow"].begin(), p["allow"].end(), "git.example.org"), p["allow"].end());
}

// gate.trust: CAs for the gate's upstream verification alone (a self-hosted forge's private
// CA): in the tls section beside trust.caFiles, and in no image build or sandbox.
TEST_F(DindTest, GateTrustIsTheGatesAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the gate's secrets folder is made root's)";
  auto made = gate::create_ca("unit test forge CA", 1);
  ASSERT_TRUE(made.ok());
  std::ofstream(home_ / "forge-ca.pem") << made->cert_pem;
  const std::string host =
      std::string(kHost) + "  gate: {trust: [" + (home_ / "forge-ca.pem").string() + "]}\n";
  nested_engine_comes_up();
  setenv("ACCTL_UNIT_TOKEN", "glpat-unit", 1);
  Out r = run({"apply", "-f", "-"},
              host + policy("default", "example.com") +
                  sandbox("a", ", credentials: {gitlab: {env: ACCTL_UNIT_TOKEN}}"));
  unsetenv("ACCTL_UNIT_TOKEN");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(gate_config()["tls"]["trust"], json({"/etc/ac-gate/trust/forge-ca.pem"}));
  EXPECT_EQ(file_text(paths_.gate_trust_dir() + "/forge-ca.pem"), made->cert_pem);
  auto sb = nested_->inspect_container("ac-sb-a");
  ASSERT_TRUE(sb.ok());
  for (const std::string& b : sb->host_config.binds)
    EXPECT_EQ(b.find("forge-ca"), std::string::npos) << b;
  // A missing file is a validation error at its index.
  Out bad =
      run({"validate", "-f", "-"}, std::string(kHost) + "  gate: {trust: [/nonexistent/ca.pem]}\n" +
                                       policy("default", "example.com"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("CA file /nonexistent/ca.pem does not exist"), std::string::npos)
      << bad.err;
}

// run's flags: --credential's delivery is the gate unless --delivery says vault, for every
// credential of the instance; --repository lists git.repositories; clean removes the gate's
// copy of the token with the container.
TEST_F(DindTest, RunTakesADeliveryAndRepositoriesAndCleanRemovesTheGatesCopy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the gate's secrets folder is made root's)";
  setenv("ACCTL_MANIFESTS", (home_ / "m.yaml").c_str(), 1);
  std::ofstream(home_ / "m.yaml") << kHost << policy("default", "example.com");
  setenv("ACCTL_UNIT_TOKEN", "ghp_run_unit_token", 1);
  nested_engine_comes_up();
  Out r = run({"run", "base", "r1", "--credential", "github=env:ACCTL_UNIT_TOKEN", "--repository",
               "Octo/One", "--repository", "octo/two"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const std::string manifest = file_text(home_ / "instances/r1/sandbox.yaml");
  std::string compact;  // the spec is a JSON flow mapping: compared without its spacing
  for (char ch : manifest)
    if (ch != ' ' && ch != '\n') compact += ch;
  EXPECT_NE(compact.find("\"credentials\":{\"github\":{\"env\":\"ACCTL_UNIT_TOKEN\"}}"),
            std::string::npos)
      << manifest;
  EXPECT_NE(compact.find("\"repositories\":[\"Octo/One\",\"octo/two\"]"), std::string::npos)
      << manifest;
  const fs::path secret = paths_.gate_secrets("r1") + "/github";
  EXPECT_EQ(file_text(secret), "ghp_run_unit_token");
  EXPECT_EQ(gate_config()["policies"]["default@r1"]["credentials"][0]["repositories"],
            json({"octo/one", "octo/two"}));
  Out list = run({"list", "-o", "json"});
  json l = json::parse(list.out, nullptr, false);
  ASSERT_TRUE(l.is_object()) << list.out << list.err;
  EXPECT_EQ(l["instances"][0]["credentials"], true) << list.out;

  // The vault cannot enforce the repositories: refused, and the instance is left as it was.
  Out vault = run({"run", "r1", "--delivery", "vault"});
  EXPECT_EQ(vault.status, 1) << vault.err << vault.out;
  EXPECT_NE((vault.out + vault.err).find("git.repositories is enforced by the gate"),
            std::string::npos)
      << vault.out << vault.err;
  EXPECT_EQ(file_text(home_ / "instances/r1/sandbox.yaml"), manifest);
  Out bad = run({"run", "r2", "--delivery", "proxy"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--delivery takes gate or vault, not proxy"), std::string::npos);
  Out none = run({"run", "base", "r3", "--delivery", "vault"});
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("the instance has none: add --credential"), std::string::npos)
      << none.err;

  Out clean = run({"clean", "r1"});
  ASSERT_EQ(clean.status, 0) << clean.err << clean.out;
  EXPECT_FALSE(fs::exists(secret.parent_path()));
  EXPECT_FALSE(nested_->inspect_container("ac-sb-r1").ok());
  // The gate forgot the sandbox, and its token, in the same converge (it was reloaded before
  // the token file went).
  EXPECT_FALSE(gate_config()["policies"].contains("default@r1")) << gate_config().dump();
  EXPECT_FALSE(gate_config().contains("tls")) << gate_config().dump();
  EXPECT_NE(clean.err.find("~   write   file      gate/config.json (Host/local): sandbox r1 "
                           "removed, TLS termination for credential hosts off"),
            std::string::npos)
      << clean.err;
  unsetenv("ACCTL_UNIT_TOKEN");
  unsetenv("ACCTL_MANIFESTS");
}

// What validate refuses about deliveries, as the command line says it.
TEST_F(DindTest, ValidateRefusesTheGateWithoutAGateAndGateOnlyFieldsWithTheVault) {
  std::string direct = kHost;
  direct.replace(direct.find("isolation: dind"), 15, "isolation: direct");
  Out r = run({"validate", "-f", "-"}, direct + policy("default", "example.com") +
                                           sandbox("a", ", credentials: {github: {env: T}}"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE((r.out + r.err)
                .find("Sandbox/a: credentials.github is delivered by the gate "
                      "(delivery: gate, the default), and Host/local is isolation: "
                      "direct, which has no gate: use delivery: vault, or a dind Host"),
            std::string::npos)
      << r.out << r.err;
  r = run({"validate", "-f", "-"},
          std::string(kHost) + policy("default", "example.com") +
              sandbox("a",
                      ", credentials: {github: {env: T, delivery: vault}}, git: "
                      "{repositories: [o/r]}"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE((r.out + r.err).find("git.repositories is enforced by the gate: use delivery: gate"),
            std::string::npos)
      << r.out << r.err;
}

// The Host says what the gate does with a log it cannot write and how much log the nested
// engine keeps: the config file says auditRequired, the gate container has the rotation.
TEST_F(DindTest, TheHostSetsTheGatesAuditModeAndLogRotation) {
  std::string host = kHost;
  host += "  gate: {audit: required, logSize: 50m, logFiles: 5}\n";
  nested_engine_comes_up();
  Out r = run({"apply", "-f", "-"}, host + policy("default", "example.com"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(gate_config()["auditRequired"], true);
  auto gate = nested_->inspect_container("ac-gate-local");
  ASSERT_TRUE(gate.ok());
  EXPECT_EQ(gate->host_config.log_driver, "json-file");
  EXPECT_EQ(gate->host_config.log_options,
            (std::map<std::string, std::string>{{"max-file", "5"}, {"max-size", "50m"}}));
  // Back to the defaults: the file no longer requires, and the diff says why.
  Out d = run({"diff", "-f", "-"}, std::string(kHost) + policy("default", "example.com"));
  EXPECT_NE(d.out.find("audit now best effort"), std::string::npos) << d.out;
  Out bad = run({"validate", "-f", "-"},
                std::string(kHost) + "  gate: {audit: always, logSize: 5x, logFiles: 1}\n");
  EXPECT_EQ(bad.status, 1);
  for (const char* needle :
       {"must be one of: best-effort, required", "must be a size like", "must be >= 2"})
    EXPECT_NE((bad.out + bad.err).find(needle), std::string::npos) << needle << bad.out << bad.err;
}

// policy check answers from the gate's own compiled policy, naming the rule and what would
// allow a refusal; exit 0 allow, 1 deny.
TEST_F(DindTest, PolicyCheckAnswersFromTheGatesCompiledPolicy) {
  const std::string manifests = (home_ / "m.yaml").string();
  std::ofstream(manifests) << std::string(kHost) << policy("default", "example.com, intercept.test")
                           << "---\napiVersion: acctl/v1alpha1\nkind: EgressPolicy\nmetadata: "
                              "{name: unused}\nspec: {}\n"
                           << sandbox("a", ", egressPolicy: default");
  setenv("ACCTL_MANIFESTS", manifests.c_str(), 1);
  Out ok = run({"policy", "check", "a", "https://example.com/x"});
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("allow example.com:443 for Sandbox/a (EgressPolicy/default)"),
            std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find("allow example.com"), std::string::npos);
  // A record inside allowCIDRs passes the deny list.
  Out rec = run({"policy", "check", "a", "intercept.test:443"});
  EXPECT_EQ(rec.status, 0) << rec.out;
  EXPECT_NE(rec.out.find("dns.records 10.9.0.5"), std::string::npos) << rec.out;
  Out name = run({"policy", "check", "a", "evil.test"});
  EXPECT_EQ(name.status, 1);
  EXPECT_NE(name.out.find("add evil.test (or a *. pattern) to EgressPolicy/default spec.allow"),
            std::string::npos)
      << name.out;
  Out port = run({"policy", "check", "a", "example.com:22", "-o", "json"});
  EXPECT_EQ(port.status, 1);
  json j = json::parse(port.out);
  EXPECT_EQ(j["allowed"], false);
  EXPECT_EQ(j["toAllow"], "add 22 to EgressPolicy/default spec.ports");
  EXPECT_EQ(run({"policy", "check", "nobody", "example.com"}).status, 2);
  EXPECT_EQ(run({"policy", "check", "a", "ftp://example.com"}).status, 2);
  unsetenv("ACCTL_MANIFESTS");
}

TEST_F(DindTest, ACredentialWithNoSourceAndNoStoredCopyIsAnError) {
  unsetenv("ACCTL_UNIT_TOKEN");
  const std::string yaml = std::string(kHost) + policy("default", "example.com") +
                           sandbox("v", ", credentials: {github: {env: ACCTL_UNIT_TOKEN}}");
  Out r = run({"diff", "-f", "-"}, yaml);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("Sandbox/v: credentials.github: $ACCTL_UNIT_TOKEN is not set"),
            std::string::npos)
      << r.err;
}

TEST_F(DindTest, GpuSandboxGivesTheHostContainerTheGpusOrIsRefusedAtThePlan) {
  const std::string plain = std::string(kHost) + policy("default", "example.com") + sandbox("a");
  const std::string gpu = plain + sandbox("g", ", resources: {gpus: 1}");
  // The machine's engine has no NVIDIA runtime: refused before anything is made.
  Out r = run({"diff", "-f", "-"}, gpu);
  EXPECT_EQ(r.status, 2) << r.err << r.out;
  EXPECT_NE(
      r.out.find("Host/local: a Sandbox on it asks for GPUs (resources.gpus), but the engine at"),
      std::string::npos)
      << r.out;
  r = run({"apply", "-f", "-"}, gpu);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(outer_->mutating_calls().empty());

  // With it, the host container is given every GPU (the nested engine hands them on).
  outer_->set_runtimes({"runc", "nvidia"});
  nested_->set_runtimes({"runc", "runsc", "nvidia"});
  nested_engine_comes_up();
  r = run({"apply", "-f", "-"}, gpu);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  auto host = outer_->inspect_container("ac-dind-host-local");
  ASSERT_TRUE(host.ok());
  ASSERT_EQ(host->host_config.device_requests.size(), 1u);
  EXPECT_EQ(host->host_config.device_requests[0].count, -1);
  auto g = nested_->inspect_container("ac-sb-g");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->host_config.device_requests.at(0).count, 1);
}

TEST_F(DindTest, PolicyChangeReloadsTheGateWithoutRestartingAnything) {
  nested_engine_comes_up();
  ASSERT_EQ(run({"apply", "-f", "-"},
                std::string(kHost) + policy("default", "example.com") + sandbox("a"))
                .status,
            0);
  const std::string gate_id = nested_->inspect_container("ac-gate-local")->id;
  const std::string sb_id = nested_->inspect_container("ac-sb-a")->id;
  const std::string changed =
      std::string(kHost) + policy("default", "example.com, \"*.example.org\"") + sandbox("a");
  Out d = run({"diff", "-f", "-"}, changed);
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(
      d.out.find("~   reload  gate      ac-gate-local (Host/local): policy of sandbox a changed"),
      std::string::npos)
      << d.out;
  nested_->clear_calls();
  Out r = run({"apply", "-f", "-"}, changed);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nested_->mutating_calls(), std::vector<std::string>{"kill_container ac-gate-local"});
  EXPECT_EQ(nested_->inspect_container("ac-gate-local")->id, gate_id);
  EXPECT_TRUE(nested_->inspect_container("ac-gate-local")->state.running);
  EXPECT_EQ(nested_->inspect_container("ac-sb-a")->id, sb_id);
  EXPECT_EQ(gate_config()["policies"]["default"]["allow"], json({"*.example.org", "example.com"}));
}

TEST_F(DindTest, SandboxesOfOneHostGetTheirOwnPolicies) {
  nested_engine_comes_up();
  const std::string two = std::string(kHost) + policy("default", "example.com") +
                          policy("other", "example.org") + sandbox("a") +
                          sandbox("b", ", egressPolicy: other");
  Out r = run({"apply", "-f", "-"}, two);
  ASSERT_EQ(r.status, 0) << r.err;
  json c = gate_config();
  EXPECT_EQ(c["policies"]["default"]["allow"], json({"example.com"}));
  EXPECT_EQ(c["policies"]["other"]["allow"], json({"example.org"}));
  EXPECT_EQ(c["sandboxes"]["172.20.0.2"]["policy"], "default");
  EXPECT_EQ(c["sandboxes"]["172.20.0.3"]["policy"], "other");
  // Changing one sandbox's policy names that sandbox only, and reloads the gate.
  std::string changed = two;
  changed.replace(changed.find("example.org"), 11, "example.net");
  Out d = run({"diff", "-f", "-"}, changed);
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(d.out.find("~   reload  gate      ac-gate-local (Host/local): policy of sandbox b "
                       "changed\n"),
            std::string::npos)
      << d.out;
}

TEST_F(DindTest, HostThatDiesBeforeItsEngineIsReadyFailsWithItsLastLines) {
  // nested engine never comes up; the fake host container "runs" but no report appears, so
  // apply waits out its timeout and says where to look.
  Out r = run({"apply", "-f", "-", "--timeout", "1s"},
              std::string(kHost) + policy("default", "example.com"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("was not ready after 1.0s (see: acctl logs host)"), std::string::npos)
      << r.err;
}

TEST_F(DindTest, StatusAndLogsReadAHostFromItsOwnRunFolder) {
  nested_engine_comes_up();
  ASSERT_EQ(run({"apply", "-f", "-"}, std::string(kHost) + policy("default", "example.com")).status,
            0);
  // Another $ACCTL_HOME on the same engine: the Host is still reported from its own folder.
  const fs::path other = home_ / "other-home";
  fs::create_directories(other);
  setenv("ACCTL_HOME", other.c_str(), 1);
  Out st = run({"status", "local", "-o", "json"});
  json j = json::parse(st.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << st.out << st.err;
  EXPECT_EQ(j["hosts"][0]["runsc"]["network"], "host") << st.out;
  EXPECT_EQ(st.status, 0) << st.out;
  setenv("ACCTL_HOME", home_.c_str(), 1);
}

// Every sandbox on the gate's network keeps its entry and policy when a converge does not name
// it: an apply of another manifest, or start, which renders no sandboxes at all.
TEST_F(DindTest, SandboxesOutsideAConvergeKeepTheirGatePolicy) {
  nested_engine_comes_up();
  const std::string base =
      std::string(kHost) + policy("default", "example.com") + policy("other", "example.org");
  ASSERT_EQ(run({"apply", "-f", "-"}, base + sandbox("a")).status, 0);
  // Another manifest, another sandbox, and a change to a's EgressPolicy that a's apply did not
  // bring: a keeps what it was given.
  std::string next = std::string(kHost) + policy("default", "example.net") +
                     policy("other", "example.org") + sandbox("b", ", egressPolicy: other");
  Out r = run({"apply", "-f", "-"}, next);
  ASSERT_EQ(r.status, 0) << r.err;
  json c = gate_config();
  ASSERT_TRUE(c["sandboxes"].contains("172.20.0.2")) << c.dump();
  const std::string a_key = c["sandboxes"]["172.20.0.2"]["policy"];
  EXPECT_EQ(c["sandboxes"]["172.20.0.2"]["name"], "a");
  EXPECT_EQ(c["policies"][a_key]["allow"], json({"example.com"})) << c.dump();
  EXPECT_EQ(c["sandboxes"]["172.20.0.3"]["policy"], "other");
  EXPECT_EQ(c["policies"]["other"]["allow"], json({"example.org"}));

  setenv("ACCTL_MANIFESTS", (home_ / "m.yaml").c_str(), 1);
  std::ofstream(home_ / "m.yaml") << kHost << policy("default", "example.com");
  Out s = run({"start"});
  ASSERT_EQ(s.status, 0) << s.err << s.out;
  EXPECT_EQ(gate_config()["sandboxes"], c["sandboxes"]) << "start dropped running sandboxes";
  EXPECT_EQ(gate_config()["policies"], c["policies"]);
}

// A sandbox that --prune deletes leaves the gate's config in the same apply (the gate reloads
// before it goes), while a sandbox another manifest has keeps its entry.
TEST_F(DindTest, APrunedSandboxLeavesTheGatesConfigInTheSameApply) {
  nested_engine_comes_up();
  const std::string base = std::string(kHost) + policy("default", "example.com");
  ASSERT_EQ(run({"apply", "-f", "-"}, base + sandbox("a") + sandbox("b")).status, 0);
  ASSERT_EQ(gate_config()["sandboxes"].size(), 2u);
  Out r = run({"apply", "-f", "-", "--prune"}, base + sandbox("a"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("~   write   file      gate/config.json (Host/local): sandbox b removed"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(nested_->inspect_container("ac-sb-b").ok());
  EXPECT_EQ(gate_config()["sandboxes"].size(), 1u) << gate_config().dump();
  EXPECT_EQ(run({"diff", "-f", "-"}, base + sandbox("a")).status, 0);
}

TEST_F(DindTest, StartStatusStopDown) {
  nested_engine_comes_up();
  setenv("ACCTL_MANIFESTS", (home_ / "m.yaml").c_str(), 1);
  std::ofstream(home_ / "m.yaml") << kHost << policy("default", "example.com") << sandbox("a");
  Out s = run({"start"});
  ASSERT_EQ(s.status, 0) << s.err << s.out;
  EXPECT_NE(s.out.find("Started Host/local in "), std::string::npos) << s.out;
  EXPECT_FALSE(nested_->inspect_container("ac-sb-a").ok()) << "start brings no sandboxes";
  EXPECT_TRUE(nested_->inspect_container("ac-gate-local").ok());

  Out st = run({"status", "-o", "json"});
  json j = json::parse(st.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << st.out << st.err;
  EXPECT_EQ(j["hosts"][0]["runsc"]["network"], "host");
  EXPECT_EQ(j["hosts"][0]["gate"]["state"], "running");
  EXPECT_EQ(st.status, 0) << st.out;

  // The gate's audit counters come from its /metrics, read inside its container.
  int write_errors = 0;
  nested_->set_exec_handler(
      [&](const engine::ExecSpec& spec, std::string_view, std::string& out, std::string&) {
        if (spec.cmd.empty() || spec.cmd[0] != "curl") return 1;
        out =
            "# TYPE x counter\nacctl_gate_audit_suppressed_total 7\n"
            "acctl_gate_audit_write_errors_total " +
            std::to_string(write_errors) + "\n";
        return 0;
      });
  st = run({"status"});
  EXPECT_EQ(st.status, 0) << st.out;
  EXPECT_NE(st.out.find("audit log       7 refusals counted, not logged (rate limit); 0 failed "
                        "writes"),
            std::string::npos)
      << st.out;
  write_errors = 3;
  st = run({"status"});
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("NOT HEALTHY: Host/local: the gate's audit log failed 3 writes"),
            std::string::npos)
      << st.out;
  nested_->set_exec_handler(nullptr);

  Out stop = run({"stop"});
  EXPECT_EQ(stop.status, 0) << stop.err;
  EXPECT_FALSE(outer_->inspect_container("ac-dind-host-local")->state.running);
  Out st2 = run({"status"});
  EXPECT_EQ(st2.status, 1);
  EXPECT_NE(st2.out.find("NOT HEALTHY: Host/local: host container is exited"), std::string::npos)
      << st2.out;

  fs::create_directories(home_ / "instances/a/workspace");
  std::ofstream(home_ / "instances/a/workspace/keep.txt") << "mine";
  Out down = run({"down"});
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_FALSE(outer_->inspect_container("ac-dind-host-local").ok());
  EXPECT_FALSE(outer_->inspect_volume("ac-dind-data-local").ok());
  EXPECT_TRUE(fs::exists(home_ / "instances/a/workspace/keep.txt"));
  EXPECT_FALSE(fs::exists(paths_.run_dir));
  unsetenv("ACCTL_MANIFESTS");
}

// A Blueprint of the manifest's own, built from an install script beside it.
class DindBlueprintTest : public DindTest {
 protected:
  void SetUp() override {
    DindTest::SetUp();
    std::ofstream(home_ / "install.sh") << "echo one\n";
    std::ofstream(home_ / "run.sh") << "exec bash\n";
    std::ofstream(home_ / "m.yaml")
        << kHost << policy("default", "example.com")
        << "---\napiVersion: acctl/v1alpha1\nkind: Blueprint\nmetadata: {name: mine}\n"
           "spec: {install: install.sh, run: run.sh}\n"
        << "---\napiVersion: acctl/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\n"
           "spec: {blueprint: mine, mode: idle}\n";
    manifest_ = (home_ / "m.yaml").string();
  }
  std::string image_id(FakeEngine& engine) {
    auto i = engine.inspect_image("acctl/blueprint-mine:latest");
    return i ? i->id : "";
  }
  std::string manifest_;
};

TEST_F(DindBlueprintTest, ChangedInstallScriptIsABuildAndACopyInTheDiff) {
  nested_engine_comes_up();
  ASSERT_EQ(run({"apply", "-f", manifest_}).status, 0);
  ASSERT_EQ(run({"diff", "-f", manifest_}).status, 0);
  const std::string outer_id = image_id(*outer_), nested_id = image_id(*nested_);
  ASSERT_FALSE(outer_id.empty());
  EXPECT_EQ(nested_id, outer_id);

  std::ofstream(home_ / "install.sh") << "echo two\n";
  Out d = run({"diff", "-f", manifest_});
  EXPECT_EQ(d.status, 1) << d.out << d.err;
  for (const char* line :
       {"+   build   image     acctl/blueprint-mine:latest (Blueprint/mine): build context or "
        "base image changed\n",
        "+   copy    image     acctl/blueprint-mine:latest (Host/local): made first on the Host's "
        "engine\n",
        "-/+ replace container ac-sb-a (Sandbox/a) because image acctl/blueprint-mine:latest is "
        "rebuilt\n",
        "1 image to build", "1 image to copy"}) {
    EXPECT_NE(d.out.find(line), std::string::npos) << line << "\n" << d.out;
  }
  Out j = run({"diff", "-f", manifest_, "-o", "json"});
  EXPECT_EQ(j.status, 1);
  json plan = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(plan.is_object()) << j.out;
  EXPECT_EQ(plan["engines"][0]["actions"][0]["action"], "build");
  EXPECT_EQ(plan["engines"][1]["actions"][0]["action"], "copy");
  EXPECT_EQ(plan["engines"][1]["actions"][0]["images"], json({"acctl/blueprint-mine:latest"}));

  // A dry run shows the same and changes nothing: no image is built, nothing is copied.
  outer_->clear_calls();
  nested_->clear_calls();
  Out dry = run({"apply", "-f", manifest_, "--dry-run"});
  EXPECT_EQ(dry.status, 0) << dry.err;
  EXPECT_NE(dry.out.find("+   build   image     acctl/blueprint-mine:latest"), std::string::npos);
  EXPECT_TRUE(outer_->mutating_calls().empty()) << testing::PrintToString(outer_->mutating_calls());
  EXPECT_TRUE(nested_->mutating_calls().empty());
  EXPECT_EQ(image_id(*outer_), outer_id);
  EXPECT_EQ(image_id(*nested_), nested_id);

  // apply builds, copies and replaces; then everything is in sync.
  Out a = run({"apply", "-f", manifest_});
  ASSERT_EQ(a.status, 0) << a.err << a.out;
  EXPECT_NE(image_id(*outer_), outer_id);
  EXPECT_EQ(image_id(*nested_), image_id(*outer_));
  Out again = run({"diff", "-f", manifest_});
  EXPECT_EQ(again.status, 0) << again.out;
}

TEST_F(DindTest, NewSandboxGetsTheNextAddressAndTheGateLearnsItFirst) {
  nested_engine_comes_up();
  const std::string one = std::string(kHost) + policy("default", "example.com") + sandbox("a");
  ASSERT_EQ(run({"apply", "-f", "-"}, one).status, 0);
  EXPECT_EQ(nested_->inspect_container("ac-sb-a")->networks.at("ac-net-local").ipam_ipv4,
            "172.20.0.2");
  const json a = {{"name", "a"}, {"policy", "default"}, {"egressPolicy", "default"}};
  EXPECT_EQ(gate_config()["sandboxes"], json({{"172.20.0.2", a}}));

  Out d = run({"diff", "-f", "-"}, one + sandbox("b"));
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(d.out.find("~   write   file      gate/config.json (Host/local): sandbox b added"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("~   reload  gate      ac-gate-local (Host/local): sandbox b added"),
            std::string::npos)
      << d.out;
  nested_->clear_calls();
  ASSERT_EQ(run({"apply", "-f", "-"}, one + sandbox("b")).status, 0);
  EXPECT_EQ(nested_->inspect_container("ac-sb-b")->networks.at("ac-net-local").ipam_ipv4,
            "172.20.0.3");
  const json b = {{"name", "b"}, {"policy", "default"}, {"egressPolicy", "default"}};
  EXPECT_EQ(gate_config()["sandboxes"], json({{"172.20.0.2", a}, {"172.20.0.3", b}}));
  // The gate re-read its config before the new sandbox started.
  auto calls = nested_->mutating_calls();
  auto at = [&](const std::string& c) {
    return std::find(calls.begin(), calls.end(), c) - calls.begin();
  };
  EXPECT_LT(at("kill_container ac-gate-local"), at("start_container ac-sb-b"))
      << testing::PrintToString(calls);
  // A replaced sandbox keeps its address.
  ASSERT_EQ(
      run({"apply", "-f", "-"}, one.substr(0, one.size() - 2) + ", env: {X: y}}\n" + sandbox("b"))
          .status,
      0);
  EXPECT_EQ(nested_->inspect_container("ac-sb-a")->networks.at("ac-net-local").ipam_ipv4,
            "172.20.0.2");
}

}  // namespace
}  // namespace acctl
