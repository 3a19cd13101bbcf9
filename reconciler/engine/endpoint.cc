// DOCKER_HOST parsing and the environment the docker CLI honours.
#include "engine/endpoint.h"

#include <cstdlib>

namespace acctl::engine {

Result<EngineAddress> parse_engine_host(std::string_view host, bool tls) {
  auto strip = [&](std::string_view prefix) {
    if (host.substr(0, prefix.size()) != prefix) return false;
    host.remove_prefix(prefix.size());
    return true;
  };
  if (strip("unix://")) {
    if (host.empty() || host[0] != '/') {
      return Error{0, "engine address unix://" + std::string(host) +
                          " must name an absolute socket path, e.g. unix:///var/run/docker.sock"};
    }
    return EngineAddress{std::string(host), "http://localhost"};
  }
  std::string scheme;
  if (strip("tcp://")) {
    scheme = tls ? "https" : "http";
  } else if (strip("https://")) {
    scheme = "https";
  } else if (strip("http://")) {
    scheme = tls ? "https" : "http";
  } else {
    auto colon = host.find("://");
    std::string what = colon == std::string_view::npos
                           ? "no scheme"
                           : "scheme " + std::string(host.substr(0, colon));
    return Error{0, "engine address '" + std::string(host) + "' has " + what +
                        "; use unix:///path, tcp://host:port or https://host:port"};
  }
  while (!host.empty() && host.back() == '/') host.remove_suffix(1);
  if (host.empty()) return Error{0, "engine address has no host"};
  if (host.find('/') != std::string_view::npos) {
    return Error{0, "engine address '" + std::string(host) + "' must not contain a path"};
  }
  std::string hostport(host);
  // A port is present unless the last ':' is inside an IPv6 literal "[…]".
  auto colon = hostport.rfind(':');
  bool has_port = colon != std::string::npos && hostport.find(']', colon) == std::string::npos;
  if (!has_port) hostport += scheme == "https" ? ":2376" : ":2375";
  return EngineAddress{"", scheme + "://" + hostport};
}

EngineOptions options_from_env(const GetEnv& getenv) {
  auto get = [&](const char* name) -> std::string {
    const char* v = getenv(name);
    return v ? v : "";
  };
  EngineOptions o;
  if (auto host = get("DOCKER_HOST"); !host.empty()) o.host = host;
  bool verify = !get("DOCKER_TLS_VERIFY").empty();
  o.tls = verify || !get("DOCKER_TLS").empty() || o.host.rfind("https://", 0) == 0;
  o.tls_verify = verify;
  if (o.tls) {
    std::string dir = get("DOCKER_CERT_PATH");
    if (dir.empty() && !get("HOME").empty()) dir = get("HOME") + "/.docker";
    if (!dir.empty()) {
      o.ca_file = dir + "/ca.pem";
      o.cert_file = dir + "/cert.pem";
      o.key_file = dir + "/key.pem";
    }
  }
  return o;
}

EngineOptions options_from_env() {
  return options_from_env([](const char* name) { return std::getenv(name); });
}

}  // namespace acctl::engine
