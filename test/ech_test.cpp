// Encrypted Client Hello between two Objects: accepted (whole flights and a
// byte at a time, the inner name hidden from the wire and shown to the
// server's callbacks), rejected (retry configs, then a retry that works; a
// server without ECH; a certificate that does not cover the public name),
// GREASE, key rotation, resumption, and EchKeys' files and refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using sanstls::Context;
using sanstls::EchKeys;
using sanstls::Object;
using sanstls::TLSVersion;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;

constexpr const char* kSecret = "secret.example";  // the name ECH hides
constexpr const char* kPublic = "public.example";  // the name on the wire

// A certificate for both names, as an ECH server needs: the secret one for
// accepted handshakes, the public one for rejections.
const sanstls::testing::Issued& both_names() {
  static const sanstls::testing::Issued issued = test::pki().ca.issue({.dns_names = {kSecret, kPublic}});
  return issued;
}

const EchKeys& server_keys() {
  static const EchKeys keys = EchKeys::generate(kPublic, 1);
  return keys;
}

Context ech_server(const std::optional<EchKeys>& keys = server_keys()) {
  Context server = test::server_with(both_names());
  if (keys) server.set_ech_keys(*keys);
  return server;
}

Context ech_client(const std::optional<std::string>& config_list = server_keys().config_list()) {
  Context client = test::client_context();
  if (config_list) client.set_ech_config_list(sanstls::as_bytes(*config_list));
  return client;
}

// first_flight returns the client's first flight for |client|.
std::string first_flight(const Context& client) {
  sanstls::MemoryBIO in, out;
  Object object = client.wrap_bio(in, out, false, kSecret);
  REQUIRE(object.do_handshake().status == sanstls::Status::want_read);
  return out.read();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// extension_types parses a first flight (one record holding the
// ClientHello) and returns its extension types in order. A search for the
// two bytes of a type would also find them in the random, the session ID
// or a key share about one time in a thousand.
std::vector<std::uint16_t> extension_types(const std::string& flight) {
  auto byte = [&flight](std::size_t at) {
    REQUIRE(at < flight.size());
    return static_cast<std::size_t>(static_cast<unsigned char>(flight[at]));
  };
  auto u16 = [&byte](std::size_t at) { return (byte(at) << 8) | byte(at + 1); };
  REQUIRE(byte(0) == 22);  // handshake record
  REQUIRE(byte(5) == 1);   // ClientHello
  std::size_t at = 5 + 4 + 2 + 32;      // record and message headers, version, random
  at += 1 + byte(at);                   // session ID
  at += 2 + u16(at);                    // cipher suites
  at += 1 + byte(at);                   // compression methods
  const std::size_t end = at + 2 + u16(at);
  at += 2;
  std::vector<std::uint16_t> types;
  while (at < end) {
    types.push_back(static_cast<std::uint16_t>(u16(at)));
    at += 4 + u16(at + 2);
  }
  REQUIRE(at == end);
  return types;
}

bool offers_ech(const std::string& flight) {
  const std::vector<std::uint16_t> types = extension_types(flight);
  return std::find(types.begin(), types.end(), 0xfe0d) != types.end();  // encrypted_client_hello
}

}  // namespace

TEST_CASE("ECH hides the server name and the server sees it", "[ech]") {
  const bool one_byte = GENERATE(false, true);
  INFO((one_byte ? "a byte at a time" : "whole flights"));
  Context server = ech_server();
  std::optional<std::string> seen_name;
  bool accepted_in_callback = false;
  server.set_sni_callback([&](Object& object, const std::optional<std::string>& name,
                              const Context&) -> std::optional<sanstls::AlertDescription> {
    seen_name = name;
    accepted_in_callback = object.ech_accepted();
    return std::nullopt;
  });
  std::optional<std::string> hello_name;
  bool accepted_in_hello_callback = false;
  server.set_client_hello_callback([&](Object& object, const sanstls::ClientHello& hello) {
    hello_name = hello.server_name;
    accepted_in_hello_callback = object.ech_accepted();
    return sanstls::ClientHelloReply::proceed();
  });
  const Context client = ech_client();
  test::Pair p = test::make_pair(client, server, kSecret);
  Pipe pipe(p.client, p.server, one_byte ? Transport::byte_at_a_time() : Transport::everything(),
            one_byte ? Transport::byte_at_a_time() : Transport::everything());
  REQUIRE(pipe.handshake());
  CHECK(p.client.ech_accepted());
  CHECK(p.server.ech_accepted());
  CHECK(seen_name == kSecret);
  CHECK(accepted_in_callback);
  CHECK(hello_name == kSecret);
  CHECK(accepted_in_hello_callback);
  CHECK(p.client.version() == "TLSv1.3");
  CHECK(pipe.send(Side::client, "hidden").status == sanstls::Status::done);
  CHECK(pipe.take_received(Side::server) == "hidden");

  // On the wire: the public name, never the secret one; without ECH the
  // secret name is there to see.
  const std::string hello = first_flight(client);
  CHECK(contains(hello, kPublic));
  CHECK_FALSE(contains(hello, kSecret));
  CHECK(contains(first_flight(test::client_context()), kSecret));
}

TEST_CASE("a rejected ECH fails with the server's retry configs, and the retry works", "[ech]") {
  // The client has an old configuration the server no longer has a key for.
  const EchKeys stale = EchKeys::generate(kPublic, 9);
  test::Handshake h = test::handshake(ech_client(stale.config_list()), ech_server(), kSecret);
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  const sanstls::Error& e = *h.client_result.error;
  CHECK(e.reason == "ECH_REJECTED");
  REQUIRE(e.ech_retry_configs);
  CHECK(*e.ech_retry_configs == server_keys().config_list());
  CHECK_FALSE(h.client.ech_accepted());
  // The client tells the server why it gives up.
  REQUIRE(h.server_result.error);
  CHECK(h.server_result.error->reason == "TLSV1_ALERT_ECH_REQUIRED");
  // Other errors carry no retry configs.
  CHECK_FALSE(h.server_result.error->ech_retry_configs);

  test::Handshake retry = test::handshake(ech_client(*e.ech_retry_configs), ech_server(), kSecret);
  test::require_ok(retry);
  CHECK(retry.client.ech_accepted());
}

TEST_CASE("a server without ECH: rejected with no retry configs, then a handshake without ECH", "[ech]") {
  test::Handshake h = test::handshake(ech_client(), ech_server(std::nullopt), kSecret);
  REQUIRE_FALSE(h.ok);
  REQUIRE(h.client_result.error);
  CHECK(h.client_result.error->reason == "ECH_REJECTED");
  REQUIRE(h.client_result.error->ech_retry_configs);
  CHECK(h.client_result.error->ech_retry_configs->empty());
  test::Handshake plain = test::handshake(ech_client(std::nullopt), ech_server(std::nullopt), kSecret);
  test::require_ok(plain);
  CHECK_FALSE(plain.client.ech_accepted());
}

TEST_CASE("a rejection is verified for the public name", "[ech]") {
  SECTION("a certificate without the public name fails verification, not ECH") {
    Context server = test::server_with(test::pki().ca.issue({.dns_names = {kSecret}}));
    server.set_ech_keys(server_keys());
    const EchKeys stale = EchKeys::generate(kPublic, 9);
    test::Handshake h = test::handshake(ech_client(stale.config_list()), server, kSecret);
    REQUIRE_FALSE(h.ok);
    REQUIRE(h.client_result.error);
    CHECK(h.client_result.error->kind == sanstls::ErrorKind::cert_verification);
    INFO(h.client_result.error->message);
    CHECK(contains(h.client_result.error->verify_message, kPublic));
  }
  SECTION("a verify callback is given the public name") {
    Context client = ech_client(EchKeys::generate(kPublic, 9).config_list());
    std::optional<std::string> given;
    client.set_verify_callback([&given](Object&, const sanstls::PeerCertificates& peer) {
      given = peer.server_hostname;
      return peer.verify_code == sanstls::VerifyCode::ok ? sanstls::VerifyReply::accept()
                                                         : sanstls::VerifyReply::reject(peer.verify_message);
    });
    test::Handshake h = test::handshake(client, ech_server(), kSecret);
    REQUIRE_FALSE(h.ok);
    CHECK(h.client_result.error->reason == "ECH_REJECTED");
    CHECK(given == kPublic);
  }
}

TEST_CASE("ECH GREASE looks like ECH and changes nothing", "[ech]") {
  const bool server_has_keys = GENERATE(false, true);
  Context client = ech_client(std::nullopt);
  client.set_ech_grease(true);
  CHECK(client.ech_grease());
  const std::string hello = first_flight(client);
  CHECK(offers_ech(hello));
  CHECK_FALSE(offers_ech(first_flight(ech_client(std::nullopt))));
  test::Handshake h = test::handshake(client, ech_server(server_has_keys ? std::optional(server_keys()) : std::nullopt),
                                      kSecret);
  test::require_ok(h);
  CHECK_FALSE(h.client.ech_accepted());
  CHECK_FALSE(h.server.ech_accepted());
}

TEST_CASE("ECH needs TLS 1.3: a TLS 1.2 client offers none", "[ech]") {
  Context client = ech_client();
  client.set_maximum_version(TLSVersion::tlsv1_2);
  const std::string hello = first_flight(client);
  CHECK(contains(hello, kSecret));
  test::Handshake h = test::handshake(client, ech_server(), kSecret);
  test::require_ok(h);
  CHECK_FALSE(h.client.ech_accepted());
  CHECK(h.client.version() == "TLSv1.2");
}

TEST_CASE("key rotation: old keys still decrypt, only new ones are retry configs", "[ech]") {
  const EchKeys old_keys = EchKeys::generate(kPublic, 1);
  EchKeys keys = EchKeys::generate(kPublic, 2);
  const std::string new_list = keys.config_list();
  keys.add(old_keys, false);
  REQUIRE(keys.entries().size() == 2);
  CHECK(keys.config_list() == new_list);
  const Context server = ech_server(keys);
  for (const std::string& list : {old_keys.config_list(), new_list}) {
    test::Handshake h = test::handshake(ech_client(list), server, kSecret);
    test::require_ok(h);
    CHECK(h.server.ech_accepted());
  }
  EchKeys only_old;
  only_old.add(old_keys, false);
  Context ctx = test::server_context();
  CHECK_THROWS_AS(ctx.set_ech_keys(only_old), std::invalid_argument);
}

TEST_CASE("a client that switches to an ECH Context before its handshake offers ECH", "[ech]") {
  test::Pair p = test::make_pair(test::client_context(), ech_server(), kSecret);
  p.client.set_context(ech_client());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  CHECK(p.client.ech_accepted());
  CHECK(p.server.ech_accepted());
}

TEST_CASE("a resumed handshake uses ECH too", "[ech]") {
  const Context client = ech_client();
  const Context server = ech_server();
  test::Resumption r = test::resumption(client, server, kSecret);
  REQUIRE(r.second.ok);
  test::Handshake& p = r.second;
  CHECK(p.client.session_reused());
  CHECK(p.client.ech_accepted());
  CHECK(p.server.ech_accepted());
}

TEST_CASE("EchKeys: files, raw keys and refusals", "[ech]") {
  const EchKeys keys = EchKeys::generate("ech.example", 5, 32);
  REQUIRE(keys.entries().size() == 1);
  const EchKeys::Entry& entry = keys.entries()[0];
  CHECK(entry.private_key.size() == 32);
  CHECK(entry.retry);
  CHECK(entry.config.substr(0, 2) == std::string("\xfe\x0d", 2));
  CHECK(contains(entry.config, "ech.example"));
  // An ECHConfigList: a 2-byte length, then the config.
  CHECK(keys.config_list() == std::string{0, static_cast<char>(entry.config.size())} + entry.config);

  SECTION("PEM round trip, with several keys") {
    EchKeys two = keys;
    two.add(EchKeys::generate("ech.example", 6), true);
    const std::string pem = two.to_pem();
    CHECK(contains(pem, "-----BEGIN PRIVATE KEY-----"));
    CHECK(contains(pem, "-----BEGIN ECHCONFIG-----"));
    const EchKeys back = EchKeys::from_pem(pem);
    REQUIRE(back.entries().size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(back.entries()[i].config == two.entries()[i].config);
      CHECK(back.entries()[i].private_key == two.entries()[i].private_key);
    }
    CHECK(back.config_list() == two.config_list());
  }
  SECTION("raw parts, as bssl-tool generate-ech writes them") {
    const EchKeys raw = EchKeys::from_raw(entry.config, entry.private_key);
    CHECK(raw.config_list() == keys.config_list());
    const EchKeys other = EchKeys::generate("ech.example");
    CHECK_THROWS_WITH(EchKeys::from_raw(entry.config, other.entries()[0].private_key),
                      Catch::Contains("not the private key's"));
    CHECK_THROWS_WITH(EchKeys::from_raw(entry.config, "short"), Catch::Contains("32 bytes"));
    CHECK_THROWS_AS(EchKeys::from_raw("garbage", entry.private_key), std::invalid_argument);
  }
  SECTION("broken files") {
    const std::string pem = keys.to_pem();
    const std::string key_block = pem.substr(0, pem.find("-----BEGIN ECHCONFIG-----"));
    const std::string config_block = pem.substr(pem.find("-----BEGIN ECHCONFIG-----"));
    CHECK_THROWS_WITH(EchKeys::from_pem(""), Catch::Contains("no key"));
    CHECK_THROWS_WITH(EchKeys::from_pem("not PEM at all"), Catch::Contains("no key"));
    CHECK_THROWS_WITH(EchKeys::from_pem(key_block), Catch::Contains("without its ECHCONFIG"));
    CHECK_THROWS_WITH(EchKeys::from_pem(config_block), Catch::Contains("without a PRIVATE KEY"));
    CHECK_THROWS_WITH(EchKeys::from_pem(key_block + key_block + config_block), Catch::Contains("two PRIVATE KEY"));
    // A P-256 key is not an X25519 key.
    CHECK_THROWS_WITH(EchKeys::from_pem(test::pki().server.private_key_pem + config_block),
                      Catch::Contains("not a PKCS#8 X25519 key"));
    // Another key's config.
    const std::string other = EchKeys::generate("ech.example").to_pem();
    CHECK_THROWS_WITH(EchKeys::from_pem(key_block + other.substr(other.find("-----BEGIN ECHCONFIG-----"))),
                      Catch::Contains("not the private key's"));
    CHECK_THROWS_WITH(EchKeys::from_pem(test::pki().server.certificate_pem), Catch::Contains("'CERTIFICATE'"));
    std::string cut = pem;
    cut.erase(cut.find("-----END ECHCONFIG-----"));
    CHECK_THROWS_AS(EchKeys::from_pem(cut), std::invalid_argument);
  }
  SECTION("public names ECH refuses") {
    for (const char* name : {"127.0.0.1", "", "example.123", "bad name.example", "-"}) {
      INFO(name);
      CHECK_THROWS_AS(EchKeys::generate(name), std::invalid_argument);
    }
  }
  SECTION("a client's ECHConfigList must parse") {
    Context client = test::client_context();
    CHECK_THROWS_AS(client.set_ech_config_list(sanstls::as_bytes(std::string("\x00\x05garbage", 9))),
                    std::invalid_argument);
    CHECK_FALSE(client.ech_config_list());
    client.set_ech_config_list(sanstls::as_bytes(keys.config_list()));
    CHECK(client.ech_config_list() == keys.config_list());
    client.set_ech_config_list(std::nullopt);
    CHECK_FALSE(client.ech_config_list());
  }
  STATIC_REQUIRE(sanstls::has_ech);
}
