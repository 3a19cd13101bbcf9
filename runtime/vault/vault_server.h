// ac-vaultd's server: a unix socket, a single-threaded poll loop over many clients, one reply each.
//
// The socket is mode 0666 on purpose: the agent (uid 1000) runs the client, ac-vault, which must
// connect. Anyone in the sandbox can reach it, so the boundary is check_caller (caller_check.h),
// applied to the peer's SO_PEERCRED pid and uid taken at accept. Only the directory holding the
// socket is guarded (owned by root, not writable by others), so nobody can put another socket
// in its place.
//
// Each client has a deadline from accept to its reply; one that is idle, trickles or does not
// read its reply is dropped then, without delaying the others. Beyond a cap on simultaneous
// clients, new connections are closed at once. Every decision is one log line, which never holds
// a token and caps the length of what the caller chose.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "vault/caller_check.h"
#include "vault/proc_reader.h"
#include "vault/secrets.h"

namespace acctl::vault {

struct ServerConfig {
  std::string socket_path = kDefaultSocket;
  uid_t owner = 0;  // who must own the socket's directory
  std::chrono::milliseconds deadline{5000};
  size_t max_clients = 32;
  CallerPolicy policy;  // its *_token flags are set from the tokens held
};

// Makes the socket's directory (mode 0755) when it is missing, checks it is a real directory
// owned by `owner` and writable by nobody else, removes a stale socket, and listens on a fresh
// non-blocking one (mode 0666).
Result<UniqueFd> listen_vault_socket(const std::string& path, uid_t owner);

using LogLine = std::function<void(std::string_view)>;
// Writes the line and a newline to stderr.
void log_to_stderr(std::string_view line);

class VaultServer {
 public:
  VaultServer(ServerConfig config, Tokens tokens, ProcReader& proc, UniqueFd listener,
              LogLine log = log_to_stderr);
  ~VaultServer();
  VaultServer(const VaultServer&) = delete;
  VaultServer& operator=(const VaultServer&) = delete;

  // Serves until `stop_fd` is readable (a signalfd, or a pipe in tests); errors only when polling
  // or accepting fails for good.
  Status serve(int stop_fd);

 private:
  struct Client;

  void accept_all();
  // Reads what the client sent; replies when its request is whole. false: drop the client.
  bool on_readable(Client& client);
  // Sends what is left of the reply. false: done (or failed), close it.
  bool on_writable(Client& client);
  void reply(Client& client, Message message);
  Message answer(const Client& client, const Message& request);

  ServerConfig config_;
  Tokens tokens_;
  ProcReader& proc_;
  UniqueFd listener_;
  LogLine log_;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace acctl::vault
