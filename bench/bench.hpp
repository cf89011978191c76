// bench/bench.hpp: what the sanstls and the raw BoringSSL sides of the
// benchmark share: connection settings, test credentials, the data pattern
// that bulk transfers send and check, and a failure helper.
#ifndef SANSTLS_BENCH_BENCH_HPP
#define SANSTLS_BENCH_BENCH_HPP

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/testing/certificates.hpp>

namespace bench {

// Settings describe one kind of connection. Both implementations start
// from sanstls's defaults (Python 3.7's: cipher string, options, signature
// algorithms, a verifying client that checks the name "localhost") and
// apply these on top, on both client and server.
struct Settings {
  sanstls::testing::KeyType key_type = sanstls::testing::KeyType::ec_p256;
  bool tls12 = false;       // cap both sides at TLS 1.2
  std::string ciphers{};    // TLS 1.2 cipher list; empty keeps the default
  bool resumption = true;   // false: OP_NO_TICKET and no session cache
  int tls13_tickets = 2;    // TLS 1.3 tickets a server sends per handshake
  // async_key (sanstls only): the server's key is behind a signer that
  // answers pending; the handshake loop signs on its next turn and
  // completes (Status::want_private_key, Object::complete_private_key).
  bool async_key = false;
  // early_data: TLS 1.3 0-RTT on both sides (the early-data scenarios).
  bool early_data = false;
  // chain3: the server sends a realistic three-certificate RSA chain (a
  // leaf with ten names and two intermediates) instead of a lone leaf;
  // key_type is then ignored.
  bool chain3 = false;
  // compression: certificate compression on both sides, server order
  // (the cert_compression scenarios). The baseline compresses afresh in
  // every handshake, as a raw BoringSSL user who keeps nothing would.
  std::vector<sanstls::CertificateCompression> compression{};
};

// Credentials are PEM texts: the CA the client trusts, and the server's
// certificate and key (issued by that CA for "localhost"); cert_pem may
// hold intermediates after the leaf.
struct Credentials {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// credentials returns the credentials for |type|: a CA with a key of that
// type and a server certificate with a key of that type. Made once.
const Credentials& credentials(sanstls::testing::KeyType type);

// credentials_for returns the credentials |settings| ask for: chain3's
// when set, else credentials(key_type).
const Credentials& credentials_for(const struct Settings& settings);

// kServerName is the name the client asks for and verifies.
inline constexpr const char* kServerName = "localhost";

// Side names one end of a connection.
enum class Side { client, server };

// [[noreturn]] fail reports a benchmark failure (a handshake that did not
// complete, bytes that did not arrive intact); main() prints it and exits 1.
[[noreturn]] inline void fail(const std::string& what) { throw std::runtime_error(what); }

// Pattern is the byte stream bulk transfers send: stream position p holds
// pattern_byte(p). Writes of any size up to kMaxWrite are views into one
// buffer, so the sender never copies or generates data.
namespace pattern {
inline constexpr std::size_t kPeriod = 65536;
inline constexpr std::size_t kMaxWrite = 65536;
// at returns |n| bytes (n <= kMaxWrite) starting at stream position |pos|.
std::span<const std::byte> at(std::uint64_t pos, std::size_t n) noexcept;
}  // namespace pattern

// Receiver accounts for the application bytes one side reads and, when
// |verify| is on, compares each with the pattern.
class Receiver {
 public:
  explicit Receiver(bool verify) noexcept : verify_(verify) {}
  void take(std::span<const std::byte> bytes);
  std::uint64_t received() const noexcept { return received_; }

 private:
  bool verify_;
  std::uint64_t received_ = 0;
};

}  // namespace bench

#endif  // SANSTLS_BENCH_BENCH_HPP
