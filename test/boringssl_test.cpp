// Proves the build compiled against BoringSSL's headers and runs on
// BoringSSL's library, not on OpenSSL 3 which shares the machine.
#include <catch.hpp>

#include <openssl/base.h>
#include <openssl/ssl.h>

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
