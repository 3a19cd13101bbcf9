// TLS over memory BIOs for the gate's intercepted connections: OpenSSL encrypts, decrypts and
// verifies; the gate's event loop owns the sockets and moves the bytes.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gate/tls/openssl_handles.h"

namespace acctl::gate {

// The context for the gate's own connections to real upstreams: peers verified against the
// system store plus each of `extra_ca_files` (PEM; every unreadable one is reported by path),
// TLS 1.2 at least, ALPN offering "http/1.1" only.
Result<std::shared_ptr<SSL_CTX>> make_upstream_context(
    const std::vector<std::string>& extra_ca_files);

// One TLS connection, either end. The caller moves ciphertext: feed() what the socket received,
// send what take_output() returns (after any call: handshake records, alerts, close_notify
// and encrypted writes all land there). Nothing is buffered beyond OpenSSL's two memory BIOs,
// so the caller bounds memory by how much it feeds and how promptly it sends. Failures never
// throw or abort: they move the session to kFailed with a one-line error().
class TlsSession {
 public:
  enum class State {
    kHandshaking,
    kOpen,
    kClosed,  // the peer sent close_notify; write() and shutdown() still work
    kFailed,
  };

  // A server end on a context from LeafMinter::server_context.
  static std::unique_ptr<TlsSession> server(SSL_CTX& context);
  // A client end that sends `host` as SNI and accepts only a certificate for `host`.
  static std::unique_ptr<TlsSession> client(SSL_CTX& context, std::string_view host);

  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  void feed(std::string_view ciphertext);
  std::string take_output();
  // The same, appended to `into` (no string of its own: the relay's hot path).
  void take_output(std::string& into);
  // Drives the handshake with what was fed; returns the state.
  State advance();
  // Appends all the plaintext the fed bytes hold; whether there was any. Notices close_notify
  // (kClosed) and failures. Drives the handshake first if it is not done.
  bool read(std::string& out);
  // Encrypts `plaintext` into the output. Only once the handshake is done (kOpen or kClosed):
  // the caller holds data back until then.
  void write(std::string_view plaintext);
  // Queues close_notify. Keep read()ing to see the peer's (kClosed).
  void shutdown();

  // On kFailed: "upstream certificate not trusted: <reason>", "certificate does not match host
  // <host>", or OpenSSL's own error string.
  const std::string& error() const { return error_; }
  // The name the client asked for (server end), or the name sent (client end); "" if none.
  std::string sni() const;
  // The protocol ALPN settled on, "" if none.
  std::string alpn() const;

 private:
  TlsSession(SSL_CTX& context, std::string host, bool is_client);
  // After an SSL_* call returned `ret`: waits for more bytes, notes close_notify, or fails.
  void settle(int ret, std::string_view operation);
  void fail(std::string message);

  SslPtr ssl_;
  BIO* incoming_ = nullptr;  // owned by ssl_
  BIO* outgoing_ = nullptr;  // owned by ssl_
  std::string host_;
  bool is_client_ = false;
  State state_ = State::kHandshaking;
  std::string error_;
};

}  // namespace acctl::gate
