// The Context itself: its making (Python 3.7's defaults), its settings
// (protocol, verification, options, versions, early data, session tickets
// and their BoringSSL callbacks, the application's callbacks),
// create_default_context, and wrap_bio, which checks a new connection's
// arguments against them. The certificates, cipher suites, ALPN/NPN and
// key logging have files of their own (context_*.cpp).
#include <sanstls/context.hpp>

#include <openssl/cipher.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
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

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
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

// on_remove_session counts the sessions BoringSSL drops from a server's
// cache, for session_stats(). BoringSSL drops a session from its cache when
// it has expired (found so on lookup, or by the flush it runs every 255
// handshakes) or, the oldest, to make room in a full cache; so one that has
// not expired made room (unless the application removed it through the
// native handle). BoringSSL calls this with the cache's lock held for
// writing when it makes room or flushes, so nothing here may take that lock
// (SSL_CTX_sess_number would: the read lock fails with EDEADLK on the
// thread that holds the write lock, and BoringSSL aborts the process).
void on_remove_session(SSL_CTX* ctx, SSL_SESSION* session) {
  auto* cs = ContextAccess::state_of(ctx);
  if (cs == nullptr) return;
  const std::uint64_t expires = SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session);
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  if (now >= expires) {
    ++cs->counters.timeouts;
  } else {
    ++cs->counters.cache_full;
  }
}

// on_ticket_key seals and opens session tickets with the keys of
// set_ticket_keys: new tickets under the first, old ones under any. It
// holds the list it took, which a rotation on another thread replaces
// rather than changes.
int on_ticket_key(SSL* ssl, uint8_t* name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac,
                  int encrypt) {
  const Context* context = ObjectAccess::session_context_of(ssl);
  if (context == nullptr) return 0;
  const std::shared_ptr<const std::vector<TicketKey>> held =
      ContextAccess::state(*context).ticket_keys.current();
  if (!held || held->empty()) return encrypt ? -1 : 0;
  const std::vector<TicketKey>& keys = *held;
  const TicketKey* key = nullptr;
  if (encrypt) {
    key = &keys.front();
    std::memcpy(name, key->name.data(), key->name.size());
    if (!RAND_bytes(iv, EVP_MAX_IV_LENGTH)) return -1;
  } else {
    for (const TicketKey& k : keys) {
      if (std::memcmp(name, k.name.data(), k.name.size()) == 0) key = &k;
    }
    if (key == nullptr) return 0;  // unknown key: a full handshake
  }
  const auto* aes = reinterpret_cast<const uint8_t*>(key->aes_key.data());
  const int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes, iv)
                         : EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes, iv);
  if (!ok || !HMAC_Init_ex(hmac, key->hmac_key.data(), key->hmac_key.size(), EVP_sha256(), nullptr)) {
    return -1;
  }
  // 2: accepted, but the client gets a ticket under the current key.
  return encrypt || key == &keys.front() ? 1 : 2;
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
  SSL_CTX_sess_set_remove_cb(ctx, &on_remove_session);
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

std::optional<bool> Context::post_handshake_auth() const noexcept { return std::nullopt; }

void Context::set_post_handshake_auth(bool enabled) {
  if (enabled) {
    throw NotImplementedError(
        "TLS 1.3 post-handshake authentication is not supported by BoringSSL");
  }
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

std::size_t Context::num_tickets() const noexcept { return state_->num_tickets; }

void Context::set_num_tickets(std::size_t n) {
  if (state_->protocol != Protocol::tls_server) {
    throw std::invalid_argument("SSLContext is not a server context.");
  }
  SSL_CTX_set_num_tickets(state_->ctx.get(), n);
  state_->num_tickets = n;
}

std::size_t Context::session_cache_size() const noexcept {
  return SSL_CTX_sess_get_cache_size(state_->ctx.get());
}

void Context::set_session_cache_size(std::size_t n) {
  SSL_CTX_sess_set_cache_size(state_->ctx.get(), static_cast<unsigned long>(n));
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

// Safe while other threads handshake, so that a server can rotate its keys
// (context.hpp): the new list replaces the old one whole, and handshakes
// keep the list they took (on_ticket_key). Only the first call installs
// the callback, the one write to the SSL_CTX.
void Context::set_ticket_keys(std::span<const TicketKey> keys) {
  if (keys.empty()) throw std::invalid_argument("set_ticket_keys needs at least one key");
  std::shared_ptr<const std::vector<TicketKey>> fresh =
      std::make_shared<std::vector<TicketKey>>(keys.begin(), keys.end());
  State::TicketKeys& ticket_keys = state_->ticket_keys;
  std::lock_guard lock(ticket_keys.mutex);
  // The old list goes when the last handshake that took it lets it go.
  const bool first = ticket_keys.keys == nullptr;
  ticket_keys.keys.swap(fresh);
  if (first) SSL_CTX_set_tlsext_ticket_key_cb(state_->ctx.get(), &on_ticket_key);
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

Object Context::wrap_bio(MemoryBIO incoming, MemoryBIO outgoing, bool server_side,
                         std::optional<std::string> server_hostname,
                         std::optional<Session> session) const {
  const State& cs = *state_;
  if (server_side && cs.protocol == Protocol::tls_client) {
    throw std::invalid_argument("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  }
  if (!server_side && cs.protocol == Protocol::tls_server) {
    throw std::invalid_argument("Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  }
  if (server_hostname) {
    const std::string& name = *server_hostname;
    if (server_side) {
      throw std::invalid_argument("server_hostname can only be specified in client mode");
    }
    if (name.empty() || name.front() == '.') {
      throw std::invalid_argument(
          "server_hostname cannot be an empty string or start with a leading dot.");
    }
    if (name.find('\0') != std::string::npos) {
      throw std::invalid_argument("server_hostname must not contain NUL bytes");
    }
    if (!is_ascii(name)) {
      throw std::invalid_argument(
          "server_hostname must be ASCII: IDNA-encode internationalized names (xn--...)");
    }
  } else if (!server_side && cs.check_hostname) {
    throw std::invalid_argument("check_hostname requires server_hostname");
  }

  Object object = ObjectAccess::make(*this, std::move(incoming), std::move(outgoing), server_side,
                                     std::move(server_hostname));
  if (session) object.set_session(*session);
  return object;
}

}  // namespace sanstls
