// init-guard: PID 1 of paranoid sandboxes, and the way `acctl shell` enters a running one.
//
//   init-guard [--enter] -- COMMAND [ARG...]
//
// Started as root in a sandbox with credentials the vault delivers (acctl mounts its secrets),
// it first does the vault's root duties (vault_setup.h); token variables never reach the
// command. In a sandbox whose credentials the gate delivers (started as the agent), it writes a
// trust bundle with the gate's CA and gives gh and glab a placeholder login (gate_trust.h). Becomes
// the agent (uid/gid 1000, no supplementary groups) when started as root, and checks that there is
// no way back (fails closed otherwise); gives the command the hooks (LD_PRELOAD): the
// blocked-paths hook when the image has it (it must, when there are blocked paths), the connect()
// hook when the sandbox has a gate; then, as PID 1, runs the command as its child, forwards it
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
inline constexpr const char* kPathHook = "/opt/acctl/lib/ac_path_hook.so";
inline constexpr const char* kGateVariable = "ACCTL_GATE_ADDR";
inline constexpr const char* kBlockedPathsVariable = "ACCTL_BLOCKED_PATHS";

inline constexpr int kExitGuardFailed = 125;
inline constexpr int kExitCannotRun = 126;
inline constexpr int kExitNotFound = 127;

struct Options {
  bool enter = false;
  std::vector<std::string> command;
};
// Errors: a usage message.
Result<Options> parse_args(const std::vector<std::string>& args);

// The command's environment: `env` (NAME=VALUE entries) with `hooks` first in LD_PRELOAD, in
// that order, each once, before whatever else it preloads.
std::vector<std::string> command_environment(const std::vector<std::string>& env,
                                             const std::vector<std::string>& hooks);
// `env` with the agent's HOME (/home/agent), USER and LOGNAME in place of whatever a root
// start left there.
inline constexpr const char* kHome = "/home/agent";
std::vector<std::string> as_agent(const std::vector<std::string>& env);
// Whether `env` names a gate, so the connect() hook must be there.
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
  // The whole file, refusing one larger than `limit` bytes (a symlink is followed: the image's
  // system store is one).
  virtual Result<std::string> read_file(const std::string& path, size_t limit) = 0;
  virtual bool is_dir(const std::string& path) = 0;  // a folder, not a symlink to one
  // Creates `path` (it must not exist; a symlink is not followed) with `content` and `mode`.
  virtual Status write_new_file(const std::string& path, const std::string& content,
                                mode_t mode) = 0;
  // Gives the folder `path` to uid/gid, refusing a symlink (the folder itself only).
  virtual Status chown_dir(const std::string& path, uid_t uid, gid_t gid) = 0;
  // Starts a long-running helper with a pipe as its fd 3 and waits up to `timeout_ms` for it to
  // write "ready\n" there. -> its pid; on failure it is killed and the error says why.
  virtual Result<pid_t> start_daemon(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env, int timeout_ms) = 0;
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
