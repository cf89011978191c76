// Certificate verification as Python 3.7 does it: verify_mode and
// check_hostname, every verification outcome end to end, CRL checks and
// verify_flags, host name rules (wildcards, IP addresses, the commonName
// fallback), what a client trusts (load_verify_locations from cafile, capath
// and cadata) and the CA stores (system defaults, cert_store_stats,
// get_ca_certs, create_default_context), compared with Python's ssl where it
// can run the same case.
#include <catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>

#include <sanstls/boringssl.hpp>

#include "support.hpp"

using sanstls::CaData;
using sanstls::testing::CertificateOptions;
using sanstls::Context;
using sanstls::ErrorKind;
using sanstls::testing::Issued;
using sanstls::Protocol;
using sanstls::Purpose;
using sanstls::VerifyFlags;
using sanstls::VerifyMode;
using sanstls::testing::CertificateAuthority;
using sanstls::VerifyCode;
using test::Handshake;
using test::TempDir;
using test::client_trusting;
using test::describe;
using test::handshake;
using test::other_pki;
using test::python_data;
using test::require_ok;
using test::require_unknown_issuer;
using test::server_with;

namespace {

// require_verify_error checks that the client's handshake failed with
// SSLCertVerificationError |code| and Python's texts for it.
void require_verify_error(const test::Handshake& h, VerifyCode code, const std::string& message) {
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.status == sanstls::Status::error);
  const sanstls::Error& e = *h.client_result.error;
  INFO("client error: " << e.message);
  CHECK(e.kind == ErrorKind::cert_verification);
  CHECK(e.reason == "CERTIFICATE_VERIFY_FAILED");
  CHECK(e.verify_code == code);
  CHECK(e.verify_message == message);
  CHECK(e.message == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + message);
  CHECK_THROWS_AS(h.client_result.throw_if_error(), sanstls::SSLCertVerificationError);
}

CertificateOptions localhost_options() {
  CertificateOptions o;
  o.common_name = "localhost";
  o.dns_names = {"localhost"};
  o.ip_addresses = {"127.0.0.1", "::1"};
  return o;
}

// ScopedEnv sets (or, with nullopt, unsets) an environment variable and
// restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// python runs |script| with the same SSL_CERT_FILE / SSL_CERT_DIR as this
// process has now, and returns its output lines.
std::vector<std::string> python(const std::string& script, const std::vector<std::string>& args = {}) {
  std::string env = "env";
  for (const char* name : {"SSL_CERT_FILE", "SSL_CERT_DIR"}) {
    const char* value = std::getenv(name);
    env += value != nullptr ? " " + std::string(name) + "=" + test::shell_quote(value)
                            : " -u " + std::string(name);
  }
  return test::python_lines(script, args, env);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out += kDigits[(static_cast<unsigned char>(c) >> 4) & 0xf];
    out += kDigits[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

std::string stats_text(const sanstls::CertStoreStats& s) {
  return std::to_string(s.x509) + " " + std::to_string(s.crl) + " " + std::to_string(s.x509_ca);
}

constexpr const char* kPythonStats =
    "import ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    "for f in sys.argv[1:]:\n"
    "    ctx.load_verify_locations(cafile=f)\n"
    "s = ctx.cert_store_stats()\n"
    "print(s['x509'], s['crl'], s['x509_ca'])\n"
    "for der in ctx.get_ca_certs(True):\n"
    "    print(der.hex())\n";

}  // namespace

// ---------------------------------------------------------------------------
// verify_mode and check_hostname.

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
    CHECK(e.verify_code == VerifyCode::hostname_mismatch);
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
    CHECK(h.client_result.error->verify_code == VerifyCode::ip_address_mismatch);
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
    CHECK(h.server_result.error->verify_code == VerifyCode::unable_to_get_issuer_cert_locally);
  }
}

// ---------------------------------------------------------------------------
// Every verification outcome, end to end.

TEST_CASE("each verification failure has Python's verify code and message", "[verify]") {
  CertificateAuthority ca = CertificateAuthority::create();
  SECTION("expired (10)") {
    CertificateOptions o = localhost_options();
    o.not_before_offset = -7200;
    o.not_after_offset = -3600;
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()), server_with(ca.issue(o))),
                         VerifyCode::cert_has_expired, "certificate has expired");
  }
  SECTION("not yet valid (9)") {
    CertificateOptions o = localhost_options();
    o.not_before_offset = 3600;
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()), server_with(ca.issue(o))),
                         VerifyCode::cert_not_yet_valid, "certificate is not yet valid");
  }
  SECTION("self-signed (18)") {
    Issued self = sanstls::testing::self_signed(localhost_options());
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()), server_with(self)),
                         VerifyCode::depth_zero_self_signed_cert,
                         "self signed certificate");
  }
  SECTION("unknown issuer (20)") {
    CertificateAuthority other = CertificateAuthority::create("another CA");
    require_verify_error(
        test::handshake(client_trusting(ca.certificate_pem()), server_with(other.issue(localhost_options()))),
        VerifyCode::unable_to_get_issuer_cert_locally, "unable to get local issuer certificate");
  }
  SECTION("hostname mismatch (62)") {
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()),
                                         server_with(ca.issue(localhost_options())), "example.com"),
                         VerifyCode::hostname_mismatch, "Hostname mismatch, certificate is not valid for 'example.com'.");
  }
  SECTION("IP address mismatch (64)") {
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()),
                                         server_with(ca.issue(localhost_options())), "127.0.0.2"),
                         VerifyCode::ip_address_mismatch, "IP address mismatch, certificate is not valid for '127.0.0.2'.");
  }
  SECTION("revoked (23)") {
    Issued leaf = ca.issue(localhost_options());
    test::TempDir dir;
    Context client(Protocol::tls_client);
    client.load_verify_locations(
        {.cafile = dir.write("ca.pem", ca.certificate_pem() + ca.crl_pem({leaf}))});
    client.set_verify_flags(client.verify_flags() | VerifyFlags::verify_crl_check_leaf);
    require_verify_error(test::handshake(client, server_with(leaf)), VerifyCode::cert_revoked,
                         "certificate revoked");
  }
}

// ---------------------------------------------------------------------------
// Kept certificates. A Context keeps the parsed form of the last certificates
// it verified, so that the same server's chain is not parsed again; what it
// keeps must never stand in for a verification.

TEST_CASE("a kept certificate is verified again each time: names, forgeries, flags",
          "[verify][cache]") {
  CertificateAuthority ca = CertificateAuthority::create("sanstls test CA");
  Issued genuine = ca.issue(localhost_options());
  Context client = client_trusting(ca.certificate_pem());
  Context server = server_with(genuine);
  REQUIRE(test::handshake(client, server).ok);

  SECTION("another name for the same certificate") {
    require_verify_error(test::handshake(client, server, "example.com"),
                         VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for 'example.com'.");
    CHECK(test::handshake(client, server).ok);
  }
  SECTION("a forgery: same names, signed by another key under the same CA name") {
    // BoringSSL matches the issuer by name and key identifier, so the
    // impostor's CA is not even a candidate.
    CertificateAuthority impostor = CertificateAuthority::create("sanstls test CA");
    Issued forged = impostor.issue(localhost_options());
    REQUIRE(forged.certificate_der != genuine.certificate_der);
    require_verify_error(test::handshake(client, server_with(forged)),
                         VerifyCode::unable_to_get_issuer_cert_locally,
                         "unable to get local issuer certificate");
    CHECK(test::handshake(client, server).ok);
  }
  SECTION("the same certificate with its signature altered") {
    Issued altered = genuine;
    altered.certificate_der.back() = static_cast<char>(altered.certificate_der.back() ^ 0x01);
    altered.certificate_pem = sanstls::der_cert_to_pem_cert(sanstls::as_bytes(altered.certificate_der));
    require_verify_error(test::handshake(client, server_with(altered)),
                         VerifyCode::cert_signature_failure,
                         "certificate signature failure");
    CHECK(test::handshake(client, server).ok);
  }
  SECTION("flags set later apply: a CRL check revokes a certificate that passed") {
    test::TempDir dir;
    client.load_verify_locations({.cafile = dir.write("crl.pem", ca.crl_pem({genuine}))});
    CHECK(test::handshake(client, server).ok);  // CRLs loaded, but not checked yet
    client.set_verify_flags(client.verify_flags() | VerifyFlags::verify_crl_check_leaf);
    require_verify_error(test::handshake(client, server), VerifyCode::cert_revoked,
                         "certificate revoked");
  }
  SECTION("what the client reports is the peer's own certificate") {
    test::Handshake h = test::handshake(client, server);
    REQUIRE(h.ok);
    CHECK(h.client.getpeercert(sanstls::binary_form) == genuine.certificate_der);
    std::optional<sanstls::Certificate> cert = h.client.getpeercert();
    REQUIRE(cert);
    CHECK(cert->subject_alt_name.size() == 3);
  }
}

// server_sending serves |der| as its certificate, bytes as they are, with
// |key_pem|'s key: through the native handle, since load_cert_chain would
// refuse a certificate it cannot parse.
static Context server_sending(const std::string& der, const std::string& key_pem) {
  Context ctx(Protocol::tls_server);
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  bssl::UniquePtr<CRYPTO_BUFFER> cert(
      CRYPTO_BUFFER_new(reinterpret_cast<const uint8_t*>(der.data()), der.size(), nullptr));
  REQUIRE(key);
  REQUIRE(cert);
  CRYPTO_BUFFER* chain[] = {cert.get()};
  REQUIRE(SSL_CTX_set_chain_and_key(sanstls::native_handle(ctx), chain, 1, key.get(), nullptr) == 1);
  return ctx;
}

TEST_CASE("a certificate the X.509 parser rejects: a verification error, or its bytes with CERT_NONE",
          "[verify][cache]") {
  CertificateAuthority ca = CertificateAuthority::create();
  Issued leaf = ca.issue(localhost_options());
  // Version 4 (INTEGER 3 in the [0] field): the handshake reads past it to
  // the key, X509's parser refuses it.
  std::string der = leaf.certificate_der;
  const std::string v3("\xa0\x03\x02\x01\x02", 5);
  const std::size_t at = der.find(v3);
  REQUIRE(at != std::string::npos);
  der[at + 4] = '\x03';
  Context server = server_sending(der, leaf.private_key_pem);

  SECTION("verified: SSLCertVerificationError, the connection fails") {
    require_verify_error(test::handshake(client_trusting(ca.certificate_pem()), server),
                         VerifyCode::unspecified,
                         "the certificate cannot be parsed");
  }
  SECTION("CERT_NONE: the handshake completes and the bytes are the peer's") {
    Context client(Protocol::tls_client);
    client.set_check_hostname(false);
    client.set_verify_mode(sanstls::VerifyMode::cert_none);
    test::Handshake h = test::handshake(client, server);
    INFO(test::describe(h.client_result));
    REQUIRE(h.ok);
    CHECK(h.client.getpeercert(sanstls::binary_form) == der);
    CHECK(h.client.getpeercert() == sanstls::Certificate{});
  }
}

TEST_CASE("more distinct certificates than a Context keeps: each verifies, and the first again",
          "[verify][cache]") {
  CertificateAuthority ca = CertificateAuthority::create();
  Context client = client_trusting(ca.certificate_pem());
  std::vector<Context> servers;
  for (int i = 0; i < 20; ++i) {  // more than ParsedCertificates::kCapacity (16)
    CertificateOptions o = localhost_options();
    o.organization = "server " + std::to_string(i);
    servers.push_back(server_with(ca.issue(o)));
  }
  for (const Context& server : servers) {
    test::Handshake h = test::handshake(client, server);
    INFO(test::describe(h.client_result));
    CHECK(h.ok);
  }
  CHECK(test::handshake(client, servers.front()).ok);
  // An untrusted certificate after the cache has turned over still fails.
  CertificateAuthority other = CertificateAuthority::create("another CA");
  require_verify_error(test::handshake(client, server_with(other.issue(localhost_options()))),
                       VerifyCode::unable_to_get_issuer_cert_locally,
                       "unable to get local issuer certificate");
}

TEST_CASE("one client Context verifies in several threads at once", "[verify][cache][threads]") {
  CertificateAuthority ca = CertificateAuthority::create();
  CertificateAuthority other = CertificateAuthority::create("another CA");
  const Context client = client_trusting(ca.certificate_pem());
  const std::vector<Context> servers = {server_with(ca.issue(localhost_options())),
                                        server_with(ca.issue(localhost_options())),
                                        server_with(other.issue(localhost_options()))};
  constexpr int kThreads = 4;
  constexpr int kRounds = 6;
  std::vector<int> good(kThreads, 0), refused(kThreads, 0);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRounds; ++i) {
          const std::size_t which = static_cast<std::size_t>(t + i) % servers.size();
          test::Handshake h = test::handshake(client, servers[which]);
          const bool trusted = which != 2;
          if (h.ok && trusted) ++good[t];
          if (!h.ok && !trusted && h.client_result.error &&
              h.client_result.error->verify_code == VerifyCode::unable_to_get_issuer_cert_locally) {
            ++refused[t];
          }
        }
      });
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    CHECK(good[t] + refused[t] == kRounds);
    CHECK(refused[t] == 2);
  }
}

// ---------------------------------------------------------------------------
// verify_flags and CRLs.

TEST_CASE("verify_flags start as Python's and keep every flag set", "[verify][flags]") {
  Context ctx(Protocol::tls_client);
  CHECK(ctx.verify_flags() == VerifyFlags::verify_x509_trusted_first);
  CHECK(Context(Protocol::tls_server).verify_flags() == VerifyFlags::verify_x509_trusted_first);
  CHECK(static_cast<std::uint64_t>(VerifyFlags::verify_crl_check_chain) == 12);  // Python's values
  CHECK(static_cast<std::uint64_t>(VerifyFlags::verify_x509_strict) == 0x20);
  for (VerifyFlags flags :
       {VerifyFlags::verify_default, VerifyFlags::verify_crl_check_leaf,
        VerifyFlags::verify_crl_check_chain, VerifyFlags::verify_x509_strict,
        VerifyFlags::verify_x509_strict | VerifyFlags::verify_x509_trusted_first |
            VerifyFlags::verify_crl_check_chain}) {
    ctx.set_verify_flags(flags);
    CHECK(ctx.verify_flags() == flags);
  }
  // BoringSSL is always strict, so VERIFY_X509_STRICT changes nothing: a
  // good chain still verifies.
  CertificateAuthority ca = CertificateAuthority::create();
  Context client = client_trusting(ca.certificate_pem());
  client.set_verify_flags(VerifyFlags::verify_x509_strict | VerifyFlags::verify_x509_trusted_first);
  CHECK(test::handshake(client, server_with(ca.issue(localhost_options()))).ok);
}

TEST_CASE("CRL checks: a CRL is needed, an unrevoked certificate passes, a revoked one fails",
          "[verify][crl]") {
  CertificateAuthority ca = CertificateAuthority::create();
  Issued leaf = ca.issue(localhost_options());
  Issued other = ca.issue(localhost_options());
  test::TempDir dir;

  SECTION("no CRL check: a revoked certificate is accepted (the default)") {
    Context client(Protocol::tls_client);
    client.load_verify_locations(
        {.cafile = dir.write("ca.pem", ca.certificate_pem() + ca.crl_pem({leaf}))});
    CHECK(client.cert_store_stats() == sanstls::CertStoreStats{1, 1, 1});
    CHECK(test::handshake(client, server_with(leaf)).ok);
  }
  SECTION("CRL check without the CA's CRL fails with code 3") {
    Context client = client_trusting(ca.certificate_pem());
    client.set_verify_flags(VerifyFlags::verify_crl_check_leaf);
    require_verify_error(test::handshake(client, server_with(leaf)), VerifyCode::unable_to_get_crl,
                         "unable to get certificate CRL");
  }
  SECTION("CRL check with a CRL that revokes another certificate passes") {
    Context client(Protocol::tls_client);
    client.load_verify_locations(
        {.cafile = dir.write("ca.pem", ca.certificate_pem() + ca.crl_pem({other}))});
    client.set_verify_flags(VerifyFlags::verify_crl_check_leaf);
    CHECK(test::handshake(client, server_with(leaf)).ok);
    // And the flag can be taken back.
    client.set_verify_flags(VerifyFlags::verify_default);
    CHECK(test::handshake(client, server_with(other)).ok);
  }
}

TEST_CASE("VERIFY_CRL_CHECK_CHAIN also checks intermediates; CHECK_LEAF only the leaf",
          "[verify][crl]") {
  CertificateAuthority root = CertificateAuthority::create("root CA");
  CertificateAuthority sub = root.intermediate("intermediate CA");
  Issued leaf = sub.issue(localhost_options());
  test::TempDir dir;
  // The root revokes the intermediate; the intermediate revokes nothing.
  const std::string cafile =
      dir.write("ca.pem", root.certificate_pem() + root.crl_pem({sub.root()}) + sub.crl_pem());
  Context client(Protocol::tls_client);
  client.load_verify_locations({.cafile = cafile});
  CHECK(client.cert_store_stats() == sanstls::CertStoreStats{1, 2, 1});
  const Context server = server_with(leaf, sub.certificate_pem());

  client.set_verify_flags(VerifyFlags::verify_crl_check_leaf);
  CHECK(test::handshake(client, server).ok);
  client.set_verify_flags(VerifyFlags::verify_crl_check_chain);
  require_verify_error(test::handshake(client, server), VerifyCode::cert_revoked,
                       "certificate revoked");
}

TEST_CASE("CPython's test_crl_check: pycacert without, then with revocation.crl",
          "[verify][crl][python]") {
  Context server(Protocol::tls_server);
  server.load_cert_chain(python_data("keycert3.pem"));
  Context client(Protocol::tls_client);
  client.load_verify_locations({.cafile = python_data("pycacert.pem")});
  CHECK(client.verify_flags() == VerifyFlags::verify_x509_trusted_first);
  CHECK(test::handshake(client, server).ok);

  client.set_verify_flags(client.verify_flags() | VerifyFlags::verify_crl_check_leaf);
  require_verify_error(test::handshake(client, server), VerifyCode::unable_to_get_crl,
                       "unable to get certificate CRL");

  client.load_verify_locations({.cafile = python_data("revocation.crl")});
  CHECK(test::handshake(client, server).ok);
}

TEST_CASE("a CRL file with garbage is an SSLError and changes nothing", "[verify][crl][errors]") {
  CertificateAuthority ca = CertificateAuthority::create();
  test::TempDir dir;
  std::string crl = ca.crl_pem();
  std::string broken = crl.substr(0, crl.size() / 2) + "\n-----END X509 CRL-----\n";
  Context client = client_trusting(ca.certificate_pem());
  CHECK_THROWS_AS(client.load_verify_locations({.cafile = dir.write("broken.pem", broken)}),
                  sanstls::SSLError);
  CHECK(client.cert_store_stats() == sanstls::CertStoreStats{1, 0, 1});
}

// ---------------------------------------------------------------------------
// Host names.

TEST_CASE("hostname_checks_common_name: the commonName fallback, on by default", "[verify][hostname]") {
  CertificateAuthority ca = CertificateAuthority::create();
  CertificateOptions cn_only;
  cn_only.common_name = "localhost";
  const Context server = server_with(ca.issue(cn_only));
  Context client = client_trusting(ca.certificate_pem());
  CHECK(client.hostname_checks_common_name());
  CHECK(test::handshake(client, server).ok);

  client.set_hostname_checks_common_name(false);
  CHECK_FALSE(client.hostname_checks_common_name());
  require_verify_error(test::handshake(client, server), VerifyCode::hostname_mismatch,
                       "Hostname mismatch, certificate is not valid for 'localhost'.");

  client.set_hostname_checks_common_name(true);
  CHECK(test::handshake(client, server).ok);

  // A certificate with DNS names is never matched by its commonName.
  CertificateOptions with_san;
  with_san.common_name = "localhost";
  with_san.dns_names = {"example.com"};
  require_verify_error(test::handshake(client, server_with(ca.issue(with_san))),
                       VerifyCode::hostname_mismatch,
                       "Hostname mismatch, certificate is not valid for 'localhost'.");
}

TEST_CASE("wildcards match one whole left-most label, as Python 3.7 with OpenSSL",
          "[verify][hostname]") {
  CertificateAuthority ca = CertificateAuthority::create();
  struct Case {
    std::vector<std::string> dns;
    std::string hostname;
    bool matches;
  };
  const std::vector<Case> cases = {
      {{"*.example.com"}, "www.example.com", true},
      {{"*.example.com"}, "WWW.Example.COM", true},  // case-insensitive
      {{"*.example.com"}, "example.com", false},     // the wildcard needs a label
      {{"*.example.com"}, "a.b.example.com", false},  // one label only
      {{"*.example.com"}, "www.example.org", false},
      {{"w*.example.com"}, "www.example.com", false},  // no partial wildcards
      {{"*w.example.com"}, "www.example.com", false},
      {{"www.*.com"}, "www.example.com", false},  // left-most label only
      {{"*.com"}, "example.com", false},          // not directly under a public suffix
      {{"*"}, "localhost", false},
      {{"example.com", "*.example.net"}, "foo.example.net", true},
      {{"EXAMPLE.com"}, "example.COM", true},
  };
  for (const Case& c : cases) {
    CertificateOptions o;
    o.common_name = "not-the-host";
    o.dns_names = c.dns;
    std::string names;
    for (const std::string& n : c.dns) names += n + " ";
    INFO("SAN DNS " << names << "hostname " << c.hostname);
    test::Handshake h = test::handshake(client_trusting(ca.certificate_pem()),
                                        server_with(ca.issue(o)), c.hostname);
    CHECK(h.ok == c.matches);
    if (!c.matches) {
      require_verify_error(h, VerifyCode::hostname_mismatch,
                           "Hostname mismatch, certificate is not valid for '" + c.hostname + "'.");
    }
  }
}

TEST_CASE("IP addresses match IP SANs only: IPv4, IPv6 in any spelling, never DNS or CN",
          "[verify][hostname][ip]") {
  CertificateAuthority ca = CertificateAuthority::create();
  CertificateOptions o;
  o.common_name = "127.0.0.3";        // never used for an IP address
  o.dns_names = {"127.0.0.4"};        // nor is a DNS name spelled like one
  o.ip_addresses = {"127.0.0.1", "::1", "2001:db8::7"};
  const Context server = server_with(ca.issue(o));
  const Context client = client_trusting(ca.certificate_pem());
  for (const char* host : {"127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "2001:db8::7", "2001:DB8:0::7"}) {
    INFO(host);
    CHECK(test::handshake(client, server, host).ok);
  }
  for (const char* host : {"127.0.0.3", "127.0.0.4", "::2", "2001:db8::8"}) {
    INFO(host);
    require_verify_error(test::handshake(client, server, host), VerifyCode::ip_address_mismatch,
                         std::string("IP address mismatch, certificate is not valid for '") + host + "'.");
  }
}

// ---------------------------------------------------------------------------
// load_verify_locations: the CAs a client trusts.

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
// CA stores.

TEST_CASE("get_default_verify_paths: Debian's bundle, and the environment wins, as Python's",
          "[verify][store][python]") {
  test::TempDir dir;
  const std::string bundle = dir.write("bundle.pem", CertificateAuthority::create().certificate_pem());
  struct Env {
    std::optional<std::string> file;
    std::optional<std::string> dir;
  };
  for (const Env& env : {Env{std::nullopt, std::nullopt}, Env{bundle, dir.path("")},
                         Env{dir.path("missing.pem"), dir.path("missing")},
                         Env{dir.path(""), bundle}}) {  // a directory as file, a file as dir
    ScopedEnv f("SSL_CERT_FILE", env.file);
    ScopedEnv d("SSL_CERT_DIR", env.dir);
    INFO("SSL_CERT_FILE=" << env.file.value_or("(unset)") << " SSL_CERT_DIR=" << env.dir.value_or("(unset)"));
    sanstls::DefaultVerifyPaths ours = sanstls::get_default_verify_paths();
    std::vector<std::string> py = python(
        "import ssl, os\n"
        "p = ssl.get_default_verify_paths()\n"
        "print(os.path.realpath(p.cafile) if p.cafile else None)\n"
        "print(os.path.realpath(p.capath) if p.capath else None)\n"
        "print(p.openssl_cafile_env, p.openssl_capath_env)\n");
    REQUIRE(py.size() == 3);
    auto real = [](const std::optional<std::string>& p) {
      return p ? std::filesystem::weakly_canonical(*p).string() : std::string("None");
    };
    CHECK(real(ours.cafile) == py[0]);
    CHECK(real(ours.capath) == py[1]);
    CHECK(ours.openssl_cafile_env + " " + ours.openssl_capath_env == py[2]);
    CHECK(ours.openssl_capath == "/etc/ssl/certs");
  }
  // On this Debian system the built-in default is the system bundle.
  CHECK(sanstls::get_default_verify_paths().openssl_cafile == "/etc/ssl/certs/ca-certificates.crt");
}

TEST_CASE("load_default_certs loads the same system CAs as Python's", "[verify][store][python]") {
  ScopedEnv f("SSL_CERT_FILE", std::nullopt);
  ScopedEnv d("SSL_CERT_DIR", std::nullopt);
  Context ctx(Protocol::tls_client);
  CHECK(ctx.cert_store_stats() == sanstls::CertStoreStats{});
  ctx.load_default_certs();
  sanstls::CertStoreStats ours = ctx.cert_store_stats();
  CHECK(ours.x509 > 50);  // Debian's ca-certificates has well over a hundred
  std::vector<std::string> py = python(
      "import ssl\n"
      "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
      "ctx.load_default_certs()\n"
      "s = ctx.cert_store_stats()\n"
      "print(s['x509'], s['crl'], s['x509_ca'])\n"
      "for der in ctx.get_ca_certs(True):\n"
      "    print(der.hex())\n");
  REQUIRE(!py.empty());
  CHECK(stats_text(ours) == py[0]);
  std::vector<std::string> theirs(py.begin() + 1, py.end());
  std::vector<std::string> ours_der;
  for (const std::string& der : ctx.get_ca_certs(sanstls::binary_form)) ours_der.push_back(hex(der));
  CHECK(ours_der == theirs);  // the same certificates, in the same order
  CHECK(ctx.get_ca_certs().size() == ours_der.size());
}

TEST_CASE("SSL_CERT_FILE and SSL_CERT_DIR choose what load_default_certs trusts",
          "[verify][store]") {
  CertificateAuthority ca = CertificateAuthority::create();
  const Context server = server_with(ca.issue(localhost_options()));
  test::TempDir dir;

  SECTION("a bundle file") {
    ScopedEnv f("SSL_CERT_FILE", dir.write("bundle.pem", ca.certificate_pem()));
    ScopedEnv d("SSL_CERT_DIR", dir.path("nothing-here"));
    Context client(Protocol::tls_client);
    client.load_default_certs(Purpose::server_auth);
    CHECK(client.cert_store_stats() == sanstls::CertStoreStats{1, 0, 1});
    CHECK(test::handshake(client, server).ok);
  }
  SECTION("a hashed directory, read lazily as by OpenSSL") {
    std::filesystem::create_directory(dir.path("certs"));
    test::TempDir unused;
    const std::string ca_file = dir.write("certs/ca.pem", ca.certificate_pem());
    // `openssl rehash` names the link after the subject hash BoringSSL uses too.
    test::CommandResult r = test::run_command("openssl rehash " + test::shell_quote(dir.path("certs")) + " 2>&1");
    INFO(r.out);
    REQUIRE(r.status == 0);
    ScopedEnv f("SSL_CERT_FILE", dir.path("missing.pem"));
    ScopedEnv d("SSL_CERT_DIR", dir.path("certs"));
    Context client(Protocol::tls_client);
    client.set_default_verify_paths();
    CHECK(client.cert_store_stats() == sanstls::CertStoreStats{});  // nothing read yet
    CHECK(test::handshake(client, server).ok);
    CHECK(client.cert_store_stats() == sanstls::CertStoreStats{1, 0, 1});  // read by the lookup
    (void)ca_file;
  }
  SECTION("nothing there: no error, and nothing trusted") {
    ScopedEnv f("SSL_CERT_FILE", dir.path("missing.pem"));
    ScopedEnv d("SSL_CERT_DIR", dir.path("missing"));
    Context client(Protocol::tls_client);
    CHECK_NOTHROW(client.load_default_certs());
    require_verify_error(test::handshake(client, server),
                         VerifyCode::unable_to_get_issuer_cert_locally,
                         "unable to get local issuer certificate");
  }
  SECTION("a bundle that does not parse is an SSLError") {
    ScopedEnv f("SSL_CERT_FILE",
                dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                        "-----END CERTIFICATE-----\n"));
    ScopedEnv d("SSL_CERT_DIR", dir.path("missing"));
    Context client(Protocol::tls_client);
    CHECK_THROWS_AS(client.load_default_certs(), sanstls::SSLError);
  }
}

TEST_CASE("cert_store_stats and get_ca_certs equal Python's for the same files",
          "[verify][store][python]") {
  test::TempDir dir;
  CertificateAuthority ca = CertificateAuthority::create("store CA");
  const std::string ours_file =
      dir.write("mixed.pem", ca.certificate_pem() + ca.issue(localhost_options()).certificate_pem +
                                 ca.crl_pem());
  const std::vector<std::vector<std::string>> loads = {
      {python_data("pycacert.pem")},
      {python_data("pycacert.pem"), python_data("revocation.crl")},
      {python_data("ssl_cert.pem")},  // self-signed, not a CA
      {ours_file},
      {python_data("pycacert.pem"), python_data("pycacert.pem"), ours_file},  // duplicates
  };
  for (const std::vector<std::string>& files : loads) {
    std::string names;
    for (const std::string& f : files) names += std::filesystem::path(f).filename().string() + " ";
    INFO("loaded " << names);
    Context ctx(Protocol::tls_client);
    for (const std::string& f : files) ctx.load_verify_locations({.cafile = f});
    std::vector<std::string> py = python(kPythonStats, files);
    REQUIRE(!py.empty());
    CHECK(stats_text(ctx.cert_store_stats()) == py[0]);
    std::vector<std::string> theirs(py.begin() + 1, py.end());
    std::vector<std::string> ours;
    for (const std::string& der : ctx.get_ca_certs(sanstls::binary_form)) ours.push_back(hex(der));
    CHECK(ours == theirs);  // the same certificates, in the same order
    // The decoded form is getpeercert()'s.
    std::vector<sanstls::Certificate> decoded = ctx.get_ca_certs();
    REQUIRE(decoded.size() == ours.size());
    for (const sanstls::Certificate& c : decoded) CHECK(c.version == 3);
  }
}

TEST_CASE("create_default_context has Python 3.7's settings for each purpose",
          "[verify][store][python]") {
  ScopedEnv f("SSL_CERT_FILE", std::nullopt);
  ScopedEnv d("SSL_CERT_DIR", std::nullopt);
  SECTION("server_auth: a verifying client with the system CAs") {
    Context ctx = sanstls::create_default_context();
    CHECK(ctx.protocol() == Protocol::tls);
    CHECK(ctx.verify_mode() == sanstls::VerifyMode::cert_required);
    CHECK(ctx.check_hostname());
    CHECK(ctx.verify_flags() == VerifyFlags::verify_x509_trusted_first);
    CHECK(ctx.options() == Context(Protocol::tls).options());
    std::vector<std::string> py = python(
        "import ssl\n"
        "s = ssl.create_default_context().cert_store_stats()\n"
        "print(s['x509'], s['crl'], s['x509_ca'])\n");
    REQUIRE(py.size() == 1);
    CHECK(stats_text(ctx.cert_store_stats()) == py[0]);
  }
  SECTION("client_auth: a server context that verifies nothing and loads nothing") {
    Context ctx = sanstls::create_default_context(Purpose::client_auth);
    CHECK(ctx.verify_mode() == sanstls::VerifyMode::cert_none);
    CHECK_FALSE(ctx.check_hostname());
    CHECK(ctx.cert_store_stats() == sanstls::CertStoreStats{});
  }
  SECTION("explicit CAs replace the system's") {
    CertificateAuthority ca = CertificateAuthority::create();
    Context ctx = sanstls::create_default_context(Purpose::server_auth,
                                                  {.cadata = CaData::pem(ca.certificate_pem())});
    CHECK(ctx.cert_store_stats() == sanstls::CertStoreStats{1, 0, 1});
    CHECK(test::handshake(ctx, server_with(ca.issue(localhost_options()))).ok);
  }
  SECTION("$SSLKEYLOGFILE turns key logging on, as in Python 3.8") {
    test::TempDir dir;
    const std::string path = dir.path("keys.log");
    {
      ScopedEnv keylog("SSLKEYLOGFILE", path);
      Context ctx = sanstls::create_default_context(Purpose::server_auth);
      CHECK(ctx.keylog_filename() == path);
      CertificateAuthority ca = CertificateAuthority::create();
      ctx.load_verify_locations({.cadata = CaData::pem(ca.certificate_pem())});
      REQUIRE(test::handshake(ctx, server_with(ca.issue(localhost_options()))).ok);
      std::ifstream in(path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(text.find("CLIENT_TRAFFIC_SECRET_0 ") != std::string::npos);
    }
    ScopedEnv empty("SSLKEYLOGFILE", std::string());
    CHECK_FALSE(sanstls::create_default_context().keylog_filename());
  }
  SECTION("a missing cafile is an error, as Python's FileNotFoundError") {
    CHECK_THROWS_AS(sanstls::create_default_context(Purpose::server_auth, {.cafile = "/nonexistent/ca.pem"}),
                    std::system_error);
  }
}

TEST_CASE("directories in place of files, files in place of directories, empty files",
          "[verify][store][errors]") {
  test::TempDir dir;
  const std::string empty = dir.write("empty.pem", "");
  const std::string folder = dir.path("");
  Context ctx(Protocol::tls_client);
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const std::system_error& e) {
      return e.code().value();
    }
    return 0;
  };
  // Python: IsADirectoryError [Errno 21] for both.
  CHECK(code_of([&] { ctx.load_verify_locations({.cafile = folder}); }) == EISDIR);
  CHECK(code_of([&] { ctx.load_cert_chain(folder); }) == EISDIR);
  CHECK(code_of([&] { ctx.load_verify_locations({.capath = empty}); }) == ENOTDIR);
  CHECK(code_of([&] { ctx.load_verify_locations({.capath = dir.path("missing")}); }) == ENOENT);
  // Python: [X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found.
  try {
    ctx.load_verify_locations({.cafile = empty});
    FAIL("an empty cafile was accepted");
  } catch (const sanstls::SSLError& e) {
    CHECK(e.error().library == "X509");
    CHECK(e.error().reason == "NO_CERTIFICATE_OR_CRL_FOUND");
  }
  CHECK(ctx.cert_store_stats() == sanstls::CertStoreStats{});
}
