// For tests that run real tools (curl, dig, openssl, git, docker, the built binaries): a shell
// command's output and exit status. Every acctl_gtest target can include it.
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <string>

namespace acctl::test_support {

struct CommandResult {
  int status = -1;     // the exit status; -1 when it could not run or was ended by a signal
  std::string output;  // stdout and stderr, in the order written
};

// Runs `command` with sh -c, its stderr joined to its stdout, and waits for it.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = ::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace acctl::test_support
