// Proves the build compiled against BoringSSL's headers and runs on
// BoringSSL's library, not on OpenSSL 3 which shares the machine.
#include <catch.hpp>

#include <openssl/base.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include <sanstls/boringssl.hpp>
#include <sanstls/version.hpp>

#include "support.hpp"

TEST_CASE("compiled against BoringSSL headers", "[boringssl]") {
#ifndef OPENSSL_IS_BORINGSSL
  FAIL("OPENSSL_IS_BORINGSSL is not defined: OpenSSL headers were used");
#endif
  CHECK(BORINGSSL_API_VERSION == sanstls::boringssl_api_version());
  CHECK(sanstls::boringssl_api_version() >= 17);
}

TEST_CASE("runs on the BoringSSL library", "[boringssl]") {
  // OpenSSL 3 would say "OpenSSL 3.0.x ..."; BoringSSL says "BoringSSL".
  CHECK(std::string(sanstls::openssl_version()) == "BoringSSL");
  CHECK(std::string(OpenSSL_version(OPENSSL_VERSION)) == "BoringSSL");
}

TEST_CASE("native handles reach the BoringSSL objects", "[boringssl]") {
  sanstls::Context ctx = test::client_context();
  SSL_CTX* native_ctx = sanstls::native_handle(ctx);
  REQUIRE(native_ctx != nullptr);
  CHECK(sanstls::native_handle(sanstls::Context(ctx)) == native_ctx);  // copies share it
  sanstls::Object obj = ctx.wrap_bio({}, {}, false, "localhost");
  SSL* ssl = sanstls::native_handle(obj);
  REQUIRE(ssl != nullptr);
  CHECK(SSL_get_SSL_CTX(ssl) == native_ctx);
  CHECK(SSL_is_server(ssl) == 0);
  CHECK(std::string(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) == "localhost");
}

TEST_CASE("native_cert_store is the store verification uses", "[boringssl][verify]") {
  sanstls::Context client = test::client_context();
  X509_STORE* store = sanstls::native_cert_store(client);
  REQUIRE(store != nullptr);
  CHECK(sanstls::native_cert_store(sanstls::Context(client)) == store);  // copies share it
  CHECK(client.cert_store_stats().x509 == 1);
  REQUIRE(test::handshake(client, test::server_context()).ok);

  // A depth limit set through the store reaches the next verification: at
  // 0 the chain may not go past the leaf to the CA that signed it, and
  // BoringSSL reports the CA as not found.
  X509_STORE_set_depth(store, 0);
  test::Handshake h = test::handshake(client, test::server_context());
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  CHECK(h.client_result.error->kind == sanstls::ErrorKind::cert_verification);
  INFO(test::describe(h.client_result));
  CHECK(static_cast<long>(h.client_result.error->verify_code) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  X509_STORE_set_depth(store, 1);
  CHECK(test::handshake(client, test::server_context()).ok);
}
