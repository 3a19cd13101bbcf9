// The machine as converge sees it: environment, clocks and sleep, this process's privileges.
// Handed in, never reached for, so tests run hermetic and fast.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "converge/sandbox_host.h"

namespace acctl {

class System {
 public:
  virtual ~System() = default;
  // An environment variable; nullopt when unset or empty.
  virtual std::optional<std::string> env(const std::string& name) const = 0;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) const = 0;
  // What this process's capability bounding set lets a host container have.
  virtual HostPrivileges privileges() const = 0;
};

// The real machine: getenv, steady_clock, this_thread::sleep_for, /proc/self/status.
const System& real_system();

}  // namespace acctl
