// Resolver backed by c-ares, driven by whatever event loop implements SocketWatcher.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gate/gate_config.h"
#include "gate/resolver.h"

namespace acctl::gate {

// What c-ares needs from an event loop: tell it when a socket is readable or writable, and
// call back after a delay. Keeps the event-loop library out of this file and c-ares out of the
// loop's, so each heavy header is compiled once.
class SocketWatcher {
 public:
  virtual ~SocketWatcher() = default;
  // Start or change watching `fd`; both false means c-ares is about to close it.
  virtual void watch(int fd, bool readable, bool writable) = 0;
  // Call AresResolver::process_timeouts() after `delay` (replacing any earlier request).
  virtual void schedule_timeout(std::chrono::milliseconds delay) = 0;
};

class AresResolver final : public Resolver {
 public:
  // `upstreams` empty: the servers of /etc/resolv.conf. /etc/hosts and search domains are never
  // used: the gate resolves exactly the allowed name, and only through DNS.
  static std::variant<std::unique_ptr<AresResolver>, std::string> create(
      SocketWatcher& watcher, const std::vector<SocketAddress>& upstreams);
  ~AresResolver() override;

  void resolve(const std::string& name, Done done) override;
  // Replaces the servers (reload); queries in flight finish against the old ones.
  std::optional<std::string> set_upstreams(const std::vector<SocketAddress>& upstreams);

  // Event-loop callbacks.
  void process(int readable_fd, int writable_fd);
  void process_timeouts();

 private:
  struct State;
  explicit AresResolver(std::unique_ptr<State> state);
  void reschedule();

  std::unique_ptr<State> state_;
};

// Must run once before the first AresResolver is created.
std::optional<std::string> ares_global_init();

}  // namespace acctl::gate
