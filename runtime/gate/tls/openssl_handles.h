// Owning handles for the OpenSSL objects gate_tls uses, and the thread's error queue as text.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

namespace acctl::gate {

// Each deleter calls the object's *_free, which drops one reference: a handle made from a
// borrowed pointer must take its own reference first (X509_up_ref, EVP_PKEY_up_ref).
struct X509Free {
  void operator()(X509* p) const;
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const;
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const;
};
struct SslFree {
  void operator()(SSL* p) const;
};
struct BioFree {
  void operator()(BIO* p) const;
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The oldest error in this thread's queue as OpenSSL words it
// ("error:0A00010B:SSL routines::wrong version number"), or `fallback` when the queue is empty.
// Empties the queue, so the next operation's errors are its own.
std::string take_openssl_error(std::string_view fallback = "unknown OpenSSL error");

// Empties the thread's error queue when it goes out of scope: every public entry point holds
// one, so an error left behind by one call (or one session) never shows up in another.
class ErrorQueueScope {
 public:
  ErrorQueueScope();
  ~ErrorQueueScope();
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

}  // namespace acctl::gate
