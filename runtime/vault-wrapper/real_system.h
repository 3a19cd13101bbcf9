// The real system calls behind WrapperSystem.
#pragma once

#include <cstdint>

#include "common/fd.h"
#include "vault-wrapper/wrapper.h"

namespace acctl::wrapper {

class RealSystem : public WrapperSystem {
 public:
  Status connect(const std::string& socket) override;
  Result<vault::Message> exchange(const vault::Message& request, int timeout_ms) override;
  Result<std::string> read_stdin(size_t max) override;
  Status write_stdout(std::string_view bytes) override;
  bool is_executable(const std::string& path) override;
  Result<std::string> make_private_dir(const std::string& base, const std::string& prefix) override;
  Status write_new_file(const std::string& path, std::string_view content) override;
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override;
  Status unlink(const std::string& path) override;
  Status rmdir(const std::string& path) override;
  Status block_signals() override;
  Result<pid_t> spawn(const std::vector<std::string>& argv,
                      const std::vector<std::string>& env) override;
  Result<Signal> wait_signal() override;
  Result<std::optional<int>> reap(pid_t pid) override;
  void send(pid_t pid, int sig) override;
  void say(std::string_view line) override;

 private:
  UniqueFd vault_;
  int64_t started_ms_ = 0;  // when connect() began: the exchange's deadline counts from here
};

}  // namespace acctl::wrapper
