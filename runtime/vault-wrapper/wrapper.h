// ac-vault: the vault's only client inside paranoid sandboxes (git's credential helper, gh and
// glab with a token they never see in argv or the environment, and a liveness ping).
//
//   ac-vault git-credential get|store|erase   git's credential helper (the system gitconfig)
//   gh ARG... | glab ARG...                   via the symlinks /usr/local/bin/gh and glab
//   ac-vault gh|glab ARG...                   the same, named by the first argument
//   ac-vault ping                             "vault: answering", or exit 1
//
// The daemon (ac-vaultd, root) answers only a process whose /proc/<pid>/exe is this binary and
// whose parent chain it allows, so this binary is what stands between the agent (same uid 1000)
// and a token: it refuses, before asking, everything that would print the token (git's and
// gh's tracing, `gh auth token`, `gh config get`, extensions, aliases...), and puts the token
// only where it is needed: git's stdout pipe, or a fresh 0700 folder holding the CLI's own
// config file, removed once the CLI has exited. Every refusal and failure is one stderr line
// `acctl vault: ...` and a non-zero exit, never a fallback.
//
// Exit status: 0 done; 1 refused or failed; 2 usage; 127 the CLI is not in the image; the CLI's
// own status otherwise (128 + N when signal N ended it).
//
// The socket is kDefaultSocket unless ACCTL_VAULT_SOCKET names another (absolute) path. That
// override is kept on purpose: the wrapper sends only non-secret requests, so pointing it at
// another daemon can only get back what that daemon (the agent's own, say) chose to answer,
// never a token from the vault; and it lets the tests run the real binary against an in-test
// server. To keep messages honest, every error about the connection names the socket it used.
//
// gh and glab run as a child (fork + exec, never exec-replace: the folder must go afterwards)
// with SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGWINCH passed on, except those the terminal sent
// to the whole foreground group, which the CLI got already. Their environment loses every
// variable that would give them another token (GH_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN...), config
// folder, or default host (GH_HOST, GITLAB_HOST...): the vault's token is for github.com or
// gitlab.com only, so the CLI is pinned to that host and reads no config but the one written
// for it. help and version run the same way but without asking the vault for a token.
//
// The logic is here, against WrapperSystem (the system calls), so it is unit-tested with a fake;
// real_system.cc has the calls.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "vault/protocol.h"

namespace acctl::wrapper {

inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotInstalled = 127;

inline constexpr int kTimeoutMs = 10'000;
inline constexpr const char* kSocketVariable = "ACCTL_VAULT_SOCKET";
inline constexpr const char* kRealGh = "/usr/bin/gh";
inline constexpr const char* kRealGlab = "/usr/bin/glab";

// git's request on stdin, at most this many bytes (git sends a few hundred).
inline constexpr size_t kMaxGitInput = 64 * 1024;
inline constexpr size_t kMaxGitValue = 4096;

enum class Mode { kGitCredential, kGh, kGlab, kPing };
struct Invocation {
  Mode mode;
  std::vector<std::string> args;  // after the mode's word: get|store|erase, or the CLI's args
};
// From argv[0]'s basename (gh, glab, ac-vault) and, for ac-vault, the first argument.
// Errors: a usage message.
Result<Invocation> parse_invocation(const std::vector<std::string>& argv);

// The attributes of git's request that are passed on; the others are read and dropped.
struct GitRequest {
  std::string protocol;
  std::string host;
  std::optional<std::string> path;
};
// Parses git's `key=value` lines (everything before an empty line). Errors: why it is refused.
Result<GitRequest> parse_git_request(std::string_view input);

// Why the environment must not reach git or the CLI with a token: the first tracing variable
// that would print it; nullopt when there is none.
std::optional<std::string> git_trace_refusal(const std::vector<std::string>& env);
std::optional<std::string> cli_debug_refusal(const std::vector<std::string>& env);

enum class Cli { kGh, kGlab };
// Why `args` (after the CLI's name) is refused, naming the refused word; nullopt when allowed.
std::optional<std::string> cli_args_refusal(Cli cli, const std::vector<std::string>& args);
// Whether the command needs the token at all (help and version do not).
bool cli_needs_token(const std::vector<std::string>& args);

// The CLI's environment: `env` without any variable that would give it another token, config
// folder or host, plus its config folder `config_dir`.
std::vector<std::string> cli_environment(Cli cli, const std::vector<std::string>& env,
                                         const std::string& config_dir);

// One file of the CLI's config folder.
struct ConfigFile {
  std::string name;
  std::string content;
};
// The files that make the CLI use `token` (nullopt: no token, for help and version).
std::vector<ConfigFile> cli_config_files(Cli cli, const std::optional<std::string>& token);

// Whether a token or credential from the daemon is safe to put in git's stream or a YAML file.
bool plausible_secret(std::string_view s);

// A signal that arrived while the forwarded ones were blocked.
struct Signal {
  int number = 0;
  // Sent by the terminal to the whole foreground process group, which the CLI is in too.
  bool from_terminal = false;
};
struct DirEntry {
  std::string name;
  bool is_dir = false;
};

// The system calls ac-vault makes, so its logic runs against a fake in the unit tests.
class WrapperSystem {
 public:
  virtual ~WrapperSystem() = default;
  // Connects to the daemon's socket; starts the exchange's deadline. Errors carry the errno.
  virtual Status connect(const std::string& socket) = 0;
  // Sends `request` on the connection and waits for the reply, until the deadline that
  // connect() started plus `timeout_ms` (Error::timed_out when it passes).
  virtual Result<vault::Message> exchange(const vault::Message& request, int timeout_ms) = 0;
  // Up to `max` bytes from stdin; "" at end of input.
  virtual Result<std::string> read_stdin(size_t max) = 0;
  virtual Status write_stdout(std::string_view bytes) = 0;
  virtual bool is_executable(const std::string& path) = 0;
  // mkdtemp(base/prefixXXXXXX), then checked: a folder (not a symlink) of ours, mode 0700.
  virtual Result<std::string> make_private_dir(const std::string& base,
                                               const std::string& prefix) = 0;
  // O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600; all of `content` written and the file closed.
  virtual Status write_new_file(const std::string& path, std::string_view content) = 0;
  // The entries of `dir` (not . and ..), their type from lstat.
  virtual Result<std::vector<DirEntry>> list_dir(const std::string& dir) = 0;
  virtual Status unlink(const std::string& path) = 0;  // never follows a symlink
  virtual Status rmdir(const std::string& path) = 0;
  // Blocks the forwarded signals and SIGCHLD, so they wait for wait_signal().
  virtual Status block_signals() = 0;
  // fork; the child restores the signal mask and dispositions and execs argv[0] (a full path).
  virtual Result<pid_t> spawn(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env) = 0;
  virtual Result<Signal> wait_signal() = 0;
  // waitpid(pid, WNOHANG): its wait status once it has finished, nullopt while it runs.
  virtual Result<std::optional<int>> reap(pid_t pid) = 0;
  virtual void send(pid_t pid, int sig) = 0;
  virtual void say(std::string_view line) = 0;  // one line on stderr
};

// Everything ac-vault does for `invocation`; returns its exit status.
int run(WrapperSystem& sys, const Invocation& invocation, const std::vector<std::string>& env);

}  // namespace acctl::wrapper
