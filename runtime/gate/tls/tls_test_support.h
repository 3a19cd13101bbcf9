// What tls_test.cc and tls_integration_test.cc share: a CA and its minter, PEM text, a temp dir.
#pragma once

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "gate/tls/gate_ca.h"

namespace acctl::gate::testing {

inline std::string pem_of(const X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_X509(bio.get(), &cert), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

inline std::string pem_of(const EVP_PKEY& key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

inline X509Ptr parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// The leaf a minted server context presents.
inline X509& leaf_of(SSL_CTX& context) {
  return *SSL_CTX_get0_certificate(&context);
}

// A folder made with mkdtemp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gate-tls-test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  // Writes `content` to `name` inside the folder and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::string path = path_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fresh CA, its PEM, and a minter loaded from it; nullopt (and a test failure) if either fails.
struct TestCa {
  CaPem pem;
  LeafMinter minter;

  static std::optional<TestCa> make(int days = 30) {
    Result<CaPem> pem = create_ca("acctl test CA", days);
    if (!pem) {
      ADD_FAILURE() << "create_ca: " << pem.error().message;
      return std::nullopt;
    }
    Result<LeafMinter> minter = LeafMinter::load(pem->cert_pem, pem->key_pem);
    if (!minter) {
      ADD_FAILURE() << "LeafMinter::load: " << minter.error().message;
      return std::nullopt;
    }
    return TestCa{std::move(*pem), std::move(*minter)};
  }
};

}  // namespace acctl::gate::testing
