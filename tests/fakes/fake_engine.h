// In-memory EngineApi for tests: deterministic ids, label filters, a call log and injected
// failures.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/endpoint.h"
#include "engine/engine_api.h"

namespace acctl::engine {

class FakeEngine final : public EngineApi {
 public:
  FakeEngine();

  // --- What tests look at and set up --------------------------------------------------------
  // One entry per call, "operation subject", e.g. "create_container ac-sb-dev"; the subject is
  // the object's name where it has one (ids are noise in assertions).
  std::vector<std::string> calls() const;
  // Calls that change state (everything but version/list/inspect/logs/events/wait and the
  // interactive attach/resize; an exec's create and start count, as its process may change the
  // container).
  std::vector<std::string> mutating_calls() const;
  void clear_calls();

  // The next matching call fails with `error`: `operation` like "create_container" ("" = any),
  // after letting `skip` matching calls through. Each injection fires once.
  void fail(const std::string& operation, Error error, int skip = 0);
  // The nth call from now (1 = the next one), whatever it is, fails.
  void fail_nth_call(int n, Error error);

  // An engine that stops answering: calls whose log entry starts with `call` ("" = every
  // call) get no answer; each waits out its time (the thread's CallTimeout, the options'
  // request timeout, the deadline: see engine/deadline.h) and fails as the libcurl client's
  // would. Other calls answer as usual.
  void stop_answering(const std::string& call = "");
  void answer_again();
  // The timeouts a client of this engine was given (the test's connect hands them over).
  void set_options(const EngineOptions& options);

  void set_runtimes(std::vector<std::string> runtimes);
  void add_image(const std::string& reference, const Labels& labels = {});
  // An image made of these layers (each the bytes of a layer tar, bottom first), as the engine
  // keeps one: diff ids are their sha256, the id the sha256 of the image's config. -> the id.
  std::string add_image_with_layers(const std::string& reference,
                                    const std::vector<std::string>& layer_tars,
                                    const Labels& labels = {});
  // The next save_images streams `tar` instead of the tar it would write: a save tar laid out
  // as another engine (or a test) laid it out, for the images this fake holds.
  void replace_next_save(std::string tar);
  // The bytes of every tar load_images was given, in order.
  std::vector<std::string> loaded_tars() const;
  // A running container's process ends with `exit_code` (as if it exited by itself).
  void simulate_exit(const std::string& id_or_name, int exit_code);
  // What logs() returns for a container.
  void set_logs(const std::string& id_or_name,
                std::vector<std::pair<LogStream, std::string>> chunks);
  // What an attached stream reads after the logs it replays (AttachOptions::logs), one chunk per
  // read; after the last the stream ends, as when the process exits. Streams are passed as
  // kRaw for a TTY container.
  void set_attach_output(const std::string& id_or_name,
                         std::vector<std::pair<LogStream, std::string>> chunks);
  // Everything attached streams wrote to a container's stdin, and whether one closed it.
  std::string attached_stdin(const std::string& id_or_name) const;
  bool attached_stdin_closed(const std::string& id_or_name) const;
  // What an exec's process does: it gets everything written to its stdin (empty when not
  // attached), writes its output and returns its exit code. It runs when the stream is first
  // read, or with stdin attached once stdin has ended, as a process reading to EOF would: until
  // then reads are idle. Stdin ends when it is closed, or with a TTY at a ^D ("\x04"); closing a
  // TTY exec's stdin ends the stream instead and the process never ends, as with the engine.
  // Called without the fake's lock held. Without one, an exec prints nothing and exits 0.
  using ExecHandler = std::function<int(const ExecSpec& spec, std::string_view input,
                                        std::string& out, std::string& err)>;
  void set_exec_handler(ExecHandler handler);

  // --- EngineApi --------------------------------------------------------------------------------
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
  // Records "attach_container name"; resizing records "resize_container name 24x80".
  Result<std::unique_ptr<AttachedStream>> attach_container(const std::string& id,
                                                           const AttachOptions& options) override;

  // Records "create_exec name cmd…"; then "start_exec name", "inspect_exec name" and
  // "resize_exec name 24x80", by the exec's container. The stream's output is the handler's:
  // kStdout and kStderr, or both as kRaw with a TTY.
  Result<std::string> create_exec(const std::string& container, const ExecSpec& spec) override;
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
  // Inspect has the image's layers; a listing has none, as with the engine.
  // Saving writes a tar laid out as Docker 20.10's docker save: <v1 id>/{VERSION,json,layer.tar}
  // per layer (a layer whose diff id was written already is a symlink to that layer.tar),
  // <id hex>.json configs, manifest.json, repositories. Loading reads one such tar: as the
  // engine does, it opens a layer's file only when it lacks the layer's chain, and checks the
  // file's sha256 against the config's diff id.
  Status save_images(const std::vector<std::string>& references, const ByteSink& sink) override;
  Status load_images(const ByteSource& tar, const ProgressFn& on_progress) override;

  // Running containers use 1 MiB and one process; the rest is zero.
  Result<ContainerStats> stats(const std::string& id) override;
  Result<DiskUsage> disk_usage() override;

  // Replays the events the fake's own operations produced, filtered; stops at the last one.
  Status events(const EventOptions& options, const EventFn& on_event) override;

 private:
  struct Injection {
    std::string operation;
    int skip = 0;
    Error error;
  };
  struct Container {
    ContainerInfo info;
    std::vector<std::pair<LogStream, std::string>> logs;
    std::vector<std::pair<LogStream, std::string>> attach_output;
    std::string stdin_received;
    bool stdin_closed = false;
  };
  struct Exec {
    std::string container_id;
    ExecSpec spec;
    bool started = false;
    std::optional<int> exit_code;
    int64_t pid = 0;
  };
  friend class FakeAttachedStream;
  friend class FakeExecStream;

  // Logs the call and returns the injected failure, if one fires. Call with mutex_ held.
  std::optional<Error> record(const std::string& operation, const std::string& subject);
  // The name of an exec's container, for the call log; the exec id when it is unknown.
  std::string exec_subject(const std::string& exec_id) const;
  std::string next_id();
  std::string now();
  Container* find_container(const std::string& id_or_name);
  const Container* find_container(const std::string& id_or_name) const;
  NetworkInfo* find_network(const std::string& id_or_name);
  ImageInfo* find_image(const std::string& reference);
  // The image's config as the engine keeps it (the one it was loaded or made with).
  std::string image_config(const ImageInfo& image) const;
  // The chain ids of every image's layers.
  std::set<std::string> chains() const;
  void emit(const std::string& type, const std::string& action, const std::string& id,
            const std::string& name, const Labels& labels);

  // A mutex whose unlock lets a call that is not to be answered wait out its time, after it
  // released the fake for the calls that are answered.
  class Mutex {
   public:
    void lock() { m_.lock(); }
    void unlock();
    static void hang_after_unlock(std::chrono::milliseconds d);

   private:
    std::mutex m_;
  };
  mutable Mutex mutex_;  // the executor calls from several threads
  std::vector<std::string> unanswered_;  // call prefixes that get no answer
  EngineOptions options_;
  std::vector<std::string> calls_;
  std::vector<Injection> injections_;
  std::map<int, Error> nth_failures_;  // by call number
  int call_count_ = 0;
  int next_id_ = 0;
  int clock_ = 0;
  std::vector<std::string> runtimes_;
  std::map<std::string, Container> containers_;  // by id
  std::map<std::string, NetworkInfo> networks_;  // by id
  std::map<std::string, VolumeInfo> volumes_;    // by name
  std::map<std::string, ImageInfo> images_;      // by id
  std::map<std::string, std::string> configs_;   // image id -> config JSON, when it has one
  std::map<std::string, std::string> layer_tars_;  // diff id -> the layer's tar
  std::optional<std::string> next_save_;
  std::vector<std::string> loaded_tars_;
  std::vector<Event> events_;
  std::map<std::string, Exec> execs_;  // by id
  ExecHandler exec_handler_;
  int64_t next_pid_ = 100;
};

}  // namespace acctl::engine
