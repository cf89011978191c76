// Object: handshakes, verification, application data, shutdown and failure,
// all between in-memory client and server Objects.
#include <catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>
#include <thread>
#include <vector>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>
#include <sanstls/testing/pipe.hpp>

#include "support.hpp"

using sanstls::Context;
using sanstls::ErrorKind;
using sanstls::Object;
using sanstls::Protocol;
using sanstls::Result;
using sanstls::Status;
using sanstls::TLSVersion;
using sanstls::VerifyMode;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;
using sanstls::VerifyCode;

namespace {

// verify_failure checks that |r| is the certificate verification error
// Python would raise, with |code| and |message|.
void check_verify_failure(const Result& r, VerifyCode code, const std::string& message) {
  REQUIRE(r.status == Status::error);
  REQUIRE(r.error);
  CHECK(r.error->kind == ErrorKind::cert_verification);
  CHECK(r.error->library == "SSL");
  CHECK(r.error->reason == "CERTIFICATE_VERIFY_FAILED");
  CHECK(r.error->verify_code == code);
  CHECK(r.error->verify_message == message);
  CHECK(r.error->message == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + message);
  CHECK_THROWS_AS(r.throw_if_error(), sanstls::SSLCertVerificationError);
}

}  // namespace

TEST_CASE("TLS 1.3 handshake reports version, cipher and certificate", "[object][handshake]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  CHECK_FALSE(p.client.version());
  CHECK_FALSE(p.client.cipher());
  CHECK_FALSE(p.client.getpeercert(sanstls::binary_form));
  CHECK_FALSE(p.client.is_handshake_complete());

  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  for (Object* o : {&p.client, &p.server}) {
    CHECK(o->version() == "TLSv1.3");
    REQUIRE(o->cipher());
    CHECK(o->cipher()->protocol == "TLSv1.3");
    CHECK(o->cipher()->name.rfind("TLS_", 0) == 0);
    CHECK(o->cipher()->secret_bits >= 128);
    CHECK_FALSE(o->session_reused());
    CHECK(o->do_handshake().status == Status::done);  // idempotent once done
  }
  CHECK(p.client.getpeercert(sanstls::binary_form) == test::pki().server.certificate_der);
  CHECK_FALSE(p.server.getpeercert(sanstls::binary_form));  // no client certificate asked
  CHECK(p.client.server_hostname() == "localhost");
  CHECK_FALSE(p.client.server_side());
  CHECK(p.server.server_side());
  CHECK_FALSE(p.server.server_hostname());
  CHECK(p.client.context().protocol() == Protocol::tls_client);
}

TEST_CASE("TLS 1.2 handshake negotiates an ECDHE AEAD suite", "[object][handshake]") {
  Context client_ctx = test::client_context();
  client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
  test::Pair p = test::make_pair(client_ctx, test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  CHECK(p.client.version() == "TLSv1.2");
  CHECK(p.server.version() == "TLSv1.2");
  REQUIRE(p.client.cipher());
  CHECK(p.client.cipher()->name.rfind("ECDHE-ECDSA-", 0) == 0);
  CHECK(p.client.cipher()->protocol == "TLSv1.2");
  CHECK(p.client.cipher()->name == p.server.cipher()->name);
}

TEST_CASE("legacy TLS 1.0 reports the cipher's own protocol as Python does", "[object][handshake]") {
  Context client_ctx(Protocol::tls1);
  client_ctx.set_verify_mode(VerifyMode::cert_none);
  client_ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA");
  Context server_ctx = test::server_context();
  server_ctx.set_minimum_version(TLSVersion::tlsv1);
  test::Pair p{client_ctx.wrap_bio({}, {}, false), server_ctx.wrap_bio({}, {}, true)};
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  CHECK(p.client.version() == "TLSv1");
  REQUIRE(p.client.cipher());
  CHECK(p.client.cipher()->name == "ECDHE-ECDSA-AES128-SHA");
  CHECK(p.client.cipher()->protocol == "TLSv1.0");
  CHECK(p.client.cipher()->secret_bits == 128);
}

TEST_CASE("ALPN: agreed protocol, and no overlap still connects", "[object][alpn]") {
  Context client_ctx = test::client_context();
  Context server_ctx = test::server_context();
  server_ctx.set_alpn_protocols({"h2", "http/1.1"});

  SECTION("agreed") {
    client_ctx.set_alpn_protocols({"http/1.1", "h2"});
    test::Pair p = test::make_pair(client_ctx, server_ctx);
    Pipe pipe(p.client, p.server);
    REQUIRE(pipe.handshake());
    CHECK(p.client.selected_alpn_protocol() == "h2");  // the server's preference
    CHECK(p.server.selected_alpn_protocol() == "h2");
  }
  SECTION("no overlap") {
    client_ctx.set_alpn_protocols({"spdy/1"});
    test::Pair p = test::make_pair(client_ctx, server_ctx);
    Pipe pipe(p.client, p.server);
    REQUIRE(pipe.handshake());
    CHECK_FALSE(p.client.selected_alpn_protocol());
    CHECK_FALSE(p.server.selected_alpn_protocol());
  }
  SECTION("client offers nothing") {
    test::Pair p = test::make_pair(client_ctx, server_ctx);
    Pipe pipe(p.client, p.server);
    REQUIRE(pipe.handshake());
    CHECK_FALSE(p.client.selected_alpn_protocol());
  }
}

TEST_CASE("hostname verification: names and IP literals", "[object][verify]") {
  Context server_ctx = test::server_context();
  Context client_ctx = test::client_context();
  auto connect = [&](const std::string& name) {
    test::Pair p = test::make_pair(client_ctx, server_ctx, name);
    Pipe pipe(p.client, p.server);
    pipe.run();
    return std::make_pair(pipe.last(Side::client), pipe.last(Side::server));
  };

  SECTION("matching DNS name") { CHECK(connect("localhost").first.status != Status::error); }
  SECTION("matching is case-insensitive") { CHECK(connect("LocalHost").first.status != Status::error); }
  SECTION("IPv4 literal in the SAN") { CHECK(connect("127.0.0.1").first.status != Status::error); }
  SECTION("IPv6 literal in the SAN") { CHECK(connect("::1").first.status != Status::error); }
  SECTION("name mismatch") {
    auto [client, server] = connect("example.com");
    check_verify_failure(client, VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for 'example.com'.");
    // The client's alert reached the server, which fails too.
    REQUIRE(server.status == Status::error);
    CHECK(server.error->reason == "SSLV3_ALERT_BAD_CERTIFICATE");  // as OpenSSL names it
  }
  SECTION("IPv4 mismatch") {
    auto [client, server] = connect("127.0.0.2");
    check_verify_failure(client, VerifyCode::ip_address_mismatch,
                         "IP address mismatch, certificate is not valid for '127.0.0.2'.");
  }
  SECTION("IPv6 mismatch") {
    auto [client, server] = connect("::2");
    check_verify_failure(client, VerifyCode::ip_address_mismatch,
                         "IP address mismatch, certificate is not valid for '::2'.");
  }
  SECTION("an IP address is not matched against DNS names") {
    // 127.0.0.1 is in the certificate only as an IP SAN; the DNS name
    // "127.0.0.1.example" must not match it.
    auto [client, server] = connect("127.0.0.1.example");
    check_verify_failure(client, VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for '127.0.0.1.example'.");
  }
  SECTION("check_hostname off accepts any name, chain still verified") {
    client_ctx.set_check_hostname(false);
    CHECK(connect("example.com").first.status != Status::error);
  }
}

TEST_CASE("unknown issuer fails with Python's message", "[object][verify]") {
  Context client_ctx(Protocol::tls_client);  // trusts nothing
  test::Pair p = test::make_pair(client_ctx, test::server_context());
  Pipe pipe(p.client, p.server);
  CHECK_FALSE(pipe.handshake());
  check_verify_failure(pipe.last(Side::client), VerifyCode::unable_to_get_issuer_cert_locally,
                       "unable to get local issuer certificate");
  REQUIRE(pipe.last(Side::server).status == Status::error);
  CHECK(pipe.last(Side::server).error->message ==
        "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
}

TEST_CASE("verify modes with and without a client certificate", "[object][verify]") {
  Context server_ctx = test::server_context();
  server_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test::pki().ca.certificate_pem())});
  Context client_ctx = test::client_context();
  Context client_with_cert = test::client_context();
  client_with_cert.load_cert_chain_pem(test::pki().client.certificate_pem,
                                       test::pki().client.private_key_pem);
  Context client_untrusted_cert = test::client_context();
  sanstls::testing::Issued stranger = sanstls::testing::self_signed({.common_name = "stranger"});
  client_untrusted_cert.load_cert_chain_pem(stranger.certificate_pem, stranger.private_key_pem);

  auto run = [&](const Context& c, bool& ok) {
    test::Pair p = test::make_pair(c, server_ctx);
    Pipe pipe(p.client, p.server);
    ok = pipe.handshake();
    return std::make_pair(pipe.last(Side::server), p.server.getpeercert(sanstls::binary_form));
  };
  bool ok = false;

  SECTION("cert_none: not asked, not checked") {
    server_ctx.set_verify_mode(VerifyMode::cert_none);
    auto [r, peer] = run(client_with_cert, ok);
    CHECK(ok);
    CHECK_FALSE(peer);
  }
  SECTION("cert_optional: none sent is fine") {
    server_ctx.set_verify_mode(VerifyMode::cert_optional);
    auto [r, peer] = run(client_ctx, ok);
    CHECK(ok);
    CHECK_FALSE(peer);
  }
  SECTION("cert_optional: a valid one is verified and visible") {
    server_ctx.set_verify_mode(VerifyMode::cert_optional);
    auto [r, peer] = run(client_with_cert, ok);
    CHECK(ok);
    CHECK(peer == test::pki().client.certificate_der);
  }
  SECTION("cert_optional: an untrusted one is rejected") {
    server_ctx.set_verify_mode(VerifyMode::cert_optional);
    auto [r, peer] = run(client_untrusted_cert, ok);
    CHECK_FALSE(ok);
    check_verify_failure(r, VerifyCode::depth_zero_self_signed_cert, "self signed certificate");
  }
  SECTION("cert_required: none sent fails") {
    server_ctx.set_verify_mode(VerifyMode::cert_required);
    auto [r, peer] = run(client_ctx, ok);
    CHECK_FALSE(ok);
    REQUIRE(r.status == Status::error);
    CHECK(r.error->kind == ErrorKind::ssl);
    CHECK(r.error->reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE");
  }
  SECTION("cert_required: a valid one passes") {
    server_ctx.set_verify_mode(VerifyMode::cert_required);
    auto [r, peer] = run(client_with_cert, ok);
    CHECK(ok);
    CHECK(peer == test::pki().client.certificate_der);
  }
}

TEST_CASE("verify none on the client accepts an untrusted server", "[object][verify]") {
  Context client_ctx(Protocol::tls_client);
  client_ctx.set_check_hostname(false);
  client_ctx.set_verify_mode(VerifyMode::cert_none);
  test::Pair p = test::make_pair(client_ctx, test::server_context(), "anything.example");
  Pipe pipe(p.client, p.server);
  CHECK(pipe.handshake());
  // The certificate was sent, so its DER is available even unverified.
  CHECK(p.client.getpeercert(sanstls::binary_form) == test::pki().server.certificate_der);
}

TEST_CASE("application data both ways, then close_notify reads as closed", "[object][data]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());

  REQUIRE(pipe.send(Side::client, "ping").bytes == 4);
  CHECK(pipe.take_received(Side::server) == "ping");
  REQUIRE(pipe.send(Side::server, "pong").ok());
  CHECK(pipe.take_received(Side::client) == "pong");

  // Client closes: the server's read returns 0 bytes with status closed,
  // as Python's SSLObject.read() returns b''.
  Result u = p.client.unwrap();
  CHECK(u.status == Status::want_read);  // waits for the server's close_notify
  pipe.run();
  CHECK(pipe.last(Side::server).status == Status::closed);
  sanstls::ReadResult again = p.server.read();
  CHECK(again.status == Status::closed);
  CHECK(again.bytes == 0);
  CHECK(again.data.empty());
  CHECK_NOTHROW(again.throw_if_error());

  // The server may still write after receiving close_notify (half-close).
  REQUIRE(pipe.send(Side::server, "last words").ok());
  CHECK(pipe.take_received(Side::client) == "last words");

  CHECK(p.server.unwrap().status == Status::done);  // peer's close_notify already in
  pipe.run();
  CHECK(p.client.unwrap().status == Status::done);
  CHECK(p.client.unwrap().status == Status::done);  // idempotent

  // Writing after unwrap is a zero_return error, and not a fatal one.
  Result w = p.client.write(std::string_view("too late"));
  REQUIRE(w.status == Status::error);
  CHECK(w.error->kind == ErrorKind::zero_return);
  CHECK_THROWS_AS(w.throw_if_error(), sanstls::SSLZeroReturnError);
  CHECK_FALSE(p.client.error());
}

TEST_CASE("read and write before the handshake drive it", "[object][data]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  // write() on a fresh client starts the handshake and reports want_read.
  Result w = p.client.write(std::string_view("early"));
  CHECK(w.status == Status::want_read);
  CHECK(w.bytes == 0);
  CHECK(p.client.outgoing().pending() > 0);  // the ClientHello
  Result r = p.server.read(100);
  CHECK(r.status == Status::want_read);  // nothing delivered yet
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  REQUIRE(pipe.send(Side::client, "now").ok());
  CHECK(pipe.received(Side::server) == "now");
}

TEST_CASE("pending() counts decrypted bytes left in the current record", "[object][data]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  REQUIRE(p.server.write(test::pattern(1000)).ok());
  // Deliver without letting the pipe read for the client.
  sanstls::MemoryBIO(p.client.incoming()).write(sanstls::MemoryBIO(p.server.outgoing()).read());
  CHECK(p.client.pending() == 0);  // nothing decrypted yet
  sanstls::ReadResult first = p.client.read(100);
  REQUIRE(first.ok());
  CHECK(first.bytes == 100);
  CHECK(p.client.pending() == 900);
  sanstls::ReadResult rest = p.client.read(5000);
  CHECK(rest.bytes == 900);
  CHECK(first.data + rest.data == test::pattern(1000));
  CHECK(p.client.pending() == 0);
  CHECK(p.client.read(10).status == Status::want_read);
}

TEST_CASE("read returns one record at most, however much is asked for", "[object][data]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  const std::string sent = test::pattern(40000);  // records of 16384, 16384, 7232
  REQUIRE(p.server.write(sent).ok());
  sanstls::MemoryBIO(p.client.incoming()).write(sanstls::MemoryBIO(p.server.outgoing()).read());
  std::string got;
  for (std::size_t expected : {16384u, 16384u, 7232u}) {
    sanstls::ReadResult r = p.client.read(std::size_t{1} << 30);  // no 1 GiB buffer is made
    REQUIRE(r.ok());
    CHECK(r.bytes == expected);
    CHECK(r.data.size() == expected);
    got += r.data;
  }
  CHECK(got == sent);
  CHECK(p.client.read(std::size_t{1} << 30).status == Status::want_read);
}

// read_into answers want_read without entering BoringSSL when nothing can be
// read; what BoringSSL already took from incoming must still come out.
TEST_CASE("small reads drain every record, also once incoming is empty", "[object][data]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  const std::string data = test::pattern(3000, 4);
  for (std::size_t at = 0; at < data.size(); at += 1000) {
    REQUIRE(p.server.write(std::string_view(data).substr(at, 1000)).ok());
  }
  sanstls::MemoryBIO incoming = p.client.incoming();
  incoming.write(sanstls::MemoryBIO(p.server.outgoing()).read());
  std::string got;
  bool drained_with_data_left = false;
  for (;;) {
    sanstls::ReadResult r = p.client.read(64);
    if (r.status != Status::done) {
      CHECK(r.status == Status::want_read);
      break;
    }
    got += r.data;
    drained_with_data_left = drained_with_data_left || (incoming.pending() == 0 && p.client.pending() > 0);
  }
  CHECK(drained_with_data_left);  // the case at stake did happen
  CHECK(got == data);
  // It still sees what arrives next, EOF included.
  REQUIRE(p.server.write(std::string_view("more")).ok());
  incoming.write(sanstls::MemoryBIO(p.server.outgoing()).read());
  CHECK(p.client.read(10).data == "more");
  CHECK(p.client.read(10).status == Status::want_read);
  incoming.write_eof();
  sanstls::ReadResult r = p.client.read(10);
  REQUIRE(r.status == Status::error);
  CHECK(r.error->kind == ErrorKind::eof);
}

TEST_CASE("a whole session one byte at a time", "[object][transport]") {
  Context server_ctx = test::server_context();
  server_ctx.set_alpn_protocols({"x"});
  Context client_ctx = test::client_context();
  client_ctx.set_alpn_protocols({"x"});
  for (TLSVersion max : {TLSVersion::tlsv1_2, TLSVersion::tlsv1_3}) {
    client_ctx.set_maximum_version(max);
    test::Pair p = test::make_pair(client_ctx, server_ctx);
    Pipe pipe(p.client, p.server, Transport::byte_at_a_time(), Transport::byte_at_a_time());
    REQUIRE(pipe.handshake());
    CHECK(p.client.selected_alpn_protocol() == "x");
    const std::string message = test::pattern(40000, 7);
    REQUIRE(pipe.send(Side::client, message).ok());
    CHECK(pipe.take_received(Side::server) == message);
    REQUIRE(pipe.send(Side::server, message).ok());
    CHECK(pipe.take_received(Side::client) == message);
    REQUIRE(p.client.unwrap().status == Status::want_read);
    pipe.run();
    CHECK(pipe.last(Side::server).status == Status::closed);
    CHECK(p.server.unwrap().ok());
    pipe.run();
    CHECK(p.client.unwrap().ok());
    // Every byte went through separately.
    CHECK(pipe.transport(Side::server).delivered() > message.size());
  }
}

TEST_CASE("random chunking never changes the data", "[object][transport]") {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    test::Pair p = test::make_pair(test::client_context(), test::server_context());
    Pipe pipe(p.client, p.server, Transport::random_chunks(seed, 700),
              Transport::random_chunks(seed * 31, 3000));
    REQUIRE(pipe.handshake());
    const std::string message = test::pattern(100000, static_cast<unsigned>(seed));
    REQUIRE(pipe.send(Side::server, message).ok());
    CHECK(pipe.take_received(Side::client) == message);
  }
}

TEST_CASE("a 64 MiB transfer arrives byte for byte", "[object][data][bulk]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  const std::size_t chunk_size = 1 << 20;
  std::size_t total = 0;
  for (unsigned i = 0; i < 64; ++i) {
    const std::string chunk = test::pattern(chunk_size, i);
    Result w = pipe.send(Side::client, chunk);
    REQUIRE(w.ok());
    REQUIRE(w.bytes == chunk_size);
    REQUIRE(pipe.take_received(Side::server) == chunk);
    total += chunk_size;
  }
  CHECK(total == 64u << 20);
  // Drained buffers give their memory back.
  CHECK(p.client.outgoing().capacity() <= 4096);
  CHECK(p.server.incoming().capacity() <= 4096);
}

TEST_CASE("a flipped byte in a record is a bad-record-MAC error, sticky, alert sent", "[object][failure]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  // Corrupt the 20th byte of what the client sends next: inside the record
  // body, past the 5-byte header.
  pipe.transport(Side::server).flip_byte(pipe.transport(Side::server).delivered() + 20);
  REQUIRE(pipe.send(Side::client, test::pattern(100)).ok());
  CHECK(pipe.received(Side::server).empty());  // nothing corrupt is ever returned

  const Result& r = pipe.last(Side::server);
  REQUIRE(r.status == Status::error);
  CHECK(r.error->kind == ErrorKind::ssl);
  CHECK(r.error->reason == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
  CHECK(r.error->message ==
        "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac");
  // Sticky: every later call reports the same error object.
  CHECK(p.server.read().error == r.error);
  CHECK(p.server.write(std::string_view("x")).error == r.error);
  CHECK(p.server.do_handshake().error == r.error);
  CHECK(p.server.unwrap().error == r.error);
  CHECK(p.server.error() == r.error);
  // The bad_record_mac alert reached the client.
  REQUIRE(pipe.last(Side::client).status == Status::error);
  CHECK(pipe.last(Side::client).error->reason == "SSLV3_ALERT_BAD_RECORD_MAC");
}

TEST_CASE("a corrupted handshake fails cleanly at every position", "[object][failure]") {
  // Flip each of the first bytes of the ClientHello and of the server's
  // reply: each must end in an error or a completed handshake, never a
  // crash, a hang or silent success with different keys.
  for (std::uint64_t offset = 0; offset < 300; offset += 7) {
    for (Side target : {Side::server, Side::client}) {
      test::Pair p = test::make_pair(test::client_context(), test::server_context());
      Pipe pipe(p.client, p.server);
      pipe.transport(target).flip_byte(offset, 0x80);
      bool ok = pipe.handshake();
      if (ok) {
        // Some bytes (e.g. random values, the session id) may change
        // without breaking TLS; then data must still flow intact.
        REQUIRE(pipe.send(Side::client, "check").ok());
        CHECK(pipe.received(Side::server) == "check");
      } else {
        CHECK((pipe.last(Side::client).status == Status::error ||
               pipe.last(Side::server).status == Status::error));
      }
    }
  }
}

TEST_CASE("EOF without close_notify is an eof error after all data was read", "[object][failure]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  REQUIRE(pipe.send(Side::server, "partial answer").ok());
  CHECK(pipe.take_received(Side::client) == "partial answer");
  sanstls::MemoryBIO(p.client.incoming()).write_eof();  // the server's TCP connection closed
  sanstls::ReadResult r = p.client.read();
  REQUIRE(r.status == Status::error);
  CHECK(r.error->kind == ErrorKind::eof);
  CHECK(r.error->message == "EOF occurred in violation of protocol");
  CHECK_THROWS_AS(r.throw_if_error(), sanstls::SSLEOFError);
}

TEST_CASE("a peer that vanishes mid-handshake gives an eof error", "[object][failure]") {
  // Cut the server's first flight at several points.
  for (std::uint64_t cut : {0u, 1u, 5u, 60u, 300u}) {
    test::Pair p = test::make_pair(test::client_context(), test::server_context());
    Pipe pipe(p.client, p.server, Transport::everything(),
              Transport::everything().truncate_after(cut));
    CHECK_FALSE(pipe.handshake());
    const Result& r = pipe.last(Side::client);
    REQUIRE(r.status == Status::error);
    CHECK(r.error->kind == ErrorKind::eof);
  }
}

TEST_CASE("a truncated record after the handshake is an eof error, not data", "[object][failure]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  const std::uint64_t sent = pipe.transport(Side::client).delivered();
  pipe.transport(Side::client).truncate_after(sent + 30);  // mid-record
  REQUIRE(pipe.send(Side::server, test::pattern(1000)).ok());
  CHECK(pipe.received(Side::client).empty());
  REQUIRE(pipe.last(Side::client).status == Status::error);
  CHECK(pipe.last(Side::client).error->kind == ErrorKind::eof);
}

TEST_CASE("garbage instead of TLS is an SSL error", "[object][failure]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  sanstls::MemoryBIO server_in = p.server.incoming();
  server_in.write(std::string_view("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  Result r = p.server.do_handshake();
  REQUIRE(r.status == Status::error);
  CHECK(r.error->kind == ErrorKind::ssl);
  CHECK(r.error->library == "SSL");
  CHECK(r.error->reason == "HTTP_REQUEST");
  CHECK_THROWS_AS(r.throw_if_error(), sanstls::SSLError);
}

TEST_CASE("unwrap before the handshake is an error that is not sticky", "[object][shutdown]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Result u = p.client.unwrap();
  REQUIRE(u.status == Status::error);
  CHECK(u.error->reason == "SHUTDOWN_WHILE_IN_INIT");
  CHECK_FALSE(p.client.error());
  Pipe pipe(p.client, p.server);
  CHECK(pipe.handshake());
}

TEST_CASE("an error left in BoringSSL's queue never reaches another object", "[object][errors]") {
  // Simulate a careless caller (or another library on this thread) that
  // leaves errors behind.
  OPENSSL_PUT_ERROR(SSL, SSL_R_BAD_ALERT);
  OPENSSL_PUT_ERROR(SSL, SSL_R_WRONG_VERSION_NUMBER);
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  CHECK(pipe.handshake());
  // A failing object's error does not stay behind either.
  test::Pair bad = test::make_pair(test::client_context(), test::server_context());
  sanstls::MemoryBIO(bad.server.incoming()).write(std::string_view("garbage garbage garbage"));
  CHECK(bad.server.do_handshake().status == Status::error);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("one context serves many objects on many threads", "[object][threads]") {
  const Context client_ctx = test::client_context();
  const Context server_ctx = test::server_context();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        test::Pair p = test::make_pair(client_ctx, server_ctx);
        Pipe pipe(p.client, p.server);
        const std::string message = test::pattern(5000, static_cast<unsigned>(t * 100 + i));
        if (pipe.handshake() && pipe.send(Side::client, message).ok() &&
            pipe.received(Side::server) == message) {
          ++ok[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) CHECK(n == 10);
}

TEST_CASE("objects keep their context and buffers alive", "[object][lifetime]") {
  std::optional<test::Pair> p;
  {
    Context client_ctx = test::client_context();
    Context server_ctx = test::server_context();
    p.emplace(test::make_pair(client_ctx, server_ctx));
  }  // every Context handle and MemoryBIO handle of the caller is gone
  Pipe pipe(p->client, p->server);
  CHECK(pipe.handshake());
  Object moved = std::move(p->client);
  CHECK(moved.version() == "TLSv1.3");
}

TEST_CASE("phase(): fresh, handshaking, established, closing, closed; failed after a fatal error",
          "[object][phase]") {
  using sanstls::Phase;
  sanstls::MemoryBIO c_in, c_out, s_in, s_out;
  sanstls::Object client = test::client_context().wrap_bio(c_in, c_out, false, "localhost");
  sanstls::Object server = test::server_context().wrap_bio(s_in, s_out, true);
  auto flow = [&] {
    s_in.write(c_out.read());
    c_in.write(s_out.read());
  };
  CHECK(client.phase() == Phase::fresh);
  CHECK(server.phase() == Phase::fresh);

  CHECK(client.do_handshake().status == sanstls::Status::want_read);
  CHECK(client.phase() == Phase::handshaking);
  flow();
  CHECK(server.do_handshake().status == sanstls::Status::want_read);  // waits for Finished
  CHECK(server.phase() == Phase::handshaking);
  flow();
  CHECK(client.do_handshake().status == sanstls::Status::done);
  CHECK(client.phase() == Phase::established);
  flow();
  CHECK(server.do_handshake().status == sanstls::Status::done);
  CHECK(server.phase() == Phase::established);
  flow();  // the server's tickets

  CHECK(client.unwrap().status == sanstls::Status::want_read);  // our close_notify is out
  CHECK(client.phase() == Phase::closing);
  flow();
  CHECK(server.read(16).status == sanstls::Status::closed);  // the peer's arrived
  CHECK(server.phase() == Phase::closing);
  CHECK(server.unwrap().status == sanstls::Status::done);
  CHECK(server.phase() == Phase::closed);
  flow();
  CHECK(client.unwrap().status == sanstls::Status::done);
  CHECK(client.phase() == Phase::closed);

  // A client that trusts nothing fails, and stays failed.
  sanstls::Context untrusting(sanstls::Protocol::tls_client);
  test::Handshake h = test::handshake(untrusting, test::server_context());
  REQUIRE_FALSE(h.ok);
  CHECK(h.client.phase() == Phase::failed);
  CHECK(h.client.do_handshake().status == sanstls::Status::error);
  CHECK(h.client.phase() == Phase::failed);
}

TEST_CASE("phase_name names every phase, once", "[object][phase]") {
  using sanstls::Phase;
  std::vector<std::string_view> names;
  for (Phase p : {Phase::fresh, Phase::handshaking, Phase::established, Phase::closing,
                  Phase::closed, Phase::failed}) {
    names.push_back(sanstls::phase_name(p));
  }
  CHECK(names == std::vector<std::string_view>{"fresh", "handshaking", "established", "closing",
                                               "closed", "failed"});
}
