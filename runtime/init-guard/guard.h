// init-guard: PID 1 of paranoid sandboxes, and the way `acctl shell` enters a running one.
//
//   init-guard [--enter] -- COMMAND [ARG...]
//
// Becomes the agent (uid/gid 1000, no supplementary groups) when started as root, and checks
// that there is no way back (fails closed otherwise); gives the command the hooks (LD_PRELOAD)
// when the sandbox has a gate; then, as PID 1, runs the command as its child, forwards it
// SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1 and SIGUSR2, reaps every orphan, and exits
// with the command's status (128 + N for signal N). With --enter, or when not PID 1, it execs
// the command itself. Its own failures exit 125 before the command runs; 126 and 127 are a
// command that cannot be run or found, as a shell says.
//
// The logic is here, against GuardSystem (the system calls), so it is unit-tested without a
// container; real_system.cc has the calls.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace acctl::guard {

inline constexpr uid_t kAgentUid = 1000;
inline constexpr gid_t kAgentGid = 1000;
inline constexpr const char* kNetHook = "/opt/acctl/lib/ac_net_hook.so";
inline constexpr const char* kGateVariable = "ACCTL_GATE_ADDR";

inline constexpr int kExitGuardFailed = 125;
inline constexpr int kExitCannotRun = 126;
inline constexpr int kExitNotFound = 127;

struct Options {
  bool enter = false;
  std::vector<std::string> command;
};
// Errors: a usage message.
Result<Options> parse_args(const std::vector<std::string>& args);

// The command's environment: `env` (NAME=VALUE entries) with the hook first in LD_PRELOAD when
// the sandbox has a gate (kGateVariable set), once.
std::vector<std::string> command_environment(const std::vector<std::string>& env,
                                             const std::string& hook = kNetHook);
// Whether `env` names a gate, so the hook must be there.
bool wants_hook(const std::vector<std::string>& env);

// The exit status a shell would report for a wait(2) status.
int exit_status_of(int wait_status);

// The system calls init-guard makes, so its logic runs against a fake in the unit tests.
class GuardSystem {
 public:
  virtual ~GuardSystem() = default;
  virtual pid_t getpid() = 0;
  virtual uid_t geteuid() = 0;
  // setgroups(0), setresgid(gid ×3), setresuid(uid ×3), in that order.
  virtual Status drop_to(uid_t uid, gid_t gid) = 0;
  // Every real, effective and saved id is uid/gid, there are no supplementary groups, and
  // setresuid(0, 0, 0) fails.
  virtual Status check_dropped(uid_t uid, gid_t gid) = 0;
  virtual bool is_file(const std::string& path) = 0;
  // Blocks the forwarded signals and SIGCHLD, so they wait for wait_signal().
  virtual Status block_signals() = 0;
  // fork; the child unblocks every signal and execs. -> the child's pid.
  virtual Result<pid_t> spawn(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env) = 0;
  // Replaces the process; returns only when exec failed, with its errno.
  virtual int exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) = 0;
  // The next blocked signal that arrived.
  virtual Result<int> wait_signal() = 0;
  // waitpid(-1, WNOHANG): a finished child and its wait status, nullopt when none is left to
  // reap now.
  virtual std::optional<std::pair<pid_t, int>> reap() = 0;
  virtual void send(pid_t pid, int sig) = 0;
  virtual void say(std::string_view line) = 0;  // one line on stderr
};

// Everything init-guard does; returns its exit status (unless exec replaced it).
int run(GuardSystem& sys, const Options& options, const std::vector<std::string>& env);

}  // namespace acctl::guard
