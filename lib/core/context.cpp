#include <sanstls/context.hpp>

#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <ctime>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

// Python 3.7's PY_SSL_DEFAULT_CIPHER_STRING. BoringSSL ignores the names of
// cipher families it never implemented (IDEA, SEED, SRP, ...).
constexpr const char* kDefaultCipherString =
    "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";

// The option bits BoringSSL acts on; they have the same values as Python's.
constexpr Options kBoringSSLOptions = Options::no_tlsv1 | Options::no_tlsv1_1 |
                                      Options::no_tlsv1_2 | Options::no_tlsv1_3 |
                                      Options::no_ticket | Options::cipher_server_preference;

constexpr Options kDefaultOptions = Options::all | Options::no_sslv2 | Options::no_sslv3 |
                                    Options::no_compression |
                                    Options::cipher_server_preference |
                                    Options::single_dh_use | Options::single_ecdh_use |
                                    Options::enable_middlebox_compat;

int verify_flags_for(VerifyMode mode) {
  switch (mode) {
    case VerifyMode::cert_none: return SSL_VERIFY_NONE;
    case VerifyMode::cert_optional: return SSL_VERIFY_PEER;
    case VerifyMode::cert_required: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_NONE;
}

// context_index is the SSL_CTX ex_data slot that points back at its State.
int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool is_pinned(Protocol protocol) {
  return protocol == Protocol::tls1 || protocol == Protocol::tls1_1 ||
         protocol == Protocol::tls1_2;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // An ifstream opens a directory and then reads nothing, which would
    // pass for an empty file; Python raises IsADirectoryError.
    throw std::system_error(EISDIR, std::generic_category(), path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno != 0 ? errno : ENOENT;
    throw std::system_error(err, std::generic_category(), path);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw std::system_error(EIO, std::generic_category(), path);
  return std::move(contents).str();
}

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

void add_alpn(std::string& wire, std::string_view protocol) {
  if (protocol.empty() || protocol.size() > 255) {
    throw std::invalid_argument("ALPN protocols must be 1 to 255 bytes long, got " +
                                std::to_string(protocol.size()));
  }
  wire.push_back(static_cast<char>(protocol.size()));
  wire.append(protocol);
}

int select_alpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                unsigned in_len, void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  uint8_t* selected = nullptr;
  // Server preference: the first of our protocols the client also offers.
  int rc = SSL_select_next_proto(
      &selected, out_len, reinterpret_cast<const uint8_t*>(state->alpn_wire.data()),
      static_cast<unsigned>(state->alpn_wire.size()), in, in_len);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

uint16_t boringssl_version(TLSVersion version) {
  switch (version) {
    case TLSVersion::minimum_supported:
    case TLSVersion::maximum_supported:
      return 0;  // BoringSSL's "its own lowest / highest"
    case TLSVersion::tlsv1: return TLS1_VERSION;
    case TLSVersion::tlsv1_1: return TLS1_1_VERSION;
    case TLSVersion::tlsv1_2: return TLS1_2_VERSION;
    case TLSVersion::tlsv1_3: return TLS1_3_VERSION;
    case TLSVersion::sslv3: break;
  }
  std::ostringstream msg;
  msg << "Unsupported TLS/SSL version 0x" << std::hex << static_cast<int>(version);
  if (version == TLSVersion::sslv3) msg << " (BoringSSL does not implement SSLv3)";
  throw std::invalid_argument(msg.str());
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

Context::State::~State() {
  if (ctx) {
    SSL_CTX_set_ex_data(ctx.get(), context_index(), nullptr);
    SSL_CTX_sess_set_remove_cb(ctx.get(), nullptr);
  }
}

Context::State* ContextAccess::state_of(const SSL_CTX* ctx) noexcept {
  return static_cast<Context::State*>(SSL_CTX_get_ex_data(ctx, context_index()));
}

TicketKey TicketKey::generate() {
  TicketKey key;
  RAND_bytes(reinterpret_cast<uint8_t*>(key.name.data()), key.name.size());
  RAND_bytes(reinterpret_cast<uint8_t*>(key.hmac_key.data()), key.hmac_key.size());
  RAND_bytes(reinterpret_cast<uint8_t*>(key.aes_key.data()), key.aes_key.size());
  return key;
}

Context::Context(Protocol protocol) : state_(std::make_shared<State>()) {
  ErrorGuard guard;
  State& s = *state_;
  s.protocol = protocol;
  // With the buffers method BoringSSL leaves certificates as the bytes it
  // received and verify.cpp verifies them: see there for why.
  s.ctx.reset(SSL_CTX_new(TLS_with_buffers_method()));
  s.store.reset(X509_STORE_new());
  if (!s.ctx || !s.store) throw_from_queue("failed to allocate an SSL_CTX");
  SSL_CTX* ctx = s.ctx.get();
  SSL_CTX_set0_buffer_pool(ctx, certificate_pool());

  switch (protocol) {
    case Protocol::tls:
    case Protocol::tls_client:
    case Protocol::tls_server:
      break;
    case Protocol::tls1:
    case Protocol::tls1_1:
    case Protocol::tls1_2: {
      uint16_t v = protocol == Protocol::tls1     ? TLS1_VERSION
                   : protocol == Protocol::tls1_1 ? TLS1_1_VERSION
                                                  : TLS1_2_VERSION;
      if (!SSL_CTX_set_min_proto_version(ctx, v) || !SSL_CTX_set_max_proto_version(ctx, v)) {
        throw_from_queue("cannot pin the protocol version");
      }
      break;
    }
    default:
      throw std::invalid_argument("invalid or unsupported protocol version " +
                                  std::to_string(static_cast<int>(protocol)));
  }

  set_options(kDefaultOptions);
  // Python sets TRUSTED_FIRST so that a cross-signed intermediate does not
  // lead the chain to an expired root (bpo-23476).
  set_verify_flags(s.verify_flags);
  if (!SSL_CTX_set_cipher_list(ctx, kDefaultCipherString)) {
    throw_from_queue("No cipher can be selected.");
  }
  // Servers that verify client certificates must name a session context,
  // or BoringSSL refuses to resume their sessions.
  static constexpr unsigned char kSessionContext[] = "sanstls";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  // Servers keep BoringSSL's session cache and tickets; clients keep their
  // sessions in their Objects (Object::session()).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_BOTH);
  SSL_CTX_sess_set_new_cb(ctx, &ObjectAccess::on_new_session);
  SSL_CTX_sess_set_remove_cb(ctx, &ObjectAccess::on_remove_session);
  if (!SSL_CTX_set_ex_data(ctx, context_index(), &s)) throw_from_queue("cannot attach the context");
  SSL_CTX_set_tlsext_servername_callback(ctx, &ObjectAccess::on_servername);
  SSL_CTX_set_info_callback(ctx, &ObjectAccess::on_info);
  SSL_CTX_set_select_certificate_cb(ctx, &ObjectAccess::on_client_hello);
  // BoringSSL's default list of signature algorithms to accept leaves out
  // Ed25519, which OpenSSL (and so Python) peers accept and use.
  static constexpr uint16_t kVerifyAlgorithms[] = {
      SSL_SIGN_ED25519,
      SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
      SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA384, SSL_SIGN_RSA_PKCS1_SHA384,
      SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA512, SSL_SIGN_RSA_PKCS1_SHA1,
  };
  if (!SSL_CTX_set_verify_algorithm_prefs(ctx, kVerifyAlgorithms,
                                          sizeof kVerifyAlgorithms / sizeof kVerifyAlgorithms[0])) {
    throw_from_queue("cannot set signature algorithms");
  }

  if (protocol == Protocol::tls_client) {
    s.check_hostname = true;
    set_verify_mode(VerifyMode::cert_required);
  } else {
    set_verify_mode(VerifyMode::cert_none);
  }
}

Protocol Context::protocol() const noexcept { return state_->protocol; }

VerifyMode Context::verify_mode() const noexcept { return state_->verify_mode; }

void Context::set_verify_mode(VerifyMode mode) {
  if (mode != VerifyMode::cert_none && mode != VerifyMode::cert_optional &&
      mode != VerifyMode::cert_required) {
    throw std::invalid_argument("invalid value for verify_mode");
  }
  if (mode == VerifyMode::cert_none && state_->check_hostname) {
    throw std::invalid_argument(
        "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  }
  SSL_CTX_set_custom_verify(state_->ctx.get(), verify_flags_for(mode), &ObjectAccess::on_verify);
  state_->verify_mode = mode;
}

bool Context::check_hostname() const noexcept { return state_->check_hostname; }

void Context::set_check_hostname(bool enabled) {
  if (enabled && verify_mode() == VerifyMode::cert_none) {
    set_verify_mode(VerifyMode::cert_required);
  }
  state_->check_hostname = enabled;
}

Options Context::options() const noexcept { return state_->options; }

void Context::set_options(Options options) {
  SSL_CTX* ctx = state_->ctx.get();
  auto bits = static_cast<uint32_t>(static_cast<std::uint64_t>(options & kBoringSSLOptions));
  SSL_CTX_clear_options(ctx, static_cast<uint32_t>(static_cast<std::uint64_t>(kBoringSSLOptions)));
  SSL_CTX_set_options(ctx, bits);
  state_->options = options;
}

TLSVersion Context::minimum_version() const noexcept { return state_->minimum_version; }
TLSVersion Context::maximum_version() const noexcept { return state_->maximum_version; }

void Context::set_minimum_version(TLSVersion version) {
  if (is_pinned(state_->protocol)) {
    throw std::invalid_argument(
        "The context's protocol doesn't support modification of highest and lowest version.");
  }
  if (version == TLSVersion::maximum_supported) {
    version = TLSVersion::tlsv1_3;  // as OpenSSL: the highest it implements
  }
  ErrorGuard guard;
  if (!SSL_CTX_set_min_proto_version(state_->ctx.get(), boringssl_version(version))) {
    throw_from_queue("cannot set the minimum version");
  }
  state_->minimum_version = version;
}

void Context::set_maximum_version(TLSVersion version) {
  if (is_pinned(state_->protocol)) {
    throw std::invalid_argument(
        "The context's protocol doesn't support modification of highest and lowest version.");
  }
  if (version == TLSVersion::minimum_supported) {
    version = TLSVersion::tlsv1;
  }
  ErrorGuard guard;
  if (!SSL_CTX_set_max_proto_version(state_->ctx.get(), boringssl_version(version))) {
    throw_from_queue("cannot set the maximum version");
  }
  state_->maximum_version = version;
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

void Context::set_verify_callback(VerifyCallback callback) {
  state_->verify_callback = std::move(callback);
}

void Context::set_early_data_enabled(bool enabled) {
  SSL_CTX_set_early_data_enabled(state_->ctx.get(), enabled ? 1 : 0);
  state_->early_data = enabled;
}

bool Context::early_data_enabled() const noexcept { return state_->early_data; }

void Context::set_early_data_single_use(bool enabled) { state_->early_data_single_use = enabled; }

bool Context::early_data_single_use() const noexcept { return state_->early_data_single_use; }

bool Context::State::UsedTickets::first_use(std::string_view identity) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(identity.data()), identity.size(), digest);
  std::string key(reinterpret_cast<const char*>(digest), sizeof digest);
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  std::lock_guard lock(mutex);
  if (auto it = expiry.find(key); it != expiry.end()) {
    if (it->second > now) return false;
    expiry.erase(it);
  }
  if (expiry.size() >= kCapacity) {
    std::erase_if(expiry, [now](const auto& entry) { return entry.second <= now; });
    if (expiry.size() >= kCapacity) return false;  // full: refuse rather than forget
  }
  expiry.emplace(std::move(key), now + kLifetime);
  return true;
}

void Context::set_client_hello_callback(ClientHelloCallback callback) {
  state_->client_hello_callback = std::move(callback);
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

std::size_t Context::num_tickets() const noexcept { return state_->num_tickets; }

void Context::set_num_tickets(std::size_t n) {
  if (state_->protocol != Protocol::tls_server) {
    throw std::invalid_argument("SSLContext is not a server context.");
  }
  SSL_CTX_set_num_tickets(state_->ctx.get(), n);
  state_->num_tickets = n;
}

SessionStats Context::session_stats() const {
  const State::Counters& c = state_->counters;
  SessionStats stats;
  stats.number = static_cast<std::size_t>(SSL_CTX_sess_number(state_->ctx.get()));
  stats.connect = c.connect;
  stats.connect_good = c.connect_good;
  stats.connect_renegotiate = c.connect_renegotiate;
  stats.accept = c.accept;
  stats.accept_good = c.accept_good;
  stats.hits = c.hits;
  stats.misses = c.misses;
  stats.timeouts = c.timeouts;
  stats.cache_full = c.cache_full;
  return stats;
}

void Context::set_ticket_keys(std::span<const TicketKey> keys) {
  if (keys.empty()) throw std::invalid_argument("set_ticket_keys needs at least one key");
  state_->ticket_keys.assign(keys.begin(), keys.end());
  SSL_CTX_set_tlsext_ticket_key_cb(state_->ctx.get(), &ObjectAccess::on_ticket_key);
}

void Context::set_sni_callback(SNICallback callback) { state_->sni_callback = std::move(callback); }

VerifyFlags Context::verify_flags() const noexcept { return state_->verify_flags; }

// Applied by verify_peer_chain to each verification.
void Context::set_verify_flags(VerifyFlags flags) { state_->verify_flags = flags; }

bool Context::hostname_checks_common_name() const noexcept {
  return (state_->host_flags & X509_CHECK_FLAG_NEVER_CHECK_SUBJECT) == 0;
}

void Context::set_hostname_checks_common_name(bool enabled) {
  if (enabled) {
    state_->host_flags &= ~static_cast<unsigned int>(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  } else {
    state_->host_flags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
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

// for_each_store_object calls |f| with each certificate and CRL of |store|.
template <class F>
void for_each_store_object(X509_STORE* store, F f) {
  for (const X509_OBJECT* object : X509_STORE_get0_objects(store)) f(object);
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
  for_each_store_object(state_->store.get(), [&](const X509_OBJECT* object) {
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
  for_each_store_object(state_->store.get(), [&](const X509_OBJECT* object) {
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

Context create_default_context(Purpose purpose, const VerifyLocations& locations) {
  if (purpose != Purpose::server_auth && purpose != Purpose::client_auth) {
    throw std::invalid_argument("purpose must be Purpose::server_auth or Purpose::client_auth");
  }
  Context context(Protocol::tls);
  if (purpose == Purpose::server_auth) {
    context.set_verify_mode(VerifyMode::cert_required);
    context.set_check_hostname(true);
  }
  if (locations.cafile || locations.capath || locations.cadata) {
    context.load_verify_locations(locations);
  } else if (context.verify_mode() != VerifyMode::cert_none) {
    context.load_default_certs(purpose);
  }
  // As Python 3.8: the standard way to let Wireshark decrypt an
  // application's traffic without changing it.
  const char* keylog = std::getenv("SSLKEYLOGFILE");
  if (keylog != nullptr && *keylog != '\0') context.set_keylog_filename(std::string(keylog));
  return context;
}

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

void Context::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) add_alpn(wire, p);
  if (wire.size() > 0xffff) throw std::invalid_argument("ALPN protocol list is too long");
  ErrorGuard guard;
  if (SSL_CTX_set_alpn_protos(state_->ctx.get(), reinterpret_cast<const uint8_t*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0) {
    throw_from_queue("cannot set ALPN protocols");
  }
  // A server with no ALPN protocols must not answer ALPN at all: BoringSSL
  // skips NPN for a ClientHello with ALPN whenever a selector is installed.
  SSL_CTX_set_alpn_select_cb(state_->ctx.get(), wire.empty() ? nullptr : &select_alpn,
                             wire.empty() ? nullptr : state_.get());
  state_->alpn_wire = std::move(wire);
}

}  // namespace sanstls
