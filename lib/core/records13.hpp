// Records13 is sanstls's own record layer for an established TLS 1.3
// connection. Not installed.
//
// Once a TLS 1.3 handshake is done, BoringSSL's SSL_read and SSL_write are
// mostly overhead around the AEAD: per record they clear the thread's error
// queue, malloc and free a buffer, look for post-handshake messages and
// look up the version again (about 4,000 instructions at 64 bytes, against
// 2,600 for the AEAD itself). An Object therefore takes the application
// traffic keys from BoringSSL (SSL_get_traffic_secrets and the sequence
// numbers) and seals and opens records itself, straight between the
// MemoryBIOs and the caller's buffers. It owns everything that can arrive
// after the handshake: application data, alerts, close_notify, KeyUpdate
// and, for a client, NewSessionTicket (handed to BoringSSL's
// SSL_process_tls13_new_session_ticket). Its checks, limits, error reasons
// and alerts are BoringSSL's (ssl/tls_record.cc, ssl/s3_pkt.cc,
// ssl/tls13_both.cc), so a peer, and the application, see the same
// connection either way.
//
// BoringSSL's own record layer is made inert at the hand-over (both
// shutdown bits set): an SSL_read or SSL_write through the native handle
// fails cleanly instead of using stale keys.
#ifndef SANSTLS_LIB_CORE_RECORDS13_HPP
#define SANSTLS_LIB_CORE_RECORDS13_HPP

#include <openssl/aead.h>
#include <openssl/digest.h>
#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <sanstls/object.hpp>

#include "internal.hpp"

namespace sanstls {

class Records13 {
 public:
  // take_over returns the record layer for |ssl|, an established TLS 1.3
  // connection whose BoringSSL buffers are empty, and makes BoringSSL's
  // own record layer inert. Returns null, changing nothing, when the
  // connection cannot be handed over (a cipher this layer does not know).
  static std::unique_ptr<Records13> take_over(SSL* ssl, bool server_side);

  // read returns the next application data, as SSL_read would: at most one
  // record's plaintext per call.
  Result read(ObjectAccess::State& s, std::span<std::byte> buffer);
  // write seals |data| into outgoing, in records of at most 16 KiB.
  Result write(ObjectAccess::State& s, std::span<const std::byte> data);
  // shutdown is SSL_shutdown: sends close_notify once, then done when the
  // peer's has been read.
  Result shutdown(ObjectAccess::State& s);
  // key_update sends a KeyUpdate and moves the sending keys on.
  Result key_update(ObjectAccess::State& s, bool request_peer_update);

  std::size_t pending() const noexcept { return plain_size_; }
  // shutdown_flags is SSL_get_shutdown's answer for this layer.
  int shutdown_flags() const noexcept {
    return (sent_close_notify_ ? SSL_SENT_SHUTDOWN : 0) |
           (received_close_notify_ ? SSL_RECEIVED_SHUTDOWN : 0);
  }

 private:
  // One direction's keys, as RFC 8446 section 7.3 derives them.
  struct Direction {
    bssl::ScopedEVP_AEAD_CTX aead;
    std::array<std::uint8_t, 12> iv{};
    std::uint64_t sequence = 0;
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> secret{};
    std::size_t secret_size = 0;
    bool ready = false;  // aead and iv derived from secret
    // set starts a new traffic secret (at most EVP_MAX_MD_SIZE bytes).
    void set(std::span<const std::uint8_t> traffic_secret) noexcept;
    bool derive(const EVP_AEAD* cipher, const EVP_MD* md);
    bool update(const EVP_MD* md);  // KeyUpdate: the next traffic secret
    void nonce(std::uint8_t out[12]) const noexcept;
  };

  Records13(SSL* ssl, bool server_side, const EVP_AEAD* cipher, const EVP_MD* md)
      : ssl_(ssl), server_side_(server_side), cipher_(cipher), md_(md) {}

  // Outcome of processing one record: data for the caller, or go on.
  enum class Step : std::uint8_t { data, again, closed, want_read, failed };
  Step next_record(ObjectAccess::State& s, std::span<std::byte> buffer, std::size_t& got, Result& failure);
  // opened goes on with a record that decrypted to |out| (|size| bytes,
  // inner type and padding included).
  Step opened(ObjectAccess::State& s, std::uint8_t outer, std::uint8_t* out, std::size_t size,
              std::span<std::byte> buffer, bool direct, std::size_t& got, Result& failure);
  Step process_alert(ObjectAccess::State& s, const std::uint8_t* body, std::size_t size, Result& failure);
  Step process_handshake(ObjectAccess::State& s, const std::uint8_t* body, std::size_t size, Result& failure);
  Step process_message(ObjectAccess::State& s, std::uint8_t type, std::span<const std::uint8_t> message,
                       Result& failure);

  // seal_at writes one record of inner type |type| carrying |size| bytes
  // from |in| at |out|, which has room for its header, the bytes, the type
  // and the tag.
  bool seal_at(std::uint8_t* out, std::uint8_t type, const std::uint8_t* in, std::size_t size);
  // seal appends one record of inner type |type| to outgoing.
  bool seal(ObjectAccess::State& s, std::uint8_t type, std::span<const std::uint8_t> content);
  // fail ends the connection with |error| (sticky: the Object's fatal
  // error, which every later call returns first), sending a fatal |alert|
  // first unless it is 0 or the write side is closed.
  Result fail(ObjectAccess::State& s, Error error, std::uint8_t alert);
  Result fail(ObjectAccess::State& s, int reason, std::uint8_t alert);
  Result take_plain(std::span<std::byte> buffer) noexcept;
  void drop_plain() noexcept;

  SSL* ssl_;
  bool server_side_;
  const EVP_AEAD* cipher_;
  const EVP_MD* md_;
  Direction read_;
  Direction write_;
  // A record's plaintext that did not fit the caller's buffer, allocated
  // only then and released once taken.
  std::unique_ptr<std::uint8_t[]> plain_;
  std::size_t plain_begin_ = 0;
  std::size_t plain_size_ = 0;
  // A post-handshake message split across records.
  std::string handshake_;
  std::uint8_t empty_records_ = 0;   // consecutive, at most 32
  std::uint8_t warning_alerts_ = 0;  // consecutive user_canceled, at most 4
  std::uint8_t key_updates_ = 0;     // consecutive KeyUpdates, at most 32
  bool sent_close_notify_ = false;
  bool received_close_notify_ = false;
};

}  // namespace sanstls

#endif  // SANSTLS_LIB_CORE_RECORDS13_HPP
