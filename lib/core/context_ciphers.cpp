// The Context's cipher suites and key exchange: Context::set_ciphers,
// get_ciphers, set_ecdh_curve and load_dh_params.
#include <sanstls/context.hpp>

#include <openssl/dh.h>
#include <openssl/nid.h>
#include <openssl/pem.h>

#include <climits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

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

}  // namespace

void Context::set_ciphers(std::string_view cipher_list) {
  ErrorGuard guard;
  std::string list(cipher_list);
  if (list.find('\0') != std::string::npos) {
    throw std::invalid_argument("cipher list contains a NUL byte");
  }
  // A failed SSL_CTX_set_cipher_list leaves the context with no cipher at
  // all, so the list is tried on a scratch context first and the real one
  // keeps its previous list when nothing matches.
  bssl::UniquePtr<SSL_CTX> scratch(SSL_CTX_new(TLS_method()));
  if (!scratch) throw_from_queue("failed to allocate an SSL_CTX");
  if (!SSL_CTX_set_cipher_list(scratch.get(), list.c_str()) ||
      sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(scratch.get())) == 0) {
    Error e = error_from_queue("No cipher can be selected.");
    e.message = "No cipher can be selected.";
    throw SSLError(std::move(e));
  }
  if (!SSL_CTX_set_cipher_list(state_->ctx.get(), list.c_str())) {
    throw_from_queue("No cipher can be selected.");
  }
}

std::vector<CipherDescription> Context::get_ciphers() const { return describe_ciphers(state_->ctx.get()); }

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

}  // namespace sanstls
