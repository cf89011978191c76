// sanstls/constants.hpp: the constants of Python's ssl module: TLS alert
// descriptions, what this BoringSSL supports (HAS_*), its version, the
// SSL_ERROR_* numbers, and the RAND_* functions.
//
// Example:
//   // An SNI callback refuses an unknown name with Python's alert:
//   sanstls::AlertDescription alert = sanstls::AlertDescription::unrecognized_name;
//   (void)alert;
#ifndef SANSTLS_CONSTANTS_HPP
#define SANSTLS_CONSTANTS_HPP

namespace sanstls {

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

}  // namespace sanstls

#endif  // SANSTLS_CONSTANTS_HPP
