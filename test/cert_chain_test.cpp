// load_cert_chain and load_cert_chain_pem: the certificate and key from
// files or text, in every arrangement Python accepts, encrypted keys and
// their passwords (text, callbacks, wrong, missing, too long, throwing),
// intermediates sent with the leaf, the errors Python gives for broken input
// (on our files and on CPython's test files), and a failed load leaving the
// previous certificate in force.
#include <catch.hpp>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

#include "support.hpp"

using sanstls::Context;
using sanstls::Protocol;
using sanstls::testing::CertificateAuthority;
using sanstls::testing::Issued;
using test::Handshake;
using test::TempDir;
using test::client_trusting;
using test::handshake;
using test::other_pki;
using test::python_data;
using test::require_ok;
using test::require_unknown_issuer;
using test::server_with;

namespace {

// peer_certificate returns the DER certificate the client received.
std::string peer_certificate(const Handshake& h) {
  return h.client.getpeercert(sanstls::binary_form).value_or("");
}

}  // namespace

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
