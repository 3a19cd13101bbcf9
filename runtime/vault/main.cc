// ac-vaultd: the credential vault daemon (options.h has its command line, vault_server.h what
// it does).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "common/syscall.h"
#include "vault/options.h"
#include "vault/proc_reader.h"
#include "vault/secrets.h"
#include "vault/vault_server.h"

namespace {

using namespace acctl;
using namespace acctl::vault;

constexpr int kExitStartFailed = 1;
constexpr int kExitUsage = 2;

int fail(const std::string& message, int status) {
  std::cerr << "ac-vaultd: " << message << "\n";
  return status;
}

// SIGTERM and SIGINT, blocked, as a descriptor the poll loop watches.
Result<UniqueFd> stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (auto s = check(::sigprocmask(SIG_BLOCK, &set, nullptr), "sigprocmask"); !s) return s.error();
  const int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return sys_error("signalfd", errno);
  return UniqueFd(fd);
}

Status announce_ready(int fd) {
  UniqueFd ready(fd);
  if (auto s = write_all(fd, "ready\n"); !s) return s.error().within("--ready-fd");
  return ready.close();
}

int run(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << kUsage << "\n";
    return 0;
  }
  auto options = parse_options(args);
  if (!options) return fail(options.error().message + " (see ac-vaultd --help)", kExitUsage);

  // No core dumps and no ptrace by anyone but root with CAP_SYS_PTRACE: the tokens are in here.
  if (::prctl(PR_SET_DUMPABLE, 0) != 0) return fail("prctl(PR_SET_DUMPABLE)", kExitStartFailed);
  if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return fail("ignoring SIGPIPE", kExitStartFailed);

  auto tokens = load_tokens(options->secrets_dir);
  if (!tokens) return fail(tokens.error().message, kExitStartFailed);
  auto stop = stop_signals();
  if (!stop) return fail(stop.error().message, kExitStartFailed);
  auto listener = listen_vault_socket(options->server.socket_path, options->server.owner);
  if (!listener) return fail(listener.error().message, kExitStartFailed);

  std::string held;
  if (tokens->github) held += " github";
  if (tokens->gitlab) held += " gitlab";
  RealProcReader proc;
  VaultServer server(options->server, std::move(*tokens), proc, std::move(*listener));
  if (options->ready_fd) {
    if (auto s = announce_ready(*options->ready_fd); !s)
      return fail(s.error().message, kExitStartFailed);
  }
  log_to_stderr("vault: listening on " + options->server.socket_path +
                " (tokens:" + (held.empty() ? " none" : held) + ")");
  if (auto s = server.serve(stop->get()); !s) return fail(s.error().message, kExitStartFailed);
  log_to_stderr("vault: stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run(std::vector<std::string>(argv + 1, argv + argc));
}
