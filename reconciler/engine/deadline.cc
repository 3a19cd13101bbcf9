// CallTimeout's thread-local bound and the shared timeout errors.
#include "engine/deadline.h"

#include <algorithm>
#include <cstdio>

namespace acctl::engine {
namespace {

thread_local std::optional<std::chrono::milliseconds> g_call_timeout;
thread_local bool g_beyond_deadline = false;

std::string seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

CallTimeout::CallTimeout(std::chrono::milliseconds limit, bool beyond_deadline)
    : previous_(g_call_timeout), previous_beyond_(g_beyond_deadline) {
  g_call_timeout = previous_ && !beyond_deadline ? std::min(*previous_, limit) : limit;
  g_beyond_deadline = g_beyond_deadline || beyond_deadline;
}

CallTimeout::~CallTimeout() {
  g_call_timeout = previous_;
  g_beyond_deadline = previous_beyond_;
}

bool CallTimeout::beyond_deadline() {
  return g_beyond_deadline;
}

std::optional<std::chrono::milliseconds> CallTimeout::current() {
  return g_call_timeout;
}

std::optional<std::chrono::milliseconds> call_budget(const EngineOptions& options,
                                                     std::chrono::milliseconds per_call) {
  std::optional<std::chrono::milliseconds> budget;
  if (per_call.count() > 0) budget = per_call;
  if (auto t = CallTimeout::current()) budget = budget ? std::min(*budget, *t) : *t;
  if (options.deadline && !g_beyond_deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        *options.deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    budget = budget ? std::min(*budget, left) : left;
  }
  return budget.value_or(std::chrono::milliseconds(0));
}

Error timeout_error(const std::string& what, std::chrono::milliseconds after,
                    const std::string& host) {
  Error e{0, what + ": the engine did not answer within " + seconds(after) + " (Docker engine at " +
                 host + ")"};
  e.timed_out = true;
  return e;
}

Error deadline_error(const std::string& what, const std::string& host) {
  Error e{0, what + ": not asked, the command's time (--timeout) ran out (Docker engine at " +
                 host + ")"};
  e.timed_out = true;
  return e;
}

}  // namespace acctl::engine
