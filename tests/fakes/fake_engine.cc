// FakeEngine: containers, networks, volumes and images as maps, with the engine's visible rules.
#include "fakes/fake_engine.h"

#include "engine/deadline.h"

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <utility>
#include <cstdio>
#include <deque>
#include <memory>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace acctl::engine {

namespace {

const char* const kReadOnly[] = {
    "version",       "ping",            "list_containers", "inspect_container", "wait_container",   "logs",
    "list_networks", "inspect_network", "list_volumes",      "inspect_volume",   "inspect_image",
    "list_images",   "events",          "attach_container",  "resize_container", "save_images",
    "stats",         "disk_usage",      "inspect_exec",      "resize_exec"};

bool label_matches(const Labels& labels, const std::string& filter) {
  auto eq = filter.find('=');
  if (eq == std::string::npos) return labels.count(filter) > 0;
  auto it = labels.find(filter.substr(0, eq));
  return it != labels.end() && it->second == filter.substr(eq + 1);
}

// What an object shows to a filter: its id, names, labels and any other filterable fields.
struct Filterable {
  std::string id;
  std::vector<std::string> names;
  const Labels* labels = nullptr;
  std::map<std::string, std::string> fields;  // "status", "driver", "type", …
};

// The engine's semantics: label filters are AND-ed; values of any other key are OR-ed.
bool matches(const Filters& filters, const Filterable& o) {
  for (const auto& [key, values] : filters) {
    if (values.empty()) continue;
    if (key == "label") {
      for (const auto& v : values)
        if (!label_matches(*o.labels, v)) return false;
      continue;
    }
    bool any = false;
    for (const auto& v : values) {
      if (key == "id") {
        any |= o.id.rfind(v, 0) == 0;
      } else if (key == "name") {
        // The engine matches names as a regular expression; a substring covers acctl's uses.
        for (const auto& n : o.names) any |= n.find(v) != std::string::npos;
      } else if (key == "reference") {
        for (const auto& n : o.names) any |= n == v || n == v + ":latest";
      } else {
        auto it = o.fields.find(key);
        any |= it != o.fields.end() && it->second == v;
      }
    }
    if (!any) return false;
  }
  return true;
}

Error not_found(const std::string& what, const std::string& name) {
  return Error{404, "No such " + what + ": " + name};
}

std::string with_tag(const std::string& reference) {
  auto colon = reference.rfind(':');
  auto slash = reference.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
    return reference + ":latest";
  }
  return reference;
}

std::string drain(const ByteSource& source, bool& failed) {
  std::string bytes;
  char buffer[4096];
  failed = false;
  while (true) {
    std::ptrdiff_t n = source(buffer, sizeof buffer);
    if (n < 0) {
      failed = true;
      break;
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  return bytes;
}

}  // namespace

FakeEngine::FakeEngine() : runtimes_{"runc", "runsc"} {
  // Every engine has these three; acctl must never touch them.
  for (const char* name : {"bridge", "host", "none"}) {
    NetworkInfo n;
    n.id = next_id();
    n.name = name;
    n.driver = name == std::string("none") ? "null" : name;
    n.scope = "local";
    networks_[n.id] = n;
  }
}

std::vector<std::string> FakeEngine::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::vector<std::string> FakeEngine::mutating_calls() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& c : calls_) {
    std::string op = c.substr(0, c.find(' '));
    if (std::find(std::begin(kReadOnly), std::end(kReadOnly), op) == std::end(kReadOnly)) {
      out.push_back(c);
    }
  }
  return out;
}

void FakeEngine::clear_calls() {
  std::lock_guard lock(mutex_);
  calls_.clear();
}

void FakeEngine::fail(const std::string& operation, Error error, int skip) {
  std::lock_guard lock(mutex_);
  injections_.push_back({operation, skip, std::move(error)});
}

void FakeEngine::fail_nth_call(int n, Error error) {
  std::lock_guard lock(mutex_);
  nth_failures_[call_count_ + n] = std::move(error);
}

void FakeEngine::set_runtimes(std::vector<std::string> runtimes) {
  std::lock_guard lock(mutex_);
  runtimes_ = std::move(runtimes);
}

void FakeEngine::add_image(const std::string& reference, const Labels& labels) {
  std::lock_guard lock(mutex_);
  ImageInfo image{"sha256:" + next_id(), {with_tag(reference)}, labels, now(), 1024};
  images_[image.id] = image;
}

void FakeEngine::simulate_exit(const std::string& id_or_name, int exit_code) {
  std::lock_guard lock(mutex_);
  if (Container* c = find_container(id_or_name); c && c->info.state.running) {
    c->info.state.running = false;
    c->info.state.status = "exited";
    c->info.state.exit_code = exit_code;
    c->info.state.finished_at = now();
    emit("container", "die", c->info.id, c->info.name, c->info.config.labels);
  }
}

void FakeEngine::set_logs(const std::string& id_or_name,
                          std::vector<std::pair<LogStream, std::string>> chunks) {
  std::lock_guard lock(mutex_);
  if (Container* c = find_container(id_or_name)) c->logs = std::move(chunks);
}

void FakeEngine::set_attach_output(const std::string& id_or_name,
                                   std::vector<std::pair<LogStream, std::string>> chunks) {
  std::lock_guard lock(mutex_);
  if (Container* c = find_container(id_or_name)) c->attach_output = std::move(chunks);
}

std::string FakeEngine::attached_stdin(const std::string& id_or_name) const {
  std::lock_guard lock(mutex_);
  const Container* c = find_container(id_or_name);
  return c ? c->stdin_received : "";
}

bool FakeEngine::attached_stdin_closed(const std::string& id_or_name) const {
  std::lock_guard lock(mutex_);
  const Container* c = find_container(id_or_name);
  return c && c->stdin_closed;
}

void FakeEngine::set_exec_handler(ExecHandler handler) {
  std::lock_guard lock(mutex_);
  exec_handler_ = std::move(handler);
}

namespace {
thread_local std::optional<std::chrono::milliseconds> g_hang;
}  // namespace

void FakeEngine::Mutex::unlock() {
  m_.unlock();
  if (auto d = std::exchange(g_hang, std::nullopt)) std::this_thread::sleep_for(*d);
}

void FakeEngine::Mutex::hang_after_unlock(std::chrono::milliseconds d) {
  g_hang = d;
}

void FakeEngine::stop_answering(const std::string& call) {
  std::lock_guard lock(mutex_);
  unanswered_.push_back(call);
}

void FakeEngine::answer_again() {
  std::lock_guard lock(mutex_);
  unanswered_.clear();
}

void FakeEngine::set_options(const EngineOptions& options) {
  std::lock_guard lock(mutex_);
  options_ = options;
}

std::optional<Error> FakeEngine::record(const std::string& operation, const std::string& subject) {
  calls_.push_back(subject.empty() ? operation : operation + " " + subject);
  ++call_count_;
  for (const std::string& prefix : unanswered_) {
    if (!calls_.back().starts_with(prefix)) continue;
    auto budget = call_budget(options_, std::chrono::milliseconds(options_.request_timeout_ms));
    if (!budget) return deadline_error(calls_.back(), options_.host);
    Mutex::hang_after_unlock(*budget);
    return timeout_error(calls_.back(), *budget, options_.host);
  }
  if (auto it = nth_failures_.find(call_count_); it != nth_failures_.end()) {
    Error e = it->second;
    nth_failures_.erase(it);
    return e;
  }
  for (auto it = injections_.begin(); it != injections_.end(); ++it) {
    if (!it->operation.empty() && it->operation != operation) continue;
    if (it->skip > 0) {
      --it->skip;
      continue;
    }
    Error e = it->error;
    injections_.erase(it);
    return e;
  }
  return std::nullopt;
}

std::string FakeEngine::next_id() {
  // 64 hex digits like the engine's, but counting up so runs are reproducible.
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", ++next_id_);
  return buf;
}

std::string FakeEngine::now() {
  // A logical clock: deterministic and strictly increasing.
  char buf[40];
  ++clock_;
  std::snprintf(buf, sizeof buf, "2026-01-01T00:%02d:%02d.000000000Z", clock_ / 60 % 60,
                clock_ % 60);
  return buf;
}

const FakeEngine::Container* FakeEngine::find_container(const std::string& key) const {
  return const_cast<FakeEngine*>(this)->find_container(key);
}

FakeEngine::Container* FakeEngine::find_container(const std::string& key) {
  if (key.empty()) return nullptr;
  for (auto& [id, c] : containers_)
    if (id == key || c.info.name == key) return &c;
  // As the engine does: a unique id prefix names a container too.
  Container* found = nullptr;
  for (auto& [id, c] : containers_) {
    if (id.rfind(key, 0) == 0) {
      if (found) return nullptr;
      found = &c;
    }
  }
  return found;
}

NetworkInfo* FakeEngine::find_network(const std::string& key) {
  if (key.empty()) return nullptr;
  for (auto& [id, n] : networks_)
    if (id == key || n.name == key) return &n;
  return nullptr;
}

ImageInfo* FakeEngine::find_image(const std::string& reference) {
  if (reference.empty()) return nullptr;
  std::string tagged = with_tag(reference);
  for (auto& [id, image] : images_) {
    if (id == reference || id == "sha256:" + reference) return &image;
    if (std::find(image.repo_tags.begin(), image.repo_tags.end(), tagged) != image.repo_tags.end())
      return &image;
  }
  return nullptr;
}

void FakeEngine::emit(const std::string& type, const std::string& action, const std::string& id,
                      const std::string& name, const Labels& labels) {
  Event e;
  e.type = type;
  e.action = action;
  e.actor_id = id;
  e.attributes = labels;
  if (!name.empty()) e.attributes["name"] = name;
  e.time_nano = static_cast<int64_t>(events_.size() + 1);
  events_.push_back(std::move(e));
  // As the engine does: a container that stops takes its execs that have not run to the end with
  // it (finished ones stay inspectable), one that goes takes them all.
  if (type == "container" && (action == "die" || action == "destroy")) {
    std::erase_if(execs_, [&](const auto& x) {
      return x.second.container_id == id && (action == "destroy" || !x.second.exit_code);
    });
  }
}

Status FakeEngine::ping() {
  std::lock_guard lock(mutex_);
  if (auto e = record("ping", "")) return *e;
  return ok_status();
}

Result<VersionInfo> FakeEngine::version() {
  std::lock_guard lock(mutex_);
  if (auto e = record("version", "")) return *e;
  VersionInfo v;
  v.server_version = "20.10.24-fake";
  v.api_version = "1.41";
  v.server_api_version = "1.41";
  v.os = "linux";
  v.arch = "amd64";
  v.runtimes = runtimes_;
  std::sort(v.runtimes.begin(), v.runtimes.end());
  v.default_runtime = "runc";
  return v;
}

// Containers -------------------------------------------------------------------------------------

Result<std::vector<ContainerSummary>> FakeEngine::list_containers(const Filters& filters,
                                                                  bool all) {
  std::lock_guard lock(mutex_);
  if (auto e = record("list_containers", "")) return *e;
  std::vector<ContainerSummary> out;
  for (const auto& [id, c] : containers_) {
    const ContainerInfo& i = c.info;
    if (!all && !i.state.running) continue;
    Filterable f{id, {i.name}, &i.config.labels, {{"status", i.state.status}}};
    if (!matches(filters, f)) continue;
    std::string status = i.state.running ? "Up"
                         : i.state.status == "created"
                             ? "Created"
                             : "Exited (" + std::to_string(i.state.exit_code) + ")";
    out.push_back({id, {i.name}, i.config.image, i.config.labels, i.state.status, status, 0});
  }
  return out;
}

Result<ContainerInfo> FakeEngine::inspect_container(const std::string& key) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("inspect_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  return c->info;
}

Result<std::string> FakeEngine::create_container(const ContainerSpec& spec) {
  std::lock_guard lock(mutex_);
  if (auto e = record("create_container", spec.name)) return *e;
  if (!spec.name.empty() && find_container(spec.name) &&
      find_container(spec.name)->info.name == spec.name) {
    return Error{409, "Conflict. The container name \"/" + spec.name + "\" is already in use"};
  }
  ImageInfo* image = find_image(spec.image);
  if (!image) return not_found("image", spec.image);
  const std::string& runtime = spec.host_config.runtime;
  if (!runtime.empty() &&
      std::find(runtimes_.begin(), runtimes_.end(), runtime) == runtimes_.end()) {
    return Error{400, "Unknown runtime specified " + runtime};
  }
  NetworkInfo* network = nullptr;
  if (!spec.network.empty()) {
    network = find_network(spec.network);
    if (!network) return not_found("network", spec.network);
  }
  Container c;
  ContainerInfo& i = c.info;
  i.id = next_id();
  i.name = spec.name.empty() ? "fake_" + i.id.substr(56) : spec.name;
  i.image = image->id;
  i.created = now();
  i.state.status = "created";
  i.state.started_at = i.state.finished_at = "0001-01-01T00:00:00Z";
  i.config.image = spec.image;
  i.config.env = spec.env;
  i.config.cmd = spec.cmd;
  if (spec.entrypoint) i.config.entrypoint = *spec.entrypoint;
  i.config.working_dir = spec.working_dir;
  i.config.user = spec.user;
  i.config.hostname = spec.hostname.empty() ? i.id.substr(0, 12) : spec.hostname;
  i.config.tty = spec.tty;
  i.config.open_stdin = spec.open_stdin;
  i.config.labels = image->labels;  // as the engine does: image labels, overridden by the spec's
  for (const auto& [k, v] : spec.labels) i.config.labels[k] = v;
  i.host_config = spec.host_config;
  if (i.host_config.network_mode.empty())
    i.host_config.network_mode = network ? network->name : "default";
  std::string net_name = network ? network->name : "bridge";
  NetworkInfo* net = network ? network : find_network("bridge");
  EndpointInfo ep;
  ep.network_id = net->id;
  ep.ipam_ipv4 = network ? spec.ipv4_address : "";
  ep.aliases = network ? spec.network_aliases : std::vector<std::string>{};
  i.networks[net_name] = ep;
  containers_[i.id] = c;
  emit("container", "create", i.id, i.name, i.config.labels);
  return i.id;
}

Status FakeEngine::start_container(const std::string& key) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("start_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerInfo& i = c->info;
  if (i.state.running) return ok_status();  // the engine answers 304
  i.state = {"running", true, 0, false, "", now(), i.state.finished_at};
  // The engine assigns addresses when the container joins its networks, at start.
  for (auto& [name, ep] : i.networks) {
    ep.ip_address =
        ep.ipam_ipv4.empty() ? "172.17.0." + std::to_string(next_id_ % 250 + 2) : ep.ipam_ipv4;
    if (auto it = networks_.find(ep.network_id); it != networks_.end()) {
      it->second.containers[i.id] = ep.ip_address;
    }
  }
  emit("container", "start", i.id, i.name, i.config.labels);
  return ok_status();
}

Status FakeEngine::stop_container(const std::string& key, int) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("stop_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerInfo& i = c->info;
  if (!i.state.running) return ok_status();  // 304
  i.state.running = false;
  i.state.status = "exited";
  i.state.exit_code = 0;  // as a process that exits cleanly on SIGTERM
  i.state.finished_at = now();
  emit("container", "die", i.id, i.name, i.config.labels);
  emit("container", "stop", i.id, i.name, i.config.labels);
  return ok_status();
}

Status FakeEngine::kill_container(const std::string& key, const std::string& signal) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("kill_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerInfo& i = c->info;
  if (!i.state.running) return Error{409, "Container " + i.id + " is not running"};
  std::string sig = signal.starts_with("SIG") ? signal.substr(3) : signal;
  if (sig == "HUP" || sig == "USR1" || sig == "USR2" || sig == "WINCH") {
    // Signals a process handles and lives on (a reload): the container keeps running.
    emit("container", "kill", i.id, i.name, i.config.labels);
    return ok_status();
  }
  i.state.running = false;
  i.state.status = "exited";
  i.state.exit_code = 137;
  i.state.finished_at = now();
  emit("container", "kill", i.id, i.name, i.config.labels);
  emit("container", "die", i.id, i.name, i.config.labels);
  return ok_status();
}

Status FakeEngine::remove_container(const std::string& key, bool force, bool) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("remove_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerInfo i = c->info;
  if (i.state.running && !force) {
    return Error{409, "You cannot remove a running container " + i.id +
                          ". Stop the container before attempting removal or force remove"};
  }
  for (auto& [id, n] : networks_) n.containers.erase(i.id);
  containers_.erase(i.id);
  emit("container", "destroy", i.id, i.name, i.config.labels);
  return ok_status();
}

Status FakeEngine::update_resources(const std::string& key, const ResourceUpdate& u) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("update_resources", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  HostConfig& h = c->info.host_config;
  if (u.nano_cpus) h.nano_cpus = *u.nano_cpus;
  if (u.memory) h.memory = *u.memory;
  if (u.memory_swap) h.memory_swap = *u.memory_swap;
  if (u.pids_limit) h.pids_limit = *u.pids_limit;
  emit("container", "update", c->info.id, c->info.name, c->info.config.labels);
  return ok_status();
}

Result<int> FakeEngine::wait_container(const std::string& key) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("wait_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerInfo& i = c->info;
  // Nothing runs in the fake: a running container "finishes" cleanly when waited for.
  if (i.state.running) {
    i.state.running = false;
    i.state.status = "exited";
    i.state.exit_code = 0;
    i.state.finished_at = now();
    emit("container", "die", i.id, i.name, i.config.labels);
  }
  return i.state.exit_code;
}

Status FakeEngine::logs(const std::string& key, const LogOptions& o, const LogFn& on_bytes) {
  std::vector<std::pair<LogStream, std::string>> chunks;
  bool tty = false;
  {
    std::lock_guard lock(mutex_);
    Container* c = find_container(key);
    if (auto e = record("logs", c ? c->info.name : key)) return *e;
    if (!c) return not_found("container", key);
    chunks = c->logs;
    tty = c->info.config.tty;
  }
  // Called without the lock so the callback may call back into the fake.
  for (const auto& [stream, bytes] : chunks) {
    if (stream == LogStream::kStdout && !o.stdout) continue;
    if (stream == LogStream::kStderr && !o.stderr) continue;
    if (!on_bytes(tty ? LogStream::kRaw : stream, bytes)) break;
  }
  return ok_status();
}

// Plays back scripted output and hands what is written to the fake's container.
class FakeAttachedStream final : public AttachedStream {
 public:
  FakeAttachedStream(FakeEngine& engine, std::string id, std::string name, bool tty,
                     bool stdin_attached, std::deque<std::pair<LogStream, std::string>> output)
      : engine_(engine),
        id_(std::move(id)),
        name_(std::move(name)),
        tty_(tty),
        stdin_attached_(stdin_attached),
        output_(std::move(output)) {}

  bool tty() const override { return tty_; }

  Status write(std::string_view bytes) override {
    std::lock_guard lock(engine_.mutex_);
    FakeEngine::Container* c = engine_.find_container(id_);
    if (!c) return not_found("container", id_);
    if (!stdin_attached_) return Error{0, "attach to container " + name_ + ": stdin not attached"};
    if (stdin_closed_)
      return Error{0, "attach to container " + name_ + ": stdin is already closed"};
    c->stdin_received.append(bytes);
    return ok_status();
  }

  Status close_stdin() override {
    std::lock_guard lock(engine_.mutex_);
    stdin_closed_ = true;
    if (FakeEngine::Container* c = engine_.find_container(id_)) c->stdin_closed = true;
    return ok_status();
  }

  Result<ReadResult> read(const LogFn& on_bytes, std::chrono::milliseconds) override {
    if (output_.empty()) return ReadResult::kEnded;
    auto [stream, bytes] = std::move(output_.front());
    output_.pop_front();
    return on_bytes(stream, bytes) ? ReadResult::kData : ReadResult::kStopped;
  }

  Status resize(int rows, int cols) override {
    std::lock_guard lock(engine_.mutex_);
    FakeEngine::Container* c = engine_.find_container(id_);
    std::string size = std::to_string(rows) + "x" + std::to_string(cols);
    if (auto e = engine_.record("resize_container", name_ + " " + size)) return *e;
    if (!c) return not_found("container", id_);
    if (!tty_) return Error{500, "resize container " + name_ + ": the container has no TTY"};
    return ok_status();
  }

 private:
  FakeEngine& engine_;
  std::string id_;
  std::string name_;
  bool tty_;
  bool stdin_attached_;
  bool stdin_closed_ = false;  // guarded by the engine's mutex
  std::deque<std::pair<LogStream, std::string>> output_;
};

Result<std::unique_ptr<AttachedStream>> FakeEngine::attach_container(const std::string& key,
                                                                     const AttachOptions& o) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("attach_container", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  if (!o.tty && !c->info.state.running) {
    return Error{409, "attach to container " + c->info.name + ": the container is not running (" +
                          c->info.state.status + ")"};
  }
  bool tty = o.tty.value_or(c->info.config.tty);
  std::deque<std::pair<LogStream, std::string>> output;
  auto add = [&](const std::vector<std::pair<LogStream, std::string>>& chunks) {
    for (const auto& [stream, bytes] : chunks) {
      if (stream == LogStream::kStdout && !o.stdout) continue;
      if (stream == LogStream::kStderr && !o.stderr) continue;
      output.emplace_back(tty ? LogStream::kRaw : stream, bytes);
    }
  };
  if (o.logs) add(c->logs);
  add(c->attach_output);
  return std::unique_ptr<AttachedStream>(
      new FakeAttachedStream(*this, c->info.id, c->info.name, tty, o.stdin, std::move(output)));
}

// Exec -------------------------------------------------------------------------------------------

std::string FakeEngine::exec_subject(const std::string& exec_id) const {
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) return exec_id;
  auto c = containers_.find(it->second.container_id);
  return c == containers_.end() ? exec_id : c->second.info.name;
}

Result<std::string> FakeEngine::create_exec(const std::string& key, const ExecSpec& spec) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  std::string subject = c ? c->info.name : key;
  for (const auto& arg : spec.cmd) subject += " " + arg;
  if (auto e = record("create_exec", subject)) return *e;
  if (!c) return not_found("container", key);
  // The engine's own words.
  if (!c->info.state.running) return Error{409, "Container " + c->info.id + " is not running"};
  if (spec.cmd.empty()) return Error{400, "No exec command specified"};
  std::string id = next_id();
  execs_[id] = {c->info.id, spec, false, std::nullopt, 0};
  return id;
}

// Runs the exec handler once stdin allows, then plays its output back one piece per read.
class FakeExecStream final : public AttachedStream {
 public:
  FakeExecStream(FakeEngine& engine, std::string id, ExecSpec spec, FakeEngine::ExecHandler handler)
      : engine_(engine), id_(std::move(id)), spec_(std::move(spec)), handler_(std::move(handler)) {}

  bool tty() const override { return spec_.tty; }

  Status write(std::string_view bytes) override {
    {
      std::lock_guard lock(mutex_);
      if (!spec_.attach_stdin) return Error{0, "start exec " + id_ + ": stdin not attached"};
      if (stdin_closed_) return Error{0, "start exec " + id_ + ": stdin is already closed"};
      if (input_ended_) return ok_status();
      // A terminal's EOF is its ^D; what follows it is not the process's input.
      auto eof = spec_.tty ? bytes.find('\x04') : std::string_view::npos;
      stdin_.append(bytes.substr(0, eof));
      input_ended_ = eof != std::string_view::npos;
    }
    stdin_changed_.notify_all();
    return ok_status();
  }

  Status close_stdin() override {
    {
      std::lock_guard lock(mutex_);
      stdin_closed_ = true;
      input_ended_ |= !spec_.tty;
    }
    stdin_changed_.notify_all();
    return ok_status();
  }

  Result<ReadResult> read(const LogFn& on_bytes, std::chrono::milliseconds timeout) override {
    if (!ran_) {
      std::string input;
      {
        std::unique_lock lock(mutex_);
        auto ready = [&] { return !spec_.attach_stdin || input_ended_ || stdin_closed_; };
        if (timeout.count() < 0) {
          stdin_changed_.wait(lock, ready);
        } else if (!stdin_changed_.wait_for(lock, timeout, ready)) {
          return ReadResult::kIdle;
        }
        // The engine's rule for a TTY: closing stdin ends the output; the process runs on.
        if (spec_.attach_stdin && !input_ended_) return ReadResult::kEnded;
        input = stdin_;
      }
      run(input);
    }
    if (output_.empty()) return ReadResult::kEnded;
    auto [stream, bytes] = std::move(output_.front());
    output_.pop_front();
    return on_bytes(stream, bytes) ? ReadResult::kData : ReadResult::kStopped;
  }

  Status resize(int rows, int cols) override {
    std::lock_guard lock(engine_.mutex_);
    std::string size = std::to_string(rows) + "x" + std::to_string(cols);
    if (auto e = engine_.record("resize_exec", engine_.exec_subject(id_) + " " + size)) return *e;
    if (!engine_.execs_.count(id_)) return Error{404, "no such exec"};
    if (!spec_.tty) return Error{0, "resize the terminal of exec " + id_ + ": the exec has no TTY"};
    return ok_status();
  }

 private:
  void run(const std::string& input) {
    ran_ = true;
    std::string out, err;
    int code = handler_ ? handler_(spec_, input, out, err) : 0;
    if (!spec_.attach_stdout) out.clear();
    if (!spec_.attach_stderr) err.clear();
    // A terminal has one output: what the process wrote, in the order it wrote it.
    if (spec_.tty) {
      if (!(out + err).empty()) output_.emplace_back(LogStream::kRaw, out + err);
    } else {
      if (!out.empty()) output_.emplace_back(LogStream::kStdout, out);
      if (!err.empty()) output_.emplace_back(LogStream::kStderr, err);
    }
    std::lock_guard lock(engine_.mutex_);
    if (auto it = engine_.execs_.find(id_); it != engine_.execs_.end()) it->second.exit_code = code;
  }

  FakeEngine& engine_;
  std::string id_;
  ExecSpec spec_;
  FakeEngine::ExecHandler handler_;
  std::mutex mutex_;  // stdin's state, shared by the writer and the reader
  std::condition_variable_any stdin_changed_;
  std::string stdin_;
  bool stdin_closed_ = false;
  bool input_ended_ = false;  // what the process reads has ended: stdin closed, or a TTY's ^D
  // The reader's side: touched only by read().
  bool ran_ = false;
  std::deque<std::pair<LogStream, std::string>> output_;
};

Result<std::unique_ptr<AttachedStream>> FakeEngine::start_exec(const std::string& exec_id,
                                                               bool tty) {
  std::lock_guard lock(mutex_);
  if (auto e = record("start_exec", exec_subject(exec_id))) return *e;
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) return Error{404, "No such exec instance: " + exec_id};
  Exec& x = it->second;
  Container* c = find_container(x.container_id);
  if (!c || !c->info.state.running) {
    return Error{409, "Container " + x.container_id + " is not running"};
  }
  std::string what = "start exec " + exec_id;
  if (x.started)
    return Error{409, what + ": the exec has already been started (an exec runs once)"};
  if (x.spec.tty != tty) {
    return Error{0, what + ": the exec was created " + (x.spec.tty ? "with" : "without") +
                        " a TTY; start it the same way"};
  }
  x.started = true;
  x.pid = next_pid_++;
  return std::unique_ptr<AttachedStream>(new FakeExecStream(*this, exec_id, x.spec, exec_handler_));
}

Result<ExecInfo> FakeEngine::inspect_exec(const std::string& exec_id) {
  std::lock_guard lock(mutex_);
  if (auto e = record("inspect_exec", exec_subject(exec_id))) return *e;
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) return Error{404, "No such exec instance: " + exec_id};
  const Exec& x = it->second;
  return ExecInfo{exec_id,     x.container_id, x.started && !x.exit_code,
                  x.exit_code, x.pid,          x.spec.tty};
}

// Networks ---------------------------------------------------------------------------------------

Result<std::vector<NetworkInfo>> FakeEngine::list_networks(const Filters& filters) {
  std::lock_guard lock(mutex_);
  if (auto e = record("list_networks", "")) return *e;
  std::vector<NetworkInfo> out;
  for (const auto& [id, n] : networks_) {
    Filterable f{id, {n.name}, &n.labels, {{"driver", n.driver}}};
    if (matches(filters, f)) out.push_back(n);
  }
  return out;
}

Result<NetworkInfo> FakeEngine::inspect_network(const std::string& key) {
  std::lock_guard lock(mutex_);
  NetworkInfo* n = find_network(key);
  if (auto e = record("inspect_network", n ? n->name : key)) return *e;
  if (!n) return not_found("network", key);
  return *n;
}

Result<std::string> FakeEngine::create_network(const NetworkSpec& spec) {
  std::lock_guard lock(mutex_);
  if (auto e = record("create_network", spec.name)) return *e;
  if (find_network(spec.name))
    return Error{409, "network with name " + spec.name + " already exists"};
  for (const auto& [id, n] : networks_) {
    for (const auto& pool : n.ipam)
      for (const auto& want : spec.ipam)
        if (!want.subnet.empty() && pool.subnet == want.subnet)
          return Error{403, "Pool overlaps with other one on this address space"};
  }
  NetworkInfo n;
  n.id = next_id();
  n.name = spec.name;
  n.driver = spec.driver;
  n.scope = "local";
  n.internal = spec.internal;
  n.ipam = spec.ipam;
  n.labels = spec.labels;
  n.options = spec.options;
  networks_[n.id] = n;
  emit("network", "create", n.id, n.name, n.labels);
  return n.id;
}

Status FakeEngine::remove_network(const std::string& key) {
  std::lock_guard lock(mutex_);
  NetworkInfo* n = find_network(key);
  if (auto e = record("remove_network", n ? n->name : key)) return *e;
  if (!n) return not_found("network", key);
  if (!n->containers.empty()) {
    return Error{403, "error while removing network: network " + n->name + " id " + n->id +
                          " has active endpoints"};
  }
  emit("network", "destroy", n->id, n->name, n->labels);
  networks_.erase(n->id);
  return ok_status();
}

Status FakeEngine::connect_network(const std::string& network, const std::string& container,
                                   const std::string& ipv4,
                                   const std::vector<std::string>& aliases) {
  std::lock_guard lock(mutex_);
  NetworkInfo* n = find_network(network);
  Container* c = find_container(container);
  if (auto e =
          record("connect_network", (n ? n->name : network) + " " + (c ? c->info.name : container)))
    return *e;
  if (!n) return not_found("network", network);
  if (!c) return not_found("container", container);
  if (c->info.networks.count(n->name)) {
    // What the engine answers when the container already has an endpoint there.
    return Error{403, "endpoint with name " + c->info.name + " already exists in network " +
                          n->name};
  }
  EndpointInfo ep{n->id, ipv4, ipv4, aliases, ""};
  if (c->info.state.running) {
    if (ep.ip_address.empty()) ep.ip_address = "172.18.0." + std::to_string(next_id_ % 250 + 2);
    n->containers[c->info.id] = ep.ip_address;
  }
  c->info.networks[n->name] = ep;
  emit("network", "connect", n->id, n->name, n->labels);
  return ok_status();
}

Status FakeEngine::disconnect_network(const std::string& network, const std::string& container,
                                      bool) {
  std::lock_guard lock(mutex_);
  NetworkInfo* n = find_network(network);
  Container* c = find_container(container);
  if (auto e = record("disconnect_network",
                      (n ? n->name : network) + " " + (c ? c->info.name : container)))
    return *e;
  if (!n) return not_found("network", network);
  if (!c) return not_found("container", container);
  if (!c->info.networks.erase(n->name)) {
    return Error{400, "container " + c->info.id + " is not connected to network " + n->name};
  }
  n->containers.erase(c->info.id);
  emit("network", "disconnect", n->id, n->name, n->labels);
  return ok_status();
}

// Volumes ----------------------------------------------------------------------------------------

Result<std::vector<VolumeInfo>> FakeEngine::list_volumes(const Filters& filters) {
  std::lock_guard lock(mutex_);
  if (auto e = record("list_volumes", "")) return *e;
  std::vector<VolumeInfo> out;
  for (const auto& [name, v] : volumes_) {
    Filterable f{name, {name}, &v.labels, {{"driver", v.driver}}};
    if (matches(filters, f)) out.push_back(v);
  }
  return out;
}

Result<VolumeInfo> FakeEngine::inspect_volume(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto e = record("inspect_volume", name)) return *e;
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return not_found("volume", name);
  return it->second;
}

Result<VolumeInfo> FakeEngine::create_volume(const VolumeSpec& spec) {
  std::lock_guard lock(mutex_);
  if (auto e = record("create_volume", spec.name)) return *e;
  std::string name = spec.name.empty() ? next_id() : spec.name;
  // Like the engine: creating an existing volume returns it unchanged.
  if (auto it = volumes_.find(name); it != volumes_.end()) return it->second;
  VolumeInfo v{name, spec.driver, "/var/lib/docker/volumes/" + name + "/_data", now(), spec.labels};
  volumes_[name] = v;
  emit("volume", "create", name, name, v.labels);
  return v;
}

Status FakeEngine::remove_volume(const std::string& name, bool) {
  std::lock_guard lock(mutex_);
  if (auto e = record("remove_volume", name)) return *e;
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return not_found("volume", name);
  emit("volume", "destroy", name, name, it->second.labels);
  volumes_.erase(it);
  return ok_status();
}

// Images -----------------------------------------------------------------------------------------

Result<ImageInfo> FakeEngine::inspect_image(const std::string& reference) {
  std::lock_guard lock(mutex_);
  if (auto e = record("inspect_image", reference)) return *e;
  ImageInfo* image = find_image(reference);
  if (!image) return not_found("image", reference);
  return *image;
}

Result<std::vector<ImageInfo>> FakeEngine::list_images(const Filters& filters) {
  std::lock_guard lock(mutex_);
  if (auto e = record("list_images", "")) return *e;
  std::vector<ImageInfo> out;
  for (const auto& [id, image] : images_) {
    Filterable f{id, image.repo_tags, &image.labels, {}};
    if (matches(filters, f)) out.push_back(image);
  }
  for (auto& image : out) image.layers.clear();  // GET /images/json has no RootFS
  return out;
}

Status FakeEngine::remove_image(const std::string& reference, bool force) {
  std::lock_guard lock(mutex_);
  if (auto e = record("remove_image", reference)) return *e;
  ImageInfo* image = find_image(reference);
  if (!image) return not_found("image", reference);
  for (const auto& [id, c] : containers_) {
    if (c.info.image == image->id && !force) {
      return Error{409, "conflict: unable to remove repository reference \"" + reference +
                            "\" (must force) - container " + id.substr(0, 12) +
                            " is using its referenced image " + image->id.substr(7, 12)};
    }
  }
  emit("image", "delete", image->id, reference, image->labels);
  images_.erase(image->id);
  return ok_status();
}

Result<std::string> FakeEngine::import_image(const ImportSpec& spec, const ByteSource& tar) {
  std::lock_guard lock(mutex_);
  if (auto e = record("import_image", spec.reference)) return *e;
  bool failed = false;
  std::string bytes = drain(tar, failed);
  if (failed) return Error{0, "import image " + spec.reference + ": reading the tar failed"};
  // A re-import moves the tag to the new image, as the engine does.
  std::string tag = with_tag(spec.reference);
  for (auto& [id, image] : images_) std::erase(image.repo_tags, tag);
  ImageInfo image{
      "sha256:" + next_id(), {tag}, spec.labels, now(), static_cast<int64_t>(bytes.size())};
  images_[image.id] = image;
  emit("image", "import", image.id, tag, image.labels);
  return image.id;
}

Result<std::string> FakeEngine::build_image(const BuildSpec& spec, const ByteSource& context,
                                            const ProgressFn& on_progress) {
  std::string id;
  {
    std::lock_guard lock(mutex_);
    if (auto e = record("build_image", spec.tag)) return *e;
    bool failed = false;
    std::string bytes = drain(context, failed);
    if (failed) return Error{0, "build image " + spec.tag + ": reading the build context failed"};
    std::string tag = with_tag(spec.tag);
    for (auto& [existing, image] : images_) std::erase(image.repo_tags, tag);
    ImageInfo image{
        "sha256:" + next_id(), {tag}, spec.labels, now(), static_cast<int64_t>(bytes.size())};
    images_[image.id] = image;
    id = image.id;
    emit("image", "tag", image.id, tag, image.labels);
  }
  if (on_progress) {
    on_progress({"Step 1/1 : fake build of " + spec.tag, R"({"stream":"Step 1/1 : fake build"})"});
    on_progress({"Successfully built " + id.substr(7, 12), R"({"aux":{"ID":")" + id + R"("}})"});
  }
  return id;
}

// Save and load --------------------------------------------------------------------------------

namespace {

struct ArchiveWriteFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t append_to_string(struct archive*, void* out, const void* bytes, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(bytes), size);
  return static_cast<la_ssize_t>(size);
}

// One member of a save tar: a directory, a file or a symlink.
struct TarMember {
  enum Kind { kDir, kFile, kSymlink } kind = kFile;
  std::string content;  // a file's bytes, a symlink's target
};

// Writes the members in path order, as docker save's walk of its folder does.
std::string write_tar(const std::map<std::string, TarMember>& members) {
  std::string out;
  std::unique_ptr<struct archive, ArchiveWriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_none(a.get());
  archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr);
  for (const auto& [path, m] : members) {
    std::unique_ptr<struct archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_mtime(e.get(), 1767225600, 0);
    if (m.kind == TarMember::kDir) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
    } else if (m.kind == TarMember::kSymlink) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_set_symlink(e.get(), m.content.c_str());
    } else {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), 0644);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.content.size()));
    }
    archive_write_header(a.get(), e.get());
    if (m.kind == TarMember::kFile && !m.content.empty())
      archive_write_data(a.get(), m.content.data(), m.content.size());
  }
  archive_write_close(a.get());
  return out;
}

// The members of a tar by path ("./" and trailing "/" dropped); an error when it is no tar.
Result<std::map<std::string, TarMember>> read_tar(const std::string& bytes) {
  std::unique_ptr<struct archive, ArchiveReadFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    return Error{0, std::string("not a tar: ") + archive_error_string(a.get())};
  std::map<std::string, TarMember> out;
  struct archive_entry* e = nullptr;
  while (true) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return Error{0, std::string("not a tar: ") + archive_error_string(a.get())};
    std::string path = archive_entry_pathname(e);
    if (path.starts_with("./")) path.erase(0, 2);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    TarMember m;
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        m.kind = TarMember::kDir;
        break;
      case AE_IFLNK:
        m.kind = TarMember::kSymlink;
        m.content = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        break;
      default:
        m.content.resize(static_cast<size_t>(archive_entry_size(e)));
        if (!m.content.empty() && archive_read_data(a.get(), m.content.data(), m.content.size()) !=
                                      static_cast<la_ssize_t>(m.content.size()))
          return Error{0, "reading " + path + " in the tar: " + archive_error_string(a.get())};
    }
    out[path] = std::move(m);
  }
  return out;
}

// A file of the unpacked tar, following symlinks as the engine does within its folder.
const TarMember* find_file(const std::map<std::string, TarMember>& members, std::string path) {
  for (int hops = 0; hops < 16; ++hops) {
    auto it = members.find(path);
    if (it == members.end()) return nullptr;
    if (it->second.kind == TarMember::kFile) return &it->second;
    if (it->second.kind != TarMember::kSymlink) return nullptr;
    const std::string& target = it->second.content;
    std::string dir = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/'));
    std::vector<std::string> parts;
    std::string joined = target.starts_with("/") ? target : dir + "/" + target;
    size_t at = 0;
    while (at <= joined.size()) {
      size_t slash = joined.find('/', at);
      if (slash == std::string::npos) slash = joined.size();
      std::string part = joined.substr(at, slash - at);
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      at = slash + 1;
    }
    path.clear();
    for (const auto& p : parts) path += (path.empty() ? "" : "/") + p;
  }
  return nullptr;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const auto& d : diff_ids)
    out.push_back(out.empty() ? d : "sha256:" + sha256_hex(out.back() + " " + d));
  return out;
}

std::string hex_of(const std::string& id) {
  return id.starts_with("sha256:") ? id.substr(7) : id;
}

}  // namespace

std::string FakeEngine::add_image_with_layers(const std::string& reference,
                                              const std::vector<std::string>& layer_tars,
                                              const Labels& labels) {
  std::lock_guard lock(mutex_);
  ImageInfo image{"", {with_tag(reference)}, labels, now(), 0};
  for (const auto& tar : layer_tars) {
    image.layers.push_back("sha256:" + sha256_hex(tar));
    image.size += static_cast<int64_t>(tar.size());
    layer_tars_[image.layers.back()] = tar;
  }
  std::string config = image_config(image);
  image.id = "sha256:" + sha256_hex(config);
  for (auto& [id, other] : images_) std::erase(other.repo_tags, image.repo_tags[0]);
  if (auto it = images_.find(image.id); it != images_.end()) {
    it->second.repo_tags.push_back(image.repo_tags[0]);
  } else {
    images_[image.id] = image;
    configs_[image.id] = config;
  }
  return image.id;
}

void FakeEngine::replace_next_save(std::string tar) {
  std::lock_guard lock(mutex_);
  next_save_ = std::move(tar);
}

std::vector<std::string> FakeEngine::loaded_tars() const {
  std::lock_guard lock(mutex_);
  return loaded_tars_;
}

std::string FakeEngine::image_config(const ImageInfo& image) const {
  if (auto it = configs_.find(image.id); it != configs_.end()) return it->second;
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : image.labels) labels[k] = v;
  nlohmann::json j = {{"architecture", "amd64"},
                      {"os", "linux"},
                      {"created", image.created},
                      {"config", {{"Labels", labels}}},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", image.layers}}}};
  return j.dump();
}

std::set<std::string> FakeEngine::chains() const {
  std::set<std::string> out;
  for (const auto& [id, image] : images_)
    for (const auto& c : chain_ids(image.layers)) out.insert(c);
  return out;
}

Status FakeEngine::save_images(const std::vector<std::string>& references, const ByteSink& sink) {
  std::string bytes;
  {
    std::lock_guard lock(mutex_);
    std::string subject;
    for (const auto& r : references) subject += (subject.empty() ? "" : " ") + r;
    if (auto e = record("save_images", subject)) return *e;
    std::map<std::string, TarMember> members;
    std::map<std::string, std::string> layer_paths;  // diff id -> the first layer.tar written
    nlohmann::json manifest = nlohmann::json::array();
    nlohmann::json repositories = nlohmann::json::object();
    std::map<std::string, size_t> entry_of;  // image id -> its manifest entry
    for (const auto& r : references) {
      ImageInfo* image = find_image(r);
      if (!image) return not_found("image", r);
      const bool by_id = r == image->id || "sha256:" + r == image->id;
      if (auto it = entry_of.find(image->id); it != entry_of.end()) {
        if (!by_id) manifest[it->second]["RepoTags"].push_back(with_tag(r));
        continue;
      }
      const std::string config_file = hex_of(image->id) + ".json";
      members[config_file] = {TarMember::kFile, image_config(*image)};
      nlohmann::json layers = nlohmann::json::array();
      std::string parent;
      const std::vector<std::string> chains = chain_ids(image->layers);
      for (size_t i = 0; i < image->layers.size(); ++i) {
        const std::string& diff_id = image->layers[i];
        // The engine's v1 ids hang on the chain and the parent; the top one also on the image.
        std::string v1 = sha256_hex(chains[i] + " " + parent +
                                    (i + 1 == image->layers.size() ? " " + image->id : ""));
        const std::string path = v1 + "/layer.tar";
        layers.push_back(path);
        if (!members.count(v1)) {
          members[v1] = {TarMember::kDir, ""};
          members[v1 + "/VERSION"] = {TarMember::kFile, "1.0"};
          nlohmann::json legacy = {{"id", v1}, {"created", image->created}};
          if (!parent.empty()) legacy["parent"] = parent;
          members[v1 + "/json"] = {TarMember::kFile, legacy.dump()};
          if (auto seen = layer_paths.find(diff_id); seen != layer_paths.end()) {
            members[path] = {TarMember::kSymlink, "../" + seen->second};
          } else {
            members[path] = {TarMember::kFile, layer_tars_[diff_id]};
            layer_paths[diff_id] = path;
          }
        }
        parent = v1;
      }
      nlohmann::json entry = {
          {"Config", config_file}, {"RepoTags", nlohmann::json::array()}, {"Layers", layers}};
      if (!by_id) entry["RepoTags"].push_back(with_tag(r));
      entry_of[image->id] = manifest.size();
      manifest.push_back(entry);
    }
    for (const auto& entry : manifest) {
      for (const auto& tag : entry["RepoTags"]) {
        const std::string t = tag.get<std::string>();
        const size_t colon = t.rfind(':');
        if (!entry["Layers"].empty()) {
          const std::string top = entry["Layers"].back().get<std::string>();
          repositories[t.substr(0, colon)][t.substr(colon + 1)] = top.substr(0, top.find('/'));
        }
      }
    }
    members["manifest.json"] = {TarMember::kFile, manifest.dump()};
    if (!repositories.empty()) members["repositories"] = {TarMember::kFile, repositories.dump()};
    bytes = next_save_ ? std::move(*next_save_) : write_tar(members);
    next_save_.reset();
  }
  // In pieces that do not line up with tar blocks, as a real download arrives.
  for (size_t at = 0; at < bytes.size(); at += 4093) {
    if (!sink(std::string_view(bytes).substr(at, 4093))) return Error{0, "save images: aborted"};
  }
  return ok_status();
}

Status FakeEngine::load_images(const ByteSource& tar, const ProgressFn& on_progress) {
  std::vector<std::string> loaded;
  {
    std::lock_guard lock(mutex_);
    if (auto e = record("load_images", "")) return *e;
    bool failed = false;
    std::string bytes = drain(tar, failed);
    if (failed) return Error{0, "load images: reading the tar failed"};
    loaded_tars_.push_back(bytes);
    auto members = read_tar(bytes);
    if (!members) return members.error().within("load images");
    const TarMember* manifest_file = find_file(*members, "manifest.json");
    if (!manifest_file) return Error{0, "load images: no manifest.json (no legacy loads here)"};
    auto manifest = nlohmann::json::parse(manifest_file->content, nullptr, false);
    if (!manifest.is_array()) return Error{0, "load images: manifest.json is not a list"};
    std::set<std::string> have = chains();
    for (const auto& m : manifest) {
      const std::string config_file = m.value("Config", "");
      const TarMember* config = find_file(*members, config_file);
      if (!config) return Error{0, "load images: open " + config_file + ": no such file"};
      auto c = nlohmann::json::parse(config->content, nullptr, false);
      if (!c.is_object()) return Error{0, "load images: " + config_file + " is not JSON"};
      std::vector<std::string> diff_ids;
      if (c.contains("rootfs") && c["rootfs"].contains("diff_ids"))
        diff_ids = c["rootfs"]["diff_ids"].get<std::vector<std::string>>();
      const auto paths = m.value("Layers", std::vector<std::string>{});
      if (paths.size() != diff_ids.size())
        return Error{0, "load images: invalid manifest, layers length mismatch: expected " +
                            std::to_string(paths.size()) + ", got " +
                            std::to_string(diff_ids.size())};
      const std::vector<std::string> chains = chain_ids(diff_ids);
      int64_t size = 0;
      for (size_t i = 0; i < diff_ids.size(); ++i) {
        if (!have.count(chains[i])) {
          // Only a layer whose chain the engine lacks is read from the tar.
          const TarMember* layer = find_file(*members, paths[i]);
          if (!layer) return Error{0, "load images: open " + paths[i] + ": no such file"};
          const std::string got = "sha256:" + sha256_hex(layer->content);
          if (got != diff_ids[i])
            return Error{0, "load images: invalid diffID for layer " + std::to_string(i) +
                                ": expected \"" + diff_ids[i] + "\", got \"" + got + "\""};
          layer_tars_[got] = layer->content;
          have.insert(chains[i]);
        }
        size += static_cast<int64_t>(layer_tars_[diff_ids[i]].size());
      }
      // Image ids are content addresses: a loaded image keeps the id it had where it was saved.
      const std::string id = "sha256:" + config_file.substr(0, config_file.rfind(".json"));
      Labels labels;
      if (c.contains("config") && c["config"].is_object() && c["config"].contains("Labels") &&
          c["config"]["Labels"].is_object())
        labels = c["config"]["Labels"].get<Labels>();
      const auto tags = m.value("RepoTags", std::vector<std::string>{});
      for (const auto& tag : tags)
        for (auto& [other_id, image] : images_) std::erase(image.repo_tags, tag);
      auto [it, added] = images_.try_emplace(id);
      if (added) {
        it->second = ImageInfo{id, {}, labels, c.value("created", now()), size, diff_ids};
        configs_[id] = config->content;
      }
      for (const auto& tag : tags) {
        it->second.repo_tags.push_back(tag);
        emit("image", "load", id, tag, labels);
        loaded.push_back(tag);
      }
      if (tags.empty()) {
        emit("image", "load", id, "", labels);
        loaded.push_back(id);
      }
    }
  }
  if (on_progress) {
    for (const auto& t : loaded) on_progress({"Loaded image: " + t, ""});
  }
  return ok_status();
}

Result<ContainerStats> FakeEngine::stats(const std::string& key) {
  std::lock_guard lock(mutex_);
  Container* c = find_container(key);
  if (auto e = record("stats", c ? c->info.name : key)) return *e;
  if (!c) return not_found("container", key);
  ContainerStats s;
  if (c->info.state.running) {
    s.pids = 1;
    s.memory_usage = 1 << 20;
  }
  s.memory_limit = c->info.host_config.memory ? c->info.host_config.memory : int64_t{1} << 34;
  return s;
}

Result<DiskUsage> FakeEngine::disk_usage() {
  std::lock_guard lock(mutex_);
  if (auto e = record("disk_usage", "")) return *e;
  DiskUsage d;
  for (const auto& [id, image] : images_) d.images += image.size;
  d.image_count = images_.size();
  d.container_count = containers_.size();
  d.volume_count = volumes_.size();
  return d;
}

Status FakeEngine::events(const EventOptions& options, const EventFn& on_event) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mutex_);
    if (auto e = record("events", "")) return *e;
    events = events_;
  }
  // "container"/"network"/… filters name the object by id or name; other keys as in lists.
  auto wanted = [&](const Event& e) {
    Filterable f{e.actor_id, {}, &e.attributes, {{"type", e.type}, {"event", e.action}}};
    auto name = e.attributes.find("name");
    if (name != e.attributes.end()) f.names.push_back(name->second);
    Filters rest = options.filters;
    for (const char* kind : {"container", "network", "volume", "image"}) {
      auto it = rest.find(kind);
      if (it == rest.end()) continue;
      bool any = false;
      for (const auto& v : it->second) {
        any |= e.type == kind &&
               (v == e.actor_id || (name != e.attributes.end() && v == name->second));
      }
      if (!any) return false;
      rest.erase(it);
    }
    return matches(rest, f);
  };
  for (const auto& e : events) {
    if (!wanted(e)) continue;
    if (options.stop && options.stop()) break;
    if (!on_event(e)) break;
  }
  return ok_status();
}

}  // namespace acctl::engine
