// select_handshake: the handshake loop from "Notes on non-blocking sockets"
// in Python's ssl documentation, in C++:
//
//   while True:
//       try:
//           sock.do_handshake()
//           break
//       except ssl.SSLWantReadError:
//           select.select([sock], [], [])
//       except ssl.SSLWantWriteError:
//           select.select([], [sock], [])
//
// A server thread (blocking) and a non-blocking client, with a certificate
// made on the fly, on 127.0.0.1. Then the client reads the server's
// greeting the same way, minding pending(): bytes TLS already decrypted do
// not make the socket readable. Exits 0 when all went as described.
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <future>
#include <string>

#include <sanstls/net/socket.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace {

// wait_for blocks in select() until |fd| is readable or writable.
void wait_for(int fd, bool readable) {
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  ::select(fd + 1, readable ? &set : nullptr, readable ? nullptr : &set, nullptr, nullptr);
}

int run() {
  using sanstls::testing::CertificateAuthority;
  CertificateAuthority ca = CertificateAuthority::create("example CA");
  sanstls::testing::Issued cert = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  sanstls::Context client_ctx(sanstls::Protocol::tls_client);
  client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

  // A listening socket on a free port.
  sanstls::net::FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  sanstls::net::Socket server =
      sanstls::net::wrap_socket(server_ctx, std::move(listener), {.server_side = true});
  auto served = std::async(std::launch::async, [&server] {
    sanstls::net::Socket conn = server.accept();  // handshakes, blocking
    conn.sendall("hello from the server\n");
    conn.unwrap();
  });

  sanstls::net::Socket sock = sanstls::net::wrap_socket(
      client_ctx, sanstls::net::create_connection("127.0.0.1", ntohs(addr.sin_port), 10),
      {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  sock.setblocking(false);

  int waits = 0;
  for (;;) {
    try {
      sock.do_handshake();
      break;
    } catch (const sanstls::SSLWantReadError&) {
      wait_for(sock.fileno(), true);
    } catch (const sanstls::SSLWantWriteError&) {
      wait_for(sock.fileno(), false);
    }
    ++waits;
  }
  std::printf("handshake done after %d waits: %s, %s\n", waits, sock.version()->c_str(),
              sock.cipher()->name.c_str());

  // Reading: wait on the socket only when TLS holds nothing decrypted.
  std::string greeting;
  while (greeting.find('\n') == std::string::npos) {
    try {
      std::string got = sock.recv(5);
      if (got.empty()) break;
      greeting += got;
    } catch (const sanstls::SSLWantReadError&) {
      if (sock.pending() == 0) wait_for(sock.fileno(), true);
    }
  }
  std::printf("read: %s", greeting.c_str());
  sock.setblocking(true);
  sock.unwrap();
  served.get();
  // (waits may be 0: on a fast loopback the server's flight can be there
  // before the first read.)
  return greeting == "hello from the server\n" ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "select_handshake: %s\n", e.what());
    return 1;
  }
}
