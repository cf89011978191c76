// A program that uses an installed sanstls the way users do: built by
// scripts/check with nothing but
//
//   c++ -std=c++20 consumer.cpp $(pkg-config --cflags --libs sanstls)
//
// against a `meson install`ed prefix. It prints "sanstls VERSION", which
// scripts/check compares with pkg-config --modversion sanstls.
#include <cstdio>
#include <string>

#include <sanstls/boringssl.hpp>
#include <sanstls/sanstls.hpp>

// boringssl.hpp pulls in <openssl/ssl.h>: pkg-config's flags must make that
// BoringSSL's, not OpenSSL 3's from /usr/include/openssl.
#ifndef OPENSSL_IS_BORINGSSL
#error "pkg-config --cflags sanstls did not put BoringSSL's headers first"
#endif

// The version macros agree with the function, at compile time.
static_assert(SANSTLS_VERSION_NUMBER ==
              SANSTLS_VERSION_MAJOR * 10000 + SANSTLS_VERSION_MINOR * 100 + SANSTLS_VERSION_PATCH);
static_assert(sanstls::version() == SANSTLS_VERSION_STRING);

int main() {
  sanstls::Context context(sanstls::Protocol::tls_client);
  sanstls::MemoryBIO incoming, outgoing;
  sanstls::Object tls = context.wrap_bio(incoming, outgoing, false, "example.com");
  sanstls::Result result = tls.do_handshake();
  if (result.status != sanstls::Status::want_read || outgoing.pending() == 0) {
    std::fprintf(stderr, "consumer: expected a ClientHello and want_read, got %s\n",
                 std::string(sanstls::status_name(result.status)).c_str());
    return 1;
  }
  if (sanstls::native_handle(context) == nullptr) {
    std::fprintf(stderr, "consumer: no native SSL_CTX\n");
    return 1;
  }
  std::printf("sanstls %s\n", std::string(sanstls::version()).c_str());
  std::printf("on %s\n", std::string(sanstls::openssl_version()).c_str());
  return 0;
}
