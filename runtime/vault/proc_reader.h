// What the vault learns about a process from /proc, behind a facade so the caller check is
// unit-tested with a fake; RealProcReader reads the real files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace acctl::vault {

struct ProcessInfo {
  pid_t pid = 0;
  std::string exe;  // readlink /proc/PID/exe
  uid_t real_uid = 0;
  uid_t effective_uid = 0;
  pid_t ppid = 0;
  uint64_t starttime = 0;  // clock ticks after boot, field 22 of /proc/PID/stat
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;

  std::optional<std::string> getenv(std::string_view name) const;
};

class ProcReader {
 public:
  virtual ~ProcReader() = default;
  // One process, read consistently (the same process from the first file to the last).
  virtual Result<ProcessInfo> read(pid_t pid) = 0;
  // CLOCK_BOOTTIME in clock ticks (the unit of ProcessInfo::starttime).
  virtual uint64_t boot_ticks_now() = 0;
};

// Parsers of the /proc files, exposed for the tests.
struct StatFields {
  pid_t ppid = 0;
  uint64_t starttime = 0;
};
// Fields 4 and 22 of /proc/PID/stat, counted after the last ')' (the command name may hold
// anything, parentheses and spaces included).
Result<StatFields> parse_stat(std::string_view text);
// The real and effective uid from the Uid: line of /proc/PID/status.
Result<std::pair<uid_t, uid_t>> parse_status_uids(std::string_view text);
// NUL-separated words (a trailing NUL ends the last word, it does not start an empty one).
std::vector<std::string> split_nul(std::string_view text);
// NAME=VALUE entries; one without '=' is a name with an empty value.
std::vector<std::pair<std::string, std::string>> parse_environ(std::string_view text);

class RealProcReader : public ProcReader {
 public:
  Result<ProcessInfo> read(pid_t pid) override;
  uint64_t boot_ticks_now() override;
};

}  // namespace acctl::vault
