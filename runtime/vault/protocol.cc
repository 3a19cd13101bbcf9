// The vault's framing and payload codec, and the blocking client calls (see protocol.h).
#include "vault/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/syscall.h"

namespace acctl::vault {

namespace {

uint32_t read_be32(std::string_view bytes) {
  const auto b = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i]));
  };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

Error protocol_error(std::string message) {
  return Error{0, std::move(message)};
}

int64_t monotonic_ms() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

std::optional<std::string> Message::get(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return v;
  return std::nullopt;
}

void Message::set(std::string_view key, std::string_view value) {
  for (auto& [k, v] : fields) {
    if (k == key) {
      v = value;
      return;
    }
  }
  fields.emplace_back(key, value);
}

Message refusal(std::string_view reason) {
  // Reasons quote what callers sent (hosts, paths): one line of bounded length whatever they are.
  constexpr size_t kMaxReason = 1000;
  std::string line;
  for (char c : reason.substr(0, kMaxReason))
    line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (reason.size() > kMaxReason) line += "...";
  Message m;
  m.set(key::kStatus, kStatusRefused);
  m.set(key::kReason, line);
  return m;
}

bool valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || c == '-')) return false;
  return true;
}

bool valid_value(std::string_view value) {
  return value.find('\0') == std::string_view::npos && value.find('\n') == std::string_view::npos;
}

Status validate(const Message& message) {
  if (message.fields.size() > kMaxFields)
    return protocol_error(std::to_string(message.fields.size()) + " fields, more than " +
                          std::to_string(kMaxFields));
  for (size_t i = 0; i < message.fields.size(); ++i) {
    const auto& [k, v] = message.fields[i];
    if (!valid_key(k)) return protocol_error("field name \"" + k + "\" is not [a-z-]+");
    if (!valid_value(v)) return protocol_error("field " + k + " has a NUL or LF in its value");
    for (size_t j = 0; j < i; ++j)
      if (message.fields[j].first == k) return protocol_error("field " + k + " appears twice");
  }
  if (encode_payload(message).size() > kMaxPayload)
    return protocol_error("message is larger than " + std::to_string(kMaxPayload) + " bytes");
  return ok_status();
}

std::string args_field(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) out += kArgsSeparator;
    for (char c : argv[i]) out += (c == '\n' || c == '\0') ? ' ' : c;
  }
  return out;
}

std::string encode_payload(const Message& message) {
  std::string out;
  for (const auto& [k, v] : message.fields) {
    out += k;
    out += '=';
    out += v;
    out += '\n';
  }
  return out;
}

std::string encode(const Message& message) {
  const std::string payload = encode_payload(message);
  const auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out += static_cast<char>(n >> 24);
  out += static_cast<char>(n >> 16 & 0xff);
  out += static_cast<char>(n >> 8 & 0xff);
  out += static_cast<char>(n & 0xff);
  out += payload;
  return out;
}

Result<Message> decode_payload(std::string_view payload) {
  if (payload.size() > kMaxPayload)
    return protocol_error("message is larger than " + std::to_string(kMaxPayload) + " bytes");
  if (!payload.empty() && payload.back() != '\n')
    return protocol_error("message does not end with a newline");
  Message m;
  while (!payload.empty()) {
    const size_t end = payload.find('\n');
    const std::string_view line = payload.substr(0, end);
    payload.remove_prefix(end + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return protocol_error("a line has no '='");
    const std::string_view k = line.substr(0, eq);
    const std::string_view v = line.substr(eq + 1);
    if (!valid_key(k)) return protocol_error("a field name is not [a-z-]+");
    if (!valid_value(v))
      return protocol_error("field " + std::string(k) + " has a NUL in its value");
    if (m.get(k)) return protocol_error("field " + std::string(k) + " appears twice");
    if (m.fields.size() == kMaxFields)
      return protocol_error("more than " + std::to_string(kMaxFields) + " fields");
    m.fields.emplace_back(k, v);
  }
  return m;
}

void FrameReader::feed(std::string_view bytes) {
  if (!error_) buffer_.append(bytes);
}

Result<std::optional<Message>> FrameReader::next() {
  if (error_) return *error_;
  if (buffer_.size() < kHeaderSize) return std::optional<Message>();
  const uint32_t length = read_be32(buffer_);
  if (length > kMaxPayload) {
    error_ = protocol_error("frame of " + std::to_string(length) + " bytes is larger than the " +
                            std::to_string(kMaxPayload) + "-byte limit");
    buffer_.clear();
    return *error_;
  }
  if (buffer_.size() < kHeaderSize + length) return std::optional<Message>();
  auto message = decode_payload(std::string_view(buffer_).substr(kHeaderSize, length));
  if (!message) {
    error_ = message.error();
    buffer_.clear();
    return *error_;
  }
  buffer_.erase(0, kHeaderSize + length);
  return std::optional<Message>(std::move(*message));
}

size_t FrameReader::wanted() const {
  if (error_) return 0;
  if (buffer_.size() < kHeaderSize) return kHeaderSize - buffer_.size();
  const uint32_t length = read_be32(buffer_);
  if (length > kMaxPayload) return 0;
  const size_t frame = kHeaderSize + length;
  return buffer_.size() < frame ? frame - buffer_.size() : 0;
}

Status send_message(int fd, const Message& message) {
  if (auto s = validate(message); !s) return s.error().within("not sending the message");
  const std::string frame = encode(message);
  std::string_view rest = frame;
  while (!rest.empty()) {
    // Each piece says who sends it: the daemon takes its caller from these credentials, which
    // the kernel refuses to let a process forge.
    ucred self{::getpid(), ::getuid(), ::getgid()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof self)] = {};
    iovec iov{const_cast<char*>(rest.data()), rest.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof self);
    std::memcpy(CMSG_DATA(cm), &self, sizeof self);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("send", errno);
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return ok_status();
}

Result<Message> receive_message(int fd, int timeout_ms) {
  const int64_t deadline = monotonic_ms() + timeout_ms;
  FrameReader reader;
  char buffer[4096];
  while (true) {
    auto next = reader.next();
    if (!next) return next.error();
    if (*next) return std::move(**next);
    const int64_t left = deadline - monotonic_ms();
    if (left <= 0) {
      Error e{0, "no reply within " + std::to_string(timeout_ms) + " ms"};
      e.timed_out = true;
      return e;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll", errno);
    }
    if (ready == 0) continue;
    const size_t want = std::min(reader.wanted(), sizeof buffer);
    const ssize_t n = ::recv(fd, buffer, want, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return sys_error("recv", errno);
    }
    if (n == 0) return Error{0, "the connection was closed before a whole reply came"};
    reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
  }
}

Result<Message> exchange(const std::string& socket_path, const Message& request, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return Error{0, "socket path " + socket_path + " is too long"};
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  auto fd = open_socket(AF_UNIX, SOCK_STREAM);
  if (!fd) return fd.error();
  // Bounds connect (a full backlog) and send as well; the reply gets its own deadline.
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (auto s =
          check(::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), "setsockopt");
      !s)
    return s.error();
  int rc;
  do {
    rc = ::connect(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return sys_error("connect " + socket_path, errno);
  if (auto s = send_message(fd->get(), request); !s) return s.error();
  return receive_message(fd->get(), timeout_ms);
}

}  // namespace acctl::vault
