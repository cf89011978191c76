// sanstls/helpers.hpp: Python's module-level certificate helpers
// (DER_cert_to_PEM_cert, PEM_cert_to_DER_cert, cert_time_to_seconds,
// match_hostname) as free functions.
//
// Example:
//   std::string der = "\x30\x03\x02\x01\x01";  // any bytes; normally a certificate
//   std::string pem = sanstls::der_cert_to_pem_cert(sanstls::as_bytes(der));
//   bool same = sanstls::pem_cert_to_der_cert(pem) == der;  // true
//   std::int64_t t = sanstls::cert_time_to_seconds("Jan  5 09:34:43 2018 GMT");  // 1515144883
//   sanstls::Certificate cert;
//   cert.subject = {{{"commonName", "example.com"}}};
//   cert.subject_alt_name = {{"DNS", "*.example.com"}, {"IP Address", "192.0.2.1"}};
//   sanstls::match_hostname(cert, "www.example.com");  // matches: returns
//   try {
//     sanstls::match_hostname(cert, "example.com");
//   } catch (const sanstls::CertificateError& e) {
//     // "hostname 'example.com' doesn't match either of '*.example.com', '192.0.2.1'"
//     std::string why = e.what();
//     (void)why;
//   }
//   (void)same, (void)t;
//
// Text is UTF-8, as the values of a Certificate. Python works on str, so
// where these functions count characters or quote text in a message they do
// it by code point, and bytes that are not valid UTF-8 stand for themselves
// as Python's "surrogateescape" would decode them (quoted as '\udcff').
// Character classes (whitespace, digits, printable, lower case) follow the
// Unicode 14.0 tables of Python 3.11; Python 3.7 had Unicode 11.0, so it
// differs for characters assigned since.
//
// Threads: the functions keep no state, so any number of threads may call
// them at once.
#ifndef SANSTLS_HELPERS_HPP
#define SANSTLS_HELPERS_HPP

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <sanstls/bytes.hpp>
#include <sanstls/certificate.hpp>
#include <sanstls/error.hpp>

namespace sanstls {

// pem_header is the line that opens a PEM certificate, as Python's
// PEM_HEADER.
inline constexpr std::string_view pem_header = "-----BEGIN CERTIFICATE-----";
// pem_footer is the line that closes it, as Python's PEM_FOOTER.
inline constexpr std::string_view pem_footer = "-----END CERTIFICATE-----";

// der_cert_to_pem_cert returns |der| as a PEM certificate, exactly as
// Python's DER_cert_to_PEM_cert: "-----BEGIN CERTIFICATE-----\n", the
// base64 text in lines of 64 characters, "-----END CERTIFICATE-----\n".
// Any bytes are accepted (they are not parsed), as in Python.
std::string der_cert_to_pem_cert(std::span<const std::byte> der);

// pem_cert_to_der_cert returns the bytes of the PEM certificate |pem|, as
// Python's PEM_cert_to_DER_cert. |pem| must start with the BEGIN line and,
// once surrounding whitespace is stripped, end with the END line; what lies
// between is decoded as base64.decodebytes does: characters outside the
// base64 alphabet are skipped and decoding stops at padding. The bytes are
// not parsed as a certificate. Throws std::invalid_argument with Python's
// ValueError message when the BEGIN or END line is missing, when the text
// between holds a non-ASCII character ("'ascii' codec can't encode ..."),
// and with binascii.Error's message when the base64 is truncated
// ("Incorrect padding", "Invalid base64-encoded string: ...").
std::string pem_cert_to_der_cert(std::string_view pem);

// cert_time_to_seconds returns the seconds since the Epoch of a certificate
// time as getpeercert() gives notBefore and notAfter, such as
// "Jan  5 09:34:43 2018 GMT", with Python 3.7's semantics: the month is one
// of the English abbreviations in any letter case, whatever the C locale;
// the rest is parsed as time.strptime(rest, " %d %H:%M:%S %Y GMT") would
// (runs of whitespace, one- or two-digit fields, seconds up to 61, "GMT" in
// any case); the day is checked only against 1..31, so "Feb 30" is March 2,
// as in Python. Throws std::invalid_argument with Python's ValueError
// message for anything else ("time data ' 5 09:34 2018 GMT' does not match
// format ' %d %H:%M:%S %Y GMT'", "unconverted data remains: ...",
// "year 0 is out of range").
std::int64_t cert_time_to_seconds(std::string_view cert_time);

// match_hostname checks that |cert| is valid for |hostname| as Python 3.7's
// ssl.match_hostname does, and returns normally when it is. An IPv4
// (dotted quad only) or IPv6 |hostname| is compared with the "IP Address"
// subjectAltName entries; any other with the "DNS" entries, case-insensitively,
// where a "*" may only be the whole leftmost label and matches one non-empty
// label. The subject's commonName is consulted only when there is neither a
// DNS nor an IP Address entry.
//
// Throws CertificateError (ErrorKind::certificate) with Python's message
// when nothing matches ("hostname 'x' doesn't match 'y'", "... doesn't match
// either of 'a', 'b'", "no appropriate commonName or subjectAltName fields
// were found") or when a DNS name with a wildcard is malformed ("partial
// wildcards in leftmost label are not supported: 'f*.com'.", ...).
// Throws std::invalid_argument when |cert| is empty (Certificate{}, what
// getpeercert() gives for an unverified peer: the caller forgot to require
// a certificate), and when an "IP Address" entry, consulted for an IP
// |hostname|, is not an address (Python lets that ValueError through too).
//
// Unlike Python, the lower-casing of non-ASCII text does not apply the
// final-sigma rule (a capital sigma always becomes U+03C3).
void match_hostname(const Certificate& cert, std::string_view hostname);

}  // namespace sanstls

#endif  // SANSTLS_HELPERS_HPP
