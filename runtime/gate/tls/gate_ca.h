// The gate's interception CA: creating one for a Host, and minting per-host leaf certificates
// (and the server SSL_CTX that presents them) for the credential hosts whose TLS it terminates.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "gate/tls/openssl_handles.h"

namespace acctl::gate {

struct CaPem {
  std::string cert_pem;
  std::string key_pem;  // unencrypted PKCS#8
};

// A new self-signed CA named CN=`common_name`, valid from an hour ago for `days` days: an EC
// P-256 key, a random 128-bit serial, basicConstraints critical CA:TRUE pathlen:0 (it signs
// leaves, never other CAs) and keyUsage critical keyCertSign, cRLSign.
Result<CaPem> create_ca(const std::string& common_name, int days);

// Mints leaf certificates from a loaded CA, one server SSL_CTX per host name. All leaves share
// one EC P-256 key made at load: what a leaf proves is the CA's signature, and a key per name
// would only cost time. Not thread-safe: the gate's event loop is its only user.
class LeafMinter {
 public:
  static constexpr size_t kCacheCapacity = 256;

  // Refuses a key that does not match the certificate, a certificate that is not a CA, an
  // expired CA and an encrypted key (never prompts for a passphrase).
  static Result<LeafMinter> load(std::string_view ca_cert_pem, std::string_view ca_key_pem);

  LeafMinter(LeafMinter&&) noexcept = default;
  LeafMinter& operator=(LeafMinter&&) noexcept = default;
  LeafMinter(const LeafMinter&) = delete;
  LeafMinter& operator=(const LeafMinter&) = delete;

  // A server context presenting a leaf for exactly `name` (SAN dNSName and CN, serverAuth,
  // CA:FALSE, valid from an hour ago for 7 days but never past the CA), with the CA in its chain,
  // TLS 1.2 at least, and ALPN answering "http/1.1" only. `name` must be a normalised lower-case
  // host name: IP literals, wildcards and empty names are refused. Contexts are cached per name
  // (the least recently used of kCacheCapacity is dropped; sessions keep theirs alive) and
  // minted again when the leaf has less than a day left.
  Result<std::shared_ptr<SSL_CTX>> server_context(std::string_view name);

 private:
  struct CachedContext {
    std::string name;
    std::shared_ptr<SSL_CTX> context;
  };

  LeafMinter(X509Ptr ca_cert, EvpPkeyPtr ca_key, EvpPkeyPtr leaf_key);
  Result<std::shared_ptr<SSL_CTX>> mint(const std::string& name) const;
  bool due_for_renewal(SSL_CTX& context) const;

  X509Ptr ca_cert_;
  EvpPkeyPtr ca_key_;
  EvpPkeyPtr leaf_key_;
  std::list<CachedContext> recent_;  // most recently used first
  std::unordered_map<std::string, std::list<CachedContext>::iterator> by_name_;
};

}  // namespace acctl::gate
