// Context: Python 3.7's SSLContext defaults, options and version bounds,
// wrap_bio's checks, and Context as a handle whose copies share one
// configuration, with proof that each setting really changes what a
// handshake between two Objects does. The other settings have files of
// their own: verify_mode, check_hostname and load_verify_locations in
// verify_test.cpp, load_cert_chain in cert_chain_test.cpp, set_ciphers and
// ALPN in ciphers_test.cpp.
#include <catch.hpp>

#include <openssl/ssl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <sanstls/boringssl.hpp>
#include <sanstls/sanstls.hpp>
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
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using test::Handshake;
using test::client_trusting;
using test::describe;
using test::handshake;
using test::other_pki;
using test::require_ok;

namespace {

constexpr std::uint64_t bits(Options options) { return static_cast<std::uint64_t>(options); }

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
    CHECK(h.client_result.error->verify_code == sanstls::VerifyCode::hostname_mismatch);  // a host name mismatch, not an IP one
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
