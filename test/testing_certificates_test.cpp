// sanstls::testing certificates: what CertificateAuthority, issue() and
// self_signed() make, proved by handshakes a client verifies and by
// Python's own certificate decoder.
#include <catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>
#include <sanstls/testing/pipe.hpp>

#include "support.hpp"

using sanstls::CaData;
using sanstls::Context;
using sanstls::ErrorKind;
using sanstls::Protocol;
using sanstls::Status;
using sanstls::VerifyMode;
using sanstls::testing::CertificateAuthority;
using sanstls::testing::CertificateOptions;
using sanstls::testing::Issued;
using sanstls::testing::KeyType;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::VerifyCode;
using test::Handshake;
using test::describe;
using test::TempDir;
using test::client_trusting;
using test::handshake;
using test::require_ok;
using test::server_with;

namespace {

// require_verify_error checks that the client rejected the server's
// certificate with X509 error |code| and its BoringSSL text.
void require_verify_error(const Handshake& h, VerifyCode code, const std::string& text) {
  INFO("client: " << describe(h.client_result));
  CHECK_FALSE(h.ok);
  REQUIRE(h.client_result.status == Status::error);
  REQUIRE(h.client_result.error);
  const sanstls::Error& e = *h.client_result.error;
  CHECK(e.kind == ErrorKind::cert_verification);
  CHECK(e.reason == "CERTIFICATE_VERIFY_FAILED");
  CHECK(e.verify_code == code);
  CHECK(e.verify_message == text);
  CHECK(e.message == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + text);
}

const CertificateAuthority& test_ca() {
  static const CertificateAuthority ca = CertificateAuthority::create("sanstls cert test CA");
  return ca;
}

std::string key_type_name(KeyType type) {
  switch (type) {
    case KeyType::ec_p256: return "ec_p256";
    case KeyType::rsa2048: return "rsa2048";
    case KeyType::ed25519: return "ed25519";
  }
  return "?";
}

using test::CommandResult;

CommandResult run(const std::string& command) { return test::run_command(command); }
const std::string& python() { return test::python3(); }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// PythonView is what Python's ssl module reads from a certificate: the
// JSON of ssl._ssl._test_decode_cert (getpeercert()'s dict), the
// notBefore/notAfter it parsed with ssl.cert_time_to_seconds, and whether
// ssl.PEM_cert_to_DER_cert(pem) equals the DER sanstls produced.
struct PythonView {
  std::string json;
  long long not_before;
  long long not_after;
  bool der_matches;
};

PythonView python_view(const Issued& issued) {
  TempDir dir;
  std::string pem = dir.write("cert.pem", issued.certificate_pem);
  std::string der = dir.write("cert.der", issued.certificate_der);
  const std::string script =
      "import ssl,json,sys\n"
      "d = ssl._ssl._test_decode_cert(sys.argv[1])\n"
      "print(json.dumps(d))\n"
      "print(ssl.cert_time_to_seconds(d[\"notBefore\"]))\n"
      "print(ssl.cert_time_to_seconds(d[\"notAfter\"]))\n"
      "print(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read()) == open(sys.argv[2], \"rb\").read())\n";
  CommandResult r = run("'" + python() + "' -c '" + script + "' '" + pem + "' '" + der + "'");
  INFO("python output: " << r.out);
  REQUIRE(r.status == 0);
  std::vector<std::string> out = lines(r.out);
  REQUIRE(out.size() == 4);
  return PythonView{out[0], std::stoll(out[1]), std::stoll(out[2]), out[3] == "True"};
}

long long now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------
// Authorities and issued certificates

TEST_CASE("CertificateAuthority::create makes a root that verifies what it issues",
          "[certificates]") {
  CertificateAuthority ca = CertificateAuthority::create("fresh root");
  CHECK(ca.certificate_pem() == ca.root().certificate_pem);
  CHECK_THAT(ca.certificate_pem(), Catch::StartsWith("-----BEGIN CERTIFICATE-----\n"));
  CHECK_THAT(ca.root().private_key_pem, Catch::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  CHECK_FALSE(ca.root().certificate_der.empty());

  Issued leaf = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  require_ok(handshake(client_trusting(ca.certificate_pem()), server_with(leaf)));
  // Trusting the DER form of the root works the same.
  Context der_client(Protocol::tls_client);
  der_client.load_verify_locations(
      {.cadata = CaData::der(sanstls::as_bytes(ca.root().certificate_der))});
  require_ok(handshake(der_client, server_with(leaf)));
}

TEST_CASE("two CAs made the same way are different and do not trust each other",
          "[certificates]") {
  CertificateAuthority a = CertificateAuthority::create("same name");
  CertificateAuthority b = CertificateAuthority::create("same name");
  CHECK(a.root().certificate_der != b.root().certificate_der);
  CHECK(a.root().private_key_pem != b.root().private_key_pem);
  Issued leaf = b.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  // Same subject name, different key: the leaf's authority key identifier
  // names b's key, so a's root is not taken for its issuer.
  require_verify_error(handshake(client_trusting(a.certificate_pem()), server_with(leaf)), VerifyCode::unable_to_get_issuer_cert_locally,
                       "unable to get local issuer certificate");
}

TEST_CASE("each issue() makes a new key and serial number", "[certificates]") {
  CertificateOptions options;
  options.dns_names = {"localhost"};
  Issued a = test_ca().issue(options);
  Issued b = test_ca().issue(options);
  CHECK(a.certificate_der != b.certificate_der);
  CHECK(a.private_key_pem != b.private_key_pem);
  PythonView va = python_view(a);
  PythonView vb = python_view(b);
  auto serial = [](const std::string& json) {
    std::size_t at = json.find("\"serialNumber\": \"");
    REQUIRE(at != std::string::npos);
    at += 17;
    return json.substr(at, json.find('"', at) - at);
  };
  std::string sa = serial(va.json);
  std::string sb = serial(vb.json);
  CHECK(sa != sb);
  // 16 random bytes, positive and with the top bits fixed so that the
  // encoding is always 16 bytes long.
  CHECK(sa.size() == 32);
  CHECK(sa.find_first_not_of("0123456789ABCDEF") == std::string::npos);
  CHECK(sa.front() >= '4');
  CHECK(sa.front() <= '7');
}

TEST_CASE("subjectAltName DNS, IP and email entries are what a client verifies",
          "[certificates][san]") {
  Issued leaf = test_ca().issue({.common_name = "www.example.test",
                                 .dns_names = {"www.example.test", "*.wild.example.test"},
                                 .ip_addresses = {"192.0.2.1", "2001:db8::1"},
                                 .emails = {"admin@example.test"}});
  Context server = server_with(leaf);
  Context client = client_trusting(test_ca().certificate_pem());

  for (const char* name : {"www.example.test", "a.wild.example.test", "192.0.2.1", "2001:db8::1"}) {
    INFO("server_hostname " << name);
    require_ok(handshake(client, server, name));
  }
  SECTION("names the certificate does not hold fail") {
    require_verify_error(handshake(client, server, "example.test"), VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for 'example.test'.");
    require_verify_error(handshake(client, server, "a.b.wild.example.test"), VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for "
                         "'a.b.wild.example.test'.");
    require_verify_error(handshake(client, server, "192.0.2.2"), VerifyCode::ip_address_mismatch,
                         "IP address mismatch, certificate is not valid for '192.0.2.2'.");
    // An email SAN is no host name.
    require_verify_error(handshake(client, server, "admin@example.test"), VerifyCode::hostname_mismatch,
                         "Hostname mismatch, certificate is not valid for "
                         "'admin@example.test'.");
  }
}

TEST_CASE("a certificate without SANs is matched by its common name, as Python 3.7",
          "[certificates][san]") {
  // BoringSSL falls back to the subject CN when there is no DNS SAN, as
  // OpenSSL 1.1.1 did under Python 3.7 (hostname_checks_common_name on by
  // default).
  Issued leaf = test_ca().issue({.common_name = "localhost"});
  Context client = client_trusting(test_ca().certificate_pem());
  require_ok(handshake(client, server_with(leaf), "localhost"));
  require_verify_error(handshake(client, server_with(leaf), "otherhost"), VerifyCode::hostname_mismatch,
                       "Hostname mismatch, certificate is not valid for 'otherhost'.");
}

TEST_CASE("a certificate with a DNS SAN is not matched by its common name",
          "[certificates][san]") {
  Issued leaf = test_ca().issue({.common_name = "cn.example.test", .dns_names = {"localhost"}});
  Context client = client_trusting(test_ca().certificate_pem());
  require_ok(handshake(client, server_with(leaf), "localhost"));
  require_verify_error(handshake(client, server_with(leaf), "cn.example.test"), VerifyCode::hostname_mismatch,
                       "Hostname mismatch, certificate is not valid for 'cn.example.test'.");
}

TEST_CASE("Python decodes an issued certificate as sanstls meant it", "[certificates][python]") {
  Issued leaf = test_ca().issue({.common_name = "www.example.test",
                                 .organization = "sanstls org",
                                 .dns_names = {"www.example.test", "*.example.test"},
                                 .ip_addresses = {"192.0.2.1", "2001:db8::1"},
                                 .emails = {"admin@example.test"},
                                 .not_before_offset = -7200,
                                 .not_after_offset = 86400});
  long long before = now_seconds();
  PythonView view = python_view(leaf);
  long long after = now_seconds();
  INFO("Python's dict: " << view.json);

  CHECK_THAT(view.json, Catch::Contains(
                            "\"subject\": [[[\"organizationName\", \"sanstls org\"]], "
                            "[[\"commonName\", \"www.example.test\"]]]"));
  CHECK_THAT(view.json, Catch::Contains("\"issuer\": [[[\"organizationName\", \"sanstls tests\"]], "
                                        "[[\"commonName\", \"sanstls cert test CA\"]]]"));
  CHECK_THAT(view.json, Catch::Contains("\"version\": 3"));
  // Python (OpenSSL 3) prints IPv6 addresses uncompressed, in upper case.
  CHECK_THAT(view.json,
             Catch::Contains("\"subjectAltName\": [[\"DNS\", \"www.example.test\"], "
                             "[\"DNS\", \"*.example.test\"], [\"IP Address\", \"192.0.2.1\"], "
                             "[\"IP Address\", \"2001:DB8:0:0:0:0:0:1\"], "
                             "[\"email\", \"admin@example.test\"]]"));
  // notBefore and notAfter parse and are where the offsets put them (the
  // certificate was made just before |before|; X.509 times have whole
  // seconds).
  CHECK(view.not_before >= before - 7200 - 60);
  CHECK(view.not_before <= after - 7200);
  CHECK(view.not_after >= before + 86400 - 60);
  CHECK(view.not_after <= after + 86400);
  CHECK(view.der_matches);
}

TEST_CASE("the default validity is from an hour ago for a year", "[certificates][python]") {
  Issued leaf = test_ca().issue({});
  long long now = now_seconds();
  PythonView view = python_view(leaf);
  CHECK(view.not_before >= now - 3600 - 120);
  CHECK(view.not_before <= now - 3600 + 5);
  CHECK(view.not_after >= now + 365LL * 24 * 3600 - 120);
  CHECK(view.not_after <= now + 365LL * 24 * 3600 + 5);
  // No SAN option, no subjectAltName extension.
  CHECK_THAT(view.json, !Catch::Contains("subjectAltName"));
  CHECK_THAT(view.json, Catch::Contains("[[\"commonName\", \"localhost\"]]"));
  CHECK_THAT(view.json, Catch::Contains("[[\"organizationName\", \"sanstls tests\"]]"));
}

TEST_CASE("Python decodes a CA root as self-issued", "[certificates][python]") {
  CertificateAuthority ca = CertificateAuthority::create("decoded root");
  PythonView view = python_view(ca.root());
  INFO(view.json);
  CHECK_THAT(view.json, Catch::Contains("\"subject\": [[[\"organizationName\", \"sanstls tests\"]], "
                                        "[[\"commonName\", \"decoded root\"]]]"));
  CHECK_THAT(view.json, Catch::Contains("\"issuer\": [[[\"organizationName\", \"sanstls tests\"]], "
                                        "[[\"commonName\", \"decoded root\"]]]"));
  CHECK(view.not_after - now_seconds() > 9LL * 365 * 24 * 3600);
  CHECK(view.der_matches);
}

TEST_CASE("an invalid IP address text is refused by issue()", "[certificates][san]") {
  for (const char* bad : {"not-an-ip", "1.2.3", "256.0.0.1", "::g", "1:2:3:4:5:6:7:8:9",
                          "localhost", ""}) {
    INFO("ip_addresses = {\"" << bad << "\"}");
    try {
      (void)test_ca().issue({.ip_addresses = {bad}});
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains(std::string("'") + bad + "'"));
    }
  }
  CHECK_THROWS_AS(sanstls::testing::self_signed({.ip_addresses = {"127.0.0.1", "nope"}}),
                  std::invalid_argument);
}

TEST_CASE("an IPv4 address with trailing text is refused by issue()", "[certificates][san]") {
  // Regression test: BoringSSL's a2i_IPADDRESS reads IPv4 with sscanf and
  // ignores trailing text, so "127.0.0.1.example.com" would be issued as
  // IP:127.0.0.1. issue() must refuse it as "an IP address that does not
  // parse", with the same strict parser wrap_bio uses for server_hostname.
  for (const char* bad : {"1.2.3.4.5", "127.0.0.1.example.com", "1.2.3.4x", "1.2.3.4/24"}) {
    INFO("ip_addresses = {\"" << bad << "\"}");
    CHECK_THROWS_AS((void)test_ca().issue({.ip_addresses = {bad}}), std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------
// Key types

TEST_CASE("EC P-256 and RSA 2048 server certificates verify in a handshake",
          "[certificates][keys]") {
  KeyType type = GENERATE(KeyType::ec_p256, KeyType::rsa2048);
  INFO("key type " << key_type_name(type));
  Issued leaf =
      test_ca().issue({.common_name = "localhost", .dns_names = {"localhost"}, .key_type = type});
  CHECK_THAT(leaf.private_key_pem, Catch::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  Handshake h = handshake(client_trusting(test_ca().certificate_pem()), server_with(leaf));
  require_ok(h);
  CHECK(h.client.getpeercert(sanstls::binary_form).value_or("") == leaf.certificate_der);
  // TLS 1.2 uses the key type's own cipher family.
  Context server = server_with(leaf);
  server.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
  Handshake h12 = handshake(client_trusting(test_ca().certificate_pem()), server);
  require_ok(h12);
  REQUIRE(h12.client.cipher());
  CHECK_THAT(h12.client.cipher()->name,
             Catch::StartsWith(type == KeyType::rsa2048 ? "ECDHE-RSA-" : "ECDHE-ECDSA-"));
}

TEST_CASE("an Ed25519 server certificate verifies in a handshake between default contexts",
          "[certificates][keys]") {
  // Regression test: BoringSSL leaves Ed25519 out of the signature
  // algorithms a peer may use unless told otherwise, which made every
  // handshake with an Ed25519 server fail (NO_COMMON_SIGNATURE_ALGORITHMS).
  // OpenSSL, and so Python, accepts Ed25519 by default; Context does too.
  Issued leaf = test_ca().issue(
      {.common_name = "localhost", .dns_names = {"localhost"}, .key_type = KeyType::ed25519});
  CHECK_THAT(leaf.private_key_pem, Catch::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  Handshake h = handshake(client_trusting(test_ca().certificate_pem()), server_with(leaf));
  require_ok(h);
  CHECK(h.client.getpeercert(sanstls::binary_form).value_or("") == leaf.certificate_der);
}

TEST_CASE("CAs with each key type sign certificates a client verifies", "[certificates][keys]") {
  KeyType type = GENERATE(KeyType::ec_p256, KeyType::rsa2048, KeyType::ed25519);
  INFO("CA key type " << key_type_name(type));
  CertificateAuthority ca = CertificateAuthority::create("typed root", type);
  CertificateAuthority inter = ca.intermediate("typed intermediate", type);
  Issued leaf = inter.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  require_ok(
      handshake(client_trusting(ca.certificate_pem()), server_with(leaf, inter.certificate_pem())));
}

// ---------------------------------------------------------------------------
// Self-signed, expired, not yet valid

TEST_CASE("a self_signed certificate is rejected untrusted and accepted when trusted",
          "[certificates][self_signed]") {
  Issued cert = sanstls::testing::self_signed(
      {.common_name = "localhost", .dns_names = {"localhost"}});
  Context server = server_with(cert);
  SECTION("a client that trusts nothing: X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT") {
    // OpenSSL 3 (Python 3.11) spells it "self-signed certificate"; OpenSSL
    // 1.1.1 (Python 3.7) and BoringSSL "self signed certificate".
    require_verify_error(handshake(Context(Protocol::tls_client), server), VerifyCode::depth_zero_self_signed_cert,
                         "self signed certificate");
  }
  SECTION("a client that trusts another CA: the same") {
    require_verify_error(handshake(client_trusting(test_ca().certificate_pem()), server), VerifyCode::depth_zero_self_signed_cert,
                         "self signed certificate");
  }
  SECTION("a client that trusts the certificate itself") {
    Handshake h = handshake(client_trusting(cert.certificate_pem), server);
    require_ok(h);
    CHECK(h.client.getpeercert(sanstls::binary_form).value_or("") == cert.certificate_der);
  }
}

TEST_CASE("Python decodes a self_signed certificate as its own issuer",
          "[certificates][self_signed][python]") {
  Issued cert = sanstls::testing::self_signed({.common_name = "me", .dns_names = {"me.test"}});
  PythonView view = python_view(cert);
  INFO(view.json);
  CHECK_THAT(view.json, Catch::Contains("\"subject\": [[[\"organizationName\", \"sanstls tests\"]], "
                                        "[[\"commonName\", \"me\"]]]"));
  CHECK_THAT(view.json, Catch::Contains("\"issuer\": [[[\"organizationName\", \"sanstls tests\"]], "
                                        "[[\"commonName\", \"me\"]]]"));
  CHECK_THAT(view.json, Catch::Contains("\"subjectAltName\": [[\"DNS\", \"me.test\"]]"));
}

TEST_CASE("a certificate past not_after is rejected as expired", "[certificates][validity]") {
  Issued leaf = test_ca().issue({.common_name = "localhost",
                                 .dns_names = {"localhost"},
                                 .not_before_offset = -7200,
                                 .not_after_offset = -3600});
  require_verify_error(handshake(client_trusting(test_ca().certificate_pem()), server_with(leaf)),
                       VerifyCode::cert_has_expired, "certificate has expired");
}

TEST_CASE("a certificate before not_before is rejected as not yet valid",
          "[certificates][validity]") {
  Issued leaf = test_ca().issue({.common_name = "localhost",
                                 .dns_names = {"localhost"},
                                 .not_before_offset = 3600,
                                 .not_after_offset = 7200});
  require_verify_error(handshake(client_trusting(test_ca().certificate_pem()), server_with(leaf)),
                       VerifyCode::cert_not_yet_valid, "certificate is not yet valid");
}

TEST_CASE("Python reads the expired and future validity periods", "[certificates][validity][python]") {
  long long now = now_seconds();
  PythonView expired =
      python_view(test_ca().issue({.not_before_offset = -7200, .not_after_offset = -3600}));
  CHECK(expired.not_after < now);
  CHECK(expired.not_after >= now - 3600 - 120);
  PythonView future =
      python_view(test_ca().issue({.not_before_offset = 3600, .not_after_offset = 7200}));
  CHECK(future.not_before > now);
  CHECK(future.not_before <= now + 3600 + 5);
}

// ---------------------------------------------------------------------------
// Intermediates

TEST_CASE("an intermediate CA's certificates verify up to the root", "[certificates][chain]") {
  CertificateAuthority root = CertificateAuthority::create("chain root");
  CertificateAuthority inter = root.intermediate("Inter");
  Issued leaf = inter.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  Context client = client_trusting(root.certificate_pem());

  SECTION("leaf + intermediate sent: verifies") {
    Handshake h = handshake(client, server_with(leaf, inter.certificate_pem()));
    require_ok(h);
    CHECK(h.client.getpeercert(sanstls::binary_form).value_or("") == leaf.certificate_der);
  }
  SECTION("leaf alone: the client cannot find the intermediate") {
    require_verify_error(handshake(client, server_with(leaf)), VerifyCode::unable_to_get_issuer_cert_locally,
                         "unable to get local issuer certificate");
  }
  SECTION("two levels of intermediates") {
    CertificateAuthority inter2 = inter.intermediate("Inter 2");
    Issued deep = inter2.issue({.common_name = "localhost", .dns_names = {"localhost"}});
    require_ok(handshake(client, server_with(deep, inter2.certificate_pem() +
                                                       inter.certificate_pem())));
    require_verify_error(handshake(client, server_with(deep, inter2.certificate_pem())), VerifyCode::unable_to_get_issuer_cert_locally,
                         "unable to get local issuer certificate");
  }
  SECTION("a client that trusts another root") {
    require_verify_error(handshake(client_trusting(test_ca().certificate_pem()),
                                   server_with(leaf, inter.certificate_pem())),
                         VerifyCode::unable_to_get_issuer_cert_locally, "unable to get local issuer certificate");
  }
}

TEST_CASE("Python decodes an intermediate as issued by its root", "[certificates][chain][python]") {
  CertificateAuthority root = CertificateAuthority::create("py root");
  CertificateAuthority inter = root.intermediate("py inter");
  Issued leaf = inter.issue({.common_name = "py leaf"});
  PythonView vi = python_view(inter.root());
  CHECK_THAT(vi.json, Catch::Contains("[[\"commonName\", \"py inter\"]]], \"issuer\""));
  CHECK_THAT(vi.json, Catch::Contains("\"issuer\": [[[\"organizationName\", \"sanstls tests\"]], "
                                      "[[\"commonName\", \"py root\"]]]"));
  PythonView vl = python_view(leaf);
  CHECK_THAT(vl.json, Catch::Contains("\"issuer\": [[[\"organizationName\", \"sanstls tests\"]], "
                                      "[[\"commonName\", \"py inter\"]]]"));
}

// ---------------------------------------------------------------------------
// Purposes

TEST_CASE("a client_auth certificate serves as a client's and not as a server's",
          "[certificates][purpose]") {
  Issued client_cert = test_ca().issue(
      {.common_name = "localhost", .dns_names = {"localhost"}, .client_auth = true});
  SECTION("as a server certificate: unsupported purpose") {
    require_verify_error(
        handshake(client_trusting(test_ca().certificate_pem()), server_with(client_cert)), VerifyCode::invalid_purpose,
        "unsupported certificate purpose");
  }
  SECTION("as a client certificate: accepted by a server that requires one") {
    Context server = test::server_context();
    server.set_verify_mode(VerifyMode::cert_required);
    server.load_verify_locations({.cadata = CaData::pem(test_ca().certificate_pem())});
    Context client = test::client_context();
    client.load_cert_chain_pem(client_cert.certificate_pem, client_cert.private_key_pem);
    Handshake h = handshake(client, server);
    require_ok(h);
    CHECK(h.server.getpeercert(sanstls::binary_form).value_or("") == client_cert.certificate_der);
  }
}

TEST_CASE("a default issued certificate also serves as a client certificate",
          "[certificates][purpose]") {
  Issued both = test_ca().issue({.common_name = "both"});
  Context server = test::server_context();
  server.set_verify_mode(VerifyMode::cert_required);
  server.load_verify_locations({.cadata = CaData::pem(test_ca().certificate_pem())});
  Context client = test::client_context();
  client.load_cert_chain_pem(both.certificate_pem, both.private_key_pem);
  require_ok(handshake(client, server));
}

// ---------------------------------------------------------------------------
// Encrypted keys

TEST_CASE("encrypted_private_key_pem makes an encrypted PKCS#8 key that opens with its password",
          "[certificates][encrypted]") {
  KeyType type = GENERATE(KeyType::ec_p256, KeyType::rsa2048, KeyType::ed25519);
  INFO("key type " << key_type_name(type));
  Issued leaf =
      test_ca().issue({.common_name = "localhost", .dns_names = {"localhost"}, .key_type = type});
  std::string encrypted = leaf.encrypted_private_key_pem("correct horse");
  CHECK_THAT(encrypted, Catch::StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
  CHECK_THAT(encrypted, Catch::EndsWith("-----END ENCRYPTED PRIVATE KEY-----\n"));
  CHECK(encrypted != leaf.private_key_pem);
  // Fresh salt and IV each time.
  CHECK(encrypted != leaf.encrypted_private_key_pem("correct horse"));

  Context server(Protocol::tls_server);
  CHECK_THROWS_AS(server.load_cert_chain_pem(leaf.certificate_pem, encrypted, "wrong"),
                  sanstls::SSLError);
  CHECK_THROWS_AS(server.load_cert_chain_pem(leaf.certificate_pem, encrypted), sanstls::SSLError);
  server.load_cert_chain_pem(leaf.certificate_pem, encrypted, "correct horse");
  Handshake h = handshake(client_trusting(test_ca().certificate_pem()), server);
  require_ok(h);
}

TEST_CASE("Python's ssl opens an encrypted key from encrypted_private_key_pem",
          "[certificates][encrypted][python]") {
  Issued leaf = test_ca().issue({.common_name = "localhost", .dns_names = {"localhost"}});
  TempDir dir;
  std::string cert = dir.write("cert.pem", leaf.certificate_pem);
  std::string key = dir.write("key.pem", leaf.encrypted_private_key_pem("s3cret"));
  const std::string script =
      "import ssl,sys\n"
      "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
      "c.load_cert_chain(sys.argv[1], sys.argv[2], password=\"s3cret\")\n"
      "try:\n"
      "    c.load_cert_chain(sys.argv[1], sys.argv[2], password=\"wrong\")\n"
      "    print(\"wrong password accepted\")\n"
      "except ssl.SSLError:\n"
      "    print(\"ok\")\n";
  CommandResult r = run("'" + python() + "' -c '" + script + "' '" + cert + "' '" + key + "'");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out == "ok\n");
}
