// Where the Docker engine is and how to reach it: DOCKER_HOST-style addresses and TLS files.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.h"

namespace acctl::engine {

inline constexpr std::string_view kDefaultEngineHost = "unix:///var/run/docker.sock";

struct EngineOptions {
  std::string host = std::string(kDefaultEngineHost);  // unix:///path, tcp://h:p, http(s)://h:p
  bool tls = false;                                    // implied by https://
  bool tls_verify = true;  // check the server against ca_file (DOCKER_TLS_VERIFY)
  std::string ca_file;     // PEM files; empty = the system's CAs / no client certificate
  std::string cert_file;
  std::string key_file;
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 60000;  // per non-streaming request
  // When the whole command must be over (its --timeout): no call outlasts it.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
};

// A parsed engine address: either a unix socket or a base URL ("http://h:p", "https://h:p").
struct EngineAddress {
  std::string socket_path;  // set for unix://
  std::string base_url;     // what libcurl is given; "http://localhost" for a socket
};

// Accepts unix:///path, tcp://host[:port], http://host[:port], https://host[:port]. tcp:// takes
// port 2376 with TLS and 2375 without when none is given, as the docker CLI does.
Result<EngineAddress> parse_engine_host(std::string_view host, bool tls);

using GetEnv = std::function<const char*(const char*)>;
// Options from DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH (default
// $HOME/.docker; files ca.pem, cert.pem, key.pem), as the docker CLI reads them.
EngineOptions options_from_env(const GetEnv& getenv);
EngineOptions options_from_env();

}  // namespace acctl::engine
