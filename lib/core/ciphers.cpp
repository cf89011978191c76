// Cipher suites as Python describes them: the protocol version that
// introduced each (Object::cipher, shared_ciphers), OpenSSL's descriptions
// (Context::get_ciphers), and which of a server's suites a ClientHello
// offered.
#include <sanstls/context.hpp>
#include <sanstls/object.hpp>

#include <openssl/aead.h>
#include <openssl/nid.h>
#include <openssl/obj.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

// The TLS 1.3 suites BoringSSL always enables, which SSL_CTX_get_ciphers
// leaves out, in the order a BoringSSL client offers them. A BoringSSL
// server follows the client's order in TLS 1.3, except that without AES
// hardware it picks ChaCha20-Poly1305 whenever offered.
std::array<uint16_t, 3> tls13_suites() {
  if (EVP_has_aes_hardware()) return {0x1301, 0x1302, 0x1303};
  return {0x1303, 0x1301, 0x1302};
}

// protocol_of returns Python's protocol for a suite: SSL_CIPHER_get_version
// of OpenSSL 1.1.1, the version that introduced it. BoringSSL reports every
// suite as "TLSv1/SSLv3" and files every pre-TLS 1.2 suite under SSLv3;
// OpenSSL files the ECDHE ones (RFC 4492 came with TLS 1.0) under TLSv1.0.
// Object::cipher() does the same.
std::string_view protocol_of(const SSL_CIPHER* c) {
  switch (SSL_CIPHER_get_min_version(c)) {
    case TLS1_3_VERSION: return "TLSv1.3";
    case TLS1_2_VERSION: return "TLSv1.2";
    case TLS1_1_VERSION: return "TLSv1.1";
    case TLS1_VERSION: return "TLSv1.0";
    default: return SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe ? "TLSv1.0" : "SSLv3";
  }
}

bool is_ecdhe_psk(const SSL_CIPHER* c) {
  return SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe && SSL_CIPHER_get_auth_nid(c) == NID_auth_psk;
}

std::optional<std::string> long_name(int nid) {
  if (nid == NID_undef) return std::nullopt;
  const char* name = OBJ_nid2ln(nid);
  if (name == nullptr) return std::nullopt;
  return std::string(name);
}

// description returns OpenSSL 1.1.1's SSL_CIPHER_description line (without
// its newline, as Python strips it): "%-23s %s Kx=%-8s Au=%-4s Enc=%-9s
// Mac=%-4s". BoringSSL's own SSL_CIPHER_description has no version column
// and other words ("Kx=GENERIC", "Enc=ChaCha20-Poly1305"), so the line is
// made here from the same facts, in OpenSSL's words.
std::string description(const SSL_CIPHER* c) {
  std::string_view version = protocol_of(c);
  if (version == "TLSv1.0") version = "TLSv1";  // ssl_protocol_to_string's spelling
  const char* kx = "unknown";
  switch (SSL_CIPHER_get_kx_nid(c)) {
    case NID_kx_rsa: kx = "RSA"; break;
    case NID_kx_ecdhe: kx = is_ecdhe_psk(c) ? "ECDHEPSK" : "ECDH"; break;
    case NID_kx_psk: kx = "PSK"; break;
    case NID_kx_any: kx = "any"; break;
    default: break;
  }
  const char* au = "unknown";
  switch (SSL_CIPHER_get_auth_nid(c)) {
    case NID_auth_rsa: au = "RSA"; break;
    case NID_auth_ecdsa: au = "ECDSA"; break;
    case NID_auth_psk: au = "PSK"; break;
    case NID_auth_any: au = "any"; break;
    default: break;
  }
  const char* enc = "unknown";
  switch (SSL_CIPHER_get_cipher_nid(c)) {
    case NID_aes_128_gcm: enc = "AESGCM(128)"; break;
    case NID_aes_256_gcm: enc = "AESGCM(256)"; break;
    case NID_chacha20_poly1305: enc = "CHACHA20/POLY1305(256)"; break;
    case NID_aes_128_cbc: enc = "AES(128)"; break;
    case NID_aes_256_cbc: enc = "AES(256)"; break;
    case NID_des_ede3_cbc: enc = "3DES(168)"; break;
    default: break;
  }
  const char* mac = "unknown";
  if (SSL_CIPHER_is_aead(c)) {
    mac = "AEAD";
  } else {
    switch (SSL_CIPHER_get_digest_nid(c)) {
      case NID_sha1: mac = "SHA1"; break;
      case NID_sha256: mac = "SHA256"; break;
      case NID_sha384: mac = "SHA384"; break;
      default: break;
    }
  }
  std::string version_text(version);
  char buf[160];
  int n = std::snprintf(buf, sizeof buf, "%-23s %s Kx=%-8s Au=%-4s Enc=%-9s Mac=%-4s",
                        SSL_CIPHER_get_name(c), version_text.c_str(), kx, au, enc, mac);
  if (n < 0) return SSL_CIPHER_get_name(c);
  return std::string(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

CipherDescription describe(const SSL_CIPHER* c) {
  CipherDescription d;
  d.id = SSL_CIPHER_get_id(c);
  d.name = SSL_CIPHER_get_name(c);
  d.protocol = protocol_of(c);
  d.description = description(c);
  d.strength_bits = SSL_CIPHER_get_bits(c, &d.alg_bits);
  d.aead = SSL_CIPHER_is_aead(c) != 0;
  d.symmetric = long_name(SSL_CIPHER_get_cipher_nid(c));
  d.digest = long_name(SSL_CIPHER_get_digest_nid(c));
  // BoringSSL files ECDHE-PSK under NID_kx_ecdhe; OpenSSL has a key
  // exchange of its own for it (no NID in BoringSSL to name it by).
  d.kea = is_ecdhe_psk(c) ? std::optional<std::string>("kx-ecdhe-psk")
                          : long_name(SSL_CIPHER_get_kx_nid(c));
  d.auth = long_name(SSL_CIPHER_get_auth_nid(c));
  return d;
}

// offered_suites returns the suites an SSL_CTX or SSL would use, in order:
// |list| (TLS 1.2 and below), then the TLS 1.3 ones when |tls13| allows.
std::vector<const SSL_CIPHER*> offered_suites(const STACK_OF(SSL_CIPHER) * list, bool tls13) {
  std::vector<const SSL_CIPHER*> out;
  if (list != nullptr) {
    for (std::size_t i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
      out.push_back(sk_SSL_CIPHER_value(list, i));
    }
  }
  if (tls13) {
    for (uint16_t value : tls13_suites()) {
      if (const SSL_CIPHER* c = SSL_get_cipher_by_value(value)) out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void remember_client_hello(const SSL_CLIENT_HELLO* hello, std::vector<uint16_t>& shared) {
  SSL* ssl = hello->ssl;
  if (!SSL_is_server(ssl)) return;
  // Every handshake runs this, so it allocates once and makes no library
  // call per pair of suites: the client's list is read in place.
  auto offered = [hello](uint16_t id) {
    for (std::size_t i = 0; i + 1 < hello->cipher_suites_len; i += 2) {
      if (((hello->cipher_suites[i] << 8) | hello->cipher_suites[i + 1]) == id) return true;
    }
    return false;
  };
  const STACK_OF(SSL_CIPHER)* list = SSL_get_ciphers(ssl);
  const std::size_t n = list != nullptr ? sk_SSL_CIPHER_num(list) : 0;
  shared.clear();
  shared.reserve(n + tls13_suites().size());
  for (std::size_t i = 0; i < n; ++i) {
    const uint16_t id = SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(list, i));
    if (offered(id)) shared.push_back(id);
  }
  if (SSL_get_max_proto_version(ssl) >= TLS1_3_VERSION &&
      (SSL_get_options(ssl) & SSL_OP_NO_TLSv1_3) == 0) {
    for (uint16_t id : tls13_suites()) {
      if (offered(id)) shared.push_back(id);
    }
  }
}

Cipher cipher_of(const SSL_CIPHER* cipher) {
  return Cipher{SSL_CIPHER_get_name(cipher), std::string(protocol_of(cipher)),
                SSL_CIPHER_get_bits(cipher, nullptr)};
}

std::vector<CipherDescription> describe_ciphers(const SSL_CTX* ctx) {
  const bool tls13 = SSL_CTX_get_max_proto_version(ctx) >= TLS1_3_VERSION &&
                     (SSL_CTX_get_options(ctx) & SSL_OP_NO_TLSv1_3) == 0;
  std::vector<CipherDescription> out;
  for (const SSL_CIPHER* c : offered_suites(SSL_CTX_get_ciphers(ctx), tls13)) {
    out.push_back(describe(c));
  }
  return out;
}

}  // namespace sanstls
