// sanstls/certificate.hpp: an X.509 certificate decoded the way Python's
// SSLSocket.getpeercert() decodes it.
//
// Example:
//   std::string der;  // e.g. *object.getpeercert(sanstls::binary_form)
//   std::string common_name, json;
//   if (!der.empty()) {
//     sanstls::Certificate cert = sanstls::Certificate::from_der(sanstls::as_bytes(der));
//     for (const auto& rdn : cert.subject)
//       for (const auto& [name, value] : rdn)
//         if (name == "commonName") common_name = value;
//     json = cert.to_json();  // {"subject": [[["commonName", ...]]], ...}
//   }
#ifndef SANSTLS_CERTIFICATE_HPP
#define SANSTLS_CERTIFICATE_HPP

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <sanstls/bytes.hpp>

namespace sanstls {

// NameAttribute is one (name, value) pair of a distinguished name, with
// OpenSSL's long attribute names ("commonName", "organizationalUnitName",
// "emailAddress") or the dotted OID for unknown ones. Values are UTF-8 and
// keep embedded NUL bytes.
using NameAttribute = std::pair<std::string, std::string>;
// RelativeDistinguishedName is one RDN: usually a single attribute.
using RelativeDistinguishedName = std::vector<NameAttribute>;
// DistinguishedName is a sequence of RDNs, as Python's subject and issuer.
using DistinguishedName = std::vector<RelativeDistinguishedName>;

// GeneralName is one subjectAltName entry: its type as Python names it
// ("DNS", "IP Address", "email", "URI", "DirName", "Registered ID",
// "othername") and its value. A DirName's value is in dir_name.
struct GeneralName {
  // type is the entry's kind, the first item of Python's pair: "DNS",
  // "IP Address", "email", "URI", "DirName", "Registered ID" or "othername".
  std::string type;
  // value is the second item: the name, address or URI as text; empty for
  // a DirName, and "<unsupported>" for the kinds Python does not decode.
  std::string value;
  // dir_name is a DirName entry's name; empty for every other kind.
  DistinguishedName dir_name{};

  // Entries are equal when type, value and dir_name all are, so an
  // expected subject_alt_name list can be compared whole.
  bool operator==(const GeneralName&) const = default;
};

// Certificate holds the fields of Python's getpeercert() dictionary. It is
// a plain value that shares nothing: copies are independent, any number of
// threads may read one at once (one that writes it has it to itself), and
// from_der may run on any thread.
struct Certificate {
  // subject is whom the certificate names, RDN by RDN in certificate
  // order, as Python's "subject".
  DistinguishedName subject{};
  // issuer is the name of the CA that signed it, as Python's "issuer".
  DistinguishedName issuer{};
  int version = 0;                 // 1, 2 or 3
  std::string serial_number{};     // upper-case hex, as "98A7CF88C74A32ED"
  std::string not_before{};        // "Aug 29 14:23:15 2018 GMT"
  // not_after is when it stops being valid, in not_before's format
  // (Python's "notAfter").
  std::string not_after{};
  std::vector<GeneralName> subject_alt_name{};      // absent when empty
  std::vector<std::string> ocsp{};                  // AIA OCSP URIs
  std::vector<std::string> ca_issuers{};            // AIA caIssuers URIs
  // crl_distribution_points are the URIs of the CRLs that would revoke it
  // (Python's "crlDistributionPoints").
  std::vector<std::string> crl_distribution_points{};

  // empty returns true for the certificate getpeercert() reports when the
  // peer's certificate was not verified: Python returns {} then.
  bool empty() const noexcept { return version == 0; }

  // from_der decodes a DER certificate. Throws SSLError for bytes that are
  // not exactly one certificate or hold a field that cannot become text (a
  // name value that is not a string, which Python's OpenSSL refuses to
  // parse at all), and std::invalid_argument with Python's
  // UnicodeDecodeError text when a DNS name, email or URI is not UTF-8 (as
  // Python, which then fails too). A validity time that does not parse
  // reads "Bad time value", as in Python.
  static Certificate from_der(std::span<const std::byte> der);

  // to_json returns Python's dictionary as JSON: tuples become arrays, keys
  // Python leaves out are left out, and an empty certificate is "{}".
  std::string to_json() const;

  // Certificates are equal when every field is: two decodings of the
  // same DER compare equal.
  bool operator==(const Certificate&) const = default;
};

// binary_form selects the DER form of the calls that, like Python's, take
// binary_form=True: getpeercert(sanstls::binary_form),
// get_ca_certs(sanstls::binary_form).
struct binary_form_t {
  explicit binary_form_t() = default;
};
// binary_form is the value to pass; binary_form_t only gives the
// overloads their own type.
inline constexpr binary_form_t binary_form{};

}  // namespace sanstls

#endif  // SANSTLS_CERTIFICATE_HPP
