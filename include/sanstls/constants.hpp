// sanstls/constants.hpp: the constants of Python's ssl module: TLS alert
// descriptions, what this BoringSSL supports (HAS_*), its version, the
// SSL_ERROR_* numbers, and the RAND_* functions.
//
// Example:
//   // An SNI callback refuses an unknown name with Python's alert:
//   sanstls::AlertDescription alert = sanstls::AlertDescription::unrecognized_name;
//   (void)alert;
//
//   // Feature flags are compile-time constants, as Python's HAS_*:
//   if constexpr (sanstls::has_tlsv1_3) {
//     // a context may require TLS 1.3
//   }
//   std::string nonce = sanstls::rand_bytes(16);  // 16 bytes from BoringSSL's CSPRNG
//   sanstls::OpenSSLVersionInfo info = sanstls::openssl_version_info();  // (1, 1, 1, 7, 15)
//   (void)nonce; (void)info;
//
// Threads: the functions keep no state of their own (BoringSSL's random
// generator is thread-safe), so any number of threads may call them at
// once.
#ifndef SANSTLS_CONSTANTS_HPP
#define SANSTLS_CONSTANTS_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <sanstls/version.hpp>  // openssl_version(), boringssl_api_version()

namespace sanstls {

struct Error;  // error.hpp

// AlertDescription is Python's ssl.AlertDescription (ALERT_DESCRIPTION_*):
// the TLS alert a callback can send to abort a handshake, with the values
// of RFC 8446 and its predecessors.
enum class AlertDescription : int {
  close_notify = 0,
  unexpected_message = 10,
  bad_record_mac = 20,
  record_overflow = 22,
  decompression_failure = 30,
  handshake_failure = 40,
  bad_certificate = 42,
  unsupported_certificate = 43,
  certificate_revoked = 44,
  certificate_expired = 45,
  certificate_unknown = 46,
  illegal_parameter = 47,
  unknown_ca = 48,
  access_denied = 49,
  decode_error = 50,
  decrypt_error = 51,
  protocol_version = 70,
  insufficient_security = 71,
  internal_error = 80,
  user_cancelled = 90,
  no_renegotiation = 100,
  unsupported_extension = 110,
  certificate_unobtainable = 111,
  unrecognized_name = 112,
  bad_certificate_status_response = 113,
  bad_certificate_hash_value = 114,
  unknown_psk_identity = 115,
};


// ---- HAS_*: what this BoringSSL supports -------------------------------
//
// They say the truth for the BoringSSL sanstls is built on (Debian's
// android-libboringssl); lib/core/constants.cpp checks what its headers
// allow at compile time and test/constants_test.cpp checks each by a
// handshake.

// has_alpn is Python's HAS_ALPN: Application-Layer Protocol Negotiation
// (RFC 7301) works; see Context::set_alpn_protocols.
inline constexpr bool has_alpn = true;

// has_ecdh is Python's HAS_ECDH: elliptic-curve Diffie-Hellman key exchange
// (ECDHE suites, X25519 and the NIST curves) works; see
// Context::set_ecdh_curve.
inline constexpr bool has_ecdh = true;

// has_npn is Python's HAS_NPN: BoringSSL still implements Next Protocol
// Negotiation (TLS 1.2 and below); see Context::set_npn_protocols.
inline constexpr bool has_npn = true;

// has_sni is Python's HAS_SNI: a client sends its server_hostname as Server
// Name Indication (RFC 6066) and a server can see it.
inline constexpr bool has_sni = true;

// has_sslv2 is Python's HAS_SSLv2: false, BoringSSL has no SSL 2.0.
inline constexpr bool has_sslv2 = false;

// has_sslv3 is Python's HAS_SSLv3: false, BoringSSL has no SSL 3.0.
inline constexpr bool has_sslv3 = false;

// has_tlsv1 is Python's HAS_TLSv1: TLS 1.0 can be negotiated when a context
// allows it (Protocol::tls1, or a minimum_version of TLSVersion::tlsv1).
inline constexpr bool has_tlsv1 = true;

// has_tlsv1_1 is Python's HAS_TLSv1_1: TLS 1.1 can be negotiated when a
// context allows it.
inline constexpr bool has_tlsv1_1 = true;

// has_tlsv1_2 is Python's HAS_TLSv1_2: TLS 1.2 can be negotiated.
inline constexpr bool has_tlsv1_2 = true;

// has_tlsv1_3 is Python's HAS_TLSv1_3: TLS 1.3 can be negotiated (and is by
// default).
inline constexpr bool has_tlsv1_3 = true;

// has_never_check_common_name is Python's HAS_NEVER_CHECK_COMMON_NAME:
// Context::set_hostname_checks_common_name(false) works, so that a
// certificate's subject commonName is never matched against the host name.
inline constexpr bool has_never_check_common_name = true;

// has_ocsp_stapling: a server can staple an OCSP response and a client ask
// for and read one (Context::set_ocsp_response, set_ocsp_stapling_requested,
// Object::ocsp_response). Not in Python's ssl module.
inline constexpr bool has_ocsp_stapling = true;

// has_signed_certificate_timestamps: the same for certificate transparency
// SCTs in their TLS extension (Context::set_signed_certificate_timestamps,
// Object::signed_certificate_timestamps). Not in Python's ssl module.
inline constexpr bool has_signed_certificate_timestamps = true;

// has_certificate_compression: certificates can travel compressed (RFC
// 8879) with zlib and brotli, which sanstls is always built with
// (Context::set_certificate_compression, Object::certificate_compression).
// Not in Python's ssl module.
inline constexpr bool has_certificate_compression = true;

// has_ech: Encrypted Client Hello (draft-ietf-tls-esni-13) on both sides
// (EchKeys, Context::set_ech_keys, set_ech_config_list, set_ech_grease,
// Object::ech_accepted). Not in Python's ssl module.
inline constexpr bool has_ech = true;

// CertificateCompression is a certificate compression algorithm of RFC
// 8879, with its TLS code point. zstd (3) is not offered.
enum class CertificateCompression : std::uint16_t {
  zlib = 1,    // RFC 1950 zlib format (what OpenSSL 3.2 and others call "zlib")
  brotli = 2,  // RFC 7932, the one Chrome and Firefox offer
};

// certificate_compression_name returns "zlib" or "brotli", as the CLI and
// logs write it; "unknown" for any other value.
std::string_view certificate_compression_name(CertificateCompression algorithm) noexcept;

// has_pha is Python's HAS_PHA: false, BoringSSL has no TLS 1.3
// post-handshake client authentication (Context::set_post_handshake_auth
// refuses to turn it on).
inline constexpr bool has_pha = false;

// ---- OPENSSL_VERSION_*: the library's version ----------------------------
//
// openssl_version() (Python's OPENSSL_VERSION; "BoringSSL") and
// boringssl_api_version() are declared in version.hpp.

// OpenSSLVersionInfo is Python's OPENSSL_VERSION_INFO tuple: the five parts
// of an OpenSSL version number.
struct OpenSSLVersionInfo {
  // major is the first number of the release: 1 for 1.1.1g.
  int major = 0;
  // minor is the second number: 1 for 1.1.1g.
  int minor = 0;
  // fix is the third number: 1 for 1.1.1g (the letter is in patch).
  int fix = 0;
  int patch = 0;   // 1 for "a", 2 for "b", ... in OpenSSL 1.x
  int status = 0;  // 0 for development, 1-14 for betas, 15 for a release

  // Two versions are equal when all five parts are, as Python's tuples.
  bool operator==(const OpenSSLVersionInfo&) const = default;
};

// decode_openssl_version splits an OPENSSL_VERSION_NUMBER into its parts as
// CPython's _ssl module does: bits 28-35, 20-27, 12-19, 4-11 and 0-3
// (0x1010107f gives 1, 1, 1, 7, 15).
constexpr OpenSSLVersionInfo decode_openssl_version(std::uint32_t number) noexcept {
  return {static_cast<int>((number >> 28) & 0xFF), static_cast<int>((number >> 20) & 0xFF),
          static_cast<int>((number >> 12) & 0xFF), static_cast<int>((number >> 4) & 0xFF),
          static_cast<int>(number & 0xF)};
}

// openssl_version_number returns Python's OPENSSL_VERSION_NUMBER: the
// version number the BoringSSL loaded at run time claims
// (OpenSSL_version_num()), which is the OpenSSL release it is compatible
// with, 0x1010107f (1.1.1) for this one.
std::uint32_t openssl_version_number() noexcept;

// openssl_version_info returns Python's OPENSSL_VERSION_INFO:
// decode_openssl_version(openssl_version_number()).
OpenSSLVersionInfo openssl_version_info() noexcept;

// ---- X509_V_ERR_*: why a certificate chain failed verification ---------

// VerifyCode says why a certificate chain failed verification: OpenSSL's
// X509_V_ERR_* codes, with their values (BoringSSL keeps them), which
// Python reports as SSLCertVerificationError.verify_code. Each name is
// OpenSSL's without the X509_V_ERR_ prefix, in lower case:
// X509_V_ERR_CERT_HAS_EXPIRED is cert_has_expired. BoringSSL defines no
// code 55. A newer BoringSSL may report a value not listed here;
// verify_code_name() then returns an empty name.
enum class VerifyCode : long {
  ok = 0,
  unspecified = 1,
  unable_to_get_issuer_cert = 2,
  unable_to_get_crl = 3,
  unable_to_decrypt_cert_signature = 4,
  unable_to_decrypt_crl_signature = 5,
  unable_to_decode_issuer_public_key = 6,
  cert_signature_failure = 7,
  crl_signature_failure = 8,
  cert_not_yet_valid = 9,
  cert_has_expired = 10,
  crl_not_yet_valid = 11,
  crl_has_expired = 12,
  error_in_cert_not_before_field = 13,
  error_in_cert_not_after_field = 14,
  error_in_crl_last_update_field = 15,
  error_in_crl_next_update_field = 16,
  out_of_mem = 17,
  depth_zero_self_signed_cert = 18,
  self_signed_cert_in_chain = 19,
  unable_to_get_issuer_cert_locally = 20,
  unable_to_verify_leaf_signature = 21,
  cert_chain_too_long = 22,
  cert_revoked = 23,
  invalid_ca = 24,
  path_length_exceeded = 25,
  invalid_purpose = 26,
  cert_untrusted = 27,
  cert_rejected = 28,
  subject_issuer_mismatch = 29,
  akid_skid_mismatch = 30,
  akid_issuer_serial_mismatch = 31,
  keyusage_no_certsign = 32,
  unable_to_get_crl_issuer = 33,
  unhandled_critical_extension = 34,
  keyusage_no_crl_sign = 35,
  unhandled_critical_crl_extension = 36,
  invalid_non_ca = 37,
  proxy_path_length_exceeded = 38,
  keyusage_no_digital_signature = 39,
  proxy_certificates_not_allowed = 40,
  invalid_extension = 41,
  invalid_policy_extension = 42,
  no_explicit_policy = 43,
  different_crl_scope = 44,
  unsupported_extension_feature = 45,
  unnested_resource = 46,
  permitted_violation = 47,
  excluded_violation = 48,
  subtree_minmax = 49,
  application_verification = 50,
  unsupported_constraint_type = 51,
  unsupported_constraint_syntax = 52,
  unsupported_name_syntax = 53,
  crl_path_validation_error = 54,
  suite_b_invalid_version = 56,
  suite_b_invalid_algorithm = 57,
  suite_b_invalid_curve = 58,
  suite_b_invalid_signature_algorithm = 59,
  suite_b_los_not_allowed = 60,
  suite_b_cannot_sign_p_384_with_p_256 = 61,
  hostname_mismatch = 62,
  email_mismatch = 63,
  ip_address_mismatch = 64,
  invalid_call = 65,
  store_lookup = 66,
  name_constraints_without_sans = 67,
};

// verify_code_name returns OpenSSL's name for |code|, such as
// "X509_V_ERR_CERT_HAS_EXPIRED" ("X509_V_OK" for ok), or "" for a value
// this version of sanstls does not know.
std::string_view verify_code_name(VerifyCode code) noexcept;

// ---- SSL_ERROR_*: the errno of Python's SSLError -------------------------

// SSLErrorNumber is Python's ssl.SSLErrorNumber (the SSL_ERROR_* constants),
// with Python's values; Python puts one in SSLError.errno.
enum class SSLErrorNumber : int {
  ssl = 1,                  // SSL_ERROR_SSL: a protocol or library error
  want_read = 2,            // SSL_ERROR_WANT_READ
  want_write = 3,           // SSL_ERROR_WANT_WRITE
  want_x509_lookup = 4,     // SSL_ERROR_WANT_X509_LOOKUP (never reported by sanstls)
  syscall = 5,              // SSL_ERROR_SYSCALL
  zero_return = 6,          // SSL_ERROR_ZERO_RETURN: close_notify received
  want_connect = 7,         // SSL_ERROR_WANT_CONNECT (never reported by sanstls)
  eof = 8,                  // SSL_ERROR_EOF: EOF in violation of the protocol
  invalid_error_code = 10,  // SSL_ERROR_INVALID_ERROR_CODE (never reported by sanstls)
};

// error_number returns what Python puts in SSLError.errno for an error of
// |error|.kind raised by do_handshake, read, write or unwrap: ssl for ssl
// and cert_verification (Python's SSL_ERROR_SSL), want_read, want_write,
// syscall, zero_return and eof for theirs. It returns nullopt for
// ErrorKind::certificate, whose Python counterpart (CertificateError from
// match_hostname) has errno None. Python gives errors raised by
// configuration calls (load_cert_chain, set_ciphers, ...) errno 0 or None;
// Error does not record where it was raised, so this says ssl for them too.
std::optional<SSLErrorNumber> error_number(const Error& error) noexcept;

// ---- RAND_*: BoringSSL's random generator ----------------------------

// rand_bytes returns |num| cryptographically strong random bytes, as
// Python's RAND_bytes. BoringSSL's generator is always seeded (from the
// operating system), so this never fails for want of entropy. Throws
// std::invalid_argument when |num| is larger than INT_MAX, where Python
// raises OverflowError; Python's ValueError("num must be positive") for a
// negative count cannot happen with an unsigned count.
std::string rand_bytes(std::size_t num);

// PseudoRandomBytes is what rand_pseudo_bytes returns: Python's tuple
// (bytes, is_cryptographic).
struct PseudoRandomBytes {
  // bytes holds the |num| random bytes asked for.
  std::string bytes;
  bool is_cryptographic = true;  // always true: BoringSSL has one generator
};

// rand_pseudo_bytes returns |num| random bytes and whether they are
// cryptographically strong, as Python's (deprecated) RAND_pseudo_bytes.
// With BoringSSL they always are: it is rand_bytes. Throws as rand_bytes.
PseudoRandomBytes rand_pseudo_bytes(std::size_t num);

// rand_status returns true when the generator has been seeded with enough
// randomness, as Python's RAND_status: always with BoringSSL.
bool rand_status() noexcept;

// rand_add mixes |data| into the generator with |entropy| as a lower bound
// of the entropy it holds in bytes, as Python's RAND_add. BoringSSL's
// generator draws from the operating system and ignores added data, so this
// accepts any input and has no effect. Python's RAND_add also takes a str,
// which it encodes as UTF-8: the string_view overload.
void rand_add(std::span<const std::byte> data, double entropy) noexcept;
// rand_add, as above, for |data| as text (its UTF-8 bytes).
void rand_add(std::string_view data, double entropy) noexcept;

}  // namespace sanstls

#endif  // SANSTLS_CONSTANTS_HPP
