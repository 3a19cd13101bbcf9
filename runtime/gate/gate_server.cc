// The ac-gate service: wires the config, resolver, audit log and metrics to the listeners, and
// drives c-ares, reloads and signals from the one event loop.
#include "gate/gate_server.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <unordered_map>

#include "gate/ares_resolver.h"
#include "gate/asio_event_loop.h"
#include "gate/audit_log.h"
#include "gate/control_listener.h"
#include "gate/dns_listener.h"
#include "gate/dns_responder.h"
#include "gate/gate_context.h"
#include "gate/gate_log.h"
#include "gate/gate_metrics.h"
#include "gate/proxy_listener.h"
#include "gate/rate_limiter.h"
#include "gate/resolver.h"
#include "gate/sockets.h"

namespace acctl::gate {
namespace {

// Relay buffers kept for reuse between bursts (4 MiB at most, whatever the connection count).
constexpr size_t kRelayPoolSize = 64;

}  // namespace

class GateService final : public GateContext, public SocketWatcher {
 public:
  GateService(GateConfig config, std::string config_path, const Clock& clock)
      : loop_(make_asio_event_loop()),
        config_(std::make_shared<const GateConfig>(std::move(config))),
        config_path_(std::move(config_path)),
        clock_(clock),
        ares_timer_(loop_->make_timer()),
        sweep_timer_(loop_->make_timer()),
        audit_([this] {
          loop_->post([this] {
            audit_.flush();
            // A failed write is known only now: /metrics and status must not wait for the next
            // decision to say so.
            metrics_.audit_state(throttle_.suppressed_total(), audit_.write_errors());
          });
        }),
        dns_limiter_() {}

  std::vector<std::string> start();
  void run() { loop_->run(); }

  // GateContext, for the listeners and connections.
  EventLoop& loop() override { return *loop_; }
  ConnectionPoller& poller() override { return poller_; }
  std::shared_ptr<const GateConfig> config() const override { return config_; }
  Resolver& resolver() override { return *resolver_; }
  GateMetrics& metrics() override { return metrics_; }
  void audit(const AuditRecord& record) override;
  bool acquire_slot(const std::string& client) override;
  bool audit_unwritable() const override { return config_->audit_required && audit_.failing(); }
  void release_slot(const std::string& client) override;
  // Remembers the last one: connections come from a few clients in runs.
  const std::string& client_name(const sockaddr_storage& peer, socklen_t length) override;
  std::unique_ptr<char[]> take_relay_buffer() override;
  void give_relay_buffer(std::unique_ptr<char[]> buffer) override;
  std::optional<std::vector<uint8_t>> answer_dns(std::span<const uint8_t> message,
                                                 const std::string& client) override;
  std::optional<std::string> reload() override;

  // SocketWatcher, for c-ares.
  void watch(int fd, bool readable, bool writable) override;
  void schedule_timeout(std::chrono::milliseconds delay) override;

 private:
  // A c-ares socket and the waits armed on it.
  struct WatchedFd {
    std::unique_ptr<FdWatch> watch;
    bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
  };

  void arm_fd(const std::shared_ptr<WatchedFd>& entry, int fd);
  void on_signal(int signal);
  void sweep();
  void stop();

  // Declared first so that it is destroyed last: everything below holds timers or watches.
  std::unique_ptr<EventLoop> loop_;
  std::shared_ptr<const GateConfig> config_;
  std::string config_path_;
  const Clock& clock_;
  std::unique_ptr<Timer> ares_timer_;
  std::unique_ptr<Timer> sweep_timer_;
  std::unordered_map<int, std::shared_ptr<WatchedFd>> watched_;
  std::unique_ptr<AresResolver> ares_;  // after watched_: its destructor reports closed sockets
  std::unique_ptr<CachingResolver> resolver_;
  // After the loop it uses, before the listeners it delivers to.
  ConnectionPoller poller_{*loop_};
  GateMetrics metrics_;
  AuditLog audit_;
  AuditThrottle throttle_;
  RateLimiter dns_limiter_;
  std::vector<std::unique_ptr<ProxyListener>> listeners_;
  std::unique_ptr<DnsListeners> dns_;
  std::unique_ptr<ControlListener> control_;
  std::vector<std::unique_ptr<char[]>> relay_pool_;
  std::optional<netpolicy::IpAddress> last_client_address_;
  std::string last_client_name_;
  uint64_t active_ = 0;
  std::unordered_map<std::string, uint32_t> per_client_;
};

std::vector<std::string> GateService::start() {
  std::vector<std::string> problems;
  if (auto s = loop_->on_signals({SIGHUP, SIGINT, SIGTERM}, [this](int s) { on_signal(s); }); !s)
    problems.push_back(s.error().message);
  if (auto error = audit_.open(config_->audit_log)) problems.push_back(*error);

  auto ares = AresResolver::create(*this, config_->upstreams);
  if (auto* error = std::get_if<std::string>(&ares)) {
    problems.push_back(*error);
  } else {
    ares_ = std::move(std::get<std::unique_ptr<AresResolver>>(ares));
    resolver_ = std::make_unique<CachingResolver>(*ares_, clock_);
  }

  const GateListen& listen = config_->listen;
  const std::pair<const std::optional<SocketAddress>*, ProxyKind> proxies[] = {
      {&listen.http, ProxyKind::kHttp},
      {&listen.https, ProxyKind::kTls},
      {&listen.proxy, ProxyKind::kProxy}};
  for (const auto& [address, kind] : proxies) {
    if (!*address) continue;
    auto listener = ProxyListener::bind(*this, kind, **address);
    if (!listener) {
      const char* name = kind == ProxyKind::kHttp  ? "http"
                         : kind == ProxyKind::kTls ? "https"
                                                   : "proxy";
      problems.push_back(std::string("listen.") + name + " " + listener.error().message);
      continue;
    }
    listeners_.push_back(std::move(*listener));
  }
  if (auto opened = poller_.open(); !opened) {
    problems.push_back(opened.error().message);
  } else {
    for (auto& listener : listeners_) {
      if (auto s = listener->start(); !s)
        problems.push_back("listen." + listener->name() + ": " + s.error().message);
    }
  }
  if (listen.dns) {
    dns_ = std::make_unique<DnsListeners>(*this);
    dns_->bind(*listen.dns, problems);
  }
  if (listen.control) {
    control_ = std::make_unique<ControlListener>(*this);
    if (auto s = control_->bind(*listen.control); !s)
      problems.push_back("listen.control " + s.error().message);
  }
  if (!problems.empty()) return problems;

  poller_.start();
  if (dns_) dns_->start();
  if (control_) control_->start();
  sweep();
  log_info("ac-gate serving: dns=" + (listen.dns ? listen.dns->str() : "-") +
           " http=" + (listen.http ? listen.http->str() : "-") +
           " https=" + (listen.https ? listen.https->str() : "-") +
           " proxy=" + (listen.proxy ? listen.proxy->str() : "-") +
           " control=" + (listen.control ? listen.control->str() : "-"));
  return problems;
}

std::optional<std::vector<uint8_t>> GateService::answer_dns(std::span<const uint8_t> message,
                                                            const std::string& client) {
  const ClientPolicy& policy = config_->policy_for(client);
  const bool limited = !dns_limiter_.allow(client, clock_.now(), policy.dns_qps);
  // audit: required and the log failing: REFUSED (silence for what does not parse), as for a
  // rate limit, but audited, so that the first line the log takes again ends the refusals.
  const bool unwritable = audit_unwritable();
  DnsOutcome outcome =
      answer_dns_query(message, *policy.rules, {config_->gate_ip, config_->tuning.dns_answer_ttl},
                       limited || unwritable);
  if (unwritable) {
    outcome.result = "refused";
    outcome.allowed = false;
    outcome.reason = "audit-log-unwritable";
  }
  metrics_.dns_query(outcome.result);
  // Rate-limited queries are counted, not logged: a flood must not become a flood of lines.
  if (outcome.result != "rate-limited") {
    metrics_.decision("dns", outcome.allowed, outcome.reason);
    AuditRecord record;
    const SandboxEntry* sandbox = config_->sandbox(client);
    record.sandbox = sandbox ? sandbox->name : "";
    record.client = client;
    record.protocol = "dns";
    record.name = outcome.name;
    record.qtype = outcome.qtype;
    record.allowed = outcome.allowed;
    record.reason = outcome.reason;
    audit(record);
  }
  return outcome.response;
}

void GateService::audit(const AuditRecord& record) {
  const AuditThrottle::Verdict v = throttle_.admit(record.client, record.allowed, clock_.now());
  if (v.suppressed_before > 0) {
    AuditRecord summary;
    summary.sandbox = record.sandbox;
    summary.client = record.client;
    summary.protocol = "audit";
    summary.reason = std::to_string(v.suppressed_before) + " similar decisions suppressed";
    audit_.write(summary, clock_.wall());
  }
  if (v.write) audit_.write(record, clock_.wall());
  metrics_.audit_state(throttle_.suppressed_total(), audit_.write_errors());
}

bool GateService::acquire_slot(const std::string& client) {
  uint32_t& mine = per_client_[client];
  const uint32_t cap =
      std::min(config_->connections_per_client, config_->policy_for(client).connections);
  if (active_ >= config_->connections || mine >= cap) {
    if (mine == 0) per_client_.erase(client);
    return false;
  }
  ++mine;
  ++active_;
  return true;
}

const std::string& GateService::client_name(const sockaddr_storage& peer, socklen_t length) {
  std::optional<netpolicy::IpAddress> ip = ip_of(peer, length);
  if (!last_client_address_ || last_client_address_ != ip) {
    last_client_name_ = ip ? ip->str() : "";
    last_client_address_ = ip;
  }
  return last_client_name_;
}

std::unique_ptr<char[]> GateService::take_relay_buffer() {
  if (relay_pool_.empty()) return std::make_unique_for_overwrite<char[]>(kSpliceBuffer);
  std::unique_ptr<char[]> buffer = std::move(relay_pool_.back());
  relay_pool_.pop_back();
  return buffer;
}

void GateService::give_relay_buffer(std::unique_ptr<char[]> buffer) {
  if (buffer && relay_pool_.size() < kRelayPoolSize) relay_pool_.push_back(std::move(buffer));
}

void GateService::release_slot(const std::string& client) {
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  if (active_ > 0) --active_;
}

std::optional<std::string> GateService::reload() {
  auto loaded = load_gate_config(config_path_);
  if (auto* problems = std::get_if<std::vector<std::string>>(&loaded)) {
    std::string why = "reload failed, keeping the current config:\n";
    for (const std::string& problem : *problems) why += "  " + problem + "\n";
    log_error(why);
    metrics_.reload(false);
    return why;
  }
  GateConfig& next = std::get<GateConfig>(loaded);
  if (next.upstreams != config_->upstreams) {
    if (auto error = ares_->set_upstreams(next.upstreams)) {
      metrics_.reload(false);
      return "reload failed, keeping the current config: " + *error + "\n";
    }
    resolver_->forget();
  }
  if (!(next.listen == config_->listen)) {
    log_warn("reload: listen addresses changed; they take effect on restart");
  }
  // Reopening on every reload also follows a rotated file.
  if (auto error = audit_.open(next.audit_log)) log_error("reload: " + *error);
  // Connections already open keep the config they were judged by; new ones see this one.
  config_ = std::make_shared<const GateConfig>(std::move(next));
  metrics_.reload(true);
  log_info("reloaded " + config_path_);
  return std::nullopt;
}

void GateService::watch(int fd, bool readable, bool writable) {
  auto it = watched_.find(fd);
  if (!readable && !writable) {
    if (it == watched_.end()) return;
    // c-ares closes the socket itself: stop watching without closing it.
    it->second->closed = true;
    it->second->watch.reset();
    watched_.erase(it);
    return;
  }
  if (it == watched_.end()) {
    auto watch = loop_->watch(fd);
    if (!watch) {
      // c-ares times the query out instead of waiting for a socket nobody watches.
      log_error("c-ares socket: " + watch.error().message);
      return;
    }
    auto entry = std::make_shared<WatchedFd>();
    entry->watch = std::move(*watch);
    it = watched_.emplace(fd, std::move(entry)).first;
  }
  it->second->want_read = readable;
  it->second->want_write = writable;
  arm_fd(it->second, fd);
}

void GateService::arm_fd(const std::shared_ptr<WatchedFd>& entry, int fd) {
  if (entry->want_read && !entry->reading) {
    entry->reading = true;
    entry->watch->wait_readable([this, entry, fd](bool ready) {
      entry->reading = false;
      if (entry->closed || !ready) return;
      ares_->process(fd, -1);
      if (!entry->closed) arm_fd(entry, fd);
    });
  }
  if (entry->want_write && !entry->writing) {
    entry->writing = true;
    entry->watch->wait_writable([this, entry, fd](bool ready) {
      entry->writing = false;
      if (entry->closed || !ready) return;
      ares_->process(-1, fd);
      if (!entry->closed) arm_fd(entry, fd);
    });
  }
}

void GateService::schedule_timeout(std::chrono::milliseconds delay) {
  ares_timer_->start_after(delay, [this] { ares_->process_timeouts(); });
}

void GateService::on_signal(int signal) {
  if (signal == SIGHUP) {
    reload();
    return;
  }
  log_info("signal " + std::to_string(signal) + ": stopping");
  stop();
}

void GateService::sweep() {
  dns_limiter_.sweep(clock_.now());
  sweep_timer_->start_after(std::chrono::seconds(10), [this] { sweep(); });
}

void GateService::stop() {
  audit_.flush();
  loop_->stop();
}

GateServer::GateServer(std::unique_ptr<GateService> service) : service_(std::move(service)) {}
GateServer::~GateServer() = default;

std::variant<std::unique_ptr<GateServer>, std::vector<std::string>> GateServer::start(
    GateConfig config, std::string config_path, const Clock& clock) {
  init_gate_log();
  auto service = std::make_unique<GateService>(std::move(config), std::move(config_path), clock);
  std::vector<std::string> problems = service->start();
  if (!problems.empty()) return problems;
  return std::unique_ptr<GateServer>(new GateServer(std::move(service)));
}

void GateServer::run() {
  service_->run();
}

}  // namespace acctl::gate
