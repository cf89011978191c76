// The application in the handshake: signers, verify callbacks and
// ClientHello callbacks, answered at once, later, from another thread, or
// not at all; and the phases and misuse errors around them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using sanstls::ClientHello;
using sanstls::ClientHelloReply;
using sanstls::Context;
using sanstls::Object;
using sanstls::PeerCertificates;
using sanstls::Phase;
using sanstls::PrivateKeyOperation;
using sanstls::PrivateKeyReply;
using sanstls::PrivateKeyRequest;
using sanstls::Protocol;
using sanstls::Status;
using sanstls::TLSVersion;
using sanstls::VerifyReply;
using sanstls::testing::KeyType;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;
using sanstls::VerifyCode;

namespace {

// Issued is a server certificate of |type| from the test CA, kept per type.
const sanstls::testing::Issued& server_cert(KeyType type) {
  static const auto ec = test::pki().ca.issue({.dns_names = {"localhost"}});
  static const auto rsa = test::pki().ca.issue({.dns_names = {"localhost"}, .key_type = KeyType::rsa2048});
  static const auto ed = test::pki().ca.issue({.dns_names = {"localhost"}, .key_type = KeyType::ed25519});
  switch (type) {
    case KeyType::ec_p256: return ec;
    case KeyType::rsa2048: return rsa;
    case KeyType::ed25519: return ed;
  }
  return ec;
}

// Signing is a server Context whose key is only reachable through a
// signer, and a log of what the signer was asked.
struct Signing {
  std::shared_ptr<std::vector<PrivateKeyRequest>> asked = std::make_shared<std::vector<PrivateKeyRequest>>();
  Context context{Protocol::tls_server};
};

// synchronous_signing answers every request at once.
Signing synchronous_signing(KeyType type) {
  Signing s;
  auto key = std::make_shared<sanstls::PrivateKey>(sanstls::PrivateKey::from_pem(server_cert(type).private_key_pem));
  s.context.load_cert_chain_pem_with_signer(
      server_cert(type).certificate_pem, [key, asked = s.asked](Object&, const PrivateKeyRequest& r) {
        asked->push_back(r);
        return key->perform(r);
      });
  return s;
}

// pending_signing answers every request with pending; the test completes.
Signing pending_signing(KeyType type) {
  Signing s;
  s.context.load_cert_chain_pem_with_signer(server_cert(type).certificate_pem,
                                            [asked = s.asked](Object&, const PrivateKeyRequest& r) {
                                              asked->push_back(r);
                                              return PrivateKeyReply::pending();
                                            });
  return s;
}

Context client_with(TLSVersion version) {
  Context ctx = test::client_context();
  ctx.set_minimum_version(version);
  ctx.set_maximum_version(version);
  return ctx;
}

}  // namespace

TEST_CASE("a synchronous signer: the key never enters the Context, for RSA-PSS, ECDSA and Ed25519 keys",
          "[callbacks][signer]") {
  const auto [type, scheme_tls13, scheme_tls12] = GENERATE(table<KeyType, std::string, std::string>({
      {KeyType::ec_p256, "ecdsa_secp256r1_sha256", "ecdsa_secp256r1_sha256"},
      {KeyType::rsa2048, "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha256"},
      {KeyType::ed25519, "ed25519", "ed25519"},
  }));
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO("key " << static_cast<int>(type) << ", TLS " << (version == TLSVersion::tlsv1_3 ? "1.3" : "1.2"));
  Signing server = synchronous_signing(type);
  test::Handshake h = test::handshake(client_with(version), server.context);
  INFO(test::describe(h.client_result) << " / " << test::describe(h.server_result));
  REQUIRE(h.ok);
  // The client verified the chain and the name, as with any server.
  CHECK(h.client.getpeercert(sanstls::binary_form) == server_cert(type).certificate_der);
  REQUIRE(server.asked->size() == 1);
  const PrivateKeyRequest& r = server.asked->front();
  CHECK(r.operation == PrivateKeyOperation::sign);
  CHECK(r.algorithm_name == (version == TLSVersion::tlsv1_3 ? scheme_tls13 : scheme_tls12));
  CHECK_FALSE(r.input.empty());
  CHECK(h.server.phase() == Phase::established);
  REQUIRE(h.client.write(std::string_view("ping")).ok());
}

TEST_CASE("a synchronous signer does RSA decryption for TLS 1.2 RSA key exchange", "[callbacks][signer]") {
  Signing server = synchronous_signing(KeyType::rsa2048);
  server.context.set_ciphers("AES128-GCM-SHA256");
  Context client = client_with(TLSVersion::tlsv1_2);
  client.set_ciphers("AES128-GCM-SHA256");
  test::Handshake h = test::handshake(client, server.context);
  INFO(test::describe(h.client_result) << " / " << test::describe(h.server_result));
  REQUIRE(h.ok);
  CHECK(h.server.cipher()->name == "AES128-GCM-SHA256");
  REQUIRE(server.asked->size() == 1);
  CHECK(server.asked->front().operation == PrivateKeyOperation::decrypt);
  CHECK(server.asked->front().input.size() == 256);  // one 2048-bit block
}

TEST_CASE("an asynchronous signer: want_private_key until completed, on any transport", "[callbacks][signer]") {
  const KeyType type = GENERATE(KeyType::ec_p256, KeyType::rsa2048, KeyType::ed25519);
  const int transport = GENERATE(0, 1, 2);
  Signing server = pending_signing(type);
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(server_cert(type).private_key_pem);
  test::Pair p = test::make_pair(test::client_context(), server.context);
  Transport to_server = transport == 0   ? Transport::everything()
                        : transport == 1 ? Transport::byte_at_a_time()
                                         : Transport::random_chunks(7, 97);
  Pipe pipe(p.client, p.server, to_server, Transport::random_chunks(11, 300));
  pipe.run();
  REQUIRE(server.asked->size() == 1);
  CHECK(pipe.last(Side::server).status == Status::want_private_key);
  CHECK(p.server.phase() == Phase::waiting_for_private_key);
  CHECK_FALSE(p.server.is_handshake_complete());
  // The client waits for the server's flight.
  CHECK(pipe.last(Side::client).status == Status::want_read);

  p.server.complete_private_key(key.perform(server.asked->front()));
  CHECK(p.server.phase() == Phase::waiting_for_private_key);  // until the next engine call
  REQUIRE(pipe.handshake());
  CHECK(server.asked->size() == 1);  // asked once, answered once
  CHECK(p.server.phase() == Phase::established);
  CHECK(p.client.phase() == Phase::established);
  REQUIRE(pipe.send(Side::client, "hello").ok());
  CHECK(pipe.take_received(Side::server) == "hello");
}

TEST_CASE("an asynchronous signer answered many turns later, and every engine call reports the wait meanwhile",
          "[callbacks][signer]") {
  Signing server = pending_signing(KeyType::ec_p256);
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(server_cert(KeyType::ec_p256).private_key_pem);
  test::Pair p = test::make_pair(test::client_context(), server.context);
  Pipe pipe(p.client, p.server);
  pipe.run();
  REQUIRE(p.server.phase() == Phase::waiting_for_private_key);
  for (int turn = 0; turn < 20; ++turn) {
    CHECK(p.server.do_handshake().status == Status::want_private_key);
    CHECK(p.server.read(100).status == Status::want_private_key);
    CHECK(p.server.write(std::string_view("early")).status == Status::want_private_key);
    pipe.run();
  }
  CHECK(server.asked->size() == 1);  // BoringSSL retried; the signer was not asked again
  // Python's exceptions: the wait is an SSLWantApplicationError.
  try {
    p.server.do_handshake().throw_if_error();
    FAIL("no exception");
  } catch (const sanstls::SSLWantApplicationError& e) {
    CHECK(std::string(e.what()) == "The operation did not complete (waiting for a private-key operation)");
  }
  p.server.complete_private_key(key.perform(server.asked->front()));
  REQUIRE(pipe.handshake());
}

TEST_CASE("an asynchronous signer completed from another thread", "[callbacks][signer]") {
  Signing server = pending_signing(KeyType::rsa2048);
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(server_cert(KeyType::rsa2048).private_key_pem);
  test::Pair p = test::make_pair(test::client_context(), server.context);
  Pipe pipe(p.client, p.server);
  pipe.run();
  REQUIRE(p.server.phase() == Phase::waiting_for_private_key);
  // The worker has the request and the Object; the loop thread does not
  // touch the Object until the worker is done.
  std::atomic<bool> failed{false};
  std::thread worker([&] {
    try {
      p.server.complete_private_key(key.perform(server.asked->front()));
    } catch (...) {
      failed = true;
    }
  });
  worker.join();
  CHECK_FALSE(failed);
  REQUIRE(pipe.handshake());
}

TEST_CASE("a signer's failure, a throwing signer and a wrong-sized answer fail the handshake clearly",
          "[callbacks][signer]") {
  struct Case {
    std::string name;
    sanstls::PrivateKeySigner signer;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"failed", [](Object&, const PrivateKeyRequest&) { return PrivateKeyReply::failed("HSM offline"); },
       "(the signer failed: HSM offline)"},
      {"throws",
       [](Object&, const PrivateKeyRequest&) -> PrivateKeyReply { throw std::runtime_error("boom"); },
       "(the signer failed: it threw: boom)"},
      {"empty", [](Object&, const PrivateKeyRequest&) { return PrivateKeyReply::done(""); },
       "(the signer returned 0 bytes"},
      {"too long", [](Object&, const PrivateKeyRequest&) { return PrivateKeyReply::done(std::string(100000, 'x')); },
       "(the signer returned 100000 bytes"},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      Context server(Protocol::tls_server);
      server.load_cert_chain_pem_with_signer(server_cert(KeyType::ec_p256).certificate_pem, c.signer);
      test::Handshake h = test::handshake(test::client_context(), server);
      CHECK_FALSE(h.ok);
      REQUIRE(h.server.error());
      INFO(h.server.error()->message);
      CHECK(h.server.error()->reason == "PRIVATE_KEY_OPERATION_FAILED");
      CHECK_THAT(h.server.error()->message, Catch::Contains(c.expected));
      CHECK(h.server.phase() == Phase::failed);
      // The client is told with an alert, not left waiting.
      REQUIRE(h.client.error());
      CHECK(h.client.error()->reason == "TLSV1_ALERT_INTERNAL_ERROR");
    }
  }
}

TEST_CASE("a failed answer given later fails the handshake as a synchronous one does", "[callbacks][signer]") {
  Signing server = pending_signing(KeyType::ec_p256);
  test::Pair p = test::make_pair(test::client_context(), server.context);
  Pipe pipe(p.client, p.server);
  pipe.run();
  p.server.complete_private_key(PrivateKeyReply::failed("the KMS said no"));
  pipe.run();
  REQUIRE(p.server.error());
  CHECK_THAT(p.server.error()->message, Catch::Contains("(the signer failed: the KMS said no)"));
  REQUIRE(p.client.error());
  CHECK(p.client.error()->reason == "TLSV1_ALERT_INTERNAL_ERROR");
}

TEST_CASE("completions in the wrong phase, twice, or with a pending reply are logic errors naming the phase",
          "[callbacks][signer][phase]") {
  Signing server = pending_signing(KeyType::ec_p256);
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(server_cert(KeyType::ec_p256).private_key_pem);
  test::Pair p = test::make_pair(test::client_context(), server.context);
  try {
    p.server.complete_private_key(PrivateKeyReply::done("x"));
    FAIL("no exception");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()) ==
          "complete_private_key() while fresh (no engine call yet) (the Object is not waiting for a "
          "private-key operation)");
  }
  Pipe pipe(p.client, p.server);
  pipe.run();
  REQUIRE(p.server.phase() == Phase::waiting_for_private_key);
  CHECK_THROWS_AS(p.server.complete_private_key(PrivateKeyReply::pending()), std::invalid_argument);
  try {
    p.server.complete_certificate_verify(VerifyReply::accept());
    FAIL("no exception");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()) ==
          "complete_certificate_verify() while waiting for a private-key operation (the Object is not "
          "waiting for a certificate verification)");
  }
  CHECK_THROWS_AS(p.server.complete_client_hello(ClientHelloReply::proceed()), std::logic_error);
  p.server.complete_private_key(key.perform(server.asked->front()));
  try {
    p.server.complete_private_key(PrivateKeyReply::done("again"));
    FAIL("no exception");
  } catch (const std::logic_error& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("complete_private_key() a second time"));
  }
  REQUIRE(pipe.handshake());
  CHECK_THROWS_AS(p.server.complete_private_key(PrivateKeyReply::done("late")), std::logic_error);
}

TEST_CASE("an Object destroyed while its signer is pending leaves nothing behind", "[callbacks][signer]") {
  Signing server = pending_signing(KeyType::rsa2048);
  for (int i = 0; i < 3; ++i) {
    test::Pair p = test::make_pair(test::client_context(), server.context);
    Pipe pipe(p.client, p.server);
    pipe.run();
    REQUIRE(p.server.phase() == Phase::waiting_for_private_key);
    if (i == 1) p.server.complete_private_key(PrivateKeyReply::done("never taken"));
    // p goes out of scope with the operation pending (LeakSanitizer checks).
  }
  CHECK(server.asked->size() == 3);
}

TEST_CASE("a signer's Context can be chosen in the SNI callback", "[callbacks][signer][sni]") {
  Signing signing = synchronous_signing(KeyType::ed25519);
  Context front = test::server_context();
  front.set_sni_callback([&](Object& tls, const std::optional<std::string>& name, const Context&)
                             -> std::optional<sanstls::AlertDescription> {
    if (name == "localhost") tls.set_context(signing.context);
    return std::nullopt;
  });
  test::Handshake h = test::handshake(test::client_context(), front);
  REQUIRE(h.ok);
  CHECK(h.client.getpeercert(sanstls::binary_form) == server_cert(KeyType::ed25519).certificate_der);
  CHECK(signing.asked->size() == 1);
}

TEST_CASE("load_cert_chain_with_signer refuses an empty signer and broken PEM, keeping what was loaded",
          "[callbacks][signer]") {
  Context ctx = test::server_context();
  CHECK_THROWS_AS(ctx.load_cert_chain_pem_with_signer(server_cert(KeyType::ec_p256).certificate_pem, {}),
                  std::invalid_argument);
  auto never = [](Object&, const PrivateKeyRequest&) { return PrivateKeyReply::failed("unused"); };
  CHECK_THROWS_AS(ctx.load_cert_chain_pem_with_signer("not PEM", never), sanstls::SSLError);
  // The key loaded before still works.
  test::Handshake h = test::handshake(test::client_context(), ctx);
  CHECK(h.ok);
}

// ---- Verify callbacks -------------------------------------------------------

TEST_CASE("a verify callback sees the chain, the name and the built-in verdict, and has the last word",
          "[callbacks][verify]") {
  std::vector<PeerCertificates> seen;
  const bool accept = GENERATE(true, false);
  Context client = test::client_context();
  client.set_verify_callback([&](Object&, const PeerCertificates& peer) {
    seen.push_back(peer);
    return accept ? VerifyReply::accept() : VerifyReply::reject("not the pinned key", sanstls::AlertDescription::access_denied);
  });
  test::Handshake h = test::handshake(client, test::server_context());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].chain.size() == 1);
  CHECK(seen[0].chain[0] == test::pki().server.certificate_der);
  CHECK(seen[0].server_hostname == "localhost");
  CHECK_FALSE(seen[0].server_side);
  CHECK(seen[0].verify_code == VerifyCode::ok);
  CHECK(seen[0].verify_message == "ok");
  if (accept) {
    CHECK(h.ok);
  } else {
    CHECK_FALSE(h.ok);
    REQUIRE(h.client.error());
    const sanstls::Error& e = *h.client.error();
    CHECK(e.kind == sanstls::ErrorKind::cert_verification);
    CHECK(e.verify_code == VerifyCode::application_verification);
    CHECK(e.verify_message == "not the pinned key");
    CHECK(e.message == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: not the pinned key");
    REQUIRE(h.server.error());
    CHECK(h.server.error()->reason == "TLSV1_ALERT_ACCESS_DENIED");
  }
}

TEST_CASE("a verify callback is told why the built-in checks failed and may accept anyway", "[callbacks][verify]") {
  // A client that trusts nothing: the built-in verdict is 20.
  Context client(Protocol::tls_client);
  std::vector<PeerCertificates> seen;
  client.set_verify_callback([&](Object&, const PeerCertificates& peer) {
    seen.push_back(peer);
    return peer.chain.front() == test::pki().server.certificate_der ? VerifyReply::accept()
                                                                    : VerifyReply::reject(peer.verify_message);
  });
  test::Handshake h = test::handshake(client, test::server_context());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].verify_code == VerifyCode::unable_to_get_issuer_cert_locally);
  CHECK(seen[0].verify_message == "unable to get local issuer certificate");
  CHECK(h.ok);  // pinned by the application

  // A wrong name: the built-in verdict is the hostname mismatch, in Python's words.
  seen.clear();
  Context named = test::client_context();
  named.set_verify_callback([&](Object&, const PeerCertificates& peer) {
    seen.push_back(peer);
    return peer.verify_code == VerifyCode::ok ? VerifyReply::accept() : VerifyReply::reject(peer.verify_message);
  });
  test::Handshake wrong = test::handshake(named, test::server_context(), "wrong.example");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].verify_code == VerifyCode::hostname_mismatch);
  CHECK(seen[0].verify_message == "Hostname mismatch, certificate is not valid for 'wrong.example'.");
  CHECK_FALSE(wrong.ok);
  REQUIRE(wrong.client.error());
  CHECK(wrong.client.error()->verify_message == "Hostname mismatch, certificate is not valid for 'wrong.example'.");
}

TEST_CASE("a verify callback decides even with cert_none, where the built-in checks would not", "[callbacks][verify]") {
  Context client(Protocol::tls_client);
  client.set_check_hostname(false);
  client.set_verify_mode(sanstls::VerifyMode::cert_none);
  int calls = 0;
  client.set_verify_callback([&](Object&, const PeerCertificates&) {
    ++calls;
    return VerifyReply::reject("refused by policy");
  });
  test::Handshake h = test::handshake(client, test::server_context());
  CHECK(calls == 1);
  CHECK_FALSE(h.ok);
  REQUIRE(h.client.error());
  CHECK(h.client.error()->verify_message == "refused by policy");
}

TEST_CASE("a server's verify callback checks client certificates", "[callbacks][verify]") {
  Context server = test::server_context();
  server.set_verify_mode(sanstls::VerifyMode::cert_required);
  server.load_verify_locations({.cadata = sanstls::CaData::pem(test::pki().ca.certificate_pem())});
  std::vector<PeerCertificates> seen;
  server.set_verify_callback([&](Object&, const PeerCertificates& peer) {
    seen.push_back(peer);
    return VerifyReply::pending();
  });
  Context client = test::client_context();
  client.load_cert_chain_pem(test::pki().client.certificate_pem, test::pki().client.private_key_pem);
  test::Pair p = test::make_pair(client, server);
  Pipe pipe(p.client, p.server, Transport::byte_at_a_time(), Transport::everything());
  pipe.run();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].server_side);
  CHECK_FALSE(seen[0].server_hostname);
  CHECK(seen[0].verify_code == VerifyCode::ok);
  CHECK(seen[0].chain.front() == test::pki().client.certificate_der);
  CHECK(pipe.last(Side::server).status == Status::want_certificate_verify);
  CHECK(p.server.phase() == Phase::waiting_for_certificate_verify);
  p.server.complete_certificate_verify(VerifyReply::accept());
  REQUIRE(pipe.handshake());
  CHECK(seen.size() == 1);
  REQUIRE(p.server.getpeercert());
}

TEST_CASE("a pending verify callback answered later, from another thread, or with a rejection",
          "[callbacks][verify]") {
  const int how = GENERATE(0, 1, 2);  // later, another thread, rejected
  Context client = test::client_context();
  int calls = 0;
  client.set_verify_callback([&](Object&, const PeerCertificates&) {
    ++calls;
    return VerifyReply::pending();
  });
  test::Pair p = test::make_pair(client, test::server_context());
  Pipe pipe(p.client, p.server, Transport::random_chunks(3, 50), Transport::random_chunks(5, 50));
  pipe.run();
  REQUIRE(p.client.phase() == Phase::waiting_for_certificate_verify);
  for (int turn = 0; turn < 5; ++turn) {
    CHECK(p.client.do_handshake().status == Status::want_certificate_verify);
    pipe.run();
  }
  if (how == 0) {
    p.client.complete_certificate_verify(VerifyReply::accept());
  } else if (how == 1) {
    std::thread worker([&] { p.client.complete_certificate_verify(VerifyReply::accept()); });
    worker.join();
  } else {
    p.client.complete_certificate_verify(VerifyReply::reject("the revocation service says revoked",
                                                             sanstls::AlertDescription::certificate_revoked));
  }
  const bool ok = pipe.handshake();
  CHECK(calls == 1);
  if (how < 2) {
    CHECK(ok);
  } else {
    CHECK_FALSE(ok);
    REQUIRE(p.client.error());
    CHECK(p.client.error()->verify_message == "the revocation service says revoked");
    REQUIRE(p.server.error());
    CHECK(p.server.error()->reason == "SSLV3_ALERT_CERTIFICATE_REVOKED");
  }
}

TEST_CASE("a throwing verify callback rejects the certificate with the exception's text", "[callbacks][verify]") {
  Context client = test::client_context();
  client.set_verify_callback([](Object&, const PeerCertificates&) -> VerifyReply {
    throw std::runtime_error("policy server unreachable");
  });
  test::Handshake h = test::handshake(client, test::server_context());
  CHECK_FALSE(h.ok);
  REQUIRE(h.client.error());
  CHECK(h.client.error()->verify_message == "the verify callback threw: policy server unreachable");
  REQUIRE(h.server.error());
  CHECK(h.server.error()->reason == "SSLV3_ALERT_BAD_CERTIFICATE");
}

// ---- ClientHello callbacks --------------------------------------------------

TEST_CASE("a ClientHello callback sees what the client offered", "[callbacks][client_hello]") {
  std::vector<ClientHello> seen;
  Context server = test::server_context();
  server.set_alpn_protocols({"h2", "http/1.1"});
  server.set_client_hello_callback([&](Object&, const ClientHello& hello) {
    seen.push_back(hello);
    return ClientHelloReply::proceed();
  });
  Context client = test::client_context();
  client.set_alpn_protocols({"h2", "http/1.1"});
  test::Handshake h = test::handshake(client, server);
  REQUIRE(h.ok);
  REQUIRE(seen.size() == 1);
  const ClientHello& hello = seen[0];
  CHECK(hello.server_name == "localhost");
  CHECK(hello.alpn_protocols == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(std::find(hello.supported_versions.begin(), hello.supported_versions.end(), 0x0304) !=
        hello.supported_versions.end());
  CHECK(std::find(hello.groups.begin(), hello.groups.end(), 0x001d) != hello.groups.end());  // X25519
  CHECK(std::find(hello.signature_algorithms.begin(), hello.signature_algorithms.end(), 0x0403) !=
        hello.signature_algorithms.end());
  CHECK(std::find(hello.cipher_suites.begin(), hello.cipher_suites.end(), 0x1301) != hello.cipher_suites.end());
  CHECK(std::find(hello.extensions.begin(), hello.extensions.end(), 0) != hello.extensions.end());   // server_name
  CHECK(std::find(hello.extensions.begin(), hello.extensions.end(), 16) != hello.extensions.end());  // ALPN
  CHECK_FALSE(hello.offers_session);
  // The hook BoringSSL shares with shared_ciphers() and the session
  // counters still feeds them.
  REQUIRE(h.server.shared_ciphers());
  CHECK_FALSE(h.server.shared_ciphers()->empty());
  CHECK(server.session_stats().accept == 1);
}

TEST_CASE("a ClientHello callback chooses the certificate, now or later", "[callbacks][client_hello]") {
  const bool later = GENERATE(false, true);
  Signing ed = synchronous_signing(KeyType::ed25519);
  Context rsa(Protocol::tls_server);
  rsa.load_cert_chain_pem(server_cert(KeyType::rsa2048).certificate_pem,
                          server_cert(KeyType::rsa2048).private_key_pem);
  Context front = test::server_context();
  std::vector<ClientHello> seen;
  front.set_client_hello_callback([&](Object& tls, const ClientHello& hello) {
    seen.push_back(hello);
    if (later) return ClientHelloReply::pending();
    // A client that offers Ed25519 gets the Ed25519 certificate.
    const auto& algs = hello.signature_algorithms;
    tls.set_context(std::find(algs.begin(), algs.end(), 0x0807) != algs.end() ? ed.context : rsa);
    return ClientHelloReply::proceed();
  });
  test::Pair p = test::make_pair(test::client_context(), front);
  Pipe pipe(p.client, p.server, Transport::byte_at_a_time(), Transport::everything());
  pipe.run();
  REQUIRE(seen.size() == 1);
  if (later) {
    CHECK(pipe.last(Side::server).status == Status::want_client_hello);
    CHECK(p.server.phase() == Phase::waiting_for_client_hello);
    // The database answered: the RSA certificate.
    p.server.set_context(rsa);
    p.server.complete_client_hello(ClientHelloReply::proceed());
  }
  REQUIRE(pipe.handshake());
  CHECK(seen.size() == 1);
  CHECK(p.client.getpeercert(sanstls::binary_form) ==
        server_cert(later ? KeyType::rsa2048 : KeyType::ed25519).certificate_der);
  // set_context is refused once the choice is made.
  CHECK_THROWS_AS(p.server.set_context(rsa), std::logic_error);
}

TEST_CASE("a ClientHello callback refuses with its alert, at once or later, or by throwing",
          "[callbacks][client_hello]") {
  const int how = GENERATE(0, 1, 2);
  Context server = test::server_context();
  server.set_client_hello_callback([how](Object&, const ClientHello&) -> ClientHelloReply {
    if (how == 0) return ClientHelloReply::refuse(sanstls::AlertDescription::unrecognized_name);
    if (how == 1) return ClientHelloReply::pending();
    throw std::runtime_error("tenant database down");
  });
  test::Pair p = test::make_pair(test::client_context(), server);
  Pipe pipe(p.client, p.server);
  pipe.run();
  if (how == 1) {
    REQUIRE(p.server.phase() == Phase::waiting_for_client_hello);
    p.server.complete_client_hello(ClientHelloReply::refuse(sanstls::AlertDescription::unrecognized_name));
    pipe.run();
  }
  REQUIRE(p.server.error());
  REQUIRE(p.client.error());
  INFO(p.server.error()->message);
  if (how == 2) {
    CHECK_THAT(p.server.error()->message, Catch::Contains("(the ClientHello callback threw: tenant database down)"));
    // BoringSSL's name for a handshake_failure alert answering a ClientHello.
    CHECK(p.client.error()->reason == "HANDSHAKE_FAILURE_ON_CLIENT_HELLO");
  } else {
    CHECK_THAT(p.server.error()->message, Catch::Contains("(the ClientHello callback refused the handshake with alert 112)"));
    CHECK(p.client.error()->reason == "TLSV1_ALERT_UNRECOGNIZED_NAME");
  }
}

TEST_CASE("a ClientHello callback sees a resumption offer, and the session counters stay right",
          "[callbacks][client_hello]") {
  Context server = test::server_context();
  std::vector<bool> offers;
  server.set_client_hello_callback([&](Object&, const ClientHello& hello) {
    offers.push_back(hello.offers_session);
    return offers.size() == 2 ? ClientHelloReply::pending() : ClientHelloReply::proceed();
  });
  Context client = test::client_context();
  test::Handshake first = test::handshake(client, server);
  REQUIRE(first.ok);
  (void)first.client.read(1);  // the TLS 1.3 tickets
  std::optional<sanstls::Session> session = first.client.session();
  REQUIRE(session);
  test::Pair p = test::make_pair(client, server);
  p.client.set_session(*session);
  Pipe pipe(p.client, p.server);
  pipe.run();
  REQUIRE(p.server.phase() == Phase::waiting_for_client_hello);
  p.server.complete_client_hello(ClientHelloReply::proceed());
  REQUIRE(pipe.handshake());
  CHECK(p.client.session_reused());
  CHECK(offers == std::vector<bool>{false, true});
  const sanstls::SessionStats stats = server.session_stats();
  CHECK(stats.accept == 2);
  CHECK(stats.accept_good == 2);
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 0);
}

// ---- PrivateKey ---------------------------------------------------------------

TEST_CASE("PrivateKey reads PEM as load_cert_chain does and refuses what does not fit the key",
          "[callbacks][private_key]") {
  const auto& issued = server_cert(KeyType::rsa2048);
  CHECK_THROWS_AS(sanstls::PrivateKey::from_pem("not a key"), sanstls::SSLError);
  const std::string encrypted = issued.encrypted_private_key_pem("secret");
  try {
    (void)sanstls::PrivateKey::from_pem(encrypted);
    FAIL("no exception");
  } catch (const sanstls::SSLError& e) {
    CHECK_THAT(e.what(), Catch::Contains("the private key is encrypted and no password was given"));
  }
  CHECK_THROWS_AS(sanstls::PrivateKey::from_pem(encrypted, "wrong"), sanstls::SSLError);
  const sanstls::PrivateKey rsa = sanstls::PrivateKey::from_pem(encrypted, "secret");

  PrivateKeyRequest ecdsa_on_rsa{PrivateKeyOperation::sign, 0x0403, "ecdsa_secp256r1_sha256", "message"};
  PrivateKeyReply refused = rsa.perform(ecdsa_on_rsa);
  CHECK(refused.kind() == PrivateKeyReply::Kind::failed);
  CHECK(refused.reason() == "the key cannot sign with ecdsa_secp256r1_sha256");

  PrivateKeyRequest pss{PrivateKeyOperation::sign, 0x0804, "rsa_pss_rsae_sha256", "message"};
  PrivateKeyReply signed_once = rsa.perform(pss);
  REQUIRE(signed_once.kind() == PrivateKeyReply::Kind::done);
  CHECK(signed_once.output().size() == 256);
  // PSS is randomised: the same message signs differently each time.
  CHECK(rsa.perform(pss).output() != signed_once.output());

  const sanstls::PrivateKey ec = sanstls::PrivateKey::from_pem(server_cert(KeyType::ec_p256).private_key_pem);
  PrivateKeyRequest decrypt{PrivateKeyOperation::decrypt, 0, "", std::string(256, 'x')};
  CHECK(ec.perform(decrypt).reason() == "decryption needs an RSA key");
  // Garbage that is not below the modulus.
  CHECK(rsa.perform(PrivateKeyRequest{PrivateKeyOperation::decrypt, 0, "", std::string(256, '\xff')}).kind() ==
        PrivateKeyReply::Kind::failed);
}

TEST_CASE("a PrivateKey signs on several threads at once", "[callbacks][private_key]") {
  Signing server;
  const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(server_cert(KeyType::ec_p256).private_key_pem);
  server.context.load_cert_chain_pem_with_signer(server_cert(KeyType::ec_p256).certificate_pem,
                                                 [key](Object&, const PrivateKeyRequest& r) { return key.perform(r); });
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (test::handshake(test::client_context(), server.context).ok) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(ok == 20);
}

TEST_CASE("Objects destroyed while a verify or ClientHello callback is pending leave nothing behind",
          "[callbacks]") {
  Context client = test::client_context();
  client.set_verify_callback([](Object&, const PeerCertificates&) { return VerifyReply::pending(); });
  Context server = test::server_context();
  server.set_client_hello_callback([](Object&, const ClientHello&) { return ClientHelloReply::pending(); });
  {
    test::Pair p = test::make_pair(client, test::server_context());
    Pipe pipe(p.client, p.server);
    pipe.run();
    REQUIRE(p.client.phase() == Phase::waiting_for_certificate_verify);
    p.client.complete_certificate_verify(VerifyReply::accept());  // given, never taken
  }
  {
    test::Pair p = test::make_pair(test::client_context(), server);
    Pipe pipe(p.client, p.server);
    pipe.run();
    REQUIRE(p.server.phase() == Phase::waiting_for_client_hello);
  }
  // The Contexts, and their callbacks, are still good for the next ones.
  test::Pair p = test::make_pair(test::client_context(), server);
  Pipe pipe(p.client, p.server);
  pipe.run();
  p.server.complete_client_hello(ClientHelloReply::proceed());
  CHECK(pipe.handshake());
}

TEST_CASE("a callback finds its connection through the Object's user data", "[callbacks][user_data]") {
  // One Context serves many connections; the callback is given the Object,
  // and the application's pointer on it says which connection asks.
  struct Connection {
    std::string name;
    int signatures = 0;
  };
  auto key = std::make_shared<sanstls::PrivateKey>(
      sanstls::PrivateKey::from_pem(server_cert(KeyType::ec_p256).private_key_pem));
  Context server(Protocol::tls_server);
  server.load_cert_chain_pem_with_signer(server_cert(KeyType::ec_p256).certificate_pem,
                                         [key](Object& tls, const PrivateKeyRequest& r) {
                                           static_cast<Connection*>(tls.user_data())->signatures++;
                                           return key->perform(r);
                                         });
  Connection first{"first"}, second{"second"};
  test::Pair a = test::make_pair(test::client_context(), server);
  test::Pair b = test::make_pair(test::client_context(), server);
  CHECK(a.server.user_data() == nullptr);
  a.server.set_user_data(&first);
  b.server.set_user_data(&second);
  Object moved = std::move(b.server);  // the pointer moves with the Object
  CHECK(moved.user_data() == &second);
  sanstls::testing::Pipe pa(a.client, a.server);
  REQUIRE(pa.handshake());
  CHECK(first.signatures == 1);
  CHECK(second.signatures == 0);
  sanstls::testing::Pipe pb(b.client, moved);
  REQUIRE(pb.handshake());
  CHECK(second.signatures == 1);
  CHECK(first.signatures == 1);
}
