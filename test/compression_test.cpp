// Certificate compression (RFC 8879) between two Objects: both algorithms,
// whole flights and a byte at a time, who picks, when nothing is
// compressed (TLS 1.2, resumption, a side without it), Context switches,
// the setter's rules, and what a client does with a server's compressed
// certificate that lies about its length, is a decompression bomb, is cut
// short, is followed by junk or is garbage.
#include <catch2/catch.hpp>

#include <sanstls/boringssl.hpp>  // SSL_CTX_add_cert_compression_alg for the lying servers

#include <brotli/encode.h>
#include <zlib.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using sanstls::CertificateCompression;
using sanstls::Context;
using sanstls::Object;
using sanstls::TLSVersion;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;

constexpr CertificateCompression kZlib = CertificateCompression::zlib;
constexpr CertificateCompression kBrotli = CertificateCompression::brotli;

Context compressing_server(std::vector<CertificateCompression> algorithms) {
  Context server = test::server_context();
  server.set_certificate_compression(std::move(algorithms));
  return server;
}

Context compressing_client(std::vector<CertificateCompression> algorithms,
                           TLSVersion version = TLSVersion::maximum_supported) {
  Context client = test::client_context();
  client.set_maximum_version(version);
  client.set_certificate_compression(std::move(algorithms));
  return client;
}

// server_bytes runs a handshake and returns how many bytes the server sent.
std::uint64_t server_bytes(const Context& client_ctx, const Context& server_ctx) {
  test::Pair p = test::make_pair(client_ctx, server_ctx);
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  return pipe.transport(Side::client).delivered();
}

}  // namespace

TEST_CASE("a server's certificate travels compressed with either algorithm", "[compression]") {
  const CertificateCompression algorithm = GENERATE(kZlib, kBrotli);
  const bool one_byte = GENERATE(false, true);
  INFO(sanstls::certificate_compression_name(algorithm) << (one_byte ? ", a byte at a time" : ""));
  const Context server = compressing_server({algorithm});
  const Context client = compressing_client({algorithm});
  test::Pair p = test::make_pair(client, server);
  Pipe pipe(p.client, p.server, one_byte ? Transport::byte_at_a_time() : Transport::everything(),
            one_byte ? Transport::byte_at_a_time() : Transport::everything());
  REQUIRE(pipe.handshake());
  CHECK(p.client.certificate_compression() == algorithm);
  CHECK(p.server.certificate_compression() == algorithm);
  // The client verified what it decompressed, and the connection works.
  CHECK(p.client.getpeercert(sanstls::binary_form) == test::pki().server.certificate_der);
  CHECK(pipe.send(Side::client, "ping").status == sanstls::Status::done);
  CHECK(pipe.take_received(Side::server) == "ping");
  // Fewer bytes than the same handshake uncompressed.
  const std::uint64_t compressed = pipe.transport(Side::client).delivered();
  const std::uint64_t plain = server_bytes(test::client_context(), test::server_context());
  INFO("server sent " << compressed << " bytes compressed, " << plain << " plain");
  CHECK(compressed < plain);
}

TEST_CASE("the server's preference decides among the algorithms both have", "[compression]") {
  struct Case {
    std::vector<CertificateCompression> client, server;
    std::optional<CertificateCompression> expected;
  };
  const Case c = GENERATE(Case{{kZlib, kBrotli}, {kBrotli, kZlib}, kBrotli},
                          Case{{kBrotli, kZlib}, {kZlib, kBrotli}, kZlib},
                          Case{{kZlib}, {kBrotli, kZlib}, kZlib},
                          Case{{kBrotli}, {kZlib}, std::nullopt},
                          Case{{}, {kBrotli, kZlib}, std::nullopt},
                          Case{{kBrotli, kZlib}, {}, std::nullopt});
  Context client = test::client_context();
  client.set_certificate_compression(c.client);
  Context server = test::server_context();
  server.set_certificate_compression(c.server);
  test::Handshake h = test::handshake(client, server);
  test::require_ok(h);
  CHECK(h.client.certificate_compression() == c.expected);
  CHECK(h.server.certificate_compression() == c.expected);
}

TEST_CASE("nothing is compressed on TLS 1.2 or when no certificate is sent", "[compression]") {
  const Context server = compressing_server({kBrotli, kZlib});
  SECTION("TLS 1.2") {
    test::Handshake h = test::handshake(compressing_client({kBrotli, kZlib}, TLSVersion::tlsv1_2), server);
    test::require_ok(h);
    CHECK(h.client.version() == "TLSv1.2");
    CHECK_FALSE(h.client.certificate_compression());
    CHECK_FALSE(h.server.certificate_compression());
  }
  SECTION("a resumed session") {
    const Context client = compressing_client({kBrotli});
    test::Resumption r = test::resumption(client, server);
    CHECK(r.first.client.certificate_compression() == kBrotli);
    REQUIRE(r.second.ok);
    test::Handshake& p = r.second;
    REQUIRE(p.client.session_reused());
    CHECK_FALSE(p.client.certificate_compression());
    CHECK_FALSE(p.server.certificate_compression());
  }
}

TEST_CASE("a verify callback sees the algorithm, and a stapled response survives compression", "[compression]") {
  Context server = compressing_server({kZlib});
  const std::string staple = "stand-in for an OCSP response";
  server.set_ocsp_response(sanstls::as_bytes(staple));
  Context client = compressing_client({kZlib});
  client.set_ocsp_stapling_requested(true);
  std::optional<CertificateCompression> seen;
  client.set_verify_callback([&seen](Object& object, const sanstls::PeerCertificates& peer) {
    seen = object.certificate_compression();
    return peer.verify_code == sanstls::VerifyCode::ok ? sanstls::VerifyReply::accept()
                                                       : sanstls::VerifyReply::reject(peer.verify_message);
  });
  test::Handshake h = test::handshake(client, server);
  test::require_ok(h);
  CHECK(seen == kZlib);
  CHECK(h.client.ocsp_response() == staple);
}

TEST_CASE("set_certificate_compression's rules", "[compression]") {
  Context ctx = test::server_context();
  CHECK(ctx.certificate_compression().empty());
  CHECK_THROWS_AS(ctx.set_certificate_compression({kZlib, kZlib}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_certificate_compression({static_cast<CertificateCompression>(3)}),
                  std::invalid_argument);
  CHECK(ctx.certificate_compression().empty());
  ctx.set_certificate_compression({});  // still off
  ctx.set_certificate_compression({kBrotli, kZlib});
  CHECK(ctx.certificate_compression() == std::vector<CertificateCompression>{kBrotli, kZlib});
  ctx.set_certificate_compression({kBrotli, kZlib});  // the same list again: nothing to do
  CHECK_THROWS_AS(ctx.set_certificate_compression({kZlib}), std::logic_error);
  CHECK_THROWS_AS(ctx.set_certificate_compression({}), std::logic_error);
  CHECK(ctx.certificate_compression() == std::vector<CertificateCompression>{kBrotli, kZlib});
  CHECK(sanstls::certificate_compression_name(kZlib) == "zlib");
  CHECK(sanstls::certificate_compression_name(kBrotli) == "brotli");
  CHECK(sanstls::certificate_compression_name(static_cast<CertificateCompression>(3)) == "unknown");
  STATIC_REQUIRE(sanstls::has_certificate_compression);
}

TEST_CASE("switching Context mid-handshake keeps what was agreed", "[compression][sni]") {
  Context first = compressing_server({kBrotli});
  std::optional<Context> next;
  std::string thrown;
  first.set_sni_callback([&](Object& object, const std::optional<std::string>&,
                             const Context&) -> std::optional<sanstls::AlertDescription> {
    try {
      object.set_context(*next);
    } catch (const std::logic_error& e) {
      thrown = e.what();
      throw;
    }
    return std::nullopt;
  });
  SECTION("the SNI callback's Context also has the algorithm agreed on") {
    next = compressing_server({kZlib, kBrotli});
    test::Handshake h = test::handshake(compressing_client({kZlib, kBrotli}), first);
    test::require_ok(h);
    // The first Context chose, by its own order.
    CHECK(h.client.certificate_compression() == kBrotli);
    CHECK(h.server.context().certificate_compression() == std::vector<CertificateCompression>{kZlib, kBrotli});
  }
  SECTION("the SNI callback's Context lacks it: set_context refuses, the handshake fails cleanly") {
    next = test::server_context();
    test::Handshake h = test::handshake(compressing_client({kBrotli}), first);
    REQUIRE_FALSE(h.ok);
    CHECK(thrown.find("already agreed to compress the certificate with brotli") != std::string::npos);
    REQUIRE(h.server_result.error);
    CHECK(h.server_result.error->message.find("the SNI callback threw") != std::string::npos);
    REQUIRE(h.client_result.error);
    // BoringSSL's name for a handshake_failure alert in answer to the
    // ClientHello.
    CHECK(h.client_result.error->reason == "HANDSHAKE_FAILURE_ON_CLIENT_HELLO");
  }
  SECTION("nothing was agreed (the client has no compression): any Context will do") {
    next = test::server_context();
    test::Handshake h = test::handshake(test::client_context(), first);
    test::require_ok(h);
    CHECK_FALSE(h.client.certificate_compression());
  }
  SECTION("on TLS 1.2 nothing is agreed either") {
    next = test::server_context();
    test::Handshake h = test::handshake(compressing_client({kBrotli}, TLSVersion::tlsv1_2), first);
    test::require_ok(h);
    CHECK_FALSE(h.client.certificate_compression());
  }
}

TEST_CASE("a ClientHello callback's Context negotiates compression itself", "[compression]") {
  const bool to_compressing = GENERATE(false, true);
  Context first = test::server_context();
  const Context next = to_compressing ? compressing_server({kZlib}) : test::server_context();
  first.set_client_hello_callback([&next](Object& object, const sanstls::ClientHello&) {
    object.set_context(next);
    return sanstls::ClientHelloReply::proceed();
  });
  test::Handshake h = test::handshake(compressing_client({kZlib}), first);
  test::require_ok(h);
  CHECK(h.client.certificate_compression() == (to_compressing ? std::optional(kZlib) : std::nullopt));
}

// ---- Hostile servers --------------------------------------------------------
//
// A server that compresses its certificate with a lying compressor,
// installed through the native handle on a Context that has no
// compression of its own. The client is sanstls with both algorithms.

namespace {

std::string zlib_bytes(const std::string& in) {
  uLongf size = compressBound(static_cast<uLong>(in.size()));
  std::string out(size, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(in.data()),
                    static_cast<uLong>(in.size()), 9) == Z_OK);
  out.resize(size);
  return out;
}

std::string brotli_bytes(const std::string& in, int window = BROTLI_DEFAULT_WINDOW) {
  std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
  std::string out(size, '\0');
  REQUIRE(BrotliEncoderCompress(5, window, BROTLI_MODE_GENERIC, in.size(),
                                reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                                reinterpret_cast<std::uint8_t*>(out.data())));
  out.resize(size);
  return out;
}

// How the lying compressor of the current test lies: it gets the true
// Certificate message and returns the bytes to send.
std::function<std::string(const std::string& message)>& lie() {
  static std::function<std::string(const std::string&)> f;
  return f;
}

int lying_compress(SSL*, CBB* out, const std::uint8_t* in, std::size_t len) {
  const std::string bytes = lie()(std::string(reinterpret_cast<const char*>(in), len));
  return CBB_add_bytes(out, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

test::Handshake against_liar(CertificateCompression algorithm) {
  Context server = test::server_context();
  REQUIRE(SSL_CTX_add_cert_compression_alg(sanstls::native_handle(server), static_cast<std::uint16_t>(algorithm),
                                           &lying_compress, nullptr) == 1);
  return test::handshake(compressing_client({algorithm}), server);
}

}  // namespace

TEST_CASE("a compressed certificate that lies, bombs, is cut or is garbage fails the handshake clearly",
          "[compression][hostile]") {
  struct Case {
    const char* what;
    CertificateCompression algorithm;
    std::function<std::string(const std::string&)> lie;
    const char* detail;  // in the client's error message
  };
  const std::string bomb(8u << 20, '\0');  // 8 MiB of zeros: a few KiB compressed
  const Case c = GENERATE_COPY(
      Case{"zlib, longer than declared", kZlib, [](const std::string& m) { return zlib_bytes(m + "X"); },
           "decompresses to more than the"},
      Case{"zlib, shorter than declared", kZlib,
           [](const std::string& m) { return zlib_bytes(m.substr(0, m.size() - 1)); }, "fewer than the"},
      Case{"zlib, a bomb", kZlib, [bomb](const std::string& m) { return zlib_bytes(m + bomb); },
           "decompresses to more than the"},
      Case{"zlib, cut short", kZlib,
           [](const std::string& m) {
             std::string z = zlib_bytes(m);
             return z.substr(0, z.size() / 2);
           },
           "is cut short"},
      Case{"zlib, junk after the stream", kZlib, [](const std::string& m) { return zlib_bytes(m) + "junk"; },
           "4 bytes after the end of its zlib stream"},
      Case{"zlib, garbage", kZlib, [](const std::string& m) { return test::pattern(m.size()); },
           "is not a valid zlib stream"},
      Case{"brotli, longer than declared", kBrotli, [](const std::string& m) { return brotli_bytes(m + "X"); },
           "decompresses to more than the"},
      Case{"brotli, shorter than declared", kBrotli,
           [](const std::string& m) { return brotli_bytes(m.substr(0, m.size() - 1)); }, "fewer than the"},
      // With a 64 KiB window the decoder's memory stays small and the
      // output buffer stops it; with the default 4 MiB window, or 16 MiB,
      // its window for the 8 MiB meta-block would outgrow the budget first.
      Case{"brotli, a bomb", kBrotli, [bomb](const std::string& m) { return brotli_bytes(m + bomb, 16); },
           "decompresses to more than the"},
      Case{"brotli, a bomb with the default window", kBrotli,
           [bomb](const std::string& m) { return brotli_bytes(m + bomb); }, "needs more than the 4 MiB"},
      Case{"brotli, a bomb that asks for a 16 MiB window", kBrotli,
           [bomb](const std::string&) { return brotli_bytes(bomb, 24); }, "needs more than the 4 MiB"},
      Case{"brotli, cut short", kBrotli,
           [](const std::string& m) {
             std::string b = brotli_bytes(m);
             return b.substr(0, b.size() / 2);
           },
           "is cut short"},
      Case{"brotli, junk after the stream", kBrotli, [](const std::string& m) { return brotli_bytes(m) + "junk"; },
           "4 bytes after the end of its brotli stream"},
      Case{"brotli, garbage", kBrotli, [](const std::string& m) { return std::string(m.size(), '\xff'); },
           "is not a valid brotli stream"});
  INFO(c.what);
  lie() = c.lie;
  test::Handshake h = against_liar(c.algorithm);
  lie() = nullptr;
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  const sanstls::Error& e = *h.client_result.error;
  INFO(e.message);
  CHECK(e.kind == sanstls::ErrorKind::ssl);
  CHECK(e.reason == "CERT_DECOMPRESSION_FAILED");
  CHECK(e.message.find(std::string("the server's ") + std::string(sanstls::certificate_compression_name(c.algorithm)) +
                       "-compressed certificate") != std::string::npos);
  CHECK(e.message.find(c.detail) != std::string::npos);
  CHECK_FALSE(h.client.certificate_compression());
  // The server reads the client's alert.
  REQUIRE(h.server_result.error);
  CHECK(h.server_result.error->reason == "TLSV1_ALERT_DECODE_ERROR");
  // The failure is sticky.
  CHECK(h.client.do_handshake().error->reason == "CERT_DECOMPRESSION_FAILED");
}

TEST_CASE("a compressed certificate over 100 KiB is refused before it is decompressed", "[compression][hostile]") {
  // A chain of 400 copies of the CA certificate makes a Certificate
  // message of over 100 KiB, BoringSSL's limit for a client.
  std::string chain;
  for (int i = 0; i < 400; ++i) chain += test::pki().ca.certificate_pem();
  Context server = test::server_with(test::pki().server, chain);
  server.set_certificate_compression({kBrotli});
  test::Handshake h = test::handshake(compressing_client({kBrotli}), server);
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  CHECK(h.client_result.error->reason == "UNCOMPRESSED_CERT_TOO_LARGE");
  CHECK(h.server_result.error->reason == "SSLV3_ALERT_ILLEGAL_PARAMETER");
}
