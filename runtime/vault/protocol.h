// The vault's wire protocol, shared by the daemon (ac-vaultd) and its client (ac-vault).
//
// One request and one reply per connection, each one frame: a 4-byte big-endian payload length,
// then the payload (at most kMaxPayload bytes; a larger length is a protocol error). The payload
// is lines `key=value\n`: keys [a-z-]+, values any bytes but NUL and LF, no key twice, at most
// kMaxFields lines. An empty payload is a message with no fields.
//
// Requests (field op=):
//   op=ping
//   op=git-credential  protocol=https host=HOST [path=PATH]
//   op=token           provider=github|gitlab host=HOST tool=gh|glab args=WORD\x1fWORD...
//                      (args is for the daemon's log only; see args_field)
// Replies:
//   status=ok          (+ username= password= for git-credential, token= for token)
//   status=refused     reason=<one human sentence>
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace acctl::vault {

inline constexpr size_t kMaxPayload = 16 * 1024;
inline constexpr size_t kMaxFields = 32;
inline constexpr size_t kHeaderSize = 4;
inline constexpr char kArgsSeparator = '\x1f';
inline constexpr const char* kDefaultSocket = "/run/acctl/vault/vault.sock";
inline constexpr const char* kDefaultWrapper = "/opt/acctl/bin/ac-vault";

// Field names and values of the requests and replies above.
namespace key {
inline constexpr std::string_view kOp = "op";
inline constexpr std::string_view kProtocol = "protocol";
inline constexpr std::string_view kHost = "host";
inline constexpr std::string_view kPath = "path";
inline constexpr std::string_view kProvider = "provider";
inline constexpr std::string_view kTool = "tool";
inline constexpr std::string_view kArgs = "args";
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kReason = "reason";
inline constexpr std::string_view kUsername = "username";
inline constexpr std::string_view kPassword = "password";
inline constexpr std::string_view kToken = "token";
}  // namespace key
namespace op {
inline constexpr std::string_view kPing = "ping";
inline constexpr std::string_view kGitCredential = "git-credential";
inline constexpr std::string_view kToken = "token";
}  // namespace op
inline constexpr std::string_view kStatusOk = "ok";
inline constexpr std::string_view kStatusRefused = "refused";

struct Message {
  // In order of appearance (encode keeps it).
  std::vector<std::pair<std::string, std::string>> fields;

  std::optional<std::string> get(std::string_view key) const;
  // Replaces the value of `key`, or appends the field.
  void set(std::string_view key, std::string_view value);
};

// A refusal reply: status=refused reason=`reason`, its control characters made '?' and cut
// after 1000 bytes.
Message refusal(std::string_view reason);

bool valid_key(std::string_view key);
bool valid_value(std::string_view value);
// ok when the message can be sent: valid keys and values, no key twice, at most kMaxFields
// fields, encoded payload at most kMaxPayload bytes. The error says what is wrong.
Status validate(const Message& message);

// The args= value for `argv`: its words joined by kArgsSeparator, with any LF or NUL inside a
// word made a space (the value is logged, never parsed).
std::string args_field(const std::vector<std::string>& argv);

// The payload alone, and the whole frame (header + payload). For a message that does not
// validate, the bytes are what the fields say and the receiver refuses them.
std::string encode_payload(const Message& message);
std::string encode(const Message& message);

// Parses one payload (without the header). Errors: a sentence saying what is malformed.
Result<Message> decode_payload(std::string_view payload);

// Cuts frames out of a byte stream received piecemeal. To never read past one frame, read at
// most wanted() bytes at a time; feed() still accepts more and keeps it for the next frame.
class FrameReader {
 public:
  void feed(std::string_view bytes);
  // The next complete message; nullopt while its bytes are still missing. After an error
  // (oversize length, malformed payload) the stream is unusable: every later call returns the
  // same error.
  Result<std::optional<Message>> next();
  // How many more bytes complete the current header or payload; 0 when a whole frame or an
  // error is buffered (call next()).
  size_t wanted() const;
  // Bytes fed but not yet returned as a message.
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  std::optional<Error> error_;
};

// Blocking client side (ac-vault, acctl status). `fd` is a connected stream socket; SIGPIPE is
// never raised (MSG_NOSIGNAL). send_message validates first.
Status send_message(int fd, const Message& message);
// Waits for one whole reply until `timeout_ms` from the call (Error::timed_out when it passes);
// the peer closing early or sending a malformed frame is an error.
Result<Message> receive_message(int fd, int timeout_ms);
// Connects to the daemon's socket, sends `request`, returns the reply. Connecting and sending
// are each bounded by `timeout_ms` too.
Result<Message> exchange(const std::string& socket_path, const Message& request, int timeout_ms);

}  // namespace acctl::vault
