// The narrow Docker Engine interface acctl needs: plain structs of std types, no libcurl, no JSON.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"

namespace acctl::engine {

using Labels = std::map<std::string, std::string>;
// Engine-side filters, e.g. {"label": {"ac.managed-by=acctl", "ac.kind"}}; values of one key are
// OR-ed by the engine, keys are AND-ed.
using Filters = std::map<std::string, std::vector<std::string>>;

// Filters matching every label given (as "k=v").
Filters label_filters(const Labels& labels);

struct VersionInfo {
  std::string server_version;      // e.g. "20.10.24+dfsg1"
  std::string api_version;         // negotiated; the /v1.xx prefix of every call
  std::string server_api_version;  // the newest the server speaks
  std::string os;                  // "linux"
  std::string arch;
  std::string kernel_version;
  std::vector<std::string> runtimes;  // names from GET /info, sorted
  std::string default_runtime;
};

struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;  // without the engine's leading '/'
  std::string image;
  Labels labels;
  std::string state;   // created, running, paused, restarting, removing, exited, dead
  std::string status;  // human text, e.g. "Up 3 minutes"
  int64_t created = 0;
};

struct RestartPolicy {
  std::string name;  // "", "no", "always", "unless-stopped", "on-failure"
  int maximum_retry_count = 0;
  bool operator==(const RestartPolicy&) const = default;
};

// One GPU request. gpus=all is count -1; gpus=2 is count 2; gpus=["0","1"] is device_ids.
struct DeviceRequest {
  std::string driver;  // "" lets the engine pick (nvidia)
  int count = 0;
  std::vector<std::string> device_ids;
  std::vector<std::vector<std::string>> capabilities;  // [["gpu"]] for GPUs
  bool operator==(const DeviceRequest&) const = default;
};

// The HostConfig fields acctl sets and compares. Zero means "engine default" for the numbers.
struct HostConfig {
  std::string runtime;  // "runsc", "runc", "" = engine default
  int64_t nano_cpus = 0;
  int64_t memory = 0;       // bytes
  int64_t memory_swap = 0;  // bytes; -1 = unlimited swap
  int64_t pids_limit = 0;   // 0 = unlimited
  RestartPolicy restart_policy;
  std::vector<std::string> binds;  // "host:container[:opts]"
  std::string network_mode;
  std::vector<DeviceRequest> device_requests;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::vector<std::string> security_opt;
  bool readonly_rootfs = false;
  std::map<std::string, std::string> tmpfs;  // path -> mount options
  bool privileged = false;
  std::string cgroupns_mode;  // "host", "private", "" = engine default
  // LogConfig: the log driver ("" = the engine's default, and then no options) and its options
  // (json-file: max-size, max-file).
  std::string log_driver;
  std::map<std::string, std::string> log_options;
  bool operator==(const HostConfig&) const = default;
};

struct ContainerConfig {
  std::string image;  // as the container was created from (name, not id)
  std::vector<std::string> env;
  std::vector<std::string> cmd;
  std::vector<std::string> entrypoint;
  std::string working_dir;
  std::string user;
  std::string hostname;
  bool tty = false;
  bool open_stdin = false;
  Labels labels;
};

struct ContainerState {
  std::string status;  // created, running, paused, restarting, removing, exited, dead
  bool running = false;
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;
  std::string started_at;   // RFC 3339, engine's zero time when never started
  std::string finished_at;  // RFC 3339
  std::string health;  // the image's HEALTHCHECK: "starting", "healthy", "unhealthy", "" = none
};

struct EndpointInfo {
  std::string network_id;
  std::string ip_address;  // what the engine assigned
  std::string ipam_ipv4;   // the static address asked for, if any
  std::vector<std::string> aliases;
  std::string gateway;
};

struct ContainerInfo {
  std::string id;
  std::string name;   // without the leading '/'
  std::string image;  // image id the container runs
  std::string created;
  int restart_count = 0;
  ContainerState state;
  ContainerConfig config;
  HostConfig host_config;
  std::map<std::string, EndpointInfo> networks;  // by network name
};

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> cmd;  // empty = the image's
  // nullopt = the image's; an empty vector explicitly clears it.
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> env;  // "K=V"
  Labels labels;
  std::string working_dir;
  std::string user;
  std::string hostname;
  bool tty = false;
  bool open_stdin = false;
  // Close the process's stdin when the first attached client half-closes its stdin (docker run
  // -i sets this); without it the engine keeps stdin open and ends that client's output instead.
  bool stdin_once = false;
  HostConfig host_config;
  // The network to join at creation (also set host_config.network_mode to it), with an optional
  // static IPv4 address and aliases.
  std::string network;
  std::string ipv4_address;
  std::vector<std::string> network_aliases;
  // Further networks the container joins after creation, before it starts (the engine's create
  // call takes one network only).
  std::vector<std::string> extra_networks;
};

// Live-updatable limits (POST /containers/{id}/update); unset fields are left as they are.
struct ResourceUpdate {
  std::optional<int64_t> nano_cpus{};
  std::optional<int64_t> memory{};
  std::optional<int64_t> memory_swap{};
  std::optional<int64_t> pids_limit{};
};

struct IpamPool {
  std::string subnet;
  std::string gateway;
  std::string ip_range;
  bool operator==(const IpamPool&) const = default;
};

struct NetworkSpec {
  std::string name{};
  std::string driver = "bridge";
  bool internal = false;
  bool attachable = false;
  std::vector<IpamPool> ipam{};
  Labels labels{};
  std::map<std::string, std::string> options{};
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::string driver;
  std::string scope;
  bool internal = false;
  std::vector<IpamPool> ipam;
  Labels labels;
  std::map<std::string, std::string> options;
  std::map<std::string, std::string> containers;  // container id -> IPv4 address (CIDR form)
};

struct VolumeSpec {
  std::string name{};
  std::string driver = "local";
  Labels labels{};
  std::map<std::string, std::string> driver_opts{};
};

struct VolumeInfo {
  std::string name;
  std::string driver;
  std::string mountpoint;
  std::string created_at;
  Labels labels;
};

struct ImageInfo {
  std::string id;
  std::vector<std::string> repo_tags;
  Labels labels;
  std::string created;
  int64_t size = 0;
  // RootFS.Layers of an inspect, bottom first: each layer's diff id, the sha256 of its
  // uncompressed tar ("sha256:…"). Empty in a listing (GET /images/json does not carry them).
  std::vector<std::string> layers{};
};

// One sample of a container's usage (GET /containers/{id}/stats?stream=false).
struct ContainerStats {
  double cpu_percent = 0;    // of one CPU: 150 means one and a half CPUs busy
  int64_t memory_usage = 0;  // bytes, page cache excluded
  int64_t memory_limit = 0;  // bytes; the machine's memory when unlimited
  int64_t pids = 0;
};

// What the engine's objects take on disk (GET /system/df).
struct DiskUsage {
  int64_t images = 0;      // bytes of every image layer, shared layers once
  int64_t containers = 0;  // writable layers
  int64_t volumes = 0;
  int64_t build_cache = 0;
  size_t image_count = 0, container_count = 0, volume_count = 0;
};

// Takes the bytes of a download as they arrive; false aborts it.
using ByteSink = std::function<bool(std::string_view bytes)>;

// Pulls the bytes of an upload (a tar stream): fills up to `size` bytes, returns how many were
// written, 0 at the end. A negative return aborts the upload.
using ByteSource = std::function<std::ptrdiff_t(char* buffer, std::size_t size)>;
ByteSource source_from_string(std::string bytes);
// Reads a file lazily; an unreadable file aborts the upload with an error.
ByteSource source_from_file(std::string path);

struct ImportSpec {
  std::string reference{};             // "repo:tag"
  Labels labels{};                     // applied as LABEL changes
  std::vector<std::string> changes{};  // Dockerfile instructions, e.g. `CMD ["/bin/sh"]`
  std::string message{};
};

struct BuildSpec {
  std::string tag{};  // "repo:tag"
  std::string dockerfile = "Dockerfile";
  Labels labels{};
  std::map<std::string, std::string> build_args{};
  bool no_cache = false;
  // "Dockerfile may pull": no registry is reachable here, so acctl never asks for it.
  bool pull = false;
};

// One line of build or import progress: `text` is what a person reads ("Step 1/2 : FROM …").
struct ProgressLine {
  std::string text{};
  std::string json{};  // the engine's JSON line, for -o json
};
using ProgressFn = std::function<void(const ProgressLine&)>;

enum class LogStream { kStdin = 0, kStdout = 1, kStderr = 2, kRaw = 3 };

struct LogOptions {
  bool follow = false;
  int64_t since = 0;     // unix seconds; 0 = from the start
  int64_t since_ns = 0;  // unix nanoseconds, finer than since (which it overrides when set)
  std::string tail = "all";
  bool stdout = true;
  bool stderr = true;
  bool timestamps = false;
  // Whether the container has a TTY (raw stream); nullopt = ask the engine first.
  std::optional<bool> tty{};
};
// Gets bytes as they arrive; return false to stop reading.
using LogFn = std::function<bool(LogStream stream, std::string_view bytes)>;

struct AttachOptions {
  bool stdin = true;
  bool stdout = true;
  bool stderr = true;
  bool logs = false;  // first replay what the container printed before the attach
  // Whether the container has a TTY (raw stream); nullopt = ask the engine first.
  std::optional<bool> tty{};
};

// An interactive session with a container's stdio. One thread may read while another writes,
// half-closes or resizes. Destroying it ends the session (the process keeps running).
class AttachedStream {
 public:
  enum class ReadResult {
    kData,     // on_bytes got what arrived
    kIdle,     // nothing arrived within the timeout
    kEnded,    // the engine closed the stream: the process exited or its output ended
    kStopped,  // on_bytes returned false; what it did not take comes with the next read
  };

  virtual ~AttachedStream() = default;

  // With a TTY the output is the terminal's raw bytes (LogStream::kRaw); without, the engine's
  // multiplexed frames are split into kStdout and kStderr.
  virtual bool tty() const = 0;
  // Sends all of `bytes` to the process's stdin.
  virtual Status write(std::string_view bytes) = 0;
  // Half-closes: the process reads EOF after what was written (given the container's
  // stdin_once); output keeps coming until the engine ends the stream.
  virtual Status close_stdin() = 0;
  // Waits up to `timeout` for output (negative: without limit) and passes what arrived on.
  virtual Result<ReadResult> read(const LogFn& on_bytes, std::chrono::milliseconds timeout) = 0;
  // Sets the TTY size (POST /containers/{id}/resize, or /exec/{id}/resize for an exec); an error
  // for a container or exec without a TTY.
  virtual Status resize(int rows, int cols) = 0;

  // Reads until the stream ends or on_bytes returns false.
  Status read_to_end(const LogFn& on_bytes);
};

// A further process in a running container (POST /containers/{id}/exec), what `acctl shell` runs.
struct ExecSpec {
  std::vector<std::string> cmd{};  // required: an exec has no image default
  std::vector<std::string> env{};  // "K=V", added to the container's
  std::string user{};              // "" = the container's
  std::string working_dir{};       // "" = the container's
  bool tty = false;
  // Off unless asked for, as with docker exec -i: a process given a stdin nobody writes to may
  // wait on it forever. Half-closing an attached stdin ends it (without a TTY; see start_exec).
  bool attach_stdin = false;
  bool attach_stdout = true;
  bool attach_stderr = true;
  bool privileged = false;
};

// GET /exec/{id}/json. Ask soon after the end: the engine's clean-up forgets a finished exec some
// minutes later (404), and at once when it never ran and its container stops.
struct ExecInfo {
  std::string id;
  std::string container_id;
  bool running = false;
  // nullopt until the process has ended: not started yet, or still running.
  std::optional<int> exit_code{};
  // The host's pid of the process; under runsc, of the runsc process that serves the exec in the
  // sandbox (the process's own pid lives in the sandbox). 0 before the start.
  int64_t pid = 0;
  bool tty = false;  // as created
};

struct Event {
  std::string type;    // container, network, volume, image, daemon
  std::string action;  // create, start, die, destroy, …
  std::string actor_id;
  std::map<std::string, std::string> attributes;  // labels and name, e.g. "name", "exitCode"
  int64_t time_nano = 0;
  std::string json;
};

struct EventOptions {
  Filters filters{};
  int64_t since = 0;  // unix seconds; 0 = only new events
  int64_t until = 0;  // unix seconds; 0 = no end
  // Polled about once a second while no event arrives; true stops the stream.
  std::function<bool()> stop{};
};
// Return false to stop the stream.
using EventFn = std::function<bool(const Event&)>;

// The Docker Engine as acctl sees it. Every call returns its error as a value; an object that
// does not exist gives an Error whose not_found() is true.
class EngineApi {
 public:
  virtual ~EngineApi() = default;

  virtual Result<VersionInfo> version() = 0;
  // GET /_ping: whether the engine answers at all (a call that touches no container).
  virtual Status ping() = 0;

  // Containers.
  virtual Result<std::vector<ContainerSummary>> list_containers(const Filters& filters,
                                                                bool all) = 0;
  virtual Result<ContainerInfo> inspect_container(const std::string& id_or_name) = 0;
  virtual Result<std::string> create_container(const ContainerSpec& spec) = 0;  // -> id
  virtual Status start_container(const std::string& id) = 0;
  virtual Status stop_container(const std::string& id, int timeout_seconds) = 0;
  virtual Status kill_container(const std::string& id, const std::string& signal) = 0;
  virtual Status remove_container(const std::string& id, bool force, bool volumes) = 0;
  virtual Status update_resources(const std::string& id, const ResourceUpdate& update) = 0;
  // Blocks until the container stops; -> its exit code.
  virtual Result<int> wait_container(const std::string& id) = 0;
  virtual Status logs(const std::string& id, const LogOptions& options, const LogFn& on_bytes) = 0;
  // Connects to a container's stdin/stdout/stderr. With options.tty unset the container is
  // inspected first and one that is not running is a conflict (409); with it set there is no
  // inspection and, as the engine does, a container not started yet streams once it starts.
  virtual Result<std::unique_ptr<AttachedStream>> attach_container(
      const std::string& id, const AttachOptions& options) = 0;

  // Exec: a further process in a running container; -> the exec's id. A container that is not
  // running is a conflict (409); the process starts only with start_exec. When the container
  // stops, the engine forgets its execs that have not run to the end (404 from then on).
  virtual Result<std::string> create_exec(const std::string& container, const ExecSpec& spec) = 0;
  // Starts the exec with its stdio on the returned stream; `tty` must be the spec's. The stream
  // ends when the process does, and inspect_exec then has its exit code. An exec starts once: a
  // second start is a conflict (409). With a TTY, close_stdin gives the process no EOF: the
  // engine ends the stream's output instead and the process runs on, so send the terminal's ^D
  // ("\x04") and keep stdin open.
  virtual Result<std::unique_ptr<AttachedStream>> start_exec(const std::string& exec_id,
                                                             bool tty) = 0;
  virtual Result<ExecInfo> inspect_exec(const std::string& exec_id) = 0;

  // Networks.
  virtual Result<std::vector<NetworkInfo>> list_networks(const Filters& filters) = 0;
  virtual Result<NetworkInfo> inspect_network(const std::string& id_or_name) = 0;
  virtual Result<std::string> create_network(const NetworkSpec& spec) = 0;  // -> id
  virtual Status remove_network(const std::string& id_or_name) = 0;
  virtual Status connect_network(const std::string& network, const std::string& container,
                                 const std::string& ipv4_address,
                                 const std::vector<std::string>& aliases) = 0;
  virtual Status disconnect_network(const std::string& network, const std::string& container,
                                    bool force) = 0;

  // Volumes.
  virtual Result<std::vector<VolumeInfo>> list_volumes(const Filters& filters) = 0;
  virtual Result<VolumeInfo> inspect_volume(const std::string& name) = 0;
  virtual Result<VolumeInfo> create_volume(const VolumeSpec& spec) = 0;
  virtual Status remove_volume(const std::string& name, bool force) = 0;

  // Images. No pull: no registry is reachable where acctl runs.
  virtual Result<ImageInfo> inspect_image(const std::string& reference) = 0;
  virtual Result<std::vector<ImageInfo>> list_images(const Filters& filters) = 0;
  virtual Status remove_image(const std::string& reference, bool force) = 0;
  // Imports a root filesystem tar as an image; -> image id.
  virtual Result<std::string> import_image(const ImportSpec& spec, const ByteSource& tar) = 0;
  // Builds from a tar of the build context; progress gets each line; -> image id. A failing
  // build step is an Error carrying the engine's errorDetail message.
  virtual Result<std::string> build_image(const BuildSpec& spec, const ByteSource& context,
                                          const ProgressFn& on_progress) = 0;
  // Writes images with their tags as one tar (GET /images/get), the way images move between
  // engines without a registry.
  virtual Status save_images(const std::vector<std::string>& references, const ByteSink& sink) = 0;
  // Loads a tar written by save_images (POST /images/load).
  virtual Status load_images(const ByteSource& tar, const ProgressFn& on_progress) = 0;

  // Usage.
  virtual Result<ContainerStats> stats(const std::string& id) = 0;
  virtual Result<DiskUsage> disk_usage() = 0;

  // Streams events until the callback returns false, options.stop() says so, or `until` passes.
  virtual Status events(const EventOptions& options, const EventFn& on_event) = 0;
};

}  // namespace acctl::engine
