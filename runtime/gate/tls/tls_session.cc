// TLS sessions over a pair of memory BIOs, and the upstream client context (OpenSSL 3.0).
#include "gate/tls/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cassert>

namespace acctl::gate {
namespace {

// ALPN's wire form: each protocol name prefixed by its length.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr size_t kReadChunk = 16 * 1024;

}  // namespace

Result<std::shared_ptr<SSL_CTX>> make_upstream_context(
    const std::vector<std::string>& extra_ca_files) {
  ErrorQueueScope errors;
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) return Error{0, "creating a client TLS context: " + take_openssl_error()};
  SSL_CTX* raw = context.get();
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1) {
    return Error{0, "requiring TLS 1.2: " + take_openssl_error()};
  }
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_default_verify_paths(raw) != 1) {
    return Error{0, "loading the system CA store: " + take_openssl_error()};
  }
  std::string problems;
  for (const std::string& path : extra_ca_files) {
    if (SSL_CTX_load_verify_file(raw, path.c_str()) != 1) {
      if (!problems.empty()) problems += "; ";
      problems += "CA file " + path + ": " + take_openssl_error("no certificate loaded");
    }
  }
  if (!problems.empty()) return Error{0, problems};
  // Unlike the rest of the API, set_alpn_protos returns 0 on success.
  if (SSL_CTX_set_alpn_protos(raw, kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
    return Error{0, "offering ALPN http/1.1: " + take_openssl_error()};
  }
  return std::shared_ptr<SSL_CTX>(std::move(context));
}

std::unique_ptr<TlsSession> TlsSession::server(SSL_CTX& context) {
  return std::unique_ptr<TlsSession>(new TlsSession(context, "", false));
}

std::unique_ptr<TlsSession> TlsSession::client(SSL_CTX& context, std::string_view host) {
  return std::unique_ptr<TlsSession>(new TlsSession(context, std::string(host), true));
}

TlsSession::TlsSession(SSL_CTX& context, std::string host, bool is_client)
    : host_(std::move(host)), is_client_(is_client) {
  ErrorQueueScope errors;
  ssl_.reset(SSL_new(&context));
  BioPtr incoming(BIO_new(BIO_s_mem()));
  BioPtr outgoing(BIO_new(BIO_s_mem()));
  if (!ssl_ || !incoming || !outgoing) {
    ssl_.reset();
    fail("creating a TLS session: " + take_openssl_error());
    return;
  }
  // An empty input BIO means "wait for more bytes", not end of stream.
  BIO_set_mem_eof_return(incoming.get(), -1);
  incoming_ = incoming.release();
  outgoing_ = outgoing.release();
  SSL_set_bio(ssl_.get(), incoming_, outgoing_);
  if (!is_client_) {
    SSL_set_accept_state(ssl_.get());
    return;
  }
  SSL_set_connect_state(ssl_.get());
  // Partial wildcards ("gith*.com") match nothing: browsers never honoured them either.
  SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (host_.empty() || SSL_set_tlsext_host_name(ssl_.get(), host_.c_str()) != 1 ||
      SSL_set1_host(ssl_.get(), host_.c_str()) != 1) {
    fail("setting the upstream host name \"" + host_ +
         "\": " + take_openssl_error("not a host name"));
  }
}

void TlsSession::feed(std::string_view ciphertext) {
  if (state_ == State::kFailed || ciphertext.empty()) return;
  ErrorQueueScope errors;
  size_t written = 0;
  if (BIO_write_ex(incoming_, ciphertext.data(), ciphertext.size(), &written) != 1 ||
      written != ciphertext.size()) {
    fail("buffering TLS input: " + take_openssl_error());
  }
}

std::string TlsSession::take_output() {
  std::string out;
  take_output(out);
  return out;
}

void TlsSession::take_output(std::string& into) {
  if (outgoing_ == nullptr) return;
  ErrorQueueScope errors;
  const size_t pending = BIO_ctrl_pending(outgoing_);
  if (pending == 0) return;
  const size_t at = into.size();
  into.resize(at + pending);
  size_t got = 0;
  if (BIO_read_ex(outgoing_, into.data() + at, pending, &got) != 1) got = 0;
  into.resize(at + got);
}

TlsSession::State TlsSession::advance() {
  if (state_ != State::kHandshaking) return state_;
  ErrorQueueScope errors;
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    state_ = State::kOpen;
  } else {
    settle(ret, "TLS handshake");
  }
  return state_;
}

bool TlsSession::read(std::string& out) {
  if (advance() != State::kOpen) return false;
  ErrorQueueScope errors;
  const size_t before = out.size();
  while (state_ == State::kOpen) {
    char buffer[kReadChunk];
    size_t got = 0;
    const int ret = SSL_read_ex(ssl_.get(), buffer, sizeof buffer, &got);
    if (ret != 1) {
      settle(ret, "TLS read");
      break;
    }
    out.append(buffer, got);
  }
  return out.size() > before;
}

void TlsSession::write(std::string_view plaintext) {
  assert(state_ != State::kHandshaking && "write() before the handshake completed");
  if (state_ == State::kHandshaking) {
    fail("TLS write before the handshake completed");
    return;
  }
  if (state_ == State::kFailed || plaintext.empty()) return;
  ErrorQueueScope errors;
  size_t written = 0;
  // Memory BIOs never push back, and renegotiation is off, so a write is all or an error.
  const int ret = SSL_write_ex(ssl_.get(), plaintext.data(), plaintext.size(), &written);
  if (ret != 1 || written != plaintext.size()) {
    fail("TLS write: " + take_openssl_error());
  }
}

void TlsSession::shutdown() {
  if (state_ != State::kOpen && state_ != State::kClosed) return;
  if ((SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0) return;
  ErrorQueueScope errors;
  // 0 means "sent, the peer's not seen yet", which read() reports when it comes.
  if (SSL_shutdown(ssl_.get()) < 0) fail("TLS shutdown: " + take_openssl_error());
}

std::string TlsSession::sni() const {
  if (!ssl_) return "";
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? name : "";
}

std::string TlsSession::alpn() const {
  if (!ssl_) return "";
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &length);
  return data != nullptr ? std::string(reinterpret_cast<const char*>(data), length) : "";
}

void TlsSession::settle(int ret, std::string_view operation) {
  const int reason = SSL_get_error(ssl_.get(), ret);
  if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return;
  }
  if (reason == SSL_ERROR_ZERO_RETURN && state_ == State::kOpen) {
    state_ = State::kClosed;
    ERR_clear_error();
    return;
  }
  if (is_client_) {
    // The chain's or the name's fault says more than "certificate verify failed".
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH) {
      fail("certificate does not match host " + host_);
      return;
    }
    if (verify != X509_V_OK) {
      fail(std::string("upstream certificate not trusted: ") +
           X509_verify_cert_error_string(verify));
      return;
    }
  }
  fail(std::string(operation) + ": " +
       take_openssl_error(reason == SSL_ERROR_ZERO_RETURN ? "the peer closed during the handshake"
                                                          : "the connection failed"));
}

void TlsSession::fail(std::string message) {
  state_ = State::kFailed;
  error_ = std::move(message);
  ERR_clear_error();
}

}  // namespace acctl::gate
