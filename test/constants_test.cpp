// The module constants of Python's ssl: AlertDescription and SSLErrorNumber
// against Python's own enums, every HAS_* flag proved by a handshake (or by
// BoringSSL itself where sanstls refuses the feature), the version number
// and its decoding against Python's, and the RAND_* functions.
#include <catch.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/boringssl.hpp>

#include "support.hpp"

using sanstls::AlertDescription;
using sanstls::Context;
using sanstls::ErrorKind;
using sanstls::Protocol;
using sanstls::SSLErrorNumber;
using sanstls::Status;
using sanstls::TLSVersion;

namespace {

using test::python_lines;

// python_enum returns the members of Python's ssl.|name| enum, named as
// sanstls names them: lower case, without |prefix|.
std::map<std::string, int> python_enum(const std::string& name, const std::string& prefix) {
  std::map<std::string, int> members;
  for (const std::string& line : python_lines(
           "import ssl, sys\n"
           "for m in ssl." + name + ":\n"
           "    n = m.name[len(sys.argv[1]):] if m.name.startswith(sys.argv[1]) else m.name\n"
           "    print(n.lower(), int(m))\n",
           {prefix})) {
    std::istringstream fields(line);
    std::string member;
    int value = 0;
    fields >> member >> value;
    members[member] = value;
  }
  return members;
}

// A pinned protocol on both sides of a handshake.
Context pinned_server(Protocol protocol) {
  Context ctx(protocol);
  ctx.load_cert_chain_pem(test::pki().server.certificate_pem, test::pki().server.private_key_pem);
  return ctx;
}

// The NPN lists of the native test below, in wire format.
constexpr std::string_view server_npn("\x02h2\x08http/1.1", 12);
constexpr std::string_view client_npn("\x08http/1.1", 9);

const std::uint8_t* wire(std::string_view list) {
  return reinterpret_cast<const std::uint8_t*>(list.data());
}

int advertise_npn(SSL*, const std::uint8_t** out, unsigned* out_len, void*) {
  *out = wire(server_npn);
  *out_len = static_cast<unsigned>(server_npn.size());
  return SSL_TLSEXT_ERR_OK;
}

int select_npn(SSL*, std::uint8_t** out, std::uint8_t* out_len, const std::uint8_t* in,
               unsigned in_len, void*) {
  if (SSL_select_next_proto(out, out_len, in, in_len, wire(client_npn),
                            static_cast<unsigned>(client_npn.size())) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

std::optional<std::string> negotiated_npn(const sanstls::Object& object) {
  const std::uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_next_proto_negotiated(sanstls::native_handle(object), &data, &len);
  if (data == nullptr || len == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), len);
}

// library_has returns whether the loaded BoringSSL exports |symbol|.
bool library_has(const char* symbol) { return dlsym(RTLD_DEFAULT, symbol) != nullptr; }

// version_accepted returns whether a plain BoringSSL SSL_CTX accepts
// |version| as its minimum protocol version.
bool version_accepted(std::uint16_t version) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  REQUIRE(ctx);
  bool ok = SSL_CTX_set_min_proto_version(ctx.get(), version) == 1;
  ERR_clear_error();
  return ok;
}

// error_line formats an error as the Python script below prints one.
std::string error_line(const std::string& scenario, const sanstls::Error& e) {
  std::optional<SSLErrorNumber> number = sanstls::error_number(e);
  return scenario + " " + std::string(sanstls::error_kind_name(e.kind)) + " " +
         (number ? std::to_string(static_cast<int>(*number)) : "None");
}

}  // namespace

// ---------------------------------------------------------------------------
// Python's enums

TEST_CASE("AlertDescription has exactly Python's members and values", "[constants][python]") {
  const std::map<std::string, int> ours{
      {"close_notify", static_cast<int>(AlertDescription::close_notify)},
      {"unexpected_message", static_cast<int>(AlertDescription::unexpected_message)},
      {"bad_record_mac", static_cast<int>(AlertDescription::bad_record_mac)},
      {"record_overflow", static_cast<int>(AlertDescription::record_overflow)},
      {"decompression_failure", static_cast<int>(AlertDescription::decompression_failure)},
      {"handshake_failure", static_cast<int>(AlertDescription::handshake_failure)},
      {"bad_certificate", static_cast<int>(AlertDescription::bad_certificate)},
      {"unsupported_certificate", static_cast<int>(AlertDescription::unsupported_certificate)},
      {"certificate_revoked", static_cast<int>(AlertDescription::certificate_revoked)},
      {"certificate_expired", static_cast<int>(AlertDescription::certificate_expired)},
      {"certificate_unknown", static_cast<int>(AlertDescription::certificate_unknown)},
      {"illegal_parameter", static_cast<int>(AlertDescription::illegal_parameter)},
      {"unknown_ca", static_cast<int>(AlertDescription::unknown_ca)},
      {"access_denied", static_cast<int>(AlertDescription::access_denied)},
      {"decode_error", static_cast<int>(AlertDescription::decode_error)},
      {"decrypt_error", static_cast<int>(AlertDescription::decrypt_error)},
      {"protocol_version", static_cast<int>(AlertDescription::protocol_version)},
      {"insufficient_security", static_cast<int>(AlertDescription::insufficient_security)},
      {"internal_error", static_cast<int>(AlertDescription::internal_error)},
      {"user_cancelled", static_cast<int>(AlertDescription::user_cancelled)},
      {"no_renegotiation", static_cast<int>(AlertDescription::no_renegotiation)},
      {"unsupported_extension", static_cast<int>(AlertDescription::unsupported_extension)},
      {"certificate_unobtainable", static_cast<int>(AlertDescription::certificate_unobtainable)},
      {"unrecognized_name", static_cast<int>(AlertDescription::unrecognized_name)},
      {"bad_certificate_status_response",
       static_cast<int>(AlertDescription::bad_certificate_status_response)},
      {"bad_certificate_hash_value", static_cast<int>(AlertDescription::bad_certificate_hash_value)},
      {"unknown_psk_identity", static_cast<int>(AlertDescription::unknown_psk_identity)},
  };
  CHECK(ours == python_enum("AlertDescription", "ALERT_DESCRIPTION_"));
}

TEST_CASE("SSLErrorNumber has exactly Python's members and values", "[constants][python]") {
  const std::map<std::string, int> ours{
      {"ssl", static_cast<int>(SSLErrorNumber::ssl)},
      {"want_read", static_cast<int>(SSLErrorNumber::want_read)},
      {"want_write", static_cast<int>(SSLErrorNumber::want_write)},
      {"want_x509_lookup", static_cast<int>(SSLErrorNumber::want_x509_lookup)},
      {"syscall", static_cast<int>(SSLErrorNumber::syscall)},
      {"zero_return", static_cast<int>(SSLErrorNumber::zero_return)},
      {"want_connect", static_cast<int>(SSLErrorNumber::want_connect)},
      {"eof", static_cast<int>(SSLErrorNumber::eof)},
      {"invalid_error_code", static_cast<int>(SSLErrorNumber::invalid_error_code)},
  };
  CHECK(ours == python_enum("SSLErrorNumber", "SSL_ERROR_"));
}

TEST_CASE("PEM framing and PROTOCOL_SSLv23 are Python's", "[constants][python]") {
  std::vector<std::string> py = python_lines(
      "import ssl\nprint(ssl.PEM_HEADER)\nprint(ssl.PEM_FOOTER)\nprint(int(ssl.PROTOCOL_SSLv23))\n");
  REQUIRE(py.size() == 3);
  CHECK(sanstls::pem_header == py[0]);
  CHECK(sanstls::pem_footer == py[1]);
  CHECK(std::to_string(static_cast<int>(sanstls::Protocol::sslv23)) == py[2]);
  CHECK(sanstls::Protocol::sslv23 == sanstls::Protocol::tls);
}

TEST_CASE("error_number maps every ErrorKind", "[constants][errors]") {
  auto number = [](ErrorKind kind) {
    sanstls::Error e;
    e.kind = kind;
    return sanstls::error_number(e);
  };
  CHECK(number(ErrorKind::ssl) == SSLErrorNumber::ssl);
  CHECK(number(ErrorKind::cert_verification) == SSLErrorNumber::ssl);
  CHECK(number(ErrorKind::zero_return) == SSLErrorNumber::zero_return);
  CHECK(number(ErrorKind::want_read) == SSLErrorNumber::want_read);
  CHECK(number(ErrorKind::want_write) == SSLErrorNumber::want_write);
  CHECK(number(ErrorKind::syscall) == SSLErrorNumber::syscall);
  CHECK(number(ErrorKind::eof) == SSLErrorNumber::eof);
  CHECK(number(ErrorKind::certificate) == std::nullopt);
}

TEST_CASE("error_number gives the errno Python's SSLObject errors carry", "[constants][errors][python]") {
  test::TempDir dir;
  const std::string cert = dir.write("cert.pem", test::pki().server.certificate_pem);
  const std::string key = dir.write("key.pem", test::pki().server.private_key_pem);
  const std::vector<std::string> expected = python_lines(R"(
import ssl, sys
cert, key = sys.argv[1:3]

def objects(client_ctx):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname="localhost")
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    return client, server, bios

def report(name, action):
    try:
        action()
        print(name, "no error")
    except ssl.SSLError as e:
        print(name, type(e).__name__, e.errno)

def want_read():
    client, _, _ = objects(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    client.do_handshake()

def eof():
    client, _, bios = objects(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    bios[0].write_eof()
    client.do_handshake()

def unverified():
    client, server, bios = objects(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))  # trusts nothing
    for _ in range(10):
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        bios[2].write(bios[1].read())
        try:
            server.do_handshake()
        except ssl.SSLError:
            pass
        bios[0].write(bios[3].read())

def not_tls():
    _, server, bios = objects(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    bios[2].write(b"GET / HTTP/1.0\r\n\r\n")
    server.do_handshake()

for name, action in [("want_read", want_read), ("eof", eof),
                     ("unverified", unverified), ("not_tls", not_tls)]:
    report(name, action)
)",
                                                         {cert, key});

  std::vector<std::string> ours;
  auto caught = [](const sanstls::Result& r) -> sanstls::Error {
    try {
      r.throw_if_error();
    } catch (const sanstls::SSLError& e) {
      return e.error();
    }
    FAIL("no exception for status " << sanstls::status_name(r.status));
    return {};
  };
  {
    Context client_ctx(Protocol::tls_client);
    sanstls::Object client = client_ctx.wrap_bio({}, {}, false, "localhost");
    ours.push_back(error_line("want_read", caught(client.do_handshake())));
  }
  {
    Context client_ctx(Protocol::tls_client);
    sanstls::MemoryBIO incoming;
    sanstls::Object client = client_ctx.wrap_bio(incoming, {}, false, "localhost");
    REQUIRE(client.do_handshake().status == Status::want_read);
    incoming.write_eof();
    ours.push_back(error_line("eof", caught(client.do_handshake())));
  }
  {
    test::Handshake h = test::handshake(Context(Protocol::tls_client), test::server_context());
    REQUIRE_FALSE(h.ok);
    ours.push_back(error_line("unverified", caught(h.client_result)));
  }
  {
    sanstls::MemoryBIO incoming;
    sanstls::Object server = test::server_context().wrap_bio(incoming, {}, true);
    incoming.write(std::string_view("GET / HTTP/1.0\r\n\r\n"));
    ours.push_back(error_line("not_tls", caught(server.do_handshake())));
  }
  CHECK(ours == expected);
}

// ---------------------------------------------------------------------------
// HAS_*: each flag against what a handshake (or BoringSSL) does

TEST_CASE("has_tlsv1, has_tlsv1_1, has_tlsv1_2: a handshake pinned to the version on both sides",
          "[constants][flags]") {
  auto [protocol, flag, name] = GENERATE(table<Protocol, bool, std::string>({
      {Protocol::tls1, sanstls::has_tlsv1, "TLSv1"},
      {Protocol::tls1_1, sanstls::has_tlsv1_1, "TLSv1.1"},
      {Protocol::tls1_2, sanstls::has_tlsv1_2, "TLSv1.2"},
  }));
  INFO("pinned to " << name);
  test::Handshake h = test::handshake(Context(protocol), pinned_server(protocol));
  CHECK(h.ok == flag);
  if (h.ok) {
    CHECK(h.client.version() == name);
    CHECK(h.server.version() == name);
  }
}

TEST_CASE("has_tlsv1_3: a handshake that requires TLS 1.3", "[constants][flags]") {
  Context client_ctx = test::client_context();
  Context server_ctx = test::server_context();
  client_ctx.set_minimum_version(TLSVersion::tlsv1_3);
  server_ctx.set_minimum_version(TLSVersion::tlsv1_3);
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  CHECK(h.ok == sanstls::has_tlsv1_3);
  if (h.ok) CHECK(h.client.version() == "TLSv1.3");
}

TEST_CASE("has_sslv3 and has_sslv2: neither sanstls nor BoringSSL takes them", "[constants][flags]") {
  STATIC_REQUIRE_FALSE(sanstls::has_sslv3);
  STATIC_REQUIRE_FALSE(sanstls::has_sslv2);
  // BoringSSL itself refuses the versions, so no handshake can use them.
  CHECK(version_accepted(SSL3_VERSION) == sanstls::has_sslv3);
  CHECK(version_accepted(0x0002) == sanstls::has_sslv2);
  CHECK(version_accepted(TLS1_VERSION) == sanstls::has_tlsv1);  // the check works
  // And sanstls refuses them as Python does without them.
  Context ctx(Protocol::tls);
  CHECK_THROWS_AS(ctx.set_minimum_version(TLSVersion::sslv3), std::invalid_argument);
  CHECK_THROWS_AS(Context(static_cast<Protocol>(0)), std::invalid_argument);  // PROTOCOL_SSLv2
  CHECK_THROWS_AS(Context(static_cast<Protocol>(1)), std::invalid_argument);  // PROTOCOL_SSLv3
}

TEST_CASE("has_alpn: client and server agree on a protocol", "[constants][flags]") {
  Context client_ctx = test::client_context();
  Context server_ctx = test::server_context();
  client_ctx.set_alpn_protocols({"spdy/1", "h2"});
  server_ctx.set_alpn_protocols({"h2", "http/1.1"});
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  REQUIRE(h.ok);
  CHECK(h.client.selected_alpn_protocol().has_value() == sanstls::has_alpn);
  CHECK(h.client.selected_alpn_protocol().value_or("") == "h2");
}

TEST_CASE("has_sni: the server sees the client's server_hostname", "[constants][flags]") {
  test::Handshake named = test::handshake(test::client_context(), test::server_context(), "localhost");
  REQUIRE(named.ok);
  const char* seen = SSL_get_servername(sanstls::native_handle(named.server), TLSEXT_NAMETYPE_host_name);
  CHECK((seen != nullptr) == sanstls::has_sni);
  CHECK(std::string(seen != nullptr ? seen : "") == "localhost");

  // An IP address is never sent as SNI (RFC 6066), as in Python.
  test::Handshake by_ip = test::handshake(test::client_context(), test::server_context(), "127.0.0.1");
  REQUIRE(by_ip.ok);
  CHECK(SSL_get_servername(sanstls::native_handle(by_ip.server), TLSEXT_NAMETYPE_host_name) == nullptr);
}

TEST_CASE("has_ecdh: ECDHE suites are negotiated", "[constants][flags]") {
  SECTION("TLS 1.2 picks an ECDHE suite, even when it is the only one allowed") {
    Context client_ctx = test::client_context();
    client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
    client_ctx.set_ciphers("ECDHE");
    test::Handshake h = test::handshake(client_ctx, test::server_context());
    CHECK(h.ok == sanstls::has_ecdh);
    REQUIRE(h.client.cipher());
    CHECK(h.client.cipher()->name.rfind("ECDHE-", 0) == 0);
  }
  SECTION("TLS 1.3 agrees on an elliptic curve group") {
    test::Handshake h = test::handshake(test::client_context(), test::server_context());
    REQUIRE(h.ok);
    CHECK((SSL_get_curve_id(sanstls::native_handle(h.client)) != 0) == sanstls::has_ecdh);
  }
}

TEST_CASE("has_npn: BoringSSL negotiates NPN in TLS 1.2", "[constants][flags]") {
  // Through BoringSSL's own NPN API on sanstls's handles, as sanstls's
  // Context::set_npn_protocols is being written at the same time.
  REQUIRE(library_has("SSL_CTX_set_next_proto_select_cb") == sanstls::has_npn);
  Context client_ctx = test::client_context();
  client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
  Context server_ctx = test::server_context();
  SSL_CTX_set_next_protos_advertised_cb(sanstls::native_handle(server_ctx), advertise_npn, nullptr);
  SSL_CTX_set_next_proto_select_cb(sanstls::native_handle(client_ctx), select_npn, nullptr);
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  REQUIRE(h.ok);
  CHECK(h.client.version() == "TLSv1.2");
  CHECK(negotiated_npn(h.client).has_value() == sanstls::has_npn);
  CHECK(negotiated_npn(h.client).value_or("") == "http/1.1");
  CHECK(negotiated_npn(h.server).value_or("") == "http/1.1");
}

TEST_CASE("has_never_check_common_name: the commonName fallback can be turned off",
          "[constants][flags]") {
  // A certificate naming localhost only in its subject's commonName.
  sanstls::testing::CertificateOptions options;
  options.common_name = "localhost";
  sanstls::testing::Issued cn_only = test::pki().ca.issue(options);
  Context server_ctx(Protocol::tls_server);
  server_ctx.load_cert_chain_pem(cn_only.certificate_pem, cn_only.private_key_pem);

  Context client_ctx = test::client_context();
  REQUIRE(client_ctx.hostname_checks_common_name());  // Python 3.7's default
  CHECK(test::handshake(client_ctx, server_ctx).ok);

  client_ctx.set_hostname_checks_common_name(false);
  CHECK_FALSE(client_ctx.hostname_checks_common_name());
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  CHECK(h.ok != sanstls::has_never_check_common_name);
  if (!h.ok) {
    REQUIRE(h.client_result.error);
    CHECK(h.client_result.error->kind == ErrorKind::cert_verification);
  }
}

TEST_CASE("has_pha: BoringSSL has no post-handshake authentication", "[constants][flags]") {
  STATIC_REQUIRE_FALSE(sanstls::has_pha);
  // OpenSSL 1.1.1's entry points for it are not in the library...
  CHECK(library_has("SSL_verify_client_post_handshake") == sanstls::has_pha);
  CHECK(library_has("SSL_CTX_set_post_handshake_auth") == sanstls::has_pha);
  CHECK(library_has("SSL_set_post_handshake_auth") == sanstls::has_pha);
  // ...while the lookup does find what it has.
  CHECK(library_has("SSL_do_handshake"));
}

TEST_CASE("has_ocsp_stapling, has_signed_certificate_timestamps, has_certificate_compression: what the "
          "BoringSSL in use offers",
          "[constants][flags]") {
  CHECK(library_has("SSL_set_ocsp_response") == sanstls::has_ocsp_stapling);
  CHECK(library_has("SSL_get0_ocsp_response") == sanstls::has_ocsp_stapling);
  CHECK(library_has("SSL_set_signed_cert_timestamp_list") == sanstls::has_signed_certificate_timestamps);
  CHECK(library_has("SSL_CTX_add_cert_compression_alg") == sanstls::has_certificate_compression);
  CHECK(library_has("SSL_CTX_set1_ech_keys") == sanstls::has_ech);
  CHECK(library_has("SSL_set1_ech_config_list") == sanstls::has_ech);
}

// ---------------------------------------------------------------------------
// OPENSSL_VERSION_*

TEST_CASE("the version is BoringSSL's, decoded as CPython decodes it", "[constants][version]") {
  CHECK(sanstls::openssl_version() == "BoringSSL");
  CHECK(sanstls::openssl_version() == OpenSSL_version(OPENSSL_VERSION));
  CHECK(sanstls::openssl_version_number() == OPENSSL_VERSION_NUMBER);
  CHECK(sanstls::openssl_version_info() ==
        sanstls::decode_openssl_version(sanstls::openssl_version_number()));
  // BoringSSL claims to be OpenSSL 1.1.1.
  CHECK(sanstls::openssl_version_info().major == 1);
  CHECK(sanstls::openssl_version_info().minor == 1);
  CHECK(sanstls::openssl_version_info().fix == 1);
  CHECK(sanstls::boringssl_api_version() == BORINGSSL_API_VERSION);
}

TEST_CASE("decode_openssl_version agrees with Python's OPENSSL_VERSION_INFO", "[constants][version][python]") {
  // Python's own library number and its decoding, then two well-known ones
  // decoded by hand as CPython's parse_openssl_version does.
  std::vector<std::string> lines = python_lines(
      "import ssl\n"
      "print(ssl.OPENSSL_VERSION_NUMBER)\n"
      "print(*ssl.OPENSSL_VERSION_INFO)\n");
  REQUIRE(lines.size() == 2);
  std::uint32_t number = static_cast<std::uint32_t>(std::stoul(lines[0]));
  sanstls::OpenSSLVersionInfo info = sanstls::decode_openssl_version(number);
  CHECK(std::to_string(info.major) + " " + std::to_string(info.minor) + " " +
            std::to_string(info.fix) + " " + std::to_string(info.patch) + " " +
            std::to_string(info.status) ==
        lines[1]);
  CHECK(sanstls::decode_openssl_version(0x100020bf) == sanstls::OpenSSLVersionInfo{1, 0, 2, 11, 15});
  CHECK(sanstls::decode_openssl_version(0x1010107f) == sanstls::OpenSSLVersionInfo{1, 1, 1, 7, 15});
}

// ---------------------------------------------------------------------------
// RAND_*

TEST_CASE("rand_bytes returns as many bytes as asked", "[constants][rand]") {
  CHECK(sanstls::rand_bytes(0).empty());
  CHECK(sanstls::rand_bytes(1).size() == 1);
  CHECK(sanstls::rand_bytes(1 << 20).size() == std::size_t{1} << 20);
  CHECK(sanstls::rand_pseudo_bytes(0).bytes.empty());
  sanstls::PseudoRandomBytes pseudo = sanstls::rand_pseudo_bytes(33);
  CHECK(pseudo.bytes.size() == 33);
  CHECK(pseudo.is_cryptographic);
}

TEST_CASE("rand_bytes refuses counts above INT_MAX without allocating", "[constants][rand]") {
  const std::size_t too_many = static_cast<std::size_t>(INT_MAX) + 1;
  CHECK_THROWS_AS(sanstls::rand_bytes(too_many), std::invalid_argument);
  CHECK_THROWS_AS(sanstls::rand_pseudo_bytes(too_many), std::invalid_argument);
  CHECK_THROWS_AS(sanstls::rand_bytes(SIZE_MAX), std::invalid_argument);
}

TEST_CASE("rand_bytes differ from call to call", "[constants][rand]") {
  std::string a = sanstls::rand_bytes(32);
  std::string b = sanstls::rand_bytes(32);
  CHECK(a != b);
  CHECK(sanstls::rand_pseudo_bytes(32).bytes != sanstls::rand_pseudo_bytes(32).bytes);
}

TEST_CASE("rand_bytes look uniformly random", "[constants][rand]") {
  const std::size_t n = std::size_t{1} << 20;
  std::string bytes = sanstls::rand_bytes(n);
  REQUIRE(bytes.size() == n);
  CHECK(bytes != std::string(n, '\0'));

  std::array<std::size_t, 256> histogram{};
  std::size_t ones = 0;
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    ++histogram[byte];
    ones += static_cast<std::size_t>(__builtin_popcount(byte));
  }
  // Each value is expected 4096 times (standard deviation 64): the bounds
  // are nine deviations away, so a real generator never fails them.
  const auto [low, high] = std::minmax_element(histogram.begin(), histogram.end());
  CHECK(*low > 3500);
  CHECK(*high < 4700);
  // Chi-square with 255 degrees of freedom: mean 255, deviation 22.6.
  double chi2 = 0;
  for (std::size_t count : histogram) {
    double d = static_cast<double>(count) - 4096.0;
    chi2 += d * d / 4096.0;
  }
  INFO("chi-square " << chi2);
  CHECK(chi2 > 120);
  CHECK(chi2 < 420);
  // Half of the 8 Mi bits set, within ~10 deviations (1448 each).
  CHECK(ones > 4 * n - 15000);
  CHECK(ones < 4 * n + 15000);
}

TEST_CASE("rand_status is true and rand_add accepts anything", "[constants][rand]") {
  CHECK(sanstls::rand_status());
  std::string seed = test::pattern(4096);
  sanstls::rand_add(std::as_bytes(std::span(seed.data(), seed.size())), 4096.0);
  sanstls::rand_add(std::span<const std::byte>(), 0.0);
  sanstls::rand_add(std::string_view("a str, as Python accepts"), 0.5);
  sanstls::rand_add(std::string_view(), -1.0);  // Python does not check entropy either
  CHECK(sanstls::rand_status());
  // The generator still works, and adding known bytes made it no less random.
  CHECK(sanstls::rand_bytes(32) != sanstls::rand_bytes(32));
}

TEST_CASE("VerifyCode has OpenSSL's X509_V_ERR_* names and values", "[constants][verify_code]") {
  using sanstls::VerifyCode;
  CHECK(static_cast<long>(VerifyCode::ok) == X509_V_OK);
  CHECK(static_cast<long>(VerifyCode::cert_has_expired) == 10);
  CHECK(static_cast<long>(VerifyCode::hostname_mismatch) == 62);
  CHECK(sanstls::verify_code_name(VerifyCode::ok) == "X509_V_OK");
  CHECK(sanstls::verify_code_name(VerifyCode::unable_to_get_issuer_cert_locally) ==
        "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  // Every code BoringSSL can report has a name, and no two share one; a
  // value BoringSSL does not define has none.
  std::map<std::string, long> seen;
  for (long value = 0; value <= 80; ++value) {
    std::string name(sanstls::verify_code_name(static_cast<VerifyCode>(value)));
    std::string boringssl_text = X509_verify_cert_error_string(value);
    // X509_V_ERR_UNSPECIFIED is the one code whose text is the generic one.
    bool boringssl_knows = boringssl_text != "unknown certificate verification error" ||
                           value == X509_V_ERR_UNSPECIFIED;
    INFO(value << ": " << name << " / " << boringssl_text);
    CHECK(name.empty() == !boringssl_knows);
    if (name.empty()) continue;
    CHECK(name.starts_with(value == 0 ? "X509_V_OK" : "X509_V_ERR_"));
    CHECK(seen.emplace(name, value).second);
  }
  CHECK(seen.size() == 67);
}
