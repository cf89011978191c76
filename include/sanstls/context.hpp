// sanstls/context.hpp: TLS configuration shared by many connections, as
// Python's ssl.SSLContext.
//
// Example:
//   // A server: certificate and key from PEM files.
//   sanstls::Context server_ctx(sanstls::Protocol::tls_server);
//   // server_ctx.load_cert_chain("cert.pem", "key.pem");
//   server_ctx.set_alpn_protocols({"h2", "http/1.1"});
//
//   // A client: verifies the server's chain and name, as Python's
//   // PROTOCOL_TLS_CLIENT does.
//   sanstls::Context client_ctx(sanstls::Protocol::tls_client);
//   // client_ctx.load_verify_locations({.cafile = "ca.pem"});
//   client_ctx.set_minimum_version(sanstls::TLSVersion::tlsv1_2);
//   // Connections come from wrap_bio(); see object.hpp.
//
// A Context is a cheap handle: copies share one configuration, and every
// Object and Session made from it keeps it alive; the last of them may go
// on any thread.
//
// Threads: configure a Context first, then use it from any number of
// threads at once. Using it means wrap_bio(), the connections it made
// (which run its callbacks and fill its session cache and counters),
// Session::from_bytes(), copying the handle, and every const call: the
// getters, get_ciphers, cert_store_stats, get_ca_certs and session_stats.
// What connections change in it has locks or atomics of its own (the
// session cache and counters, the certificates it keeps parsed, the key
// log file, the record of used 0-RTT tickets). Of the calls that change
// the configuration only set_ticket_keys may run while connections do, so
// that a server can rotate its keys; every other set_* and load_* call
// must be done before the Context is shared, as with OpenSSL, or kept
// apart from every other use of it by the caller. Its callbacks run on
// the threads of the engine calls that need them, for many Objects at once
// (callbacks.hpp). A Context variable follows the rules of any object: one
// thread may not assign to it while another reads it.
#ifndef SANSTLS_CONTEXT_HPP
#define SANSTLS_CONTEXT_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sanstls/callbacks.hpp>
#include <sanstls/certificate.hpp>
#include <sanstls/constants.hpp>
#include <sanstls/ech.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/session.hpp>

// sanstls is the engine (library sanstls): Python's ssl module on BoringSSL,
// without I/O. A Context configures, wrap_bio() makes an Object, and the
// caller moves bytes through its two MemoryBIOs.
namespace sanstls {

class Object;

// Protocol is Python's PROTOCOL_* constant, with Python's values.
enum class Protocol : int {
  tls = 2,          // PROTOCOL_TLS: client or server, any version
  sslv23 = 2,       // PROTOCOL_SSLv23: Python's older name for PROTOCOL_TLS
  tls_client = 16,  // PROTOCOL_TLS_CLIENT: client only; verifies by default
  tls_server = 17,  // PROTOCOL_TLS_SERVER: server only
  tls1 = 3,         // PROTOCOL_TLSv1: TLS 1.0 only (legacy)
  tls1_1 = 4,       // PROTOCOL_TLSv1_1: TLS 1.1 only (legacy)
  tls1_2 = 5,       // PROTOCOL_TLSv1_2: TLS 1.2 only (legacy)
};

// VerifyMode is Python's CERT_* constant.
enum class VerifyMode : int {
  cert_none = 0,      // do not ask for or check the peer's certificate
  cert_optional = 1,  // check the certificate if one is sent (clients: required)
  cert_required = 2,  // the peer must send a certificate that verifies
};

// TLSVersion is Python's ssl.TLSVersion, with its values.
enum class TLSVersion : int {
  minimum_supported = -2,
  maximum_supported = -1,
  sslv3 = 0x0300,  // never supported by BoringSSL; rejected with an error
  tlsv1 = 0x0301,
  tlsv1_1 = 0x0302,
  tlsv1_2 = 0x0303,
  tlsv1_3 = 0x0304,
};

// Options is Python's ssl.Options (OP_*), with the values of Python 3.7 on
// OpenSSL 1.1.1. Bits BoringSSL has no use for are kept and reported back.
enum class Options : std::uint64_t {
  none = 0,
  all = 0x80000054,  // OP_ALL: workarounds; BoringSSL needs none of them
  no_sslv2 = 0,      // OP_NO_SSLv2: SSLv2 does not exist any more
  no_sslv3 = 0x02000000,
  no_tlsv1 = 0x04000000,
  no_tlsv1_1 = 0x10000000,
  no_tlsv1_2 = 0x08000000,
  no_tlsv1_3 = 0x20000000,
  no_compression = 0x00020000,  // BoringSSL never compresses
  no_ticket = 0x00004000,
  cipher_server_preference = 0x00400000,
  single_dh_use = 0,
  single_ecdh_use = 0,
  enable_middlebox_compat = 0x00100000,  // BoringSSL: on unless TLS 1.3 variants say otherwise
  no_renegotiation = 0x40000000,
};

// VerifyFlags is Python's ssl.VerifyFlags (VERIFY_*), with its values.
enum class VerifyFlags : std::uint64_t {
  verify_default = 0,
  verify_crl_check_leaf = 0x4,        // the leaf must not be revoked (needs its CA's CRL)
  verify_crl_check_chain = 0xC,       // no certificate of the chain may be revoked
  verify_x509_strict = 0x20,          // BoringSSL is always strict: kept and reported
  verify_x509_trusted_first = 0x8000,  // prefer trusted certificates when building chains
};

// Purpose is Python's ssl.Purpose: what the peer's certificate must be good
// for. server_auth is what a client checks; client_auth what a server checks.
enum class Purpose : int {
  server_auth = 1,  // Purpose.SERVER_AUTH, OID 1.3.6.1.5.5.7.3.1
  client_auth = 2,  // Purpose.CLIENT_AUTH, OID 1.3.6.1.5.5.7.3.2
};

// Options and VerifyFlags combine like Python's enum.IntFlag members.
template <class E>
concept FlagEnum = std::is_same_v<E, Options> || std::is_same_v<E, VerifyFlags>;

// a | b sets the bits of both: Options::no_tlsv1 | Options::no_tlsv1_1.
template <FlagEnum E>
constexpr E operator|(E a, E b) noexcept {
  return static_cast<E>(static_cast<std::uint64_t>(a) | static_cast<std::uint64_t>(b));
}
// a & b keeps the bits set in both; has() tests for them.
template <FlagEnum E>
constexpr E operator&(E a, E b) noexcept {
  return static_cast<E>(static_cast<std::uint64_t>(a) & static_cast<std::uint64_t>(b));
}
// a ^ b flips in |a| the bits set in |b|.
template <FlagEnum E>
constexpr E operator^(E a, E b) noexcept {
  return static_cast<E>(static_cast<std::uint64_t>(a) ^ static_cast<std::uint64_t>(b));
}
// ~a inverts every bit: a & ~b clears in |a| the bits set in |b|.
template <FlagEnum E>
constexpr E operator~(E a) noexcept {
  return static_cast<E>(~static_cast<std::uint64_t>(a));
}
// a |= b adds the bits of |b| to |a|.
template <FlagEnum E>
constexpr E& operator|=(E& a, E b) noexcept {
  return a = a | b;
}
// a &= b clears in |a| the bits not set in |b|.
template <FlagEnum E>
constexpr E& operator&=(E& a, E b) noexcept {
  return a = a & b;
}
// has returns true when every bit of |flags| is set in |value|.
template <FlagEnum E>
constexpr bool has(E value, E flags) noexcept {
  return (value & flags) == flags;
}

// Password unlocks an encrypted private key: a fixed text, or a callback
// that is called only if the key turns out to be encrypted (as in Python).
class Password {
 public:
  // Callback returns the password. It is called only when the key turns
  // out to be encrypted; what it throws comes out of load_cert_chain.
  using Callback = std::function<std::string()>;
  // Password() means "no password": loading an encrypted key then fails.
  Password() = default;
  // Password(text) is a fixed password. The constructors are implicit so
  // that load_cert_chain(cert, key, "secret") reads as Python's call.
  Password(std::string_view text) : text_(text) {}  // NOLINT: implicit by design
  // As above, for |text| as a std::string.
  Password(const std::string& text) : text_(text) {}  // NOLINT: implicit by design
  // As above, for |text| as a string literal.
  Password(const char* text) : text_(text) {}       // NOLINT: implicit by design
  // Password(callback) asks |callback| for the password when it is needed.
  Password(Callback callback) : callback_(std::move(callback)) {}  // NOLINT

  // text returns the fixed password; nothing for none or a callback.
  const std::optional<std::string>& text() const noexcept { return text_; }
  // callback returns the password callback; empty unless one was given.
  const Callback& callback() const noexcept { return callback_; }

 private:
  std::optional<std::string> text_;
  Callback callback_;
};

// CaData is the cadata argument of load_verify_locations: PEM text (Python's
// str), which may hold several certificates, or DER bytes (Python's bytes),
// which may hold several concatenated certificates.
class CaData {
 public:
  // pem makes cadata from PEM |text|, one certificate or more.
  static CaData pem(std::string_view text) { return CaData(std::string(text), false); }
  // der makes cadata from DER |bytes|, one certificate or more back to back.
  static CaData der(std::span<const std::byte> bytes) {
    return CaData(std::string(as_string_view(bytes)), true);
  }
  // data returns the text or bytes as given.
  const std::string& data() const noexcept { return data_; }
  // is_der returns true for DER bytes, false for PEM text.
  bool is_der() const noexcept { return der_; }

 private:
  CaData(std::string data, bool der) : data_(std::move(data)), der_(der) {}
  std::string data_;
  bool der_;
};

// VerifyLocations are the arguments of load_verify_locations; at least one
// must be given.
struct VerifyLocations {
  std::optional<std::string> cafile{};  // a file of PEM certificates (and CRLs)
  std::optional<std::string> capath{};  // a directory in OpenSSL's hashed layout
  std::optional<CaData> cadata{};       // certificates in memory
};

// CertStoreStats is Python's cert_store_stats() dictionary: the trusted
// certificates and CRLs a Context holds. Certificates found in a capath
// directory are only read when a handshake needs them, so they are not
// counted until then (as with OpenSSL).
struct CertStoreStats {
  std::size_t x509 = 0;     // certificates
  std::size_t crl = 0;      // certificate revocation lists
  std::size_t x509_ca = 0;  // certificates that are CAs

  // Two stats are equal when all three counts are.
  bool operator==(const CertStoreStats&) const = default;
};

// DefaultVerifyPaths is Python's ssl.DefaultVerifyPaths: where
// set_default_verify_paths() looks for trusted CAs.
struct DefaultVerifyPaths {
  std::optional<std::string> cafile;  // the file used, if it exists
  std::optional<std::string> capath;  // the directory used, if it exists
  std::string openssl_cafile_env;     // "SSL_CERT_FILE": overrides openssl_cafile
  std::string openssl_cafile;         // the built-in default file
  std::string openssl_capath_env;     // "SSL_CERT_DIR": overrides openssl_capath
  std::string openssl_capath;         // the built-in default directory

  // Two results are equal when every path is.
  bool operator==(const DefaultVerifyPaths&) const = default;
};

// get_default_verify_paths returns the default CA locations, as Python's:
// $SSL_CERT_FILE and $SSL_CERT_DIR when set, else the built-in defaults.
// Like create_default_context, which reads $SSLKEYLOGFILE, it may run on
// any thread, as long as none changes the environment (setenv) meanwhile.
// BoringSSL's own built-in file, /etc/ssl/cert.pem, is missing on Debian
// and others, so the built-in file is the first that exists of
// /etc/ssl/certs/ca-certificates.crt (Debian, Ubuntu, Arch),
// /etc/pki/tls/certs/ca-bundle.crt (Fedora, RHEL), /etc/ssl/ca-bundle.pem
// (openSUSE) and /etc/ssl/cert.pem (Alpine, BoringSSL's default, also
// reported when none exists); the directory is /etc/ssl/certs.
DefaultVerifyPaths get_default_verify_paths();

// CipherDescription is one entry of Context::get_ciphers(): Python's
// dictionary for a cipher suite.
struct CipherDescription {
  std::uint32_t id = 0;          // 0x0300C02B: 0x03000000 | the IANA value
  std::string name;              // "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"
  std::string protocol;          // the lowest version that defines it: "TLSv1.2", "TLSv1.3"
  std::string description;       // OpenSSL's one-line description
  // strength_bits is the suite's effective key strength in bits.
  int strength_bits = 0;
  // alg_bits is the key size of its cipher in bits, at least strength_bits.
  int alg_bits = 0;
  // aead is true for AEAD suites (AES-GCM, ChaCha20-Poly1305): they have
  // no separate digest.
  bool aead = false;
  std::optional<std::string> symmetric;  // "aes-128-gcm"
  std::optional<std::string> digest;     // "sha256", none for AEAD suites
  std::optional<std::string> kea;        // "kx-ecdhe", "kx-any" for TLS 1.3
  std::optional<std::string> auth;       // "auth-ecdsa", "auth-any" for TLS 1.3

  // Two descriptions are equal when every field is.
  bool operator==(const CipherDescription&) const = default;
};

// ContentType is the record or message type a message callback sees, with
// Python 3.8's ssl._TLSContentType values.
enum class ContentType : int {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
  header = 0x100,              // a record header
  // Python's inner content type of a TLS 1.3 record. BoringSSL never
  // reports that; it uses 0x101 for an ECH ClientHelloInner.
  inner_content_type = 0x101,
};

// MessageInfo is what a message callback is told about one protocol
// message, as Python 3.8's SSLContext._msg_callback(conn, direction,
// version, content_type, msg_type, data). Values BoringSSL reports that
// have no enumerator are kept as they are.
struct MessageInfo {
  bool sent = false;         // direction: "write" when true, "read" when false
  bool server_side = false;  // the connection's side
  // The connection's version; for a header, the version the header carries
  // (TLS 1.0 in a ClientHello's, TLS 1.2 in TLS 1.3's records).
  TLSVersion version = TLSVersion::minimum_supported;
  // content_type is what kind of message it is; a record header reports
  // header.
  ContentType content_type = ContentType::handshake;
  // As Python's: the message type for a handshake message (1 ClientHello,
  // 2 ServerHello, 20 Finished, ...), the alert description (the second
  // byte) for an alert, 0x0101 for a ChangeCipherSpec, the record's content
  // type for a header; -1 otherwise.
  int msg_type = 0;
  // The whole message (a handshake message with its 4-byte header, the 2
  // bytes of an alert, the 5 bytes of a record header), valid only during
  // the callback.
  std::span<const std::byte> data;
};

// SessionStats is Python's session_stats() dictionary for a Context,
// counted by sanstls itself (BoringSSL reports most of them as 0).
struct SessionStats {
  std::size_t number = 0;               // sessions in the server-side cache
  std::size_t connect = 0;              // client handshakes started
  std::size_t connect_good = 0;         // client handshakes completed
  std::size_t connect_renegotiate = 0;  // client renegotiations started
  std::size_t accept = 0;               // server handshakes started
  std::size_t accept_good = 0;          // server handshakes completed
  std::size_t accept_renegotiate = 0;   // always 0: BoringSSL servers never renegotiate
  std::size_t hits = 0;                 // server handshakes that resumed a session
  std::size_t misses = 0;               // server handshakes offered a session it could not resume
  std::size_t timeouts = 0;             // of those, sessions that had expired
  std::size_t cache_full = 0;           // sessions evicted from a full server cache

  // Two stats are equal when every counter is.
  bool operator==(const SessionStats&) const = default;
};

// TicketKey is one key for session tickets (RFC 5077): its 16-byte name,
// which the ticket carries, and the 16-byte HMAC and AES keys.
struct TicketKey {
  // name identifies the key: tickets carry it, so a server knows which
  // key to open them with.
  std::array<std::byte, 16> name{};
  // hmac_key authenticates the tickets issued under this key.
  std::array<std::byte, 16> hmac_key{};
  // aes_key encrypts them (AES-128-CBC, as BoringSSL's tickets).
  std::array<std::byte, 16> aes_key{};

  // generate returns a key made from the system's random generator.
  static TicketKey generate();

  // Two keys are equal when all 48 bytes are.
  bool operator==(const TicketKey&) const = default;
};

// Context is Python's SSLContext: the settings (certificates, trust,
// versions, callbacks) that the connections wrap_bio() makes share.
// Copies share one configuration; see the file comment on threads.
class Context {
 public:
  // Context creates a context for |protocol| with Python 3.7's defaults:
  // options OP_ALL | OP_NO_SSLv2 | OP_NO_SSLv3 | OP_NO_COMPRESSION |
  // OP_CIPHER_SERVER_PREFERENCE | OP_ENABLE_MIDDLEBOX_COMPAT, Python's
  // default cipher string, and for tls_client verify_mode cert_required with
  // check_hostname on (cert_none and off otherwise). Throws SSLError if
  // BoringSSL cannot allocate the context.
  explicit Context(Protocol protocol = Protocol::tls);

  // protocol returns the protocol the context was made for.
  Protocol protocol() const noexcept;

  // verify_mode returns whether and how peers' certificates are checked.
  VerifyMode verify_mode() const noexcept;
  // set_verify_mode changes it. Throws std::invalid_argument("Cannot set
  // verify_mode to CERT_NONE when check_hostname is enabled.") when asked for
  // cert_none while check_hostname is on, as Python does.
  void set_verify_mode(VerifyMode mode);

  // check_hostname returns whether wrap_bio's server_hostname is verified
  // against the server's certificate.
  bool check_hostname() const noexcept;
  // set_check_hostname turns hostname checking on or off. Turning it on while
  // verify_mode is cert_none upgrades verify_mode to cert_required.
  void set_check_hostname(bool enabled);

  // options returns every OP_* bit set, including those BoringSSL ignores.
  Options options() const noexcept;
  // set_options replaces the options. Bits BoringSSL implements take effect
  // (no_tlsv1*, no_ticket, cipher_server_preference; no_renegotiation turns
  // client renegotiation off); the others are remembered and reported.
  void set_options(Options options);

  // minimum_version returns the lowest version allowed, minimum_supported
  // when none was set.
  TLSVersion minimum_version() const noexcept;
  // set_minimum_version sets it. Throws std::invalid_argument for a context
  // whose protocol pins a version (tls1, tls1_1, tls1_2), as Python, and for
  // SSLv3, which BoringSSL does not implement.
  void set_minimum_version(TLSVersion version);
  // maximum_version returns the highest version allowed, maximum_supported
  // when none was set.
  TLSVersion maximum_version() const noexcept;
  // set_maximum_version sets it, with the same errors as set_minimum_version.
  void set_maximum_version(TLSVersion version);

  // load_cert_chain loads this side's certificate chain from |certfile| (PEM:
  // the certificate, then its intermediates; it may also hold the key) and
  // the private key from |keyfile| (or from certfile when keyfile is empty).
  // |password| decrypts an encrypted key. Throws std::system_error when a
  // file cannot be read; SSLError with reason PEM_LIB ("[SSL] PEM lib: ...",
  // naming what was wrong and BoringSSL's finding) for broken PEM, a missing
  // key, a wrong or missing password; SSLError "[X509: KEY_VALUES_MISMATCH]
  // key values mismatch" for a key that does not belong to the certificate;
  // std::invalid_argument for a password longer than 1024 bytes; and
  // whatever a password callback throws. On failure the previous
  // certificate and key stay in place.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile = {},
                       const Password& password = {});

  // load_cert_chain_pem does the same from PEM text in memory (an extension
  // of Python's API): |key_pem| empty means the key is in |cert_pem|.
  void load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem = {},
                           const Password& password = {});

  // load_cert_chain_with_signer loads this side's certificate chain from
  // |certfile| (PEM, the leaf first) without a private key: |signer|
  // performs every operation the key is needed for (callbacks.hpp), at once
  // or later (Status::want_private_key). The key can stay in an HSM, a KMS
  // or another process. The signer is asked only for the signature schemes
  // of the leaf's key: for RSA rsa_pss_rsae_sha256/384/512 and
  // rsa_pkcs1_sha256/384/512 (and rsa_pkcs1_sha1 for old TLS 1.2 peers),
  // and raw decryption for TLS 1.2 RSA key exchange; for ECDSA its curve's
  // one scheme (P-256: ecdsa_secp256r1_sha256); for Ed25519 ed25519.
  // Throws as load_cert_chain does for the certificates, and
  // std::invalid_argument for an empty |signer| or a key of another type.
  //
  //   ctx.load_cert_chain_with_signer("chain.pem",
  //       [&hsm](sanstls::Object&, const sanstls::PrivateKeyRequest& r) {
  //         return sanstls::PrivateKeyReply::done(hsm.sign(r.algorithm, r.input));
  //       });
  void load_cert_chain_with_signer(const std::string& certfile, PrivateKeySigner signer);

  // load_cert_chain_pem_with_signer does the same from PEM text in memory.
  void load_cert_chain_pem_with_signer(std::string_view cert_pem, PrivateKeySigner signer);

  // load_verify_locations adds trusted CA certificates (and CRLs from
  // cafile). Throws std::invalid_argument when all three are omitted or
  // cadata is empty ("Empty certificate data", as Python), std::system_error
  // for a missing cafile or capath (ENOENT), a directory as cafile (EISDIR,
  // as Python) or a file as capath (ENOTDIR; OpenSSL would accept it and
  // find nothing), and SSLError for data holding no certificate ("[X509:
  // NO_CERTIFICATE_OR_CRL_FOUND]") or broken PEM/DER.
  void load_verify_locations(const VerifyLocations& locations);

  // load_default_certs trusts the system's CA certificates, as Python's on
  // Linux: set_default_verify_paths(). |purpose| is kept for Python's
  // signature; on Windows Python would pick a certificate store by it.
  void load_default_certs(Purpose purpose = Purpose::server_auth);

  // set_default_verify_paths trusts the certificates in the default file
  // and directory that get_default_verify_paths() names. Missing defaults
  // are not an error (there is nothing to trust then), as with OpenSSL; a
  // default file that holds broken PEM throws SSLError.
  void set_default_verify_paths();

  // cert_store_stats counts the trusted certificates and CRLs loaded so far.
  CertStoreStats cert_store_stats() const;

  // get_ca_certs returns the trusted CA certificates loaded so far (from
  // cafile or cadata; capath certificates only once a handshake used them),
  // decoded as getpeercert() decodes, or as DER with binary_form.
  std::vector<Certificate> get_ca_certs() const;
  // get_ca_certs(binary_form) returns the same certificates as DER.
  std::vector<std::string> get_ca_certs(binary_form_t) const;

  // verify_flags returns the VERIFY_* flags for certificate verification;
  // a new context has verify_x509_trusted_first, as Python's.
  VerifyFlags verify_flags() const noexcept;
  // set_verify_flags replaces them. CRL checks need the CRLs of the CAs
  // concerned, loaded with load_verify_locations(); a certificate whose
  // CRL is missing then fails with "unable to get certificate CRL".
  void set_verify_flags(VerifyFlags flags);

  // hostname_checks_common_name returns whether a certificate without DNS or
  // IP subjectAltName entries may match the host name by its subject's
  // commonName. True by default, as in Python 3.7; a certificate with such
  // entries is never matched by its commonName.
  bool hostname_checks_common_name() const noexcept;
  // set_hostname_checks_common_name turns that fallback on or off; it
  // applies to objects wrapped afterwards.
  void set_hostname_checks_common_name(bool enabled);

  // set_ciphers sets the TLS 1.2-and-below cipher suites in OpenSSL's cipher
  // list format. Throws SSLError("No cipher can be selected.") when nothing
  // matches; the previous list stays. TLS 1.3 suites are not affected.
  void set_ciphers(std::string_view cipher_list);

  // set_alpn_protocols sets the protocols to offer (client) or accept
  // (server), most preferred first. A server with no protocol in common with
  // the client continues without ALPN, as Python's. Throws
  // std::invalid_argument for an empty name or one longer than 255 bytes.
  void set_alpn_protocols(const std::vector<std::string>& protocols);

  // ---- Ciphers, groups, NPN, post-handshake authentication ------------

  // get_ciphers returns the cipher suites this context may negotiate, in
  // order of preference, with Python's fields: the TLS 1.2-and-below suites
  // set_ciphers() chose, then the TLS 1.3 suites (which BoringSSL always
  // enables and leaves out of its list) unless the maximum version or
  // no_tlsv1_3 excludes TLS 1.3. The TLS 1.3 suites come in the order a
  // BoringSSL client offers them (AES-128-GCM, AES-256-GCM, ChaCha20 with
  // AES hardware; ChaCha20 first without); OpenSSL lists them first. The
  // description is OpenSSL 1.1.1's line ("ECDHE-RSA-AES128-GCM-SHA256
  // TLSv1.2 Kx=ECDH Au=RSA Enc=AESGCM(128) Mac=AEAD", padded), not
  // BoringSSL's, and protocol the version that introduced the suite.
  std::vector<CipherDescription> get_ciphers() const;

  // set_ecdh_curve limits key exchange, on both sides, to the named group:
  // "prime256v1" or "P-256", "secp384r1" or "P-384", "secp521r1" or
  // "P-521", "secp224r1" or "P-224", "X25519" (case matters, as with
  // Python's OBJ_sn2nid; the NIST names are an extension). Throws
  // std::invalid_argument("unknown elliptic curve name 'x'") otherwise, as
  // Python's ValueError, also for curves OpenSSL has and BoringSSL lacks
  // (brainpool, secp256k1, X448, ffdhe*). Peers with no group in common
  // fail the handshake, unless TLS 1.2 with RSA key exchange remains.
  void set_ecdh_curve(std::string_view curve_name);

  // load_dh_params reads Diffie-Hellman parameters from a PEM file, as
  // Python does, then throws NotImplementedError: BoringSSL has no DHE
  // cipher suites to use them with. A file that cannot be read or parsed
  // throws what Python raises for it: std::system_error (ENOENT for a
  // missing file, EISDIR for a directory) or SSLError ("[PEM:
  // NO_START_LINE] no start line", "[PEM: BAD_BASE64_DECODE] bad base64
  // decode", ...).
  void load_dh_params(const std::string& path);

  // post_handshake_auth returns nothing: BoringSSL has no TLS 1.3
  // post-handshake authentication, so the setting does not exist, as in a
  // Python built without it (HAS_PHA is false).
  std::optional<bool> post_handshake_auth() const noexcept;
  // set_post_handshake_auth accepts false and throws NotImplementedError for
  // true.
  void set_post_handshake_auth(bool enabled);

  // set_npn_protocols sets the Next Protocol Negotiation protocols (TLS 1.2
  // and below), most preferred first; ALPN is the standard way. A client
  // offers NPN and picks the first of the server's protocols it also has,
  // or else its own first, as OpenSSL and Python; a server advertises them.
  // An empty list turns NPN off. A server ignores NPN in TLS 1.3, and when
  // it has ALPN protocols and the ClientHello carries ALPN, even if ALPN
  // then does not agree (BoringSSL; OpenSSL would go on with NPN). Throws
  // std::invalid_argument for an empty name or one longer than 255 bytes;
  // the previous list stays.
  void set_npn_protocols(const std::vector<std::string>& protocols);

  // ---- Key logging and message tracing ---------------------------------

  // keylog_filename returns the file TLS secrets are appended to, if any.
  const std::optional<std::string>& keylog_filename() const noexcept;
  // set_keylog_filename appends the secrets the connections of this context
  // derive from now on to |path| in the NSS key log format (for Wireshark),
  // or stops with nullopt. The file is opened once and created with mode
  // 0600 if it does not exist (Python's gets the umask's mode); when it is
  // empty, Python's header line "# TLS secrets log file, generated by
  // OpenSSL / Python" is written first. Each line is written whole and
  // flushed in one write, under a lock, so connections on any number of
  // threads, and other contexts or processes appending to the same file,
  // never interleave within a line; write errors are ignored. Throws
  // std::system_error (errno, naming |path|) when the file cannot be opened
  // for appending, and the previous setting stays. A connection that
  // Object::set_context switched logs to the new context's file. Anyone who
  // can read the file can decrypt the traffic.
  void set_keylog_filename(std::optional<std::string> path);
  // set_keylog_callback hands every key log line (without its newline) to
  // |callback| as well as to the file, on the thread the connection runs
  // on, so for connections on several threads at once; an exception it
  // throws is swallowed. An empty function removes it.
  void set_keylog_callback(std::function<void(std::string_view line)> callback);

  // set_msg_callback calls |callback| for every protocol message sent or
  // received (record headers and handshake messages included), for
  // debugging, as Python 3.8's _msg_callback; an empty function removes it.
  // It applies to connections wrapped after it is set (BoringSSL copies it
  // into each connection) and runs on the thread the connection runs on,
  // for connections on several threads at once.
  // An exception thrown by the callback is swallowed: it must not break
  // the connection. A TLS 1.3 connection that has the callback when its
  // handshake ends keeps BoringSSL's record layer, which reports every
  // record, rather than sanstls's faster one (see boringssl.hpp).
  void set_msg_callback(std::function<void(const MessageInfo& message)> callback);

  // ---- OCSP stapling and certificate transparency ------------------------
  //
  //   server_ctx.set_ocsp_response(sanstls::as_bytes(ocsp_der));  // refreshed by the application
  //   client_ctx.set_ocsp_stapling_requested(true);
  //   ...  // after the handshake, or in a verify callback:
  //   std::optional<std::string> staple = client.ocsp_response();

  // set_ocsp_response makes a server staple |der|, a DER-encoded
  // OCSPResponse for this Context's certificate (RFC 6066 section 8; in TLS
  // 1.3 it travels in the Certificate message), to every handshake whose
  // client asks for one; std::nullopt staples nothing (the default). The
  // bytes are sent as given: sanstls does not parse them, and keeping them
  // fresh (OCSP responses expire within days) is the application's job. It
  // applies to connections wrapped afterwards, and a connection that
  // switches Context (Object::set_context, from an SNI or ClientHello
  // callback) staples the new Context's. Throws std::invalid_argument for
  // an empty response, which a client could not tell from none.
  void set_ocsp_response(std::optional<std::span<const std::byte>> der);
  // ocsp_response returns what set_ocsp_response set.
  const std::optional<std::string>& ocsp_response() const noexcept;

  // set_signed_certificate_timestamps makes a server send |list|, a
  // SignedCertificateTimestampList (RFC 6962 section 3.3: a 2-byte length,
  // then each SCT with a 2-byte length), in the signed_certificate_timestamp
  // extension to clients that ask; std::nullopt sends none. Like the OCSP
  // response it is sent as given, applies to connections wrapped
  // afterwards, and follows Object::set_context. Throws
  // std::invalid_argument for a list that is empty, holds an empty SCT or
  // does not parse.
  void set_signed_certificate_timestamps(std::optional<std::span<const std::byte>> list);
  // signed_certificate_timestamps returns what
  // set_signed_certificate_timestamps set.
  const std::optional<std::string>& signed_certificate_timestamps() const noexcept;

  // set_ocsp_stapling_requested makes a client ask servers to staple an
  // OCSP response (the status_request extension); default off. What the
  // server sent is Object::ocsp_response(). A staple that is missing or
  // bad does not fail the handshake by itself: a verify callback
  // (set_verify_callback) that wants one rejects the connection.
  void set_ocsp_stapling_requested(bool requested);
  // ocsp_stapling_requested returns whether a client asks for a staple.
  bool ocsp_stapling_requested() const noexcept;

  // set_signed_certificate_timestamps_requested makes a client ask for
  // SCTs (the signed_certificate_timestamp extension); default off. What the
  // server sent is Object::signed_certificate_timestamps().
  void set_signed_certificate_timestamps_requested(bool requested);
  // signed_certificate_timestamps_requested returns whether a client asks
  // for SCTs.
  bool signed_certificate_timestamps_requested() const noexcept;

  // ---- Certificate compression (RFC 8879) --------------------------------
  //
  //   using sanstls::CertificateCompression;
  //   server_ctx.set_certificate_compression({CertificateCompression::brotli, CertificateCompression::zlib});
  //   client_ctx.set_certificate_compression({CertificateCompression::brotli});
  //   ...  // after the handshake, on either side:
  //   if (client.certificate_compression() == CertificateCompression::brotli) { /* it went compressed */ }

  // set_certificate_compression turns on certificate compression with
  // |algorithms|, the most preferred first. A client offers them (in the
  // compress_certificate extension) and can then receive a compressed
  // certificate; a server compresses its certificate with the first of its
  // algorithms the client offers. Both sides must turn it on, and only TLS
  // 1.3 server certificates are compressed (BoringSSL neither asks for nor
  // sends compressed client certificates); a peer without it just gets the
  // certificate as it is. Off by default. A server compresses each
  // certificate once per algorithm and keeps the result (a few entries per
  // Context), so a handshake pays only a comparison for it.
  //
  // BoringSSL cannot take an algorithm back: the list is fixed by the
  // first call with a non-empty list. Calling again with the same list
  // does nothing; with another list it throws std::logic_error. Throws
  // std::invalid_argument for a value that is not a CertificateCompression
  // or is given twice. The Context the ClientHello arrives at negotiates
  // compression (BoringSSL reads the extension before the SNI callback
  // runs), so Object::set_context from an SNI callback throws
  // std::logic_error when the new Context lacks the algorithm already
  // agreed on; switching from a ClientHello callback has no such limit.
  void set_certificate_compression(std::vector<CertificateCompression> algorithms);
  // certificate_compression returns the algorithms set, in order; empty
  // when compression is off.
  const std::vector<CertificateCompression>& certificate_compression() const noexcept;

  // ---- Encrypted Client Hello (ECH) ---------------------------------------
  //
  //   server_ctx.set_ech_keys(sanstls::EchKeys::from_pem(key_file_text));   // ech.hpp
  //   client_ctx.set_ech_config_list(sanstls::as_bytes(config_list));     // from DNS
  //   ...  // after the handshake, on either side:
  //   bool hidden = client.ech_accepted();

  // set_ech_keys makes a server decrypt ClientHellos encrypted to any of
  // |keys| (a client's configuration names the key by its config id): the
  // connection then goes on with the inner ClientHello, whose server name
  // the SNI and ClientHello callbacks see, and Object::ech_accepted() is
  // true, in those callbacks already. A ClientHello that no key decrypts
  // is answered from the outer ClientHello, with |keys|' retry configs
  // (EchKeys::config_list) for the client to try again with; the
  // certificate for the public name must then be this Context's. Unlike
  // the other setters it may be called while connections run, to rotate
  // keys; each handshake uses the keys set when it started. The Context a
  // connection was wrapped with decrypts: a Context an SNI or ClientHello
  // callback switches to comes too late for it. Throws
  // std::invalid_argument when no key is a retry config.
  void set_ech_keys(const EchKeys& keys);

  // set_ech_config_list makes a client offer ECH with |list|, an
  // ECHConfigList as a server publishes it (EchKeys::config_list, a DNS
  // HTTPS record's "ech" value): the ClientHello with the real server name
  // is encrypted, and the outer one names the configuration's public name.
  // Only TLS 1.3 has ECH, and a list none of whose configurations this
  // BoringSSL supports means no ECH. When the server cannot decrypt it,
  // the handshake runs with the outer ClientHello, verifies the server's
  // certificate for the public name instead of server_hostname, and then
  // fails with the error "ECH_REJECTED", whose Error::ech_retry_configs
  // holds the server's new list: try again with it (an empty one means the
  // server turned ECH off: try again without). std::nullopt offers none
  // (the default). Applies to connections wrapped afterwards, and to a
  // client Object that switches to this Context before its handshake; one
  // that switches from a Context with a list to one without keeps the
  // list (BoringSSL cannot take it back). Throws std::invalid_argument for
  // a list that does not parse.
  void set_ech_config_list(std::optional<std::span<const std::byte>> list);
  // ech_config_list returns what set_ech_config_list set.
  const std::optional<std::string>& ech_config_list() const noexcept;

  // set_ech_grease makes a client without an ECHConfigList send a random
  // ("GREASE") ECH extension, so that connections that use ECH do not
  // stand out; default off. Applies to connections wrapped afterwards.
  void set_ech_grease(bool grease);
  // ech_grease returns whether a client sends GREASE ECH.
  bool ech_grease() const noexcept;

  // ---- Sessions and SNI -------------------------------------------------

  // num_tickets returns how many TLS 1.3 session tickets a server sends
  // right after each handshake: 2 unless set (Python 3.8's
  // SSLContext.num_tickets).
  std::size_t num_tickets() const noexcept;
  // set_num_tickets sets that number for every handshake that has not sent
  // its tickets yet (after an SNI callback switched contexts, the original
  // context's number counts, as its ticket keys do); 0 sends none. Each
  // ticket costs the server an encryption and the client a session to
  // parse, so a server whose clients keep one session can send 1.
  // BoringSSL sends at most 16 whatever the setting, which is still
  // reported as set. Throws std::invalid_argument("SSLContext is not a
  // server context.") unless the protocol is tls_server, as Python.
  void set_num_tickets(std::size_t n);

  // session_stats returns the session counters.
  SessionStats session_stats() const;

  // session_cache_size returns how many sessions a server's cache holds at
  // most: 20,480 unless set, 0 for no bound.
  std::size_t session_cache_size() const noexcept;
  // set_session_cache_size bounds the server-side session cache (not in
  // Python's ssl; OpenSSL's SSL_CTX_sess_set_cache_size), as configuration
  // before connections run. Only TLS 1.2 sessions resumed by session ID
  // live there: with TLS 1.3, or TLS 1.2 tickets, the client carries its
  // session and the server keeps nothing. A full cache drops its oldest
  // entry, however recently that was resumed, and counts it in
  // session_stats().cache_full; 0 lets the cache grow without bound.
  void set_session_cache_size(std::size_t n);

  // set_ticket_keys makes a server encrypt its session tickets with
  // keys[0] and accept tickets under any of |keys| (a fleet of servers
  // shares them; to rotate, put the new key first and keep the old ones for
  // a ticket lifetime). A ticket under an older key is accepted and
  // replaced by one under keys[0]. Throws std::invalid_argument for an
  // empty list. The first call is configuration; later ones, the
  // rotations, may run while other threads handshake with this Context:
  // each handshake seals or opens a ticket with the whole list that was
  // current when it got there.
  void set_ticket_keys(std::span<const TicketKey> keys);

  // SNICallback is called on the server with the Object being handshaked,
  // the server name the client asked for (none when it sent none) and this
  // context. It may switch the Object to another context
  // (Object::set_context, for another certificate) and returns nothing to
  // go on, or an alert to abort the handshake with. An exception escaping
  // it aborts the handshake with handshake_failure. It runs inside the
  // engine call, on that call's thread, as the callbacks of callbacks.hpp.
  using SNICallback = std::function<std::optional<AlertDescription>(
      Object& object, const std::optional<std::string>& server_name, const Context& context)>;
  // set_sni_callback installs |callback|, or removes it with an empty one.
  // Python's sni_callback.
  void set_sni_callback(SNICallback callback);
  // set_servername_callback is the same, under Python's older name.
  void set_servername_callback(SNICallback callback) { set_sni_callback(std::move(callback)); }

  // set_verify_callback installs |callback| to decide on the peer's
  // certificates after the built-in checks (callbacks.hpp), or removes it
  // with an empty one. It runs whenever the peer sends certificates: on a
  // client always, on a server when verify_mode asks for them. Its reject
  // ends the handshake with an SSLCertVerificationError carrying its
  // message (verify code X509_V_ERR_APPLICATION_VERIFICATION, 50); pending
  // makes the engine return Status::want_certificate_verify.
  //
  //   ctx.set_verify_callback([pin](sanstls::Object&, const sanstls::PeerCertificates& peer) {
  //     if (peer.verify_code != sanstls::VerifyCode::ok) {
  //       return sanstls::VerifyReply::reject(peer.verify_message);
  //     }
  //     if (sha256(peer.chain.front()) != pin) return sanstls::VerifyReply::reject("not the pinned key");
  //     return sanstls::VerifyReply::accept();
  //   });
  void set_verify_callback(VerifyCallback callback);

  // set_early_data_enabled turns TLS 1.3 early data (0-RTT) on or off
  // (default off). A server then issues tickets that allow up to 14,336
  // bytes of early data and accepts it on resumption (read it with
  // Object::read_early_data); a client offers it when resuming such a
  // session and sends what it write()s before the handshake completes
  // (Object::early_data says what became of it). Early data can be
  // replayed by an attacker: see set_early_data_single_use.
  void set_early_data_enabled(bool enabled);
  // early_data_enabled returns whether early data is on.
  bool early_data_enabled() const noexcept;

  // set_early_data_single_use (a server's, default on) accepts early data
  // at most once per ticket, in this Context, for 48 hours (BoringSSL's
  // ticket lifetime): a replayed ClientHello still resumes, but its early
  // data is rejected (reason "disabled"), as RFC 8446 section 8.1
  // describes. It remembers up to 65,536 tickets, and once full it refuses
  // all early data until entries expire. Servers that share tickets
  // across processes need a shared record of used tickets instead.
  void set_early_data_single_use(bool enabled);
  // early_data_single_use returns whether that replay check is on.
  bool early_data_single_use() const noexcept;

  // set_client_hello_callback installs |callback|, which a server calls
  // with each ClientHello before it chooses a certificate (callbacks.hpp),
  // or removes it with an empty one. It may switch the Object's Context
  // (Object::set_context), refuse with an alert, or answer later
  // (Status::want_client_hello). The SNI callback still runs afterwards,
  // with Python's semantics.
  void set_client_hello_callback(ClientHelloCallback callback);

  // wrap_bio creates a connection that reads the peer's bytes from
  // |incoming| and writes its own to |outgoing|. For a client,
  // |server_hostname| is sent as SNI (unless it is an IP address) and, when
  // check_hostname is on, is the name or IP address the certificate must
  // match. Throws std::invalid_argument, as Python's ValueError, when the
  // name is empty, starts with a dot or holds a NUL byte, when a client with
  // check_hostname has no server_hostname, or when server_side does not
  // match a tls_client / tls_server context. A client given |session|
  // offers it, as Object::set_session() (which also says what it throws).
  Object wrap_bio(MemoryBIO incoming, MemoryBIO outgoing, bool server_side = false,
                  std::optional<std::string> server_hostname = std::nullopt,
                  std::optional<Session> session = std::nullopt) const;


 private:
  struct State;
  friend struct ContextAccess;  // the engine reaches the SSL_CTX through it
  std::shared_ptr<State> state_;
};

// create_default_context returns a context with Python 3.7's
// ssl.create_default_context() settings: Protocol::tls with the default
// options; for Purpose::server_auth (a client) verify_mode cert_required
// and check_hostname on. The CA certificates come from |locations| when
// any is given, else, for a context that verifies, from the system
// (load_default_certs). A non-empty $SSLKEYLOGFILE turns on key logging to
// that file, as in Python 3.8. Throws what load_verify_locations and
// set_keylog_filename throw.
Context create_default_context(Purpose purpose = Purpose::server_auth,
                               const VerifyLocations& locations = {});

}  // namespace sanstls

#endif  // SANSTLS_CONTEXT_HPP
