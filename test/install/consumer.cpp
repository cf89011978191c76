// A program that uses sanstls the way users do, built outside this project
// by scripts/check in three ways against the same code:
//
//   pkg-config  c++ -std=c++20 consumer.cpp $(pkg-config --cflags --libs
//               sanstls-net sanstls-testing) against a `meson install`ed
//               prefix;
//   CMake       find_package(sanstls CONFIG REQUIRED) and the imported
//               targets sanstls::net and sanstls::testing (CMakeLists.txt),
//               against the same prefix;
//   Meson       sanstls in subprojects/ and dependency('sanstls-net') and
//               dependency('sanstls-testing') (meson.build).
//
// It uses all three libraries: the engine's Object, a TLS 1.3 handshake and
// an echo through net::Socket over a socketpair, with certificates made on
// the fly by the test library. It prints "sanstls VERSION", which
// scripts/check compares with the version the install reports, and the
// BoringSSL it runs on, which scripts/check compares with the BoringSSL the
// library was built against.
#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <future>
#include <string>
#include <thread>

#include <sanstls/boringssl.hpp>
#include <sanstls/net/socket.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

// boringssl.hpp pulls in <openssl/ssl.h>: the consumer's flags must make
// that BoringSSL's, not OpenSSL 3's from /usr/include/openssl.
#ifndef OPENSSL_IS_BORINGSSL
#error "the consumer's include path did not put BoringSSL's headers first"
#endif

// The version macros agree with the function, at compile time.
static_assert(SANSTLS_VERSION_NUMBER ==
              SANSTLS_VERSION_MAJOR * 10000 + SANSTLS_VERSION_MINOR * 100 + SANSTLS_VERSION_PATCH);
static_assert(sanstls::version() == SANSTLS_VERSION_STRING);

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main() try {
  // The engine alone: a ClientHello, and want_read for the answer.
  sanstls::Context client_context(sanstls::Protocol::tls_client);
  sanstls::MemoryBIO incoming, outgoing;
  sanstls::Object tls = client_context.wrap_bio(incoming, outgoing, false, "example.com");
  sanstls::Result result = tls.do_handshake();
  if (result.status != sanstls::Status::want_read || outgoing.pending() == 0) {
    return fail("expected a ClientHello and want_read, got " +
                std::string(sanstls::status_name(result.status)));
  }
  if (sanstls::native_handle(client_context) == nullptr) return fail("no native SSL_CTX");

  // The test library's certificates, and the socket adapters over a
  // socketpair: the server echoes one message back.
  auto ca = sanstls::testing::CertificateAuthority::create();
  sanstls::testing::Issued leaf = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  sanstls::Context server_context(sanstls::Protocol::tls_server);
  server_context.load_cert_chain_pem(leaf.certificate_pem, leaf.private_key_pem);
  sanstls::Context verifying_client(sanstls::Protocol::tls_client);
  verifying_client.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return fail("socketpair failed");
  sanstls::net::FileDescriptor server_fd(fds[0]), client_fd(fds[1]);
  auto server = std::async(std::launch::async, [&] {
    sanstls::net::Socket s =
        sanstls::net::wrap_socket(server_context, std::move(server_fd), {.server_side = true});
    s.sendall(s.recv(64));
    s.unwrap();
  });
  sanstls::net::Socket client = sanstls::net::wrap_socket(
      verifying_client, std::move(client_fd), {.server_hostname = "localhost"});
  client.sendall("ping");
  std::string echoed = client.recv(64);
  client.unwrap();
  server.get();  // rethrows the server's exception, if any
  if (echoed != "ping") return fail("the echo came back as \"" + echoed + "\"");

  std::printf("sanstls %s\n", std::string(sanstls::version()).c_str());
  std::printf("handshake %s, echo ok\n", client.version().value_or("none").c_str());
  std::printf("on %s\n", std::string(sanstls::openssl_version()).c_str());
  return 0;
} catch (const std::exception& e) {
  return fail(std::string("exception: ") + e.what());
}
