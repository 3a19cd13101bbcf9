// The real system calls behind GuardSystem.
#pragma once

#include "init-guard/guard.h"

namespace acctl::guard {

class RealSystem : public GuardSystem {
 public:
  pid_t getpid() override;
  uid_t geteuid() override;
  Status drop_to(uid_t uid, gid_t gid) override;
  Status check_dropped(uid_t uid, gid_t gid) override;
  bool is_file(const std::string& path) override;
  Result<std::string> read_file(const std::string& path, size_t limit) override;
  bool is_dir(const std::string& path) override;
  Status write_new_file(const std::string& path, const std::string& content, mode_t mode) override;
  Status chown_dir(const std::string& path, uid_t uid, gid_t gid) override;
  Result<pid_t> start_daemon(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, int timeout_ms) override;
  Status block_signals() override;
  Result<pid_t> spawn(const std::vector<std::string>& argv,
                      const std::vector<std::string>& env) override;
  int exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) override;
  Result<int> wait_signal() override;
  std::optional<std::pair<pid_t, int>> reap() override;
  void send(pid_t pid, int sig) override;
  void say(std::string_view line) override;
};

}  // namespace acctl::guard
