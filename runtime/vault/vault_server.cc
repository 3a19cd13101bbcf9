// The vault's socket, poll loop and replies (see vault_server.h); check_caller decides.
#include "vault/vault_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

#include "common/syscall.h"

namespace acctl::vault {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLoggedField = 80;
constexpr size_t kMaxLoggedReason = 300;

// What the caller chose, fit for one log line: printable ASCII only, and not too long.
std::string loggable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

Status ensure_directory(const std::string& dir, uid_t owner) {
  // Missing components are made, outermost first.
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string part = dir.substr(0, slash);
    if (::mkdir(part.c_str(), 0755) == 0) {
      if (auto s = check(::chmod(part.c_str(), 0755), "chmod " + part); !s) return s;
    } else if (errno != EEXIST) {
      return sys_error("mkdir " + part, errno);
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (auto s = check(::lstat(dir.c_str(), &st), "lstat " + dir); !s) return s;
  if (S_ISLNK(st.st_mode)) return Error{0, dir + " is a symlink"};
  if (!S_ISDIR(st.st_mode)) return Error{0, dir + " is not a directory"};
  if (st.st_uid != owner)
    return Error{0, dir + " is owned by uid " + std::to_string(st.st_uid) + ", not " +
                        std::to_string(owner)};
  if (st.st_mode & 022) return Error{0, dir + " is writable by group or others"};
  return ok_status();
}

}  // namespace

struct VaultServer::Client {
  UniqueFd fd;
  Peer peer;
  Clock::time_point deadline;
  FrameReader reader;
  std::string out;  // the reply, once there is one
  size_t sent = 0;

  bool replying() const { return !out.empty(); }
  ~Client() { wipe(out); }
};

Result<UniqueFd> listen_vault_socket(const std::string& path, uid_t owner) {
  sockaddr_un addr{};
  if (path.empty() || path.front() != '/')
    return Error{0, "socket path " + path + " is not absolute"};
  if (path.size() >= sizeof addr.sun_path) return Error{0, "socket path " + path + " is too long"};
  const std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) {
    if (auto s = ensure_directory(dir, owner); !s) return s.error();
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{0, path + " exists and is not a socket"};
    if (auto s = check(::unlink(path.c_str()), "unlink stale " + path); !s) return s.error();
  } else if (errno != ENOENT) {
    return sys_error("lstat " + path, errno);
  }
  auto fd = open_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd) return fd.error();
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (auto s = check(::bind(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr),
                     "bind " + path);
      !s)
    return s.error();
  if (auto s = check(::chmod(path.c_str(), 0666), "chmod " + path); !s) return s.error();
  // Credentials on everything received, from the first byte (accepted sockets set it again).
  const int one = 1;
  if (auto s = check(::setsockopt(fd->get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one),
                     "SO_PASSCRED " + path);
      !s)
    return s.error();
  if (auto s = check(::listen(fd->get(), 64), "listen " + path); !s) return s.error();
  return fd;
}

void log_to_stderr(std::string_view line) {
  std::string out(line);
  out += '\n';
  (void)write_all(STDERR_FILENO, out);
}

VaultServer::VaultServer(ServerConfig config, Tokens tokens, ProcReader& proc, UniqueFd listener,
                         LogLine log)
    : config_(std::move(config)),
      tokens_(std::move(tokens)),
      proc_(proc),
      listener_(std::move(listener)),
      log_(std::move(log)) {
  config_.policy.github_token = tokens_.github.has_value();
  config_.policy.gitlab_token = tokens_.gitlab.has_value();
}

VaultServer::~VaultServer() = default;

Status VaultServer::serve(int stop_fd) {
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({stop_fd, POLLIN, 0});
    fds.push_back({listener_.get(), POLLIN, 0});
    auto next_deadline = Clock::time_point::max();
    for (const auto& c : clients_) {
      fds.push_back({c->fd.get(), static_cast<short>(c->replying() ? POLLOUT : POLLIN), 0});
      next_deadline = std::min(next_deadline, c->deadline);
    }
    int timeout = -1;
    if (next_deadline != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_deadline - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll", errno);
    }
    if (fds[0].revents) return ok_status();

    // Clients first (indexes match fds from 2 on), then new ones, then the expired.
    std::vector<bool> keep(clients_.size(), true);
    for (size_t i = 0; i < clients_.size(); ++i) {
      const short ev = fds[i + 2].revents;
      if (ev == 0) continue;
      Client& c = *clients_[i];
      keep[i] = c.replying() ? on_writable(c) : on_readable(c);
    }
    const auto now = Clock::now();
    std::vector<std::unique_ptr<Client>> live;
    for (size_t i = 0; i < clients_.size(); ++i) {
      if (!keep[i]) continue;
      if (clients_[i]->deadline <= now) {
        log_("vault: dropped pid " + std::to_string(clients_[i]->peer.pid) + ": no " +
             (clients_[i]->replying() ? "reading of its reply" : "whole request") + " within " +
             std::to_string(config_.deadline.count()) + " ms");
        continue;
      }
      live.push_back(std::move(clients_[i]));
    }
    clients_ = std::move(live);
    if (fds[1].revents) accept_all();
  }
}

void VaultServer::accept_all() {
  while (true) {
    const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EAGAIN: all taken. Anything else (EMFILE, say) passes; the next poll tries again.
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log_(std::string("vault: accept: ") + std::strerror(errno));
      return;
    }
    UniqueFd conn(fd);
    if (clients_.size() >= config_.max_clients) {
      log_("vault: refused a connection: " + std::to_string(config_.max_clients) +
           " clients are already being served");
      continue;
    }
    auto c = std::make_unique<Client>();
    // Who sent the request comes with its bytes (SCM_CREDENTIALS, which the kernel checks
    // against the sender), not from SO_PEERCRED: this gVisor answers SO_PEERCRED on an accepted
    // socket with the listener's own pid and uid (measured: pid 1, uid 0 for a uid-1000 client).
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
      log_(std::string("vault: refused a connection: SO_PASSCRED: ") + std::strerror(errno));
      continue;
    }
    c->deadline = Clock::now() + config_.deadline;
    c->fd = std::move(conn);
    clients_.push_back(std::move(c));
  }
}

bool VaultServer::on_readable(Client& c) {
  char buffer[4096];
  while (true) {
    auto next = c.reader.next();
    if (!next) {
      log_("vault: refused pid " + std::to_string(c.peer.pid) +
           ": malformed request: " + loggable(next.error().message, kMaxLoggedReason));
      reply(c, refusal("the request is malformed: " + next.error().message));
      return on_writable(c);
    }
    if (*next) {
      reply(c, answer(c, **next));
      return on_writable(c);
    }
    // Never more than the frame: what follows it is not ours to read.
    const size_t want = std::min(c.reader.wanted(), sizeof buffer);
    iovec iov{buffer, want};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(c.fd.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return false;
    }
    if (n == 0) {
      log_("vault: dropped pid " + std::to_string(c.peer.pid) +
           ": it closed the connection before a whole request");
      return false;
    }
    // Every piece of the request carries its sender, and it is one sender throughout (a
    // connection handed to another process halfway is refused).
    std::optional<ucred> sender;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
          cm->cmsg_len == CMSG_LEN(sizeof(ucred))) {
        ucred u;
        std::memcpy(&u, CMSG_DATA(cm), sizeof u);
        sender = u;
      }
    }
    if (!sender || sender->pid <= 0 || (c.peer.pid != 0 && sender->pid != c.peer.pid) ||
        (msg.msg_flags & MSG_CTRUNC)) {
      log_("vault: refused a connection: its request came without its sender's credentials");
      reply(c, refusal("the request must carry its sender's credentials (SCM_CREDENTIALS)"));
      return on_writable(c);
    }
    if (c.peer.pid == 0) {
      c.peer.pid = sender->pid;
      c.peer.uid = sender->uid;
      c.peer.accepted_at = proc_.boot_ticks_now();
    }
    c.reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
  }
}

bool VaultServer::on_writable(Client& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    c.sent += static_cast<size_t>(n);
  }
  ::shutdown(c.fd.get(), SHUT_WR);
  return false;
}

void VaultServer::reply(Client& c, Message message) {
  c.out = encode(message);
  c.sent = 0;
  for (auto& [k, v] : message.fields) wipe(v);
}

Message VaultServer::answer(const Client& c, const Message& request) {
  const Decision d = check_caller(request, c.peer, config_.policy, proc_);
  std::string line = std::string("vault: ") + (d.allowed ? "allowed " : "refused ") +
                     loggable(d.op.empty() ? "request" : d.op, kMaxLoggedField);
  if (!d.host.empty()) line += " " + loggable(d.host, kMaxLoggedField);
  line += " for pid " + std::to_string(c.peer.pid);
  if (!d.what.empty()) line += " (" + loggable(d.what, kMaxLoggedField) + ")";
  if (!d.allowed) line += ": " + loggable(d.reason, kMaxLoggedReason);
  log_(line);

  if (!d.allowed) return refusal(d.reason);
  Message m;
  m.set(key::kStatus, kStatusOk);
  if (!d.provider) return m;  // ping
  const auto& token = *d.provider == Provider::kGithub ? tokens_.github : tokens_.gitlab;
  if (!token)
    return refusal("the vault holds no " + std::string(provider_name(*d.provider)) + " token");
  if (d.op == op::kGitCredential) {
    m.set(key::kUsername, git_username(*d.provider));
    m.set(key::kPassword, token->view());
  } else {
    m.set(key::kToken, token->view());
  }
  return m;
}

}  // namespace acctl::vault
