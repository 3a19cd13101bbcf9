// CurlEngine: the Docker Engine API over libcurl (unix socket, TCP, TLS), streaming included.
#include "engine/curl_engine.h"

#include "engine/deadline.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

#include "engine/engine_json.h"

namespace acctl::engine {

namespace {

// The logs' `since`: whole seconds, or seconds with nanoseconds when that is known.
std::string since_text(const LogOptions& o) {
  if (o.since_ns <= 0) return std::to_string(o.since);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(o.since_ns / 1000000000),
                static_cast<long long>(o.since_ns % 1000000000));
  return buf;
}

struct Transfer {
  const CurlEngine::Request* request = nullptr;
  CURL* curl = nullptr;
  std::string body;      // the whole reply, or an error reply of a streaming call
  bool stopped = false;  // the caller's callback asked to stop: not an error
  std::size_t upload_offset = 0;
};

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  // Errors come as one JSON document even on streaming endpoints: keep them for the message.
  if (!t->request->on_data || status >= 300) {
    t->body.append(data, n);
    return n;
  }
  if (!t->request->on_data(std::string_view(data, n))) {
    t->stopped = true;
    return 0;  // makes libcurl end the transfer
  }
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::ptrdiff_t n = (*t->request->upload)(buffer, size * count);
  if (n < 0) return CURL_READFUNC_ABORT;
  return static_cast<size_t>(n);
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->request->stop && t->request->stop()) {
    t->stopped = true;
    return 1;
  }
  return 0;
}

// "repo:tag" -> {"repo", "tag"}; a ':' before the last '/' belongs to a registry host.
std::pair<std::string, std::string> split_reference(const std::string& ref) {
  auto colon = ref.rfind(':');
  auto slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
    return {ref, "latest"};
  }
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

bool file_exists(const std::string& path) {
  return !path.empty() && access(path.c_str(), R_OK) == 0;
}

}  // namespace

CurlEngine::CurlEngine(EngineOptions options, EngineAddress address)
    : options_(std::move(options)), address_(std::move(address)) {}

CurlEngine::~CurlEngine() {
  for (void* h : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(h));
}

Result<std::unique_ptr<CurlEngine>> CurlEngine::connect(const EngineOptions& options) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto address = parse_engine_host(options.host, options.tls);
  if (!address) return address.error();
  std::unique_ptr<CurlEngine> engine(new CurlEngine(options, *address));
  Request r;
  r.path = "/version";
  r.versioned = false;
  r.what = "GET /version";
  auto reply = engine->perform(r);
  if (!reply) return reply.error();
  auto v = json::parse_version(reply->body);
  if (!v) return v.error();
  auto api = negotiate_api_version(v->server_api_version);
  if (!api) return api.error();
  engine->api_version_ = *api;
  return engine;
}

void* CurlEngine::acquire_handle() {
  {
    std::lock_guard lock(handles_mutex_);
    if (!idle_handles_.empty()) {
      void* h = idle_handles_.back();
      idle_handles_.pop_back();
      // Resets options but keeps the handle's open connection for the next request.
      curl_easy_reset(static_cast<CURL*>(h));
      return h;
    }
  }
  return curl_easy_init();
}

void CurlEngine::release_handle(void* handle) {
  std::lock_guard lock(handles_mutex_);
  idle_handles_.push_back(handle);
}

void CurlEngine::set_connection_options(void* handle) const {
  CURL* curl = static_cast<CURL*>(handle);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!address_.socket_path.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, address_.socket_path.c_str());
  }
  if (address_.base_url.rfind("https://", 0) == 0) {
    if (file_exists(options_.ca_file))
      curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (file_exists(options_.cert_file) && file_exists(options_.key_file)) {
      curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.cert_file.c_str());
      curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.key_file.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
}

Error CurlEngine::transport_error(int curl_code, long status, const char* errbuf,
                                  const std::string& what) const {
  auto rc = static_cast<CURLcode>(curl_code);
  std::string why = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (rc == CURLE_COULDNT_CONNECT && !address_.socket_path.empty()) {
    // libcurl's text names "localhost port 80", which misleads for a socket: say what is wrong.
    const char* path = address_.socket_path.c_str();
    why = access(path, F_OK) != 0   ? "the socket does not exist"
          : access(path, W_OK) != 0 ? "permission denied (run as root or join the docker group)"
                                    : "connection refused";
  }
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
      (rc == CURLE_OPERATION_TIMEDOUT && status == 0)) {
    return Error{0, "cannot connect to the Docker engine at " + options_.host + ": " + why +
                        " — is dockerd running?"};
  }
  return Error{static_cast<int>(status),
               what + ": " + why + " (Docker engine at " + options_.host + ")"};
}

Result<CurlEngine::Response> CurlEngine::perform(const Request& request) {
  CURL* curl = static_cast<CURL*>(acquire_handle());
  if (!curl) return Error{0, "cannot initialise libcurl"};
  Transfer t;
  t.request = &request;
  t.curl = curl;

  std::string url = address_.base_url;
  if (request.versioned) url += "/v" + api_version_;
  url += request.path + query_string(request.query);
  char errbuf[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  set_connection_options(curl);
  bool streaming = static_cast<bool>(request.on_data) || request.upload;
  // Streams (logs -f, events, builds) last as long as they last; everything else is bounded,
  // and nothing outlasts the command's deadline.
  const auto budget = call_budget(
      options_, std::chrono::milliseconds(
                    streaming ? 0L : options_.request_timeout_ms + request.extra_timeout_ms));
  if (!budget) {
    release_handle(curl);
    return deadline_error(request.what, options_.host);
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(budget->count()));
  // An image moving in or out that stops moving: the engine has stopped answering.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, request.stall_timeout_ms > 0 ? 1L : 0L);
  curl_easy_setopt(
      curl, CURLOPT_LOW_SPEED_TIME,
      request.stall_timeout_ms > 0 ? std::max(1L, request.stall_timeout_ms / 1000) : 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  if (request.stop) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }

  curl_slist* headers = nullptr;
  // No 100-continue round trip: the engine reads the body straight away.
  headers = curl_slist_append(headers, "Expect:");
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
    if (request.upload) {
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(curl, CURLOPT_READDATA, &t);
      headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  // Whether the request went out: a timeout after that is an engine that did not answer, not
  // one that cannot be reached.
  curl_off_t sent_at = 0;
  curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &sent_at);
  curl_slist_free_all(headers);
  release_handle(curl);

  if (rc == CURLE_OPERATION_TIMEDOUT && !t.stopped && sent_at > 0) {
    return timeout_error(request.what, *budget, options_.host);
  }
  if (rc != CURLE_OK && !t.stopped) return transport_error(rc, status, errbuf, request.what);
  if (status >= 400) {
    return Error{static_cast<int>(status), request.what + ": " + json::error_message(t.body)};
  }
  return Response{status, std::move(t.body)};
}

Status CurlEngine::simple(Request request) {
  auto r = perform(request);
  if (!r) return r.error();
  return ok_status();
}

Status CurlEngine::ping() {
  return simple({.path = "/_ping", .versioned = false, .what = "GET /_ping"});
}

Result<VersionInfo> CurlEngine::version() {
  auto v = perform({.path = "/version", .what = "GET /version"});
  if (!v) return v.error();
  auto info = json::parse_version(v->body);
  if (!info) return info;
  info->api_version = api_version_;
  auto i = perform({.path = "/info", .what = "GET /info"});
  if (!i) return i.error();
  if (auto s = json::parse_info(i->body, *info); !s) return s.error();
  return info;
}

// Containers -------------------------------------------------------------------------------------

Result<std::vector<ContainerSummary>> CurlEngine::list_containers(const Filters& filters,
                                                                  bool all) {
  QueryParams q{{"all", all ? "1" : "0"}};
  if (!filters.empty()) q.emplace_back("filters", filters_json(filters));
  auto r = perform({.path = "/containers/json", .query = q, .what = "list containers"});
  if (!r) return r.error();
  return json::parse_container_list(r->body);
}

Result<ContainerInfo> CurlEngine::inspect_container(const std::string& id) {
  auto r = perform(
      {.path = "/containers/" + path_encode(id) + "/json", .what = "inspect container " + id});
  if (!r) return r.error();
  return json::parse_container_inspect(r->body);
}

Result<std::string> CurlEngine::create_container(const ContainerSpec& spec) {
  QueryParams q;
  if (!spec.name.empty()) q.emplace_back("name", spec.name);
  auto r = perform({.method = "POST",
                    .path = "/containers/create",
                    .query = q,
                    .body = json::container_create_body(spec),
                    .what = "create container " + spec.name});
  if (!r) return r.error();
  return json::parse_created_id(r->body);
}

Status CurlEngine::start_container(const std::string& id) {
  // 304 (already running) is success: start is idempotent for the reconciler.
  return simple({.method = "POST",
                 .path = "/containers/" + path_encode(id) + "/start",
                 .what = "start container " + id});
}

Status CurlEngine::stop_container(const std::string& id, int timeout_seconds) {
  return simple({.method = "POST",
                 .path = "/containers/" + path_encode(id) + "/stop",
                 .query = {{"t", std::to_string(timeout_seconds)}},
                 .extra_timeout_ms = timeout_seconds * 1000L,
                 .what = "stop container " + id});
}

Status CurlEngine::kill_container(const std::string& id, const std::string& signal) {
  return simple({.method = "POST",
                 .path = "/containers/" + path_encode(id) + "/kill",
                 .query = {{"signal", signal}},
                 .what = "kill container " + id});
}

Status CurlEngine::remove_container(const std::string& id, bool force, bool volumes) {
  return simple({.method = "DELETE",
                 .path = "/containers/" + path_encode(id),
                 .query = {{"force", force ? "1" : "0"}, {"v", volumes ? "1" : "0"}},
                 .what = "remove container " + id});
}

Status CurlEngine::update_resources(const std::string& id, const ResourceUpdate& update) {
  return simple({.method = "POST",
                 .path = "/containers/" + path_encode(id) + "/update",
                 .body = json::resource_update_body(update),
                 .what = "update container " + id});
}

Result<int> CurlEngine::wait_container(const std::string& id) {
  Request r{.method = "POST",
            .path = "/containers/" + path_encode(id) + "/wait",
            .query = {{"condition", "not-running"}},
            .what = "wait for container " + id};
  // Waiting has no natural bound; collect the one-line reply through the streaming path.
  std::string body;
  r.on_data = [&](std::string_view bytes) {
    body.append(bytes);
    return true;
  };
  auto reply = perform(r);
  if (!reply) return reply.error();
  return json::parse_wait(body);
}

Status CurlEngine::logs(const std::string& id, const LogOptions& o, const LogFn& on_bytes) {
  bool tty = false;
  if (o.tty) {
    tty = *o.tty;
  } else {
    auto info = inspect_container(id);
    if (!info) return info.error();
    tty = info->config.tty;
  }
  QueryParams q{{"follow", o.follow ? "1" : "0"},         {"stdout", o.stdout ? "1" : "0"},
                {"stderr", o.stderr ? "1" : "0"},         {"since", since_text(o)},
                {"timestamps", o.timestamps ? "1" : "0"}, {"tail", o.tail}};
  FrameDecoder frames;
  Request r{
      .path = "/containers/" + path_encode(id) + "/logs", .query = q, .what = "logs of " + id};
  // With a TTY the engine sends the terminal's bytes as they are; without, 8-byte framed.
  r.on_data = [&](std::string_view bytes) {
    if (tty) return on_bytes(LogStream::kRaw, bytes);
    return frames.feed(bytes, on_bytes);
  };
  auto reply = perform(r);
  if (!reply) return reply.error();
  return ok_status();
}

// Attach -----------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;  // nullopt: no limit

// A CONNECT_ONLY handle's socket, on which acctl speaks the bytes itself. libcurl allows one call
// on a handle at a time, so sends and receives take turns under a lock; waiting for the socket
// happens outside it, so a reader blocked in poll does not hold up a writer.
class RawConnection {
 public:
  RawConnection(CURL* curl, std::string what) : curl_(curl), what_(std::move(what)) {}
  ~RawConnection() { curl_easy_cleanup(curl_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  CURL* curl() const { return curl_; }
  const std::string& what() const { return what_; }
  void set_socket(curl_socket_t fd) { fd_ = fd; }

  Status send_all(std::string_view bytes, Deadline deadline) {
    while (!bytes.empty()) {
      std::size_t sent = 0;
      CURLcode rc;
      {
        std::lock_guard lock(mutex_);
        rc = curl_easy_send(curl_, bytes.data(), bytes.size(), &sent);
      }
      if (rc == CURLE_OK) {
        bytes.remove_prefix(sent);
      } else if (rc == CURLE_AGAIN) {
        auto ready = wait(POLLOUT, deadline);
        if (!ready) return ready.error();
        if (!*ready) return Error{0, what_ + ": timed out sending to the Docker engine"};
      } else {
        return Error{0, what_ + ": sending to the Docker engine failed: " + curl_easy_strerror(rc)};
      }
    }
    return ok_status();
  }

  // Bytes received (0 when the engine closed the stream), or nullopt when the deadline passed.
  Result<std::optional<std::size_t>> receive(char* buffer, std::size_t size, Deadline deadline) {
    while (true) {
      std::size_t n = 0;
      CURLcode rc;
      {
        std::lock_guard lock(mutex_);
        rc = curl_easy_recv(curl_, buffer, size, &n);
      }
      if (rc == CURLE_OK) return std::optional<std::size_t>(n);
      if (rc != CURLE_AGAIN) {
        return Error{
            0, what_ + ": receiving from the Docker engine failed: " + curl_easy_strerror(rc)};
      }
      // Poll only after libcurl said it has nothing buffered (TLS may hold decrypted bytes).
      auto ready = wait(POLLIN, deadline);
      if (!ready) return ready.error();
      if (!*ready) return std::optional<std::size_t>();
    }
  }

  Status shutdown_write() {
    std::lock_guard lock(mutex_);
    // Over TLS this ends the TCP stream without a close_notify; the engine still sees EOF.
    if (::shutdown(fd_, SHUT_WR) != 0) {
      return Error{0, what_ + ": closing stdin failed: " + std::strerror(errno)};
    }
    return ok_status();
  }

 private:
  // True when the socket is ready, false when the deadline passed first.
  Result<bool> wait(short events, Deadline deadline) {
    while (true) {
      int timeout_ms = -1;
      if (deadline) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
        timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, timeout_ms);
      if (n > 0) return true;  // POLLHUP/POLLERR too: the next send or recv tells what happened
      if (n == 0) return false;
      if (errno != EINTR) return Error{0, what_ + ": poll failed: " + std::strerror(errno)};
    }
  }

  CURL* curl_;
  curl_socket_t fd_ = CURL_SOCKET_BAD;
  std::string what_;
  std::mutex mutex_;
};

class CurlAttachedStream final : public AttachedStream {
 public:
  CurlAttachedStream(CurlEngine& engine, bool tty, CurlEngine::ResizeFn resize,
                     std::unique_ptr<RawConnection> connection, std::string early_bytes)
      : engine_(engine), tty_(tty), resize_(std::move(resize)), connection_(std::move(connection)) {
    take(early_bytes);
  }

  bool tty() const override { return tty_; }

  Status write(std::string_view bytes) override {
    if (stdin_closed_) return Error{0, connection_->what() + ": stdin is already closed"};
    return connection_->send_all(
        bytes, Clock::now() + std::chrono::milliseconds(engine_.options().request_timeout_ms));
  }

  Status close_stdin() override {
    if (stdin_closed_.exchange(true)) return ok_status();
    return connection_->shutdown_write();
  }

  Result<ReadResult> read(const LogFn& on_bytes, std::chrono::milliseconds timeout) override {
    if (ready_.empty() && !ended_) {
      Deadline deadline;
      if (timeout.count() >= 0) deadline = Clock::now() + timeout;
      char buffer[64 * 1024];
      auto n = connection_->receive(buffer, sizeof buffer, deadline);
      if (!n) return n.error();
      if (!*n) return ReadResult::kIdle;
      if (**n == 0) {
        ended_ = true;
      } else {
        take(std::string_view(buffer, **n));
        // Only half a frame header so far: nothing to pass on yet, but not idle either.
        if (ready_.empty()) return ReadResult::kData;
      }
    }
    if (ready_.empty()) return ReadResult::kEnded;
    while (!ready_.empty()) {
      auto piece = std::move(ready_.front());
      ready_.pop_front();
      if (!on_bytes(piece.first, piece.second)) return ReadResult::kStopped;
    }
    return ReadResult::kData;
  }

  Status resize(int rows, int cols) override { return resize_(rows, cols); }

 private:
  // Decodes right away and queues the pieces, so a caller that stops early loses nothing and the
  // frame decoder never falls out of step.
  void take(std::string_view bytes) {
    if (bytes.empty()) return;
    if (tty_) {
      ready_.emplace_back(LogStream::kRaw, std::string(bytes));
      return;
    }
    frames_.feed(bytes, [&](LogStream stream, std::string_view piece) {
      if (!ready_.empty() && ready_.back().first == stream) {
        ready_.back().second.append(piece);
      } else {
        ready_.emplace_back(stream, std::string(piece));
      }
      return true;
    });
  }

  CurlEngine& engine_;
  bool tty_;
  CurlEngine::ResizeFn resize_;
  std::unique_ptr<RawConnection> connection_;
  std::atomic<bool> stdin_closed_{false};
  // The reader's side: touched only by read().
  FrameDecoder frames_;
  std::deque<std::pair<LogStream, std::string>> ready_;
  bool ended_ = false;
};

// "localhost" from "http://localhost", "h:2376" from "https://h:2376".
std::string authority(const std::string& base_url) {
  auto start = base_url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  return base_url.substr(start, base_url.find('/', start) - start);
}

std::optional<std::size_t> content_length(const ResponseHead& head) {
  auto it = head.headers.find("content-length");
  if (it == head.headers.end()) return std::nullopt;
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
  if (ec != std::errc() || end != it->second.data() + it->second.size()) return std::nullopt;
  return n;
}

}  // namespace

Result<std::unique_ptr<AttachedStream>> CurlEngine::attach_container(const std::string& id,
                                                                     const AttachOptions& o) {
  std::string what = "attach to container " + id;
  bool tty = false;
  if (o.tty) {
    tty = *o.tty;
  } else {
    auto info = inspect_container(id);
    if (!info) return info.error();
    // The engine would accept the attach and wait, silently, for a start that may never come.
    if (!info->state.running) {
      return Error{409, what + ": the container is not running (" + info->state.status + ")"};
    }
    tty = info->config.tty;
  }
  QueryParams q{{"stream", "1"},
                {"stdin", o.stdin ? "1" : "0"},
                {"stdout", o.stdout ? "1" : "0"},
                {"stderr", o.stderr ? "1" : "0"},
                {"logs", o.logs ? "1" : "0"}};
  std::string path = "/containers/" + path_encode(id);
  return hijack(
      {.method = "POST",
       .path = path + "/attach",
       .query = q,
       .content_type = "text/plain",
       .what = what},
      tty, [this, path, id](int rows, int cols) {
        return simple({.method = "POST",
                       .path = path + "/resize",
                       .query = {{"h", std::to_string(rows)}, {"w", std::to_string(cols)}},
                       .what = "resize the terminal of container " + id});
      });
}

Result<std::unique_ptr<AttachedStream>> CurlEngine::hijack(const Request& request, bool tty,
                                                           ResizeFn resize) {
  const std::string& what = request.what;
  std::string target = "/v" + api_version_ + request.path + query_string(request.query);

  CURL* curl = curl_easy_init();
  if (!curl) return Error{0, "cannot initialise libcurl"};
  auto connection = std::make_unique<RawConnection>(curl, what);
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string url = address_.base_url + target;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  set_connection_options(curl);
  // The request is written by hand below, for the engine itself: no proxy can stand between.
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  // Connect (and shake hands over TLS), then leave the socket to curl_easy_send/recv.
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // errbuf does not outlive this call
  if (rc != CURLE_OK) return transport_error(rc, 0, errbuf, what);
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) {
    return Error{0, what + ": libcurl did not hand over the connection's socket"};
  }
  connection->set_socket(fd);

  Deadline deadline = Clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
  std::string upgrade = request.method + " " + target +
                        " HTTP/1.1\r\n"
                        "Host: " +
                        authority(address_.base_url) +
                        "\r\n"
                        "User-Agent: acctl\r\n"
                        "Content-Type: " +
                        request.content_type + "\r\n";
  if (!request.body.empty()) {
    upgrade += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  upgrade +=
      "Connection: Upgrade\r\n"
      "Upgrade: tcp\r\n"
      "\r\n" +
      request.body;
  if (auto sent = connection->send_all(upgrade, deadline); !sent) return sent.error();

  ResponseHeadReader reader;
  char buffer[16 * 1024];
  while (reader.state() == ResponseHeadReader::State::kIncomplete) {
    auto n = connection->receive(buffer, sizeof buffer, deadline);
    if (!n) return n.error();
    if (!*n) return Error{0, what + ": the Docker engine did not answer in time"};
    if (**n == 0) return Error{0, what + ": the Docker engine closed the connection"};
    reader.feed(std::string_view(buffer, **n));
  }
  if (reader.state() == ResponseHeadReader::State::kMalformed) {
    return Error{0, what + ": unexpected reply from the Docker engine: " + reader.error()};
  }
  const ResponseHead& head = reader.head();
  // 101 after the upgrade; engines older than API 1.24-ish answer 200 and hijack all the same.
  if (head.status == 101 || head.status == 200) {
    return std::unique_ptr<AttachedStream>(new CurlAttachedStream(
        *this, tty, std::move(resize), std::move(connection), reader.rest()));
  }
  // The engine has hijacked the connection even for an error: the body is text or {"message": …},
  // usually without a length, and the engine closes the connection after it.
  std::string body = reader.rest();
  auto length = content_length(head);
  while (!length || body.size() < *length) {
    auto n = connection->receive(buffer, sizeof buffer, deadline);
    if (!n || !*n || **n == 0) break;
    body.append(buffer, **n);
  }
  if (length && body.size() > *length) body.resize(*length);
  std::string message = json::error_message(body);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  if (message.empty()) message = "HTTP " + std::to_string(head.status) + " " + head.reason;
  return Error{head.status, what + ": " + message};
}

// Exec -------------------------------------------------------------------------------------------

Result<std::string> CurlEngine::create_exec(const std::string& container, const ExecSpec& spec) {
  auto r = perform({.method = "POST",
                    .path = "/containers/" + path_encode(container) + "/exec",
                    .body = json::exec_create_body(spec),
                    .what = "create exec in container " + container});
  if (!r) return r.error();
  return json::parse_created_id(r->body);
}

Result<std::unique_ptr<AttachedStream>> CurlEngine::start_exec(const std::string& exec_id,
                                                               bool tty) {
  std::string what = "start exec " + exec_id;
  // The engine checks neither of these before it hijacks the connection: a second start gets its
  // refusal as the process's "output", and a Tty differing from the exec's loses stderr or frames
  // the terminal's bytes.
  auto info = inspect_exec(exec_id);
  if (!info) return info.error();
  if (info->running || info->exit_code) {
    return Error{409, what + ": the exec has already been started (an exec runs once)"};
  }
  if (info->tty != tty) {
    return Error{0, what + ": the exec was created " + (info->tty ? "with" : "without") +
                        " a TTY; start it the same way"};
  }
  std::string path = "/exec/" + path_encode(exec_id);
  return hijack(
      {.method = "POST", .path = path + "/start", .body = json::exec_start_body(tty), .what = what},
      tty, [this, path, exec_id, tty](int rows, int cols) -> Status {
        std::string what = "resize the terminal of exec " + exec_id;
        // The engine accepts it and does nothing, which would hide a caller's mistake.
        if (!tty) return Error{0, what + ": the exec has no TTY"};
        return simple({.method = "POST",
                       .path = path + "/resize",
                       .query = {{"h", std::to_string(rows)}, {"w", std::to_string(cols)}},
                       .what = what});
      });
}

Result<ExecInfo> CurlEngine::inspect_exec(const std::string& exec_id) {
  auto r = perform(
      {.path = "/exec/" + path_encode(exec_id) + "/json", .what = "inspect exec " + exec_id});
  if (!r) return r.error();
  return json::parse_exec_inspect(r->body);
}

// Networks ---------------------------------------------------------------------------------------

Result<std::vector<NetworkInfo>> CurlEngine::list_networks(const Filters& filters) {
  QueryParams q;
  if (!filters.empty()) q.emplace_back("filters", filters_json(filters));
  auto r = perform({.path = "/networks", .query = q, .what = "list networks"});
  if (!r) return r.error();
  return json::parse_network_list(r->body);
}

Result<NetworkInfo> CurlEngine::inspect_network(const std::string& id) {
  auto r = perform({.path = "/networks/" + path_encode(id), .what = "inspect network " + id});
  if (!r) return r.error();
  return json::parse_network_inspect(r->body);
}

Result<std::string> CurlEngine::create_network(const NetworkSpec& spec) {
  auto r = perform({.method = "POST",
                    .path = "/networks/create",
                    .body = json::network_create_body(spec),
                    .what = "create network " + spec.name});
  if (!r) return r.error();
  return json::parse_created_id(r->body);
}

Status CurlEngine::remove_network(const std::string& id) {
  return simple(
      {.method = "DELETE", .path = "/networks/" + path_encode(id), .what = "remove network " + id});
}

Status CurlEngine::connect_network(const std::string& network, const std::string& container,
                                   const std::string& ipv4,
                                   const std::vector<std::string>& aliases) {
  return simple({.method = "POST",
                 .path = "/networks/" + path_encode(network) + "/connect",
                 .body = json::network_connect_body(container, ipv4, aliases),
                 .what = "connect " + container + " to network " + network});
}

Status CurlEngine::disconnect_network(const std::string& network, const std::string& container,
                                      bool force) {
  return simple({.method = "POST",
                 .path = "/networks/" + path_encode(network) + "/disconnect",
                 .body = json::network_disconnect_body(container, force),
                 .what = "disconnect " + container + " from network " + network});
}

// Volumes ----------------------------------------------------------------------------------------

Result<std::vector<VolumeInfo>> CurlEngine::list_volumes(const Filters& filters) {
  QueryParams q;
  if (!filters.empty()) q.emplace_back("filters", filters_json(filters));
  auto r = perform({.path = "/volumes", .query = q, .what = "list volumes"});
  if (!r) return r.error();
  return json::parse_volume_list(r->body);
}

Result<VolumeInfo> CurlEngine::inspect_volume(const std::string& name) {
  auto r = perform({.path = "/volumes/" + path_encode(name), .what = "inspect volume " + name});
  if (!r) return r.error();
  return json::parse_volume(r->body);
}

Result<VolumeInfo> CurlEngine::create_volume(const VolumeSpec& spec) {
  auto r = perform({.method = "POST",
                    .path = "/volumes/create",
                    .body = json::volume_create_body(spec),
                    .what = "create volume " + spec.name});
  if (!r) return r.error();
  return json::parse_volume(r->body);
}

Status CurlEngine::remove_volume(const std::string& name, bool force) {
  return simple({.method = "DELETE",
                 .path = "/volumes/" + path_encode(name),
                 .query = {{"force", force ? "1" : "0"}},
                 .what = "remove volume " + name});
}

// Images -----------------------------------------------------------------------------------------

Result<ImageInfo> CurlEngine::inspect_image(const std::string& ref) {
  auto r =
      perform({.path = "/images/" + path_encode(ref) + "/json", .what = "inspect image " + ref});
  if (!r) return r.error();
  return json::parse_image_inspect(r->body);
}

Result<std::vector<ImageInfo>> CurlEngine::list_images(const Filters& filters) {
  QueryParams q;
  if (!filters.empty()) q.emplace_back("filters", filters_json(filters));
  auto r = perform({.path = "/images/json", .query = q, .what = "list images"});
  if (!r) return r.error();
  return json::parse_image_list(r->body);
}

Status CurlEngine::remove_image(const std::string& ref, bool force) {
  return simple({.method = "DELETE",
                 .path = "/images/" + path_encode(ref),
                 .query = {{"force", force ? "1" : "0"}},
                 .what = "remove image " + ref});
}

namespace {
// Feeds a JSON-lines progress stream to the caller, remembering the image id and the first error.
struct ProgressReader {
  const ProgressFn* on_progress = nullptr;
  LineSplitter lines{};
  std::string image_id{};
  std::string error{};

  bool line(std::string_view text) {
    auto p = json::parse_progress(text);
    if (!p.image_id.empty()) image_id = p.image_id;
    if (!p.error.empty() && error.empty()) error = p.error;
    if (*on_progress && !p.line.text.empty()) (*on_progress)(p.line);
    return true;
  }
};
}  // namespace

Result<std::string> CurlEngine::upload_for_image(Request r, const ProgressFn& on_progress) {
  ProgressReader reader{&on_progress};
  r.on_data = [&](std::string_view bytes) {
    return reader.lines.feed(bytes, [&](std::string_view l) { return reader.line(l); });
  };
  auto reply = perform(r);
  if (!reply) return reply.error();
  reader.lines.finish([&](std::string_view l) { return reader.line(l); });
  if (!reader.error.empty()) return Error{0, r.what + ": " + reader.error};
  if (reader.image_id.empty()) return Error{0, r.what + ": the engine did not report an image id"};
  return reader.image_id;
}

Result<std::string> CurlEngine::import_image(const ImportSpec& spec, const ByteSource& tar) {
  auto [repo, tag] = split_reference(spec.reference);
  QueryParams q{{"fromSrc", "-"}, {"repo", repo}, {"tag", tag}};
  for (const auto& [k, v] : spec.labels) {
    q.emplace_back("changes", "LABEL " + json::quote(k) + "=" + json::quote(v));
  }
  for (const auto& c : spec.changes) q.emplace_back("changes", c);
  if (!spec.message.empty()) q.emplace_back("message", spec.message);
  return upload_for_image({.method = "POST",
                           .path = "/images/create",
                           .query = q,
                           .content_type = "application/x-tar",
                           .upload = &tar,
                           .stall_timeout_ms = kImageStallMs,
                           .what = "import image " + spec.reference},
                          ProgressFn{});
}

Result<std::string> CurlEngine::build_image(const BuildSpec& spec, const ByteSource& context,
                                            const ProgressFn& on_progress) {
  QueryParams q{
      {"t", spec.tag},  {"dockerfile", spec.dockerfile},        {"rm", "1"},
      {"forcerm", "1"}, {"nocache", spec.no_cache ? "1" : "0"}, {"pull", spec.pull ? "1" : "0"}};
  if (!spec.labels.empty()) q.emplace_back("labels", json::labels_json(spec.labels));
  if (!spec.build_args.empty()) q.emplace_back("buildargs", json::string_map_json(spec.build_args));
  return upload_for_image({.method = "POST",
                           .path = "/build",
                           .query = q,
                           .content_type = "application/x-tar",
                           .upload = &context,
                           .stall_timeout_ms = kImageStallMs,
                           .what = "build image " + spec.tag},
                          on_progress);
}

Status CurlEngine::save_images(const std::vector<std::string>& refs, const ByteSink& sink) {
  QueryParams q;
  std::string what = "save images";
  for (const std::string& r : refs) {
    q.emplace_back("names", r);
    what += " " + r;
  }
  bool aborted = false;
  auto reply = perform({.path = "/images/get",
                        .query = q,
                        .on_data =
                            [&](std::string_view bytes) {
                              if (sink(bytes)) return true;
                              aborted = true;
                              return false;
                            },
                        .stall_timeout_ms = kImageStallMs,
                        .what = what});
  if (!reply) return reply.error();
  if (aborted) return Error{0, what + ": the receiving side stopped"};
  return ok_status();
}

Status CurlEngine::load_images(const ByteSource& tar, const ProgressFn& on_progress) {
  LineSplitter lines;
  std::string error;
  auto line = [&](std::string_view l) {
    auto p = json::parse_progress(l);
    if (!p.error.empty() && error.empty()) error = p.error;
    if (on_progress && !p.line.text.empty()) on_progress(p.line);
    return true;
  };
  Request r{.method = "POST",
            .path = "/images/load",
            .query = {{"quiet", "1"}},
            .content_type = "application/x-tar",
            .upload = &tar,
            .stall_timeout_ms = kImageStallMs,
            .what = "load images"};
  r.on_data = [&](std::string_view bytes) { return lines.feed(bytes, line); };
  auto reply = perform(r);
  if (!reply) return reply.error();
  lines.finish(line);
  if (!error.empty()) return Error{0, "load images: " + error};
  return ok_status();
}

Result<ContainerStats> CurlEngine::stats(const std::string& id) {
  // stream=false still waits for a second sample, so cpu_percent has something to compare with.
  auto r = perform({.path = "/containers/" + path_encode(id) + "/stats",
                    .query = {{"stream", "0"}},
                    .extra_timeout_ms = 5000,
                    .what = "stats of container " + id});
  if (!r) return r.error();
  return json::parse_stats(r->body);
}

Result<DiskUsage> CurlEngine::disk_usage() {
  auto r = perform({.path = "/system/df", .extra_timeout_ms = 30000, .what = "disk usage"});
  if (!r) return r.error();
  return json::parse_disk_usage(r->body);
}

// Events -----------------------------------------------------------------------------------------

Status CurlEngine::events(const EventOptions& o, const EventFn& on_event) {
  QueryParams q;
  if (o.since) q.emplace_back("since", std::to_string(o.since));
  if (o.until) q.emplace_back("until", std::to_string(o.until));
  if (!o.filters.empty()) q.emplace_back("filters", filters_json(o.filters));
  LineSplitter lines;
  std::string bad;
  Request r{.path = "/events", .query = q, .stop = o.stop, .what = "events"};
  auto line = [&](std::string_view l) {
    auto e = json::parse_event(l);
    if (!e) {
      bad = e.error().message;
      return false;
    }
    return on_event(*e);
  };
  r.on_data = [&](std::string_view bytes) { return lines.feed(bytes, line); };
  auto reply = perform(r);
  if (!reply) return reply.error();
  if (!bad.empty()) return Error{0, bad};
  lines.finish(line);
  return ok_status();
}

}  // namespace acctl::engine
