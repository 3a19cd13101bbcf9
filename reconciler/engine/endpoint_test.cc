// Tests of engine address parsing and the DOCKER_* environment.
#include "engine/endpoint.h"

#include <gtest/gtest.h>

#include <map>

namespace acctl::engine {
namespace {

TEST(ParseEngineHost, UnixSocket) {
  auto a = parse_engine_host("unix:///var/run/docker.sock", false);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->socket_path, "/var/run/docker.sock");
  EXPECT_EQ(a->base_url, "http://localhost");
  EXPECT_FALSE(parse_engine_host("unix://relative.sock", false).ok());
}

TEST(ParseEngineHost, TcpTakesTheCliDefaultPorts) {
  EXPECT_EQ(parse_engine_host("tcp://10.0.0.5:2375", false)->base_url, "http://10.0.0.5:2375");
  EXPECT_EQ(parse_engine_host("tcp://docker.local", false)->base_url, "http://docker.local:2375");
  EXPECT_EQ(parse_engine_host("tcp://docker.local", true)->base_url, "https://docker.local:2376");
  EXPECT_EQ(parse_engine_host("https://h:1234/", false)->base_url, "https://h:1234");
  EXPECT_EQ(parse_engine_host("tcp://[::1]", false)->base_url, "http://[::1]:2375");
  EXPECT_EQ(parse_engine_host("tcp://[::1]:99", false)->base_url, "http://[::1]:99");
}

TEST(ParseEngineHost, RejectsWhatItCannotReach) {
  auto ssh = parse_engine_host("ssh://me@host", false);
  ASSERT_FALSE(ssh.ok());
  EXPECT_NE(ssh.error().message.find("scheme ssh"), std::string::npos);
  EXPECT_FALSE(parse_engine_host("/var/run/docker.sock", false).ok());
  EXPECT_FALSE(parse_engine_host("tcp://", false).ok());
  EXPECT_FALSE(parse_engine_host("tcp://host:1/path", false).ok());
}

GetEnv env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(OptionsFromEnv, DefaultsToTheLocalSocket) {
  auto o = options_from_env(env({}));
  EXPECT_EQ(o.host, "unix:///var/run/docker.sock");
  EXPECT_FALSE(o.tls);
}

TEST(OptionsFromEnv, TlsVerifyUsesTheCertPath) {
  auto o = options_from_env(env({{"DOCKER_HOST", "tcp://h:2376"},
                                 {"DOCKER_TLS_VERIFY", "1"},
                                 {"DOCKER_CERT_PATH", "/certs"}}));
  EXPECT_EQ(o.host, "tcp://h:2376");
  EXPECT_TRUE(o.tls);
  EXPECT_TRUE(o.tls_verify);
  EXPECT_EQ(o.ca_file, "/certs/ca.pem");
  EXPECT_EQ(o.cert_file, "/certs/cert.pem");
  EXPECT_EQ(o.key_file, "/certs/key.pem");
}

TEST(OptionsFromEnv, CertPathDefaultsToHomeDocker) {
  auto o = options_from_env(env({{"DOCKER_TLS_VERIFY", "1"}, {"HOME", "/home/u"}}));
  EXPECT_EQ(o.ca_file, "/home/u/.docker/ca.pem");
}

TEST(OptionsFromEnv, DockerTlsWithoutVerify) {
  auto o = options_from_env(env({{"DOCKER_HOST", "tcp://h"}, {"DOCKER_TLS", "1"}}));
  EXPECT_TRUE(o.tls);
  EXPECT_FALSE(o.tls_verify);
}

}  // namespace
}  // namespace acctl::engine
