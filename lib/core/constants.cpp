#include <sanstls/constants.hpp>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sanstls/error.hpp>

namespace sanstls {

namespace {

// declares_* tell whether BoringSSL's headers declare a function, by
// argument-dependent lookup at instantiation: a missing function makes the
// overload taking the call's type drop out instead of failing the build.
template <class S>
auto declares_npn(S* ctx, int) -> decltype(SSL_CTX_set_next_proto_select_cb(ctx, nullptr, nullptr),
                                            std::true_type{});
template <class S>
std::false_type declares_npn(S*, long);

template <class S>
auto declares_pha(S* ssl, int) -> decltype(SSL_verify_client_post_handshake(ssl), std::true_type{});
template <class S>
std::false_type declares_pha(S*, long);

}  // namespace

// The flags follow what the headers offer; the test proves each by a
// handshake.
static_assert(has_npn == decltype(declares_npn(std::declval<SSL_CTX*>(), 0))::value,
              "has_npn disagrees with BoringSSL's headers");
static_assert(has_pha == decltype(declares_pha(std::declval<SSL*>(), 0))::value,
              "has_pha disagrees with BoringSSL's headers");
#ifndef TLS1_3_VERSION
static_assert(!has_tlsv1_3, "has_tlsv1_3 but BoringSSL's headers have no TLS1_3_VERSION");
#endif
static_assert(decode_openssl_version(0x1010107f) == OpenSSLVersionInfo{1, 1, 1, 7, 15});
static_assert(decode_openssl_version(0x30000020) == OpenSSLVersionInfo{3, 0, 0, 2, 0});

std::uint32_t openssl_version_number() noexcept {
  return static_cast<std::uint32_t>(OpenSSL_version_num());
}

OpenSSLVersionInfo openssl_version_info() noexcept {
  return decode_openssl_version(openssl_version_number());
}

std::optional<SSLErrorNumber> error_number(const Error& error) noexcept {
  switch (error.kind) {
    case ErrorKind::ssl:
    case ErrorKind::cert_verification:
      return SSLErrorNumber::ssl;
    case ErrorKind::zero_return:
      return SSLErrorNumber::zero_return;
    case ErrorKind::want_read:
      return SSLErrorNumber::want_read;
    case ErrorKind::want_write:
      return SSLErrorNumber::want_write;
    case ErrorKind::syscall:
      return SSLErrorNumber::syscall;
    case ErrorKind::eof:
      return SSLErrorNumber::eof;
    case ErrorKind::certificate:
    case ErrorKind::want_application:  // no SSL_ERROR_* of Python's
    case ErrorKind::early_data_rejected:
      return std::nullopt;
  }
  return SSLErrorNumber::invalid_error_code;  // a kind added to ErrorKind later
}

std::string rand_bytes(std::size_t num) {
  if (num > static_cast<std::size_t>(INT_MAX)) {
    throw std::invalid_argument("num must be at most " + std::to_string(INT_MAX));
  }
  std::string out(num, '\0');
  // BoringSSL's RAND_bytes cannot fail (it aborts the process if the
  // operating system refuses randomness); the check is for other builds.
  if (RAND_bytes(reinterpret_cast<std::uint8_t*>(out.data()), out.size()) != 1) {
    Error e;
    e.library = "RAND";
    e.message = "[RAND] random number generation failed";
    throw SSLError(std::move(e));
  }
  return out;
}

PseudoRandomBytes rand_pseudo_bytes(std::size_t num) { return {rand_bytes(num), true}; }

bool rand_status() noexcept { return RAND_status() == 1; }

void rand_add(std::span<const std::byte> data, double entropy) noexcept {
  // RAND_add takes an int length: feed larger inputs in pieces, as Python.
  while (!data.empty()) {
    std::size_t piece = std::min(data.size(), static_cast<std::size_t>(INT_MAX));
    RAND_add(data.data(), static_cast<int>(piece), entropy);
    data = data.subspan(piece);
  }
}

void rand_add(std::string_view data, double entropy) noexcept {
  rand_add(std::as_bytes(std::span(data.data(), data.size())), entropy);
}

namespace {

struct VerifyCodeEntry {
  VerifyCode code;
  long boringssl;  // BoringSSL's macro, to prove the enum's values right
  std::string_view name;
};

#define CODE(member, macro) VerifyCodeEntry{VerifyCode::member, macro, #macro}
constexpr VerifyCodeEntry kVerifyCodes[] = {
    CODE(ok, X509_V_OK),
    CODE(unspecified, X509_V_ERR_UNSPECIFIED),
    CODE(unable_to_get_issuer_cert, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT),
    CODE(unable_to_get_crl, X509_V_ERR_UNABLE_TO_GET_CRL),
    CODE(unable_to_decrypt_cert_signature, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE),
    CODE(unable_to_decrypt_crl_signature, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE),
    CODE(unable_to_decode_issuer_public_key, X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY),
    CODE(cert_signature_failure, X509_V_ERR_CERT_SIGNATURE_FAILURE),
    CODE(crl_signature_failure, X509_V_ERR_CRL_SIGNATURE_FAILURE),
    CODE(cert_not_yet_valid, X509_V_ERR_CERT_NOT_YET_VALID),
    CODE(cert_has_expired, X509_V_ERR_CERT_HAS_EXPIRED),
    CODE(crl_not_yet_valid, X509_V_ERR_CRL_NOT_YET_VALID),
    CODE(crl_has_expired, X509_V_ERR_CRL_HAS_EXPIRED),
    CODE(error_in_cert_not_before_field, X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD),
    CODE(error_in_cert_not_after_field, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD),
    CODE(error_in_crl_last_update_field, X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD),
    CODE(error_in_crl_next_update_field, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD),
    CODE(out_of_mem, X509_V_ERR_OUT_OF_MEM),
    CODE(depth_zero_self_signed_cert, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
    CODE(self_signed_cert_in_chain, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
    CODE(unable_to_get_issuer_cert_locally, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
    CODE(unable_to_verify_leaf_signature, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE),
    CODE(cert_chain_too_long, X509_V_ERR_CERT_CHAIN_TOO_LONG),
    CODE(cert_revoked, X509_V_ERR_CERT_REVOKED),
    CODE(invalid_ca, X509_V_ERR_INVALID_CA),
    CODE(path_length_exceeded, X509_V_ERR_PATH_LENGTH_EXCEEDED),
    CODE(invalid_purpose, X509_V_ERR_INVALID_PURPOSE),
    CODE(cert_untrusted, X509_V_ERR_CERT_UNTRUSTED),
    CODE(cert_rejected, X509_V_ERR_CERT_REJECTED),
    CODE(subject_issuer_mismatch, X509_V_ERR_SUBJECT_ISSUER_MISMATCH),
    CODE(akid_skid_mismatch, X509_V_ERR_AKID_SKID_MISMATCH),
    CODE(akid_issuer_serial_mismatch, X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH),
    CODE(keyusage_no_certsign, X509_V_ERR_KEYUSAGE_NO_CERTSIGN),
    CODE(unable_to_get_crl_issuer, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER),
    CODE(unhandled_critical_extension, X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION),
    CODE(keyusage_no_crl_sign, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN),
    CODE(unhandled_critical_crl_extension, X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION),
    CODE(invalid_non_ca, X509_V_ERR_INVALID_NON_CA),
    CODE(proxy_path_length_exceeded, X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED),
    CODE(keyusage_no_digital_signature, X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE),
    CODE(proxy_certificates_not_allowed, X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED),
    CODE(invalid_extension, X509_V_ERR_INVALID_EXTENSION),
    CODE(invalid_policy_extension, X509_V_ERR_INVALID_POLICY_EXTENSION),
    CODE(no_explicit_policy, X509_V_ERR_NO_EXPLICIT_POLICY),
    CODE(different_crl_scope, X509_V_ERR_DIFFERENT_CRL_SCOPE),
    CODE(unsupported_extension_feature, X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE),
    CODE(unnested_resource, X509_V_ERR_UNNESTED_RESOURCE),
    CODE(permitted_violation, X509_V_ERR_PERMITTED_VIOLATION),
    CODE(excluded_violation, X509_V_ERR_EXCLUDED_VIOLATION),
    CODE(subtree_minmax, X509_V_ERR_SUBTREE_MINMAX),
    CODE(application_verification, X509_V_ERR_APPLICATION_VERIFICATION),
    CODE(unsupported_constraint_type, X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE),
    CODE(unsupported_constraint_syntax, X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX),
    CODE(unsupported_name_syntax, X509_V_ERR_UNSUPPORTED_NAME_SYNTAX),
    CODE(crl_path_validation_error, X509_V_ERR_CRL_PATH_VALIDATION_ERROR),
    CODE(suite_b_invalid_version, X509_V_ERR_SUITE_B_INVALID_VERSION),
    CODE(suite_b_invalid_algorithm, X509_V_ERR_SUITE_B_INVALID_ALGORITHM),
    CODE(suite_b_invalid_curve, X509_V_ERR_SUITE_B_INVALID_CURVE),
    CODE(suite_b_invalid_signature_algorithm, X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM),
    CODE(suite_b_los_not_allowed, X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED),
    CODE(suite_b_cannot_sign_p_384_with_p_256, X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256),
    CODE(hostname_mismatch, X509_V_ERR_HOSTNAME_MISMATCH),
    CODE(email_mismatch, X509_V_ERR_EMAIL_MISMATCH),
    CODE(ip_address_mismatch, X509_V_ERR_IP_ADDRESS_MISMATCH),
    CODE(invalid_call, X509_V_ERR_INVALID_CALL),
    CODE(store_lookup, X509_V_ERR_STORE_LOOKUP),
    CODE(name_constraints_without_sans, X509_V_ERR_NAME_CONSTRAINTS_WITHOUT_SANS),
};
#undef CODE

constexpr bool verify_codes_match_boringssl() {
  for (const VerifyCodeEntry& entry : kVerifyCodes) {
    if (static_cast<long>(entry.code) != entry.boringssl) return false;
  }
  return true;
}
static_assert(verify_codes_match_boringssl(),
              "a VerifyCode value differs from BoringSSL's X509_V_ERR_* macro of that name");

}  // namespace

std::string_view verify_code_name(VerifyCode code) noexcept {
  for (const VerifyCodeEntry& entry : kVerifyCodes) {
    if (entry.code == code) return entry.name;
  }
  return {};
}

}  // namespace sanstls
