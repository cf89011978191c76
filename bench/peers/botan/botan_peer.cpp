// bench/peers/botan/botan_peer.cpp: the Botan 2 peer of sanstls-bench.
//
// It runs the in-memory TLS workloads of sanstls-bench with Botan's
// TLS::Client and TLS::Server in one thread, bytes moved by hand between
// them, and answers the line protocol of bench/peers (warm / run / report /
// quit; see bench/README.md).
//
// Botan 2.19 speaks TLS 1.2 at most: the TLS 1.3 scenarios are UNSUPPORTED,
// and the memory scenarios (TLS 1.3 in the C++ bench) run over TLS 1.2,
// which a note says.
#include <botan/auto_rng.h>
#include <botan/certstor.h>
#include <botan/credentials_manager.h>
#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/tls_callbacks.h>
#include <botan/tls_client.h>
#include <botan/tls_handshake_msg.h>
#include <botan/tls_policy.h>
#include <botan/tls_server.h>
#include <botan/tls_session_manager.h>
#include <botan/version.h>
#include <botan/x509cert.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "malloc_hook.hpp"
#include "peers/peer_protocol.hpp"

namespace {

namespace TLS = Botan::TLS;

// The client sends a fixed pseudo-random pattern of kPeriod bytes, stored
// twice so that any window of up to kPeriod bytes at any offset is one
// contiguous run to compare with. Every write size divides kPeriod.
constexpr std::size_t kPeriod = 65536;
constexpr std::size_t kReadSize = 16384;
constexpr std::size_t kMiB = std::size_t{1} << 20;

using bench::peer::format;
using bench::peer::say;

bench::peer::Options g_options;
std::vector<std::uint8_t> g_pattern;
// The application's read buffer, reused by every read, as the C++ side's.
std::array<std::uint8_t, kReadSize> g_read_buffer;

double now_seconds() { return bench::peer::now_seconds(g_options); }

// ---------------------------------------------------------------------------
// Configuration: policy and credentials, made once per scenario at warm.

// Bench_Policy pins what sanstls's scenarios negotiate: TLS 1.2,
// ECDHE-ECDSA with one AEAD, X25519 only.
class Bench_Policy final : public TLS::Policy {
 public:
  explicit Bench_Policy(std::string cipher) : cipher_(std::move(cipher)) {}

  std::vector<std::string> allowed_ciphers() const override { return {cipher_}; }
  std::vector<std::string> allowed_macs() const override { return {"AEAD"}; }
  std::vector<std::string> allowed_key_exchange_methods() const override { return {"ECDH"}; }
  std::vector<std::string> allowed_signature_methods() const override { return {"ECDSA"}; }
  // Botan would otherwise sign with ECDSA-SHA384 first; BoringSSL signs
  // with a P-256 key using SHA-256.
  std::vector<std::string> allowed_signature_hashes() const override { return {"SHA-256"}; }
  std::vector<TLS::Group_Params> key_exchange_groups() const override {
    return {TLS::Group_Params::X25519};
  }
  bool acceptable_protocol_version(TLS::Protocol_Version version) const override {
    return version == TLS::Protocol_Version::TLS_V12;
  }
  // The default demands CRL/OCSP data and fails every handshake with "No
  // revocation data"; BoringSSL checks no revocation here either.
  bool require_cert_revocation_info() const override { return false; }
  // BoringSSL's client sends no status_request in these workloads.
  bool support_cert_status_message() const override { return false; }

 private:
  std::string cipher_;
};

class Client_Credentials final : public Botan::Credentials_Manager {
 public:
  explicit Client_Credentials(const std::string& ca_file) : store_(Botan::X509_Certificate(ca_file)) {}

  std::vector<Botan::Certificate_Store*> trusted_certificate_authorities(
      const std::string& type, const std::string&) override {
    if (type == "tls-client") return {&store_};
    return {};
  }

 private:
  Botan::Certificate_Store_In_Memory store_;
};

// Server_Credentials presents KEY-cert.pem (the leaf alone, as the other
// implementations do) whatever name the client asks for. It trusts no CA,
// so the server asks for no client certificate.
class Server_Credentials final : public Botan::Credentials_Manager {
 public:
  Server_Credentials(const std::string& key_name, std::optional<Botan::SymmetricKey> ticket_key)
      : chain_{Botan::X509_Certificate(g_options.dir + "/" + key_name + "-cert.pem")},
        ticket_key_(std::move(ticket_key)) {
    Botan::DataSource_Stream source(g_options.dir + "/" + key_name + "-key.pem");
    key_ = Botan::PKCS8::load_key(source);
  }

  std::vector<Botan::X509_Certificate> cert_chain(const std::vector<std::string>& key_types,
                                                  const std::string& type,
                                                  const std::string&) override {
    const bool wanted = std::find(key_types.begin(), key_types.end(), key_->algo_name()) != key_types.end();
    if (type == "tls-server" && wanted) return chain_;
    return {};
  }

  Botan::Private_Key* private_key_for(const Botan::X509_Certificate&, const std::string&,
                                      const std::string&) override {
    return key_.get();
  }

  // A Botan server issues tickets exactly when this returns a key. An empty
  // key (rather than the base class's exception, which the server catches
  // on every ClientHello) turns them off at no cost.
  Botan::SymmetricKey psk(const std::string& type, const std::string& context,
                          const std::string&) override {
    if (type == "tls-server" && context == "session-ticket" && ticket_key_) return *ticket_key_;
    return Botan::SymmetricKey();
  }

 private:
  std::vector<Botan::X509_Certificate> chain_;
  std::unique_ptr<Botan::Private_Key> key_;
  std::optional<Botan::SymmetricKey> ticket_key_;
};

struct Config {
  Config(Botan::RandomNumberGenerator& rng_in, const std::string& cipher, bool with_tickets)
      : rng(rng_in),
        policy(cipher),
        server_creds("ecdsa", with_tickets ? std::optional(Botan::SymmetricKey(rng_in, 32)) : std::nullopt),
        client_creds(g_options.dir + "/ecdsa-ca.pem"),
        tickets(with_tickets) {
    if (tickets) {
      server_sessions = std::make_unique<TLS::Session_Manager_In_Memory>(rng);
      client_sessions = std::make_unique<TLS::Session_Manager_In_Memory>(rng);
    } else {
      server_sessions = std::make_unique<TLS::Session_Manager_Noop>();
      client_sessions = std::make_unique<TLS::Session_Manager_Noop>();
    }
  }

  Botan::RandomNumberGenerator& rng;
  Bench_Policy policy;
  Server_Credentials server_creds;
  Client_Credentials client_creds;
  std::unique_ptr<TLS::Session_Manager> server_sessions;
  std::unique_ptr<TLS::Session_Manager> client_sessions;
  bool tickets;
  // Resumption: the master secret of the session the client offers; a
  // resumed handshake keeps it, a full one makes a new one.
  std::optional<Botan::secure_vector<std::uint8_t>> resumed_master;
};

// ---------------------------------------------------------------------------
// One connection's callbacks: its outbound bytes, its reads, and what the
// library told it about the handshake (for the honesty checks).

class Side final : public TLS::Callbacks {
 public:
  Side(bool cache_sessions, const Botan::secure_vector<std::uint8_t>* expect_master)
      : cache_sessions_(cache_sessions), expect_master_(expect_master) {}

  // Records this side wrote that the peer has not been given yet.
  std::vector<std::uint8_t> outbox;
  // Application bytes read, compared with g_pattern while verify is set.
  std::uint64_t received = 0;
  bool verify = false;
  bool corrupt = false;
  // Handshake facts.
  int certificate_msgs = 0;   // sent or received
  int client_kex_msgs = 0;    // sent or received
  int new_ticket_msgs = 0;    // sent or received
  std::string group;  // the name Botan gave the key exchange group
  std::unique_ptr<TLS::Session> session;  // kept only when keep_session is set
  bool keep_session = false;
  bool master_matched = false;
  std::string alert;

  void tls_emit_data(const std::uint8_t data[], std::size_t size) override {
    outbox.insert(outbox.end(), data, data + size);
  }

  // Botan hands out each decrypted record; the application's read copies
  // it into its buffer, as read_into() does on the other sides.
  void tls_record_received(std::uint64_t, const std::uint8_t data[], std::size_t size) override {
    while (size > 0) {
      const std::size_t n = std::min(size, kReadSize);
      std::memcpy(g_read_buffer.data(), data, n);
      if (verify && std::memcmp(g_read_buffer.data(), g_pattern.data() + received % kPeriod, n) != 0) {
        corrupt = true;
      }
      received += n;
      data += n;
      size -= n;
    }
  }

  void tls_alert(TLS::Alert a) override {
    if (alert.empty()) alert = a.type_string() + (a.is_fatal() ? " (fatal)" : " (warning)");
  }

  bool tls_session_established(const TLS::Session& s) override {
    if (expect_master_ != nullptr) master_matched = s.master_secret() == *expect_master_;
    if (keep_session) session = std::make_unique<TLS::Session>(s);
    return cache_sessions_;
  }

  void tls_inspect_handshake_msg(const TLS::Handshake_Message& message) override {
    switch (message.type()) {
      case TLS::CERTIFICATE: ++certificate_msgs; break;
      case TLS::CLIENT_KEX: ++client_kex_msgs; break;
      case TLS::NEW_SESSION_TICKET: ++new_ticket_msgs; break;
      default: break;
    }
  }

  // The client decodes the group of the server's key exchange through here:
  // the library's own report of the group used.
  std::string tls_decode_group_param(TLS::Group_Params g) override {
    group = Callbacks::tls_decode_group_param(g);
    return group;
  }

 private:
  bool cache_sessions_;
  const Botan::secure_vector<std::uint8_t>* expect_master_;
};

// Pair: a client and a server connection. The sides are declared first, so
// they outlive the channels that call them.
class Pair {
 public:
  Pair(Config& cfg, Botan::Credentials_Manager& client_creds, TLS::Session_Manager& client_sessions,
       const std::string& host = "localhost")
      : server_side(cfg.tickets, cfg.resumed_master ? &*cfg.resumed_master : nullptr),
        client_side(cfg.tickets, cfg.resumed_master ? &*cfg.resumed_master : nullptr),
        server(server_side, *cfg.server_sessions, cfg.server_creds, cfg.policy, cfg.rng),
        client(client_side, client_sessions, client_creds, cfg.policy, cfg.rng,
               TLS::Server_Information(host, 443), TLS::Protocol_Version::TLS_V12) {}

  explicit Pair(Config& cfg) : Pair(cfg, cfg.client_creds, *cfg.client_sessions) {}

  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  void handshake() {
    for (int round = 0; round < 16; ++round) {
      bool moved = deliver(client_side, server);
      moved = deliver(server_side, client) || moved;
      check_alerts();
      if (client.is_active() && server.is_active() && client_side.outbox.empty() &&
          server_side.outbox.empty()) {
        return;
      }
      if (!moved) throw std::runtime_error("handshake stalled");
    }
    throw std::runtime_error("handshake did not finish in 16 flights");
  }

  // One byte from the server, read by the client.
  void settle() {
    const std::uint64_t before = client_side.received;
    client_side.verify = true;
    server.send(g_pattern.data() + before % kPeriod, 1);
    deliver(server_side, client);
    check_alerts();
    if (client_side.received != before + 1 || client_side.corrupt) {
      throw std::runtime_error("settle: the server's byte did not arrive intact");
    }
  }

  // The client writes total bytes in writes of size; every record moves to
  // the server, which reads all of it.
  // Not inlined: bench/peers/instructions counts inside it by name.
  [[gnu::noinline]] void stream(std::size_t size, std::uint64_t total) {
    std::size_t offset = 0;
    for (std::uint64_t sent = 0; sent < total; sent += size) {
      client.send(g_pattern.data() + offset, size);
      offset = (offset + size) % kPeriod;
      deliver(client_side, server);
    }
  }

  // release_transport frees what the in-memory transport still holds (the
  // outboxes are empty but keep their capacity): an application writing
  // to a socket would hold nothing there, so it is not the pair's memory.
  void release_transport() {
    std::vector<std::uint8_t>().swap(client_side.outbox);
    std::vector<std::uint8_t>().swap(server_side.outbox);
  }

  void check_alerts() const {
    if (!client_side.alert.empty()) throw std::runtime_error("client got alert " + client_side.alert);
    if (!server_side.alert.empty()) throw std::runtime_error("server got alert " + server_side.alert);
  }

  Side server_side;
  Side client_side;
  TLS::Server server;
  TLS::Client client;

 private:
  // The transport: the sender's records go to the receiver in one call
  // (the one copy is tls_emit_data's append to the outbox).
  static bool deliver(Side& from, TLS::Channel& to) {
    if (from.outbox.empty()) return false;
    to.received_data(from.outbox.data(), from.outbox.size());
    from.outbox.clear();
    return true;
  }
};

// ---------------------------------------------------------------------------
// Honesty checks.

std::string describe(const Side& side) {
  if (!side.session) throw std::runtime_error("no session was established");
  return side.session->version().to_string() + " " + side.session->ciphersuite().to_string();
}

// refusal runs a full handshake that must fail and returns its error.
std::string refusal(Config& cfg, Botan::Credentials_Manager& creds, const std::string& host,
                    const std::string& what) {
  TLS::Session_Manager_Noop no_sessions;
  try {
    Pair pair(cfg, creds, no_sessions, host);
    pair.handshake();
  } catch (const std::exception& e) {
    return e.what();
  }
  throw std::runtime_error("a client that " + what + " completed the handshake");
}

std::string verification_note(Config& cfg) {
  Client_Credentials other_ca(g_options.dir + "/rsa2048-ca.pem");
  const std::string untrusted = refusal(cfg, other_ca, "localhost", "trusts only the rsa2048 CA");
  const std::string wrong_name = refusal(cfg, cfg.client_creds, "wrong.example", "asks for wrong.example");
  return "verification checked (untrusted CA refused: " + untrusted + "; wrong name refused: " +
         wrong_name + ")";
}

// check_full also proves the message counters of check_resumed work.
void check_full(const Pair& pair) {
  if (pair.client_side.certificate_msgs != 1 || pair.server_side.certificate_msgs != 1 ||
      pair.server_side.client_kex_msgs != 1) {
    throw std::runtime_error("the handshake-message counters missed a full handshake's messages");
  }
}

// full_handshake_note runs one untimed full handshake and says what both
// sides negotiated.
std::string full_handshake_note(Config& cfg) {
  TLS::Session_Manager_Noop no_sessions;
  Pair pair(cfg, cfg.client_creds, no_sessions);
  pair.client_side.keep_session = pair.server_side.keep_session = true;
  pair.handshake();
  pair.settle();
  check_full(pair);
  const std::string client = describe(pair.client_side);
  const std::string server = describe(pair.server_side);
  if (server != client) throw std::runtime_error("the sides disagree: client " + client + ", server " + server);
  if (pair.client_side.group.empty()) throw std::runtime_error("the client decoded no key exchange group");
  return client + " " + pair.client_side.group +
         " (both sides; group as the client decoded the server's key exchange)";
}

// Botan 2.19 keeps its resumption flag (Handshake_State::is_a_resumption)
// internal, so a resumption is recognised by what both sides' callbacks
// saw: no Certificate and no ClientKeyExchange message, sent or received,
// and an established session with the offered session's master secret.
void check_resumed(const Pair& pair) {
  const Side& c = pair.client_side;
  const Side& s = pair.server_side;
  if (c.certificate_msgs != 0 || s.certificate_msgs != 0 || s.client_kex_msgs != 0 ||
      !c.master_matched || !s.master_matched) {
    throw std::runtime_error("not resumed (certificates seen: client " + std::to_string(c.certificate_msgs) +
                             ", server " + std::to_string(s.certificate_msgs) +
                             "; offered master secret kept: client " + (c.master_matched ? "yes" : "no") +
                             ", server " + (s.master_matched ? "yes" : "no") + ")");
  }
}

// ---------------------------------------------------------------------------
// Scenarios.

enum class Kind { tls13, handshake, resume, bulk, memory };

struct Spec {
  const char* name;
  Kind kind;
  std::size_t write_size;  // bulk; memory: nonzero for mem_idle_after_1mib
  const char* cipher;
};

constexpr const char* kAes = "AES-128/GCM";
constexpr Spec kSpecs[] = {
    {"handshake_tls13_ecdsa", Kind::tls13, 0, kAes},
    {"handshake_tls13_rsa2048", Kind::tls13, 0, kAes},
    {"resume_tls13", Kind::tls13, 0, kAes},
    {"resume_tls13_one_ticket", Kind::tls13, 0, kAes},
    {"bulk_64", Kind::tls13, 64, kAes},
    {"bulk_1024", Kind::tls13, 1024, kAes},
    {"bulk_16384", Kind::tls13, 16384, kAes},
    {"handshake_tls12_ecdsa", Kind::handshake, 0, kAes},
    {"resume_tls12", Kind::resume, 0, kAes},
    {"bulk_64_tls12", Kind::bulk, 64, kAes},
    {"bulk_1024_tls12", Kind::bulk, 1024, kAes},
    {"bulk_16384_tls12", Kind::bulk, 16384, kAes},
    {"bulk_16384_chacha20", Kind::bulk, 16384, "ChaCha20Poly1305"},
    {"mem_idle_handshake", Kind::memory, 0, kAes},
    {"mem_idle_after_1mib", Kind::memory, 16384, kAes},
};

const Spec* find_spec(const std::string& name) {
  for (const Spec& spec : kSpecs) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

struct Scenario {
  explicit Scenario(const Spec& spec_in) : spec(spec_in), name(spec.name) {}
  const Spec& spec;
  std::string name;
  std::unique_ptr<Config> config;
  std::uint64_t count = 0;  // handshakes, bytes or pairs per rep
  std::vector<double> values;

  const char* unit() const {
    if (spec.kind == Kind::bulk) return "MB/s";
    return spec.kind == Kind::memory ? "bytes" : "handshakes/s";
  }
};

void note(const Scenario& s, const std::string& text) { say("# " + s.name + ": " + text); }

// --- handshake_tls12_ecdsa and resume_tls12 ---

double handshakes_per_second(Config& cfg, bool resume, std::uint64_t n) {
  const double start = now_seconds();
  for (std::uint64_t i = 0; i < n; ++i) {
    Pair pair(cfg);
    pair.handshake();
    if (resume) {
      pair.settle();
      check_resumed(pair);
    }
  }
  return static_cast<double>(n) / (now_seconds() - start);
}

std::uint64_t handshake_count(Config& cfg, bool resume) {
  if (g_options.quick) return 5;
  const double rate = handshakes_per_second(cfg, resume, 10);
  return std::max<std::uint64_t>(20, static_cast<std::uint64_t>(rate * g_options.target_seconds));
}

void warm_handshake(Scenario& s, Botan::RandomNumberGenerator& rng) {
  s.config = std::make_unique<Config>(rng, s.spec.cipher, false);
  Config& cfg = *s.config;
  note(s, full_handshake_note(cfg));
  note(s, verification_note(cfg));
  note(s, "no resumption (Session_Manager_Noop on both sides, no ticket key); the client verifies the "
          "chain with Botan's default tls_verify_cert_chain, which also checks the CA's self-signature "
          "(3 ECDSA verifications per handshake where BoringSSL makes 2)");
  s.count = handshake_count(cfg, false);
  note(s, std::to_string(s.count) + " handshakes per rep");
}

void warm_resume(Scenario& s, Botan::RandomNumberGenerator& rng) {
  s.config = std::make_unique<Config>(rng, s.spec.cipher, true);
  Config& cfg = *s.config;
  std::string group;
  {
    // The full handshake that gives the client its ticket.
    Pair first(cfg);
    first.client_side.keep_session = true;
    first.handshake();
    first.settle();
    check_full(first);
    if (first.client_side.new_ticket_msgs != 1 || first.client_side.session->session_ticket().empty()) {
      throw std::runtime_error("the full handshake gave the client no ticket");
    }
    group = first.client_side.group;
    cfg.resumed_master = first.client_side.session->master_secret();
  }
  {
    Pair pair(cfg);
    pair.client_side.keep_session = pair.server_side.keep_session = true;
    pair.handshake();
    pair.settle();
    check_resumed(pair);
    note(s, describe(pair.client_side) + " (both sides: " + describe(pair.server_side) +
                ") and no key exchange, resuming a session made with " + group);
    note(s, "resumed (Botan 2.19 exposes no resumption flag: on both sides no Certificate or "
            "ClientKeyExchange message went by and the established session kept the offered session's "
            "master secret; checked in every handshake of every run)");
    note(s, "the client offers the ticket of its Session_Manager_In_Memory; a Botan server sends no new "
            "ticket on a ticket resumption (" + std::to_string(pair.client_side.new_ticket_msgs) +
            " here), so the same ticket is offered every time");
  }
  note(s, verification_note(cfg));
  s.count = handshake_count(cfg, true);
  note(s, std::to_string(s.count) + " resumptions per rep");
}

// --- bulk ---

double bulk_mb_per_second(Scenario& s, std::uint64_t total, bool verify) {
  Pair pair(*s.config);
  pair.handshake();
  pair.settle();
  pair.server_side.verify = verify;
  const double start = now_seconds();
  pair.stream(s.spec.write_size, total);
  const double seconds = now_seconds() - start;
  pair.check_alerts();
  if (pair.server_side.received != total || pair.server_side.corrupt) {
    throw std::runtime_error("sent " + std::to_string(total) + " bytes, the server read " +
                             std::to_string(pair.server_side.received) +
                             (pair.server_side.corrupt ? ", not intact" : ""));
  }
  return static_cast<double>(total) / 1e6 / seconds;
}

void warm_bulk(Scenario& s, Botan::RandomNumberGenerator& rng) {
  s.config = std::make_unique<Config>(rng, s.spec.cipher, false);
  note(s, full_handshake_note(*s.config));
  const std::uint64_t warm = kMiB / s.spec.write_size * s.spec.write_size;
  const double rate = bulk_mb_per_second(s, warm, true);
  note(s, std::to_string(warm) + " bytes intact");
  if (g_options.quick) {
    s.count = warm;
  } else {
    const auto sized = static_cast<std::uint64_t>(rate * 1e6 * g_options.target_seconds);
    s.count = std::max<std::uint64_t>(32 * kMiB, sized) / s.spec.write_size * s.spec.write_size;
  }
  note(s, std::to_string(s.count) + " bytes per rep in writes of " + std::to_string(s.spec.write_size) +
              (g_options.quick ? ", every byte compared" : ""));
}

// --- memory ---

// A client with its own session cache, as a BoringSSL client keeps its
// session in its SSL: with one shared cache every pair after the first
// would resume instead of doing the full handshake measured.
struct Memory_Pair {
  explicit Memory_Pair(Config& cfg) : sessions(cfg.rng), pair(cfg, cfg.client_creds, sessions) {}
  TLS::Session_Manager_In_Memory sessions;
  Pair pair;
};

std::unique_ptr<Memory_Pair> settled_pair(Config& cfg, bool after_1mib, bool verify) {
  auto p = std::make_unique<Memory_Pair>(cfg);
  p->pair.handshake();
  p->pair.settle();
  if (after_1mib) {
    p->pair.server_side.verify = verify;
    p->pair.stream(16384, kMiB);
    if (p->pair.server_side.received != kMiB || p->pair.server_side.corrupt) {
      throw std::runtime_error("the 1 MiB did not arrive intact");
    }
  }
  p->pair.release_transport();
  return p;
}

struct Memory_Result {
  double per_pair;
  double cache_per_pair;
};

Memory_Result live_bytes_per_pair(Scenario& s, bool verify) {
  Config& cfg = *s.config;
  settled_pair(cfg, (s.spec.write_size != 0), verify);  // the throw-away pair
  std::vector<std::unique_ptr<Memory_Pair>> pairs;
  pairs.reserve(s.count);
  const std::int64_t before = bench::heap::live_bytes();
  for (std::uint64_t i = 0; i < s.count; ++i) pairs.push_back(settled_pair(cfg, (s.spec.write_size != 0), verify));
  const std::int64_t after = bench::heap::live_bytes();
  for (auto& p : pairs) p->sessions.remove_all();
  const std::int64_t without_cache = bench::heap::live_bytes();
  const auto n = static_cast<double>(s.count);
  return {static_cast<double>(after - before) / n, static_cast<double>(after - without_cache) / n};
}

void warm_memory(Scenario& s, Botan::RandomNumberGenerator& rng) {
  s.config = std::make_unique<Config>(rng, s.spec.cipher, true);
  s.count = g_options.quick ? 10 : 50;
  note(s, full_handshake_note(*s.config) + ", tickets on");
  const Memory_Result r = live_bytes_per_pair(s, true);
  note(s, "TLS 1.2, not the TLS 1.3 of the other implementations (Botan 2 has none); " +
              std::to_string(s.count) + " pairs, each client with its own Session_Manager_In_Memory " +
              "holding its ticket (" + format("%.0f", r.cache_per_pair) + " bytes of the " +
              format("%.0f", r.per_pair) + " per pair)" + ((s.spec.write_size != 0) ? "; the warm-up compared every byte (so does every run with --quick)" : ""));
  note(s, "live heap counted by bench/malloc_hook.cpp linked into this program (malloc_usable_size of "
          "every block, libbotan-2 and libstdc++ included; Botan's mlock pool is off); the in-memory "
          "transport's drained buffers are released before the snapshot");
}

// ---------------------------------------------------------------------------
// The command loop.

class BotanPeer : public bench::peer::Peer {
 public:

  void warm(const std::string& name) override {
    const Spec* spec = find_spec(name);
    if (spec == nullptr) throw std::runtime_error("unknown scenario");
    if (spec->kind == Kind::tls13) {
      say("UNSUPPORTED Botan 2 has no TLS 1.3");
      return;
    }
    if (spec->kind == Kind::memory && !bench::heap::available()) {
      say("UNSUPPORTED built without the malloc hook (sanitizer build)");
      return;
    }
    scenarios_.erase(name);
    Scenario& s = scenarios_.emplace(name, *spec).first->second;
    switch (spec->kind) {
      case Kind::tls13: break;
      case Kind::handshake: warm_handshake(s, rng_); break;
      case Kind::resume: warm_resume(s, rng_); break;
      case Kind::bulk: warm_bulk(s, rng_); break;
      case Kind::memory: warm_memory(s, rng_); break;
    }
    say("OK");
  }

  double run(const std::string& name) override {
    Scenario& s = warmed(name);
    double value = 0;
    switch (s.spec.kind) {
      case Kind::tls13: break;
      case Kind::handshake: value = handshakes_per_second(*s.config, false, s.count); break;
      case Kind::resume: value = handshakes_per_second(*s.config, true, s.count); break;
      case Kind::bulk: value = bulk_mb_per_second(s, s.count, g_options.quick); break;
      case Kind::memory: value = live_bytes_per_pair(s, g_options.quick).per_pair; break;
    }
    s.values.push_back(value);
    return value;
  }

  void report(const std::string& name) override {
    const Scenario& s = warmed(name);
    bench::peer::say_report(name, s.values, s.unit(), s.count);
  }

 private:
  Scenario& warmed(const std::string& name) {
    auto it = scenarios_.find(name);
    if (it == scenarios_.end()) throw std::runtime_error("scenario not warmed");
    return it->second;
  }

  // One generator for the whole program, as the banner says.
  Botan::AutoSeeded_RNG rng_;
  std::map<std::string, Scenario> scenarios_;
};

// check_heap_hook makes sure the malloc hook sees Botan's secure
// allocations, i.e. that the mlock pool really is off.
std::string check_heap_hook() {
  if (!bench::heap::available()) return "no malloc hook in this build (sanitizer): memory scenarios unsupported";
  // The first secure allocation starts Botan's allocator (which allocates
  // for itself); the second shows where a small secure block comes from.
  Botan::secure_vector<std::uint8_t> first(64);
  std::uint64_t seen = 0;
  {
    bench::heap::Counter counter;
    Botan::secure_vector<std::uint8_t> probe(64);
    seen = counter.count();
  }
  if (seen != 1) {
    throw std::runtime_error("the malloc hook does not see Botan's secure allocations (mlock pool still on?)");
  }
  return "BOTAN_MLOCK_POOL_SIZE=0 set first thing in main, before Botan's allocator starts: its secure "
         "allocations go through malloc, where the malloc hook counts them (checked)";
}

}  // namespace

int main(int argc, char** argv) {
  // Botan creates its mlock pool on the first secure allocation and reads
  // this variable then; memory inside the pool would be invisible to the
  // malloc hook.
  setenv("BOTAN_MLOCK_POOL_SIZE", "0", 1);
  return bench::peer::serve(argc, argv, [](const bench::peer::Options& options) {
    g_options = options;
    // The library that runs, not the headers: short_version_string() is
    // the shared library's own "2.19.3".
    say("# Botan " + Botan::short_version_string() + " (libbotan-2, distribution " + BOTAN_DISTRIBUTION_INFO +
        "), TLS 1.2 only, timed by " + bench::peer::clock_name(options));
    say("# " + check_heap_hook());
    say("# one Botan::AutoSeeded_RNG for the whole program; Botan's TLS::Client/TLS::Server over "
        "in-memory buffers, one thread");

    // A fixed pseudo-random pattern (xorshift64), stored twice.
    g_pattern.resize(2 * kPeriod);
    std::uint64_t x = 0x9e3779b97f4a7c15u;
    for (std::size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      g_pattern[i] = g_pattern[i + kPeriod] = static_cast<std::uint8_t>(x >> 56);
    }

    return std::make_unique<BotanPeer>();
  });
}
