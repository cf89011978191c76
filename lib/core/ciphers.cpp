// Cipher suites, key-exchange groups, DH parameters, post-handshake
// authentication and NPN: Context::get_ciphers, set_ecdh_curve,
// load_dh_params, post_handshake_auth, set_npn_protocols, and
// Object::shared_ciphers, selected_npn_protocol,
// verify_client_post_handshake.
#include <sanstls/context.hpp>
#include <sanstls/object.hpp>

#include <openssl/aead.h>
#include <openssl/dh.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

// ---- Cipher descriptions ----------------------------------------------

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

// ---- Files ------------------------------------------------------------

// read_file reads |path| as Python's open(path, "rb").read() would: a
// missing file is ENOENT, a directory EISDIR (fopen succeeds, the read
// fails), both as std::system_error.
std::string read_file(const std::string& path) {
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::system_error(errno != 0 ? errno : ENOENT, std::generic_category(), path);
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(f.get())) {
    throw std::system_error(errno != 0 ? errno : EIO, std::generic_category(), path);
  }
  return out;
}

// ---- Groups -------------------------------------------------------------

struct NamedGroup {
  std::string_view name;
  int nid;
};

// The groups BoringSSL negotiates, under OpenSSL's short names (what
// Python's OBJ_sn2nid accepts) and their NIST names; case matters, as in
// Python.
constexpr NamedGroup kGroups[] = {
    {"prime256v1", NID_X9_62_prime256v1}, {"P-256", NID_X9_62_prime256v1},
    {"secp384r1", NID_secp384r1},         {"P-384", NID_secp384r1},
    {"secp521r1", NID_secp521r1},         {"P-521", NID_secp521r1},
    {"secp224r1", NID_secp224r1},         {"P-224", NID_secp224r1},
    {"X25519", NID_X25519},
};

// ---- NPN ----------------------------------------------------------------

void add_npn(std::string& wire, std::string_view protocol) {
  if (protocol.empty() || protocol.size() > 255) {
    throw std::invalid_argument("NPN protocols must be 1 to 255 bytes long, got " +
                                std::to_string(protocol.size()));
  }
  wire.push_back(static_cast<char>(protocol.size()));
  wire.append(protocol);
}

// advertise_npn hands a server's protocols to BoringSSL for its
// ServerHello.
int advertise_npn(SSL*, const uint8_t** out, unsigned* out_len, void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->npn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  *out = reinterpret_cast<const uint8_t*>(state->npn_wire.data());
  *out_len = static_cast<unsigned>(state->npn_wire.size());
  return SSL_TLSEXT_ERR_OK;
}

// select_npn is a client's choice among the server's protocols, as
// OpenSSL's and Python's: the first of the server's that the client also
// has; with none in common, the client's first (NPN lets the client ask
// for a protocol the server did not list).
int select_npn(SSL*, uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
               void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->npn_wire.empty()) return SSL_TLSEXT_ERR_ALERT_FATAL;  // never registered so
  SSL_select_next_proto(out, out_len, in, in_len,
                        reinterpret_cast<const uint8_t*>(state->npn_wire.data()),
                        static_cast<unsigned>(state->npn_wire.size()));
  return SSL_TLSEXT_ERR_OK;
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

// ---- Context ------------------------------------------------------------

std::vector<CipherDescription> Context::get_ciphers() const {
  SSL_CTX* ctx = state_->ctx.get();
  const bool tls13 = SSL_CTX_get_max_proto_version(ctx) >= TLS1_3_VERSION &&
                     (SSL_CTX_get_options(ctx) & SSL_OP_NO_TLSv1_3) == 0;
  std::vector<CipherDescription> out;
  for (const SSL_CIPHER* c : offered_suites(SSL_CTX_get_ciphers(ctx), tls13)) {
    out.push_back(describe(c));
  }
  return out;
}

void Context::set_ecdh_curve(std::string_view curve_name) {
  for (const NamedGroup& group : kGroups) {
    if (group.name != curve_name) continue;
    ErrorGuard guard;
    if (!SSL_CTX_set1_curves(state_->ctx.get(), &group.nid, 1)) {
      throw_from_queue("cannot set the elliptic curve");
    }
    return;
  }
  // Python formats the name with %R: a str's repr, in single quotes.
  throw std::invalid_argument("unknown elliptic curve name '" + std::string(curve_name) + "'");
}

void Context::load_dh_params(const std::string& path) {
  std::string pem = read_file(path);
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) throw std::length_error(path + ": file too large");
  ErrorGuard guard;
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_from_queue("out of memory");
  bssl::UniquePtr<DH> dh(PEM_read_bio_DHparams(bio.get(), nullptr, nullptr, nullptr));
  if (!dh) throw_from_queue("[PEM: NO_START_LINE] no start line");
  throw NotImplementedError(
      "load_dh_params: the Diffie-Hellman parameters are valid, but BoringSSL has no "
      "DHE cipher suites to use them with (ECDHE key exchange needs none)");
}

std::optional<bool> Context::post_handshake_auth() const noexcept { return std::nullopt; }

void Context::set_post_handshake_auth(bool enabled) {
  if (enabled) {
    throw NotImplementedError(
        "TLS 1.3 post-handshake authentication is not supported by BoringSSL");
  }
}

void Context::set_npn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) add_npn(wire, p);
  if (wire.size() > 0xffff) throw std::invalid_argument("NPN protocol list is too long");
  SSL_CTX* ctx = state_->ctx.get();
  state_->npn_wire = std::move(wire);
  if (state_->npn_wire.empty()) {
    // No protocols: neither offer nor advertise NPN (BoringSSL's selection
    // needs a non-empty list of our own).
    SSL_CTX_set_next_protos_advertised_cb(ctx, nullptr, nullptr);
    SSL_CTX_set_next_proto_select_cb(ctx, nullptr, nullptr);
    return;
  }
  // As Python: one context serves as client and server alike, so both
  // callbacks are set; a client then offers NPN (when it may negotiate TLS
  // 1.2 or below) and a server answers it.
  SSL_CTX_set_next_protos_advertised_cb(ctx, &advertise_npn, state_.get());
  SSL_CTX_set_next_proto_select_cb(ctx, &select_npn, state_.get());
}

// ---- Object -------------------------------------------------------------

std::optional<std::vector<Cipher>> Object::shared_ciphers() const {
  if (!server_side() || !is_handshake_complete()) return std::nullopt;
  const std::vector<uint16_t>& shared = ObjectAccess::shared_suites(*this);
  if (shared.empty()) return std::nullopt;  // no ClientHello seen
  std::vector<Cipher> out;
  out.reserve(shared.size());
  for (uint16_t id : shared) {
    const SSL_CIPHER* c = SSL_get_cipher_by_value(id);
    if (c == nullptr) continue;
    out.push_back(Cipher{SSL_CIPHER_get_name(c), std::string(protocol_of(c)),
                         SSL_CIPHER_get_bits(c, nullptr)});
  }
  return out;
}

std::optional<std::string> Object::selected_npn_protocol() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_next_proto_negotiated(ObjectAccess::native(*this), &data, &len);
  if (data == nullptr || len == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), len);
}

void Object::verify_client_post_handshake() {
  // CPython's text when built against a library without PHA.
  throw NotImplementedError("Post-handshake auth is not supported by your OpenSSL version.");
}

}  // namespace sanstls
