#include "records.hpp"

#include <openssl/hkdf.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>

#include <stdexcept>

#include <sanstls/boringssl.hpp>

namespace hostile {

namespace {

const std::uint8_t* bytes_of(std::string_view text) {
  return reinterpret_cast<const std::uint8_t*>(text.data());
}

void put_u16(std::string& out, std::size_t value) {
  out += static_cast<char>((value >> 8) & 0xff);
  out += static_cast<char>(value & 0xff);
}

void put_u64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

// xor_sequence returns |iv| with the sequence number XORed into its last
// eight bytes (RFC 8446 section 5.3; RFC 7905 for TLS 1.2's ChaCha20).
std::string xor_sequence(std::string iv, std::uint64_t sequence) {
  for (std::size_t i = 0; i < 8; ++i) {
    iv[iv.size() - 1 - i] = static_cast<char>(static_cast<std::uint8_t>(iv[iv.size() - 1 - i]) ^
                                              ((sequence >> (8 * i)) & 0xff));
  }
  return iv;
}

// expand_label is TLS 1.3's HKDF-Expand-Label with an empty context (RFC
// 8446 section 7.1).
std::string expand_label(const EVP_MD* digest, std::string_view secret, std::string_view label,
                         std::size_t length) {
  std::string full_label = "tls13 ";
  full_label += label;
  std::string info;
  put_u16(info, length);
  info += static_cast<char>(full_label.size());
  info += full_label;
  info += '\0';  // the context: empty
  std::string out(length, '\0');
  if (!HKDF_expand(reinterpret_cast<std::uint8_t*>(out.data()), out.size(), digest, bytes_of(secret),
                   secret.size(), bytes_of(info), info.size())) {
    throw std::runtime_error("HKDF_expand failed");
  }
  return out;
}

}  // namespace

std::string header(std::uint8_t type, std::uint16_t length, std::uint16_t version) {
  std::string out;
  out += static_cast<char>(type);
  put_u16(out, version);
  put_u16(out, length);
  return out;
}

std::string record(std::uint8_t type, std::string_view body, std::uint16_t version) {
  std::string out = header(type, static_cast<std::uint16_t>(body.size()), version);
  out += body;
  return out;
}

std::string handshake_message(std::uint8_t type, std::string_view body) {
  std::string out;
  out += static_cast<char>(type);
  out += static_cast<char>((body.size() >> 16) & 0xff);
  put_u16(out, body.size() & 0xffff);
  out += body;
  return out;
}

std::string alert_body(std::uint8_t level, std::uint8_t description) {
  std::string out;
  out += static_cast<char>(level);
  out += static_cast<char>(description);
  return out;
}

std::string fragment(std::string_view flight, std::size_t size) {
  std::string out;
  while (!flight.empty()) {
    if (flight.size() < 5) throw std::invalid_argument("fragment: a record header is cut short");
    const auto type = static_cast<std::uint8_t>(flight[0]);
    const auto version = static_cast<std::uint16_t>(static_cast<std::uint8_t>(flight[1]) << 8 |
                                                    static_cast<std::uint8_t>(flight[2]));
    const std::size_t length = static_cast<std::uint8_t>(flight[3]) << 8 | static_cast<std::uint8_t>(flight[4]);
    if (flight.size() < 5 + length) throw std::invalid_argument("fragment: a record is cut short");
    std::string_view body = flight.substr(5, length);
    for (std::size_t at = 0; at < body.size(); at += size) out += record(type, body.substr(at, size), version);
    flight.remove_prefix(5 + length);
  }
  return out;
}

std::string repeat(std::string_view piece, std::size_t count) {
  std::string out;
  out.reserve(piece.size() * count);
  for (std::size_t i = 0; i < count; ++i) out += piece;
  return out;
}

RecordForger::RecordForger(const sanstls::Object& client) {
  const SSL* ssl = sanstls::native_handle(client);
  if (!client.is_handshake_complete() || SSL_is_server(ssl)) {
    throw std::runtime_error("RecordForger needs a client whose handshake is complete");
  }
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  switch (SSL_CIPHER_get_cipher_nid(cipher)) {
    case NID_aes_128_gcm: aead_ = EVP_aead_aes_128_gcm(); break;
    case NID_aes_256_gcm: aead_ = EVP_aead_aes_256_gcm(); break;
    case NID_chacha20_poly1305: aead_ = EVP_aead_chacha20_poly1305(); break;
    default:
      throw std::runtime_error(std::string("RecordForger cannot seal for ") + SSL_CIPHER_get_name(cipher));
  }
  aead_name_ = SSL_CIPHER_get_name(cipher);
  sequence_ = SSL_get_write_sequence(ssl);
  tls13_ = SSL_version(ssl) == TLS1_3_VERSION;
  if (tls13_) {
    digest_ = SSL_CIPHER_get_prf_nid(cipher) == NID_sha384 ? EVP_sha384() : EVP_sha256();
    bssl::Span<const std::uint8_t> read_secret, write_secret;
    if (!bssl::SSL_get_traffic_secrets(ssl, &read_secret, &write_secret)) {
      throw std::runtime_error("SSL_get_traffic_secrets failed");
    }
    secret_.assign(reinterpret_cast<const char*>(write_secret.data()), write_secret.size());
    derive_tls13_keys();
    return;
  }
  // The key block is client_write_key, server_write_key, client_write_IV,
  // server_write_IV: AEAD suites have no MAC keys.
  const std::size_t key_length = EVP_AEAD_key_length(aead_);
  std::string block(SSL_get_key_block_len(ssl), '\0');
  if (block.size() < 2 * key_length ||
      !SSL_generate_key_block(ssl, reinterpret_cast<std::uint8_t*>(block.data()), block.size())) {
    throw std::runtime_error("SSL_generate_key_block failed");
  }
  const std::size_t iv_length = (block.size() - 2 * key_length) / 2;
  set_keys(std::string_view(block).substr(0, key_length),
           std::string_view(block).substr(2 * key_length, iv_length));
}

void RecordForger::set_keys(std::string_view key, std::string_view iv) {
  ctx_.Reset();
  if (!EVP_AEAD_CTX_init(ctx_.get(), aead_, bytes_of(key), key.size(), EVP_AEAD_DEFAULT_TAG_LENGTH,
                         nullptr)) {
    throw std::runtime_error("EVP_AEAD_CTX_init failed");
  }
  iv_ = iv;
}

void RecordForger::derive_tls13_keys() {
  set_keys(expand_label(digest_, secret_, "key", EVP_AEAD_key_length(aead_)),
           expand_label(digest_, secret_, "iv", EVP_AEAD_nonce_length(aead_)));
}

std::string RecordForger::seal(std::uint8_t type, std::string_view content) {
  const std::size_t overhead = EVP_AEAD_max_overhead(aead_);
  std::string plaintext(content);
  std::string nonce;
  std::string additional;
  std::string record_header;
  std::string explicit_nonce;
  if (tls13_) {
    plaintext += static_cast<char>(type);
    record_header = header(application_data, static_cast<std::uint16_t>(plaintext.size() + overhead));
    nonce = xor_sequence(iv_, sequence_);
    additional = record_header;
  } else {
    if (iv_.size() == 4) {
      // AES-GCM: the salt, then the explicit part, which the record carries.
      put_u64(explicit_nonce, sequence_);
      nonce = iv_ + explicit_nonce;
    } else {
      nonce = xor_sequence(iv_, sequence_);
    }
    put_u64(additional, sequence_);
    additional += static_cast<char>(type);
    put_u16(additional, 0x0303);
    put_u16(additional, content.size());
    record_header =
        header(type, static_cast<std::uint16_t>(explicit_nonce.size() + plaintext.size() + overhead));
  }
  std::string sealed(plaintext.size() + overhead, '\0');
  std::size_t sealed_length = 0;
  if (!EVP_AEAD_CTX_seal(ctx_.get(), reinterpret_cast<std::uint8_t*>(sealed.data()), &sealed_length,
                         sealed.size(), bytes_of(nonce), nonce.size(), bytes_of(plaintext),
                         plaintext.size(), bytes_of(additional), additional.size())) {
    throw std::runtime_error("EVP_AEAD_CTX_seal failed");
  }
  sealed.resize(sealed_length);
  ++sequence_;
  return record_header + explicit_nonce + sealed;
}

std::string RecordForger::key_update() {
  if (!tls13_) throw std::logic_error("KeyUpdate is TLS 1.3's");
  std::string out = seal(handshake, handshake_message(key_update_type, std::string(1, '\0')));
  secret_ = expand_label(digest_, secret_, "traffic upd", EVP_MD_size(digest_));
  derive_tls13_keys();
  sequence_ = 0;
  return out;
}

std::string client_hello_flight(const sanstls::Context& context) {
  sanstls::MemoryBIO incoming, outgoing;
  sanstls::Object client = context.wrap_bio(incoming, outgoing, false, "localhost");
  sanstls::Result r = client.do_handshake();
  if (r.status != sanstls::Status::want_read) throw std::runtime_error("no ClientHello came out");
  return outgoing.read();
}

}  // namespace hostile
