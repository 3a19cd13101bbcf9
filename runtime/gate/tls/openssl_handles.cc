// The deleters and error-queue helpers declared in openssl_handles.h.
#include "gate/tls/openssl_handles.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace acctl::gate {

void X509Free::operator()(X509* p) const {
  X509_free(p);
}
void EvpPkeyFree::operator()(EVP_PKEY* p) const {
  EVP_PKEY_free(p);
}
void SslCtxFree::operator()(SSL_CTX* p) const {
  SSL_CTX_free(p);
}
void SslFree::operator()(SSL* p) const {
  SSL_free(p);
}
void BioFree::operator()(BIO* p) const {
  BIO_free_all(p);
}

std::string take_openssl_error(std::string_view fallback) {
  const unsigned long code = ERR_get_error();
  std::string text(fallback);
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

ErrorQueueScope::ErrorQueueScope() {
  ERR_clear_error();
}
ErrorQueueScope::~ErrorQueueScope() {
  ERR_clear_error();
}

}  // namespace acctl::gate
