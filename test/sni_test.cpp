// The SNI callback (Python's sni_callback): it sees the name the client
// asked for, can switch the connection to another context (another
// certificate), and can refuse the name with an alert; whatever it throws
// ends the handshake cleanly.
#include <catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sanstls/boringssl.hpp>

#include "support.hpp"

using sanstls::AlertDescription;
using sanstls::Context;
using sanstls::Object;
using sanstls::Protocol;
using sanstls::testing::CertificateAuthority;
using sanstls::testing::CertificateOptions;
using sanstls::testing::Issued;

namespace {

struct Fleet {
  CertificateAuthority ca = CertificateAuthority::create();
  Context first{Protocol::tls_server};   // serves first.test
  Context second{Protocol::tls_server};  // serves second.test
  Context client{Protocol::tls_client};
};

Issued issue_for(const CertificateAuthority& ca, const std::string& name) {
  CertificateOptions o;
  o.common_name = name;
  o.dns_names = {name};
  o.ip_addresses = {"127.0.0.1"};
  return ca.issue(o);
}

Fleet fleet() {
  Fleet f;
  Issued a = issue_for(f.ca, "first.test");
  Issued b = issue_for(f.ca, "second.test");
  f.first.load_cert_chain_pem(a.certificate_pem, a.private_key_pem);
  f.second.load_cert_chain_pem(b.certificate_pem, b.private_key_pem);
  f.client.load_verify_locations({.cadata = sanstls::CaData::pem(f.ca.certificate_pem())});
  return f;
}

std::string peer_common_name(const Object& client) {
  std::optional<sanstls::Certificate> cert = client.getpeercert();
  if (!cert) return "(none)";
  for (const auto& rdn : cert->subject) {
    for (const auto& [key, value] : rdn) {
      if (key == "commonName") return value;
    }
  }
  return "(no CN)";
}

}  // namespace

TEST_CASE("the SNI callback switches to the context of the name asked for", "[sni]") {
  Fleet f = fleet();
  std::vector<std::optional<std::string>> seen;
  const Context second = f.second;
  f.first.set_sni_callback([&seen, second](Object& object, const std::optional<std::string>& name,
                                           const Context& context) -> std::optional<AlertDescription> {
    seen.push_back(name);
    CHECK(object.server_side());
    CHECK(object.context().protocol() == context.protocol());
    if (name == "second.test") object.set_context(second);
    return std::nullopt;
  });

  test::Handshake to_first = test::handshake(f.client, f.first, "first.test");
  REQUIRE(to_first.ok);
  CHECK(peer_common_name(to_first.client) == "first.test");

  test::Handshake to_second = test::handshake(f.client, f.first, "second.test");
  REQUIRE(to_second.ok);
  CHECK(peer_common_name(to_second.client) == "second.test");
  // The Object reports the context it switched to, as Python's .context.
  CHECK(sanstls::native_handle(to_second.server.context()) == sanstls::native_handle(f.second));

  // An IP address is not sent as SNI: the callback sees no name.
  test::Handshake by_ip = test::handshake(f.client, f.first, "127.0.0.1");
  REQUIRE(by_ip.ok);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "first.test");
  CHECK(seen[1] == "second.test");
  CHECK(seen[2] == std::nullopt);
}

TEST_CASE("the SNI callback refuses a name with the alert it returns", "[sni][errors]") {
  Fleet f = fleet();
  f.first.set_sni_callback([](Object&, const std::optional<std::string>& name,
                              const Context&) -> std::optional<AlertDescription> {
    if (name != "first.test") return AlertDescription::unrecognized_name;
    return std::nullopt;
  });
  CHECK(test::handshake(f.client, f.first, "first.test").ok);
  test::Handshake refused = test::handshake(f.client, f.first, "unknown.test");
  REQUIRE_FALSE(refused.ok);
  REQUIRE(refused.client_result.error);
  // BoringSSL's name for the alert; OpenSSL's is TLSV1_UNRECOGNIZED_NAME.
  CHECK(refused.client_result.error->reason == "TLSV1_ALERT_UNRECOGNIZED_NAME");
  CHECK(refused.client_result.error->message ==
        "[SSL: TLSV1_ALERT_UNRECOGNIZED_NAME] tlsv1 alert unrecognized name");
  REQUIRE(refused.server_result.error);
  CHECK(refused.server_result.status == sanstls::Status::error);
}

TEST_CASE("an exception from the SNI callback is a handshake_failure, never a crash",
          "[sni][errors]") {
  Fleet f = fleet();
  int calls = 0;
  f.first.set_sni_callback([&calls](Object&, const std::optional<std::string>&,
                                    const Context&) -> std::optional<AlertDescription> {
    ++calls;
    throw std::runtime_error("the callback failed");
  });
  test::Handshake h = test::handshake(f.client, f.first, "first.test");
  CHECK(calls == 1);
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  // A BoringSSL client names a handshake_failure alert that answers its
  // ClientHello apart; OpenSSL calls it SSLV3_ALERT_HANDSHAKE_FAILURE.
  CHECK(h.client_result.error->reason == "HANDSHAKE_FAILURE_ON_CLIENT_HELLO");
  REQUIRE(h.server_result.error);
  CHECK(h.server_result.error->kind == sanstls::ErrorKind::ssl);
  INFO(h.server_result.error->message);
  CHECK(h.server_result.error->message ==
        "[SSL: PARSE_TLSEXT] parse tlsext (the SNI callback threw: the callback failed)");

  // Removing the callback restores plain service.
  f.first.set_servername_callback(nullptr);
  CHECK(test::handshake(f.client, f.first, "first.test").ok);
  CHECK(calls == 1);
}

TEST_CASE("set_context only before the handshake or inside the SNI callback", "[sni][errors]") {
  Fleet f = fleet();
  // Before the handshake it simply chooses the certificate.
  Object server = f.first.wrap_bio({}, {}, true);
  server.set_context(f.second);
  Object client = f.client.wrap_bio({}, {}, false, "second.test");
  sanstls::testing::Pipe pipe(client, server);
  REQUIRE(pipe.handshake());
  CHECK(peer_common_name(client) == "second.test");
  // Afterwards it is refused, and the connection is unharmed.
  CHECK_THROWS_AS(server.set_context(f.first), std::logic_error);
  REQUIRE(pipe.send(sanstls::testing::Side::client, "still here").ok());
  CHECK(pipe.received(sanstls::testing::Side::server) == "still here");
}

TEST_CASE("a switched connection keeps the first context's session cache and tickets",
          "[sni][session]") {
  Fleet f = fleet();
  const Context second = f.second;
  f.first.set_sni_callback([second](Object& object, const std::optional<std::string>&,
                                    const Context&) -> std::optional<AlertDescription> {
    object.set_context(second);
    return std::nullopt;
  });
  sanstls::MemoryBIO ci, co, si, so;
  Object client = f.client.wrap_bio(ci, co, false, "second.test");
  Object server = f.first.wrap_bio(si, so, true);
  sanstls::testing::Pipe pipe(client, server);
  REQUIRE(pipe.handshake());
  std::optional<sanstls::Session> session = client.session();
  REQUIRE(session);
  Object again = f.client.wrap_bio({}, {}, false, "second.test", session);
  Object again_server = f.first.wrap_bio({}, {}, true);
  sanstls::testing::Pipe pipe2(again, again_server);
  REQUIRE(pipe2.handshake());
  CHECK(again.session_reused());
  CHECK(f.first.session_stats().hits == 1);
  CHECK(f.second.session_stats().accept == 0);
}
