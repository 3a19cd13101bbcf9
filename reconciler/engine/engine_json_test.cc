// Tests of request bodies and reply parsing against the engine's documented JSON shapes.
#include "engine/engine_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace acctl::engine {
namespace {

using Json = nlohmann::json;

TEST(ContainerCreateBody, CarriesEverySandboxField) {
  ContainerSpec s;
  s.name = "ac-sb-dev";
  s.image = "acctl-test/busybox:latest";
  s.cmd = {"sleep", "60"};
  s.env = {"A=1"};
  s.labels = {{"ac.managed-by", "acctl"}};
  s.working_dir = "/workspace";
  s.user = "1000:1000";
  s.tty = true;
  s.open_stdin = true;
  s.host_config.runtime = "runsc";
  s.host_config.nano_cpus = 2'000'000'000;
  s.host_config.memory = 1 << 30;
  s.host_config.pids_limit = 1024;
  s.host_config.restart_policy = {"on-failure", 3};
  s.host_config.binds = {"/w:/workspace"};
  s.host_config.device_requests = {{"", -1, {}, {{"gpu"}}}};
  s.host_config.cap_drop = {"ALL"};
  s.host_config.security_opt = {"no-new-privileges"};
  s.host_config.readonly_rootfs = true;
  s.host_config.tmpfs = {{"/tmp", "rw,size=64m"}};
  s.network = "ac-net";
  s.ipv4_address = "172.20.0.10";
  Json j = Json::parse(json::container_create_body(s));
  EXPECT_EQ(j["Image"], "acctl-test/busybox:latest");
  EXPECT_EQ(j["Cmd"], Json({"sleep", "60"}));
  EXPECT_FALSE(j.contains("Entrypoint"));  // the image's
  EXPECT_EQ(j["Labels"]["ac.managed-by"], "acctl");
  EXPECT_EQ(j["Tty"], true);
  const Json& h = j["HostConfig"];
  EXPECT_EQ(h["Runtime"], "runsc");
  EXPECT_EQ(h["NanoCpus"], 2'000'000'000);
  EXPECT_EQ(h["Memory"], 1 << 30);
  EXPECT_EQ(h["PidsLimit"], 1024);
  EXPECT_EQ(h["RestartPolicy"], Json({{"Name", "on-failure"}, {"MaximumRetryCount", 3}}));
  EXPECT_EQ(h["DeviceRequests"][0]["Count"], -1);
  EXPECT_EQ(h["DeviceRequests"][0]["Capabilities"], Json::parse(R"([["gpu"]])"));
  EXPECT_EQ(h["CapDrop"], Json({"ALL"}));
  EXPECT_EQ(h["ReadonlyRootfs"], true);
  EXPECT_EQ(h["Tmpfs"]["/tmp"], "rw,size=64m");
  EXPECT_EQ(h["NetworkMode"], "ac-net");
  EXPECT_EQ(j["NetworkingConfig"]["EndpointsConfig"]["ac-net"]["IPAMConfig"]["IPv4Address"],
            "172.20.0.10");
}

TEST(ContainerCreateBody, EmptyEntrypointClearsTheImagesOne) {
  ContainerSpec s;
  s.image = "x";
  s.entrypoint = std::vector<std::string>{};
  EXPECT_EQ(Json::parse(json::container_create_body(s))["Entrypoint"], Json({""}));
}

TEST(ResourceUpdateBody, SendsOnlyWhatChanges) {
  ResourceUpdate u;
  u.nano_cpus = 500'000'000;
  EXPECT_EQ(Json::parse(json::resource_update_body(u)), Json({{"NanoCpus", 500'000'000}}));
}

TEST(NetworkCreateBody, AsksForDuplicateCheckAndIpam) {
  NetworkSpec s{"ac-net",     "bridge", true, false, {{"172.20.0.0/16", "172.20.0.1", ""}},
                {{"k", "v"}}, {}};
  Json j = Json::parse(json::network_create_body(s));
  EXPECT_EQ(j["CheckDuplicate"], true);
  EXPECT_EQ(j["Internal"], true);
  EXPECT_EQ(j["IPAM"]["Config"][0], Json({{"Subnet", "172.20.0.0/16"}, {"Gateway", "172.20.0.1"}}));
}

TEST(ParseContainerInspect, ToleratesTheEnginesNulls) {
  auto r = json::parse_container_inspect(R"({
    "Id": "abc", "Name": "/ac-sb-dev", "Image": "sha256:1",
    "State": {"Status": "exited", "Running": false, "ExitCode": 3,
              "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "2026-01-01T00:00:01Z"},
    "Config": {"Image": "busybox", "Env": null, "Cmd": null, "Entrypoint": null, "Labels": null,
               "Tty": false},
    "HostConfig": {"Runtime": "runsc", "NanoCpus": 1000000000, "PidsLimit": null, "Binds": null,
                   "DeviceRequests": [{"Driver": "", "Count": 2, "DeviceIDs": null,
                                       "Capabilities": [["gpu"]]}],
                   "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Tmpfs": null},
    "NetworkSettings": {"Networks": {"ac-net": {"NetworkID": "n1", "IPAddress": "172.20.0.10",
                        "IPAMConfig": {"IPv4Address": "172.20.0.10"}, "Aliases": null}}}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "ac-sb-dev");
  EXPECT_EQ(r->state.status, "exited");
  EXPECT_EQ(r->state.exit_code, 3);
  EXPECT_TRUE(r->config.env.empty());
  EXPECT_EQ(r->host_config.runtime, "runsc");
  EXPECT_EQ(r->host_config.pids_limit, 0);
  EXPECT_EQ(r->host_config.restart_policy.name, "no");
  ASSERT_EQ(r->host_config.device_requests.size(), 1u);
  EXPECT_EQ(r->host_config.device_requests[0].count, 2);
  EXPECT_EQ(r->networks.at("ac-net").ipam_ipv4, "172.20.0.10");
}

TEST(ParseContainerInspect, NonJsonIsAnErrorNotACrash) {
  auto r = json::parse_container_inspect("<html>proxy error</html>");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.not_found());
}

TEST(ParseImageInspect, ReadsTheLayersBottomFirst) {
  // The shape of GET /images/{name}/json from Docker 20.10.
  auto r = json::parse_image_inspect(R"({
    "Id": "sha256:aa", "RepoTags": ["acctl-test/b:latest"], "Created": "2026-01-01T00:00:00Z",
    "Size": 27000000, "Config": {"Labels": {"ac.kind": "Blueprint"}},
    "RootFS": {"Type": "layers", "Layers": ["sha256:01", "sha256:02", "sha256:01"]}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  // A repeated layer stays at each of its positions: chain ids are computed from the order.
  EXPECT_EQ(r->layers, (std::vector<std::string>{"sha256:01", "sha256:02", "sha256:01"}));
  EXPECT_EQ(r->labels.at("ac.kind"), "Blueprint");
}

TEST(ParseImageList, HasNoLayers) {
  auto r = json::parse_image_list(
      R"([{"Id": "sha256:aa", "RepoTags": ["<none>:<none>"], "Created": 1, "Size": 5}])");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].layers.empty());
  EXPECT_TRUE((*r)[0].repo_tags.empty());
}

TEST(ParseInfo, ListsRuntimesSorted) {
  VersionInfo v;
  ASSERT_TRUE(
      json::parse_info(R"({"Runtimes":{"runsc":{},"runc":{}},"DefaultRuntime":"runc"})", v).ok());
  EXPECT_EQ(v.runtimes, (std::vector<std::string>{"runc", "runsc"}));
  EXPECT_EQ(v.default_runtime, "runc");
}

TEST(ParseProgress, ReadsStreamStatusAuxAndErrors) {
  auto step = json::parse_progress(R"({"stream":"Step 1/2 : FROM busybox\n"})");
  EXPECT_EQ(step.line.text, "Step 1/2 : FROM busybox");
  EXPECT_TRUE(step.error.empty());
  EXPECT_EQ(json::parse_progress(R"({"aux":{"ID":"sha256:abc"}})").image_id, "sha256:abc");
  EXPECT_EQ(json::parse_progress(R"({"status":"sha256:def"})").image_id, "sha256:def");
  auto fail = json::parse_progress(
      R"({"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"x"})");
  EXPECT_EQ(fail.error, "The command '/bin/sh -c false' returned a non-zero code: 1");
}

TEST(ParseEvent, ReadsActorAndAttributes) {
  auto e = json::parse_event(
      R"({"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"x","exitCode":"0"}},"time":5,"timeNano":5000000001})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->action, "die");
  EXPECT_EQ(e->actor_id, "c1");
  EXPECT_EQ(e->attributes.at("exitCode"), "0");
  EXPECT_EQ(e->time_nano, 5000000001);
}

TEST(ExecCreateBody, CarriesTheSpecAndLeavesUnsetFieldsToTheContainer) {
  ExecSpec s{.cmd = {"sh", "-c", "make"}, .env = {"A=1"}, .tty = true, .attach_stdin = true};
  Json j = Json::parse(json::exec_create_body(s));
  EXPECT_EQ(j["Cmd"], Json({"sh", "-c", "make"}));
  EXPECT_EQ(j["Env"], Json({"A=1"}));
  EXPECT_EQ(j["Tty"], true);
  EXPECT_EQ(j["AttachStdin"], true);
  EXPECT_EQ(j["AttachStdout"], true);
  EXPECT_EQ(j["AttachStderr"], true);
  EXPECT_EQ(j["Privileged"], false);
  EXPECT_FALSE(j.contains("User"));  // the container's user, not root
  EXPECT_FALSE(j.contains("WorkingDir"));
  s.user = "1000:1000";
  s.working_dir = "/workspace";
  j = Json::parse(json::exec_create_body(s));
  EXPECT_EQ(j["User"], "1000:1000");
  EXPECT_EQ(j["WorkingDir"], "/workspace");
}

TEST(ExecStartBody, AttachesWithTheGivenTty) {
  EXPECT_EQ(Json::parse(json::exec_start_body(true)), Json({{"Detach", false}, {"Tty", true}}));
  EXPECT_EQ(Json::parse(json::exec_start_body(false)), Json({{"Detach", false}, {"Tty", false}}));
}

TEST(ParseExecInspect, ExitCodeIsAbsentUntilTheProcessEnds) {
  auto created = json::parse_exec_inspect(
      R"({"ID":"e1","Running":false,"ExitCode":null,"ProcessConfig":{"tty":true,"entrypoint":"sh"},
          "OpenStdin":true,"ContainerID":"c1","Pid":0})");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->id, "e1");
  EXPECT_EQ(created->container_id, "c1");
  EXPECT_FALSE(created->running);
  EXPECT_FALSE(created->exit_code);
  EXPECT_TRUE(created->tty);
  auto done = json::parse_exec_inspect(
      R"({"ID":"e1","Running":false,"ExitCode":3,"ProcessConfig":{"tty":false},"Pid":18348})");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->exit_code, 3);
  EXPECT_EQ(done->pid, 18348);
  EXPECT_FALSE(done->tty);
  EXPECT_FALSE(json::parse_exec_inspect("no such exec").ok());
}

TEST(ErrorMessage, PrefersTheEnginesMessage) {
  EXPECT_EQ(json::error_message(R"({"message":"No such container: x"})"), "No such container: x");
  EXPECT_EQ(json::error_message("page not found\n"), "page not found");
}

}  // namespace
}  // namespace acctl::engine
