// bench/baseline_side.hpp: the same connections written directly against
// BoringSSL, the way an embedder without sanstls would.
//
// Transports (see README.md):
//   bio_pair     the baseline of every BENCH line. As asio's ssl::stream
//                does: each SSL gets its own BIO_new_bio_pair (default
//                17 KiB buffers), the SSL on the internal end; the
//                application moves bytes between the two network ends with
//                BIO_read into a buffer and BIO_write out of it.
//   shared_pair  the cheapest setup possible in one process (BoringSSL's
//                own ssl_test.cc): one BIO pair, client SSL on one end,
//                server SSL on the other; no transport copy at all.
//   mem          each SSL gets two BIO_s_mem (read and write); bytes move
//                with BIO_read / BIO_write between them. Memory comparison.
// Before every SSL_* call that may fail the error queue is cleared, as
// SSL_get_error requires and asio's engine does.
#ifndef SANSTLS_BENCH_BASELINE_SIDE_HPP
#define SANSTLS_BENCH_BASELINE_SIDE_HPP

#include <openssl/ssl.h>

#include <cstddef>
#include <span>
#include <string>

#include "bench.hpp"

namespace bench {

enum class Transport { bio_pair, shared_pair, mem };

// transport_name returns the name used in output lines.
const char* transport_name(Transport t) noexcept;

template <Transport T>
struct BaselineSide {
  static constexpr const char* name = "baseline";

  class Pair;

  class Env {
   public:
    explicit Env(const Settings& settings);
    const Settings& settings() const noexcept { return settings_; }
    // latest_session returns the newest session the client was given (a
    // TLS 1.3 ticket or a TLS 1.2 session), or null.
    SSL_SESSION* latest_session() const noexcept { return latest_.get(); }

   private:
    friend class Pair;
    static int new_session(SSL* ssl, SSL_SESSION* session);
    Settings settings_;
    bssl::UniquePtr<SSL_CTX> client_;
    bssl::UniquePtr<SSL_CTX> server_;
    bssl::UniquePtr<SSL_SESSION> latest_;
  };

  class Pair {
   public:
    // Pair creates both connections; with |resume| the client offers the
    // environment's latest session.
    explicit Pair(Env& env, bool resume = false);

    void handshake();
    void settle();
    void write(Side from, std::span<const std::byte> data);
    void read_all(Side to, std::span<std::byte> buffer, Receiver& receiver);
    std::string cipher() const;
    std::string version() const;
    // session_reused returns true when the client resumed.
    bool session_reused() const noexcept;
    // write_early, read_early, early_accepted: as SanstlsSide's.
    void write_early(std::span<const std::byte> data);
    std::size_t read_early(std::span<std::byte> buffer);
    bool early_accepted() const;

   private:
    void move(Side from);

    bssl::UniquePtr<SSL> client_;
    bssl::UniquePtr<SSL> server_;
    // Not owned (each SSL owns its BIOs, and each pair's network end is
    // owned here): the BIOs the application reads from and writes to.
    bssl::UniquePtr<BIO> client_net_;
    bssl::UniquePtr<BIO> server_net_;
    BIO* client_rbio_ = nullptr;  // mem: the client SSL's read BIO
    BIO* client_wbio_ = nullptr;
    BIO* server_rbio_ = nullptr;
    BIO* server_wbio_ = nullptr;
  };
};

extern template struct BaselineSide<Transport::bio_pair>;
extern template struct BaselineSide<Transport::shared_pair>;
extern template struct BaselineSide<Transport::mem>;

}  // namespace bench

#endif  // SANSTLS_BENCH_BASELINE_SIDE_HPP
