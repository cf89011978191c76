// sanstls's TLS 1.3 record layer for established connections; why, and
// what it owns, in records13.hpp.
#include "records13.hpp"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/nid.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "internal.hpp"
#include "object_state.hpp"

namespace sanstls {

namespace {

// BoringSSL's limits (ssl/tls_record.cc, ssl/tls13_both.cc,
// ssl/handshake.cc), so a peer meets the same connection either way.
constexpr std::uint8_t kMaxEmptyRecords = 32;
constexpr std::uint8_t kMaxWarningAlerts = 4;
constexpr std::uint8_t kMaxKeyUpdates = 32;
constexpr std::size_t kMaxClientMessage = 16384;  // a NewSessionTicket
constexpr std::size_t kMaxServerMessage = 1;      // a KeyUpdate
constexpr std::size_t kHeader = SSL3_RT_HEADER_LENGTH;
// BoringSSL built for fuzzing (BORINGSSL_UNSAFE_FUZZER_MODE) seals
// nothing: a record is its plaintext and inner type, with no tag, so that
// a fuzzer can forge records. This layer does the same there.
#if defined(BORINGSSL_UNSAFE_FUZZER_MODE)
constexpr bool kFuzzerMode = true;
#else
constexpr bool kFuzzerMode = false;
#endif
constexpr std::size_t kTag = kFuzzerMode ? 0 : 16;  // all three TLS 1.3 AEADs

// seal_record encrypts |in| and the inner content |type| into |out|
// (header already written at out - kHeader) as EVP_AEAD_CTX_seal_scatter.
bool seal_record(const EVP_AEAD_CTX* aead, const std::uint8_t nonce[12], std::uint8_t* out,
                 const std::uint8_t* in, std::size_t size, std::uint8_t type) {
  const std::uint8_t* header = out - kHeader;
  if (kFuzzerMode) {
    std::memmove(out, in, size);
    out[size] = type;
    return true;
  }
  std::size_t tag_size = 0;
  return EVP_AEAD_CTX_seal_scatter(aead, out, out + size, &tag_size, 1 + kTag, nonce, 12, in, size, &type, 1,
                                   header, kHeader) == 1 &&
         tag_size == 1 + kTag;
}

// open_record decrypts a record's body into |out|, which may be the body
// itself, as EVP_AEAD_CTX_open.
bool open_record(const EVP_AEAD_CTX* aead, const std::uint8_t nonce[12], std::uint8_t* out, std::size_t* out_size,
                 std::size_t max_out, const std::uint8_t* record, std::size_t length) {
  if (kFuzzerMode) {
    if (length > max_out) return false;
    std::memmove(out, record + kHeader, length);
    *out_size = length;
    return true;
  }
  return EVP_AEAD_CTX_open(aead, out, out_size, max_out, nonce, 12, record + kHeader, length, record, kHeader) == 1;
}

// The hashes a TLS 1.3 suite names, for HMAC on the hash's own context,
// which copies as a plain struct: EVP's HMAC_CTX_copy_ex allocates three
// times per copy.
struct Sha256 {
  using Ctx = SHA256_CTX;
  static constexpr std::size_t block = SHA256_CBLOCK;
  static constexpr std::size_t size = SHA256_DIGEST_LENGTH;
  static void init(Ctx* c) { SHA256_Init(c); }
  static void update(Ctx* c, const void* data, std::size_t n) { SHA256_Update(c, data, n); }
  static void final(std::uint8_t* out, Ctx* c) { SHA256_Final(out, c); }
};
struct Sha384 {
  using Ctx = SHA512_CTX;
  static constexpr std::size_t block = SHA512_CBLOCK;
  static constexpr std::size_t size = SHA384_DIGEST_LENGTH;
  static void init(Ctx* c) { SHA384_Init(c); }
  static void update(Ctx* c, const void* data, std::size_t n) { SHA384_Update(c, data, n); }
  static void final(std::uint8_t* out, Ctx* c) { SHA384_Final(out, c); }
};

// Label is one output of expand_labels: its label and where it goes.
struct Label {
  std::string_view name;
  std::uint8_t* out;
  std::size_t size;
};

// expand_labels is HKDF-Expand-Label with an empty context (RFC 8446
// section 7.1) for outputs of at most one hash length, which is all a
// record layer derives, so each is T(1) = HMAC(secret, HkdfLabel || 1).
// HMAC is keyed once (RFC 2104) for all of them.
template <class H>
bool expand_labels(std::span<const std::uint8_t> secret, std::span<const Label> labels) {
  if (secret.size() > H::block) return false;
  typename H::Ctx inner, outer;
  std::array<std::uint8_t, H::block> pad;
  pad.fill(0x36);
  for (std::size_t i = 0; i < secret.size(); ++i) pad[i] ^= secret[i];
  H::init(&inner);
  H::update(&inner, pad.data(), pad.size());
  pad.fill(0x5c);
  for (std::size_t i = 0; i < secret.size(); ++i) pad[i] ^= secret[i];
  H::init(&outer);
  H::update(&outer, pad.data(), pad.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  bool ok = true;
  for (const Label& label : labels) {
    const std::size_t label_size = 6 + label.name.size();
    std::array<std::uint8_t, 2 + 1 + 6 + 16 + 1 + 1> info{};
    if (label.name.size() > 16 || label.size > H::size) {
      ok = false;
      break;
    }
    info[0] = static_cast<std::uint8_t>(label.size >> 8);
    info[1] = static_cast<std::uint8_t>(label.size);
    info[2] = static_cast<std::uint8_t>(label_size);
    std::memcpy(&info[3], "tls13 ", 6);
    std::memcpy(&info[9], label.name.data(), label.name.size());
    info[3 + label_size] = 0;  // the context's length
    info[4 + label_size] = 1;  // HKDF's counter
    std::array<std::uint8_t, H::size> digest;
    typename H::Ctx c = inner;
    H::update(&c, info.data(), 5 + label_size);
    H::final(digest.data(), &c);
    c = outer;
    H::update(&c, digest.data(), digest.size());
    H::final(digest.data(), &c);
    std::memcpy(label.out, digest.data(), label.size);
    OPENSSL_cleanse(digest.data(), digest.size());
    OPENSSL_cleanse(&c, sizeof(c));
  }
  OPENSSL_cleanse(&inner, sizeof(inner));
  OPENSSL_cleanse(&outer, sizeof(outer));
  return ok;
}

bool expand_labels(const EVP_MD* md, std::span<const std::uint8_t> secret, std::span<const Label> labels) {
  switch (EVP_MD_type(md)) {
    case NID_sha256: return expand_labels<Sha256>(secret, labels);
    case NID_sha384: return expand_labels<Sha384>(secret, labels);
    default: return false;
  }
}

void write_u64(std::uint8_t out[8], std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

void Records13::Direction::set(std::span<const std::uint8_t> traffic_secret) noexcept {
  std::memcpy(secret.data(), traffic_secret.data(), traffic_secret.size());
  secret_size = traffic_secret.size();
  ready = false;
  sequence = 0;
}

bool Records13::Direction::derive(const EVP_AEAD* cipher, const EVP_MD* md) {
  std::array<std::uint8_t, EVP_AEAD_MAX_KEY_LENGTH> key{};
  const std::size_t key_size = EVP_AEAD_key_length(cipher);
  const Label labels[] = {{"key", key.data(), key_size}, {"iv", iv.data(), iv.size()}};
  aead.Reset();
  ready = key_size <= key.size() && EVP_AEAD_nonce_length(cipher) == iv.size() &&
          expand_labels(md, std::span(secret.data(), secret_size), labels) &&
          EVP_AEAD_CTX_init(aead.get(), cipher, key.data(), key_size, EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  return ready;
}

bool Records13::Direction::update(const EVP_MD* md) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> next{};
  const Label labels[] = {{"traffic upd", next.data(), secret_size}};
  if (!expand_labels(md, std::span(secret.data(), secret_size), labels)) return false;
  set(std::span(next.data(), secret_size));
  OPENSSL_cleanse(next.data(), next.size());
  return true;
}

void Records13::Direction::nonce(std::uint8_t out[12]) const noexcept {
  std::uint8_t seq[8];
  write_u64(seq, sequence);
  std::memcpy(out, iv.data(), 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = iv[4 + i] ^ seq[i];
}

std::unique_ptr<Records13> Records13::take_over(SSL* ssl, bool server_side) {
  const SSL_CIPHER* suite = SSL_get_current_cipher(ssl);
  if (suite == nullptr || SSL_version(ssl) != TLS1_3_VERSION) return nullptr;
  const EVP_AEAD* cipher = nullptr;
  switch (SSL_CIPHER_get_cipher_nid(suite)) {
    case NID_aes_128_gcm: cipher = EVP_aead_aes_128_gcm(); break;
    case NID_aes_256_gcm: cipher = EVP_aead_aes_256_gcm(); break;
    case NID_chacha20_poly1305: cipher = EVP_aead_chacha20_poly1305(); break;
    default: return nullptr;
  }
  const EVP_MD* md = nullptr;
  switch (SSL_CIPHER_get_prf_nid(suite)) {
    case NID_sha256: md = EVP_sha256(); break;
    case NID_sha384: md = EVP_sha384(); break;
    default: return nullptr;
  }
  bssl::Span<const std::uint8_t> read_secret, write_secret;
  if (!bssl::SSL_get_traffic_secrets(ssl, &read_secret, &write_secret)) {
    ERR_clear_error();
    return nullptr;
  }
  // A secret is one hash long, which EVP_MAX_MD_SIZE bounds.
  if (read_secret.size() != EVP_MD_size(md) || write_secret.size() != EVP_MD_size(md)) {
    return nullptr;
  }
  std::unique_ptr<Records13> r(new Records13(ssl, server_side, cipher, md));
  // The keys themselves are derived when a direction is first used: a
  // connection that only reads never pays for its write keys.
  r->read_.set(std::span(read_secret.data(), read_secret.size()));
  r->write_.set(std::span(write_secret.data(), write_secret.size()));
  r->read_.sequence = SSL_get_read_sequence(ssl);
  r->write_.sequence = SSL_get_write_sequence(ssl);
  // From here BoringSSL's sequence numbers and keys go stale: its record
  // layer must never write again (an alert it would send from inside
  // SSL_process_tls13_new_session_ticket, a caller's SSL_write on the
  // native handle) nor read. With both shutdown bits set it does neither.
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  return r;
}

Result Records13::take_plain(std::span<std::byte> buffer) noexcept {
  const std::size_t n = std::min(buffer.size(), plain_size_);
  std::memcpy(buffer.data(), plain_.get() + plain_begin_, n);
  plain_begin_ += n;
  plain_size_ -= n;
  if (plain_size_ == 0) drop_plain();
  return Result{Status::done, n, nullptr};
}

void Records13::drop_plain() noexcept {
  plain_.reset();
  plain_begin_ = 0;
  plain_size_ = 0;
}

Result Records13::fail(ObjectAccess::State& s, Error error, std::uint8_t alert) {
  if (alert != 0 && !sent_close_notify_ && !s.fatal) {
    const std::uint8_t body[2] = {SSL3_AL_FATAL, alert};
    // An alert that cannot be sealed is not sent; the error stands.
    (void)seal(s, SSL3_RT_ALERT, body);
  }
  drop_plain();
  return s.fail(std::move(error), true);
}

Result Records13::fail(ObjectAccess::State& s, int reason, std::uint8_t alert) {
  return fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, reason)), alert);
}

bool Records13::seal_at(std::uint8_t* out, std::uint8_t type, const std::uint8_t* in, std::size_t size) {
  const std::size_t body = size + 1 + kTag;
  out[0] = SSL3_RT_APPLICATION_DATA;
  out[1] = TLS1_2_VERSION >> 8;
  out[2] = TLS1_2_VERSION & 0xff;
  out[3] = static_cast<std::uint8_t>(body >> 8);
  out[4] = static_cast<std::uint8_t>(body);
  std::uint8_t nonce[12];
  write_.nonce(nonce);
  if (!seal_record(write_.aead.get(), nonce, out + kHeader, in, size, type)) return false;
  ++write_.sequence;
  return true;
}

bool Records13::seal(ObjectAccess::State& s, std::uint8_t type, std::span<const std::uint8_t> content) {
  if (write_.sequence == std::numeric_limits<std::uint64_t>::max() || s.outgoing.eof_written()) return false;
  if (!write_.ready && !write_.derive(cipher_, md_)) {
    ERR_clear_error();
    return false;
  }
  const std::size_t size = kHeader + content.size() + 1 + kTag;
  auto* out = reinterpret_cast<std::uint8_t*>(s.outgoing.prepare(size).data());
  if (!seal_at(out, type, content.data(), content.size())) {
    ERR_clear_error();
    s.outgoing.commit(0);
    return false;
  }
  s.outgoing.commit(size);
  return true;
}

Result Records13::write(ObjectAccess::State& s, std::span<const std::byte> data) {
  if (sent_close_notify_) {
    return s.fail(plain_error(ErrorKind::zero_return,
                              "TLS/SSL connection has been closed (EOF): write after unwrap()"),
                  false);
  }
  if (s.outgoing.eof_written()) {
    return s.fail(plain_error(ErrorKind::syscall, "Some I/O error occurred"), true);
  }
  if (!write_.ready && !write_.derive(cipher_, md_)) {
    return fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)), SSL_AD_INTERNAL_ERROR);
  }
  const auto* in = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t left = data.size();
  // One reservation for all of it: the records are sealed in place, back
  // to back.
  const std::size_t records = (left + SSL3_RT_MAX_PLAIN_LENGTH - 1) / SSL3_RT_MAX_PLAIN_LENGTH;
  if (records > std::numeric_limits<std::uint64_t>::max() - write_.sequence) {
    return fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_OVERFLOW)), SSL_AD_INTERNAL_ERROR);
  }
  const std::size_t total = left + records * (kHeader + 1 + kTag);
  auto* out = reinterpret_cast<std::uint8_t*>(s.outgoing.prepare(total).data());
  std::size_t written = 0;
  while (left != 0) {
    const std::size_t n = std::min<std::size_t>(left, SSL3_RT_MAX_PLAIN_LENGTH);
    if (!seal_at(out, SSL3_RT_APPLICATION_DATA, in, n)) {
      s.outgoing.commit(written);
      const std::uint32_t code = take_error_code();
      return fail(s, error_from_code(code != 0 ? code : ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)),
                  SSL_AD_INTERNAL_ERROR);
    }
    const std::size_t record = kHeader + n + 1 + kTag;
    out += record;
    written += record;
    in += n;
    left -= n;
  }
  s.outgoing.commit(written);
  return Result{Status::done, data.size(), nullptr};
}

Result Records13::read(ObjectAccess::State& s, std::span<std::byte> buffer) {
  if (plain_size_ != 0) return take_plain(buffer);
  for (;;) {
    std::size_t got = 0;
    Result failure;
    switch (next_record(s, buffer, got, failure)) {
      case Step::data:
        if (got != 0) return Result{Status::done, got, nullptr};
        return take_plain(buffer);
      case Step::again: continue;
      case Step::closed: return Result{Status::closed, 0, nullptr};
      case Step::want_read: return Result{Status::want_read, 0, nullptr};
      case Step::failed: return failure;
    }
  }
}

Result Records13::shutdown(ObjectAccess::State& s) {
  if (!sent_close_notify_) {
    static constexpr std::uint8_t kCloseNotify[2] = {SSL3_AL_WARNING, SSL_AD_CLOSE_NOTIFY};
    if (!seal(s, SSL3_RT_ALERT, kCloseNotify)) {
      return fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_OVERFLOW)), 0);
    }
    sent_close_notify_ = true;
  }
  if (received_close_notify_) return Result{Status::done, 0, nullptr};
  // As SSL_shutdown: read on until the peer's close_notify; application
  // data on the way stays readable and makes this call fail, not sticky.
  for (;;) {
    Step step = Step::again;
    std::size_t got = 0;
    Result failure;
    if (plain_size_ == 0) step = next_record(s, {}, got, failure);
    if (plain_size_ != 0 || step == Step::data) {
      return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_APPLICATION_DATA_ON_SHUTDOWN)), false);
    }
    switch (step) {
      case Step::again: continue;
      case Step::closed: return Result{Status::done, 0, nullptr};
      case Step::want_read: return Result{Status::want_read, 0, nullptr};
      case Step::failed: return failure;
      case Step::data: break;
    }
  }
}

Result Records13::key_update(ObjectAccess::State& s, bool request_peer_update) {
  if (sent_close_notify_) {
    return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_PROTOCOL_IS_SHUTDOWN)), false);
  }
  const std::uint8_t update[5] = {SSL3_MT_KEY_UPDATE, 0, 0, 1,
                                  request_peer_update ? std::uint8_t{SSL_KEY_UPDATE_REQUESTED}
                                                      : std::uint8_t{SSL_KEY_UPDATE_NOT_REQUESTED}};
  if (!seal(s, SSL3_RT_HANDSHAKE, update) || !write_.update(md_)) {
    return fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)), SSL_AD_INTERNAL_ERROR);
  }
  return Result{Status::done, 0, nullptr};
}

Records13::Step Records13::next_record(ObjectAccess::State& s, std::span<std::byte> buffer, std::size_t& got,
                                       Result& failure) {
  if (received_close_notify_) return Step::closed;
  const std::span<const std::byte> input = s.incoming.readable();
  const auto* in = reinterpret_cast<const std::uint8_t*>(input.data());
  std::size_t length = 0;
  if (input.size() >= kHeader) {
    if ((in[1] << 8 | in[2]) != TLS1_2_VERSION) {
      failure = fail(s, SSL_R_WRONG_VERSION_NUMBER, SSL_AD_PROTOCOL_VERSION);
      return Step::failed;
    }
    length = static_cast<std::size_t>(in[3] << 8 | in[4]);
    if (length > SSL3_RT_MAX_ENCRYPTED_LENGTH) {
      failure = fail(s, SSL_R_ENCRYPTED_LENGTH_TOO_LONG, SSL_AD_RECORD_OVERFLOW);
      return Step::failed;
    }
  }
  if (input.size() < kHeader || input.size() - kHeader < length) {
    if (!s.incoming.eof_written()) return Step::want_read;
    failure = s.fail(plain_error(ErrorKind::eof, "EOF occurred in violation of protocol"), true);
    return Step::failed;
  }

  if (!read_.ready && !read_.derive(cipher_, md_)) {
    failure = fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)), SSL_AD_INTERNAL_ERROR);
    return Step::failed;
  }
  // Decrypt straight into the caller's buffer when the record fits it,
  // in place otherwise: the record's bytes are incoming's own heap buffer,
  // which readable() only shows as const. (A 16 KiB record does not fit a
  // 16 KiB buffer: its inner type takes one byte more.)
  const std::size_t most = length >= kTag ? length - kTag : 0;
  const bool direct = !buffer.empty() && buffer.size() >= most;
  std::uint8_t* out = direct ? reinterpret_cast<std::uint8_t*>(buffer.data()) : const_cast<std::uint8_t*>(in) + kHeader;
  std::uint8_t nonce[12];
  read_.nonce(nonce);
  std::size_t size = 0;
  Step step = Step::failed;
  if (length < kTag || !open_record(read_.aead.get(), nonce, out, &size, most, in, length)) {
    ERR_clear_error();
    failure = fail(s, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, SSL_AD_BAD_RECORD_MAC);
  } else {
    step = opened(s, in[0], out, size, buffer, direct, got, failure);
  }
  // Only now: an in-place plaintext lives in incoming's buffer, which
  // consuming the last record releases.
  s.incoming.consume(kHeader + length);
  return step;
}

Records13::Step Records13::opened(ObjectAccess::State& s, std::uint8_t outer, std::uint8_t* out, std::size_t size,
                                  std::span<std::byte> buffer, bool direct, std::size_t& got, Result& failure) {
  if (++read_.sequence == 0) {
    failure = fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_OVERFLOW)), SSL_AD_INTERNAL_ERROR);
    return Step::failed;
  }
  if (size > SSL3_RT_MAX_PLAIN_LENGTH + 1) {
    failure = fail(s, SSL_R_DATA_LENGTH_TOO_LONG, SSL_AD_RECORD_OVERFLOW);
    return Step::failed;
  }
  if (outer != SSL3_RT_APPLICATION_DATA) {
    failure = fail(s, SSL_R_INVALID_OUTER_RECORD_TYPE, SSL_AD_DECODE_ERROR);
    return Step::failed;
  }
  std::uint8_t type = 0;
  do {
    if (size == 0) {
      failure = fail(s, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, SSL_AD_DECRYPT_ERROR);
      return Step::failed;
    }
    type = out[--size];
  } while (type == 0);

  if (size == 0) {
    if (++empty_records_ > kMaxEmptyRecords) {
      failure = fail(s, SSL_R_TOO_MANY_EMPTY_FRAGMENTS, SSL_AD_UNEXPECTED_MESSAGE);
      return Step::failed;
    }
  } else {
    empty_records_ = 0;
  }
  if (type == SSL3_RT_ALERT) return process_alert(s, out, size, failure);
  // Handshake messages may not interleave with any other record type.
  if (type != SSL3_RT_HANDSHAKE && !handshake_.empty()) {
    failure = fail(s, SSL_R_UNEXPECTED_RECORD, SSL_AD_UNEXPECTED_MESSAGE);
    return Step::failed;
  }
  warning_alerts_ = 0;
  if (type == SSL3_RT_HANDSHAKE) return process_handshake(s, out, size, failure);
  if (type != SSL3_RT_APPLICATION_DATA) {
    failure = fail(s, SSL_R_UNEXPECTED_RECORD, SSL_AD_UNEXPECTED_MESSAGE);
    return Step::failed;
  }
  if (size == 0) return Step::again;
  key_updates_ = 0;
  if (direct) {
    got = size;
  } else if (!buffer.empty() && size <= buffer.size()) {
    std::memcpy(buffer.data(), out, size);
    got = size;
  } else {
    // A caller reading less than a record at a time: the rest waits here.
    plain_.reset(new std::uint8_t[size]);
    std::memcpy(plain_.get(), out, size);
    plain_begin_ = 0;
    plain_size_ = size;
  }
  return Step::data;
}

Records13::Step Records13::process_alert(ObjectAccess::State& s, const std::uint8_t* body, std::size_t size,
                                         Result& failure) {
  if (size != 2) {
    failure = fail(s, SSL_R_BAD_ALERT, SSL_AD_DECODE_ERROR);
    return Step::failed;
  }
  const std::uint8_t level = body[0];
  const std::uint8_t description = body[1];
  if (level == SSL3_AL_WARNING) {
    if (description == SSL_AD_CLOSE_NOTIFY) {
      received_close_notify_ = true;
      return Step::closed;
    }
    // TLS 1.3 has no warning alerts, but user_canceled is skipped, as
    // BoringSSL, NSS and OpenSSL do (JDK 11 sends it before closing).
    if (description != SSL_AD_USER_CANCELLED) {
      failure = fail(s, SSL_R_BAD_ALERT, SSL_AD_DECODE_ERROR);
      return Step::failed;
    }
    if (++warning_alerts_ > kMaxWarningAlerts) {
      failure = fail(s, SSL_R_TOO_MANY_WARNING_ALERTS, SSL_AD_UNEXPECTED_MESSAGE);
      return Step::failed;
    }
    return Step::again;
  }
  if (level == SSL3_AL_FATAL) {
    failure = fail(s, SSL_AD_REASON_OFFSET + description, 0);
    return Step::failed;
  }
  failure = fail(s, SSL_R_UNKNOWN_ALERT_TYPE, SSL_AD_ILLEGAL_PARAMETER);
  return Step::failed;
}

Records13::Step Records13::process_handshake(ObjectAccess::State& s, const std::uint8_t* body, std::size_t size,
                                             Result& failure) {
  // Most messages arrive whole in one record; only a split one is copied.
  std::span<const std::uint8_t> rest(body, size);
  if (!handshake_.empty()) {
    handshake_.append(reinterpret_cast<const char*>(body), size);
    rest = std::span(reinterpret_cast<const std::uint8_t*>(handshake_.data()), handshake_.size());
  }
  std::size_t used = 0;
  while (rest.size() - used >= 4) {
    const std::uint8_t* m = rest.data() + used;
    const std::size_t length = static_cast<std::size_t>(m[1]) << 16 | m[2] << 8 | m[3];
    if (rest.size() - used - 4 < length) break;
    Step step = process_message(s, m[0], std::span(m, 4 + length), failure);
    if (step == Step::failed) return step;
    used += 4 + length;
  }
  if (handshake_.empty()) {
    handshake_.assign(reinterpret_cast<const char*>(rest.data() + used), rest.size() - used);
  } else {
    handshake_.erase(0, used);
  }
  if (handshake_.size() >= 4) {
    const auto* m = reinterpret_cast<const std::uint8_t*>(handshake_.data());
    const std::size_t length = static_cast<std::size_t>(m[1]) << 16 | m[2] << 8 | m[3];
    // The peer may not make us buffer a 16 MB message.
    if (length > (server_side_ ? kMaxServerMessage : kMaxClientMessage)) {
      failure = fail(s, SSL_R_EXCESSIVE_MESSAGE_SIZE, SSL_AD_ILLEGAL_PARAMETER);
      return Step::failed;
    }
  }
  if (handshake_.empty()) handshake_.shrink_to_fit();
  return Step::again;
}

Records13::Step Records13::process_message(ObjectAccess::State& s, std::uint8_t type,
                                           std::span<const std::uint8_t> message, Result& failure) {
  const std::span<const std::uint8_t> body = message.subspan(4);
  if (type == SSL3_MT_KEY_UPDATE) {
    if (++key_updates_ > kMaxKeyUpdates) {
      failure = fail(s, SSL_R_TOO_MANY_KEY_UPDATES, SSL_AD_UNEXPECTED_MESSAGE);
      return Step::failed;
    }
    if (body.size() != 1 || (body[0] != SSL_KEY_UPDATE_NOT_REQUESTED && body[0] != SSL_KEY_UPDATE_REQUESTED)) {
      failure = fail(s, SSL_R_DECODE_ERROR, SSL_AD_DECODE_ERROR);
      return Step::failed;
    }
    if (!read_.update(md_)) {
      failure = fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)), SSL_AD_INTERNAL_ERROR);
      return Step::failed;
    }
    // Answered at once, under the old key, and our key moves on too.
    if (body[0] == SSL_KEY_UPDATE_REQUESTED && !sent_close_notify_) {
      static constexpr std::uint8_t kUpdate[5] = {SSL3_MT_KEY_UPDATE, 0, 0, 1, SSL_KEY_UPDATE_NOT_REQUESTED};
      if (!seal(s, SSL3_RT_HANDSHAKE, kUpdate) || !write_.update(md_)) {
        failure = fail(s, error_from_code(ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)), SSL_AD_INTERNAL_ERROR);
        return Step::failed;
      }
    }
    return Step::again;
  }
  key_updates_ = 0;
  if (type != SSL3_MT_NEW_SESSION_TICKET || server_side_) {
    failure = fail(s, SSL_R_UNEXPECTED_MESSAGE, SSL_AD_UNEXPECTED_MESSAGE);
    return Step::failed;
  }
  // BoringSSL ignores tickets once it has closed its side.
  if (sent_close_notify_) return Step::again;
  // The message's shape is checked here, so that BoringSSL only ever
  // fails on what it alone knows (the extensions) and the alert is ours.
  CBS cbs, nonce, ticket, extensions;
  std::uint32_t lifetime = 0, age_add = 0;
  CBS_init(&cbs, body.data(), body.size());
  if (!CBS_get_u32(&cbs, &lifetime) || !CBS_get_u32(&cbs, &age_add) || !CBS_get_u8_length_prefixed(&cbs, &nonce) ||
      !CBS_get_u16_length_prefixed(&cbs, &ticket) || !CBS_get_u16_length_prefixed(&cbs, &extensions) ||
      CBS_len(&cbs) != 0) {
    failure = fail(s, SSL_R_DECODE_ERROR, SSL_AD_DECODE_ERROR);
    return Step::failed;
  }
  bssl::UniquePtr<SSL_SESSION> session(SSL_process_tls13_new_session_ticket(ssl_, message.data(), message.size()));
  if (!session) {
    const std::uint32_t code = take_error_code();
    const bool malformed = ERR_GET_LIB(code) == ERR_LIB_SSL && (ERR_GET_REASON(code) == SSL_R_DECODE_ERROR ||
                                                                 ERR_GET_REASON(code) == SSL_R_DUPLICATE_EXTENSION);
    failure = fail(s, error_from_code(code != 0 ? code : ERR_PACK(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR)),
                   malformed ? SSL_AD_DECODE_ERROR : SSL_AD_INTERNAL_ERROR);
    return Step::failed;
  }
  // What BoringSSL's new-session callback would have been given.
  if ((SSL_CTX_get_session_cache_mode(SSL_get_SSL_CTX(ssl_)) & SSL_SESS_CACHE_CLIENT) != 0) {
    s.latest_session = std::move(session);
  }
  return Step::again;
}

}  // namespace sanstls
