// sanstls/testing/pipe.hpp: drive a client and a server Object against each
// other in memory, for tests: the bytes each writes to its outgoing
// MemoryBIO are delivered to the other's incoming, all at once, a byte at a
// time, or in random chunks, optionally truncated or with a byte flipped.
//
// Example:
//   using namespace sanstls::testing;
//   CertificateAuthority ca = CertificateAuthority::create();
//   Issued cert = ca.issue({.dns_names = {"localhost"}});
//   sanstls::Context server_ctx(sanstls::Protocol::tls_server);
//   server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
//   sanstls::Context client_ctx(sanstls::Protocol::tls_client);
//   client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});
//
//   sanstls::Object client = client_ctx.wrap_bio({}, {}, false, "localhost");
//   sanstls::Object server = server_ctx.wrap_bio({}, {}, true);
//   Pipe pipe(client, server, Transport::byte_at_a_time());
//   bool ok = pipe.handshake();                    // both sides done
//   sanstls::Result sent = pipe.send(Side::client, "ping");  // write, then run()
//   std::string got = pipe.take_received(Side::server);      // "ping"
//   (void)ok, (void)sent;
//
// The Pipe holds references: both Objects must outlive it.
//
// Threads: a Pipe drives both of its Objects, so the Pipe and the two
// Objects are used by one thread at a time, as an Object is; Pipes on
// several threads may connect Objects of the same Contexts
// (test/threads_test.cpp does). A Transport is a value with a random
// generator of its own.
#ifndef SANSTLS_TESTING_PIPE_HPP
#define SANSTLS_TESTING_PIPE_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>
#include <sanstls/testing/certificates.hpp>  // pipes usually need certificates

namespace sanstls::testing {

// Transport decides how bytes travel in one direction.
class Transport {
 public:
  // everything delivers all pending bytes at each step.
  static Transport everything();
  // byte_at_a_time delivers one byte per step, so the receiver processes
  // every possible split of every record.
  static Transport byte_at_a_time();
  // random_chunks delivers between 1 and |max_chunk| bytes per step, chosen
  // by a generator seeded with |seed| (the same seed, the same chunks).
  static Transport random_chunks(std::uint64_t seed, std::size_t max_chunk = 1500);

  // truncate_after stops the stream after |bytes| bytes: the receiver's
  // incoming gets write_eof() and nothing more is delivered.
  Transport& truncate_after(std::uint64_t bytes);

  // flip_byte XORs the byte at stream position |offset| (counting from 0
  // over everything this transport delivers) with |mask|.
  Transport& flip_byte(std::uint64_t offset, std::uint8_t mask = 0x01);

  // delivered returns how many bytes this transport has delivered.
  std::uint64_t delivered() const noexcept { return delivered_; }

  // deliver moves one step's worth of bytes from |from| to |to| and
  // returns true if it changed anything (bytes moved or EOF signalled).
  bool deliver(MemoryBIO& from, MemoryBIO& to);

 private:
  Transport(std::size_t max_chunk, bool random, std::uint64_t seed);
  std::size_t quota();

  std::size_t max_chunk_;
  bool random_;
  std::mt19937_64 rng_;
  std::optional<std::uint64_t> truncate_at_;
  std::optional<std::uint64_t> flip_at_;
  std::uint8_t flip_mask_ = 0x01;
  std::uint64_t delivered_ = 0;
  bool eof_sent_ = false;
};

// Side names one end of a Pipe.
enum class Side { client, server };

// Pipe drives a client and a server Object against each other in memory,
// through one Transport each way; see the file comment.
class Pipe {
 public:
  // Pipe connects |client| and |server|; |to_server| carries the client's
  // bytes, |to_client| the server's.
  Pipe(Object& client, Object& server, Transport to_server = Transport::everything(),
       Transport to_client = Transport::everything());

  // run drives both Objects until neither can make progress: each side runs
  // its handshake until complete, then reads all application data it can
  // into received(side); bytes move between them after each step. A side
  // that failed is no longer driven, but its queued alert is still
  // delivered. Throws std::runtime_error if the sides never go quiet.
  void run();

  // handshake runs and returns true if both handshakes completed.
  bool handshake();

  // send writes |data| on |from| and runs. Returns the write's Result.
  Result send(Side from, std::string_view data);

  // last returns the Result of the last call the Pipe made on |side|:
  // want_read when it is idle, closed after the peer's close_notify, or
  // the error it failed with.
  const Result& last(Side side) const noexcept;

  // received returns the application data |side| has read so far.
  const std::string& received(Side side) const noexcept;
  // take_received returns it and clears it.
  std::string take_received(Side side);

  // transport returns the transport that delivers *to* |side|.
  Transport& transport(Side to) noexcept;

 private:
  struct End {
    Object* object;
    MemoryBIO incoming;
    MemoryBIO outgoing;
    Result last{Status::want_read, 0, nullptr};
    std::string received;
    Transport to_me;
  };
  bool drive(End& end);
  End& end(Side side) noexcept { return side == Side::client ? client_ : server_; }
  const End& end(Side side) const noexcept { return side == Side::client ? client_ : server_; }

  End client_;
  End server_;
};

}  // namespace sanstls::testing

#endif  // SANSTLS_TESTING_PIPE_HPP
