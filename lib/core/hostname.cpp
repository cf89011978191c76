// Python 3.7's ssl.match_hostname: a host name against a certificate's
// subjectAltName (or, lacking that, its commonName), with Python's rules
// for wildcards and its messages.
#include <sanstls/helpers.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "text.hpp"

namespace sanstls {

namespace {

using pystr::Text;

[[noreturn]] void throw_certificate_error(std::string message) {
  Error error;
  error.kind = ErrorKind::certificate;
  error.message = std::move(message);
  throw CertificateError(std::move(error));
}

// dnsname_match is ssl._dnsname_match (RFC 6125 6.4.3 as Python 3.7 reads
// it): a wildcard must be the whole leftmost label and stands for one
// non-empty label; any other use of "*" is an error, not a mismatch.
bool dnsname_match(const Text& dn, const Text& hostname) {
  if (dn.empty()) return false;
  auto wildcards = std::count(dn.begin(), dn.end(), U'*');
  if (wildcards == 0) return pystr::lower(dn) == pystr::lower(hostname);
  if (wildcards > 1) {
    throw_certificate_error("too many wildcards in certificate DNS name: " + pystr::repr(dn) + ".");
  }
  std::size_t dot = dn.find(U'.');
  Text leftmost = dn.substr(0, dot);
  Text remainder = dot == Text::npos ? Text() : dn.substr(dot + 1);
  if (remainder.find(U'*') != Text::npos) {
    throw_certificate_error("wildcard can only be present in the leftmost label: " + pystr::repr(dn) + ".");
  }
  if (dot == Text::npos) {
    // Python's wording, "not support", kept so that messages compare equal.
    throw_certificate_error("sole wildcard without additional labels are not support: " + pystr::repr(dn) + ".");
  }
  if (leftmost != U"*") {
    throw_certificate_error("partial wildcards in leftmost label are not supported: " + pystr::repr(dn) + ".");
  }
  std::size_t host_dot = hostname.find(U'.');
  if (host_dot == Text::npos || host_dot == 0) return false;
  return pystr::lower(remainder) == pystr::lower(hostname.substr(host_dot + 1));
}

}  // namespace

void match_hostname(const Certificate& cert, std::string_view hostname) {
  // Python tests the dictionary for emptiness; a Certificate has no
  // "absent" fields, so empty means nothing set at all.
  if (cert == Certificate{}) {
    throw std::invalid_argument(
        "empty or no certificate, match_hostname needs a SSL socket or SSL context with either "
        "CERT_OPTIONAL or CERT_REQUIRED");
  }
  Text host = pystr::decode(hostname);
  std::optional<std::string> host_ip;
  try {
    host_ip = inet_paton(host);
  } catch (const std::invalid_argument&) {
    // Not an IP address: the common case.
  }
  std::vector<Text> names;
  for (const GeneralName& name : cert.subject_alt_name) {
    if (name.type == "DNS") {
      Text value = pystr::decode(name.value);
      if (!host_ip && dnsname_match(value, host)) return;
      names.push_back(std::move(value));
    } else if (name.type == "IP Address") {
      Text value = pystr::decode(name.value);
      // OpenSSL may end an IPv6 entry with a newline, hence the strip; an
      // entry that is no address at all escapes as std::invalid_argument.
      if (host_ip && inet_paton(pystr::strip(value, false)) == *host_ip) return;
      names.push_back(std::move(value));
    }
  }
  if (names.empty()) {
    // The subject counts only when subjectAltName names no host at all.
    for (const RelativeDistinguishedName& rdn : cert.subject) {
      for (const auto& [key, value] : rdn) {
        if (key != "commonName") continue;
        Text text = pystr::decode(value);
        if (dnsname_match(text, host)) return;
        names.push_back(std::move(text));
      }
    }
  }
  if (names.size() > 1) {
    std::string list;
    for (const Text& name : names) list += (list.empty() ? "" : ", ") + pystr::repr(name);
    throw_certificate_error("hostname " + pystr::repr(host) + " doesn't match either of " + list);
  }
  if (names.size() == 1) {
    throw_certificate_error("hostname " + pystr::repr(host) + " doesn't match " + pystr::repr(names[0]));
  }
  throw_certificate_error("no appropriate commonName or subjectAltName fields were found");
}

}  // namespace sanstls
