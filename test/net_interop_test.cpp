// net::Socket against the TLS implementations users meet: OpenSSL 3's
// `openssl s_server` / `s_client`, BoringSSL's `bssl-tool server`, and curl.
//
// Each peer is a subprocess on 127.0.0.1 (a free port it picked or we
// picked), whose output goes to files in a temporary directory; the Peer
// class kills and reaps it in its destructor, so a failed REQUIRE never
// leaves one behind. Our side runs in the main thread (the peer is another
// process, so no helper threads are needed) with a timeout on every socket,
// and every wait for a peer is bounded by a deadline.
#include <catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <future>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sanstls/net/socket.hpp>
#include <sanstls/sanstls.hpp>

#include "peer_process.hpp"
#include "support.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using sanstls::Context;
using sanstls::TLSVersion;
using sanstls::net::FileDescriptor;
using sanstls::net::Socket;
using sanstls::net::WrapOptions;
using test::Peer;
using test::PeerIO;
using test::accept_port;
using test::logs;
using test::s_server_io;
using test::wait_listening;

// Generous: the machine may be loaded. Our sockets time out first, so a
// stuck peer shows as a TimeoutError rather than a hang.
constexpr double kSocketTimeout = 30.0;
constexpr std::chrono::seconds kPeerTime{45};
constexpr std::size_t kBigTransfer = 16u << 20;

Clock::time_point deadline_from_now() { return Clock::now() + kPeerTime; }

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string version_name(TLSVersion v) { return v == TLSVersion::tlsv1_3 ? "TLSv1.3" : "TLSv1.2"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  std::uintmax_t n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

bool executable(const char* path) { return ::access(path, X_OK) == 0; }

// Files are test::pki()'s PEM files (and the payloads) on disk, for the
// command-line peers.
struct Files {
  test::TempDir dir;
  std::string ca = dir.write("ca.pem", test::pki().ca.certificate_pem());
  std::string server_cert = dir.write("server.pem", test::pki().server.certificate_pem);
  std::string server_key = dir.write("server.key", test::pki().server.private_key_pem);
  std::string client_cert = dir.write("client.pem", test::pki().client.certificate_pem);
  std::string client_key = dir.write("client.key", test::pki().client.private_key_pem);
};

// sni_certificate is a second certificate for localhost, which s_server
// switches to when the client's SNI says "localhost".
const sanstls::testing::Issued& sni_certificate() {
  static const sanstls::testing::Issued issued = test::pki().ca.issue(
      {.common_name = "sni-selected", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  return issued;
}

const std::string& big_payload() {
  static const std::string payload = test::pattern(kBigTransfer, 7);
  return payload;
}

// Listener is a TCP socket listening on 127.0.0.1 with a port the kernel chose.
struct Listener {
  FileDescriptor fd;
  std::uint16_t port = 0;
};

Listener listen_loopback() {
  Listener l{FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), 0};
  if (!l.fd) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind");
  if (::listen(l.fd.get(), 16) != 0) throw_errno("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname");
  l.port = ntohs(addr.sin_port);
  return l;
}

// server_socket wraps |listener| as our TLS server, with a timeout on
// accept and on the connections it returns.
Socket server_socket(const Context& ctx, Listener& listener, bool handshake_on_accept = true) {
  Socket server = sanstls::net::wrap_socket(
      ctx, std::move(listener.fd), {.server_side = true, .do_handshake_on_connect = handshake_on_accept});
  server.settimeout(kSocketTimeout);
  return server;
}

// connect_tls connects to 127.0.0.1:|port| and handshakes with a timeout
// (wrap_socket would handshake before settimeout could be called).
Socket connect_tls(const Context& ctx, std::uint16_t port, WrapOptions options = {}) {
  if (!options.server_hostname) options.server_hostname = "localhost";
  options.do_handshake_on_connect = false;
  Socket tls = sanstls::net::wrap_socket(ctx, sanstls::net::create_connection("127.0.0.1", port, kSocketTimeout),
                                         options);
  tls.settimeout(kSocketTimeout);
  tls.do_handshake();
  return tls;
}

// Failure is what a failing call threw, reduced to what the checks compare.
struct Failure {
  std::string type;  // the Python exception name, or "TimeoutError", "system_error", "none"
  std::string reason;
  sanstls::VerifyCode verify_code = sanstls::VerifyCode::ok;
  std::string verify_message;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const Failure& f) {
  return os << f.type << " reason=" << f.reason << " verify_code=" << static_cast<long>(f.verify_code) << ": " << f.message;
}

// failure_of runs |fn| and returns what it threw.
Failure failure_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const sanstls::SSLError& e) {
    std::string type(sanstls::error_kind_name(e.error().kind));
    // The thrown class must match the kind it reports.
    if (dynamic_cast<const sanstls::SSLEOFError*>(&e) != nullptr && type != "SSLEOFError") type += "!class";
    if (dynamic_cast<const sanstls::SSLCertVerificationError*>(&e) != nullptr &&
        type != "SSLCertVerificationError") {
      type += "!class";
    }
    return {type, e.error().reason, e.error().verify_code, e.error().verify_message, e.what()};
  } catch (const sanstls::net::TimeoutError& e) {
    return {"TimeoutError", "", sanstls::VerifyCode::ok, "", e.what()};
  } catch (const std::system_error& e) {
    return {"system_error", "", sanstls::VerifyCode::ok, "", e.what()};
  }
  return {"none", "", sanstls::VerifyCode::ok, "", ""};
}

// recv_all reads until the end of the stream (close_notify; with
// suppress_ragged_eofs=false a bare EOF throws SSLEOFError).
std::string recv_all(Socket& tls) {
  std::string all;
  for (;;) {
    std::string got = tls.recv(256 * 1024);
    if (got.empty()) return all;
    all += got;
  }
}

std::string recv_exactly(Socket& tls, std::size_t n) {
  std::string all;
  while (all.size() < n) {
    std::string got = tls.recv(n - all.size());
    if (got.empty()) throw std::runtime_error("the stream ended after " + std::to_string(all.size()) + " bytes");
    all += got;
  }
  return all;
}

std::vector<std::string> s_server_args(const Files& f, std::vector<std::string> more) {
  std::vector<std::string> args{"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", f.server_cert,
                                "-key", f.server_key};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> s_client_args(const Files& f, std::uint16_t port, std::vector<std::string> more) {
  std::vector<std::string> args{"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                "-servername", "localhost", "-CAfile", f.ca, "-verify_return_error",
                                "-verify_hostname", "localhost", "-quiet"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::string common_name(const sanstls::Certificate& cert) {
  for (const auto& rdn : cert.subject) {
    for (const auto& [key, value] : rdn) {
      if (key == "commonName") return value;
    }
  }
  return {};
}

// ocsp_response makes a real OCSP response saying the test server's
// certificate is good, signed by the test CA, with `openssl ocsp` acting
// as the CA's responder; returns its DER.
std::string ocsp_response(const Files& f) {
  const std::string ca_key = f.dir.write("ca.key", test::pki().ca.root().private_key_pem);
  Peer serial({"openssl", "x509", "-in", f.server_cert, "-noout", "-serial"}, logs(f.dir, "serial"));
  REQUIRE(serial.wait_exit(deadline_from_now()) == 0);
  std::string number = read_file(f.dir.path("serial.out"));  // serial=0123...
  REQUIRE(number.rfind("serial=", 0) == 0);
  number = number.substr(7, number.find_first_of("\r\n") - 7);
  // The responder's database: the certificate is valid (V), expiring in 2030.
  const std::string index = f.dir.write("index.txt", "V\t301231000000Z\t\t" + number + "\tunknown\t/CN=localhost\n");
  const std::string out = f.dir.path("ocsp.der");
  Peer ocsp({"openssl", "ocsp", "-index", index, "-rsigner", f.ca, "-rkey", ca_key, "-CA", f.ca, "-issuer", f.ca,
             "-cert", f.server_cert, "-respout", out, "-ndays", "1"},
            logs(f.dir, "ocsp"));
  REQUIRE(ocsp.wait_exit(deadline_from_now()) == 0);
  std::string der = read_file(out);
  REQUIRE(!der.empty());
  return der;
}

}  // namespace

// ---- sanstls client ↔ openssl s_server -------------------------------------

TEST_CASE("sanstls client and openssl s_server -status_file: the stapled OCSP response", "[net][interop][openssl]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  Files f;
  const std::string der = ocsp_response(f);
  const std::string der_file = f.dir.path("ocsp.der");
  Peer server(s_server_args(f, {"-status_file", der_file}), s_server_io(f.dir));
  const std::uint16_t port = accept_port(server, deadline_from_now());
  Context ctx = test::client_context();
  ctx.set_maximum_version(version);
  ctx.set_minimum_version(version);
  ctx.set_ocsp_stapling_requested(true);
  {
    Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false});
    CHECK(tls.version() == version_name(version));
    CHECK((tls.object().ocsp_response() == der));
    (void)tls.unwrap();  // s_server serves one client at a time
  }
  // Without asking, nothing.
  Socket again = connect_tls(test::client_context(), port, {.suppress_ragged_eofs = false});
  CHECK_FALSE(again.object().ocsp_response());
  (void)again.unwrap();
}


TEST_CASE("sanstls client and openssl s_server: version, ALPN, SNI, 16 MiB download, close_notify, resumption",
          "[net][interop][openssl]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  Files f;
  f.dir.write("payload.bin", big_payload());
  f.dir.write("small.txt", "small file\n");
  const std::string sni_cert = f.dir.write("sni.pem", sni_certificate().certificate_pem);
  const std::string sni_key = f.dir.write("sni.key", sni_certificate().private_key_pem);
  PeerIO io = s_server_io(f.dir);
  io.cwd = f.dir.path("");
  // -WWW serves files from its working directory; -cert2 is what it
  // switches to when the client's SNI matches -servername.
  Peer server(s_server_args(f, {"-WWW", "-alpn", "h2,http/1.1", "-servername", "localhost", "-cert2",
                                sni_cert, "-key2", sni_key}),
              io);
  const std::uint16_t port = accept_port(server, deadline_from_now());

  Context ctx = test::client_context();
  ctx.set_minimum_version(version);
  ctx.set_maximum_version(version);
  ctx.set_alpn_protocols({"x-sanstls-unknown", "http/1.1"});

  // A client that sends no SNI (an IP address as server_hostname) gets
  // s_server's main certificate. (With SNI, s_server switches to its
  // -cert2 context, which has no ALPN configured.)
  std::string session_bytes;
  {
    Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false, .server_hostname = "127.0.0.1"});
    CHECK(tls.version() == version_name(version));
    CHECK(tls.selected_alpn_protocol() == "http/1.1");
    CHECK(tls.getpeercert(sanstls::binary_form) == test::pki().server.certificate_der);

    tls.sendall("GET /payload.bin HTTP/1.0\r\n\r\n");
    // Without suppress_ragged_eofs an EOF without close_notify would throw:
    // reaching the end proves s_server's close_notify arrived.
    const std::string response = recv_all(tls);
    const std::string head = "HTTP/1.0 200 ok\r\nContent-type: text/plain\r\n\r\n";
    REQUIRE(response.size() == head.size() + kBigTransfer);
    CHECK(response.substr(0, head.size()) == head);
    CHECK((std::string_view(response).substr(head.size()) == big_payload()));

    std::optional<sanstls::Session> session = tls.session();
    REQUIRE(session);
    CHECK(session->is_resumable());
    session_bytes = session->to_bytes();
  }

  // Resumption across "runs": only the serialised bytes survive.
  {
    sanstls::Session restored = sanstls::Session::from_bytes(ctx, sanstls::as_bytes(session_bytes));
    Socket again = connect_tls(ctx, port,
                               {.suppress_ragged_eofs = false, .server_hostname = "127.0.0.1", .session = restored});
    CHECK(again.session_reused());
    again.sendall("GET /small.txt HTTP/1.0\r\n\r\n");
    CHECK(recv_all(again).ends_with("\r\n\r\nsmall file\n"));
  }

  // SNI: the server saw "localhost", so it answered with its -cert2 certificate.
  Socket named = connect_tls(ctx, port, {.suppress_ragged_eofs = false, .server_hostname = "localhost"});
  CHECK(named.getpeercert(sanstls::binary_form) == sni_certificate().certificate_der);
  std::optional<sanstls::Certificate> peer = named.getpeercert();
  REQUIRE(peer);
  CHECK(common_name(*peer) == "sni-selected");
  named.sendall("GET /small.txt HTTP/1.0\r\n\r\n");
  CHECK(recv_all(named).ends_with("\r\n\r\nsmall file\n"));
}

TEST_CASE("sanstls client and openssl s_server: client certificates, data both ways, close_notify both ways",
          "[net][interop][openssl]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  Files f;
  PeerIO io = s_server_io(f.dir);  // what we write to its stdin, s_server sends to us
  // -Verify 1: a client certificate is required and must verify.
  Peer server(s_server_args(f, {"-Verify", "1", "-CAfile", f.ca, "-verify_return_error"}), io);
  const std::uint16_t port = accept_port(server, deadline_from_now());

  Context ctx = test::client_context();
  ctx.set_minimum_version(version);
  ctx.set_maximum_version(version);

  SECTION("with a client certificate: accepted") {
    ctx.load_cert_chain_pem(test::pki().client.certificate_pem, test::pki().client.private_key_pem);
    Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false});
    CHECK(tls.version() == version_name(version));
    tls.sendall("hello from sanstls\n");
    server.wait_for_output("hello from sanstls", deadline_from_now());
    server.write_stdin("hello from openssl\n");
    CHECK(recv_exactly(tls, 19) == "hello from openssl\n");
    // unwrap returns only once s_server answered our close_notify with its own.
    FileDescriptor plain = tls.unwrap();
    CHECK(plain);
    server.wait_for_output("\nDONE\n", deadline_from_now());  // s_server saw our close_notify
    CHECK(server.output().find("CN = client") != std::string::npos);
  }

  SECTION("without a client certificate: refused") {
    const std::size_t before = open_descriptors();
    Failure failure = failure_of([&] {
      Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false});
      // In TLS 1.3 the client finishes first; the refusal is the next record.
      (void)tls.recv(100);
    });
    INFO(failure);
    CHECK(failure.type == "SSLError");
    if (version == TLSVersion::tlsv1_3) {
      CHECK(failure.reason == "TLSV1_ALERT_CERTIFICATE_REQUIRED");
    } else {
      CHECK(failure.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE");
      CHECK(failure.message == "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure");
    }
    CHECK(open_descriptors() == before);
  }
}

// Every TLS 1.3 suite, so that sanstls's own record layer meets OpenSSL's
// with each AEAD and both hashes (a BoringSSL peer always picks AES-128-GCM
// or ChaCha20, both SHA-256), and KeyUpdates both ways. (s_server's own
// "K" command cannot be used: its acknowledgement is not flushed.)
TEST_CASE("sanstls client and openssl s_server: every TLS 1.3 suite, KeyUpdate both ways", "[net][interop][openssl]") {
  const std::string suite = GENERATE("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");
  INFO(suite);
  Files f;
  PeerIO io = s_server_io(f.dir);
  Peer server(s_server_args(f, {"-tls1_3", "-ciphersuites", suite}), io);
  const std::uint16_t port = accept_port(server, deadline_from_now());
  Socket tls = connect_tls(test::client_context(), port, {.suppress_ragged_eofs = false});
  REQUIRE(tls.cipher());
  CHECK(tls.cipher()->name == suite);
  tls.sendall("before any update\n");
  server.wait_for_output("before any update", deadline_from_now());
  // Ours, not asking, then asking: OpenSSL follows each (or the line would
  // not decrypt), and answers the second with a KeyUpdate of its own before
  // its next line, which only reads if we followed it in turn.
  for (bool request : {false, true}) {
    REQUIRE(tls.object().key_update(request).status == sanstls::Status::done);
    const std::string line = request ? "after an update we asked to be followed" : "after an update of ours alone";
    tls.sendall(line + "\n");
    server.wait_for_output(line, deadline_from_now());
  }
  server.write_stdin("after both\n");
  CHECK(recv_exactly(tls, 11) == "after both\n");
  FileDescriptor plain = tls.unwrap();
  CHECK(plain);
  // Each line after one of our KeyUpdates decrypted under the next key:
  // s_server followed every update.
  server.wait_for_output("\nDONE\n", deadline_from_now());
}

// ---- sanstls client ↔ bssl-tool server -------------------------------------

TEST_CASE("sanstls client and bssl-tool server: version, SNI, client certificate, 16 MiB both ways, resumption",
          "[net][interop][boringssl]") {
  REQUIRE(executable("/usr/bin/bssl-tool"));
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  const std::string bssl_version = version == TLSVersion::tlsv1_3 ? "tls1.3" : "tls1.2";
  Files f;
  Context ctx = test::client_context();
  ctx.load_cert_chain_pem(test::pki().client.certificate_pem, test::pki().client.private_key_pem);
  const std::vector<std::string> base{"bssl-tool", "server", "-accept", "0", "-key", f.server_key,
                                      "-cert", f.server_cert, "-min-version", bssl_version,
                                      "-max-version", bssl_version, "-require-any-client-cert"};

  SECTION("download: stdin to us, then a TCP close without close_notify") {
    PeerIO io = logs(f.dir, "bssl");
    io.stdin_path = f.dir.write("payload.bin", big_payload());
    Peer server(base, io);
    const std::uint16_t port = wait_listening(server, deadline_from_now());
    Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false});
    CHECK(tls.version() == version_name(version));
    std::string got;
    Failure failure = failure_of([&] {
      for (;;) {
        std::string piece = tls.recv(256 * 1024);
        if (piece.empty()) break;
        got += piece;
      }
    });
    CHECK((got == big_payload()));
    // bssl-tool ends the connection at the end of its stdin by closing the
    // socket: a ragged EOF, which suppress_ragged_eofs=false reports.
    INFO(failure);
    CHECK(failure.type == "SSLEOFError");
    CHECK(failure.message == "EOF occurred in violation of protocol");
    server.wait_for_output("Client sent SNI: localhost", deadline_from_now());
    CHECK(server.stderr_text().find("Version: " + version_name(version)) != std::string::npos);
  }

  SECTION("upload, close_notify, and a resumed second connection") {
    PeerIO io = logs(f.dir, "bssl");
    io.stdin_pipe = true;
    std::vector<std::string> args = base;
    args.push_back("-loop");
    Peer server(args, io);
    const std::uint16_t port = wait_listening(server, deadline_from_now());

    std::string session_bytes;
    {
      Socket tls = connect_tls(ctx, port, {.suppress_ragged_eofs = false});
      tls.sendall(big_payload());
      const std::string out = f.dir.path("bssl.out");
      server.wait_until([&] { return file_size_or_zero(out) >= kBigTransfer; }, "16 MiB on its stdout",
                        deadline_from_now());
      CHECK((read_file(out) == big_payload()));
      // Something from the server, so that a TLS 1.3 ticket is read too.
      server.write_stdin("ticket please\n");
      CHECK(recv_exactly(tls, 14) == "ticket please\n");
      std::optional<sanstls::Session> session = tls.session();
      REQUIRE(session);
      CHECK(session->is_resumable());
      session_bytes = session->to_bytes();
      // bssl-tool takes our close_notify as the end and closes the socket
      // without answering it (Python's unwrap() sees the same).
      Failure closing = failure_of([&] { (void)tls.unwrap(); });
      INFO(closing);
      CHECK(closing.type == "SSLEOFError");
    }
    sanstls::Session restored = sanstls::Session::from_bytes(ctx, sanstls::as_bytes(session_bytes));
    Socket again = connect_tls(ctx, port, {.session = restored});
    CHECK(again.session_reused());
    server.wait_for_output("Resumed session: yes", deadline_from_now());
  }
}

TEST_CASE("sanstls client and bssl-tool server: TLS 1.3 early data accepted, then rejected by a new server",
          "[net][interop][boringssl][early_data]") {
  REQUIRE(executable("/usr/bin/bssl-tool"));
  Files f;
  Context ctx = test::client_context();
  ctx.set_early_data_enabled(true);
  const std::vector<std::string> args{"bssl-tool", "server", "-accept", "0", "-key", f.server_key, "-cert",
                                      f.server_cert, "-min-version", "tls1.3", "-early-data", "-loop"};
  std::optional<sanstls::Session> session;
  {
    PeerIO io = logs(f.dir, "bssl1");
    io.stdin_pipe = true;
    Peer server(args, io);
    const std::uint16_t port = wait_listening(server, deadline_from_now());
    {
      Socket tls = connect_tls(ctx, port);
      server.write_stdin("ticket please\n");
      CHECK(recv_exactly(tls, 14) == "ticket please\n");
      session = tls.session();
      REQUIRE(session);
      (void)failure_of([&] { (void)tls.unwrap(); });
    }
    // The second connection writes before the handshake: 0-RTT.
    Socket tls = sanstls::net::wrap_socket(
        ctx, sanstls::net::create_connection("127.0.0.1", port, kSocketTimeout),
        {.do_handshake_on_connect = false, .server_hostname = "localhost", .session = *session});
    tls.settimeout(kSocketTimeout);
    tls.sendall("early hello\n");
    CHECK(tls.object().phase() == sanstls::Phase::early_data);
    tls.do_handshake();
    CHECK(tls.session_reused());
    const sanstls::EarlyData early = tls.object().early_data();
    CHECK(early.status == sanstls::EarlyData::Status::accepted);
    CHECK(early.reason == "accepted");
    server.wait_until([&] { return read_file(f.dir.path("bssl1.out")).find("early hello\n") != std::string::npos; },
                      "the early data on its stdout", deadline_from_now());
    server.wait_for_output("Early data: yes", deadline_from_now());
  }
  {
    // Another server process: other ticket keys, so the session does not
    // resume and its early data is rejected; sent again, it arrives.
    PeerIO io = logs(f.dir, "bssl2");
    io.stdin_pipe = true;
    Peer server(args, io);
    const std::uint16_t port = wait_listening(server, deadline_from_now());
    Socket tls = sanstls::net::wrap_socket(
        ctx, sanstls::net::create_connection("127.0.0.1", port, kSocketTimeout),
        {.do_handshake_on_connect = false, .server_hostname = "localhost", .session = *session});
    tls.settimeout(kSocketTimeout);
    tls.sendall("lost hello\n");
    sanstls::Result r = tls.try_handshake();
    CHECK(r.status == sanstls::Status::early_data_rejected);
    tls.do_handshake();
    CHECK_FALSE(tls.session_reused());
    CHECK(tls.object().early_data().status == sanstls::EarlyData::Status::rejected);
    tls.sendall("hello again\n");
    server.wait_until([&] { return read_file(f.dir.path("bssl2.out")).find("hello again\n") != std::string::npos; },
                      "the data sent again on its stdout", deadline_from_now());
    CHECK(read_file(f.dir.path("bssl2.out")).find("lost hello") == std::string::npos);
  }
}

TEST_CASE("bssl-tool client and a sanstls server: TLS 1.3 early data accepted once, its replay rejected",
          "[net][interop][boringssl][early_data]") {
  REQUIRE(executable("/usr/bin/bssl-tool"));
  Files f;
  Context ctx = test::server_context();
  ctx.set_early_data_enabled(true);
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = server_socket(ctx, listener, false);
  const std::string session_file = f.dir.path("session.bin");
  const std::vector<std::string> client{"bssl-tool", "client", "-connect", "127.0.0.1:" + std::to_string(port),
                                        "-root-certs", f.ca, "-server-name", "localhost",
                                        "-min-version", "tls1.3"};
  {
    std::vector<std::string> args = client;
    args.insert(args.end(), {"-session-out", session_file});
    PeerIO io = logs(f.dir, "client1");
    io.stdin_pipe = true;
    Peer peer(args, io);
    Socket conn = server.accept();
    conn.do_handshake();
    conn.sendall("ticket\n");  // the tickets went out with the handshake
    peer.wait_until([&] { return file_size_or_zero(session_file) > 0; }, "its session file", deadline_from_now());
  }
  // The same session twice: the first brings its early data, the second is
  // what a replay looks like to the server.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::string> args = client;
    args.insert(args.end(), {"-session-in", session_file, "-early-data", "GET /early"});
    PeerIO io = logs(f.dir, "client" + std::to_string(attempt + 2));
    io.stdin_pipe = true;
    Peer peer(args, io);
    Socket conn = server.accept();
    std::array<std::byte, 100> buffer{};
    if (attempt == 0) {
      conn.do_handshake();
      CHECK(conn.session_reused());
      std::string early;
      for (;;) {
        sanstls::Result r = conn.object().read_early_data(buffer);
        if (r.status != sanstls::Status::done) break;
        early.append(reinterpret_cast<const char*>(buffer.data()), r.bytes);
      }
      CHECK(early == "GET /early");
      const sanstls::EarlyData seen = conn.object().early_data();
      CHECK(seen.status == sanstls::EarlyData::Status::accepted);
      CHECK(seen.reason == "accepted");
      conn.sendall("bye\n");
      peer.wait_for_output("Early data: yes", deadline_from_now());
      continue;
    }
    // The replay resumes, but its early data is refused. bssl-tool takes
    // a rejection as the end (it does not send the data again) and closes.
    Failure ended = failure_of([&] { conn.do_handshake(); });
    INFO(ended);
    CHECK((ended.type == "none" || ended.type == "SSLEOFError"));
    // No early data to read: the stream of it is over, or the connection.
    CHECK(conn.object().read_early_data(buffer).status ==
          (ended.type == "none" ? sanstls::Status::closed : sanstls::Status::error));
    const sanstls::EarlyData seen = conn.object().early_data();
    CHECK(seen.status == sanstls::EarlyData::Status::rejected);
    CHECK(seen.reason == "disabled");
    peer.wait_for_output("EARLY_DATA_REJECTED", deadline_from_now());
  }
}

// ---- openssl s_client ↔ sanstls server -------------------------------------

TEST_CASE("openssl s_client and a sanstls server: version, ALPN, SNI, client certificate, 16 MiB, close_notify, "
          "resumption",
          "[net][interop][openssl]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  const std::string flag = version == TLSVersion::tlsv1_3 ? "-tls1_3" : "-tls1_2";
  Files f;
  const std::string request = f.dir.write("request.txt", "hello from s_client\n");
  const std::string session_file = f.dir.path("session.pem");

  Context ctx = test::server_context();
  ctx.set_alpn_protocols({"h2", "http/1.1"});
  ctx.set_verify_mode(sanstls::VerifyMode::cert_optional);
  ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test::pki().ca.certificate_pem())});
  auto seen_name = std::make_shared<std::optional<std::string>>();
  ctx.set_sni_callback([seen_name](sanstls::Object&, const std::optional<std::string>& name, const Context&) {
    *seen_name = name;
    return std::optional<sanstls::AlertDescription>();
  });
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = server_socket(ctx, listener);

  {
    PeerIO io = logs(f.dir, "s_client1");
    io.stdin_path = request;
    Peer client(s_client_args(f, port, {flag, "-alpn", "x-unknown,http/1.1", "-cert", f.client_cert, "-key",
                                        f.client_key, "-sess_out", session_file}),
                io);
    Socket conn = server.accept();
    CHECK(conn.version() == version_name(version));
    CHECK(*seen_name == "localhost");
    CHECK(conn.selected_alpn_protocol() == "http/1.1");
    std::optional<sanstls::Certificate> peer = conn.getpeercert();
    REQUIRE(peer);
    CHECK(common_name(*peer) == "client");
    CHECK(recv_exactly(conn, 20) == "hello from s_client\n");
    conn.sendall(big_payload());
    // s_client answers our close_notify with its own, or unwrap fails.
    FileDescriptor plain = conn.unwrap();
    CHECK(plain);
    CHECK(client.wait_exit(deadline_from_now()) == 0);
    CHECK((read_file(f.dir.path("s_client1.out")) == big_payload()));
  }
  {
    PeerIO io = logs(f.dir, "s_client2");
    io.stdin_path = request;
    Peer client(s_client_args(f, port, {flag, "-cert", f.client_cert, "-key", f.client_key, "-sess_in",
                                        session_file}),
                io);
    Socket conn = server.accept();
    CHECK(conn.session_reused());
    CHECK(recv_exactly(conn, 20) == "hello from s_client\n");
    conn.sendall("bye\n");
    (void)conn.unwrap();
    CHECK(client.wait_exit(deadline_from_now()) == 0);
    CHECK(read_file(f.dir.path("s_client2.out")) == "bye\n");
  }
}

TEST_CASE("openssl s_client -status and a sanstls server that staples an OCSP response", "[net][interop][openssl]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  Files f;
  const std::string der = ocsp_response(f);
  Context ctx = test::server_context();
  ctx.set_ocsp_response(sanstls::as_bytes(der));
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = server_socket(ctx, listener);
  PeerIO io = logs(f.dir, "s_client");
  io.stdin_path = f.dir.write("request.txt", "status?\n");
  // Not -quiet, which would hide the response s_client prints.
  Peer client({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername", "localhost",
               "-CAfile", f.ca, "-verify_return_error", version == TLSVersion::tlsv1_3 ? "-tls1_3" : "-tls1_2",
               "-status"},
              io);
  Socket conn = server.accept();
  CHECK(recv_exactly(conn, 8) == "status?\n");
  (void)conn.unwrap();
  CHECK(client.wait_exit(deadline_from_now()) == 0);
  const std::string out = read_file(f.dir.path("s_client.out"));
  INFO(out);
  CHECK(out.find("OCSP Response Status: successful (0x0)") != std::string::npos);
  CHECK(out.find("Cert Status: good") != std::string::npos);
}

TEST_CASE("openssl s_client and a sanstls server whose key is only reachable through an asynchronous signer",
          "[net][interop][openssl][callbacks]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  const sanstls::testing::KeyType type =
      GENERATE(sanstls::testing::KeyType::rsa2048, sanstls::testing::KeyType::ec_p256);
  INFO(version_name(version) << ", key type " << static_cast<int>(type));
  const std::string flag = version == TLSVersion::tlsv1_3 ? "-tls1_3" : "-tls1_2";
  Files f;
  const std::string request = f.dir.write("request.txt", "hello from s_client\n");
  const sanstls::testing::Issued cert = test::pki().ca.issue({.dns_names = {"localhost"}, .key_type = type});
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(cert.private_key_pem);
  std::optional<sanstls::PrivateKeyRequest> job;
  Context ctx(sanstls::Protocol::tls_server);
  ctx.load_cert_chain_pem_with_signer(cert.certificate_pem,
                                      [&job](sanstls::Object&, const sanstls::PrivateKeyRequest& r) {
                                        job = r;
                                        return sanstls::PrivateKeyReply::pending();
                                      });
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = server_socket(ctx, listener, false);

  PeerIO io = logs(f.dir, "s_client");
  io.stdin_path = request;
  Peer client(s_client_args(f, port, {flag}), io);
  Socket conn = server.accept();
  // A blocking Socket returns the wait to its caller, which answers from
  // a worker thread and goes on.
  int waits = 0;
  for (;;) {
    sanstls::Result r = conn.try_handshake();
    if (r.status == sanstls::Status::done) break;
    INFO(test::describe(r));
    REQUIRE(r.status == sanstls::Status::want_private_key);
    REQUIRE(job);
    std::future<sanstls::PrivateKeyReply> signature =
        std::async(std::launch::async, [&key, request = *job] { return key.perform(request); });
    conn.object().complete_private_key(signature.get());
    ++waits;
  }
  CHECK(waits == 1);
  CHECK(conn.version() == version_name(version));
  CHECK(recv_exactly(conn, 20) == "hello from s_client\n");
  conn.sendall("signed elsewhere\n");
  (void)conn.unwrap();
  CHECK(client.wait_exit(deadline_from_now()) == 0);
  CHECK(read_file(f.dir.path("s_client.out")) == "signed elsewhere\n");
}

// ---- curl ↔ sanstls server -------------------------------------------------

namespace {

// HttpRequest is the little of a request the responder needs.
struct HttpRequest {
  std::string method;
  std::string path;
  std::string head;
  std::string body;
};

std::string header_value(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  std::size_t start = head.find_first_not_of(' ', at + name.size() + 3);
  return head.substr(start, head.find("\r\n", start) - start);
}

// serve_one reads one HTTP/1.x request on |conn| and answers it: GET
// /payload sends the 16 MiB payload, POST /upload takes a body, checked by
// the caller. The connection ends with our close_notify.
HttpRequest serve_one(Socket& conn) {
  HttpRequest req;
  std::string data;
  std::size_t end;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    std::string got = conn.recv(64 * 1024);
    if (got.empty()) throw std::runtime_error("the client closed before its request: " + data);
    data += got;
  }
  req.head = data.substr(0, end + 2);
  data.erase(0, end + 4);
  std::istringstream line(req.head);
  line >> req.method >> req.path;
  if (req.method == "POST") {
    const std::size_t length = std::stoul(header_value(req.head, "content-length"));
    if (header_value(req.head, "expect") == "100-continue") conn.sendall("HTTP/1.1 100 Continue\r\n\r\n");
    data += recv_exactly(conn, length - data.size());
    req.body = std::move(data);
    conn.sendall("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
  } else if (req.path == "/payload") {
    conn.sendall("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                 std::to_string(kBigTransfer) + "\r\nConnection: close\r\n\r\n");
    conn.sendall(big_payload());
  } else {
    conn.sendall("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  return req;
}

}  // namespace

TEST_CASE("curl and a sanstls HTTPS server: version, ALPN, SNI, client certificate, 16 MiB both ways, resumption",
          "[net][interop][curl]") {
  if (!executable("/usr/bin/curl")) {
    WARN("curl is not installed (/usr/bin/curl): skipping the curl interop test; scripts/install-deps installs it");
    return;
  }
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  INFO(version_name(version));
  Files f;
  const std::string upload = f.dir.write("upload.bin", big_payload());

  Context ctx = test::server_context();
  ctx.set_alpn_protocols({"http/1.1"});
  ctx.set_verify_mode(sanstls::VerifyMode::cert_required);
  ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test::pki().ca.certificate_pem())});
  ctx.set_minimum_version(version);
  ctx.set_maximum_version(version);
  auto seen_name = std::make_shared<std::optional<std::string>>();
  ctx.set_sni_callback([seen_name](sanstls::Object&, const std::optional<std::string>& name, const Context&) {
    *seen_name = name;
    return std::optional<sanstls::AlertDescription>();
  });
  Listener listener = listen_loopback();
  const std::uint16_t port = listener.port;
  Socket server = server_socket(ctx, listener);

  const std::string base = "https://localhost:" + std::to_string(port);
  PeerIO io = logs(f.dir, "curl");
  // One curl run, two transfers (--next): the second connection offers the
  // session of the first.
  Peer curl({"curl", "--silent", "--show-error", "--fail", "--http1.1", "--cacert", f.ca, "--resolve",
             "localhost:" + std::to_string(port) + ":127.0.0.1", "--cert", f.client_cert, "--key", f.client_key,
             "--max-time", "40", "--output", f.dir.path("download.bin"), "--write-out", "%{http_code}\n",
             base + "/payload", "--next", "--silent", "--show-error", "--fail", "--http1.1", "--cacert", f.ca,
             "--resolve", "localhost:" + std::to_string(port) + ":127.0.0.1", "--cert", f.client_cert, "--key",
             f.client_key, "--max-time", "40", "--data-binary", "@" + upload, "--write-out", "%{http_code}\n",
             base + "/upload"},
            io);

  {
    Socket conn = server.accept();
    CHECK_FALSE(conn.session_reused());
    CHECK(conn.version() == version_name(version));
    CHECK(conn.selected_alpn_protocol() == "http/1.1");
    CHECK(*seen_name == "localhost");
    std::optional<sanstls::Certificate> peer = conn.getpeercert();
    REQUIRE(peer);
    CHECK(common_name(*peer) == "client");
    HttpRequest req = serve_one(conn);
    CHECK(req.method == "GET");
    Failure closing = failure_of([&] { (void)conn.unwrap(); });
    INFO(closing);
    CHECK(closing.type == "none");  // curl answers our close_notify
  }
  {
    seen_name->reset();
    Socket conn = server.accept();
    CHECK(conn.session_reused());
    CHECK(*seen_name == "localhost");
    HttpRequest req = serve_one(conn);
    CHECK(req.method == "POST");
    CHECK(req.path == "/upload");
    CHECK((req.body == big_payload()));
    Failure closing = failure_of([&] { (void)conn.unwrap(); });
    INFO(closing);
    CHECK(closing.type == "none");
  }
  CHECK(curl.wait_exit(deadline_from_now()) == 0);
  INFO(curl.output());
  CHECK(curl.stdout_text() == "200\nok\n200\n");  // the upload's answer, then its status
  CHECK((read_file(f.dir.path("download.bin")) == big_payload()));
}

// ---- failure paths ---------------------------------------------------------

TEST_CASE("sanstls client against failing real servers: clear errors, no hang, no leaked descriptor",
          "[net][interop][failure]") {
  Files f;
  const std::size_t before = open_descriptors();
  {
    Context ctx = test::client_context();

    SECTION("untrusted certificate (bssl-tool server's self-signed one)") {
      Peer server({"bssl-tool", "server", "-accept", "0"}, logs(f.dir, "bssl"));
      const std::uint16_t port = wait_listening(server, deadline_from_now());
      Failure failure = failure_of([&] { (void)connect_tls(ctx, port); });
      INFO(failure);
      CHECK(failure.type == "SSLCertVerificationError");
      CHECK(failure.reason == "CERTIFICATE_VERIFY_FAILED");
      CHECK(failure.verify_code == sanstls::VerifyCode::depth_zero_self_signed_cert);
      CHECK(failure.message == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate");
    }

    SECTION("s_server TLS 1.3 only: hostname mismatch, version mismatch, peer gone mid-handshake") {
      Peer server(s_server_args(f, {"-tls1_3"}), s_server_io(f.dir));
      const std::uint16_t port = accept_port(server, deadline_from_now());

      Failure mismatch = failure_of([&] { (void)connect_tls(ctx, port, {.server_hostname = "wrong.example"}); });
      INFO(mismatch);
      CHECK(mismatch.type == "SSLCertVerificationError");
      CHECK(mismatch.verify_code == sanstls::VerifyCode::hostname_mismatch);
      CHECK(mismatch.verify_message == "Hostname mismatch, certificate is not valid for 'wrong.example'.");
      CHECK(mismatch.message ==
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not "
            "valid for 'wrong.example'.");

      Context tls12 = test::client_context();
      tls12.set_maximum_version(TLSVersion::tlsv1_2);
      Failure old = failure_of([&] { (void)connect_tls(tls12, port); });
      INFO(old);
      CHECK(old.type == "SSLError");
      CHECK(old.reason == "TLSV1_ALERT_PROTOCOL_VERSION");
      CHECK(old.message == "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version");

      // Freeze the server, send our ClientHello into its backlog, then kill
      // it: the kernel ends the connection mid-handshake.
      server.stop();
      Failure gone = failure_of([&] {
        Socket tls = sanstls::net::wrap_socket(
            ctx, sanstls::net::create_connection("127.0.0.1", port, kSocketTimeout),
            {.do_handshake_on_connect = false, .server_hostname = "localhost"});
        tls.setblocking(false);
        sanstls::Result r = tls.try_handshake();
        if (r.status != sanstls::Status::want_read) throw std::runtime_error("the ClientHello did not go out");
        server.kill_now();
        tls.settimeout(kSocketTimeout);
        tls.do_handshake();
      });
      INFO(gone);
      CHECK(gone.type == "SSLEOFError");
      CHECK(gone.message == "EOF occurred in violation of protocol");
    }

    SECTION("s_server with TLS 1.2 ciphers disjoint from ours") {
      Peer server(s_server_args(f, {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"}), s_server_io(f.dir));
      const std::uint16_t port = accept_port(server, deadline_from_now());
      Context narrow = test::client_context();
      narrow.set_maximum_version(TLSVersion::tlsv1_2);
      narrow.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256");
      Failure failure = failure_of([&] { (void)connect_tls(narrow, port); });
      INFO(failure);
      CHECK(failure.type == "SSLError");
      // s_server answers the ClientHello with a handshake_failure alert;
      // BoringSSL then queues HANDSHAKE_FAILURE_ON_CLIENT_HELLO after
      // SSLV3_ALERT_HANDSHAKE_FAILURE, and the last error is the one Python
      // reports.
      CHECK(failure.reason == "HANDSHAKE_FAILURE_ON_CLIENT_HELLO");
      CHECK(failure.message == "[SSL: HANDSHAKE_FAILURE_ON_CLIENT_HELLO] handshake failure on client hello");
    }
  }
  // Each failure above was checked to be an error, never TimeoutError, so
  // none waited for a socket timeout; no wall-clock check, which a busy
  // machine could fail.
  CHECK(open_descriptors() == before);
}

TEST_CASE("openssl s_client against a failing sanstls server: clear errors, no hang, no leaked descriptor",
          "[net][interop][failure]") {
  Files f;
  const std::string request = f.dir.write("request.txt", "hello\n");
  const std::size_t before = open_descriptors();
  {
    // Handshakes are explicit here, so that one case can kill the client
    // between accept() and the handshake.
    auto accept_failure = [&](const Context& ctx, std::vector<std::string> client_flags) {
      Listener listener = listen_loopback();
      const std::uint16_t port = listener.port;
      Socket server = server_socket(ctx, listener, false);
      PeerIO io = logs(f.dir, "s_client");
      io.stdin_path = request;
      Peer client(s_client_args(f, port, std::move(client_flags)), io);
      Failure failure = failure_of([&] {
        Socket conn = server.accept();
        conn.do_handshake();
        (void)conn.recv(100);  // TLS 1.3: the client's certificate comes after our Finished
      });
      CHECK(client.wait_exit(deadline_from_now()) != 0);
      return failure;
    };
    Context ctx = test::server_context();

    SECTION("a required client certificate is missing") {
      ctx.set_verify_mode(sanstls::VerifyMode::cert_required);
      ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test::pki().ca.certificate_pem())});
      Failure failure = accept_failure(ctx, {});
      INFO(failure);
      CHECK(failure.type == "SSLError");
      CHECK(failure.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE");
      CHECK(failure.message == "[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE] peer did not return a certificate");
    }
    SECTION("the client does not trust our certificate") {
      // TLS 1.2: s_client's unknown_ca alert arrives as such.
      Failure failure = accept_failure(ctx, {"-tls1_2", "-CAfile", f.client_cert});  // the later -CAfile wins
      INFO(failure);
      CHECK(failure.type == "SSLError");
      CHECK(failure.reason == "TLSV1_ALERT_UNKNOWN_CA");
      CHECK(failure.message == "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
      // TLS 1.3: OpenSSL 3.0 sends that alert unencrypted after the
      // ServerHello, which BoringSSL cannot decrypt (bssl-tool server
      // reports the same): still a clear SSLError, not a hang.
      Failure failure13 = accept_failure(ctx, {"-tls1_3", "-CAfile", f.client_cert});
      INFO(failure13);
      CHECK(failure13.type == "SSLError");
      CHECK((failure13.reason == "TLSV1_ALERT_UNKNOWN_CA" ||
             failure13.reason == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"));
    }
    SECTION("the client is TLS 1.2 only, we are TLS 1.3 only") {
      ctx.set_minimum_version(TLSVersion::tlsv1_3);
      Failure failure = accept_failure(ctx, {"-tls1_2"});
      INFO(failure);
      CHECK(failure.type == "SSLError");
      CHECK(failure.reason == "UNSUPPORTED_PROTOCOL");
      CHECK(failure.message == "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol");
    }
    SECTION("TLS 1.2 cipher lists without a common suite") {
      ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256");
      Failure failure = accept_failure(ctx, {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"});
      INFO(failure);
      CHECK(failure.type == "SSLError");
      CHECK(failure.reason == "NO_SHARED_CIPHER");
      CHECK(failure.message == "[SSL: NO_SHARED_CIPHER] no shared cipher");
    }
    SECTION("the client dies mid-handshake") {
      Listener listener = listen_loopback();
      const std::uint16_t port = listener.port;
      Socket server = server_socket(ctx, listener, false);
      PeerIO io = logs(f.dir, "s_client");
      io.stdin_path = request;
      Peer client(s_client_args(f, port, {}), io);
      Failure failure = failure_of([&] {
        Socket conn = server.accept();
        pollfd p{conn.fileno(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(kSocketTimeout * 1000)) != 1) {
          throw std::runtime_error("no ClientHello arrived");
        }
        client.kill_now();  // its ClientHello is in our socket, then its FIN
        conn.do_handshake();
      });
      INFO(failure);
      CHECK(failure.type == "SSLEOFError");
      CHECK(failure.message == "EOF occurred in violation of protocol");
    }
  }
  CHECK(open_descriptors() == before);
}
