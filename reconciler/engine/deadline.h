// How long an engine call may take: the client's per-call timeout, the command's deadline, and
// a shorter bound a caller sets for the calls of one thread (CallTimeout). Every engine client
// (libcurl, the fake) honours them the same way, and reports a call that ran out the same way.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "engine/endpoint.h"
#include "engine/result.h"

namespace acctl::engine {

// While one lives, engine calls made on this thread give up after `limit` (nested ones: the
// shorter wins). Observation uses it so that one stuck container cannot stall a whole diff.
class CallTimeout {
 public:
  // `beyond_deadline`: the calls may run past the command's deadline (a last probe of whether
  // the engine answers at all, after the deadline passed).
  explicit CallTimeout(std::chrono::milliseconds limit, bool beyond_deadline = false);
  ~CallTimeout();
  CallTimeout(const CallTimeout&) = delete;
  CallTimeout& operator=(const CallTimeout&) = delete;
  // The bound in force on this thread, if any.
  static std::optional<std::chrono::milliseconds> current();
  static bool beyond_deadline();

 private:
  std::optional<std::chrono::milliseconds> previous_;
  bool previous_beyond_ = false;
};

// How long a call may take now: `per_call` (0 = unbounded, for streams), bounded by the
// thread's CallTimeout and what is left of options.deadline. nullopt: the deadline has passed.
std::optional<std::chrono::milliseconds> call_budget(const EngineOptions& options,
                                                     std::chrono::milliseconds per_call);

// The error of a call that got no answer in time: "<what>: the engine did not answer within
// 5.0s (Docker engine at unix:///…)", timed_out set.
Error timeout_error(const std::string& what, std::chrono::milliseconds after,
                    const std::string& host);
// The error of a call not made because the command's --timeout ran out.
Error deadline_error(const std::string& what, const std::string& host);

}  // namespace acctl::engine
