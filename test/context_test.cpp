// Context: Python 3.7's SSLContext defaults and rules, and proof that each
// setting really changes what a handshake between two Objects does.
#include <catch.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/boringssl.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>
#include <sanstls/testing/pipe.hpp>

#include "support.hpp"

using sanstls::CaData;
using sanstls::Context;
using sanstls::ErrorKind;
using sanstls::Options;
using sanstls::Protocol;
using sanstls::Status;
using sanstls::TLSVersion;
using sanstls::VerifyMode;
using sanstls::testing::CertificateAuthority;
using sanstls::testing::Issued;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using test::Handshake;
using test::describe;
using test::TempDir;
using test::handshake;

namespace {

// require_unknown_issuer checks that the client rejected the server's
// certificate because it does not trust its issuer, with Python's words.
void require_unknown_issuer(const Handshake& h) {
  INFO("client: " << describe(h.client_result));
  CHECK_FALSE(h.ok);
  REQUIRE(h.client_result.status == Status::error);
  REQUIRE(h.client_result.error);
  const sanstls::Error& e = *h.client_result.error;
  CHECK(e.kind == ErrorKind::cert_verification);
  CHECK(e.library == "SSL");
  CHECK(e.reason == "CERTIFICATE_VERIFY_FAILED");
  CHECK(e.verify_code == 20);
  CHECK(e.verify_message == "unable to get local issuer certificate");
  CHECK(e.message ==
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
        "issuer certificate");
}

// require_ok checks that both handshakes completed.
void require_ok(const Handshake& h) {
  INFO("client: " << describe(h.client_result));
  INFO("server: " << describe(h.server_result));
  REQUIRE(h.ok);
}

constexpr std::uint64_t bits(Options options) { return static_cast<std::uint64_t>(options); }

// server_with loads |issued| (and |chain_pem| after it) into a new server
// context.
Context server_with(const Issued& issued, const std::string& chain_pem = {}) {
  Context ctx(Protocol::tls_server);
  ctx.load_cert_chain_pem(issued.certificate_pem + chain_pem, issued.private_key_pem);
  return ctx;
}

// client_trusting returns a tls_client context that trusts |ca_pem| only.
Context client_trusting(const std::string& ca_pem) {
  Context ctx(Protocol::tls_client);
  ctx.load_verify_locations({.cadata = CaData::pem(ca_pem)});
  return ctx;
}

// other_ca is a second CA, unrelated to test::pki().ca, with a localhost
// certificate of its own.
struct OtherPki {
  CertificateAuthority ca;
  Issued server;
};
const OtherPki& other_pki() {
  static const OtherPki instance = [] {
    CertificateAuthority ca = CertificateAuthority::create("sanstls other CA");
    Issued server = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
    return OtherPki{std::move(ca), std::move(server)};
  }();
  return instance;
}

// peer_certificate returns the DER certificate the client received.
std::string peer_certificate(const Handshake& h) {
  return h.client.getpeercert(sanstls::binary_form).value_or("");
}

}  // namespace

// ---------------------------------------------------------------------------
// Defaults

TEST_CASE("new contexts have Python 3.7's defaults for each protocol", "[context][defaults]") {
  // OP_ALL | OP_NO_SSLv2 | OP_NO_SSLv3 | OP_NO_COMPRESSION |
  // OP_CIPHER_SERVER_PREFERENCE | OP_SINGLE_DH_USE | OP_SINGLE_ECDH_USE |
  // OP_ENABLE_MIDDLEBOX_COMPAT with OpenSSL 1.1.1's values.
  static constexpr std::uint64_t kPython37Options = 0x82520054;
  STATIC_REQUIRE(bits(Options::all | Options::no_sslv2 | Options::no_sslv3 |
                      Options::no_compression | Options::cipher_server_preference |
                      Options::single_dh_use | Options::single_ecdh_use |
                      Options::enable_middlebox_compat) == kPython37Options);

  auto check_common = [](const Context& ctx) {
    CHECK(bits(ctx.options()) == kPython37Options);
    CHECK(has(ctx.options(), Options::all));
    CHECK(has(ctx.options(), Options::no_sslv2));
    CHECK(has(ctx.options(), Options::no_sslv3));
    CHECK(has(ctx.options(), Options::no_compression));
    CHECK(has(ctx.options(), Options::cipher_server_preference));
    CHECK(has(ctx.options(), Options::enable_middlebox_compat));
    CHECK_FALSE(has(ctx.options(), Options::no_tlsv1_3));
    CHECK_FALSE(has(ctx.options(), Options::no_ticket));
    CHECK(ctx.minimum_version() == TLSVersion::minimum_supported);
    CHECK(ctx.maximum_version() == TLSVersion::maximum_supported);
  };

  SECTION("tls_client verifies certificates and host names") {
    Context ctx(Protocol::tls_client);
    CHECK(ctx.protocol() == Protocol::tls_client);
    CHECK(ctx.verify_mode() == VerifyMode::cert_required);
    CHECK(ctx.check_hostname());
    check_common(ctx);
  }
  SECTION("tls_server verifies nothing") {
    Context ctx(Protocol::tls_server);
    CHECK(ctx.protocol() == Protocol::tls_server);
    CHECK(ctx.verify_mode() == VerifyMode::cert_none);
    CHECK_FALSE(ctx.check_hostname());
    check_common(ctx);
  }
  SECTION("tls (the default) verifies nothing") {
    Context ctx;
    CHECK(ctx.protocol() == Protocol::tls);
    CHECK(ctx.verify_mode() == VerifyMode::cert_none);
    CHECK_FALSE(ctx.check_hostname());
    check_common(ctx);
  }
  SECTION("tls1_2 verifies nothing and reports unset version bounds, as Python") {
    Context ctx(Protocol::tls1_2);
    CHECK(ctx.protocol() == Protocol::tls1_2);
    CHECK(ctx.verify_mode() == VerifyMode::cert_none);
    CHECK_FALSE(ctx.check_hostname());
    check_common(ctx);
  }
}

TEST_CASE("a default tls_client and tls_server negotiate TLS 1.3", "[context][defaults]") {
  Handshake h = handshake(test::client_context(), test::server_context());
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.3");
  CHECK(h.server.version().value_or("") == "TLSv1.3");
}

// ---------------------------------------------------------------------------
// verify_mode and check_hostname

TEST_CASE("check_hostname and verify_mode follow Python 3.7's rules", "[context][verify]") {
  SECTION("turning check_hostname on upgrades cert_none to cert_required") {
    Context ctx(Protocol::tls_server);
    REQUIRE(ctx.verify_mode() == VerifyMode::cert_none);
    ctx.set_check_hostname(true);
    CHECK(ctx.check_hostname());
    CHECK(ctx.verify_mode() == VerifyMode::cert_required);
  }
  SECTION("turning check_hostname on keeps cert_optional") {
    Context ctx(Protocol::tls);
    ctx.set_verify_mode(VerifyMode::cert_optional);
    ctx.set_check_hostname(true);
    CHECK(ctx.verify_mode() == VerifyMode::cert_optional);
  }
  SECTION("cert_none is refused while check_hostname is on, and nothing changes") {
    Context ctx(Protocol::tls_client);
    try {
      ctx.set_verify_mode(VerifyMode::cert_none);
      FAIL("set_verify_mode(cert_none) did not throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) ==
            "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
    }
    CHECK(ctx.verify_mode() == VerifyMode::cert_required);
    CHECK(ctx.check_hostname());
  }
  SECTION("turning check_hostname off then allows cert_none") {
    Context ctx(Protocol::tls_client);
    ctx.set_check_hostname(false);
    CHECK(ctx.verify_mode() == VerifyMode::cert_required);  // unchanged by turning it off
    ctx.set_verify_mode(VerifyMode::cert_none);
    CHECK(ctx.verify_mode() == VerifyMode::cert_none);
    CHECK_FALSE(ctx.check_hostname());
  }
  SECTION("every mode round-trips") {
    Context ctx(Protocol::tls);
    for (VerifyMode mode : {VerifyMode::cert_optional, VerifyMode::cert_required,
                            VerifyMode::cert_none}) {
      ctx.set_verify_mode(mode);
      CHECK(ctx.verify_mode() == mode);
    }
  }
  SECTION("an out-of-range mode is refused") {
    Context ctx(Protocol::tls);
    CHECK_THROWS_AS(ctx.set_verify_mode(static_cast<VerifyMode>(3)), std::invalid_argument);
    CHECK(ctx.verify_mode() == VerifyMode::cert_none);
  }
}

TEST_CASE("a client with cert_none and check_hostname off accepts an untrusted server",
          "[context][verify]") {
  Context client(Protocol::tls_client);
  client.set_check_hostname(false);
  client.set_verify_mode(VerifyMode::cert_none);
  Handshake h = handshake(client, test::server_context(), std::nullopt);
  require_ok(h);
}

TEST_CASE("a tls_client that trusts nothing rejects the server's certificate",
          "[context][verify]") {
  require_unknown_issuer(handshake(Context(Protocol::tls_client), test::server_context()));
}

TEST_CASE("check_hostname decides whether a name the certificate lacks is fatal",
          "[context][verify]") {
  Context client = test::client_context();
  SECTION("on: the handshake fails with Python's hostname mismatch error") {
    Handshake h = handshake(client, test::server_context(), "example.com");
    INFO("client: " << describe(h.client_result));
    CHECK_FALSE(h.ok);
    REQUIRE(h.client_result.error);
    const sanstls::Error& e = *h.client_result.error;
    CHECK(e.kind == ErrorKind::cert_verification);
    CHECK(e.verify_code == 62);  // X509_V_ERR_HOSTNAME_MISMATCH
    CHECK(e.verify_message == "Hostname mismatch, certificate is not valid for 'example.com'.");
    CHECK(e.message ==
          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
          "certificate is not valid for 'example.com'.");
  }
  SECTION("on: an IP address the certificate lacks fails too") {
    Handshake h = handshake(client, test::server_context(), "127.0.0.2");
    INFO("client: " << describe(h.client_result));
    CHECK_FALSE(h.ok);
    REQUIRE(h.client_result.error);
    CHECK(h.client_result.error->verify_code == 64);  // X509_V_ERR_IP_ADDRESS_MISMATCH
    CHECK(h.client_result.error->verify_message ==
          "IP address mismatch, certificate is not valid for '127.0.0.2'.");
  }
  SECTION("off: the chain is still verified but the name is not") {
    client.set_check_hostname(false);
    require_ok(handshake(client, test::server_context(), "example.com"));
    require_unknown_issuer(handshake(client, server_with(other_pki().server), "example.com"));
  }
}

TEST_CASE("a server's verify_mode decides whether a client certificate is required",
          "[context][verify]") {
  Context server = test::server_context();
  server.load_verify_locations({.cadata = CaData::pem(test::pki().ca.certificate_pem())});
  Context anonymous = test::client_context();
  Context with_cert = test::client_context();
  with_cert.load_cert_chain_pem(test::pki().client.certificate_pem,
                                test::pki().client.private_key_pem);

  SECTION("cert_none: no certificate is asked for") {
    Handshake h = handshake(with_cert, server);
    require_ok(h);
    CHECK_FALSE(h.server.getpeercert(sanstls::binary_form));
  }
  SECTION("cert_optional: a certificate is used when sent, and not required") {
    server.set_verify_mode(VerifyMode::cert_optional);
    Handshake h = handshake(with_cert, server);
    require_ok(h);
    CHECK(h.server.getpeercert(sanstls::binary_form).value_or("") ==
          test::pki().client.certificate_der);
    require_ok(handshake(anonymous, server));
  }
  SECTION("cert_required: a client without a certificate is refused") {
    server.set_verify_mode(VerifyMode::cert_required);
    require_ok(handshake(with_cert, server));
    Handshake h = handshake(anonymous, server);
    INFO("server: " << describe(h.server_result));
    CHECK_FALSE(h.ok);
    REQUIRE(h.server_result.error);
    CHECK(h.server_result.error->reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE");
  }
  SECTION("cert_required: a client certificate from an unknown CA is refused") {
    server.set_verify_mode(VerifyMode::cert_required);
    Context stranger = test::client_context();
    stranger.load_cert_chain_pem(other_pki().server.certificate_pem,
                                 other_pki().server.private_key_pem);
    Handshake h = handshake(stranger, server);
    INFO("server: " << describe(h.server_result));
    CHECK_FALSE(h.ok);
    REQUIRE(h.server_result.error);
    CHECK(h.server_result.error->kind == ErrorKind::cert_verification);
    CHECK(h.server_result.error->verify_code == 20);
  }
}

// ---------------------------------------------------------------------------
// Options

TEST_CASE("options round-trip every bit, including those BoringSSL ignores",
          "[context][options]") {
  Context ctx;
  const Options defaults = ctx.options();

  SECTION("setting extra bits") {
    Options more = defaults | Options::no_ticket | Options::no_renegotiation | Options::no_tlsv1 |
                   Options::no_tlsv1_1;
    ctx.set_options(more);
    CHECK(bits(ctx.options()) == bits(more));
  }
  SECTION("clearing bits BoringSSL has no use for") {
    Options fewer = defaults & ~(Options::no_compression | Options::all);
    ctx.set_options(fewer);
    CHECK(bits(ctx.options()) == bits(fewer));
    CHECK_FALSE(has(ctx.options(), Options::no_compression));
    CHECK_FALSE(has(ctx.options(), Options::all));
    ctx.set_options(fewer | Options::no_compression);
    CHECK(has(ctx.options(), Options::no_compression));
  }
  SECTION("clearing everything") {
    ctx.set_options(Options::none);
    CHECK(bits(ctx.options()) == 0);
  }
  SECTION("bits no Python constant names are kept too") {
    ctx.set_options(static_cast<Options>(0x1ULL));
    CHECK(bits(ctx.options()) == 0x1);
  }
}

TEST_CASE("no_tlsv1_3 stops TLS 1.3 on either side", "[context][options]") {
  Context client = test::client_context();
  Context server = test::server_context();
  SECTION("on the server") {
    server.set_options(server.options() | Options::no_tlsv1_3);
  }
  SECTION("on the client") {
    client.set_options(client.options() | Options::no_tlsv1_3);
  }
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.2");
  CHECK(h.server.version().value_or("") == "TLSv1.2");
  REQUIRE(h.client.cipher());
  CHECK(h.client.cipher()->protocol == "TLSv1.2");
}

TEST_CASE("clearing no_tlsv1_3 again allows TLS 1.3", "[context][options]") {
  Context server = test::server_context();
  server.set_options(server.options() | Options::no_tlsv1_3);
  server.set_options(server.options() & ~Options::no_tlsv1_3);
  Handshake h = handshake(test::client_context(), server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.3");
}

TEST_CASE("a server without TLS 1.2 and 1.3 cannot talk to a TLS 1.2-at-most client",
          "[context][options]") {
  Context server = test::server_context();
  server.set_options(server.options() | Options::no_tlsv1_2 | Options::no_tlsv1_3);
  Context client = test::client_context();
  client.set_maximum_version(TLSVersion::tlsv1_2);
  client.set_minimum_version(TLSVersion::tlsv1_2);
  Handshake h = handshake(client, server);
  INFO("client: " << describe(h.client_result));
  INFO("server: " << describe(h.server_result));
  CHECK_FALSE(h.ok);
  CHECK(h.client_result.status == Status::error);
  CHECK(h.server_result.status == Status::error);
}

TEST_CASE("without a minimum, a server without TLS 1.2 and 1.3 falls back to TLS 1.1",
          "[context][options]") {
  // minimum_supported is BoringSSL's own floor, TLS 1.0, as OpenSSL 1.1.1's
  // was under Python 3.7: only the client's maximum is lowered here, so the
  // two sides agree on TLS 1.1. (Python 3.10+ raised its floor to TLS 1.2.)
  Context server = test::server_context();
  server.set_options(server.options() | Options::no_tlsv1_2 | Options::no_tlsv1_3);
  Context client = test::client_context();
  client.set_maximum_version(TLSVersion::tlsv1_2);
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.1");
  CHECK(h.server.version().value_or("") == "TLSv1.1");
}

TEST_CASE("cipher_server_preference decides whose cipher order wins", "[context][options]") {
  Context server = test::server_context();
  server.set_maximum_version(TLSVersion::tlsv1_2);
  server.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  Context client = test::client_context();
  client.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256");

  SECTION("on (the default): the server's first choice") {
    REQUIRE(has(server.options(), Options::cipher_server_preference));
    Handshake h = handshake(client, server);
    require_ok(h);
    REQUIRE(h.server.cipher());
    CHECK(h.server.cipher()->name == "ECDHE-ECDSA-AES128-GCM-SHA256");
  }
  SECTION("off: the client's first choice") {
    server.set_options(server.options() & ~Options::cipher_server_preference);
    Handshake h = handshake(client, server);
    require_ok(h);
    REQUIRE(h.server.cipher());
    CHECK(h.server.cipher()->name == "ECDHE-ECDSA-AES256-GCM-SHA384");
  }
}

// ---------------------------------------------------------------------------
// Versions

TEST_CASE("minimum_version and maximum_version round-trip", "[context][versions]") {
  Context ctx;
  for (TLSVersion v : {TLSVersion::tlsv1, TLSVersion::tlsv1_1, TLSVersion::tlsv1_2,
                       TLSVersion::tlsv1_3, TLSVersion::minimum_supported}) {
    ctx.set_minimum_version(v);
    CHECK(ctx.minimum_version() == v);
  }
  for (TLSVersion v : {TLSVersion::tlsv1, TLSVersion::tlsv1_1, TLSVersion::tlsv1_2,
                       TLSVersion::tlsv1_3, TLSVersion::maximum_supported}) {
    ctx.set_maximum_version(v);
    CHECK(ctx.maximum_version() == v);
  }
}

TEST_CASE("the opposite bound's sentinel reads back as a concrete version, as in Python",
          "[context][versions]") {
  // Python 3.7+: minimum_version = MAXIMUM_SUPPORTED reads back as TLSv1_3,
  // maximum_version = MINIMUM_SUPPORTED as TLSv1 (OpenSSL's own bounds).
  Context ctx;
  ctx.set_minimum_version(TLSVersion::maximum_supported);
  CHECK(ctx.minimum_version() == TLSVersion::tlsv1_3);
  ctx.set_maximum_version(TLSVersion::minimum_supported);
  CHECK(ctx.maximum_version() == TLSVersion::tlsv1);
}

TEST_CASE("maximum_version tlsv1_2 negotiates TLS 1.2", "[context][versions]") {
  Context client = test::client_context();
  Context server = test::server_context();
  SECTION("on the client") { client.set_maximum_version(TLSVersion::tlsv1_2); }
  SECTION("on the server") { server.set_maximum_version(TLSVersion::tlsv1_2); }
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.2");
  CHECK(h.server.version().value_or("") == "TLSv1.2");
}

TEST_CASE("a TLS 1.3-only server and a TLS 1.2-at-most client fail with a version error",
          "[context][versions]") {
  Context server = test::server_context();
  server.set_minimum_version(TLSVersion::tlsv1_3);
  Context client = test::client_context();
  client.set_maximum_version(TLSVersion::tlsv1_2);
  Handshake h = handshake(client, server);
  INFO("client: " << describe(h.client_result));
  INFO("server: " << describe(h.server_result));
  CHECK_FALSE(h.ok);

  REQUIRE(h.server_result.status == Status::error);
  REQUIRE(h.server_result.error);
  CHECK(h.server_result.error->kind == ErrorKind::ssl);
  CHECK(h.server_result.error->library == "SSL");
  CHECK(h.server_result.error->reason == "UNSUPPORTED_PROTOCOL");
  CHECK(h.server_result.error->message == "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol");

  // The client hears the server's protocol_version alert.
  REQUIRE(h.client_result.status == Status::error);
  REQUIRE(h.client_result.error);
  CHECK(h.client_result.error->kind == ErrorKind::ssl);
  CHECK(h.client_result.error->library == "SSL");
  CHECK(h.client_result.error->reason == "TLSV1_ALERT_PROTOCOL_VERSION");
}

TEST_CASE("SSLv3 is refused as a version bound, and the bound stays", "[context][versions]") {
  Context ctx;
  ctx.set_minimum_version(TLSVersion::tlsv1_2);
  ctx.set_maximum_version(TLSVersion::tlsv1_3);
  SECTION("minimum") {
    try {
      ctx.set_minimum_version(TLSVersion::sslv3);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("SSLv3"));
    }
    CHECK(ctx.minimum_version() == TLSVersion::tlsv1_2);
  }
  SECTION("maximum") {
    try {
      ctx.set_maximum_version(TLSVersion::sslv3);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("SSLv3"));
    }
    CHECK(ctx.maximum_version() == TLSVersion::tlsv1_3);
  }
}

TEST_CASE("a value that is no TLS version is refused", "[context][versions]") {
  Context ctx;
  CHECK_THROWS_AS(ctx.set_minimum_version(static_cast<TLSVersion>(0x0305)),
                  std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_maximum_version(static_cast<TLSVersion>(0x0200)),
                  std::invalid_argument);
  CHECK(ctx.minimum_version() == TLSVersion::minimum_supported);
  CHECK(ctx.maximum_version() == TLSVersion::maximum_supported);
}

TEST_CASE("a context pinned to TLS 1.2 refuses version bounds with Python's message",
          "[context][versions]") {
  Context ctx(Protocol::tls1_2);
  const std::string expected =
      "The context's protocol doesn't support modification of highest and lowest version.";
  for (TLSVersion v : {TLSVersion::tlsv1_2, TLSVersion::tlsv1_3, TLSVersion::minimum_supported}) {
    try {
      ctx.set_minimum_version(v);
      FAIL("set_minimum_version did not throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == expected);
    }
    try {
      ctx.set_maximum_version(v);
      FAIL("set_maximum_version did not throw");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == expected);
    }
  }
}

TEST_CASE("a TLS 1.2-pinned client against a default server negotiates TLS 1.2",
          "[context][versions]") {
  Context client(Protocol::tls1_2);
  client.set_verify_mode(VerifyMode::cert_required);
  client.load_verify_locations({.cadata = CaData::pem(test::pki().ca.certificate_pem())});
  Handshake h = handshake(client, test::server_context());
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.2");
  CHECK(h.server.version().value_or("") == "TLSv1.2");
}

TEST_CASE("pinned legacy protocols negotiate exactly their version", "[context][versions]") {
  auto [protocol, expected] = GENERATE(table<Protocol, std::string>({
      {Protocol::tls1, "TLSv1"},
      {Protocol::tls1_1, "TLSv1.1"},
      {Protocol::tls1_2, "TLSv1.2"},
  }));
  INFO("expecting " << expected);
  Context client(protocol);
  Handshake h = handshake(client, test::server_context());
  require_ok(h);
  CHECK(h.client.version().value_or("") == expected);
  CHECK(h.server.version().value_or("") == expected);
}

TEST_CASE("a protocol value Python does not define is refused", "[context][versions]") {
  CHECK_THROWS_AS(Context(static_cast<Protocol>(99)), std::invalid_argument);
  CHECK_THROWS_AS(Context(static_cast<Protocol>(0)), std::invalid_argument);  // PROTOCOL_SSLv2
  CHECK_THROWS_AS(Context(static_cast<Protocol>(1)), std::invalid_argument);  // PROTOCOL_SSLv3
}

TEST_CASE("a TLS 1.2-pinned server against a TLS 1.3-only client fails", "[context][versions]") {
  Context server(Protocol::tls1_2);
  server.load_cert_chain_pem(test::pki().server.certificate_pem,
                             test::pki().server.private_key_pem);
  Context client = test::client_context();
  client.set_minimum_version(TLSVersion::tlsv1_3);
  Handshake h = handshake(client, server);
  CHECK_FALSE(h.ok);
  CHECK(h.client_result.status == Status::error);
  CHECK(h.server_result.status == Status::error);
}

// ---------------------------------------------------------------------------
// load_cert_chain from files

TEST_CASE("load_cert_chain reads the certificate and key from files", "[context][cert_chain]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  Context ctx(Protocol::tls_server);

  SECTION("in separate files") {
    ctx.load_cert_chain(dir.write("cert.pem", server.certificate_pem),
                        dir.write("key.pem", server.private_key_pem));
  }
  SECTION("in one file, certificate first") {
    ctx.load_cert_chain(dir.write("both.pem", server.certificate_pem + server.private_key_pem));
  }
  SECTION("in one file, key first") {
    ctx.load_cert_chain(dir.write("both.pem", server.private_key_pem + server.certificate_pem));
  }
  SECTION("with text around the PEM blocks") {
    ctx.load_cert_chain(dir.write("both.pem", "Subject: localhost\n" + server.certificate_pem +
                                                  "some comment\n" + server.private_key_pem +
                                                  "trailing text\n"));
  }
  Handshake h = handshake(test::client_context(), ctx);
  require_ok(h);
  CHECK(peer_certificate(h) == server.certificate_der);
}

TEST_CASE("load_cert_chain reports a missing file as ENOENT", "[context][cert_chain]") {
  TempDir dir;
  Context ctx(Protocol::tls_server);
  SECTION("certfile") {
    try {
      ctx.load_cert_chain(dir.path("missing.pem"));
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
      CHECK(e.code() == std::errc::no_such_file_or_directory);
      CHECK_THAT(e.what(), Catch::Contains("missing.pem"));
    }
  }
  SECTION("keyfile") {
    std::string cert = dir.write("cert.pem", test::pki().server.certificate_pem);
    try {
      ctx.load_cert_chain(cert, dir.path("missing-key.pem"));
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
      CHECK_THAT(e.what(), Catch::Contains("missing-key.pem"));
    }
  }
}

TEST_CASE("load_cert_chain rejects broken PEM with an SSLError", "[context][cert_chain]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  Context ctx(Protocol::tls_server);
  std::string cert_file;
  std::string key_file = dir.write("key.pem", server.private_key_pem);

  SECTION("garbage") { cert_file = dir.write("cert.pem", "this is not a certificate\n"); }
  SECTION("an empty file") { cert_file = dir.write("cert.pem", ""); }
  SECTION("truncated base64") {
    // Keep the BEGIN line and half of the body: no END line.
    cert_file = dir.write("cert.pem",
                          server.certificate_pem.substr(0, server.certificate_pem.size() / 2));
  }
  SECTION("base64 with its middle cut out") {
    std::string pem = server.certificate_pem;
    std::size_t body = pem.find('\n') + 1;
    pem.erase(body + 10, 40);
    cert_file = dir.write("cert.pem", pem);
  }
  SECTION("a key where the certificate should be") {
    cert_file = dir.write("cert.pem", server.private_key_pem);
  }
  try {
    ctx.load_cert_chain(cert_file, key_file);
    FAIL("no exception");
  } catch (const sanstls::SSLError& e) {
    INFO("what(): " << e.what());
    CHECK_FALSE(std::string(e.what()).empty());
    CHECK_THAT(e.what(), Catch::Contains("PEM"));
    CHECK_THAT(e.what(), Catch::StartsWith("[SSL] PEM lib: no certificate found"));
    CHECK(e.reason() == "PEM_LIB");
  }
}

TEST_CASE("load_cert_chain rejects a broken or missing key with an SSLError",
          "[context][cert_chain]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  Context ctx(Protocol::tls_server);
  std::string cert_file = dir.write("cert.pem", server.certificate_pem);
  std::string key_file;
  SECTION("no key in the certificate file") { key_file = ""; }
  SECTION("garbage key file") { key_file = dir.write("key.pem", "garbage\n"); }
  SECTION("empty key file") { key_file = dir.write("key.pem", ""); }
  SECTION("truncated key") {
    key_file = dir.write("key.pem", server.private_key_pem.substr(0, 60));
  }
  try {
    ctx.load_cert_chain(cert_file, key_file);
    FAIL("no exception");
  } catch (const sanstls::SSLError& e) {
    INFO("what(): " << e.what());
    CHECK_THAT(e.what(), Catch::Contains("PEM"));
    CHECK_THAT(e.what(), Catch::StartsWith("[SSL] PEM lib: no private key found"));
    CHECK(e.reason() == "PEM_LIB");
  }
}

TEST_CASE("load_cert_chain rejects a key that does not match the certificate",
          "[context][cert_chain]") {
  TempDir dir;
  Context ctx(Protocol::tls_server);
  try {
    ctx.load_cert_chain(dir.write("cert.pem", test::pki().server.certificate_pem),
                        dir.write("key.pem", test::pki().client.private_key_pem));
    FAIL("no exception");
  } catch (const sanstls::SSLError& e) {
    CHECK_THAT(e.what(), Catch::Contains("KEY_VALUES_MISMATCH"));
    CHECK(e.library() == "X509");
    CHECK(e.reason() == "KEY_VALUES_MISMATCH");
  }
}

TEST_CASE("load_cert_chain opens an encrypted key with the right password",
          "[context][cert_chain][password]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  std::string encrypted = server.encrypted_private_key_pem("secret");
  REQUIRE_THAT(encrypted, Catch::Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  std::string cert_file = dir.write("cert.pem", server.certificate_pem);
  std::string key_file = dir.write("key.pem", encrypted);
  Context ctx(Protocol::tls_server);

  SECTION("as text") { ctx.load_cert_chain(cert_file, key_file, "secret"); }
  SECTION("as a std::string, converted implicitly") {
    const std::string secret = "secret";
    ctx.load_cert_chain(cert_file, key_file, secret);
  }
  SECTION("as an explicit Password from a std::string") {
    const std::string secret = "secret";
    ctx.load_cert_chain(cert_file, key_file, sanstls::Password(secret));
  }
  SECTION("from a callback, called exactly once") {
    int calls = 0;
    ctx.load_cert_chain(cert_file, key_file, sanstls::Password::Callback([&calls] {
                          ++calls;
                          return std::string("secret");
                        }));
    CHECK(calls == 1);
  }
  SECTION("in a combined file") {
    ctx.load_cert_chain(dir.write("both.pem", server.certificate_pem + encrypted), {}, "secret");
  }
  Handshake h = handshake(test::client_context(), ctx);
  require_ok(h);
  CHECK(peer_certificate(h) == server.certificate_der);
}

TEST_CASE("a password callback is not called for a key that is not encrypted",
          "[context][cert_chain][password]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  Context ctx(Protocol::tls_server);
  int calls = 0;
  ctx.load_cert_chain(dir.write("cert.pem", server.certificate_pem),
                      dir.write("key.pem", server.private_key_pem),
                      sanstls::Password::Callback([&calls] {
                        ++calls;
                        return std::string("unused");
                      }));
  CHECK(calls == 0);
  // A text password is ignored as well.
  ctx.load_cert_chain(dir.path("cert.pem"), dir.path("key.pem"), "unused");
  require_ok(handshake(test::client_context(), ctx));
}

TEST_CASE("load_cert_chain fails cleanly on a wrong or missing password",
          "[context][cert_chain][password]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  std::string cert_file = dir.write("cert.pem", server.certificate_pem);
  std::string key_file = dir.write("key.pem", server.encrypted_private_key_pem("secret"));
  Context ctx(Protocol::tls_server);

  SECTION("wrong text") {
    CHECK_THROWS_AS(ctx.load_cert_chain(cert_file, key_file, "wrong"), sanstls::SSLError);
  }
  SECTION("wrong text from a callback") {
    int calls = 0;
    CHECK_THROWS_AS(ctx.load_cert_chain(cert_file, key_file, sanstls::Password::Callback([&calls] {
                                          ++calls;
                                          return std::string("wrong");
                                        })),
                    sanstls::SSLError);
    CHECK(calls == 1);
  }
  SECTION("empty password") {
    CHECK_THROWS_AS(ctx.load_cert_chain(cert_file, key_file, ""), sanstls::SSLError);
  }
  SECTION("no password: an error, never a prompt") {
    // If BoringSSL prompted on the terminal this would block; the test's
    // timeout would catch it.
    CHECK_THROWS_AS(ctx.load_cert_chain(cert_file, key_file), sanstls::SSLError);
  }
}

TEST_CASE("a wrong password's SSLError names a library and a reason code",
          "[context][cert_chain][password]") {
  // Regression test: BoringSSL queues a generic PEM/ERR_R_ASN1_LIB entry
  // ("asn.1 encoding routines", a library description, not a reason code)
  // on top of CIPHER/BAD_DECRYPT. The error must be Python's "[SSL] PEM lib"
  // with reason PEM_LIB, and its detail must come from the specific entry.
  const Issued& server = test::pki().server;
  Context ctx(Protocol::tls_server);
  try {
    ctx.load_cert_chain_pem(server.certificate_pem, server.encrypted_private_key_pem("secret"),
                            "wrong");
    FAIL("no exception");
  } catch (const sanstls::SSLError& e) {
    INFO("what(): " << e.what() << " library=" << e.library() << " reason=" << e.reason());
    CHECK_FALSE(e.library().empty());
    CHECK_FALSE(e.reason().empty());
    CHECK(e.reason().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
          std::string::npos);
    CHECK(e.library() == "SSL");
    CHECK(e.reason() == "PEM_LIB");
    // The detail depends on the random key and salt: a wrong password
    // usually breaks the CBC padding (CIPHER: BAD_DECRYPT), but about one
    // time in 256 the padding happens to be valid and the garbage fails to
    // parse instead (EVP: DECODE_ERROR).
    const std::string what = e.what();
    CHECK_THAT(what, Catch::StartsWith(
                         "[SSL] PEM lib: the private key cannot be decrypted: wrong password? ("));
    CHECK((what.find("[CIPHER: BAD_DECRYPT] bad decrypt)") != std::string::npos ||
           what.find("[EVP: DECODE_ERROR] decode error)") != std::string::npos));
  }
}

namespace {
struct PasswordCallbackFailure {
  int id;
};
}  // namespace

TEST_CASE("an exception thrown by the password callback comes out of load_cert_chain",
          "[context][cert_chain][password]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  std::string cert_file = dir.write("cert.pem", server.certificate_pem);
  std::string key_file = dir.write("key.pem", server.encrypted_private_key_pem("secret"));
  Context ctx(Protocol::tls_server);
  SECTION("a type of the caller's own") {
    try {
      ctx.load_cert_chain(cert_file, key_file,
                          sanstls::Password::Callback(
                              []() -> std::string { throw PasswordCallbackFailure{42}; }));
      FAIL("no exception");
    } catch (const PasswordCallbackFailure& e) {
      CHECK(e.id == 42);
    }
  }
  SECTION("a standard exception keeps its type and message") {
    try {
      ctx.load_cert_chain(cert_file, key_file, sanstls::Password::Callback([]() -> std::string {
                            throw std::out_of_range("no password today");
                          }));
      FAIL("no exception");
    } catch (const std::out_of_range& e) {
      CHECK(std::string(e.what()) == "no password today");
    }
  }
}

TEST_CASE("a password longer than BoringSSL's buffer is refused", "[context][cert_chain][password]") {
  const Issued& server = test::pki().server;
  const std::string key = server.encrypted_private_key_pem("secret");
  const std::string huge(5000, 'x');
  Context ctx(Protocol::tls_server);
  SECTION("as text") {
    try {
      ctx.load_cert_chain_pem(server.certificate_pem, key, sanstls::Password(huge));
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("password"));
    }
  }
  SECTION("from a callback") {
    CHECK_THROWS_AS(ctx.load_cert_chain_pem(server.certificate_pem, key,
                                            sanstls::Password::Callback([&] { return huge; })),
                    std::invalid_argument);
  }
}

TEST_CASE("a failed load_cert_chain keeps the previous certificate working",
          "[context][cert_chain]") {
  TempDir dir;
  const Issued& server = test::pki().server;
  const Issued& other = other_pki().server;
  Context ctx = test::server_context();

  SECTION("key mismatch") {
    CHECK_THROWS_AS(ctx.load_cert_chain_pem(other.certificate_pem, server.private_key_pem),
                    sanstls::SSLError);
  }
  SECTION("wrong password") {
    CHECK_THROWS_AS(ctx.load_cert_chain_pem(other.certificate_pem,
                                            other.encrypted_private_key_pem("secret"), "wrong"),
                    sanstls::SSLError);
  }
  SECTION("callback that throws") {
    CHECK_THROWS_AS(ctx.load_cert_chain_pem(other.certificate_pem,
                                            other.encrypted_private_key_pem("secret"),
                                            sanstls::Password::Callback([]() -> std::string {
                                              throw std::runtime_error("no");
                                            })),
                    std::runtime_error);
  }
  SECTION("broken PEM") {
    CHECK_THROWS_AS(ctx.load_cert_chain_pem("garbage", other.private_key_pem), sanstls::SSLError);
  }
  SECTION("a broken second certificate in the chain") {
    std::string broken_chain = other.certificate_pem +
                               "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n";
    CHECK_THROWS_AS(ctx.load_cert_chain_pem(broken_chain, other.private_key_pem),
                    sanstls::SSLError);
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(ctx.load_cert_chain(dir.path("missing.pem")), std::system_error);
  }
  Handshake h = handshake(test::client_context(), ctx);
  require_ok(h);
  CHECK(peer_certificate(h) == server.certificate_der);
}

TEST_CASE("a second load_cert_chain replaces the first", "[context][cert_chain]") {
  Context ctx = test::server_context();
  ctx.load_cert_chain_pem(other_pki().server.certificate_pem, other_pki().server.private_key_pem);
  Handshake h = handshake(client_trusting(other_pki().ca.certificate_pem()), ctx);
  require_ok(h);
  CHECK(peer_certificate(h) == other_pki().server.certificate_der);
}

TEST_CASE("load_cert_chain_pem sends the intermediates so the root alone verifies",
          "[context][cert_chain]") {
  CertificateAuthority root = CertificateAuthority::create("chain root");
  CertificateAuthority inter = root.intermediate("Inter");
  Issued leaf = inter.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  Context client = client_trusting(root.certificate_pem());

  SECTION("leaf + intermediate verifies") {
    require_ok(handshake(client, server_with(leaf, inter.certificate_pem())));
  }
  SECTION("leaf + intermediate with the key in the same text verifies") {
    Context server(Protocol::tls_server);
    server.load_cert_chain_pem(leaf.certificate_pem + inter.certificate_pem() +
                               leaf.private_key_pem);
    require_ok(handshake(client, server));
  }
  SECTION("leaf alone does not") { require_unknown_issuer(handshake(client, server_with(leaf))); }
  SECTION("reloading without the intermediate drops it") {
    Context server = server_with(leaf, inter.certificate_pem());
    server.load_cert_chain_pem(leaf.certificate_pem, leaf.private_key_pem);
    require_unknown_issuer(handshake(client, server));
  }
}

TEST_CASE("load_cert_chain reads a chain file", "[context][cert_chain]") {
  TempDir dir;
  CertificateAuthority root = CertificateAuthority::create("chain root");
  CertificateAuthority inter = root.intermediate("Inter");
  Issued leaf = inter.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  Context server(Protocol::tls_server);
  server.load_cert_chain(dir.write("chain.pem", leaf.certificate_pem + inter.certificate_pem()),
                         dir.write("key.pem", leaf.private_key_pem));
  require_ok(handshake(client_trusting(root.certificate_pem()), server));
}

TEST_CASE("an encrypted key of each type loads with its password", "[context][cert_chain]") {
  using sanstls::testing::KeyType;
  for (KeyType type : {KeyType::ec_p256, KeyType::rsa2048, KeyType::ed25519}) {
    INFO("key type " << static_cast<int>(type));
    Issued leaf = test::pki().ca.issue(
        {.common_name = "localhost", .dns_names = {"localhost"}, .key_type = type});
    Context server(Protocol::tls_server);
    CHECK_THROWS_AS(
        server.load_cert_chain_pem(leaf.certificate_pem, leaf.encrypted_private_key_pem("pw"), "no"),
        sanstls::SSLError);
    server.load_cert_chain_pem(leaf.certificate_pem, leaf.encrypted_private_key_pem("pw"), "pw");
    Handshake h = handshake(test::client_context(), server);
    require_ok(h);
    CHECK(peer_certificate(h) == leaf.certificate_der);
  }
}

namespace {
// python_data returns the path of one of CPython's test files (see
// test/data/README.md).
std::string python_data(const std::string& name) { return test::data_path("python/" + name); }

// ssl_error_text returns what() of the SSLError |load| throws, or a note
// saying it threw nothing or something else.
template <typename F>
std::string ssl_error_text(F&& load) {
  try {
    load();
  } catch (const sanstls::SSLError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an SSLError: ") + e.what() + ">";
  }
  return "<no exception>";
}
}  // namespace

TEST_CASE("load_cert_chain handles CPython's test files as test_ssl expects",
          "[context][cert_chain][python]") {
  // The assertions of CPython's test_ssl.ContextTests.test_load_cert_chain.
  Context ctx(Protocol::tls_server);
  SECTION("combined key and certificate in one file") {
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("keycert.pem")));
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("keycert.pem"), python_data("keycert.pem")));
  }
  SECTION("separate key and certificate") {
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("ssl_cert.pem"), python_data("ssl_key.pem")));
  }
  SECTION("a missing file is ENOENT") {
    try {
      ctx.load_cert_chain(python_data("nonexisting.pem"));
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
    }
  }
  SECTION("password-protected key with the password, as text and from a callback") {
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("keycert.passwd.pem"), {}, "somepass"));
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("ssl_cert.pem"),
                                      python_data("ssl_key.passwd.pem"), "somepass"));
    CHECK_NOTHROW(ctx.load_cert_chain(python_data("keycert.passwd.pem"), {},
                                      sanstls::Password::Callback([] { return "somepass"; })));
  }
  SECTION("password-protected key with a bad password") {
    CHECK_THROWS_AS(ctx.load_cert_chain(python_data("keycert.passwd.pem"), {}, "badpass"),
                    sanstls::SSLError);
    CHECK_THROWS_AS(ctx.load_cert_chain(python_data("keycert.passwd.pem"), {},
                                        sanstls::Password::Callback([] { return "badpass"; })),
                    sanstls::SSLError);
  }
  SECTION("a password longer than the buffer: \"cannot be longer\"") {
    const std::string huge(102400, 'a');
    try {
      ctx.load_cert_chain(python_data("keycert.passwd.pem"), {}, sanstls::Password(huge));
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("cannot be longer"));
    }
    CHECK_THROWS_WITH(
        ctx.load_cert_chain(python_data("keycert.passwd.pem"), {},
                            sanstls::Password::Callback([] { return std::string(1 << 20, 'a'); })),
        Catch::Contains("cannot be longer"));
  }
  SECTION("mismatching key and certificate: \"key values mismatch\"") {
    CHECK_THAT(ssl_error_text([&] {
                 ctx.load_cert_chain(python_data("pycacert.pem"), python_data("ssl_key.pem"));
               }),
               Catch::Contains("key values mismatch"));
  }
}

TEST_CASE("load_cert_chain's broken-PEM errors say \"PEM lib\", as Python's",
          "[context][cert_chain][python]") {
  // Regression test: CPython's test_load_cert_chain expects an SSLError
  // matching "PEM lib" for each of these (Python 3.7 and 3.11 both say
  // "[SSL] PEM lib (_ssl.c:NNNN)", also for a bad password). BoringSSL
  // always queues its own finding ("[PEM: NO_START_LINE] no start line",
  // ...), which must not replace Python's text: it only follows as detail.
  Context ctx(Protocol::tls_server);
  // pem_lib checks the SSLError |load| throws: Python's "[SSL] PEM lib"
  // with reason PEM_LIB, followed by what was wrong (|detail|).
  auto pem_lib = [](auto&& load, const std::string& detail) {
    try {
      load();
      FAIL("no exception");
    } catch (const sanstls::SSLError& e) {
      INFO("what(): " << e.what() << " library=" << e.library() << " reason=" << e.reason());
      CHECK_THAT(e.what(), Catch::Contains("PEM lib"));
      CHECK_THAT(e.what(), Catch::StartsWith("[SSL] PEM lib"));
      CHECK(e.library() == "SSL");
      CHECK(e.reason() == "PEM_LIB");
      CHECK(std::string(e.what()) == "[SSL] PEM lib: " + detail);
    }
  };
  auto load = [&ctx](const std::string& certfile, const std::string& keyfile) {
    return [&ctx, certfile, keyfile] { ctx.load_cert_chain(certfile, keyfile); };
  };
  const std::string no_start_line = "([PEM: NO_START_LINE] no start line)";
  const std::string bad_base64 = "([PEM: BAD_BASE64_DECODE] bad base64 decode)";
  SECTION("badcert.pem") {
    pem_lib(load(python_data("badcert.pem"), {}), "no certificate found " + bad_base64);
  }
  SECTION("nullcert.pem (empty)") {
    pem_lib(load(python_data("nullcert.pem"), {}), "no certificate found " + no_start_line);
  }
  SECTION("certificate without key") {
    pem_lib(load(python_data("ssl_cert.pem"), {}), "no private key found " + no_start_line);
  }
  SECTION("key without certificate") {
    pem_lib(load(python_data("ssl_key.pem"), {}), "no certificate found " + no_start_line);
  }
  SECTION("key and certificate swapped") {
    pem_lib(load(python_data("ssl_key.pem"), python_data("ssl_cert.pem")),
            "no certificate found " + no_start_line);
  }
  SECTION("badkey.pem") {
    // Its broken key block comes first and fails the base64 decoding of the
    // search for the certificate.
    pem_lib(load(python_data("badkey.pem"), {}), "no certificate found " + bad_base64);
  }
  SECTION("keycert.passwd.pem with a bad password") {
    pem_lib([&] { ctx.load_cert_chain(python_data("keycert.passwd.pem"), {}, "badpass"); },
            "the private key cannot be decrypted: wrong password? "
            "([CIPHER: BAD_DECRYPT] bad decrypt)");
  }
}

TEST_CASE("a server with CPython's keycert3.pem verifies against pycacert.pem",
          "[context][verify_locations][python]") {
  Context server(Protocol::tls_server);
  // keycert3.pem has the key first, then the certificate, with text dumps.
  server.load_cert_chain(python_data("keycert3.pem"));
  Context client(Protocol::tls_client);
  SECTION("cafile") { client.load_verify_locations({.cafile = python_data("pycacert.pem")}); }
  SECTION("capath with OpenSSL's hashed names") {
    client.load_verify_locations({.capath = python_data("capath")});
  }
  SECTION("cadata with the text dump around the PEM block") {
    std::ifstream in(python_data("pycacert.pem"));
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE_THAT(pem, Catch::StartsWith("Certificate:"));
    client.load_verify_locations({.cadata = CaData::pem(pem)});
  }
  SECTION("nothing: the handshake fails") {
    require_unknown_issuer(handshake(client, server));
    return;
  }
  Handshake h = handshake(client, server);
  require_ok(h);
}

// ---------------------------------------------------------------------------
// load_verify_locations

TEST_CASE("load_verify_locations needs at least one location", "[context][verify_locations]") {
  Context ctx(Protocol::tls_client);
  try {
    ctx.load_verify_locations({});
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "cafile, capath and cadata cannot be all omitted");
  }
}

TEST_CASE("load_verify_locations cafile trusts the CAs in a PEM file",
          "[context][verify_locations]") {
  TempDir dir;
  Context client(Protocol::tls_client);
  SECTION("with the right CA") {
    client.load_verify_locations({.cafile = dir.write("ca.pem", test::pki().ca.certificate_pem())});
    require_ok(handshake(client, test::server_context()));
  }
  SECTION("with several CAs and text around them") {
    client.load_verify_locations(
        {.cafile = dir.write("ca.pem", "# bundle\n" + other_pki().ca.certificate_pem() +
                                           "\nCA number two\n" +
                                           test::pki().ca.certificate_pem() + "\n")});
    require_ok(handshake(client, test::server_context()));
    require_ok(handshake(client, server_with(other_pki().server)));
  }
  SECTION("with another CA only") {
    client.load_verify_locations(
        {.cafile = dir.write("ca.pem", other_pki().ca.certificate_pem())});
    require_unknown_issuer(handshake(client, test::server_context()));
  }
}

TEST_CASE("load_verify_locations cadata PEM trusts several certificates in one string",
          "[context][verify_locations]") {
  const std::string both = other_pki().ca.certificate_pem() + test::pki().ca.certificate_pem();
  SECTION("both CAs are trusted") {
    Context client = client_trusting(both);
    require_ok(handshake(client, test::server_context()));
    require_ok(handshake(client, server_with(other_pki().server)));
  }
  SECTION("without them the same servers fail") {
    Context client = client_trusting(CertificateAuthority::create("third").certificate_pem());
    require_unknown_issuer(handshake(client, test::server_context()));
    require_unknown_issuer(handshake(client, server_with(other_pki().server)));
  }
}

TEST_CASE("load_verify_locations cadata DER trusts concatenated certificates",
          "[context][verify_locations]") {
  const std::string der =
      other_pki().ca.root().certificate_der + test::pki().ca.root().certificate_der;
  Context client(Protocol::tls_client);
  SECTION("both CAs are trusted") {
    client.load_verify_locations({.cadata = CaData::der(sanstls::as_bytes(der))});
    require_ok(handshake(client, test::server_context()));
    require_ok(handshake(client, server_with(other_pki().server)));
  }
  SECTION("only the first of them") {
    client.load_verify_locations(
        {.cadata = CaData::der(sanstls::as_bytes(other_pki().ca.root().certificate_der))});
    require_ok(handshake(client, server_with(other_pki().server)));
    require_unknown_issuer(handshake(client, test::server_context()));
  }
}

TEST_CASE("load_verify_locations accepts the same CA twice, as Python",
          "[context][verify_locations]") {
  // Python 3.7 ignores X509_R_CERT_ALREADY_IN_HASH_TABLE.
  Context client(Protocol::tls_client);
  client.load_verify_locations({.cadata = CaData::pem(test::pki().ca.certificate_pem())});
  CHECK_NOTHROW(
      client.load_verify_locations({.cadata = CaData::pem(test::pki().ca.certificate_pem())}));
  CHECK_NOTHROW(client.load_verify_locations(
      {.cadata = CaData::der(sanstls::as_bytes(test::pki().ca.root().certificate_der))}));
  require_ok(handshake(client, test::server_context()));
}

TEST_CASE("load_verify_locations reports missing files and directories as system errors",
          "[context][verify_locations]") {
  TempDir dir;
  Context client(Protocol::tls_client);
  SECTION("cafile") {
    try {
      client.load_verify_locations({.cafile = dir.path("missing.pem")});
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
    }
  }
  SECTION("capath") {
    try {
      client.load_verify_locations({.capath = dir.path("missing-dir")});
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
    }
  }
}

TEST_CASE("load_verify_locations capath finds CAs by subject hash", "[context][verify_locations]") {
  TempDir dir;
  // OpenSSL's hashed layout: <subject hash>.0 holds the CA certificate.
  const std::string& der = test::pki().ca.root().certificate_der;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  bssl::UniquePtr<X509> ca(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(ca);
  char name[32];
  std::snprintf(name, sizeof name, "%08lx.0",
                static_cast<unsigned long>(X509_subject_name_hash(ca.get())));

  Context client(Protocol::tls_client);
  SECTION("the CA's hash file is there") {
    dir.write(name, test::pki().ca.certificate_pem());
    client.load_verify_locations({.capath = dir.path("")});
    require_ok(handshake(client, test::server_context()));
  }
  SECTION("an empty directory trusts nothing") {
    client.load_verify_locations({.capath = dir.path("")});
    require_unknown_issuer(handshake(client, test::server_context()));
  }
}

TEST_CASE("load_verify_locations cadata without a certificate is an SSLError",
          "[context][verify_locations]") {
  Context client(Protocol::tls_client);
  SECTION("PEM garbage") {
    CHECK_THROWS_AS(client.load_verify_locations({.cadata = CaData::pem("garbage")}),
                    sanstls::SSLError);
  }
  SECTION("PEM with only a private key") {
    CHECK_THROWS_AS(
        client.load_verify_locations({.cadata = CaData::pem(test::pki().server.private_key_pem)}),
        sanstls::SSLError);
  }
  SECTION("PEM with broken base64") {
    CHECK_THROWS_AS(client.load_verify_locations({.cadata = CaData::pem(
                                                      "-----BEGIN CERTIFICATE-----\n!!!!\n"
                                                      "-----END CERTIFICATE-----\n")}),
                    sanstls::SSLError);
  }
  SECTION("DER garbage") {
    CHECK_THROWS_AS(
        client.load_verify_locations({.cadata = CaData::der(sanstls::as_bytes("garbage"))}),
        sanstls::SSLError);
  }
  SECTION("a valid DER certificate followed by garbage") {
    std::string der = test::pki().ca.root().certificate_der + "xx";
    CHECK_THROWS_AS(client.load_verify_locations({.cadata = CaData::der(sanstls::as_bytes(der))}),
                    sanstls::SSLError);
  }
  SECTION("a cafile holding garbage") {
    TempDir dir;
    CHECK_THROWS_AS(
        client.load_verify_locations({.cafile = dir.write("ca.pem", "no certificates here\n")}),
        sanstls::SSLError);
  }
}

TEST_CASE("load_verify_locations with empty cadata throws invalid_argument (Python's ValueError)",
          "[context][verify_locations]") {
  // Regression test: Python 3.7's _add_ca_certs raises
  // ValueError("Empty certificate data") for an empty str or bytes before
  // looking for certificates (Python 3.11 still does), so empty cadata must
  // not be reported as an SSLError about data holding no certificate.
  Context client(Protocol::tls_client);
  CHECK_THROWS_AS(client.load_verify_locations({.cadata = CaData::pem("")}),
                  std::invalid_argument);
  CHECK_THROWS_AS(client.load_verify_locations({.cadata = CaData::der({})}),
                  std::invalid_argument);
  CHECK_THROWS_WITH(client.load_verify_locations({.cadata = CaData::pem("")}),
                    "Empty certificate data");
  CHECK_THROWS_WITH(client.load_verify_locations({.cadata = CaData::der({})}),
                    "Empty certificate data");
}

// ---------------------------------------------------------------------------
// set_ciphers

TEST_CASE("set_ciphers restricts the TLS 1.2 cipher", "[context][ciphers]") {
  Context server = test::server_context();
  server.set_maximum_version(TLSVersion::tlsv1_2);
  for (const char* name : {"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-GCM-SHA384",
                           "ECDHE-ECDSA-AES128-GCM-SHA256"}) {
    INFO(name);
    SECTION(std::string("server: ") + name) {
      server.set_ciphers(name);
      Handshake h = handshake(test::client_context(), server);
      require_ok(h);
      REQUIRE(h.client.cipher());
      CHECK(h.client.cipher()->name == name);
      CHECK(h.client.cipher()->protocol == "TLSv1.2");
      REQUIRE(h.server.cipher());
      CHECK(h.server.cipher()->name == name);
    }
    SECTION(std::string("client: ") + name) {
      Context client = test::client_context();
      client.set_ciphers(name);
      Handshake h = handshake(client, server);
      require_ok(h);
      REQUIRE(h.client.cipher());
      CHECK(h.client.cipher()->name == name);
    }
  }
}

TEST_CASE("set_ciphers with no common cipher fails the TLS 1.2 handshake", "[context][ciphers]") {
  Context server = test::server_context();
  server.set_maximum_version(TLSVersion::tlsv1_2);
  server.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256");
  Context client = test::client_context();
  client.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384");
  Handshake h = handshake(client, server);
  INFO("server: " << describe(h.server_result));
  CHECK_FALSE(h.ok);
  REQUIRE(h.server_result.error);
  CHECK(h.server_result.error->reason == "NO_SHARED_CIPHER");
}

TEST_CASE("set_ciphers does not touch the TLS 1.3 suites", "[context][ciphers]") {
  Context server = test::server_context();
  server.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384");
  Handshake h = handshake(test::client_context(), server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.3");
  REQUIRE(h.client.cipher());
  CHECK_THAT(h.client.cipher()->name, Catch::StartsWith("TLS_"));
  CHECK(h.client.cipher()->protocol == "TLSv1.3");
}

TEST_CASE("set_ciphers that selects nothing throws \"No cipher can be selected.\"",
          "[context][ciphers]") {
  // Python (on OpenSSL 1.1.1 and 3) raises SSLError("No cipher can be
  // selected.") for each of these strings.
  Context ctx;
  for (const char* bad : {"NO-SUCH-CIPHER", "", "!ALL", "NO-SUCH-CIPHER:ALSO-NOT-ONE"}) {
    INFO("cipher string: '" << bad << "'");
    try {
      ctx.set_ciphers(bad);
      FAIL("no exception");
    } catch (const sanstls::SSLError& e) {
      CHECK(std::string(e.what()) == "No cipher can be selected.");
    }
  }
}

TEST_CASE("a failed set_ciphers keeps the previous TLS 1.2 list, as context.hpp promises",
          "[context][ciphers]") {
  // Regression test: a failed SSL_CTX_set_cipher_list (SSL_R_NO_CIPHER_MATCH)
  // leaves the SSL_CTX with an empty cipher list, which would fail every
  // later TLS 1.2 handshake with NO_SHARED_CIPHER. context.hpp promises the
  // previous list stays. (OpenSSL, and so Python, replaces the TLS 1.2 list
  // before failing: the header's promise is stronger than Python's.)
  Context server = test::server_context();
  server.set_maximum_version(TLSVersion::tlsv1_2);
  server.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384");
  REQUIRE(sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(sanstls::native_handle(server))) == 1);

  const char* bad = GENERATE("NO-SUCH-CIPHER", "", "!ALL");
  INFO("cipher string: '" << bad << "'");
  CHECK_THROWS_AS(server.set_ciphers(bad), sanstls::SSLError);
  CHECK(sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(sanstls::native_handle(server))) == 1);
  Handshake h = handshake(test::client_context(), server);
  require_ok(h);
  REQUIRE(h.server.cipher());
  CHECK(h.server.cipher()->name == "ECDHE-ECDSA-AES256-GCM-SHA384");
}

TEST_CASE("a failed set_ciphers leaves TLS 1.3 working", "[context][ciphers]") {
  Context server = test::server_context();
  CHECK_THROWS_AS(server.set_ciphers("NO-SUCH-CIPHER"), sanstls::SSLError);
  Handshake h = handshake(test::client_context(), server);
  require_ok(h);
  CHECK(h.client.version().value_or("") == "TLSv1.3");
}

TEST_CASE("set_ciphers ignores unknown names next to known ones, as OpenSSL",
          "[context][ciphers]") {
  // Python: ctx.set_ciphers("NO-SUCH-CIPHER:ECDHE-ECDSA-AES128-GCM-SHA256")
  // succeeds and keeps only the known suite.
  Context server = test::server_context();
  server.set_maximum_version(TLSVersion::tlsv1_2);
  // Python also accepts "NULL-SHA:NO-SUCH-CIPHER" (NULL-SHA exists).
  CHECK_NOTHROW(Context().set_ciphers("NULL-SHA:NO-SUCH-CIPHER"));
  REQUIRE_NOTHROW(server.set_ciphers("NO-SUCH-CIPHER:ECDHE-ECDSA-AES128-GCM-SHA256"));
  Handshake h = handshake(test::client_context(), server);
  require_ok(h);
  REQUIRE(h.server.cipher());
  CHECK(h.server.cipher()->name == "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_CASE("set_ciphers refuses a NUL byte", "[context][ciphers]") {
  Context ctx;
  CHECK_THROWS_AS(ctx.set_ciphers(std::string_view("ALL\0NULL", 8)), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// ALPN

TEST_CASE("ALPN agrees on the server's most preferred common protocol", "[context][alpn]") {
  Context client = test::client_context();
  Context server = test::server_context();
  client.set_alpn_protocols({"http/1.1", "spdy/2", "h2"});
  server.set_alpn_protocols({"h2", "http/1.1"});
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK(h.client.selected_alpn_protocol().value_or("<none>") == "h2");
  CHECK(h.server.selected_alpn_protocol().value_or("<none>") == "h2");
}

TEST_CASE("ALPN with no protocol in common continues without one, as Python",
          "[context][alpn]") {
  Context client = test::client_context();
  Context server = test::server_context();
  client.set_alpn_protocols({"spdy/2"});
  server.set_alpn_protocols({"h2", "http/1.1"});
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK_FALSE(h.client.selected_alpn_protocol());
  CHECK_FALSE(h.server.selected_alpn_protocol());
}

TEST_CASE("ALPN on one side only selects nothing", "[context][alpn]") {
  Context client = test::client_context();
  Context server = test::server_context();
  SECTION("client only") { client.set_alpn_protocols({"h2"}); }
  SECTION("server only") { server.set_alpn_protocols({"h2"}); }
  SECTION("server list cleared again") {
    client.set_alpn_protocols({"h2"});
    server.set_alpn_protocols({"h2"});
    server.set_alpn_protocols({});
  }
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK_FALSE(h.client.selected_alpn_protocol());
  CHECK_FALSE(h.server.selected_alpn_protocol());
}

TEST_CASE("ALPN names must be 1 to 255 bytes", "[context][alpn]") {
  Context ctx = test::server_context();
  ctx.set_alpn_protocols({"h2"});
  CHECK_THROWS_AS(ctx.set_alpn_protocols({""}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_alpn_protocols({"h2", ""}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_alpn_protocols({std::string(256, 'a')}), std::invalid_argument);
  CHECK_NOTHROW(ctx.set_alpn_protocols({std::string(255, 'a'), "h2"}));

  // The last good list is the one in force.
  Context client = test::client_context();
  client.set_alpn_protocols({"h2"});
  Handshake h = handshake(client, ctx);
  require_ok(h);
  CHECK(h.server.selected_alpn_protocol().value_or("<none>") == "h2");
}

TEST_CASE("a failed set_alpn_protocols keeps the previous list", "[context][alpn]") {
  Context server = test::server_context();
  server.set_alpn_protocols({"h2"});
  CHECK_THROWS_AS(server.set_alpn_protocols({"http/1.1", ""}), std::invalid_argument);
  Context client = test::client_context();
  client.set_alpn_protocols({"http/1.1", "h2"});
  Handshake h = handshake(client, server);
  require_ok(h);
  CHECK(h.server.selected_alpn_protocol().value_or("<none>") == "h2");
}

// ---------------------------------------------------------------------------
// wrap_bio

namespace {
std::string wrap_error(const Context& ctx, bool server_side,
                       std::optional<std::string> server_hostname) {
  try {
    sanstls::Object obj = ctx.wrap_bio({}, {}, server_side, std::move(server_hostname));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}
}  // namespace

TEST_CASE("wrap_bio refuses the wrong side for tls_client and tls_server contexts",
          "[context][wrap_bio]") {
  CHECK(wrap_error(Context(Protocol::tls_client), true, std::nullopt) ==
        "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  CHECK(wrap_error(Context(Protocol::tls_server), false, std::nullopt) ==
        "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  // Protocol::tls does both.
  Context any;
  CHECK_NOTHROW(any.wrap_bio({}, {}, true));
  CHECK_NOTHROW(any.wrap_bio({}, {}, false));
  CHECK_NOTHROW(any.wrap_bio({}, {}, false, "example.com"));
}

TEST_CASE("wrap_bio validates server_hostname as Python", "[context][wrap_bio]") {
  Context client(Protocol::tls_client);
  const std::string leading = "server_hostname cannot be an empty string or start with a leading dot.";
  CHECK(wrap_error(client, false, "") == leading);
  CHECK(wrap_error(client, false, ".example.com") == leading);
  CHECK(wrap_error(client, false, ".") == leading);
  CHECK(wrap_error(client, false, std::string("exa\0mple.com", 12)) != "<no exception>");
  CHECK(wrap_error(client, false, std::string("\0", 1)) != "<no exception>");
  CHECK(wrap_error(client, false, "b\xc3\xbc" "cher.example") != "<no exception>");
  CHECK(wrap_error(client, false, std::nullopt) == "check_hostname requires server_hostname");
  CHECK(wrap_error(test::server_context(), true, "localhost") != "<no exception>");
  CHECK(wrap_error(Context(Protocol::tls), true, "localhost") != "<no exception>");

  // Without check_hostname a client needs no name.
  client.set_check_hostname(false);
  CHECK_NOTHROW(client.wrap_bio({}, {}, false));
}

TEST_CASE("wrap_bio sends SNI for DNS names and not for IP addresses", "[context][wrap_bio]") {
  auto servername = [](const std::string& hostname) -> std::optional<std::string> {
    Handshake h = handshake(test::client_context(), test::server_context(), hostname);
    INFO(hostname);
    require_ok(h);
    const char* name = SSL_get_servername(sanstls::native_handle(h.server), TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return std::nullopt;
    return std::string(name);
  };
  CHECK(servername("localhost") == std::optional<std::string>("localhost"));
  CHECK(servername("127.0.0.1") == std::nullopt);
  CHECK(servername("::1") == std::nullopt);
}

TEST_CASE("a host name that starts like an IPv4 address is a host name", "[context][wrap_bio]") {
  // BoringSSL's a2i_IPADDRESS would read "127.0.0.1.example.com" as
  // 127.0.0.1 and so verify it against the certificate's IP SAN.
  for (const char* name : {"127.0.0.1.example.com", "127.0.0.1x", "1.2.3.4.5"}) {
    INFO(name);
    Handshake h = handshake(test::client_context(), test::server_context(), name);
    INFO("client: " << describe(h.client_result));
    CHECK_FALSE(h.ok);
    REQUIRE(h.client_result.error);
    CHECK(h.client_result.error->verify_code == 62);  // a host name mismatch, not an IP one
    const char* sni =
        SSL_get_servername(sanstls::native_handle(h.server), TLSEXT_NAMETYPE_host_name);
    CHECK(std::string(sni != nullptr ? sni : "<none>") == name);
  }
}

TEST_CASE("wrap_bio's Object remembers its side and name", "[context][wrap_bio]") {
  Context client = test::client_context();
  sanstls::Object obj = client.wrap_bio({}, {}, false, "localhost");
  CHECK_FALSE(obj.server_side());
  CHECK(obj.server_hostname().value_or("") == "localhost");
  CHECK(sanstls::native_handle(obj.context()) == sanstls::native_handle(client));
  sanstls::Object srv = test::server_context().wrap_bio({}, {}, true);
  CHECK(srv.server_side());
  CHECK_FALSE(srv.server_hostname());
}

// ---------------------------------------------------------------------------
// Context is a handle

TEST_CASE("copies of a Context share one configuration", "[context][handle]") {
  Context a(Protocol::tls);
  Context b = a;
  CHECK(sanstls::native_handle(a) == sanstls::native_handle(b));

  b.set_options(b.options() | Options::no_ticket);
  CHECK(has(a.options(), Options::no_ticket));
  b.set_verify_mode(VerifyMode::cert_optional);
  CHECK(a.verify_mode() == VerifyMode::cert_optional);
  a.set_check_hostname(true);
  CHECK(b.check_hostname());
  a.set_minimum_version(TLSVersion::tlsv1_2);
  CHECK(b.minimum_version() == TLSVersion::tlsv1_2);
  b.set_maximum_version(TLSVersion::tlsv1_2);
  CHECK(a.maximum_version() == TLSVersion::tlsv1_2);

  Context c(Protocol::tls_server);
  c = a;  // assignment shares too
  CHECK(c.protocol() == Protocol::tls);
  CHECK(sanstls::native_handle(c) == sanstls::native_handle(a));

  // A certificate loaded through one copy serves through another.
  Context server = test::server_context();
  Context server_copy = server;
  server_copy.load_cert_chain_pem(other_pki().server.certificate_pem,
                                  other_pki().server.private_key_pem);
  Handshake h = handshake(client_trusting(other_pki().ca.certificate_pem()), server);
  require_ok(h);
}

TEST_CASE("Objects keep their Context alive after every copy is gone", "[context][handle]") {
  std::optional<sanstls::Object> client;
  std::optional<sanstls::Object> server;
  {
    Context client_ctx = test::client_context();
    Context server_ctx = test::server_context();
    client_ctx.set_alpn_protocols({"h2"});
    server_ctx.set_alpn_protocols({"h2"});
    client.emplace(client_ctx.wrap_bio({}, {}, false, "localhost"));
    server.emplace(server_ctx.wrap_bio({}, {}, true));
  }
  Pipe link(*client, *server);
  REQUIRE(link.handshake());
  CHECK(client->selected_alpn_protocol().value_or("") == "h2");  // the ALPN callback's state lives
  CHECK(client->context().protocol() == Protocol::tls_client);
  CHECK(link.send(Side::client, "ping").ok());
  CHECK(link.take_received(Side::server) == "ping");
}
