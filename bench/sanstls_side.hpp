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
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <sanstls/context.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>
#include <sanstls/session.hpp>

#include "bench.hpp"

namespace bench {

struct SanstlsSide {
  static constexpr const char* name = "sanstls";

  class Pair;

  // Env is the pair of contexts every connection of a scenario shares.
  class Env {
   public:
    explicit Env(const Settings& settings);
    const Settings& settings() const noexcept { return settings_; }
    // latest_session returns the newest resumable session the client was
    // given, or null.
    const sanstls::Session* latest_session() const noexcept {
      return latest_ ? &*latest_ : nullptr;
    }

   private:
    friend class Pair;
    class Signer;
    Settings settings_;
    sanstls::Context client_;
    sanstls::Context server_;
    std::optional<sanstls::Session> latest_;
    // With Settings::async_key: the key, and the request its signer left
    // for the handshake loop's next turn.
    std::shared_ptr<Signer> signer_;
  };

  // Pair is one client and one server connection and their four buffers.
  class Pair {
   public:
    // Pair creates both connections; with |resume| the client offers the
    // newest session.
    explicit Pair(Env& env, bool resume = false);

    // handshake runs both handshakes to completion; fails otherwise.
    void handshake();
    // settle sends one byte from the server to the client and reads it,
    // which processes the post-handshake messages (the TLS 1.3 tickets),
    // so the connection is established and idle; the client's newest
    // resumable session goes to the Env, as a client cache would keep it.
    void settle();
    // session_reused returns true when the client resumed.
    bool session_reused() const noexcept { return client_.session_reused(); }
    // write_early writes |data| on the client before the handshake (0-RTT
    // with a session that allows it) and moves it to the server.
    void write_early(std::span<const std::byte> data);
    // read_early reads the server's early data into |buffer|; returns the
    // bytes read.
    std::size_t read_early(std::span<std::byte> buffer);
    // early_accepted returns true when both sides say 0-RTT was accepted.
    bool early_accepted() const;
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
    // sent returns the bytes |from| has sent so far.
    std::uint64_t sent(Side from) const noexcept { return from == Side::client ? client_sent_ : server_sent_; }
    // certificate_compression returns the algorithm the client received
    // the certificate with.
    std::optional<sanstls::CertificateCompression> certificate_compression() const noexcept {
      return client_.certificate_compression();
    }

   private:
    void move(Side from);

    Env& env_;
    sanstls::MemoryBIO client_in_, client_out_, server_in_, server_out_;
    sanstls::Object client_;
    sanstls::Object server_;
    std::uint64_t client_sent_ = 0;
    std::uint64_t server_sent_ = 0;
  };
};

}  // namespace bench

#endif  // SANSTLS_BENCH_SANSTLS_SIDE_HPP
