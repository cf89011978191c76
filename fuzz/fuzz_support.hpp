// fuzz/fuzz_support.hpp: what the fuzz targets and the corpus recorder share:
// a reader over the fuzz input, the fixed test certificates, and the
// contexts the targets use. The recorder makes its handshakes with the very
// same contexts, so the recorded seeds match what the targets expect.
//
// Public API only (boringssl.hpp is included by the targets that need it).
#ifndef SANSTLS_FUZZ_SUPPORT_HPP
#define SANSTLS_FUZZ_SUPPORT_HPP

#include <array>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/curve25519.h>

#include <sanstls/callbacks.hpp>
#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>

#include "certs/test_keys.hpp"

// Only in a BoringSSL built in fuzzer mode (scripts/build-boringssl fuzz);
// fuzz/meson.build defines the macro when it links one.
#if defined(BORINGSSL_UNSAFE_FUZZER_MODE)
#include <thread>
#include <utility>

#include <openssl/rand.h>
#endif

// The libFuzzer entry points every target defines (LLVMFuzzerInitialize is
// optional); declared here for -Wmissing-declarations.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace sanstls_fuzz {

// deep_mode: BoringSSL runs in fuzzer mode: every cipher is the NULL
// cipher and MACs, signatures and Finished always pass, so a record the
// fuzzer altered is accepted as it is. Oracles that rely on records being
// authenticated must not run then.
#if defined(BORINGSSL_UNSAFE_FUZZER_MODE)
inline constexpr bool deep_mode = true;
#else
inline constexpr bool deep_mode = false;
#endif

// run_input runs |body|, one input's work. In deep mode every input must
// see the same random numbers, so that a reproducer replays exactly and a
// recorded server flight echoes the session id the target's client sends.
// This BoringSSL's RAND_reset_for_fuzzing() restarts only the entropy
// source; each thread's DRBG, seeded from it once, runs on. So |body| also
// gets a thread of its own, whose first RAND_bytes seeds a new DRBG from the
// restarted source. Without fuzzer mode randomness is real: |body| just runs.
template <class Body>
void run_input(Body&& body) {
#if defined(BORINGSSL_UNSAFE_FUZZER_MODE)
  RAND_reset_for_fuzzing();
  std::thread(std::forward<Body>(body)).join();
#else
  body();
#endif
}

// Input reads a fuzz input front to back; reading past its end gives zeros
// and empty views, so a target never has to check sizes itself.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) noexcept
      : data_(reinterpret_cast<const char*>(data), size) {}
  explicit Input(std::string_view data) noexcept : data_(data) {}

  bool empty() const noexcept { return data_.empty(); }
  std::size_t size() const noexcept { return data_.size(); }

  std::uint8_t byte() noexcept {
    if (data_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }

  std::uint16_t u16() noexcept {
    std::uint16_t hi = byte();
    return static_cast<std::uint16_t>((hi << 8) | byte());
  }

  // take returns up to |n| bytes.
  std::string_view take(std::size_t n) noexcept {
    n = n < data_.size() ? n : data_.size();
    std::string_view out = data_.substr(0, n);
    data_.remove_prefix(n);
    return out;
  }

  std::string_view rest() noexcept { return take(data_.size()); }

 private:
  std::string_view data_;
};

// Chunker turns one input byte into a sequence of chunk sizes: 0 delivers
// everything at once, 1 one byte at a time, anything else sizes from a
// small generator seeded by it (between 1 and 2 * seed bytes).
class Chunker {
 public:
  explicit Chunker(std::uint8_t seed) noexcept : seed_(seed), state_(seed * 2654435761u + 1) {}

  std::size_t next(std::size_t available) noexcept {
    if (seed_ == 0) return available;
    if (seed_ == 1) return available == 0 ? 0 : 1;
    state_ = state_ * 1103515245u + 12345u;
    std::size_t n = 1 + (state_ >> 16) % (2u * seed_);
    return n < available ? n : available;
  }

 private:
  std::uint8_t seed_;
  std::uint32_t state_;
};

// The configurations a target picks from with its first input byte. The
// recorder writes that byte in front of every seed it records.
namespace config {
inline constexpr std::uint8_t tls12 = 0x01;        // maximum version TLS 1.2
inline constexpr std::uint8_t alpn = 0x02;         // offer / accept h2, http/1.1
inline constexpr std::uint8_t client_cert = 0x04;  // client sends, server asks for, a certificate
inline constexpr std::uint8_t session = 0x08;      // client: a serialised session follows the header
inline constexpr std::uint8_t sni = 0x08;          // server: an SNI callback is installed
// callbacks: the application's callbacks (sanstls/callbacks.hpp) are
// installed: a server signs through a signer and looks at the ClientHello,
// a client decides with a verify callback. The actions byte says whether
// they answer at once or pending, and how a pending answer comes. Both
// sides also have TLS 1.3 early data on: a client with a session and
// actions::via_write writes 0-RTT data, a server reads it.
inline constexpr std::uint8_t callbacks = 0x10;
inline constexpr std::size_t count = 32;           // contexts per side
}  // namespace config

// ticket_key is the fixed session ticket key of every fuzz server, so that
// recorded tickets decrypt in the server target.
inline sanstls::TicketKey ticket_key() {
  sanstls::TicketKey key;
  for (std::size_t i = 0; i < 16; ++i) {
    key.name[i] = static_cast<std::byte>(i);
    key.hmac_key[i] = static_cast<std::byte>(0x40 + i);
    key.aes_key[i] = static_cast<std::byte>(0x80 + i);
  }
  return key;
}

// ech_keys is the fixed ECH key of every fuzz server (public name
// "localhost", config id 1), so that recorded ClientHellos encrypted to it
// decrypt in the server target: a fixed X25519 private key and the
// ECHConfig made for it by hand (draft-13: HKDF-SHA256 with AES-128-GCM).
inline const sanstls::EchKeys& ech_keys() {
  static const sanstls::EchKeys keys = [] {
    std::uint8_t private_key[32];
    for (std::size_t i = 0; i < sizeof private_key; ++i) private_key[i] = static_cast<std::uint8_t>(0x11 * (i % 15 + 1));
    std::uint8_t public_key[32];
    X25519_public_from_private(public_key, private_key);
    std::string contents = std::string("\x01\x00\x20\x00\x20", 5) +
                           std::string(reinterpret_cast<const char*>(public_key), 32) +
                           std::string("\x00\x04\x00\x01\x00\x01\x00\x09localhost\x00\x00", 19);
    std::string config = std::string("\xfe\x0d", 2) + static_cast<char>(contents.size() >> 8) +
                         static_cast<char>(contents.size() & 0xff) + contents;
    return sanstls::EchKeys::from_raw(config, std::string(reinterpret_cast<const char*>(private_key), 32));
  }();
  return keys;
}

// Waits is what the callbacks of one input left for drive_handshake, and
// how they should answer: one per thread, as each input runs on its own
// thread in deep mode.
struct Waits {
  std::uint8_t how = 0;  // the input's actions byte
  std::optional<sanstls::PrivateKeyRequest> key_request;
  sanstls::VerifyCode verify_code = sanstls::VerifyCode::ok;  // the built-in verdict the verify callback saw
};
inline Waits& waits() {
  static thread_local Waits w;
  return w;
}

// answers_pending is true when the callbacks answer pending for the
// current input (actions::pending).
inline bool answers_pending();

inline const sanstls::PrivateKey& server_key() {
  static const sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(test_keys::server_key_pem);
  return key;
}

inline sanstls::Context make_client_context(std::uint8_t flags) {
  sanstls::Context ctx(sanstls::Protocol::tls_client);
  ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test_keys::ca_pem)});
  // Every client asks for a staple and SCTs and offers both compression
  // algorithms, so that the client target parses what comes back
  // (status_request, signed_certificate_timestamp, CompressedCertificate).
  ctx.set_ocsp_stapling_requested(true);
  ctx.set_signed_certificate_timestamps_requested(true);
  ctx.set_certificate_compression({sanstls::CertificateCompression::brotli, sanstls::CertificateCompression::zlib});
  // ECH: the ALPN clients encrypt their ClientHello to the servers' key,
  // the others send GREASE.
  if ((flags & config::alpn) != 0) {
    const std::string list = ech_keys().config_list();
    ctx.set_ech_config_list(std::as_bytes(std::span(list.data(), list.size())));
  } else {
    ctx.set_ech_grease(true);
  }
  if ((flags & config::tls12) != 0) ctx.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
  if ((flags & config::alpn) != 0) ctx.set_alpn_protocols({"h2", "http/1.1"});
  if ((flags & config::client_cert) != 0) {
    ctx.load_cert_chain_pem(test_keys::client_cert_pem, test_keys::client_key_pem);
  }
  if ((flags & config::callbacks) != 0) {
    ctx.set_early_data_enabled(true);  // offered when a session allows it
    ctx.set_verify_callback([](sanstls::Object&, const sanstls::PeerCertificates& peer) {
      waits().verify_code = peer.verify_code;
      if (answers_pending()) return sanstls::VerifyReply::pending();
      return peer.verify_code == sanstls::VerifyCode::ok ? sanstls::VerifyReply::accept()
                                                         : sanstls::VerifyReply::reject(peer.verify_message);
    });
  }
  return ctx;
}

inline sanstls::Context make_server_context(std::uint8_t flags) {
  sanstls::Context ctx(sanstls::Protocol::tls_server);
  if ((flags & config::callbacks) != 0) {
    ctx.load_cert_chain_pem_with_signer(test_keys::server_cert_pem,
                                        [](sanstls::Object&, const sanstls::PrivateKeyRequest& request) {
                                          if (!answers_pending()) return server_key().perform(request);
                                          waits().key_request = request;
                                          return sanstls::PrivateKeyReply::pending();
                                        });
    ctx.set_early_data_enabled(true);
    ctx.set_client_hello_callback([](sanstls::Object&, const sanstls::ClientHello& hello) {
      if (answers_pending()) return sanstls::ClientHelloReply::pending();
      return hello.server_name == "alert.test" ? sanstls::ClientHelloReply::refuse()
                                               : sanstls::ClientHelloReply::proceed();
    });
  } else {
    ctx.load_cert_chain_pem(test_keys::server_cert_pem, test_keys::server_key_pem);
  }
  const std::array<sanstls::TicketKey, 1> keys{ticket_key()};
  ctx.set_ticket_keys(keys);
  // Stapled only for a ClientHello that asks (status_request,
  // signed_certificate_timestamp), as every fuzz client does; the SNI
  // switch below goes to a context without them.
  static constexpr char kStaple[] = "fuzz OCSP response";
  static constexpr char kScts[] = "\x00\x06\x00\x04SCT1";
  ctx.set_ocsp_response(std::as_bytes(std::span(kStaple, sizeof(kStaple) - 1)));
  ctx.set_signed_certificate_timestamps(std::as_bytes(std::span(kScts, sizeof(kScts) - 1)));
  ctx.set_ech_keys(ech_keys());
  // Both compression algorithms, preferred in turn, so that recorded
  // client seeds hold certificates compressed both ways.
  using sanstls::CertificateCompression;
  if ((flags & config::alpn) != 0) {
    ctx.set_certificate_compression({CertificateCompression::zlib, CertificateCompression::brotli});
  } else {
    ctx.set_certificate_compression({CertificateCompression::brotli, CertificateCompression::zlib});
  }
  if ((flags & config::tls12) != 0) ctx.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
  if ((flags & config::alpn) != 0) ctx.set_alpn_protocols({"http/1.1", "h2"});
  if ((flags & config::client_cert) != 0) {
    ctx.load_verify_locations({.cadata = sanstls::CaData::pem(test_keys::ca_pem)});
    ctx.set_verify_mode(sanstls::VerifyMode::cert_optional);
  }
  if ((flags & config::sni) != 0) {
    // Names are answered three ways: "localhost" goes on, "alert.test"
    // aborts with an alert, anything else switches to a context without
    // ALPN (which must still work mid-handshake).
    sanstls::Context other(sanstls::Protocol::tls_server);
    other.load_cert_chain_pem(test_keys::server_cert_pem, test_keys::server_key_pem);
    // What this context agreed on must stay possible after the switch.
    other.set_certificate_compression({CertificateCompression::brotli, CertificateCompression::zlib});
    ctx.set_sni_callback([other](sanstls::Object& object, const std::optional<std::string>& name,
                                 const sanstls::Context&) -> std::optional<sanstls::AlertDescription> {
      if (!name || *name == "localhost") return std::nullopt;
      if (*name == "alert.test") return sanstls::AlertDescription::unrecognized_name;
      object.set_context(other);
      return std::nullopt;
    });
  }
  return ctx;
}

// client_context and server_context return the context of one side for
// |flags| (config::), each made once: targets pick one per input.
// LLVMFuzzerInitialize makes them all (make_all_contexts), so no input
// pays for it.
template <class Make>
std::vector<sanstls::Context> make_contexts(Make make) {
  std::vector<sanstls::Context> out;
  for (std::size_t i = 0; i < config::count; ++i) out.push_back(make(static_cast<std::uint8_t>(i)));
  return out;
}

inline const sanstls::Context& client_context(std::uint8_t flags) {
  static const std::vector<sanstls::Context> all = make_contexts(make_client_context);
  return all[flags % config::count];
}

inline const sanstls::Context& server_context(std::uint8_t flags) {
  static const std::vector<sanstls::Context> all = make_contexts(make_server_context);
  return all[flags % config::count];
}

inline void make_all_contexts() {
  (void)client_context(0);
  (void)server_context(0);
}

// The operations of the program-driven targets, one byte each, here so
// that record_corpus writes its seeds with the very same values.
namespace session_records_ops {
enum Op : std::uint8_t {
  op_raw,            // [u16 n] [n bytes]: written straight into the victim's incoming
  op_peer_write,     // [n]: the peer writes n + 1 bytes of application data
  op_deliver,        // [k]: up to 8 * k bytes (k == 0: all) of the peer's records reach the victim
  op_flip,           // [u16 position] [mask]: XOR one byte of the peer's undelivered records
  op_peer_unwrap,    // the peer sends close_notify
  op_peer_key_update,  // [requested]: the peer sends a KeyUpdate (TLS 1.3), then one byte
  op_victim_read,    // [n]: the victim reads up to n + 1 bytes
  op_victim_write,   // [n]: the victim writes n bytes; the peer reads what it sent
  op_victim_unwrap,  // the victim starts or continues its shutdown
  op_eof,            // the victim's incoming reaches EOF
  op_drop,           // [k]: k bytes of the peer's undelivered records are lost
  op_replay,         // the peer's undelivered records are delivered, and kept for a second time
  op_count,
};
}  // namespace session_records_ops

namespace memory_bio_ops {
enum Op : std::uint8_t {
  op_write,
  op_write_string,
  op_read_all,
  op_read_n,
  op_read_into,
  op_readable_consume,
  op_prepare,
  op_fill,
  op_commit,
  op_write_eof,
  op_copy_handle,
  op_count,
};
}  // namespace memory_bio_ops

// pump moves every byte of |from| to |to| and returns how many moved.
inline std::size_t pump(sanstls::MemoryBIO& from, sanstls::MemoryBIO& to) {
  std::string bytes = from.read();
  if (!bytes.empty() && !to.eof_written()) to.write(bytes);
  return bytes.size();
}

// exercise calls every getter of a connection, as an application would
// once the handshake is done (or has failed); none may crash.
inline void exercise(const sanstls::Object& tls) {
  (void)tls.version();
  (void)tls.cipher();
  (void)tls.selected_alpn_protocol();
  (void)tls.selected_npn_protocol();
  try {
    (void)tls.getpeercert();
  } catch (const std::invalid_argument&) {
    // Documented: a name that is not UTF-8 (Python's UnicodeDecodeError).
  } catch (const sanstls::SSLError&) {
    // Documented: a field that cannot become text. Both need a certificate
    // the client accepted: reachable in deep mode, where signatures always
    // verify, and through a session's stored certificate.
  }
  (void)tls.getpeercert(sanstls::binary_form);
  (void)tls.shared_ciphers();
  (void)tls.session_reused();
  (void)tls.pending();
  if (std::optional<sanstls::Session> s = tls.session()) {
    (void)s->id();
    (void)s->is_resumable();
    (void)s->to_bytes();
  }
  (void)tls.get_channel_binding("tls-unique");
  (void)tls.get_channel_binding("tls-exporter");
  if (tls.is_handshake_complete()) {
    (void)tls.export_keying_material("EXPERIMENTAL fuzz", std::nullopt, 32);
  }
  (void)tls.error();
}

// Actions are the bits of the byte that chooses how a handshake target
// drives its Object.
namespace actions {
inline constexpr std::uint8_t eof_at_end = 0x01;     // write_eof on incoming after the last byte
inline constexpr std::uint8_t unwrap_at_end = 0x02;  // start the shutdown at the end
inline constexpr std::uint8_t via_read = 0x04;       // drive the handshake with read(), not do_handshake()
inline constexpr std::uint8_t via_write = 0x08;      // ... or with write()
inline constexpr std::uint8_t early_unwrap = 0x10;   // unwrap before the handshake is done
// With config::callbacks: the callbacks answer pending (else at once), and
// the answer comes as answer_mask says.
inline constexpr std::uint8_t pending = 0x20;
inline constexpr std::uint8_t answer_mask = 0xc0;
inline constexpr std::uint8_t answer_now = 0x00;      // before the next call
inline constexpr std::uint8_t answer_later = 0x40;    // after one more call that reports the wait
inline constexpr std::uint8_t answer_failure = 0x80;  // a failed signer, a rejection, a refusal
inline constexpr std::uint8_t answer_never = 0xc0;    // never: the Object is dropped while waiting
}  // namespace actions

inline bool answers_pending() { return (waits().how & actions::pending) != 0; }

// step makes one call on |tls| as |how| says, and returns its status.
inline sanstls::Status step(sanstls::Object& tls, std::uint8_t how) {
  if (!tls.is_handshake_complete()) {
    if ((how & actions::via_read) != 0) return tls.read(512).status;
    if ((how & actions::via_write) != 0) return tls.write(std::string_view("x")).status;
    return tls.do_handshake().status;
  }
  // Done: read whatever application (and early) data arrived.
  std::array<std::byte, 512> early{};
  for (int i = 0; i < 64 && tls.read_early_data(early).status == sanstls::Status::done; ++i) {
  }
  for (int i = 0; i < 64; ++i) {
    sanstls::ReadResult r = tls.read(4096);
    if (r.status != sanstls::Status::done) return r.status;
  }
  return sanstls::Status::done;
}

// answer_waits answers a callback's wait (a wait status) as the actions
// byte says and calls the Object again, until it no longer waits for the
// application; returns the last status.
inline sanstls::Status answer_waits(sanstls::Object& tls, sanstls::Status status, std::uint8_t how) {
  const std::uint8_t answer = how & actions::answer_mask;
  for (int round = 0; round < 8 && sanstls::waits_for_application(status); ++round) {
    if (answer == actions::answer_never) return status;
    if (answer == actions::answer_later && round == 0) {
      status = step(tls, how);  // reports the same wait
      continue;
    }
    const bool fail = answer == actions::answer_failure;
    if (status == sanstls::Status::want_private_key) {
      const std::optional<sanstls::PrivateKeyRequest>& request = waits().key_request;
      tls.complete_private_key(fail || !request ? sanstls::PrivateKeyReply::failed("fuzz")
                                                : server_key().perform(*request));
    } else if (status == sanstls::Status::want_certificate_verify) {
      bool reject = fail || waits().verify_code != sanstls::VerifyCode::ok;
      tls.complete_certificate_verify(reject ? sanstls::VerifyReply::reject("fuzz")
                                             : sanstls::VerifyReply::accept());
    } else {
      tls.complete_client_hello(fail ? sanstls::ClientHelloReply::refuse() : sanstls::ClientHelloReply::proceed());
    }
    status = step(tls, how);
  }
  return status;
}

// report_handshake tells, when SANSTLS_FUZZ_VERBOSE is set, how far one
// input's handshake got: to see why a seed stops early (scripts/check uses
// it to keep every deep seed reaching the end of its handshake).
inline void report_handshake(const sanstls::Object& tls, bool completed) {
  static const bool verbose = std::getenv("SANSTLS_FUZZ_VERBOSE") != nullptr;
  if (!verbose) return;
  if (completed) {
    std::fprintf(stderr, "sanstls-fuzz: handshake complete (%s%s)\n",
                 tls.version().value_or("?").c_str(), tls.session_reused() ? ", resumed" : "");
  } else {
    const auto error = tls.error();
    std::fprintf(stderr, "sanstls-fuzz: handshake incomplete (%s)\n",
                 error ? error->message.c_str() : "no error: the input ended");
  }
}

// drive_handshake feeds |peer| (the other side's bytes) to |tls| through
// |incoming| in chunks |chunk_seed| chooses, calling the Object after every
// chunk and draining |outgoing|, as an event loop would. Errors are fine;
// crashes, hangs and leaks are not.
inline void drive_handshake(sanstls::Object& tls, sanstls::MemoryBIO incoming,
                            sanstls::MemoryBIO outgoing, std::string_view peer,
                            std::uint8_t chunk_seed, std::uint8_t how) {
  Chunker chunker(chunk_seed);
  waits() = Waits{how, std::nullopt, sanstls::VerifyCode::ok};
  sanstls::Status status = answer_waits(tls, step(tls, how), how);
  (void)outgoing.read();
  bool completed = false;
  while (!peer.empty() && status != sanstls::Status::error) {
    std::size_t n = chunker.next(peer.size());
    incoming.write(peer.substr(0, n));
    peer.remove_prefix(n);
    status = answer_waits(tls, step(tls, how), how);
    (void)outgoing.read();
    if (!completed && tls.is_handshake_complete()) {
      completed = true;
      exercise(tls);
      (void)tls.write(std::string_view("GET / HTTP/1.0\r\n\r\n"));
      (void)outgoing.read();
    }
    if ((how & actions::early_unwrap) != 0 && !completed) (void)tls.unwrap();
  }
  if ((how & actions::eof_at_end) != 0) {
    incoming.write_eof();
    (void)step(tls, how);
  }
  if ((how & actions::unwrap_at_end) != 0) (void)tls.unwrap();
  report_handshake(tls, completed);
  exercise(tls);
  (void)outgoing.read();
}

}  // namespace sanstls_fuzz

#endif  // SANSTLS_FUZZ_SUPPORT_HPP
