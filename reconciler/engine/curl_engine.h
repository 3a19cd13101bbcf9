// EngineApi over libcurl: unix socket, TCP or TLS, with the API version negotiated at connect.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/endpoint.h"
#include "engine/engine_api.h"
#include "engine/wire.h"

namespace acctl::engine {

class CurlEngine final : public EngineApi {
 public:
  // How long an image build, import, save or load may go without a byte before it has failed:
  // long, since a build step may work quietly for minutes.
  static constexpr long kImageStallMs = 15 * 60 * 1000;
  // Reaches the engine with GET /version and settles the API version every later call uses.
  static Result<std::unique_ptr<CurlEngine>> connect(const EngineOptions& options);
  ~CurlEngine() override;
  CurlEngine(const CurlEngine&) = delete;
  CurlEngine& operator=(const CurlEngine&) = delete;

  const std::string& api_version() const { return api_version_; }
  const EngineOptions& options() const { return options_; }

  Result<VersionInfo> version() override;
  Status ping() override;

  Result<std::vector<ContainerSummary>> list_containers(const Filters& filters, bool all) override;
  Result<ContainerInfo> inspect_container(const std::string& id_or_name) override;
  Result<std::string> create_container(const ContainerSpec& spec) override;
  Status start_container(const std::string& id) override;
  Status stop_container(const std::string& id, int timeout_seconds) override;
  Status kill_container(const std::string& id, const std::string& signal) override;
  Status remove_container(const std::string& id, bool force, bool volumes) override;
  Status update_resources(const std::string& id, const ResourceUpdate& update) override;
  Result<int> wait_container(const std::string& id) override;
  Status logs(const std::string& id, const LogOptions& options, const LogFn& on_bytes) override;
  // Upgrades a connection of its own (not one of the pool's) and speaks raw stream bytes on it.
  // The stream must not outlive this engine: its resize() goes through perform().
  Result<std::unique_ptr<AttachedStream>> attach_container(const std::string& id,
                                                           const AttachOptions& options) override;

  Result<std::string> create_exec(const std::string& container, const ExecSpec& spec) override;
  // Inspects the exec first; then upgrades a connection as attach_container does, with the same
  // lifetime rule for the stream.
  Result<std::unique_ptr<AttachedStream>> start_exec(const std::string& exec_id, bool tty) override;
  Result<ExecInfo> inspect_exec(const std::string& exec_id) override;

  Result<std::vector<NetworkInfo>> list_networks(const Filters& filters) override;
  Result<NetworkInfo> inspect_network(const std::string& id_or_name) override;
  Result<std::string> create_network(const NetworkSpec& spec) override;
  Status remove_network(const std::string& id_or_name) override;
  Status connect_network(const std::string& network, const std::string& container,
                         const std::string& ipv4_address,
                         const std::vector<std::string>& aliases) override;
  Status disconnect_network(const std::string& network, const std::string& container,
                            bool force) override;

  Result<std::vector<VolumeInfo>> list_volumes(const Filters& filters) override;
  Result<VolumeInfo> inspect_volume(const std::string& name) override;
  Result<VolumeInfo> create_volume(const VolumeSpec& spec) override;
  Status remove_volume(const std::string& name, bool force) override;

  Result<ImageInfo> inspect_image(const std::string& reference) override;
  Result<std::vector<ImageInfo>> list_images(const Filters& filters) override;
  Status remove_image(const std::string& reference, bool force) override;
  Result<std::string> import_image(const ImportSpec& spec, const ByteSource& tar) override;
  Result<std::string> build_image(const BuildSpec& spec, const ByteSource& context,
                                  const ProgressFn& on_progress) override;
  Status save_images(const std::vector<std::string>& references, const ByteSink& sink) override;
  Status load_images(const ByteSource& tar, const ProgressFn& on_progress) override;

  Result<ContainerStats> stats(const std::string& id) override;
  Result<DiskUsage> disk_usage() override;

  Status events(const EventOptions& options, const EventFn& on_event) override;

  struct Request {
    std::string method = "GET";
    std::string path{};  // after the /v1.xx prefix, e.g. "/containers/json"
    QueryParams query{};
    std::string body{};
    std::string content_type = "application/json";
    const ByteSource* upload = nullptr;  // streams the body instead of `body`
    // Set for streaming replies: gets the body as it arrives (only for 2xx); false stops.
    std::function<bool(std::string_view)> on_data{};
    std::function<bool()> stop{};  // polled while a streaming reply is idle
    long extra_timeout_ms = 0;     // added to the per-request timeout (e.g. a stop's grace time)
    long stall_timeout_ms = 0;     // a stream that moves no byte for this long has failed
    bool versioned = true;
    std::string what{};  // for messages: "create container ac-sb-dev"
  };
  struct Response {
    long status = 0;
    std::string body;
  };
  // One HTTP exchange; HTTP statuses >= 400 and transport failures are Errors.
  Result<Response> perform(const Request& request);
  // Sends a tar upload whose reply streams JSON progress lines (build, import); -> the image id
  // the engine reports. An errorDetail line becomes the error.
  Result<std::string> upload_for_image(Request request, const ProgressFn& on_progress);
  // What a hijacked stream's resize() does: containers and execs resize at different paths.
  using ResizeFn = std::function<Status(int rows, int cols)>;

 private:
  CurlEngine(EngineOptions options, EngineAddress address);
  void* acquire_handle();
  void release_handle(void* handle);
  // Socket path, TLS files and connect timeout: what every handle needs to reach the engine.
  void set_connection_options(void* handle) const;
  // A libcurl failure as the caller should see it; `curl_code` is a CURLcode.
  Error transport_error(int curl_code, long status, const char* errbuf,
                        const std::string& what) const;
  Status simple(Request request);
  // Sends the request (attach, exec start) on a connection of its own, asking the engine to
  // upgrade it, and hands that connection over as the stream: raw bytes with a TTY, the engine's
  // frames split into stdout and stderr without. A refusal (404, 409) is an Error as usual.
  Result<std::unique_ptr<AttachedStream>> hijack(const Request& request, bool tty, ResizeFn resize);

  EngineOptions options_;
  EngineAddress address_;
  std::string api_version_;
  // Idle handles: each keeps its connection open, so a call reuses one instead of reconnecting;
  // concurrent calls (the executor's parallel steps) each take their own.
  std::mutex handles_mutex_;
  std::vector<void*> idle_handles_;
};

}  // namespace acctl::engine
