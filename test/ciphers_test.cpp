// Cipher suites, groups, DH parameters, post-handshake authentication,
// ALPN and NPN: get_ciphers and shared_ciphers against Python's ssl,
// set_ciphers choosing the TLS 1.2 suite (never TLS 1.3's) and keeping its
// list when it fails, the group a handshake negotiates, the protocol ALPN
// agrees on, NPN with and without TLS 1.3 and ALPN, and what bad input gets.
#include <catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <openssl/ssl.h>

#include <sanstls/boringssl.hpp>

#include "support.hpp"

namespace {

using sanstls::CipherDescription;
using sanstls::Context;
using sanstls::Options;
using sanstls::Protocol;
using sanstls::TLSVersion;
using test::Handshake;
using test::describe;
using test::handshake;
using test::python_data;
using test::require_ok;

// python runs |script| with |args| and returns its output lines.
std::vector<std::string> python(const std::string& script, const std::vector<std::string>& args = {}) {
  return test::python_lines(script, args);
}

// squeeze joins the words of |text| with single spaces, as Python's
// " ".join(text.split()).
std::string squeeze(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string word; in >> word;) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::string opt(const std::optional<std::string>& value) { return value ? *value : "None"; }

// line is one get_ciphers() entry in the format kCipherLines prints. The
// description's padding differs between OpenSSL 1.1.1 (what sanstls
// follows) and OpenSSL 3 (under the installed Python), its words do not.
std::string line(const CipherDescription& d) {
  std::ostringstream out;
  out << d.name << '|' << d.id << '|' << d.protocol << '|' << squeeze(d.description) << '|'
      << d.strength_bits << '|' << d.alg_bits << '|' << (d.aead ? "True" : "False") << '|'
      << opt(d.symmetric) << '|' << opt(d.digest) << '|' << opt(d.kea) << '|' << opt(d.auth);
  return out.str();
}

constexpr const char* kCipherLines =
    "import ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.set_ciphers(sys.argv[1] + ':@SECLEVEL=0')\n"  // OpenSSL 3 would drop 3DES
    "for d in ctx.get_ciphers():\n"
    "    print('|'.join(str(x) for x in (d['name'], d['id'], d['protocol'],\n"
    "        ' '.join(d['description'].split()), d['strength_bits'], d['alg_bits'], d['aead'],\n"
    "        d['symmetric'], d['digest'], d['kea'], d['auth'])))\n";

std::string name_of(const std::string& cipher_line) { return cipher_line.substr(0, cipher_line.find('|')); }

bool contains(const std::vector<std::string>& list, const std::string& item) {
  for (const std::string& x : list) {
    if (x == item) return true;
  }
  return false;
}

std::vector<std::string> names(const std::vector<CipherDescription>& ciphers) {
  std::vector<std::string> out;
  for (const CipherDescription& d : ciphers) out.push_back(d.name);
  return out;
}

// tls13_names is the order in which BoringSSL offers its TLS 1.3 suites.
std::vector<std::string> tls13_names() {
  if (EVP_has_aes_hardware()) {
    return {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};
  }
  return {"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};
}

std::vector<std::string> tail(const std::vector<std::string>& list, std::size_t n) {
  return std::vector<std::string>(list.end() - static_cast<std::ptrdiff_t>(n), list.end());
}

// rsa_server_context is test::server_context() with an RSA certificate
// from the same CA, for the ECDHE-RSA and RSA key exchange suites.
Context rsa_server_context() {
  static const sanstls::testing::Issued cert = test::pki().ca.issue(
      {.common_name = "localhost", .dns_names = {"localhost"}, .key_type = sanstls::testing::KeyType::rsa2048});
  Context ctx(Protocol::tls_server);
  ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  return ctx;
}

std::string cipher_text(const sanstls::Cipher& c) {
  return c.name + " " + c.protocol + " " + std::to_string(c.secret_bits);
}

}  // namespace

// ---- get_ciphers --------------------------------------------------------

TEST_CASE("get_ciphers: the TLS 1.2 suites in order, then BoringSSL's TLS 1.3 suites",
          "[ciphers][get_ciphers]") {
  Context ctx(Protocol::tls_server);
  ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:AES256-SHA");
  std::vector<CipherDescription> all = ctx.get_ciphers();
  std::vector<std::string> expected = {"ECDHE-RSA-AES128-GCM-SHA256",
                                       "ECDHE-ECDSA-CHACHA20-POLY1305", "AES256-SHA"};
  for (const std::string& n : tls13_names()) expected.push_back(n);
  CHECK(names(all) == expected);

  // Every field of three suites, as Python 3.7 on OpenSSL 1.1.1 gives them
  // (the description with OpenSSL 1.1.1's padding).
  CipherDescription gcm;
  gcm.id = 0x0300C02F;
  gcm.name = "ECDHE-RSA-AES128-GCM-SHA256";
  gcm.protocol = "TLSv1.2";
  gcm.description = "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 Kx=ECDH     Au=RSA  Enc=AESGCM(128) Mac=AEAD";
  gcm.strength_bits = 128;
  gcm.alg_bits = 128;
  gcm.aead = true;
  gcm.symmetric = "aes-128-gcm";
  gcm.kea = "kx-ecdhe";
  gcm.auth = "auth-rsa";
  CHECK(all[0] == gcm);

  CipherDescription cbc;
  cbc.id = 0x03000035;
  cbc.name = "AES256-SHA";
  cbc.protocol = "SSLv3";
  cbc.description = "AES256-SHA              SSLv3 Kx=RSA      Au=RSA  Enc=AES(256)  Mac=SHA1";
  cbc.strength_bits = 256;
  cbc.alg_bits = 256;
  cbc.aead = false;
  cbc.symmetric = "aes-256-cbc";
  cbc.digest = "sha1";
  cbc.kea = "kx-rsa";
  cbc.auth = "auth-rsa";
  CHECK(all[2] == cbc);

  const CipherDescription* chacha13 = nullptr;
  for (const CipherDescription& d : all) {
    if (d.name == "TLS_CHACHA20_POLY1305_SHA256") chacha13 = &d;
  }
  REQUIRE(chacha13 != nullptr);
  CipherDescription tls13;
  tls13.id = 0x03001303;
  tls13.name = "TLS_CHACHA20_POLY1305_SHA256";
  tls13.protocol = "TLSv1.3";
  tls13.description =
      "TLS_CHACHA20_POLY1305_SHA256 TLSv1.3 Kx=any      Au=any  Enc=CHACHA20/POLY1305(256) Mac=AEAD";
  tls13.strength_bits = 256;
  tls13.alg_bits = 256;
  tls13.aead = true;
  tls13.symmetric = "chacha20-poly1305";
  tls13.kea = "kx-any";
  tls13.auth = "auth-any";
  CHECK(*chacha13 == tls13);
}

TEST_CASE("get_ciphers: no TLS 1.3 suites when TLS 1.3 is off", "[ciphers][get_ciphers]") {
  Context by_version(Protocol::tls);
  by_version.set_maximum_version(TLSVersion::tlsv1_2);
  Context by_option(Protocol::tls);
  by_option.set_options(by_option.options() | Options::no_tlsv1_3);
  Context pinned(Protocol::tls1_2);
  for (const Context* ctx : {&by_version, &by_option, &pinned}) {
    std::vector<CipherDescription> all = ctx->get_ciphers();
    CHECK_FALSE(all.empty());
    for (const CipherDescription& d : all) CHECK(d.protocol != "TLSv1.3");
  }
  Context on(Protocol::tls);
  CHECK(tail(names(on.get_ciphers()), 3) == tls13_names());
}

TEST_CASE("get_ciphers: every field equals Python's for the suites both libraries have",
          "[ciphers][get_ciphers][python]") {
  // Python's TLS 1.3 suites come first, sanstls's last; the TLS 1.2 suites
  // BoringSSL has come in the same order. BoringSSL lacks DHE, CCM,
  // CAMELLIA, ARIA, the SHA-256/384 CBC suites and most PSK ones.
  const std::string cipher_list = GENERATE(
      std::string("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:AES128-SHA:"
                  "ECDHE-RSA-AES256-SHA:DES-CBC3-SHA:AES256-GCM-SHA384"),
      std::string("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK"),
      std::string("ALL"), std::string("PSK"), std::string("ECDHE+AESGCM:!ECDSA"));
  INFO("cipher list: " << cipher_list);
  Context ctx(Protocol::tls_server);
  ctx.set_ciphers(cipher_list);
  std::vector<std::string> ours;
  for (const CipherDescription& d : ctx.get_ciphers()) ours.push_back(line(d));
  std::vector<std::string> theirs = python(kCipherLines, {cipher_list});

  std::vector<std::string> their_names, our_names;
  for (const std::string& l : theirs) their_names.push_back(name_of(l));
  for (const std::string& l : ours) our_names.push_back(name_of(l));
  std::vector<std::string> ours_common, theirs_common;
  for (const std::string& l : ours) {
    if (contains(their_names, name_of(l))) ours_common.push_back(l);
  }
  for (const std::string& l : theirs) {
    if (contains(our_names, name_of(l)) && l.find("|TLSv1.3|") == std::string::npos) {
      theirs_common.push_back(l);
    }
  }
  // Python lists TLS 1.3 first: move them to the end, in sanstls's order.
  for (const std::string& n : tls13_names()) {
    for (const std::string& l : theirs) {
      if (name_of(l) == n) theirs_common.push_back(l);
    }
  }
  CHECK(ours_common.size() >= 4);
  if (cipher_list.rfind("ECDHE-ECDSA-AES256", 0) == 0) {
    CHECK(ours_common == theirs_common);  // same suites, same order
  } else {
    // OpenSSL and BoringSSL sort DEFAULT, ALL and "+" differently (OpenSSL
    // puts stronger suites first).
    std::sort(ours_common.begin(), ours_common.end());
    std::sort(theirs_common.begin(), theirs_common.end());
    CHECK(ours_common == theirs_common);
  }
}

TEST_CASE("a default handshake picks the first TLS 1.3 suite get_ciphers lists",
          "[ciphers][get_ciphers]") {
  test::Handshake h = test::handshake(test::client_context(), test::server_context());
  REQUIRE(h.ok);
  REQUIRE(h.client.cipher());
  CHECK(h.client.cipher()->name == tls13_names().front());
  CHECK(h.server.cipher()->name == tls13_names().front());
}

// ---- set_ciphers --------------------------------------------------------

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

// ---- shared_ciphers -----------------------------------------------------

// Python 3.7's documentation: "the list of ciphers shared by the client
// during the handshake", None before it and on a client. (Python 3.7's code
// returned its own list on both sides, at any time, a bug fixed in 3.11's
// _ssl.c, which does what the documentation says.) sanstls does what the
// documentation says, in get_ciphers() order (Python puts TLS 1.3 first).

TEST_CASE("shared_ciphers: the server's suites the client offered, as Python 3.11",
          "[ciphers][shared_ciphers][python]") {
  const bool tls12 = GENERATE(false, true);
  INFO("client limited to TLS 1.2: " << tls12);
  Context client_ctx = test::client_context();
  client_ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA");
  if (tls12) client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
  Context server_ctx = rsa_server_context();
  server_ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305");
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  REQUIRE(h.ok);
  CHECK_FALSE(h.client.shared_ciphers());
  const std::optional<std::vector<sanstls::Cipher>> shared = h.server.shared_ciphers();
  REQUIRE(shared);
  std::vector<std::string> ours;
  for (const sanstls::Cipher& c : *shared) ours.push_back(cipher_text(c));

  std::vector<std::string> expected = {"ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 128"};
  if (!tls12) {
    for (const CipherDescription& d : server_ctx.get_ciphers()) {
      if (d.protocol == "TLSv1.3") expected.push_back(d.name + " TLSv1.3 " + std::to_string(d.strength_bits));
    }
  }
  CHECK(ours == expected);

  // Python 3.11, same suites on both sides, with the same certificate.
  std::vector<std::string> theirs = python(
      "import ssl, sys\n"
      "s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); s.load_cert_chain(sys.argv[1])\n"
      "s.set_ciphers('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305')\n"
      "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False\n"
      "c.verify_mode = ssl.CERT_NONE; c.set_ciphers('ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA')\n"
      "if sys.argv[2] == '1': c.maximum_version = ssl.TLSVersion.TLSv1_2\n"
      "ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()\n"
      "cl = c.wrap_bio(ci, co); sv = s.wrap_bio(si, so, server_side=True)\n"
      "print(cl.shared_ciphers(), sv.shared_ciphers())\n"
      "for _ in range(10):\n"
      "    for o in (cl, sv):\n"
      "        try: o.do_handshake()\n"
      "        except ssl.SSLWantReadError: pass\n"
      "    si.write(co.read()); ci.write(so.read())\n"
      "print(cl.shared_ciphers())\n"
      "for n, p, b in sv.shared_ciphers(): print(n, p, b)\n",
      {python_data("keycert.pem"), tls12 ? "1" : "0"});
  REQUIRE(theirs.size() >= 2);
  CHECK(theirs[0] == "None None");
  CHECK(theirs[1] == "None");
  std::vector<std::string> their_list(theirs.begin() + 2, theirs.end());
  std::sort(their_list.begin(), their_list.end());
  std::sort(ours.begin(), ours.end());
  CHECK(ours == their_list);
}

TEST_CASE("shared_ciphers: nothing before the handshake or on a client", "[ciphers][shared_ciphers]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  CHECK_FALSE(p.client.shared_ciphers());
  CHECK_FALSE(p.server.shared_ciphers());
  test::Handshake h = test::handshake(test::client_context(), test::server_context());
  REQUIRE(h.ok);
  CHECK_FALSE(h.client.shared_ciphers());
  CHECK_FALSE(h.client.compression());
  CHECK_FALSE(h.server.compression());
}

// ---- set_ecdh_curve -----------------------------------------------------

TEST_CASE("set_ecdh_curve: the chosen group is the one negotiated", "[ciphers][curves]") {
  struct Case {
    const char* name;
    uint16_t id;
  };
  const Case c = GENERATE(Case{"prime256v1", SSL_CURVE_SECP256R1}, Case{"P-256", SSL_CURVE_SECP256R1},
                          Case{"secp384r1", SSL_CURVE_SECP384R1}, Case{"P-384", SSL_CURVE_SECP384R1},
                          Case{"secp521r1", SSL_CURVE_SECP521R1}, Case{"P-521", SSL_CURVE_SECP521R1},
                          Case{"secp224r1", SSL_CURVE_SECP224R1}, Case{"X25519", SSL_CURVE_X25519});
  const bool tls12 = GENERATE(false, true);
  INFO(c.name << (tls12 ? " TLS 1.2" : " TLS 1.3"));
  // The server is restricted; the client offers everything it has (and
  // P-224, which BoringSSL supports but does not offer by default).
  Context server_ctx = test::server_context();
  server_ctx.set_ecdh_curve(c.name);
  Context client_ctx = test::client_context();
  REQUIRE(SSL_CTX_set1_curves_list(sanstls::native_handle(client_ctx), "X25519:P-256:P-384:P-521:P-224"));
  if (tls12) client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
  test::Handshake h = test::handshake(client_ctx, server_ctx);
  REQUIRE(h.ok);
  CHECK(SSL_get_curve_id(sanstls::native_handle(h.client)) == c.id);
  CHECK(SSL_get_curve_id(sanstls::native_handle(h.server)) == c.id);
  CHECK(*h.client.version() == (tls12 ? "TLSv1.2" : "TLSv1.3"));
}

TEST_CASE("set_ecdh_curve: groups in common with no one fail the handshake", "[ciphers][curves]") {
  Context server_ctx = rsa_server_context();
  server_ctx.set_ecdh_curve("X25519");
  Context client_ctx = test::client_context();
  client_ctx.set_ecdh_curve("P-256");

  test::Handshake tls13 = test::handshake(client_ctx, server_ctx);
  CHECK_FALSE(tls13.ok);

  // TLS 1.2 with only ECDHE suites fails too ...
  client_ctx.set_maximum_version(TLSVersion::tlsv1_2);
  client_ctx.set_ciphers("ECDHE");
  CHECK_FALSE(test::handshake(client_ctx, server_ctx).ok);

  // ... but with RSA key exchange allowed (Python's default list has it) the
  // server falls back to it: no group at all.
  client_ctx.set_ciphers("ECDHE:AES128-GCM-SHA256");
  test::Handshake rsa = test::handshake(client_ctx, server_ctx);
  REQUIRE(rsa.ok);
  CHECK(rsa.client.cipher()->name == "AES128-GCM-SHA256");
  CHECK(SSL_get_curve_id(sanstls::native_handle(rsa.client)) == 0);
}

TEST_CASE("set_ecdh_curve: unknown names are Python's ValueError", "[ciphers][curves][python]") {
  // Names Python's OBJ_sn2nid does not know; the check is case-sensitive.
  const std::vector<std::string> bad = {"x25519", "PRIME256V1", "", "foo", "prime256v1 ", "sha256"};
  std::vector<std::string> theirs = python(
      "import ssl, sys\n"
      "for n in sys.argv[1:]:\n"
      "    try:\n"
      "        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ecdh_curve(n); print('ok')\n"
      "    except ValueError as e: print(e)\n",
      bad);
  REQUIRE(theirs.size() == bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    Context ctx(Protocol::tls_server);
    try {
      ctx.set_ecdh_curve(bad[i]);
      FAIL("accepted '" << bad[i] << "'");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == theirs[i]);
    }
  }
  // Curves OpenSSL (so Python) has and BoringSSL lacks are refused alike.
  Context ctx(Protocol::tls_server);
  for (const char* missing : {"brainpoolP256r1", "secp256k1", "X448", "ffdhe2048"}) {
    CHECK_THROWS_AS(ctx.set_ecdh_curve(missing), std::invalid_argument);
  }
  // The context still works with what it had.
  ctx.set_ecdh_curve("secp384r1");
  ctx.load_cert_chain_pem(test::pki().server.certificate_pem, test::pki().server.private_key_pem);
  test::Handshake h = test::handshake(test::client_context(), ctx);
  REQUIRE(h.ok);
  CHECK(SSL_get_curve_id(sanstls::native_handle(h.server)) == SSL_CURVE_SECP384R1);
}

// ---- load_dh_params -----------------------------------------------------

TEST_CASE("load_dh_params: parses the file as Python, then NotImplementedError",
          "[ciphers][dh][python]") {
  Context ctx(Protocol::tls_server);
  CHECK_THROWS_AS(ctx.load_dh_params(python_data("ffdh3072.pem")), sanstls::NotImplementedError);

  test::TempDir dir;
  try {
    ctx.load_dh_params(dir.path("missing.pem"));
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::error_code(ENOENT, std::generic_category()));
  }
  try {
    ctx.load_dh_params(dir.path(""));
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::error_code(EISDIR, std::generic_category()));
  }

  // Broken files: Python's SSLError message, less its "(_ssl.c:NNNN)".
  const std::vector<std::string> broken = {
      python_data("badcert.pem"),   // a broken base64 body
      python_data("keycert.pem"),   // PEM, but no DH PARAMETERS block
      python_data("nullcert.pem"),  // empty
      dir.write("broken-dh.pem", "-----BEGIN DH PARAMETERS-----\nnot base64!!\n-----END DH PARAMETERS-----\n"),
      dir.write("garbage-dh.pem", "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n"),
  };
  std::vector<std::string> theirs = python(
      "import ssl, sys, re\n"
      "for f in sys.argv[1:]:\n"
      "    try:\n"
      "        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_dh_params(f); print('ok')\n"
      "    except ssl.SSLError as e: print(re.sub(r' \\(_ssl\\.c:\\d+\\)$', '', str(e)))\n",
      broken);
  REQUIRE(theirs.size() == broken.size());
  for (std::size_t i = 0; i < broken.size(); ++i) {
    INFO(broken[i]);
    try {
      ctx.load_dh_params(broken[i]);
      FAIL("no error");
    } catch (const sanstls::SSLError& e) {
      // Python (OpenSSL 3) says "[ASN1: ...]" or "[DECODER: ...]" for a
      // body that is base64 but not DH parameters; BoringSSL's words differ.
      if (theirs[i].rfind("[PEM:", 0) == 0) {
        CHECK(std::string(e.what()) == theirs[i]);
      } else {
        CHECK_FALSE(std::string(e.what()).empty());
      }
    }
  }
}

// ---- post-handshake authentication --------------------------------------

TEST_CASE("post-handshake authentication is not there, as in a Python without HAS_PHA",
          "[ciphers][pha]") {
  Context ctx = test::server_context();
  CHECK_FALSE(ctx.post_handshake_auth());
  CHECK_NOTHROW(ctx.set_post_handshake_auth(false));
  CHECK_THROWS_AS(ctx.set_post_handshake_auth(true), sanstls::NotImplementedError);
  CHECK_FALSE(ctx.post_handshake_auth());

  test::Handshake h = test::handshake(test::client_context(), ctx);
  REQUIRE(h.ok);
  try {
    h.server.verify_client_post_handshake();
    FAIL("no error");
  } catch (const sanstls::NotImplementedError& e) {
    CHECK(std::string(e.what()) == "Post-handshake auth is not supported by your OpenSSL version.");
  }
  CHECK_THROWS_AS(h.client.verify_client_post_handshake(), sanstls::NotImplementedError);
}

// ---- ALPN ---------------------------------------------------------------

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

// ---- NPN ----------------------------------------------------------------

namespace {

Context npn_client(const std::vector<std::string>& protocols, bool tls12 = true) {
  Context ctx = test::client_context();
  if (tls12) ctx.set_maximum_version(TLSVersion::tlsv1_2);
  ctx.set_npn_protocols(protocols);
  return ctx;
}

Context npn_server(const std::vector<std::string>& protocols) {
  Context ctx = test::server_context();
  ctx.set_npn_protocols(protocols);
  return ctx;
}

}  // namespace

TEST_CASE("NPN negotiates in TLS 1.2 as in CPython's test_npn_protocols", "[ciphers][npn]") {
  // CPython's table: server ['http/1.1', 'spdy/2']; the server's order
  // wins; without overlap the client asks for its own first protocol.
  struct Case {
    std::vector<std::string> client;
    std::string expected;
  };
  const Case c = GENERATE(Case{{"http/1.1", "spdy/2"}, "http/1.1"},
                          Case{{"spdy/2", "http/1.1"}, "http/1.1"},
                          Case{{"spdy/2", "test"}, "spdy/2"}, Case{{"abc", "def"}, "abc"});
  INFO("client: " << c.client[0] << ", " << c.client[1]);
  test::Pair before = test::make_pair(npn_client(c.client), npn_server({"http/1.1", "spdy/2"}));
  CHECK_FALSE(before.client.selected_npn_protocol());
  CHECK_FALSE(before.server.selected_npn_protocol());

  test::Handshake h = test::handshake(npn_client(c.client), npn_server({"http/1.1", "spdy/2"}));
  REQUIRE(h.ok);
  CHECK(*h.client.version() == "TLSv1.2");
  CHECK(h.client.selected_npn_protocol() == c.expected);
  CHECK(h.server.selected_npn_protocol() == c.expected);
  CHECK_FALSE(h.client.selected_alpn_protocol());
}

TEST_CASE("NPN: not in TLS 1.3, and not when one side lacks it", "[ciphers][npn]") {
  test::Handshake tls13 = test::handshake(npn_client({"http/1.1"}, false), npn_server({"http/1.1"}));
  REQUIRE(tls13.ok);
  CHECK(*tls13.client.version() == "TLSv1.3");
  CHECK_FALSE(tls13.client.selected_npn_protocol());
  CHECK_FALSE(tls13.server.selected_npn_protocol());

  Context plain_client = test::client_context();
  plain_client.set_maximum_version(TLSVersion::tlsv1_2);
  test::Handshake no_client = test::handshake(plain_client, npn_server({"http/1.1"}));
  REQUIRE(no_client.ok);
  CHECK_FALSE(no_client.client.selected_npn_protocol());
  CHECK_FALSE(no_client.server.selected_npn_protocol());

  test::Handshake no_server = test::handshake(npn_client({"http/1.1"}), test::server_context());
  REQUIRE(no_server.ok);
  CHECK_FALSE(no_server.client.selected_npn_protocol());
  CHECK_FALSE(no_server.server.selected_npn_protocol());

  // An empty list turns NPN off again.
  Context cleared = npn_client({"http/1.1"});
  cleared.set_npn_protocols({});
  test::Handshake off = test::handshake(cleared, npn_server({"http/1.1"}));
  REQUIRE(off.ok);
  CHECK_FALSE(off.client.selected_npn_protocol());
  CHECK_FALSE(off.server.selected_npn_protocol());
}

TEST_CASE("NPN and ALPN: a client that offers ALPN gets no NPN from a sanstls server",
          "[ciphers][npn][alpn]") {
  // BoringSSL's rule: "ALPN takes precedence over NPN": a server with ALPN
  // protocols ignores NPN as soon as the ClientHello carries ALPN, whether
  // or not ALPN then agrees. OpenSSL (so Python) drops NPN only when ALPN
  // agreed, so the disjoint case below gets NPN there. A sanstls server
  // without ALPN protocols installs no ALPN selector, so NPN works then.
  Context client_ctx = npn_client({"spdy/2"});
  Context server_ctx = npn_server({"spdy/2"});
  client_ctx.set_alpn_protocols({"h2"});
  server_ctx.set_alpn_protocols({"h2"});
  test::Handshake both = test::handshake(client_ctx, server_ctx);
  REQUIRE(both.ok);
  CHECK(both.client.selected_alpn_protocol() == "h2");
  CHECK(both.server.selected_alpn_protocol() == "h2");
  CHECK_FALSE(both.client.selected_npn_protocol());
  CHECK_FALSE(both.server.selected_npn_protocol());

  // A client without ALPN still gets NPN from a server that has both.
  test::Handshake npn_only_client = test::handshake(npn_client({"spdy/2"}), server_ctx);
  REQUIRE(npn_only_client.ok);
  CHECK_FALSE(npn_only_client.client.selected_alpn_protocol());
  CHECK(npn_only_client.client.selected_npn_protocol() == "spdy/2");
  CHECK(npn_only_client.server.selected_npn_protocol() == "spdy/2");

  // ALPN offered but not agreed: no protocol at all (OpenSSL: NPN).
  server_ctx.set_alpn_protocols({"h3"});
  test::Handshake disjoint = test::handshake(client_ctx, server_ctx);
  REQUIRE(disjoint.ok);
  CHECK_FALSE(disjoint.client.selected_alpn_protocol());
  CHECK_FALSE(disjoint.client.selected_npn_protocol());
  CHECK_FALSE(disjoint.server.selected_npn_protocol());

  // A server with NPN only, a client with both: NPN, as with OpenSSL.
  test::Handshake npn_only_server = test::handshake(client_ctx, npn_server({"spdy/2"}));
  REQUIRE(npn_only_server.ok);
  CHECK_FALSE(npn_only_server.client.selected_alpn_protocol());
  CHECK(npn_only_server.client.selected_npn_protocol() == "spdy/2");
  CHECK(npn_only_server.server.selected_npn_protocol() == "spdy/2");

  // Clearing the server's ALPN list brings NPN back for ALPN clients.
  server_ctx.set_alpn_protocols({});
  test::Handshake cleared = test::handshake(client_ctx, server_ctx);
  REQUIRE(cleared.ok);
  CHECK_FALSE(cleared.client.selected_alpn_protocol());
  CHECK(cleared.client.selected_npn_protocol() == "spdy/2");
}

TEST_CASE("set_npn_protocols: bad names are refused and the list is kept", "[ciphers][npn]") {
  Context ctx = npn_client({"spdy/2"});
  CHECK_THROWS_AS(ctx.set_npn_protocols({"ok", ""}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_npn_protocols({std::string(256, 'a')}), std::invalid_argument);
  try {
    ctx.set_npn_protocols({std::string(256, 'a')});
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "NPN protocols must be 1 to 255 bytes long, got 256");
  }
  test::Handshake kept = test::handshake(ctx, npn_server({"spdy/2"}));
  REQUIRE(kept.ok);
  CHECK(kept.client.selected_npn_protocol() == "spdy/2");

  const std::string longest(255, 'z');
  Context client_ctx = npn_client({longest});
  test::Handshake h = test::handshake(client_ctx, npn_server({"x", longest}));
  REQUIRE(h.ok);
  CHECK(h.server.selected_npn_protocol() == longest);
}
