// bench/sanstls_side.hpp: the sanstls side of the benchmark, through the
// public API only: Context, Object, MemoryBIO (and native_handle from
// boringssl.hpp, to switch the server's session cache off where the
// scenario asks for no resumption, exactly as the baseline does).
//
// Bytes travel between the two Objects the cheapest way the API offers:
// the sender's outgoing.readable() span is written into the receiver's
// incoming, then consumed. That single copy stands for the transport.
#ifndef SANSTLS_BENCH_SANSTLS_SIDE_HPP
#define SANSTLS_BENCH_SANSTLS_SIDE_HPP

#include <cstddef>
#include <span>
#include <string>

#include <sanstls/context.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>

#include "bench.hpp"

namespace bench {

struct SanstlsSide {
  static constexpr const char* name = "sanstls";
  // has_sessions becomes true when sanstls exposes sessions (issue 5): then
  // Env keeps the client's latest session and Pair offers it, as the
  // baseline does, and the resume scenarios run for sanstls too.
  static constexpr bool has_sessions = false;

  class Pair;

  // Env is the pair of contexts every connection of a scenario shares.
  class Env {
   public:
    explicit Env(const Settings& settings);
    const Settings& settings() const noexcept { return settings_; }

   private:
    friend class Pair;
    Settings settings_;
    sanstls::Context client_;
    sanstls::Context server_;
  };

  // Pair is one client and one server connection and their four buffers.
  class Pair {
   public:
    explicit Pair(Env& env);

    // handshake runs both handshakes to completion; fails otherwise.
    void handshake();
    // settle sends one byte from the server to the client and reads it,
    // which delivers and processes the post-handshake messages (a
    // BoringSSL TLS 1.3 server sends its tickets with its first write), so
    // the connection is established and idle.
    void settle();
    // write encrypts |data| on |from| and moves the records to its peer.
    void write(Side from, std::span<const std::byte> data);
    // read_all reads everything |to| can decrypt into |buffer|, handing each
    // piece to |receiver|.
    void read_all(Side to, std::span<std::byte> buffer, Receiver& receiver);
    // cipher returns the client's negotiated cipher suite name.
    std::string cipher() const;
    // version returns the client's negotiated protocol version.
    std::string version() const;
    // buffered_capacity returns the heap the four MemoryBIOs hold.
    std::size_t buffered_capacity() const noexcept;

   private:
    void move(Side from);

    sanstls::MemoryBIO client_in_, client_out_, server_in_, server_out_;
    sanstls::Object client_;
    sanstls::Object server_;
  };
};

}  // namespace bench

#endif  // SANSTLS_BENCH_SANSTLS_SIDE_HPP
