// run_session: a thread copying stdin into the stream, this one copying the stream out.
#include "cli/terminal_session.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

namespace acctl::cli {
namespace {

std::atomic<bool> g_resized{false};
void on_winch(int) {
  g_resized = true;
}

// Raw mode on a terminal for as long as it lives; the old settings back on every way out.
class RawMode {
 public:
  explicit RawMode(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawMode() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void send_size(engine::AttachedStream& stream, int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
    (void)stream.resize(ws.ws_row, ws.ws_col);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

Status run_session(engine::AttachedStream& stream, const SessionFds& fds) {
  const bool tty = stream.tty() && ::isatty(fds.in) == 1;
  std::optional<RawMode> raw;
  struct sigaction old_winch {};
  if (tty) {
    raw.emplace(fds.in);
    struct sigaction sa {};
    sa.sa_handler = on_winch;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGWINCH, &sa, &old_winch);
    send_size(stream, fds.in);
  }
  std::atomic<bool> done{false};
  // stdin → the process, until ours ends or the stream does.
  std::thread input([&] {
    char buf[8192];
    while (!done) {
      pollfd p{fds.in, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      ssize_t n = ::read(fds.in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A terminal's user ends the shell from inside it; a pipe's end is the process's EOF.
        if (!stream.tty()) (void)stream.close_stdin();
        return;
      }
      if (!stream.write(std::string_view(buf, static_cast<size_t>(n)))) return;
    }
  });
  Status result = ok_status();
  while (true) {
    if (tty && g_resized.exchange(false)) send_size(stream, fds.in);
    auto r = stream.read(
        [&](engine::LogStream s, std::string_view bytes) {
          return write_all(s == engine::LogStream::kStderr ? fds.err : fds.out, bytes);
        },
        std::chrono::milliseconds(100));
    if (!r) {
      result = r.error();
      break;
    }
    if (*r == engine::AttachedStream::ReadResult::kEnded ||
        *r == engine::AttachedStream::ReadResult::kStopped)
      break;
  }
  done = true;
  input.join();
  if (tty) ::sigaction(SIGWINCH, &old_winch, nullptr);
  return result;
}

}  // namespace acctl::cli
