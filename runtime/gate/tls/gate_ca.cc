// Creates the gate's CA and mints its leaf certificates with OpenSSL 3.0's X509 and EVP APIs.
#include "gate/tls/gate_ca.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <ctime>

#include "netpolicy/address.h"
#include "netpolicy/domain.h"

namespace acctl::gate {
namespace {

// Certificates start an hour in the past: a sandbox's clock a little behind the Host's must
// not see a freshly minted leaf as not yet valid.
constexpr long kBackdateSeconds = 3600;
constexpr int kLeafDays = 7;
constexpr time_t kRenewBeforeSeconds = 24 * 3600;
// X.520's upper bound for a commonName.
constexpr size_t kMaxCommonName = 64;
constexpr int kSerialBits = 128;

struct BignumFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct X509ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

Error openssl_failure(std::string_view what) {
  return Error{0, std::string(what) + ": " + take_openssl_error()};
}

// Refuses encrypted PEM instead of letting OpenSSL prompt on a terminal.
int refuse_passphrase(char*, int, int, void*) {
  return -1;
}

Result<EvpPkeyPtr> generate_p256_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_failure("generating an EC P-256 key");
  return key;
}

// Ed25519 and Ed448 sign the whole message themselves and take no digest.
const EVP_MD* signing_digest(const EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "ED25519") || EVP_PKEY_is_a(&key, "ED448")) return nullptr;
  return EVP_sha256();
}

Status set_random_serial(X509& cert) {
  std::unique_ptr<BIGNUM, BignumFree> serial(BN_new());
  // TOP_ONE: exactly 128 bits, so never zero; a BIGNUM from BN_rand is never negative.
  if (!serial || BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(&cert)) == nullptr) {
    return openssl_failure("making a random serial number");
  }
  return ok_status();
}

Status set_common_name(X509_NAME& name, std::string_view value) {
  if (X509_NAME_add_entry_by_txt(&name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return openssl_failure("setting the commonName");
  }
  return ok_status();
}

// Adds one extension written in openssl's config syntax ("critical,CA:TRUE,pathlen:0").
Status add_extension(X509& cert, X509V3_CTX& context, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, X509ExtensionFree> extension(
      X509V3_EXT_nconf_nid(nullptr, &context, nid, value.c_str()));
  if (!extension || X509_add_ext(&cert, extension.get(), -1) != 1) {
    return openssl_failure(std::string("adding ") + OBJ_nid2sn(nid) + " " + value);
  }
  return ok_status();
}

Status add_extensions(X509& cert, X509* issuer,
                      std::initializer_list<std::pair<int, std::string>> extensions) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : &cert, &cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    if (Status added = add_extension(cert, context, nid, value); !added) return added;
  }
  return ok_status();
}

Result<std::string> to_pem(const X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), &cert) != 1) {
    return openssl_failure("writing the certificate as PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> to_pem(const EVP_PKEY& key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_failure("writing the key as PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<BioPtr> read_only_bio(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) return Error{0, "PEM text too large"};
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_failure("reading PEM");
  return bio;
}

// The server's answer to the client's ALPN list (length-prefixed names): "http/1.1" when
// offered, otherwise no protocol at all (the handshake goes on without ALPN). Never h2: the gate
// parses and rewrites HTTP/1.1 only.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_length,
                  const unsigned char* in, unsigned int in_length, void*) {
  constexpr std::string_view kHttp11 = "http/1.1";
  unsigned int at = 0;
  while (at < in_length) {
    const unsigned int length = in[at];
    if (length == 0 || at + 1 + length > in_length) break;
    if (std::string_view(reinterpret_cast<const char*>(in + at + 1), length) == kHttp11) {
      *out = in + at + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    at += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

Result<std::shared_ptr<SSL_CTX>> server_context_for(X509& leaf, EVP_PKEY& key, X509& ca) {
  SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) return openssl_failure("creating a server TLS context");
  SSL_CTX* raw = context.get();
  // SSL_CTX_use_* and add1_chain_cert take references of their own.
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(raw, &leaf) != 1 || SSL_CTX_use_PrivateKey(raw, &key) != 1 ||
      SSL_CTX_check_private_key(raw) != 1 || SSL_CTX_add1_chain_cert(raw, &ca) != 1) {
    return openssl_failure("setting up the server TLS context");
  }
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(raw, select_http11, nullptr);
  return std::shared_ptr<SSL_CTX>(std::move(context));
}

// Why a name gets no leaf, or an empty string when it may.
std::string refusal(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.find('*') != std::string_view::npos) return "wildcard names are never minted";
  if (name.find(':') != std::string_view::npos || netpolicy::parse_ip(name)) {
    return "an IP literal, not a host name";
  }
  // Also refuses every other IPv4 spelling ("10.1", "2130706433", "0x7f000001").
  if (std::optional<std::string> problem = netpolicy::check_hostname(name)) {
    return "not a normalised host name: " + *problem;
  }
  return "";
}

}  // namespace

Result<CaPem> create_ca(const std::string& common_name, int days) {
  ErrorQueueScope errors;
  if (common_name.empty() || common_name.size() > kMaxCommonName) {
    return Error{0, "CA common name must be 1 to 64 characters"};
  }
  if (days <= 0) return Error{0, "CA validity must be at least one day"};

  Result<EvpPkeyPtr> key = generate_p256_key();
  if (!key) return key.error();
  X509Ptr cert(X509_new());
  if (!cert) return openssl_failure("creating the CA certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key->get()) != 1) {
    return openssl_failure("filling in the CA certificate");
  }
  if (Status serial = set_random_serial(*cert); !serial) return serial.error();
  if (Status cn = set_common_name(*X509_get_subject_name(cert.get()), common_name); !cn) {
    return cn.error();
  }
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return openssl_failure("setting the CA issuer");
  }
  if (Status extended = add_extensions(*cert, nullptr,
                                       {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                        {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                        {NID_subject_key_identifier, "hash"}});
      !extended) {
    return extended.error();
  }
  if (X509_sign(cert.get(), key->get(), signing_digest(**key)) <= 0) {
    return openssl_failure("signing the CA certificate");
  }

  Result<std::string> cert_pem = to_pem(*cert);
  if (!cert_pem) return cert_pem.error();
  Result<std::string> key_pem = to_pem(**key);
  if (!key_pem) return key_pem.error();
  return CaPem{std::move(*cert_pem), std::move(*key_pem)};
}

LeafMinter::LeafMinter(X509Ptr ca_cert, EvpPkeyPtr ca_key, EvpPkeyPtr leaf_key)
    : ca_cert_(std::move(ca_cert)), ca_key_(std::move(ca_key)), leaf_key_(std::move(leaf_key)) {}

Result<LeafMinter> LeafMinter::load(std::string_view ca_cert_pem, std::string_view ca_key_pem) {
  ErrorQueueScope errors;
  Result<BioPtr> cert_bio = read_only_bio(ca_cert_pem);
  if (!cert_bio) return cert_bio.error().within("CA certificate");
  X509Ptr cert(PEM_read_bio_X509(cert_bio->get(), nullptr, refuse_passphrase, nullptr));
  if (!cert) return openssl_failure("reading the CA certificate");
  Result<BioPtr> key_bio = read_only_bio(ca_key_pem);
  if (!key_bio) return key_bio.error().within("CA key");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio->get(), nullptr, refuse_passphrase, nullptr));
  if (!key) return openssl_failure("reading the CA key (an unencrypted PEM private key)");

  if (X509_check_ca(cert.get()) != 1) {
    return Error{0, "the CA certificate is not a CA: it needs basicConstraints CA:TRUE"};
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Error{0, "the CA key does not match the CA certificate"};
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0) {
    return Error{0, "the CA certificate has expired"};
  }
  Result<EvpPkeyPtr> leaf_key = generate_p256_key();
  if (!leaf_key) return leaf_key.error();
  return LeafMinter(std::move(cert), std::move(key), std::move(*leaf_key));
}

Result<std::shared_ptr<SSL_CTX>> LeafMinter::server_context(std::string_view name) {
  ErrorQueueScope errors;
  if (std::string why = refusal(name); !why.empty()) {
    return Error{0, "no leaf certificate for \"" + std::string(name) + "\": " + why};
  }
  const std::string key(name);
  if (auto found = by_name_.find(key); found != by_name_.end()) {
    if (!due_for_renewal(*found->second->context)) {
      recent_.splice(recent_.begin(), recent_, found->second);
      return recent_.front().context;
    }
    recent_.erase(found->second);
    by_name_.erase(found);
  }
  Result<std::shared_ptr<SSL_CTX>> minted = mint(key);
  if (!minted) return minted.error().within("leaf certificate for " + key);
  recent_.push_front(CachedContext{key, *minted});
  by_name_[key] = recent_.begin();
  if (recent_.size() > kCacheCapacity) {
    by_name_.erase(recent_.back().name);
    recent_.pop_back();
  }
  return minted;
}

bool LeafMinter::due_for_renewal(SSL_CTX& context) const {
  const ASN1_TIME* not_after = X509_get0_notAfter(SSL_CTX_get0_certificate(&context));
  time_t soon = std::time(nullptr) + kRenewBeforeSeconds;
  // A leaf already cut short by the CA's own end would come out the same: keep it.
  return X509_cmp_time(not_after, &soon) < 0 &&
         ASN1_TIME_compare(not_after, X509_get0_notAfter(ca_cert_.get())) < 0;
}

Result<std::shared_ptr<SSL_CTX>> LeafMinter::mint(const std::string& name) const {
  if (X509_cmp_current_time(X509_get0_notAfter(ca_cert_.get())) <= 0) {
    return Error{0, "the CA certificate has expired"};
  }
  X509Ptr leaf(X509_new());
  if (!leaf) return openssl_failure("creating the certificate");
  if (X509_set_version(leaf.get(), X509_VERSION_3) != 1 ||
      X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca_cert_.get())) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(leaf.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(leaf.get()), kLeafDays, 0, nullptr) == nullptr ||
      X509_set_pubkey(leaf.get(), leaf_key_.get()) != 1) {
    return openssl_failure("filling in the certificate");
  }
  // Clients reject a leaf that outlives its issuer.
  const ASN1_TIME* ca_not_after = X509_get0_notAfter(ca_cert_.get());
  if (ASN1_TIME_compare(X509_get0_notAfter(leaf.get()), ca_not_after) > 0 &&
      X509_set1_notAfter(leaf.get(), ca_not_after) != 1) {
    return openssl_failure("limiting the certificate to the CA's validity");
  }
  if (Status serial = set_random_serial(*leaf); !serial) return serial.error();
  // A name too long for a commonName goes in the SAN alone, which RFC 5280 then wants critical.
  const bool with_cn = name.size() <= kMaxCommonName;
  if (with_cn) {
    if (Status cn = set_common_name(*X509_get_subject_name(leaf.get()), name); !cn) {
      return cn.error();
    }
  }
  // `name` passed refusal(): letters, digits, '-' and '.', nothing the config syntax reads.
  if (Status extended =
          add_extensions(*leaf, ca_cert_.get(),
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature"},
                          {NID_ext_key_usage, "serverAuth"},
                          {NID_subject_key_identifier, "hash"},
                          {NID_authority_key_identifier, "keyid,issuer"},
                          {NID_subject_alt_name, (with_cn ? "DNS:" : "critical,DNS:") + name}});
      !extended) {
    return extended.error();
  }
  if (X509_sign(leaf.get(), ca_key_.get(), signing_digest(*ca_key_)) <= 0) {
    return openssl_failure("signing the certificate");
  }
  return server_context_for(*leaf, *leaf_key_, *ca_cert_);
}

}  // namespace acctl::gate
