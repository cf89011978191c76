// Certificate decoding, checked against Python's own decoder
// (ssl._ssl._test_decode_cert) on Python's test certificates and ours.
#include <catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sanstls/certificate.hpp>
#include <sanstls/error.hpp>
#include <sanstls/helpers.hpp>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

std::string run(const std::string& command, const std::string& input = "") {
  fs::path in = fs::temp_directory_path() / ("sanstls-oracle-" + std::to_string(::getpid()));
  std::ofstream(in, std::ios::binary) << input;
  std::string output;
  FILE* p = ::popen((command + " < " + in.string()).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  int status = ::pclose(p);
  fs::remove(in);
  output += "\nexit=" + std::to_string(status);
  return output;
}

std::string python() {
  const char* p = std::getenv("PYTHON3");
  return p != nullptr ? p : "python3";
}

std::string oracle() { return python() + " " + test::data_path("../oracle/cert_oracle.py"); }

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// python_certdata finds the certificates of Python's own ssl tests: in
// test/certdata upstream, directly in test/ in Debian's
// libpython3.11-testsuite.
fs::path python_certdata() {
  std::string out = run(python() + " -c \"import test,os;print(os.path.dirname(test.__file__))\"");
  fs::path dir = out.substr(0, out.find('\n'));
  if (fs::exists(dir / "certdata" / "keycert.pem")) return dir / "certdata";
  return dir;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// decode_and_compare decodes the first certificate in each of |files| and
// asks Python, in one run, whether it decodes each the same way.
void decode_and_compare(const std::vector<fs::path>& files) {
  std::string command = oracle() + " der";
  for (const fs::path& f : files) command += " '" + f.string() + "'";
  std::string hexes = run(command);
  REQUIRE(hexes.find("exit=0") != std::string::npos);
  std::string request = "{";
  std::size_t pos = 0;
  for (const fs::path& f : files) {
    INFO(f.string());
    std::size_t eol = hexes.find('\n', pos);
    REQUIRE(eol != std::string::npos);
    std::string hex = hexes.substr(pos, eol - pos);
    pos = eol + 1;
    REQUIRE(hex != "-");
    std::string der = from_hex(hex);
    sanstls::Certificate cert = sanstls::Certificate::from_der(sanstls::as_bytes(der));
    if (request.size() > 1) request += ", ";
    request += json_quote(f.string()) + ": " + cert.to_json();
  }
  request += "}";
  std::string verdict = run(oracle() + " compare", request);
  std::string expected;
  for (const fs::path& f : files) expected += "OK " + f.string() + "\n";
  CHECK(verdict == expected + "\nexit=0");
}

}  // namespace

TEST_CASE("every certificate in Python's certdata decodes as Python decodes it", "[certificate]") {
  fs::path dir = python_certdata();
  INFO("Python's test certificates: " << dir.string());
  REQUIRE(fs::exists(dir / "keycert.pem"));
  std::vector<fs::path> files, selected;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    if (file.extension() != ".pem") continue;
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) continue;
    // Files Python itself cannot decode (broken on purpose).
    if (file.filename() == "badcert.pem" || file.filename() == "nullcert.pem" ||
        file.filename() == "badkey.pem") {
      continue;
    }
    selected.push_back(file);
  }
  CHECK(selected.size() >= 15);
  decode_and_compare(selected);
}

TEST_CASE("our generated certificates decode as Python decodes them", "[certificate]") {
  using namespace sanstls::testing;
  Issued issued = test::pki().ca.issue({.common_name = "decode.example",
                                        .dns_names = {"decode.example", "*.decode.example"},
                                        .ip_addresses = {"10.1.2.3", "2001:db8::1"},
                                        .emails = {"someone@decode.example"}});
  test::TempDir dir;
  decode_and_compare({dir.write("issued.pem", issued.certificate_pem)});

  sanstls::Certificate cert = sanstls::Certificate::from_der(sanstls::as_bytes(issued.certificate_der));
  CHECK(cert.version == 3);
  CHECK(cert.subject.back() == sanstls::RelativeDistinguishedName{{"commonName", "decode.example"}});
  CHECK(cert.subject_alt_name[3] == sanstls::GeneralName{"IP Address", "2001:DB8:0:0:0:0:0:1"});
  CHECK(cert.serial_number.size() == 32);
}

TEST_CASE("bad DER is an SSLError, not a crash", "[certificate]") {
  const std::string der = test::pki().server.certificate_der;
  CHECK_THROWS_AS(sanstls::Certificate::from_der({}), sanstls::SSLError);
  CHECK_THROWS_AS(sanstls::Certificate::from_der(sanstls::as_bytes("not a certificate")),
                  sanstls::SSLError);
  for (std::size_t cut = 1; cut < der.size(); cut += 37) {
    CHECK_THROWS_AS(sanstls::Certificate::from_der(sanstls::as_bytes(der.substr(0, cut))),
                    sanstls::SSLError);
  }
  CHECK_THROWS_AS(sanstls::Certificate::from_der(sanstls::as_bytes(der + "x")), sanstls::SSLError);
}

TEST_CASE("a name value that is not a string is an SSLError, as Python refuses the certificate",
          "[certificate]") {
  // BoringSSL parses a name entry of any ASN.1 type (the deep fuzz target
  // found one in a session); an ENUMERATED one cannot become text.
  std::string der = test::pki().server.certificate_der;
  const std::size_t at = der.find(std::string("\x06\x03\x55\x04\x03\x0c", 6));  // issuer CN
  REQUIRE(at != std::string::npos);
  der[at + 5] = '\x0a';  // UTF8String becomes ENUMERATED, same length
  CHECK_THROWS_AS(sanstls::Certificate::from_der(sanstls::as_bytes(der)), sanstls::SSLError);

  test::TempDir dir;
  const std::string path = dir.write("enumerated.pem", sanstls::der_cert_to_pem_cert(sanstls::as_bytes(der)));
  const std::string verdict =
      run(python() + " -c \"import ssl,sys\ntry: ssl._ssl._test_decode_cert(sys.argv[1])\n"
          "except ssl.SSLError: print('SSLError')\" '" + path + "'");
  CHECK(verdict == "SSLError\n\nexit=0");
}

TEST_CASE("getpeercert: nothing before the handshake, {} unverified, fields verified",
          "[certificate][object]") {
  using sanstls::testing::Pipe;
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  CHECK_FALSE(p.client.getpeercert());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  std::optional<sanstls::Certificate> cert = p.client.getpeercert();
  REQUIRE(cert);
  CHECK_FALSE(cert->empty());
  CHECK(cert->subject.back() == sanstls::RelativeDistinguishedName{{"commonName", "localhost"}});
  CHECK(cert->issuer.back() == sanstls::RelativeDistinguishedName{{"commonName", "sanstls test CA"}});
  CHECK_FALSE(p.server.getpeercert());  // the client sent none

  sanstls::Context unverified(sanstls::Protocol::tls_client);
  unverified.set_check_hostname(false);
  unverified.set_verify_mode(sanstls::VerifyMode::cert_none);
  test::Pair q = test::make_pair(unverified, test::server_context());
  Pipe pipe2(q.client, q.server);
  REQUIRE(pipe2.handshake());
  REQUIRE(q.client.getpeercert());
  CHECK(q.client.getpeercert()->empty());
  CHECK(q.client.getpeercert()->to_json() == "{}");
  CHECK(q.client.getpeercert(sanstls::binary_form) == test::pki().server.certificate_der);
}

TEST_CASE("getpeercert: a verified certificate whose DNS name is not UTF-8 throws as Python does, "
          "and the connection goes on", "[certificate][object]") {
  // A trusted CA can sign such a name: an IA5String with bytes above 0x7f.
  // Found by the deep client_handshake fuzz target (fuzzer mode skips the
  // signature checks that keep the fuzzer from forging one).
  using sanstls::testing::Pipe;
  using sanstls::testing::Side;
  const sanstls::testing::Issued odd =
      test::pki().ca.issue({.common_name = "localhost", .dns_names = {"localhost", "bad\xec\x80.example"}});
  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem(odd.certificate_pem, odd.private_key_pem);
  test::Pair p = test::make_pair(test::client_context(), server_ctx);
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  // Python 3: ssl.SSLSocket.getpeercert() raises UnicodeDecodeError (a
  // ValueError) with this text, from b"bad\xec\x80.example".decode().
  CHECK_THROWS_MATCHES(p.client.getpeercert(), std::invalid_argument,
                       Catch::Message("'utf-8' codec can't decode bytes in position 3-4: "
                                      "invalid continuation byte"));
  CHECK(p.client.getpeercert(sanstls::binary_form) == odd.certificate_der);
  CHECK_FALSE(p.client.error());
  CHECK(pipe.send(Side::client, "still here").status == sanstls::Status::done);
  CHECK(pipe.take_received(Side::server) == "still here");
}
