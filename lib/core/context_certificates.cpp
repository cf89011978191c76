// The certificates of a Context: the chain and key it presents
// (load_cert_chain and its signer and in-memory forms), and the CA
// certificates and CRLs it trusts (load_verify_locations, the system's
// default locations, cert_store_stats, get_ca_certs).
#include <sanstls/context.hpp>

#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

bssl::UniquePtr<BIO> memory_bio(std::string_view data) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) throw_from_queue("out of memory");
  return bio;
}

// is_pem_end reports whether the last PEM read failed only because no
// further PEM block was present, which ends a list of certificates.
bool is_pem_end() {
  std::uint32_t err = ERR_peek_last_error();
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

// PasswordContext carries the caller's password into BoringSSL's C callback
// and carries a C++ exception back out of it.
struct PasswordContext {
  const Password* password;
  std::exception_ptr failure;
  bool asked = false;
};

int password_callback(char* buf, int size, int, void* userdata) {
  auto* pc = static_cast<PasswordContext*>(userdata);
  pc->asked = true;
  try {
    std::string text;
    if (pc->password->text()) {
      text = *pc->password->text();
    } else if (pc->password->callback()) {
      text = pc->password->callback()();
    } else {
      return -1;  // encrypted key, no password: never prompt on a terminal
    }
    if (text.size() > static_cast<std::size_t>(size)) {
      throw std::invalid_argument("password cannot be longer than " + std::to_string(size) +
                                  " bytes");
    }
    std::copy(text.begin(), text.end(), buf);
    return static_cast<int>(text.size());
  } catch (...) {
    pc->failure = std::current_exception();
    return -1;
  }
}

// der_of returns |cert| in DER.
std::string der_of(X509* cert) {
  uint8_t* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len < 0) throw_from_queue("cannot encode a certificate");
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
}

}  // namespace

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

void Context::load_cert_chain(const std::string& certfile, const std::string& keyfile,
                              const Password& password) {
  std::string cert_pem = read_file(certfile);
  std::string key_pem = keyfile.empty() ? std::string() : read_file(keyfile);
  load_cert_chain_pem(cert_pem, key_pem, password);
}

namespace {

// PemChain is a certificate chain read from PEM: the leaf parsed (to check
// a key against it) and every certificate, leaf first, as pooled buffers.
struct PemChain {
  bssl::UniquePtr<X509> leaf;
  std::vector<bssl::UniquePtr<CRYPTO_BUFFER>> owned;
  std::vector<CRYPTO_BUFFER*> buffers;
};

// Every scheme a key in the Context may sign with, in BoringSSL's order of
// preference: what a Context signs with when it holds the key itself.
constexpr uint16_t kAnyKeySchemes[] = {
    SSL_SIGN_ED25519,
    SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA384, SSL_SIGN_RSA_PKCS1_SHA384,
    SSL_SIGN_ECDSA_SECP521R1_SHA512, SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA512,
    SSL_SIGN_ECDSA_SHA1, SSL_SIGN_RSA_PKCS1_SHA1,
};

// signer_schemes returns the schemes a signer for |key| is asked for: its
// type's, and for ECDSA only its curve's (TLS 1.2 would otherwise allow
// any ECDSA hash with any curve), so a signer has a short, fixed list.
std::vector<uint16_t> signer_schemes(const EVP_PKEY* key) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_RSA:
      return {SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA384,
              SSL_SIGN_RSA_PKCS1_SHA384,    SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA512,
              SSL_SIGN_RSA_PKCS1_SHA1};
    case EVP_PKEY_ED25519:
      return {SSL_SIGN_ED25519};
    case EVP_PKEY_EC:
      switch (EC_GROUP_get_curve_name(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key)))) {
        case NID_X9_62_prime256v1: return {SSL_SIGN_ECDSA_SECP256R1_SHA256};
        case NID_secp384r1: return {SSL_SIGN_ECDSA_SECP384R1_SHA384};
        case NID_secp521r1: return {SSL_SIGN_ECDSA_SECP521R1_SHA512};
        default: return {};
      }
    default:
      return {};
  }
}

PemChain read_pem_chain(std::string_view cert_pem) {
  PemChain out;
  bssl::UniquePtr<BIO> cert_bio = memory_bio(cert_pem);
  auto add = [&](X509* cert) {
    const std::string der = der_of(cert);
    out.owned.emplace_back(CRYPTO_BUFFER_new(reinterpret_cast<const uint8_t*>(der.data()), der.size(),
                                             certificate_pool()));
    if (!out.owned.back()) throw_from_queue("cannot use the certificate");
    out.buffers.push_back(out.owned.back().get());
  };
  out.leaf.reset(PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!out.leaf) throw_pem_lib("no certificate found");
  add(out.leaf.get());
  for (;;) {
    bssl::UniquePtr<X509> extra(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!extra) {
      if (!is_pem_end()) throw_pem_lib("broken certificate in the chain");
      ERR_clear_error();
      break;
    }
    add(extra.get());
  }
  return out;
}

}  // namespace

bssl::UniquePtr<EVP_PKEY> read_private_key(std::string_view pem, const Password& password) {
  bssl::UniquePtr<BIO> key_bio = memory_bio(pem);
  PasswordContext pc{&password, nullptr};
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &password_callback, &pc));
  if (pc.failure) std::rethrow_exception(pc.failure);
  if (!key) {
    if (!pc.asked) throw_pem_lib("no private key found");
    if (!password.text() && !password.callback()) {
      throw_pem_lib("the private key is encrypted and no password was given");
    }
    throw_pem_lib("the private key cannot be decrypted: wrong password?");
  }
  return key;
}

void Context::load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem,
                                  const Password& password) {
  ErrorGuard guard;
  PemChain chain = read_pem_chain(cert_pem);

  bssl::UniquePtr<EVP_PKEY> key = read_private_key(key_pem.empty() ? cert_pem : key_pem, password);
  if (!X509_check_private_key(chain.leaf.get(), key.get())) {
    throw_from_queue("[X509: KEY_VALUES_MISMATCH] key values mismatch");
  }
  if (!SSL_CTX_set_chain_and_key(state_->ctx.get(), chain.buffers.data(), chain.buffers.size(),
                                 key.get(), nullptr)) {
    throw_from_queue("cannot use the certificate and private key");
  }
  if (state_->signer) {
    // A signer narrowed the schemes to its key's; this key may sign any.
    if (!SSL_CTX_set_signing_algorithm_prefs(state_->ctx.get(), kAnyKeySchemes,
                                             sizeof kAnyKeySchemes / sizeof kAnyKeySchemes[0])) {
      throw_from_queue("cannot reset the signature algorithms");
    }
    state_->signer = nullptr;
  }
}

void Context::load_cert_chain_with_signer(const std::string& certfile, PrivateKeySigner signer) {
  load_cert_chain_pem_with_signer(read_file(certfile), std::move(signer));
}

void Context::load_cert_chain_pem_with_signer(std::string_view cert_pem, PrivateKeySigner signer) {
  if (!signer) throw std::invalid_argument("load_cert_chain_with_signer needs a signer");
  ErrorGuard guard;
  PemChain chain = read_pem_chain(cert_pem);
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(chain.leaf.get()));
  const std::vector<uint16_t> schemes = key ? signer_schemes(key.get()) : std::vector<uint16_t>{};
  if (schemes.empty()) {
    throw std::invalid_argument(
        "load_cert_chain_with_signer: the certificate's key is not RSA, ECDSA (P-256, P-384, P-521) or Ed25519");
  }
  SSL_CTX* ctx = state_->ctx.get();
  if (!SSL_CTX_set_chain_and_key(ctx, chain.buffers.data(), chain.buffers.size(), nullptr,
                                 &ObjectAccess::kSignerMethod) ||
      !SSL_CTX_set_signing_algorithm_prefs(ctx, schemes.data(), schemes.size())) {
    throw_from_queue("cannot use the certificate with a signer");
  }
  state_->signer = std::move(signer);
}

void Context::load_verify_locations(const VerifyLocations& locations) {
  if (!locations.cafile && !locations.capath && !locations.cadata) {
    throw std::invalid_argument("cafile, capath and cadata cannot be all omitted");
  }
  ErrorGuard guard;
  X509_STORE* store = state_->store.get();

  if (locations.cadata && locations.cadata->data().empty()) {
    throw std::invalid_argument("Empty certificate data");
  }

  auto add_pem = [&](std::string_view pem, bool crls_allowed) {
    bssl::UniquePtr<BIO> bio = memory_bio(pem);
    bssl::UniquePtr<STACK_OF(X509_INFO)> infos(
        PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr));
    if (!infos) throw_from_queue("[X509] PEM lib: cannot parse certificates");
    std::size_t found = 0;
    for (const X509_INFO* info : infos.get()) {
      if (info->x509 != nullptr) {
        if (!X509_STORE_add_cert(store, info->x509)) throw_from_queue("cannot add certificate");
        ++found;
      }
      if (info->crl != nullptr && crls_allowed) {
        if (!X509_STORE_add_crl(store, info->crl)) throw_from_queue("cannot add CRL");
        ++found;
      }
    }
    if (found == 0) {
      Error e = error_from_code(ERR_PACK(ERR_LIB_X509, X509_R_NO_CERTIFICATE_OR_CRL_FOUND));
      e.message += ": no certificate or CRL in the data";
      throw SSLError(std::move(e));
    }
  };

  if (locations.cafile) add_pem(read_file(*locations.cafile), true);
  if (locations.capath) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*locations.capath, ec)) {
      // Stricter than OpenSSL, which takes any path and finds nothing there.
      bool exists = std::filesystem::exists(*locations.capath, ec);
      throw std::system_error(exists ? ENOTDIR : ENOENT, std::generic_category(), *locations.capath);
    }
    if (!X509_STORE_load_locations(store, nullptr, locations.capath->c_str())) {
      throw_from_queue("cannot use capath");
    }
  }
  if (locations.cadata) {
    const std::string& data = locations.cadata->data();
    if (!locations.cadata->is_der()) {
      add_pem(data, false);
    } else {
      const auto* p = reinterpret_cast<const uint8_t*>(data.data());
      const uint8_t* end = p + data.size();
      std::size_t found = 0;
      while (p < end) {
        bssl::UniquePtr<X509> cert(d2i_X509(nullptr, &p, end - p));
        if (!cert) throw_from_queue("not enough data: cadata holds a broken DER certificate");
        if (!X509_STORE_add_cert(store, cert.get())) throw_from_queue("cannot add certificate");
        ++found;
      }
      if (found == 0) {
        throw SSLError(plain_error(ErrorKind::ssl, "not enough data: cadata does not contain a certificate"));
      }
    }
  }
}

namespace {

constexpr const char* kCertFileEnv = "SSL_CERT_FILE";
constexpr const char* kCertDirEnv = "SSL_CERT_DIR";
constexpr const char* kDefaultCertDir = "/etc/ssl/certs";

// default_cert_file is the first system CA bundle that exists.
std::string default_cert_file() {
  static constexpr const char* kCandidates[] = {
      "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Arch, Gentoo
      "/etc/pki/tls/certs/ca-bundle.crt",    // Fedora, RHEL
      "/etc/ssl/ca-bundle.pem",              // openSUSE
  };
  for (const char* candidate : kCandidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  return X509_get_default_cert_file();  // BoringSSL's: /etc/ssl/cert.pem
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : fallback;
}

// for_each_store_object calls |f| with each certificate and CRL of
// |context|'s store, holding verifications off meanwhile: they may sort the
// list, or append to it from a capath (Context::State::store_mutex).
template <class F>
void for_each_store_object(ContextAccess::State& context, F f) {
  std::unique_lock lock(context.store_mutex);
  for (const X509_OBJECT* object : X509_STORE_get0_objects(context.store.get())) f(object);
}

bool is_ca_object(const X509_OBJECT* object) {
  X509* cert = X509_OBJECT_get0_X509(object);
  return cert != nullptr && X509_check_ca(cert) != 0;
}

}  // namespace

DefaultVerifyPaths get_default_verify_paths() {
  DefaultVerifyPaths paths;
  paths.openssl_cafile_env = kCertFileEnv;
  paths.openssl_cafile = default_cert_file();
  paths.openssl_capath_env = kCertDirEnv;
  paths.openssl_capath = kDefaultCertDir;
  std::string cafile = env_or(kCertFileEnv, paths.openssl_cafile);
  std::string capath = env_or(kCertDirEnv, paths.openssl_capath);
  std::error_code ec;
  if (std::filesystem::is_regular_file(cafile, ec)) paths.cafile = cafile;
  if (std::filesystem::is_directory(capath, ec)) paths.capath = capath;
  return paths;
}

void Context::load_default_certs(Purpose purpose) {
  if (purpose != Purpose::server_auth && purpose != Purpose::client_auth) {
    throw std::invalid_argument("purpose must be Purpose::server_auth or Purpose::client_auth");
  }
  set_default_verify_paths();
}

void Context::set_default_verify_paths() {
  DefaultVerifyPaths paths = get_default_verify_paths();
  VerifyLocations locations;
  locations.cafile = paths.cafile;
  locations.capath = paths.capath;
  if (locations.cafile || locations.capath) load_verify_locations(locations);
}

CertStoreStats Context::cert_store_stats() const {
  CertStoreStats stats;
  for_each_store_object(*state_, [&](const X509_OBJECT* object) {
    switch (X509_OBJECT_get_type(object)) {
      case X509_LU_X509:
        ++stats.x509;
        if (is_ca_object(object)) ++stats.x509_ca;
        break;
      case X509_LU_CRL:
        ++stats.crl;
        break;
      default:
        break;
    }
  });
  return stats;
}

std::vector<std::string> Context::get_ca_certs(binary_form_t) const {
  ErrorGuard guard;
  std::vector<std::string> out;
  for_each_store_object(*state_, [&](const X509_OBJECT* object) {
    if (is_ca_object(object)) out.push_back(der_of(X509_OBJECT_get0_X509(object)));
  });
  return out;
}

std::vector<Certificate> Context::get_ca_certs() const {
  std::vector<Certificate> out;
  for (const std::string& der : get_ca_certs(binary_form)) {
    out.push_back(Certificate::from_der(as_bytes(der)));
  }
  return out;
}

}  // namespace sanstls
