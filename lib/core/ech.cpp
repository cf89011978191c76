// Encrypted Client Hello: EchKeys (a server's keys and their ECHConfigs),
// the Context settings of both sides, and what an Object reports.
#include <sanstls/ech.hpp>

#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/hpke.h>
#include <openssl/mem.h>
#include <openssl/pem.h>

#include <stdexcept>

#include "internal.hpp"
#include "object_state.hpp"

namespace sanstls {

namespace {

constexpr std::uint16_t kEchVersion = 0xfe0d;  // draft-ietf-tls-esni-13

std::string_view view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

const std::uint8_t* bytes(std::string_view text) { return reinterpret_cast<const std::uint8_t*>(text.data()); }

struct FreeBytes {
  void operator()(std::uint8_t* p) const noexcept { OPENSSL_free(p); }
};
using OwnedBytes = std::unique_ptr<std::uint8_t, FreeBytes>;

void init_hpke_key(EVP_HPKE_KEY* key, std::string_view private_key) {
  if (!EVP_HPKE_KEY_init(key, EVP_hpke_x25519_hkdf_sha256(), bytes(private_key), private_key.size())) {
    ERR_clear_error();
    throw std::invalid_argument("an ECH private key must be 32 bytes of X25519 key");
  }
}

// check_pair makes sure BoringSSL takes |entry|: its ECHConfig parses and
// holds |entry|'s public key.
void check_pair(const EchKeys::Entry& entry) {
  bssl::ScopedEVP_HPKE_KEY key;
  init_hpke_key(key.get(), entry.private_key);
  bssl::UniquePtr<SSL_ECH_KEYS> keys(SSL_ECH_KEYS_new());
  if (!keys) throw std::bad_alloc();
  if (!SSL_ECH_KEYS_add(keys.get(), 1, bytes(entry.config), entry.config.size(), key.get())) {
    // BoringSSL queues the mismatch, then a DECODE_ERROR on top of it.
    bool mismatch = false;
    while (const std::uint32_t code = ERR_get_error()) {
      mismatch = mismatch || (ERR_GET_LIB(code) == ERR_LIB_SSL &&
                              ERR_GET_REASON(code) == SSL_R_ECH_SERVER_CONFIG_AND_PRIVATE_KEY_MISMATCH);
    }
    std::string why = mismatch
                          ? "the ECHConfig is not the private key's"
                          : "not an ECHConfig (draft-13, version 0xfe0d) BoringSSL can use";
    throw std::invalid_argument("ECH key: " + why);
  }
}

// config_list_of wraps |configs| in an ECHConfigList (a 2-byte length).
std::string config_list_of(const std::string& configs) {
  if (configs.size() > 0xffff) throw std::length_error("the ECHConfigList is too long");
  return std::string{static_cast<char>(configs.size() >> 8), static_cast<char>(configs.size() & 0xff)} + configs;
}

// one_config returns the single ECHConfig of an ECHConfigList, or throws.
std::string one_config(std::string_view list) {
  CBS cbs, configs, contents;
  std::uint16_t version = 0;
  CBS_init(&cbs, bytes(list), list.size());
  const std::uint8_t* start = nullptr;
  if (!CBS_get_u16_length_prefixed(&cbs, &configs) || CBS_len(&cbs) != 0 ||
      (start = CBS_data(&configs), !CBS_get_u16(&configs, &version)) ||
      !CBS_get_u16_length_prefixed(&configs, &contents) || CBS_len(&configs) != 0) {
    throw std::invalid_argument("ECH key file: the ECHCONFIG block must hold an ECHConfigList of one ECHConfig");
  }
  if (version != kEchVersion) {
    throw std::invalid_argument("ECH key file: an ECHConfig of version " + std::to_string(version) +
                                ", not draft-13's 0xfe0d");
  }
  return std::string(view(start, static_cast<std::size_t>(CBS_data(&contents) + CBS_len(&contents) - start)));
}

std::string pem_block(const char* name, std::string_view der) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio(bio.get(), name, "", bytes(der), static_cast<long>(der.size()))) {
    throw_from_queue("cannot write PEM");
  }
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  BIO_mem_contents(bio.get(), &data, &size);
  return std::string(view(data, size));
}

}  // namespace

EchKeys EchKeys::generate(std::string_view public_name, std::uint8_t config_id, std::size_t max_name_length) {
  ErrorGuard guard;
  const std::string name(public_name);
  if (name.find('\0') != std::string::npos) throw std::invalid_argument("EchKeys::generate: a NUL in the public name");
  bssl::ScopedEVP_HPKE_KEY key;
  if (!EVP_HPKE_KEY_generate(key.get(), EVP_hpke_x25519_hkdf_sha256())) throw_from_queue("cannot make an ECH key");
  std::uint8_t* out = nullptr;
  std::size_t out_len = 0;
  if (!SSL_marshal_ech_config(&out, &out_len, config_id, key.get(), name.c_str(), max_name_length)) {
    ERR_clear_error();
    throw std::invalid_argument("EchKeys::generate: '" + name +
                                "' is not a public name ECH allows (a DNS name of letters, digits and hyphens "
                                "whose last label is not a number)");
  }
  OwnedBytes config(out);
  std::uint8_t private_key[EVP_HPKE_MAX_PRIVATE_KEY_LENGTH];
  std::size_t private_len = 0;
  if (!EVP_HPKE_KEY_private_key(key.get(), private_key, &private_len, sizeof private_key)) {
    throw_from_queue("cannot read the ECH key");
  }
  EchKeys keys;
  keys.entries_.push_back({std::string(view(out, out_len)), std::string(view(private_key, private_len)), true});
  OPENSSL_cleanse(private_key, sizeof private_key);
  return keys;
}

EchKeys EchKeys::from_raw(std::string_view config, std::string_view private_key) {
  ErrorGuard guard;
  Entry entry{std::string(config), std::string(private_key), true};
  check_pair(entry);
  EchKeys keys;
  keys.entries_.push_back(std::move(entry));
  return keys;
}

EchKeys EchKeys::from_pem(std::string_view pem) {
  ErrorGuard guard;
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (!bio) throw std::bad_alloc();
  EchKeys keys;
  std::optional<std::string> pending_key;  // a PRIVATE KEY waiting for its ECHCONFIG
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    std::uint8_t* data = nullptr;
    long len = 0;
    if (!PEM_read_bio(bio.get(), &name, &header, &data, &len)) {
      const std::uint32_t code = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) break;
      throw std::invalid_argument("ECH key file: a PEM block does not parse");
    }
    const std::string block_name = name;
    const std::string der(view(data, static_cast<std::size_t>(len)));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    OPENSSL_free(data);
    if (block_name == "PRIVATE KEY") {
      if (pending_key) throw std::invalid_argument("ECH key file: two PRIVATE KEY blocks without an ECHCONFIG between");
      CBS cbs;
      CBS_init(&cbs, bytes(der), der.size());
      bssl::UniquePtr<EVP_PKEY> pkey(EVP_parse_private_key(&cbs));
      std::uint8_t raw[32];
      std::size_t raw_len = sizeof raw;
      if (!pkey || CBS_len(&cbs) != 0 || EVP_PKEY_id(pkey.get()) != EVP_PKEY_X25519 ||
          !EVP_PKEY_get_raw_private_key(pkey.get(), raw, &raw_len)) {
        ERR_clear_error();
        throw std::invalid_argument("ECH key file: the PRIVATE KEY is not a PKCS#8 X25519 key");
      }
      pending_key = std::string(view(raw, raw_len));
      OPENSSL_cleanse(raw, sizeof raw);
    } else if (block_name == "ECHCONFIG") {
      if (!pending_key) throw std::invalid_argument("ECH key file: an ECHCONFIG without a PRIVATE KEY before it");
      Entry entry{one_config(der), std::move(*pending_key), true};
      pending_key.reset();
      check_pair(entry);
      keys.entries_.push_back(std::move(entry));
    } else {
      throw std::invalid_argument("ECH key file: an unexpected PEM block '" + block_name + "'");
    }
  }
  if (pending_key) throw std::invalid_argument("ECH key file: a PRIVATE KEY without its ECHCONFIG");
  if (keys.entries_.empty()) throw std::invalid_argument("ECH key file: no key (PRIVATE KEY and ECHCONFIG blocks)");
  return keys;
}

std::string EchKeys::to_pem() const {
  ErrorGuard guard;
  std::string out;
  for (const Entry& entry : entries_) {
    bssl::UniquePtr<EVP_PKEY> pkey(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes(entry.private_key), entry.private_key.size()));
    bssl::ScopedCBB cbb;
    std::uint8_t* der = nullptr;
    std::size_t der_len = 0;
    if (!pkey || !CBB_init(cbb.get(), 64) || !EVP_marshal_private_key(cbb.get(), pkey.get()) ||
        !CBB_finish(cbb.get(), &der, &der_len)) {
      throw_from_queue("cannot write the ECH key");
    }
    OwnedBytes owned(der);
    out += pem_block("PRIVATE KEY", view(der, der_len));
    OPENSSL_cleanse(der, der_len);
    out += pem_block("ECHCONFIG", config_list_of(entry.config));
  }
  return out;
}

void EchKeys::add(const EchKeys& more, bool retry) {
  for (Entry entry : more.entries_) {
    entry.retry = retry;
    entries_.push_back(std::move(entry));
  }
}

std::string EchKeys::config_list() const {
  std::string configs;
  for (const Entry& entry : entries_) {
    if (entry.retry) configs += entry.config;
  }
  return config_list_of(configs);
}

// ---- Context and Object ---------------------------------------------------

void Context::set_ech_keys(const EchKeys& keys) {
  ErrorGuard guard;
  bssl::UniquePtr<SSL_ECH_KEYS> native(SSL_ECH_KEYS_new());
  if (!native) throw std::bad_alloc();
  bool any_retry = false;
  for (const EchKeys::Entry& entry : keys.entries()) {
    bssl::ScopedEVP_HPKE_KEY key;
    init_hpke_key(key.get(), entry.private_key);
    if (!SSL_ECH_KEYS_add(native.get(), entry.retry, bytes(entry.config), entry.config.size(), key.get())) {
      ERR_clear_error();
      throw std::invalid_argument("set_ech_keys: BoringSSL refuses a key (its ECHConfig does not parse or is not "
                                  "its private key's)");
    }
    any_retry = any_retry || entry.retry;
  }
  if (!any_retry) {
    throw std::invalid_argument("set_ech_keys: at least one key must be a retry config (none given, or all added "
                                "with retry false)");
  }
  if (!SSL_CTX_set1_ech_keys(state_->ctx.get(), native.get())) throw_from_queue("cannot set the ECH keys");
}

void Context::set_ech_config_list(std::optional<std::span<const std::byte>> list) {
  if (list) {
    ErrorGuard guard;
    // BoringSSL's own check, on a connection made for it.
    bssl::UniquePtr<SSL> probe(SSL_new(state_->ctx.get()));
    if (!probe) throw std::bad_alloc();
    if (!SSL_set1_ech_config_list(probe.get(), reinterpret_cast<const std::uint8_t*>(list->data()), list->size())) {
      ERR_clear_error();
      throw std::invalid_argument(
          "set_ech_config_list: not an ECHConfigList (a 2-byte length, then ECHConfigs, each a version and a "
          "2-byte length)");
    }
  }
  state_->ech_config_list =
      list ? std::optional<std::string>(std::string(reinterpret_cast<const char*>(list->data()), list->size()))
           : std::nullopt;
}

const std::optional<std::string>& Context::ech_config_list() const noexcept { return state_->ech_config_list; }

void Context::set_ech_grease(bool grease) { state_->ech_grease = grease; }
bool Context::ech_grease() const noexcept { return state_->ech_grease; }

void apply_ech(SSL* ssl, const ContextAccess::State& context, bool server_side) {
  if (server_side) return;  // the server's keys are the SSL_CTX's
  if (const auto& list = context.ech_config_list) {
    if (!SSL_set1_ech_config_list(ssl, bytes(*list), list->size())) throw_from_queue("cannot set the ECHConfigList");
  }
  SSL_set_enable_ech_grease(ssl, context.ech_grease ? 1 : 0);
}

bool Object::ech_accepted() const noexcept { return SSL_ech_accepted(ObjectAccess::native(*this)) != 0; }

std::optional<std::string> ech_retry_configs(const SSL* ssl) {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  SSL_get0_ech_retry_configs(ssl, &data, &size);
  return std::string(view(data, size));
}

std::optional<std::string> ech_name_override(const SSL* ssl) {
  const char* name = nullptr;
  std::size_t size = 0;
  SSL_get0_ech_name_override(ssl, &name, &size);
  if (size == 0) return std::nullopt;
  return std::string(name, size);
}

}  // namespace sanstls
