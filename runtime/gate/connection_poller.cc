// ConnectionPoller: delivers the epoll set's events and keeps released targets alive until then.
#include "gate/connection_poller.h"

#include <cerrno>

namespace acctl::gate {

ConnectionPoller::~ConnectionPoller() {
  while (live_ != nullptr) {
    PollTarget* target = live_;
    unlink(*target);
    std::shared_ptr<PollTarget> last = std::move(target->self_);
  }
}

Status ConnectionPoller::open() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return sys_error("epoll_create1", errno);
  UniqueFd epoll_fd(fd);
  auto watch = loop_.watch(fd);
  if (!watch) return watch.error().within("epoll descriptor");
  epoll_fd_ = std::move(epoll_fd);
  watch_ = std::move(*watch);
  return ok_status();
}

void ConnectionPoller::adopt(std::shared_ptr<PollTarget> target) {
  PollTarget& t = *target;
  t.self_ = std::move(target);
  t.next_ = live_;
  if (live_ != nullptr) live_->prev_ = &t;
  live_ = &t;
}

void ConnectionPoller::release(PollTarget& target) {
  if (!target.self_) return;
  unlink(target);
  if (delivering_) {
    retired_.push_back(std::move(target.self_));
  } else {
    loop_.post([last = std::move(target.self_)] {});
  }
}

void ConnectionPoller::unlink(PollTarget& target) {
  if (target.prev_ != nullptr) target.prev_->next_ = target.next_;
  if (target.next_ != nullptr) target.next_->prev_ = target.prev_;
  if (live_ == &target) live_ = target.next_;
  target.prev_ = target.next_ = nullptr;
}

void ConnectionPoller::arm() {
  watch_->wait_readable([this](bool ready) {
    if (ready) poll();
  });
}

void ConnectionPoller::poll() {
  const int n = ::epoll_wait(epoll_fd_.get(), events_.data(), static_cast<int>(kMaxEvents), 0);
  delivering_ = true;
  for (int i = 0; i < n; ++i) {
    const uint64_t data = events_[i].data.u64;
    reinterpret_cast<PollTarget*>(static_cast<uintptr_t>(data & ~uint64_t{1}))
        ->on_events(events_[i].events, static_cast<unsigned>(data & 1));
  }
  delivering_ = false;
  retired_.clear();
  // Re-arming re-checks readiness, so events left over (more than kMaxEvents) wake us again.
  arm();
}

}  // namespace acctl::gate
