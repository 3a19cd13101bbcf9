// The real System.
#include "converge/system.h"

#include <cstdlib>
#include <thread>

namespace acctl {
namespace {

class RealSystem final : public System {
 public:
  std::optional<std::string> env(const std::string& name) const override {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  }
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  void sleep_for(std::chrono::milliseconds duration) const override {
    std::this_thread::sleep_for(duration);
  }
  HostPrivileges privileges() const override { return detect_privileges(); }
};

}  // namespace

const System& real_system() {
  static const RealSystem system;
  return system;
}

}  // namespace acctl
