// TLS records made by hand for the hostile-client tests: plaintext records
// and headers, and encrypted records forged under a client Object's own
// keys, so that a test can send what no well-behaved client would.
#ifndef SANSTLS_TEST_HOSTILE_RECORDS_HPP
#define SANSTLS_TEST_HOSTILE_RECORDS_HPP

#include <openssl/aead.h>
#include <openssl/digest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/object.hpp>

namespace hostile {

// Record content types (RFC 8446 section 5.1).
inline constexpr std::uint8_t change_cipher_spec = 20;
inline constexpr std::uint8_t alert = 21;
inline constexpr std::uint8_t handshake = 22;
inline constexpr std::uint8_t application_data = 23;

// Alert levels and the descriptions the tests send or expect.
inline constexpr std::uint8_t warning = 1;
inline constexpr std::uint8_t fatal = 2;
inline constexpr std::uint8_t user_canceled = 90;
inline constexpr std::uint8_t no_renegotiation = 100;

// Handshake message types.
inline constexpr std::uint8_t client_hello_type = 1;
inline constexpr std::uint8_t key_update_type = 24;

// header returns a record header of |type| and |version| announcing
// |length| bytes of body, whatever follows it.
std::string header(std::uint8_t type, std::uint16_t length, std::uint16_t version = 0x0303);

// record returns a plaintext record: a header and |body|.
std::string record(std::uint8_t type, std::string_view body, std::uint16_t version = 0x0303);

// handshake_message returns a handshake message: its type, a 3-byte
// length and |body|.
std::string handshake_message(std::uint8_t type, std::string_view body);

// alert_body returns the two bytes of an alert.
std::string alert_body(std::uint8_t level, std::uint8_t description);

// fragment splits each plaintext record of |flight| into records of at
// most |size| bytes of body, as TLS lets a sender fragment handshake
// messages (RFC 8446 section 5.1).
std::string fragment(std::string_view flight, std::size_t size);

// repeat returns |count| copies of |piece| back to back.
std::string repeat(std::string_view piece, std::size_t count);

// RecordForger seals records under the write keys of a client Object whose
// handshake is complete, continuing its sequence numbers, as if the Object
// had written them: the server cannot tell them apart. Once a test sends
// forged records the Object itself must not write again (its sequence
// numbers would repeat), but it can still read what the server sends.
// A TLS 1.3 client seals its own records once established
// (lib/core/records13.hpp), and BoringSSL then reports the keys and
// sequence numbers of that hand-over: such a client must not have written
// since its handshake. One whose Context has a message callback keeps
// BoringSSL's record layer and has no such limit.
//
// TLS 1.3 (RFC 8446 section 5.2): key and IV come from the client's
// application traffic secret by HKDF-Expand-Label, the nonce is the IV
// XOR the sequence number, the additional data the record header, and the
// plaintext is content || type. TLS 1.2 (RFC 5246 section 6.2.3.3, RFC
// 5288, RFC 7905): key and IV come from the key block; AES-GCM puts the
// sequence number in the record as the explicit nonce, ChaCha20-Poly1305
// XORs it into the IV; the additional data is seq || type || version ||
// length. The AEAD is whichever the connection negotiated: AES-128-GCM,
// AES-256-GCM or ChaCha20-Poly1305 (a TLS 1.3 client cannot choose among
// them with BoringSSL, and which one it gets depends on AES hardware).
class RecordForger {
 public:
  // RecordForger takes the keys of |client|. Throws std::runtime_error for
  // a connection that is not complete or uses another cipher.
  explicit RecordForger(const sanstls::Object& client);
  RecordForger(const RecordForger&) = delete;
  RecordForger& operator=(const RecordForger&) = delete;

  // seal returns one encrypted record carrying |content| as |type|.
  std::string seal(std::uint8_t type, std::string_view content);

  // key_update seals a TLS 1.3 KeyUpdate (update_not_requested, so the
  // server answers nothing) and moves on to the next traffic secret, as
  // its sender must: later records use the new keys.
  std::string key_update();

  // tls13 returns true for a TLS 1.3 connection.
  bool tls13() const noexcept { return tls13_; }
  // aead_name names the AEAD in use, for messages.
  const std::string& aead_name() const noexcept { return aead_name_; }

 private:
  void set_keys(std::string_view key, std::string_view iv);
  void derive_tls13_keys();

  bool tls13_ = false;
  const EVP_AEAD* aead_ = nullptr;
  const EVP_MD* digest_ = nullptr;  // TLS 1.3: the HKDF hash
  std::string aead_name_;
  std::string secret_;  // TLS 1.3: the current client application traffic secret
  std::string iv_;      // TLS 1.3 and ChaCha20: the whole nonce mask; AES-GCM in TLS 1.2: the 4-byte salt
  bssl::ScopedEVP_AEAD_CTX ctx_;
  std::uint64_t sequence_ = 0;
};

// client_hello_flight returns the first flight an Object of |context|
// would send to "localhost": one record holding its ClientHello.
std::string client_hello_flight(const sanstls::Context& context);

}  // namespace hostile

#endif  // SANSTLS_TEST_HOSTILE_RECORDS_HPP
