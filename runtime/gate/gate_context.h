// What the gate gives the listeners and connections it runs: the loop, the current config and
// the services they share. GateService (gate_server.cc) is the one implementation.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gate/audit_log.h"
#include "gate/connection_poller.h"
#include "gate/event_loop.h"
#include "gate/gate_config.h"
#include "gate/gate_metrics.h"
#include "gate/resolver.h"

namespace acctl::gate {

// Per direction of a spliced connection: the size of a relay buffer.
inline constexpr size_t kSpliceBuffer = 64 * 1024;

class GateContext {
 public:
  virtual EventLoop& loop() = 0;
  virtual ConnectionPoller& poller() = 0;
  // Replaced by a reload; a connection keeps the one it was judged by.
  virtual std::shared_ptr<const GateConfig> config() const = 0;
  virtual Resolver& resolver() = 0;
  virtual GateMetrics& metrics() = 0;
  virtual void audit(const AuditRecord& record) = 0;
  // audit: required, and the log's last write failed: new connections and DNS answers are
  // refused (their refusals are still written, so the first that goes through ends it).
  virtual bool audit_unwritable() const = 0;

  // Counts a connection of `client` against the global and per-client caps; false when
  // either is reached. Every true is matched by one release_slot.
  virtual bool acquire_slot(const std::string& client) = 0;
  virtual void release_slot(const std::string& client) = 0;
  // The peer's address in the canonical text form the config's sandboxes map uses.
  virtual const std::string& client_name(const sockaddr_storage& peer, socklen_t length) = 0;

  // An uninitialised kSpliceBuffer-byte buffer, from the pool when it has one.
  virtual std::unique_ptr<char[]> take_relay_buffer() = 0;
  virtual void give_relay_buffer(std::unique_ptr<char[]> buffer) = 0;

  // The response to one DNS message from `client`, or nothing; audited and counted.
  virtual std::optional<std::vector<uint8_t>> answer_dns(std::span<const uint8_t> message,
                                                         const std::string& client) = 0;
  // Re-reads the config file and swaps it in; nullopt when it did, else why not.
  virtual std::optional<std::string> reload() = 0;

 protected:
  ~GateContext() = default;
};

}  // namespace acctl::gate
