// net::Socket on real loopback sockets: handshake on connect and accept,
// echo, unwrap to cleartext, ragged EOFs, timeouts, non-blocking loops,
// get_server_certificate, and failures that leave no descriptor behind.
#include <catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <sanstls/net/socket.hpp>

#include "support.hpp"

using sanstls::Context;
using sanstls::net::FileDescriptor;
using sanstls::net::Socket;
using sanstls::net::WrapOptions;

namespace {

// Listener is a TCP socket listening on 127.0.0.1 with a free port.
struct Listener {
  FileDescriptor fd;
  std::uint16_t port = 0;
};

Listener listen_loopback() {
  Listener l{FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), 0};
  REQUIRE(l.fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(l.fd.get(), 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  l.port = ntohs(addr.sin_port);
  return l;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

// accept_one accepts one connection on |server| in another thread and
// returns the SSLError its handshake ended with ("no error" if none).
std::future<std::string> accept_one(Socket& server) {
  return std::async(std::launch::async, [&server] {
    server.settimeout(20);
    try {
      Socket conn = server.accept();
    } catch (const sanstls::SSLError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
}

// echo_server serves one connection on |listener|: TLS handshake in
// accept(), echo until the client's close_notify, then unwrap. With
// |start|, it accepts only once |start| is ready, so a test can see its
// first handshake step before the server can answer (the kernel completes
// the TCP connect meanwhile).
std::future<std::size_t> echo_server(Context ctx, Listener& listener, std::shared_future<void> start = {}) {
  Socket server = sanstls::net::wrap_socket(ctx, std::move(listener.fd), {.server_side = true});
  return std::async(std::launch::async, [server = std::move(server), start]() mutable {
    if (start.valid()) start.wait();
    server.settimeout(20);
    Socket conn = server.accept();
    std::size_t total = 0;
    for (;;) {
      std::string data = conn.recv(65536);
      if (data.empty()) break;
      total += data.size();
      conn.sendall(data);
    }
    conn.unwrap();
    return total;
  });
}

}  // namespace

TEST_CASE("a blocking client and server: handshake on connect and accept, 4 MiB echo, unwrap",
          "[net][socket]") {
  const std::size_t before = open_descriptors();
  {
    Listener listener = listen_loopback();
    const std::uint16_t port = listener.port;
    std::future<std::size_t> served = echo_server(test::server_context(), listener);

    Context client_ctx = test::client_context();
    client_ctx.set_alpn_protocols({"h2"});
    Socket tls = sanstls::net::wrap_socket(client_ctx, sanstls::net::create_connection("127.0.0.1", port, 10),
                                           {.server_hostname = "localhost"});
    tls.settimeout(20);
    CHECK(tls.version() == "TLSv1.3");  // handshaken by wrap_socket
    std::optional<sanstls::Certificate> peer = tls.getpeercert();
    REQUIRE(peer);
    CHECK_FALSE(peer->subject.empty());

    // An Object is used by one thread at a time, so the client sends a
    // piece and reads its echo before the next (the server would otherwise
    // block writing to a client that is not reading).
    const std::string payload = test::pattern(4 << 20, 21);
    constexpr std::size_t kPiece = 200 * 1000;
    std::string back;
    for (std::size_t at = 0; at < payload.size(); at += kPiece) {
      const std::string_view piece = std::string_view(payload).substr(at, kPiece);
      tls.sendall(piece);
      while (back.size() < at + piece.size()) {
        std::string got = tls.recv(65536);
        REQUIRE_FALSE(got.empty());
        CHECK(got.size() <= sanstls::max_read_size);  // one record per call
        back += got;
      }
    }
    CHECK((back == payload));

    // unwrap: close_notify both ways, and the plain socket is left.
    FileDescriptor plain = tls.unwrap();
    CHECK(plain);
    CHECK(served.get() == payload.size());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("an unconnected socket handshakes right after connect()", "[net][socket]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  std::future<std::size_t> served = echo_server(test::server_context(), listener);
  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)),
                                         {.server_hostname = "localhost"});
  CHECK_FALSE(tls.version());  // not connected: no handshake yet
  tls.settimeout(20);
  tls.connect("127.0.0.1", port);
  CHECK(tls.version().has_value());
  tls.sendall("hello");
  CHECK(tls.recv(5) == "hello");
  tls.unwrap();
  CHECK(served.get() == 5);
}

TEST_CASE("suppress_ragged_eofs decides what a close without close_notify reads as",
          "[net][socket][eof]") {
  const bool suppress = GENERATE(true, false);
  INFO("suppress_ragged_eofs " << suppress);
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  auto served = std::async(std::launch::async, [&server] {
    server.settimeout(20);
    Socket conn = server.accept();
    conn.sendall("partial");
    conn.close();  // no close_notify
  });
  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         sanstls::net::create_connection("127.0.0.1", port, 10),
                                         {.suppress_ragged_eofs = suppress, .server_hostname = "localhost"});
  tls.settimeout(20);
  served.get();
  CHECK(tls.recv(7) == "partial");
  if (suppress) {
    CHECK(tls.recv(10).empty());
  } else {
    CHECK_THROWS_AS(tls.recv(10), sanstls::SSLEOFError);
  }
}

TEST_CASE("timeouts: a silent peer times the handshake and reads out", "[net][socket][timeout]") {
  Listener listener = listen_loopback();
  // The kernel completes the TCP handshake; nobody ever speaks TLS.
  FileDescriptor client = sanstls::net::create_connection("127.0.0.1", listener.port, 10);
  Socket tls = sanstls::net::wrap_socket(test::client_context(), std::move(client),
                                         {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  tls.settimeout(0.2);
  CHECK(tls.gettimeout() == 0.2);
  const auto start = std::chrono::steady_clock::now();
  try {
    tls.do_handshake();
    FAIL("the handshake did not time out");
  } catch (const sanstls::net::TimeoutError& e) {
    CHECK(std::string(e.what()) == "The handshake operation timed out");
  }
  // The timeout fired rather than the handshake waiting forever; the bound
  // is loose on purpose, as a busy machine may be slow to wake us.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(60));
  CHECK_THROWS_AS(tls.settimeout(-1), std::invalid_argument);
}

TEST_CASE("a read times out when the peer sends nothing after the handshake",
          "[net][socket][timeout]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  std::promise<void> done;
  auto served = std::async(std::launch::async, [&server, finished = done.get_future()]() mutable {
    Socket conn = server.accept();
    finished.wait();
  });
  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         sanstls::net::create_connection("127.0.0.1", port, 10),
                                         {.server_hostname = "localhost"});
  tls.settimeout(0.2);
  try {
    (void)tls.recv(10);
    FAIL("the read did not time out");
  } catch (const sanstls::net::TimeoutError& e) {
    CHECK(std::string(e.what()) == "The read operation timed out");
  }
  done.set_value();
  served.get();
}

TEST_CASE("non-blocking: want_read and want_write drive a poll() loop, as Python's select loop",
          "[net][socket][nonblocking]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  std::promise<void> first_step_taken;
  std::future<std::size_t> served =
      echo_server(test::server_context(), listener, first_step_taken.get_future().share());
  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         sanstls::net::create_connection("127.0.0.1", port, 10),
                                         {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  tls.setblocking(false);
  CHECK(tls.gettimeout() == 0.0);
  // The Python-style call throws, as Python's does: the server has not
  // answered yet.
  CHECK_THROWS_AS(tls.do_handshake(), sanstls::SSLWantReadError);
  first_step_taken.set_value();
  int rounds = 0;
  for (;;) {
    sanstls::Result r = tls.try_handshake();
    if (r.status == sanstls::Status::done) break;
    REQUIRE((r.status == sanstls::Status::want_read || r.status == sanstls::Status::want_write));
    pollfd p{tls.fileno(), static_cast<short>(r.status == sanstls::Status::want_read ? POLLIN : POLLOUT), 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    REQUIRE(++rounds < 100);
  }
  CHECK(tls.version().has_value());

  // A large send meets a full socket buffer: try_send reports want_write
  // and nothing is lost.
  const std::string payload = test::pattern(8 << 20, 5);
  std::size_t sent = 0;
  std::string back;
  std::array<std::byte, 65536> buffer{};
  while (back.size() < payload.size()) {
    if (sent < payload.size()) {
      sanstls::Result w = tls.try_send(sanstls::as_bytes(std::string_view(payload).substr(sent)));
      if (w.status == sanstls::Status::done) sent += w.bytes;
    } else {
      tls.flush();
    }
    sanstls::Result r = tls.try_recv_into(buffer);
    if (r.status == sanstls::Status::done) {
      back.append(reinterpret_cast<const char*>(buffer.data()), r.bytes);
      continue;
    }
    REQUIRE(r.status != sanstls::Status::error);
    // Wait for whatever the connection needs; data decrypted but not yet
    // read (pending) needs no wait at all.
    if (tls.pending() != 0) continue;
    short events = POLLIN;
    if (tls.wants_write() || sent < payload.size()) events |= POLLOUT;
    pollfd p{tls.fileno(), events, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
  }
  CHECK((back == payload));
  // An idle connection keeps no receive buffer: a read that finds the
  // socket empty gives back the space it offered (10,000 idle connections
  // held 17 KiB each before).
  CHECK(tls.try_recv_into(buffer).status == sanstls::Status::want_read);
  CHECK(tls.object().incoming().capacity() == 0);
  tls.setblocking(true);
  tls.unwrap();
  CHECK(served.get() == payload.size());
}

TEST_CASE("get_server_certificate returns the server's certificate as PEM", "[net][socket]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  // Catch's assertions are not thread-safe: the server thread reports back.
  auto served = std::async(std::launch::async, [&server] {
    server.settimeout(20);
    Socket a = server.accept();
    try {
      Socket b = server.accept();
    } catch (const sanstls::SSLError& e) {
      return std::string(e.what());  // the client's unknown_ca alert
    }
    return std::string("no error");
  });
  CHECK(sanstls::net::get_server_certificate("127.0.0.1", port, std::nullopt, 10) ==
        sanstls::der_cert_to_pem_cert(sanstls::as_bytes(test::pki().server.certificate_der)));
  // With ca_certs the chain is verified: an unknown CA fails.
  test::TempDir dir;
  const std::string other_ca =
      dir.write("other.pem", sanstls::testing::CertificateAuthority::create().certificate_pem());
  CHECK_THROWS_AS(sanstls::net::get_server_certificate("127.0.0.1", port, other_ca, 10),
                  sanstls::SSLCertVerificationError);
  CHECK(served.get() == "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
}

TEST_CASE("failures leave no descriptor open: untrusted server, refused connection",
          "[net][socket][errors]") {
  const std::size_t before = open_descriptors();
  {
    Listener listener = listen_loopback();
    const std::uint16_t port = listener.port;
    Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                              {.server_side = true});
    std::future<std::string> served = accept_one(server);
    Context trusts_nothing(sanstls::Protocol::tls_client);
    try {
      Socket tls = sanstls::net::wrap_socket(trusts_nothing,
                                             sanstls::net::create_connection("127.0.0.1", port, 10),
                                             {.server_hostname = "localhost"});
      FAIL("an untrusted server was accepted");
    } catch (const sanstls::SSLCertVerificationError& e) {
      CHECK(e.verify_code() == sanstls::VerifyCode::unable_to_get_issuer_cert_locally);
    }
    CHECK(served.get() == "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
  }
  {
    // A port nobody listens on: the listener is closed first.
    std::uint16_t port = listen_loopback().port;
    CHECK_THROWS_AS(sanstls::net::create_connection("127.0.0.1", port, 5), std::system_error);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("non-blocking: a write before the handshake needs a read first; pending() data needs no wait",
          "[net][socket][nonblocking]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  // The kernel accepts the connection into the listener's backlog; the
  // server starts only after the first writes, so that nothing can answer
  // the ClientHello before they look for an answer (a server on the other
  // core once did, and the first write finished the handshake).
  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         sanstls::net::create_connection("127.0.0.1", port, 10),
                                         {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  tls.setblocking(false);
  const std::string message = "a write that must wait for the handshake";
  // The first write sends the ClientHello and needs the server's answer.
  sanstls::Result w = tls.try_send(sanstls::as_bytes(message));
  CHECK(w.status == sanstls::Status::want_read);
  CHECK_THROWS_AS(tls.send(message), sanstls::SSLWantReadError);
  std::future<std::size_t> served = echo_server(test::server_context(), listener);
  for (int rounds = 0; w.status != sanstls::Status::done; ++rounds) {
    REQUIRE(rounds < 100);
    pollfd p{tls.fileno(), static_cast<short>(w.status == sanstls::Status::want_write ? POLLOUT : POLLIN), 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    w = tls.try_send(sanstls::as_bytes(message));
  }
  CHECK(w.bytes == message.size());
  tls.flush();

  // Read the echo in 4-byte pieces: after the first, the rest of the record
  // is decrypted inside TLS while the socket itself has nothing.
  std::array<std::byte, 4> piece{};
  sanstls::Result r{sanstls::Status::want_read, 0, nullptr};
  while (r.status != sanstls::Status::done) {
    r = tls.try_recv_into(piece);
    if (r.status == sanstls::Status::done) break;
    REQUIRE(r.status == sanstls::Status::want_read);
    pollfd p{tls.fileno(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
  }
  std::string echoed(reinterpret_cast<const char*>(piece.data()), r.bytes);
  CHECK(tls.pending() == message.size() - 4);
  pollfd p{tls.fileno(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);  // the socket is not readable...
  while (tls.pending() != 0) {    // ...and yet there is data
    r = tls.try_recv_into(piece);
    REQUIRE(r.status == sanstls::Status::done);
    echoed.append(reinterpret_cast<const char*>(piece.data()), r.bytes);
  }
  CHECK(echoed == message);
  tls.setblocking(true);
  tls.unwrap();
  CHECK(served.get() == message.size());
}

TEST_CASE("create_connection and connect() reach an IPv6 listener", "[net][socket][ipv6]") {
  FileDescriptor fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    WARN("no IPv6 loopback on this machine: " << std::strerror(errno));
    return;
  }
  REQUIRE(::listen(fd.get(), 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Listener listener{std::move(fd), ntohs(addr.sin6_port)};
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  auto served = std::async(std::launch::async, [&server] {
    server.settimeout(20);
    for (int i = 0; i < 2; ++i) {
      Socket conn = server.accept();
      conn.sendall(conn.version().value_or("?"));
      conn.unwrap();
    }
  });
  // The server certificate names ::1.
  Socket a = sanstls::net::wrap_socket(test::client_context(), sanstls::net::create_connection("::1", port, 10),
                                       {.server_hostname = "::1"});
  CHECK(a.recv(16) == "TLSv1.3");
  a.unwrap();
  Socket b = sanstls::net::wrap_socket(test::client_context(),
                                       FileDescriptor(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)),
                                       {.server_hostname = "::1"});
  b.settimeout(10);
  b.connect("::1", port);
  CHECK(b.recv(16) == "TLSv1.3");
  b.unwrap();
  served.get();
}

TEST_CASE("phase(): unconnected, handshaking, open, unwrapped, closed; listening; failed",
          "[net][socket][phase]") {
  using sanstls::net::SocketPhase;
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  CHECK(server.phase() == SocketPhase::listening);
  auto served = std::async(std::launch::async, [&server] {
    server.settimeout(20);
    Socket conn = server.accept();
    const SocketPhase accepted = conn.phase();
    std::string got = conn.recv(5);
    conn.unwrap();
    return std::pair{accepted, got};
  });

  Socket tls = sanstls::net::wrap_socket(test::client_context(),
                                         FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)),
                                         {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  CHECK(tls.phase() == SocketPhase::unconnected);
  CHECK_THROWS_WITH(tls.accept(), "accept: the socket is not listening (it is unconnected)");
  tls.settimeout(20);
  tls.connect("127.0.0.1", port);
  CHECK(tls.phase() == SocketPhase::handshaking);  // connected, handshake not run yet
  tls.do_handshake();
  CHECK(tls.phase() == SocketPhase::open);
  tls.sendall("hello");
  FileDescriptor plain = tls.unwrap();
  CHECK(plain);
  CHECK(tls.phase() == SocketPhase::unwrapped);
  auto [accepted, got] = served.get();
  CHECK(accepted == SocketPhase::open);  // accept() handshakes before returning
  CHECK(got == "hello");
  server.close();
  CHECK(server.phase() == SocketPhase::closed);

  std::vector<std::string_view> names;
  for (SocketPhase p : {SocketPhase::unconnected, SocketPhase::listening, SocketPhase::handshaking,
                        SocketPhase::open, SocketPhase::unwrapping, SocketPhase::unwrapped,
                        SocketPhase::closed, SocketPhase::failed}) {
    names.push_back(sanstls::net::socket_phase_name(p));
  }
  CHECK(names == std::vector<std::string_view>{"unconnected", "listening", "handshaking", "open",
                                               "unwrapping", "unwrapped", "closed", "failed"});
}

TEST_CASE("phase(): a socket whose handshake failed is failed", "[net][socket][phase]") {
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = sanstls::net::wrap_socket(test::server_context(), std::move(listener.fd),
                                            {.server_side = true});
  std::future<std::string> served = accept_one(server);
  Context trusts_nothing(sanstls::Protocol::tls_client);
  Socket tls = sanstls::net::wrap_socket(trusts_nothing,
                                         sanstls::net::create_connection("127.0.0.1", port, 10),
                                         {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  tls.settimeout(20);
  CHECK_THROWS_AS(tls.do_handshake(), sanstls::SSLCertVerificationError);
  CHECK(tls.phase() == sanstls::net::SocketPhase::failed);
  CHECK(served.get() == "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
}
