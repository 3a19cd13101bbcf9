// The CA, minted leaves and TLS sessions pumped in memory: what a client of the gate would see.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <ctime>
#include <set>

#include "gate/tls/gate_ca.h"
#include "gate/tls/tls_session.h"
#include "gate/tls/tls_test_support.h"

namespace acctl::gate {
namespace {

using testing::leaf_of;
using testing::parse_cert;
using testing::pem_of;
using testing::TempDir;
using testing::TestCa;
using State = TlsSession::State;

bool critical(const X509& cert, int nid) {
  const int at = X509_get_ext_by_NID(&cert, nid, -1);
  return at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(&cert, at)) == 1;
}

// Seconds from `a` to `b`.
long seconds_between(const ASN1_TIME* a, const ASN1_TIME* b) {
  int days = 0;
  int seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, a, b), 1);
  return days * 86400L + seconds;
}

long seconds_from_now(const ASN1_TIME* t) {
  int days = 0;
  int seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, t), 1);
  return days * 86400L + seconds;
}

std::vector<std::string> dns_names(const X509& cert) {
  std::vector<std::string> names;
  auto* san =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; i < sk_GENERAL_NAME_num(san); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(san, i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    names.push_back(type == GEN_DNS
                        ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                      ASN1_STRING_length(value))
                        : "(not a DNS name)");
  }
  GENERAL_NAMES_free(san);
  return names;
}

std::string common_name(const X509& cert) {
  char buffer[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(&cert), NID_commonName, buffer, sizeof buffer);
  return buffer;
}

// Runs X509_verify_cert on `context`'s leaf and chain, trusting only `ca`, as a TLS client
// checking `host` would. Returns the verification error (X509_V_OK when it verifies).
int verify_leaf(SSL_CTX& context, X509& ca, const std::string& host) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> verify(X509_STORE_CTX_new(),
                                                                         X509_STORE_CTX_free);
  X509_STORE_add_cert(store.get(), &ca);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(&context, &chain);
  X509_STORE_CTX_init(verify.get(), store.get(), &leaf_of(context), chain);
  X509_STORE_CTX_set_purpose(verify.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(verify.get()), host.c_str(), 0);
  const int verified = X509_verify_cert(verify.get());
  const int error = X509_STORE_CTX_get_error(verify.get());
  EXPECT_EQ(verified == 1, error == X509_V_OK);
  return error;
}

// Moves bytes between the two ends until neither has anything to send.
void pump(TlsSession& a, TlsSession& b) {
  for (int round = 0; round < 50; ++round) {
    a.advance();
    b.advance();
    const std::string to_b = a.take_output();
    const std::string to_a = b.take_output();
    if (to_a.empty() && to_b.empty()) return;
    b.feed(to_b);
    a.feed(to_a);
  }
  ADD_FAILURE() << "the sessions kept talking for 50 rounds";
}

// Pumps until both ends have read everything; returns what each one read.
std::pair<std::string, std::string> exchange(TlsSession& client, TlsSession& server) {
  std::string at_client;
  std::string at_server;
  for (int round = 0; round < 50; ++round) {
    pump(client, server);
    const bool client_read = client.read(at_client);
    const bool server_read = server.read(at_server);
    if (!client_read && !server_read) break;
  }
  return {at_client, at_server};
}

TEST(CreateCa, IsAV3CaForLeavesOnlyWithARandomSerial) {
  Result<CaPem> pem = create_ca("acctl gate CA", 365);
  ASSERT_TRUE(pem.ok()) << pem.error().message;
  X509Ptr ca = parse_cert(pem->cert_pem);
  ASSERT_TRUE(ca);

  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_EQ(common_name(*ca), "acctl gate CA");
  EXPECT_EQ(X509_self_signed(ca.get(), /*verify_signature=*/1), 1);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(critical(*ca, NID_basic_constraints));
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  EXPECT_TRUE(critical(*ca, NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);

  const EVP_PKEY* key = X509_get0_pubkey(ca.get());
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
  char group[64] = {};
  EXPECT_EQ(EVP_PKEY_get_group_name(key, group, sizeof group, nullptr), 1);
  EXPECT_STREQ(group, "prime256v1");

  // Backdated by an hour, and valid for the days asked.
  EXPECT_LE(seconds_from_now(X509_get0_notBefore(ca.get())), -3590);
  EXPECT_NEAR(seconds_from_now(X509_get0_notAfter(ca.get())), 365 * 86400L, 60);

  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca.get()), nullptr), BN_free);
  EXPECT_EQ(BN_num_bits(serial.get()), 128);
  EXPECT_FALSE(BN_is_negative(serial.get()));

  Result<CaPem> other = create_ca("acctl gate CA", 365);
  ASSERT_TRUE(other.ok());
  X509Ptr other_ca = parse_cert(other->cert_pem);
  EXPECT_NE(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(ca.get()), X509_get0_serialNumber(other_ca.get())),
      0);
  EXPECT_NE(pem->key_pem, other->key_pem);
}

TEST(CreateCa, RefusesNoNameAndNoDays) {
  EXPECT_FALSE(create_ca("", 30).ok());
  EXPECT_FALSE(create_ca(std::string(65, 'a'), 30).ok());
  EXPECT_FALSE(create_ca("acctl gate CA", 0).ok());
  EXPECT_FALSE(create_ca("acctl gate CA", -1).ok());
}

TEST(LeafMinter, LeafVerifiesAgainstTheCaForItsNameOnly) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  X509Ptr ca_cert = parse_cert(ca->pem.cert_pem);
  Result<std::shared_ptr<SSL_CTX>> context = ca->minter.server_context("github.com");
  ASSERT_TRUE(context.ok()) << context.error().message;
  X509& leaf = leaf_of(**context);

  EXPECT_EQ(verify_leaf(**context, *ca_cert, "github.com"), X509_V_OK);
  EXPECT_EQ(verify_leaf(**context, *ca_cert, "api.github.com"), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(verify_leaf(**context, *ca_cert, "gitlab.com"), X509_V_ERR_HOSTNAME_MISMATCH);
  // Another CA's leaf is not trusted by this one (the chain ends in that other, untrusted CA).
  std::optional<TestCa> other = TestCa::make();
  ASSERT_TRUE(other);
  Result<std::shared_ptr<SSL_CTX>> foreign = other->minter.server_context("github.com");
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(verify_leaf(**foreign, *ca_cert, "github.com"), X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);

  EXPECT_EQ(dns_names(leaf), std::vector<std::string>{"github.com"});
  EXPECT_EQ(common_name(leaf), "github.com");
  EXPECT_EQ(X509_check_ca(&leaf), 0);
  EXPECT_TRUE(X509_get_extension_flags(&leaf) & EXFLAG_BCONS);
  EXPECT_TRUE(critical(leaf, NID_basic_constraints));
  EXPECT_EQ(X509_get_key_usage(&leaf), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(&leaf), static_cast<uint32_t>(XKU_SSL_SERVER));
  ASSERT_NE(X509_get0_authority_key_id(&leaf), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(&leaf),
                                  X509_get0_subject_key_id(ca_cert.get())),
            0);
  EXPECT_NE(X509_get0_subject_key_id(&leaf), nullptr);
  EXPECT_EQ(seconds_between(X509_get0_notBefore(&leaf), X509_get0_notAfter(&leaf)),
            7 * 86400L + 3600);

  // The chain sent after the leaf is the CA.
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(context->get(), &chain);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), ca_cert.get()), 0);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context->get()), TLS1_2_VERSION);
}

TEST(LeafMinter, LeafNeverOutlivesTheCa) {
  std::optional<TestCa> ca = TestCa::make(/*days=*/1);
  ASSERT_TRUE(ca);
  X509Ptr ca_cert = parse_cert(ca->pem.cert_pem);
  Result<std::shared_ptr<SSL_CTX>> context = ca->minter.server_context("gitlab.com");
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(
      ASN1_TIME_compare(X509_get0_notAfter(&leaf_of(**context)), X509_get0_notAfter(ca_cert.get())),
      0);
  EXPECT_EQ(verify_leaf(**context, *ca_cert, "gitlab.com"), X509_V_OK);
}

TEST(LeafMinter, ANameTooLongForACommonNameIsInTheSanAlone) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  X509Ptr ca_cert = parse_cert(ca->pem.cert_pem);
  const std::string name = std::string(60, 'a') + "." + std::string(20, 'b') + ".example.com";
  Result<std::shared_ptr<SSL_CTX>> context = ca->minter.server_context(name);
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(common_name(leaf_of(**context)), "");
  EXPECT_TRUE(critical(leaf_of(**context), NID_subject_alt_name));
  EXPECT_EQ(verify_leaf(**context, *ca_cert, name), X509_V_OK);
}

TEST(LeafMinter, RefusesIpLiteralsWildcardsAndUnnormalisedNames) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  for (const char* name :
       {"", "127.0.0.1", "10.1", "2130706433", "::1", "[::1]", "*.github.com", "*", "GitHub.com",
        "github.com.", "git hub.com", "github.com:443", "-github.com"}) {
    Result<std::shared_ptr<SSL_CTX>> context = ca->minter.server_context(name);
    EXPECT_FALSE(context.ok()) << name;
    if (!context.ok()) {
      EXPECT_NE(context.error().message.find(std::string("\"") + name + "\""), std::string::npos)
          << context.error().message;
    }
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_TRUE(ca->minter.server_context("api.github.com").ok());
}

TEST(LeafMinter, CachesPerNameAndDropsTheLeastRecentlyUsed) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  auto name = [](size_t i) { return "host" + std::to_string(i) + ".example.com"; };
  // Holding both keeps their memory from being reused, so a fresh mint cannot look the same.
  Result<std::shared_ptr<SSL_CTX>> first = ca->minter.server_context(name(0));
  Result<std::shared_ptr<SSL_CTX>> second = ca->minter.server_context(name(1));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(ca->minter.server_context(name(0))->get(), first->get());
  EXPECT_NE(first->get(), second->get());
  for (size_t i = 2; i < LeafMinter::kCacheCapacity; ++i) {
    ASSERT_TRUE(ca->minter.server_context(name(i)).ok());
  }
  // Full. Using name 0 again makes name 1 the least recently used, so the next name drops it.
  EXPECT_EQ(ca->minter.server_context(name(0))->get(), first->get());
  ASSERT_TRUE(ca->minter.server_context(name(LeafMinter::kCacheCapacity)).ok());
  EXPECT_EQ(ca->minter.server_context(name(0))->get(), first->get());
  Result<std::shared_ptr<SSL_CTX>> again = ca->minter.server_context(name(1));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->get(), second->get());
  // The dropped context still works for whoever holds it.
  EXPECT_EQ(dns_names(leaf_of(**second)), std::vector<std::string>{name(1)});
}

TEST(LeafMinter, LoadRefusesAMismatchedKeyANonCaAndBadPem) {
  std::optional<TestCa> ca = TestCa::make();
  std::optional<TestCa> other = TestCa::make();
  ASSERT_TRUE(ca && other);

  Result<LeafMinter> mismatched = LeafMinter::load(ca->pem.cert_pem, other->pem.key_pem);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error().message, "the CA key does not match the CA certificate");

  Result<std::shared_ptr<SSL_CTX>> context = ca->minter.server_context("github.com");
  ASSERT_TRUE(context.ok());
  Result<LeafMinter> leaf_as_ca = LeafMinter::load(
      pem_of(leaf_of(**context)), pem_of(*SSL_CTX_get0_privatekey(context->get())));
  ASSERT_FALSE(leaf_as_ca.ok());
  EXPECT_NE(leaf_as_ca.error().message.find("not a CA"), std::string::npos)
      << leaf_as_ca.error().message;

  EXPECT_FALSE(LeafMinter::load("not PEM", ca->pem.key_pem).ok());
  EXPECT_FALSE(LeafMinter::load(ca->pem.cert_pem, "").ok());
  EXPECT_FALSE(LeafMinter::load(ca->pem.key_pem, ca->pem.cert_pem).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(LeafMinter, LoadRefusesAnEncryptedKeyWithoutPrompting) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  BioPtr in(BIO_new_mem_buf(ca->pem.key_pem.data(), static_cast<int>(ca->pem.key_pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(key);
  BioPtr out(BIO_new(BIO_s_mem()));
  char passphrase[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), passphrase,
                                          sizeof passphrase - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  const std::string encrypted(data, static_cast<size_t>(size));
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_FALSE(LeafMinter::load(ca->pem.cert_pem, encrypted).ok());
}

TEST(LeafMinter, StaysUsableAfterAMove) {
  std::optional<TestCa> ca = TestCa::make();
  ASSERT_TRUE(ca);
  Result<std::shared_ptr<SSL_CTX>> before = ca->minter.server_context("github.com");
  ASSERT_TRUE(before.ok());
  LeafMinter moved = std::move(ca->minter);
  EXPECT_EQ(moved.server_context("github.com")->get(), before->get());
  EXPECT_TRUE(moved.server_context("gitlab.com").ok());
}

// A CA, a leaf for github.com, and an upstream context that trusts the CA through a file.
class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    std::optional<TestCa> ca = TestCa::make();
    ASSERT_TRUE(ca);
    ca_.emplace(std::move(*ca));
    ca_file_ = dir_.write("ca.pem", ca_->pem.cert_pem);
    Result<std::shared_ptr<SSL_CTX>> server = ca_->minter.server_context("github.com");
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_context_ = *server;
    Result<std::shared_ptr<SSL_CTX>> client = make_upstream_context({ca_file_});
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_context_ = *client;
  }

  TempDir dir_;
  std::optional<TestCa> ca_;
  std::string ca_file_;
  std::shared_ptr<SSL_CTX> server_context_;
  std::shared_ptr<SSL_CTX> client_context_;
};

TEST_F(SessionTest, HandshakesCarriesDataBothWaysAndSeesCloseNotify) {
  auto server = TlsSession::server(*server_context_);
  auto client = TlsSession::client(*client_context_, "github.com");
  EXPECT_EQ(client->advance(), State::kHandshaking);
  const std::string client_hello = client->take_output();
  EXPECT_FALSE(client_hello.empty());
  server->feed(client_hello);
  pump(*client, *server);
  ASSERT_EQ(client->advance(), State::kOpen) << client->error();
  ASSERT_EQ(server->advance(), State::kOpen) << server->error();
  EXPECT_EQ(server->sni(), "github.com");
  EXPECT_EQ(client->alpn(), "http/1.1");
  EXPECT_EQ(server->alpn(), "http/1.1");

  const std::string request = "GET / HTTP/1.1\r\nHost: github.com\r\n\r\n";
  // Far more than one TLS record (16 KiB) and one read chunk.
  std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
  for (size_t i = 0; response.size() < 1048576 + 45; ++i)
    response += static_cast<char>('a' + i % 26);
  client->write(request);
  auto [at_client, at_server] = exchange(*client, *server);
  EXPECT_EQ(at_server, request);
  EXPECT_EQ(at_client, "");
  server->write(response);
  std::tie(at_client, at_server) = exchange(*client, *server);
  EXPECT_EQ(at_client, response);

  client->shutdown();
  pump(*client, *server);
  std::string rest;
  EXPECT_FALSE(server->read(rest));
  EXPECT_EQ(server->advance(), State::kClosed);
  EXPECT_EQ(client->advance(), State::kOpen);
  // Half-closed: the server may still answer, then closes its side too.
  server->write("bye");
  server->shutdown();
  pump(*client, *server);
  EXPECT_TRUE(client->read(rest));
  EXPECT_EQ(rest, "bye");
  EXPECT_EQ(client->advance(), State::kClosed);
  EXPECT_EQ(client->error(), "");
  EXPECT_EQ(server->error(), "");
}

TEST_F(SessionTest, DataSentWithTheLastHandshakeFlightIsRead) {
  auto server = TlsSession::server(*server_context_);
  auto client = TlsSession::client(*client_context_, "github.com");
  // Client and server hello, without the server looking at the client's Finished yet.
  client->advance();
  server->feed(client->take_output());
  server->advance();
  client->feed(server->take_output());
  ASSERT_EQ(client->advance(), State::kOpen) << client->error();
  client->write("early");
  server->feed(client->take_output());  // Finished and the data in one go
  std::string got;
  EXPECT_TRUE(server->read(got));
  EXPECT_EQ(got, "early");
  EXPECT_EQ(server->advance(), State::kOpen);
}

TEST_F(SessionTest, AlpnNeverSelectsAnythingButHttp11) {
  struct Case {
    std::vector<unsigned char> offer;
    std::string selected;
  };
  const std::vector<Case> cases = {
      {{2, 'h', '2'}, ""},
      {{2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'}, "http/1.1"},
      {{}, ""},
  };
  for (const Case& c : cases) {
    Result<std::shared_ptr<SSL_CTX>> context = make_upstream_context({ca_file_});
    ASSERT_TRUE(context.ok());
    // An empty list turns ALPN off. set_alpn_protos returns 0 on success.
    ASSERT_EQ(SSL_CTX_set_alpn_protos(context->get(), c.offer.data(),
                                      static_cast<unsigned int>(c.offer.size())),
              0);
    auto server = TlsSession::server(*server_context_);
    auto client = TlsSession::client(**context, "github.com");
    pump(*client, *server);
    ASSERT_EQ(client->advance(), State::kOpen) << client->error();
    ASSERT_EQ(server->advance(), State::kOpen) << server->error();
    EXPECT_EQ(server->alpn(), c.selected);
    EXPECT_EQ(client->alpn(), c.selected);
  }
}

TEST_F(SessionTest, Tls12Works) {
  ASSERT_EQ(SSL_CTX_set_max_proto_version(client_context_.get(), TLS1_2_VERSION), 1);
  auto server = TlsSession::server(*server_context_);
  auto client = TlsSession::client(*client_context_, "github.com");
  pump(*client, *server);
  ASSERT_EQ(client->advance(), State::kOpen) << client->error();
  ASSERT_EQ(server->advance(), State::kOpen) << server->error();
  EXPECT_EQ(server->alpn(), "http/1.1");
  client->write("ping");
  auto [at_client, at_server] = exchange(*client, *server);
  EXPECT_EQ(at_server, "ping");
}

TEST_F(SessionTest, AClientForAnotherHostFailsWithTheHostnameError) {
  auto server = TlsSession::server(*server_context_);
  auto client = TlsSession::client(*client_context_, "gitlab.com");
  pump(*client, *server);
  EXPECT_EQ(client->advance(), State::kFailed);
  EXPECT_EQ(client->error(), "certificate does not match host gitlab.com");
  // The client's alert reaches the server, which fails too, in OpenSSL's words.
  EXPECT_EQ(server->advance(), State::kFailed);
  EXPECT_NE(server->error().find("error:"), std::string::npos) << server->error();
  EXPECT_EQ(ERR_peek_error(), 0u);
  std::string nothing;
  EXPECT_FALSE(client->read(nothing));
}

TEST_F(SessionTest, AClientWithoutTheCaFailsWithTheTrustError) {
  Result<std::shared_ptr<SSL_CTX>> system_only = make_upstream_context({});
  ASSERT_TRUE(system_only.ok()) << system_only.error().message;
  auto server = TlsSession::server(*server_context_);
  auto client = TlsSession::client(**system_only, "github.com");
  pump(*client, *server);
  EXPECT_EQ(client->advance(), State::kFailed);
  // The server sends the CA after the leaf, so OpenSSL meets a root it does not trust (a server
  // sending the leaf alone gets "unable to get local issuer certificate": see the s_server test).
  EXPECT_EQ(client->error(),
            "upstream certificate not trusted: self-signed certificate in certificate chain");
  EXPECT_EQ(server->advance(), State::kFailed);
  EXPECT_EQ(ERR_peek_error(), 0u);

  // One session's failure leaves nothing behind for the next.
  auto good_server = TlsSession::server(*server_context_);
  auto good_client = TlsSession::client(*client_context_, "github.com");
  pump(*good_client, *good_server);
  EXPECT_EQ(good_client->advance(), State::kOpen) << good_client->error();
  EXPECT_EQ(good_client->error(), "");
}

TEST_F(SessionTest, AServerFedPlainHttpFailsWithOpensslsError) {
  auto server = TlsSession::server(*server_context_);
  server->feed("GET / HTTP/1.1\r\nHost: github.com\r\n\r\n");
  EXPECT_EQ(server->advance(), State::kFailed);
  EXPECT_EQ(server->error().rfind("TLS handshake: error:", 0), 0u) << server->error();
  EXPECT_EQ(ERR_peek_error(), 0u);
  // A failed session stays failed and quiet.
  server->feed("more");
  EXPECT_EQ(server->advance(), State::kFailed);
}

TEST(UpstreamContext, ReportsEveryUnusableCaFileByPath) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string garbage = dir.write("garbage.pem", "not a certificate\n");
  const std::string missing = dir.path() + "/missing.pem";
  Result<std::shared_ptr<SSL_CTX>> context = make_upstream_context({garbage, missing});
  ASSERT_FALSE(context.ok());
  EXPECT_NE(context.error().message.find("CA file " + garbage + ": "), std::string::npos)
      << context.error().message;
  EXPECT_NE(context.error().message.find("CA file " + missing + ": "), std::string::npos)
      << context.error().message;
  EXPECT_EQ(context.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(UpstreamContext, VerifiesPeersFromTls12Up) {
  Result<std::shared_ptr<SSL_CTX>> context = make_upstream_context({});
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode(context->get()), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context->get()), TLS1_2_VERSION);
}

}  // namespace
}  // namespace acctl::gate
