// The proxy data path's own edge-triggered epoll set: raw epoll, nested in the event loop.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "gate/event_loop.h"

namespace acctl::gate {

// Something with descriptors in a ConnectionPoller. Targets the poller owns (adopt()) are kept
// alive by it until they release themselves; listeners are owned by the service instead.
class PollTarget {
 public:
  // `events` as epoll_wait reported them; `tag` is the bit given to ConnectionPoller::add.
  virtual void on_events(uint32_t events, unsigned tag) = 0;

 protected:
  ~PollTarget() = default;

 private:
  friend class ConnectionPoller;
  PollTarget* prev_ = nullptr;
  PollTarget* next_ = nullptr;
  std::shared_ptr<PollTarget> self_;
};

// One socket of a connection in a ConnectionPoller, and what the poller last said about it
// (edge-triggered, so it must be kept). Resetting it closes the descriptor, which also takes it
// out of the epoll set.
struct PolledSocket {
  UniqueFd fd;
  uint32_t registered = 0;  // the events it was last given to the poller with
  bool in_poller = false;   // added: by this connection, or by the one that handed it over
  bool readable = false;    // an edge arrived and reads have not come up empty since
  bool blocked = false;     // a write would block: wait for EPOLLOUT
};

// A second epoll set for the proxy listeners and their connections, nested in the event loop as
// one descriptor. Each socket is added once (edge-triggered) and only modified to add EPOLLOUT
// when a write would block; all I/O is direct non-blocking calls. Asio's reactor, by contrast,
// issues an epoll_ctl for every async_wait, an ioctl per socket to set O_NONBLOCK, and poll(2)
// plus getsockopt(2) per connect: with one request per connection that was about half of the
// gate's system calls. The loop keeps the timers, DNS, the control port and c-ares.
class ConnectionPoller {
 public:
  explicit ConnectionPoller(EventLoop& loop) : loop_(loop) {}
  ConnectionPoller(const ConnectionPoller&) = delete;
  ConnectionPoller& operator=(const ConnectionPoller&) = delete;
  // Destroys the targets it still owns, which closes their descriptors.
  ~ConnectionPoller();

  // Creates the epoll set and hands it to the loop; start() begins delivering its events.
  Status open();
  void start() { arm(); }

  // False (errno set) when the kernel refuses; the caller fails that connection.
  bool add(int fd, uint32_t events, PollTarget* target, unsigned tag) {
    return control(EPOLL_CTL_ADD, fd, events, target, tag);
  }
  bool modify(int fd, uint32_t events, PollTarget* target, unsigned tag) {
    return control(EPOLL_CTL_MOD, fd, events, target, tag);
  }

  // Edge-triggered reads, and writes once `want_out` or a write has blocked (EPOLLOUT then
  // stays: one epoll_ctl, not one per blocked write). Adds the socket, or modifies it, which
  // also points a handed-over socket's events at `target`. False (errno set) when the kernel
  // refuses; the caller fails that connection.
  static constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
  bool watch(PolledSocket& socket, PollTarget* target, unsigned tag, bool want_out = false) {
    const bool out = want_out || socket.blocked || (socket.registered & EPOLLOUT);
    const uint32_t events = kReadEvents | (out ? uint32_t{EPOLLOUT} : 0u);
    if (socket.in_poller && socket.registered == events) return true;
    const bool ok = socket.in_poller ? modify(socket.fd.get(), events, target, tag)
                                     : add(socket.fd.get(), events, target, tag);
    if (!ok) return false;
    socket.in_poller = true;
    socket.registered = events;
    return true;
  }

  // Owns `target` until release().
  void adopt(std::shared_ptr<PollTarget> target);
  // Drops the ownership adopt() took, once events already taken from the kernel (which may
  // point at `target`) have been delivered.
  void release(PollTarget& target);

 private:
  static constexpr size_t kMaxEvents = 256;

  bool control(int op, int fd, uint32_t events, PollTarget* target, unsigned tag) {
    epoll_event event{};
    event.events = events;
    // Targets are pointer-aligned, so the low bit is free for the tag.
    event.data.u64 = reinterpret_cast<uintptr_t>(target) | (tag & 1u);
    return ::epoll_ctl(epoll_fd_.get(), op, fd, &event) == 0;
  }
  void unlink(PollTarget& target);
  void arm();
  void poll();

  EventLoop& loop_;
  UniqueFd epoll_fd_;
  std::unique_ptr<FdWatch> watch_;  // after epoll_fd_: stops watching before it is closed
  PollTarget* live_ = nullptr;
  bool delivering_ = false;
  std::vector<std::shared_ptr<PollTarget>> retired_;
  std::array<epoll_event, kMaxEvents> events_;
};

}  // namespace acctl::gate
