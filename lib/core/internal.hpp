// Internal bridges between the public types and BoringSSL. Not installed.
#ifndef SANSTLS_LIB_CORE_INTERNAL_HPP
#define SANSTLS_LIB_CORE_INTERNAL_HPP

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>

namespace sanstls {

// MemoryBIOAccess hands BoringSSL a BIO that reads from and writes to a
// MemoryBIO's own buffer, so no bytes are copied through BIO_s_mem.
struct MemoryBIOAccess {
  using State = MemoryBIO::State;
  // new_bio returns a BIO bound to |bio|'s buffer; the BIO keeps the buffer
  // alive. Returns null on allocation failure.
  static bssl::UniquePtr<BIO> new_bio(const MemoryBIO& bio);
};

// traces_messages says whether |ssl|'s Context has a message-tracing
// callback (Context::set_msg_callback) installed (context_keylog.cpp).
bool traces_messages(const SSL* ssl) noexcept;

// certificate_pool is the process-wide pool every Context's SSL_CTX keeps
// certificates in: identical certificates, from any connection or file,
// share one CRYPTO_BUFFER, which is what lets ParsedCertificates find a
// certificate it has already parsed by pointer. Never freed (BoringSSL
// requires the pool to outlive every SSL_CTX, SSL and session).
CRYPTO_BUFFER_POOL* certificate_pool();

// ParsedCertificates keeps the X509 form of the last few certificates a
// Context verified, so a peer that presents the same chain again (every
// connection to the same server) is not parsed again, nor its extensions
// decoded again: about 190,000 instructions of a full handshake. Entries
// are found by CRYPTO_BUFFER pointer, which certificate_pool() makes equal
// for equal bytes while the entry holds its reference. Thread-safe: the
// Context, and so this cache, is shared by every Object made from it.
class ParsedCertificates {
 public:
  static constexpr std::size_t kCapacity = 16;
  // get returns |buffer| parsed (one reference for the caller), or null
  // when it is not a certificate (the error is queued).
  bssl::UniquePtr<X509> get(CRYPTO_BUFFER* buffer);

 private:
  struct Entry {
    bssl::UniquePtr<CRYPTO_BUFFER> buffer;
    bssl::UniquePtr<X509> cert;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
  std::size_t next_victim_ = 0;  // oldest entry once full: replaced in turn
};

// The VERIFY_* bits BoringSSL acts on; X509_V_FLAG_X509_STRICT is 0 there
// (always strict), so VERIFY_X509_STRICT is only kept and reported.
constexpr unsigned long kBoringSSLVerifyFlags =
    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_TRUSTED_FIRST;

// Context::State is the configuration behind every copy of a Context.
// BoringSSL keeps most of it in the SSL_CTX; what BoringSSL cannot report
// back as Python does (ignored option bits, "not set" version bounds,
// check_hostname) is tracked here.
struct Context::State {
  bssl::UniquePtr<SSL_CTX> ctx;
  // The SSL_CTX is made with TLS_with_buffers_method(): BoringSSL hands
  // over the peer's certificates as CRYPTO_BUFFERs and sanstls verifies
  // them (verify.cpp) against this store, with these flags and mode.
  bssl::UniquePtr<X509_STORE> store;
  // store_mutex keeps verifications and walks of the store's list of
  // certificates and CRLs apart. BoringSSL changes that list while it
  // verifies (a lookup sorts it; a capath lookup appends what it loads),
  // under a lock of its own that it does not export, so a walk
  // (cert_store_stats, get_ca_certs) could meet it half sorted or moved.
  // verify_peer_chain holds it shared, the walks exclusively.
  std::shared_mutex store_mutex;
  ParsedCertificates parsed;
  VerifyMode verify_mode = VerifyMode::cert_none;
  Protocol protocol = Protocol::tls;
  bool check_hostname = false;
  Options options = Options::none;
  TLSVersion minimum_version = TLSVersion::minimum_supported;
  TLSVersion maximum_version = TLSVersion::maximum_supported;
  unsigned int host_flags = 0;  // X509_CHECK_FLAG_*, for each connection's host check
  VerifyFlags verify_flags = VerifyFlags::verify_x509_trusted_first;
  std::size_t num_tickets = 2;  // BoringSSL has no getter

  // ALPN and NPN (context_alpn_npn.cpp): the protocols, length-prefixed as
  // on the wire.
  std::string alpn_wire;
  std::string npn_wire;

  // Key logging and message tracing (context_keylog.cpp): the file's name;
  // the file and the callbacks live with the hooks it keeps on the SSL_CTX.
  std::optional<std::string> keylog_filename;

  // OCSP stapling and certificate transparency (context_status.cpp): what
  // a server sends, applied to each SSL as it is wrapped or switched to
  // this Context (BoringSSL's SSL_CTX setters cannot be undone), and
  // whether a client asks.
  std::optional<std::string> ocsp_response;
  std::optional<std::string> sct_list;
  bool ocsp_requested = false;
  bool scts_requested = false;

  // Certificate compression (certificate_compression.cpp): the algorithms
  // registered on the SSL_CTX, in order, and the server's compressed
  // certificates, each kept for the Certificate message it was made from.
  std::vector<CertificateCompression> compression;
  struct CompressedCertificates {
    static constexpr std::size_t kCapacity = 8;
    struct Entry {
      CertificateCompression algorithm;
      std::string input;
      std::string output;
    };
    std::mutex mutex;
    std::vector<Entry> entries;
    std::size_t next_victim = 0;
  } compressed_certificates;

  // Encrypted Client Hello (ech.cpp): what a client offers; a server's
  // keys live in the SSL_CTX.
  std::optional<std::string> ech_config_list;
  bool ech_grease = false;

  // Sessions and SNI (context.cpp, object.cpp).
  Context::SNICallback sni_callback;

  // The application in the handshake (callbacks.hpp, object.cpp). A
  // signer replaces the private key: the SSL_CTX then has
  // ObjectAccess::kSignerMethod instead.
  PrivateKeySigner signer;
  VerifyCallback verify_callback;
  ClientHelloCallback client_hello_callback;

  // TLS 1.3 early data (object.cpp): on, and each ticket's early data
  // accepted once (used_tickets: SHA-256 of the PSK identity -> expiry).
  bool early_data = false;
  bool early_data_single_use = true;
  struct UsedTickets {
    static constexpr std::size_t kCapacity = 65536;
    static constexpr std::uint64_t kLifetime = 48 * 3600;
    std::mutex mutex;
    std::unordered_map<std::string, std::uint64_t> expiry;
    // first_use returns true the first time |identity| is seen (and
    // remembers it), false for a replay or when the record is full.
    bool first_use(std::string_view identity);
  } used_tickets;
  // Session ticket keys (set_ticket_keys), the newest first. The list is
  // replaced whole, never changed in place, so a server can rotate its keys
  // while handshakes on other threads seal and open tickets with the list
  // they took (on_ticket_key in context.cpp).
  struct TicketKeys {
    std::mutex mutex;
    // Null until the first set_ticket_keys, which alone installs the
    // SSL_CTX's ticket key callback.
    std::shared_ptr<const std::vector<TicketKey>> keys;
    // current returns the list in use, or null.
    std::shared_ptr<const std::vector<TicketKey>> current() {
      std::lock_guard lock(mutex);
      return keys;
    }
  } ticket_keys;
  struct Counters {
    std::atomic<std::size_t> connect{0}, connect_good{0}, connect_renegotiate{0};
    std::atomic<std::size_t> accept{0}, accept_good{0};
    std::atomic<std::size_t> hits{0}, misses{0}, timeouts{0}, cache_full{0};
  } counters;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  // The SSL_CTX goes last, and flushing its session cache calls back into
  // this State: unhook first.
  ~State();
};

struct ContextAccess {
  using State = Context::State;
  // state_of returns the State that owns |ctx| (kept in its ex_data), or
  // null while it is being destroyed.
  static Context::State* state_of(const SSL_CTX* ctx) noexcept;
  static Context::State& state(const Context& context) noexcept { return *context.state_; }
  static SSL_CTX* native(const Context& context) noexcept { return context.state_->ctx.get(); }
};

// apply_certificate_status gives |ssl| what |context| sends or asks for
// about certificate status: the server's OCSP response and SCT list, or
// the client's requests for them (context_status.cpp). Throws SSLError on
// allocation failure.
void apply_certificate_status(SSL* ssl, const ContextAccess::State& context, bool server_side);

// negotiated_compression returns the algorithm a server with |context|
// compresses its certificate with for a ClientHello that offered the
// algorithms in |offered| (bit 1 << code point), or nothing
// (certificate_compression.cpp).
std::optional<CertificateCompression> negotiated_compression(const ContextAccess::State& context,
                                                             unsigned offered) noexcept;

// compression_offered returns the algorithms sanstls knows of in a
// compress_certificate extension's body, as bits 1 << code point.
unsigned compression_offered(const std::uint8_t* data, std::size_t size) noexcept;

// apply_ech gives a client's |ssl| the ECHConfigList and GREASE setting of
// |context| (ech.cpp). Throws SSLError on allocation failure.
void apply_ech(SSL* ssl, const ContextAccess::State& context, bool server_side);

// ech_retry_configs returns the retry configs a server sent, for an
// ECH_REJECTED error (ech.cpp).
std::optional<std::string> ech_retry_configs(const SSL* ssl);

// ech_name_override returns the ECH public name a client must verify the
// server's certificate for, once the server rejected its ECH; else
// nothing.
std::optional<std::string> ech_name_override(const SSL* ssl);

// PeerCheck is what verify_peer_chain needs to know about one connection.
struct PeerCheck {
  bool server = false;               // verifying a client's certificate
  const std::string* host = nullptr;  // the name to match, or null for none
  bool host_is_ip = false;
  unsigned int host_flags = 0;        // X509_CHECK_FLAG_*
};

// PeerVerdict is verify_peer_chain's answer: X509_V_OK or an X509_V_ERR_*
// code, and a message where X509_verify_cert_error_string has none that
// fits (empty otherwise).
struct PeerVerdict {
  long code = X509_V_OK;
  std::string message;
};

// verify_peer_chain verifies |chain| (the peer's certificates, leaf first,
// as SSL_get0_peer_certificates gives them) against |context|'s trust
// store, flags and the peer check, as BoringSSL's X509-based method would:
// the same purpose ("ssl_server" or "ssl_client"), the same
// X509_verify_cert.
PeerVerdict verify_peer_chain(ContextAccess::State& context, const STACK_OF(CRYPTO_BUFFER)* chain,
                              const PeerCheck& check);

struct ObjectAccess {
  using State = Object::State;
  static SSL* native(const Object& object) noexcept;
  // state_of returns the State of the Object that owns |ssl|.
  static Object::State* state_of(const SSL* ssl) noexcept;
  // make creates the connection Context::wrap_bio returns, once wrap_bio
  // has checked its arguments against |context|.
  static Object make(const Context& context, MemoryBIO incoming, MemoryBIO outgoing,
                     bool server_side, std::optional<std::string> server_hostname);
  // on_new_session is the SSL_CTX's new-session callback: it keeps a
  // client's sessions (TLS 1.3 tickets arrive after the handshake).
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  // session_context_of returns the Context whose session cache and ticket
  // keys |ssl| uses: the one it was wrapped with, even after set_context.
  static const Context* session_context_of(const SSL* ssl) noexcept;
  // The SSL_CTX callbacks every Context installs that report to the
  // Object: SNI, and session counters (info and ClientHello).
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static void on_info(const SSL* ssl, int where, int value);
  static ssl_select_cert_result_t on_client_hello(const SSL_CLIENT_HELLO* hello);
  // on_verify is every Context's custom verify callback: it verifies the
  // peer's chain with verify_peer_chain and keeps the result for the
  // Object's errors.
  static ssl_verify_result_t on_verify(SSL* ssl, uint8_t* out_alert);
  // kSignerMethod is the private-key method of a Context whose key is its
  // signer's (load_cert_chain_with_signer): it asks the Context's signer
  // and keeps a pending answer's place in the Object.
  static const SSL_PRIVATE_KEY_METHOD kSignerMethod;
};

// wait_description says in words what |status| (one for which
// waits_for_application is true) waits for: "waiting for a private-key
// operation".
std::string_view wait_description(Status status) noexcept;

// cipher_of describes |cipher| as Object::cipher() reports it: the
// protocol is the version that introduced the suite, as Python's.
Cipher cipher_of(const SSL_CIPHER* cipher);

// describe_ciphers describes the suites |ctx| would offer, in order, as
// Context::get_ciphers() reports them.
std::vector<CipherDescription> describe_ciphers(const SSL_CTX* ctx);

// remember_client_hello sets |shared| to the cipher suites
// Object::shared_ciphers() reports for a server: the server's own suites,
// in its order, that the ClientHello offered (protocol ids). It must run
// while the ClientHello is visible (the select-certificate callback),
// because BoringSSL keeps no copy of the client's list and the server
// sheds its own once established.
void remember_client_hello(const SSL_CLIENT_HELLO* hello, std::vector<uint16_t>& shared);

// Session::State owns one SSL_SESSION and the Context it may be resumed in.
struct Session::State {
  State(bssl::UniquePtr<SSL_SESSION> s, const Context& c) : session(std::move(s)), context(c) {}
  bssl::UniquePtr<SSL_SESSION> session;
  Context context;
};

struct SessionAccess {
  static Session make(bssl::UniquePtr<SSL_SESSION> session, const Context& context) {
    return Session(std::make_shared<const Session::State>(std::move(session), context));
  }
  static const Session::State& state(const Session& session) noexcept { return *session.state_; }
};

// ErrorGuard empties BoringSSL's thread-local error queue when constructed
// and again when destroyed, so nothing one call leaves behind is ever seen
// by another object's call on the same thread. The queue is almost always
// empty already, and ERR_clear_error walks and resets every slot while
// ERR_peek_error only compares two indices: peeking first took about 600
// instructions off every read and write (callgrind, 64-byte records).
// Object::read_into and Object::write go without it: SSL_read and
// SSL_write empty the queue themselves when they start, and a failure's
// entries are taken into its Result.
class ErrorGuard {
 public:
  ErrorGuard() noexcept { clear(); }
  ~ErrorGuard() { clear(); }
  ErrorGuard(const ErrorGuard&) = delete;
  ErrorGuard& operator=(const ErrorGuard&) = delete;

 private:
  static void clear() noexcept {
    if (ERR_peek_error() != 0) ERR_clear_error();
  }
};

// error_from_code describes BoringSSL's packed error |code| as Python does:
// library and reason names and the "[LIB: REASON] text" message.
Error error_from_code(std::uint32_t code, ErrorKind kind = ErrorKind::ssl);

// take_error_code empties the error queue and returns its most telling
// entry: the newest with a specific reason, else the newest; 0 if empty.
std::uint32_t take_error_code();

// error_from_queue describes take_error_code()'s entry, or |fallback| as
// the message when the queue is empty.
Error error_from_queue(std::string_view fallback);

// plain_error makes an Error that has no BoringSSL code.
Error plain_error(ErrorKind kind, std::string message);

// throw_from_queue throws SSLError for the most recent queued error, with
// |fallback| as the message when the queue is empty.
[[noreturn]] void throw_from_queue(std::string_view fallback);

// read_file reads |path| as Python's open(path, "rb").read() would: a
// missing file is ENOENT, a directory EISDIR (fopen succeeds, the read
// fails), both as std::system_error.
std::string read_file(const std::string& path);

// read_private_key reads a PEM private key as load_cert_chain does,
// decrypting it with |password|; it throws load_cert_chain's PEM errors.
bssl::UniquePtr<EVP_PKEY> read_private_key(std::string_view pem, const Password& password);

// throw_pem_lib throws Python's "[SSL] PEM lib" SSLError, saying |what| was
// wrong and adding BoringSSL's queued detail.
[[noreturn]] void throw_pem_lib(std::string_view what);

// parse_ip returns the bytes of a strict IPv4 or IPv6 literal, or null for
// anything else (such as a host name).
bssl::UniquePtr<ASN1_OCTET_STRING> parse_ip(const std::string& text);

// inet_paton is ssl._inet_paton: the packed address (4 or 16 bytes) of the
// str (pystr::Text, text.hpp) |ipname|, an IPv4 address in dotted-quad
// form only or an IPv6 address. Throws std::invalid_argument (Python's
// ValueError) for anything else.
std::string inet_paton(const std::u32string& ipname);

}  // namespace sanstls

#endif  // SANSTLS_LIB_CORE_INTERNAL_HPP
