// OCSP stapling and certificate transparency between two Objects: what a
// server sends (Context::set_ocsp_response, set_signed_certificate_timestamps)
// and what a client that asked reads (Object::ocsp_response,
// signed_certificate_timestamps), whole flights and a byte at a time, with
// Context switches, resumption, a verify callback that needs a staple, and
// the setters' refusals.
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using sanstls::Context;
using sanstls::Object;
using sanstls::PeerCertificates;
using sanstls::TLSVersion;
using sanstls::VerifyReply;
using sanstls::testing::Pipe;
using sanstls::testing::Transport;

const std::string kStaple = std::string("\x30\x03\x0a\x01\x00", 5) + "stand-in for an OCSP response";

// sct_list builds a SignedCertificateTimestampList of |scts|.
std::string sct_list(const std::vector<std::string>& scts) {
  std::string body;
  for (const std::string& sct : scts) {
    body += static_cast<char>(sct.size() >> 8);
    body += static_cast<char>(sct.size() & 0xff);
    body += sct;
  }
  return std::string{static_cast<char>(body.size() >> 8), static_cast<char>(body.size() & 0xff)} + body;
}

const std::vector<std::string> kScts = {"first SCT", std::string("second\0SCT", 10)};

Context stapling_server() {
  Context server = test::server_context();
  server.set_ocsp_response(sanstls::as_bytes(kStaple));
  server.set_signed_certificate_timestamps(sanstls::as_bytes(sct_list(kScts)));
  return server;
}

Context asking_client(TLSVersion version = TLSVersion::maximum_supported) {
  Context client = test::client_context();
  client.set_maximum_version(version);
  client.set_ocsp_stapling_requested(true);
  client.set_signed_certificate_timestamps_requested(true);
  return client;
}

}  // namespace

TEST_CASE("a client that asked reads the server's OCSP response and SCTs", "[status]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  const bool one_byte = GENERATE(false, true);
  INFO((version == TLSVersion::tlsv1_3 ? "TLS 1.3" : "TLS 1.2") << (one_byte ? ", a byte at a time" : ""));
  test::Pair p = test::make_pair(asking_client(version), stapling_server());
  Pipe pipe(p.client, p.server, one_byte ? Transport::byte_at_a_time() : Transport::everything(),
            one_byte ? Transport::byte_at_a_time() : Transport::everything());
  REQUIRE(pipe.handshake());
  CHECK(p.client.ocsp_response() == kStaple);
  CHECK(p.client.signed_certificate_timestamps() == kScts);
  // A server has nothing of its peer's to report.
  CHECK_FALSE(p.server.ocsp_response());
  CHECK(p.server.signed_certificate_timestamps().empty());
}

TEST_CASE("nothing is sent unless the client asks and the server has it", "[status]") {
  SECTION("the client did not ask") {
    test::Handshake h = test::handshake(test::client_context(), stapling_server());
    test::require_ok(h);
    CHECK_FALSE(h.client.ocsp_response());
    CHECK(h.client.signed_certificate_timestamps().empty());
  }
  SECTION("the client asked one of the two") {
    Context client = test::client_context();
    client.set_signed_certificate_timestamps_requested(true);
    test::Handshake h = test::handshake(client, stapling_server());
    test::require_ok(h);
    CHECK_FALSE(h.client.ocsp_response());
    CHECK(h.client.signed_certificate_timestamps() == kScts);
  }
  SECTION("the server has nothing") {
    test::Handshake h = test::handshake(asking_client(), test::server_context());
    test::require_ok(h);
    CHECK_FALSE(h.client.ocsp_response());
    CHECK(h.client.signed_certificate_timestamps().empty());
  }
  SECTION("the server had a staple and dropped it") {
    Context server = stapling_server();
    server.set_ocsp_response(std::nullopt);
    server.set_signed_certificate_timestamps(std::nullopt);
    CHECK_FALSE(server.ocsp_response());
    CHECK_FALSE(server.signed_certificate_timestamps());
    test::Handshake h = test::handshake(asking_client(), server);
    test::require_ok(h);
    CHECK_FALSE(h.client.ocsp_response());
    CHECK(h.client.signed_certificate_timestamps().empty());
  }
}

TEST_CASE("a verify callback sees the staple and can insist on one", "[status]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  Context client = asking_client(version);
  std::vector<std::optional<std::string>> seen;
  client.set_verify_callback([&seen](Object& object, const PeerCertificates& peer) {
    seen.push_back(object.ocsp_response());
    if (peer.verify_code != sanstls::VerifyCode::ok) return VerifyReply::reject(peer.verify_message);
    if (!object.ocsp_response()) return VerifyReply::reject("no OCSP response was stapled");
    return VerifyReply::accept();
  });
  test::Handshake stapled = test::handshake(client, stapling_server());
  test::require_ok(stapled);
  test::Handshake bare = test::handshake(client, test::server_context());
  REQUIRE_FALSE(bare.ok);
  REQUIRE(bare.client_result.error);
  CHECK(bare.client_result.error->kind == sanstls::ErrorKind::cert_verification);
  CHECK(bare.client_result.error->message.find("no OCSP response was stapled") != std::string::npos);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == kStaple);
  CHECK_FALSE(seen[1]);
}

TEST_CASE("a resumed session reports what its first handshake received", "[status]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_2, TLSVersion::tlsv1_3);
  Context client = asking_client(version);
  Context server = stapling_server();
  test::Resumption r = test::resumption(client, server);
  REQUIRE(r.second.ok);
  test::Handshake& again = r.second;
  REQUIRE(again.client.session_reused());
  CHECK(again.client.ocsp_response() == kStaple);
  CHECK(again.client.signed_certificate_timestamps() == kScts);
}

TEST_CASE("a server that switches Context staples the new Context's", "[status]") {
  const std::string other_staple = "the other context's response";
  Context first = stapling_server();
  Context with_other = test::server_context();
  with_other.set_ocsp_response(sanstls::as_bytes(other_staple));
  Context without = test::server_context();
  std::optional<Context> next;
  first.set_sni_callback([&next](Object& object, const std::optional<std::string>&,
                                 const Context&) -> std::optional<sanstls::AlertDescription> {
    if (next) object.set_context(*next);
    return std::nullopt;
  });
  next = with_other;
  test::Handshake h1 = test::handshake(asking_client(), first);
  test::require_ok(h1);
  CHECK(h1.client.ocsp_response() == other_staple);
  CHECK(h1.client.signed_certificate_timestamps().empty());
  next = without;
  test::Handshake h2 = test::handshake(asking_client(), first);
  test::require_ok(h2);
  CHECK_FALSE(h2.client.ocsp_response());
  next.reset();
  test::Handshake h3 = test::handshake(asking_client(), first);
  test::require_ok(h3);
  CHECK(h3.client.ocsp_response() == kStaple);
}

TEST_CASE("the setters refuse what a client could not use", "[status]") {
  Context server = test::server_context();
  CHECK_THROWS_AS(server.set_ocsp_response(sanstls::as_bytes(std::string())), std::invalid_argument);
  for (const std::string& bad : {std::string(), std::string("\x00", 1), std::string("\x00\x00", 2),
                                 std::string("\x00\x02\x00\x00", 4), sct_list({"sct"}) + "x",
                                 sct_list({"sct"}).substr(0, 5), std::string("\x00\x05\x00\x01x", 5)}) {
    INFO(bad.size() << " bytes");
    CHECK_THROWS_AS(server.set_signed_certificate_timestamps(sanstls::as_bytes(bad)), std::invalid_argument);
  }
  // What was there before a refusal stays.
  CHECK_FALSE(server.ocsp_response());
  CHECK_FALSE(server.signed_certificate_timestamps());
  server.set_signed_certificate_timestamps(sanstls::as_bytes(sct_list({"a", "bc"})));
  CHECK(server.signed_certificate_timestamps() == sct_list({"a", "bc"}));
  CHECK(sanstls::has_ocsp_stapling);
  CHECK(sanstls::has_signed_certificate_timestamps);
}
