// fuzz/session_records.cpp: what arrives after the handshake.
//
// A client and a server (the fixed test contexts) complete an in-memory
// handshake, made fresh for every input. Then the input is a small program
// played between the "victim" (the side under test) and its peer: the peer
// writes application data, sends close_notify or a TLS 1.3 KeyUpdate; its
// records are delivered to the victim whole, in pieces, with a byte
// flipped, dropped or replayed; raw bytes from the input are injected into
// the victim's incoming; the victim reads, writes and unwraps. Errors are
// fine, but whatever the victim reads must be a prefix of what the peer
// wrote: anything else (a replayed or forged record accepted) abort()s.
// In deep mode records are not authenticated (fuzz_support.hpp), so that
// holds only for inputs that never tamper with the peer's records.
//
// Input: [config] then operations (session_records_ops in fuzz_support.hpp), each one byte plus arguments.
// config: bit 0 TLS 1.2 (else 1.3), bit 1 the victim is the server (else
// the client), bit 2 ALPN.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/err.h>
#include <sanstls/boringssl.hpp>

#include "fuzz_support.hpp"

namespace {

namespace cfg {
constexpr std::uint8_t tls12 = 0x01;
constexpr std::uint8_t victim_server = 0x02;
constexpr std::uint8_t alpn = 0x04;
}  // namespace cfg

using namespace sanstls_fuzz::session_records_ops;

struct Pair {
  sanstls::MemoryBIO client_in, client_out, server_in, server_out;
  sanstls::Object client;
  sanstls::Object server;
};

// flags maps this target's config byte onto the shared contexts' flags.
std::uint8_t flags(std::uint8_t config) {
  return static_cast<std::uint8_t>((config & cfg::tls12 ? sanstls_fuzz::config::tls12 : 0) |
                                   (config & cfg::alpn ? sanstls_fuzz::config::alpn : 0));
}

// handshake connects a fresh pair; false if it failed (it must not).
std::optional<Pair> handshake(std::uint8_t config) {
  sanstls::MemoryBIO ci, co, si, so;
  Pair p{ci, co, si, so, sanstls_fuzz::client_context(flags(config)).wrap_bio(ci, co, false, "localhost"),
         sanstls_fuzz::server_context(flags(config)).wrap_bio(si, so, true)};
  for (int round = 0; round < 16; ++round) {
    (void)p.client.do_handshake();
    sanstls_fuzz::pump(p.client_out, p.server_in);
    (void)p.server.do_handshake();
    sanstls_fuzz::pump(p.server_out, p.client_in);
    if (p.client.is_handshake_complete() && p.server.is_handshake_complete()) {
      // TLS 1.3: the client takes the server's tickets now.
      (void)p.client.read(1);
      return p;
    }
  }
  return std::nullopt;
}

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "session_records: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sanstls_fuzz::make_all_contexts();
  return 0;
}

namespace {

// one_input is the target proper; LLVMFuzzerTestOneInput runs it through
// run_input (a thread of its own in deep mode).
void one_input(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::Input input(data, size);
  const std::uint8_t config = input.byte();
  std::optional<Pair> pair = handshake(config);
  if (!pair) bug("the in-memory handshake failed");
  const bool victim_is_server = (config & cfg::victim_server) != 0;
  sanstls::Object& victim = victim_is_server ? pair->server : pair->client;
  sanstls::Object& peer = victim_is_server ? pair->client : pair->server;
  sanstls::MemoryBIO& victim_in = victim_is_server ? pair->server_in : pair->client_in;
  sanstls::MemoryBIO& victim_out = victim_is_server ? pair->server_out : pair->client_out;
  sanstls::MemoryBIO& peer_in = victim_is_server ? pair->client_in : pair->server_in;
  sanstls::MemoryBIO& peer_out = victim_is_server ? pair->client_out : pair->server_out;

  std::string peer_sent, victim_received, victim_sent, peer_received;
  // Whether the victim's incoming bytes are no longer exactly the peer's.
  bool tampered = false;
  std::uint8_t counter = 0;
  auto payload = [&counter](std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>('a' + counter++ % 26);
    return s;
  };
  auto deliver = [&victim_in](std::string_view bytes) {
    if (!victim_in.eof_written()) victim_in.write(bytes);
  };
  auto victim_read = [&](std::size_t n) {
    sanstls::ReadResult r = victim.read(n);
    if (r.status == sanstls::Status::done) victim_received += r.data;
    if (r.data.size() != r.bytes) bug("read: data and bytes disagree");
    return r.status;
  };

  while (!input.empty()) {
    switch (input.byte() % op_count) {
      case op_raw:
        deliver(input.take(input.u16() % 4096));
        tampered = true;
        break;
      case op_peer_write: {
        std::string bytes = payload(static_cast<std::size_t>(input.byte()) + 1);
        peer_sent += bytes.substr(0, peer.write(bytes).bytes);
        break;
      }
      case op_deliver: {
        const std::size_t k = input.byte();
        deliver(peer_out.read(k == 0 ? std::string::npos : 8 * k));
        break;
      }
      case op_flip: {
        const std::size_t position = input.u16();
        const auto mask = static_cast<char>(input.byte() | 1);
        std::string pending = peer_out.read();
        if (!pending.empty()) pending[position % pending.size()] ^= mask;
        tampered = tampered || !pending.empty();
        peer_out.write(pending);
        break;
      }
      case op_peer_unwrap:
        (void)peer.unwrap();
        break;
      case op_peer_key_update: {
        const int requested = input.byte() & 1;
        if (peer.is_handshake_complete() && peer.version() == "TLSv1.3" && !peer.error() &&
            peer.phase() == sanstls::Phase::established) {
          if (peer.key_update(requested != 0).status != sanstls::Status::done) bug("key_update failed");
        }
        if (peer.write(std::string_view("k")).bytes == 1) peer_sent += 'k';
        break;
      }
      case op_victim_read:
        (void)victim_read(static_cast<std::size_t>(input.byte()) + 1);
        (void)victim.pending();
        break;
      case op_victim_write: {
        std::string bytes = payload(input.byte());
        victim_sent += bytes.substr(0, victim.write(bytes).bytes);
        sanstls_fuzz::pump(victim_out, peer_in);
        for (int i = 0; i < 16; ++i) {
          sanstls::ReadResult r = peer.read(4096);
          if (r.status != sanstls::Status::done) break;
          peer_received += r.data;
        }
        break;
      }
      case op_victim_unwrap:
        (void)victim.unwrap();
        break;
      case op_eof:
        victim_in.write_eof();
        break;
      case op_drop:
        tampered = tampered || !peer_out.read(input.byte()).empty();
        break;
      case op_replay: {
        std::string pending = peer_out.read();
        deliver(pending);
        peer_out.write(pending);
        tampered = tampered || !pending.empty();
        break;
      }
      default:
        break;
    }
    if (victim_sent.compare(0, peer_received.size(), peer_received) != 0 ||
        peer_received.size() > victim_sent.size()) {
      bug("the peer read bytes the victim never wrote");
    }
  }

  // Whatever is still in flight arrives; the victim reads it all.
  deliver(peer_out.read());
  for (int i = 0; i < 64; ++i) {
    if (victim_read(16384) != sanstls::Status::done) break;
  }
  sanstls_fuzz::exercise(victim);
  (void)victim.unwrap();
  const bool authenticated = !sanstls_fuzz::deep_mode || !tampered;
  if (authenticated && (victim_received.size() > peer_sent.size() ||
                        peer_sent.compare(0, victim_received.size(), victim_received) != 0)) {
    bug("the victim read bytes the peer never wrote (a forged or replayed record was accepted)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::run_input([data, size] { one_input(data, size); });
  return 0;
}
