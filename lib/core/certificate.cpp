#include <sanstls/certificate.hpp>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/obj.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "internal.hpp"
#include "text.hpp"

namespace sanstls {

namespace {

std::string object_name(const ASN1_OBJECT* obj) {
  char buf[256];
  int len = OBJ_obj2txt(buf, sizeof buf, obj, 0);
  if (len < 0) throw_from_queue("cannot name an object identifier");
  if (static_cast<std::size_t>(len) < sizeof buf) return std::string(buf, static_cast<std::size_t>(len));
  std::string big(static_cast<std::size_t>(len) + 1, '\0');
  OBJ_obj2txt(big.data(), len + 1, obj, 0);
  big.resize(static_cast<std::size_t>(len));
  return big;
}

std::string utf8(const ASN1_STRING* value) {
  unsigned char* out = nullptr;
  int len = ASN1_STRING_to_UTF8(&out, value);
  if (len < 0) throw_from_queue("cannot convert a certificate string to UTF-8");
  std::string s(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return s;
}

// python_utf8 returns the raw bytes of an IA5String (a DNS name, email or
// URI) as Python does: decoded as strict UTF-8, where BoringSSL's
// ASN1_STRING_to_UTF8 would read them as Latin-1. Invalid UTF-8 throws
// std::invalid_argument with the UnicodeDecodeError text Python raises.
std::string python_utf8(const ASN1_STRING* value) {
  const std::string_view bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                               static_cast<std::size_t>(ASN1_STRING_length(value)));
  pystr::check_utf8(bytes);
  return std::string(bytes);
}

// time_text prints a validity time as Python shows it; OpenSSL writes
// "Bad time value" for a time it cannot read, and Python takes that text.
std::string time_text(const ASN1_TIME* time) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio) throw_from_queue("out of memory");
  if (ASN1_TIME_print(bio.get(), time) <= 0) {
    ERR_clear_error();
    return "Bad time value";
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// decode_name groups a name's entries into RDNs by their set index, as
// Python's _create_tuple_for_X509_NAME does.
DistinguishedName decode_name(const X509_NAME* name) {
  DistinguishedName out;
  int last_set = -1;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int set = X509_NAME_ENTRY_set(entry);
    if (out.empty() || set != last_set) out.emplace_back();
    last_set = set;
    out.back().emplace_back(object_name(X509_NAME_ENTRY_get_object(entry)),
                            utf8(X509_NAME_ENTRY_get_data(entry)));
  }
  return out;
}

template <typename Print, typename T>
std::string print_to_string(Print print, const T* value) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || print(bio.get(), value) <= 0) throw_from_queue("cannot print a certificate field");
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string ip_address(const ASN1_OCTET_STRING* ip) {
  const unsigned char* p = ASN1_STRING_get0_data(ip);
  char buf[64];
  if (ASN1_STRING_length(ip) == 4) {
    std::snprintf(buf, sizeof buf, "%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
    return buf;
  }
  if (ASN1_STRING_length(ip) == 16) {
    // Python prints all eight groups in upper-case hex, uncompressed.
    std::string out;
    for (int i = 0; i < 16; i += 2) {
      std::snprintf(buf, sizeof buf, i == 0 ? "%X" : ":%X", (p[i] << 8) | p[i + 1]);
      out += buf;
    }
    return out;
  }
  return "<invalid>";
}

GeneralName decode_general_name(const GENERAL_NAME* name) {
  switch (name->type) {
    case GEN_DNS: return {"DNS", python_utf8(name->d.dNSName)};
    case GEN_EMAIL: return {"email", python_utf8(name->d.rfc822Name)};
    case GEN_URI: return {"URI", python_utf8(name->d.uniformResourceIdentifier)};
    case GEN_DIRNAME: return {"DirName", "", decode_name(name->d.directoryName)};
    case GEN_IPADD: return {"IP Address", ip_address(name->d.iPAddress)};
    case GEN_RID: return {"Registered ID", object_name(name->d.registeredID)};
    case GEN_X400: return {"X400Name", "<unsupported>"};
    case GEN_EDIPARTY: return {"EdiPartyName", "<unsupported>"};
    default: return {"othername", "<unsupported>"};
  }
}

std::vector<std::string> uris_of(const GENERAL_NAMES* names) {
  std::vector<std::string> out;
  for (const GENERAL_NAME* n : names) {
    if (n->type == GEN_URI) out.push_back(python_utf8(n->d.uniformResourceIdentifier));
  }
  return out;
}


void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through
        }
    }
  }
  out += '"';
}

void json_name(std::string& out, const DistinguishedName& name) {
  out += '[';
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (i) out += ", ";
    out += '[';
    for (std::size_t j = 0; j < name[i].size(); ++j) {
      if (j) out += ", ";
      out += '[';
      json_string(out, name[i][j].first);
      out += ", ";
      json_string(out, name[i][j].second);
      out += ']';
    }
    out += ']';
  }
  out += ']';
}

void json_strings(std::string& out, const std::vector<std::string>& values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    json_string(out, values[i]);
  }
  out += ']';
}

}  // namespace

Certificate Certificate::from_der(std::span<const std::byte> der) {
  ErrorGuard guard;
  const auto* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509> x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509) throw_from_queue("not a DER certificate");
  if (p != reinterpret_cast<const uint8_t*>(der.data()) + der.size()) {
    throw SSLError(plain_error(ErrorKind::ssl, "trailing data after the DER certificate"));
  }
  const X509* cert = x509.get();

  Certificate c;
  c.subject = decode_name(X509_get_subject_name(cert));
  c.issuer = decode_name(X509_get_issuer_name(cert));
  c.version = static_cast<int>(X509_get_version(cert)) + 1;
  c.serial_number = print_to_string(&i2a_ASN1_INTEGER, X509_get0_serialNumber(cert));
  c.not_before = time_text(X509_get0_notBefore(cert));
  c.not_after = time_text(X509_get0_notAfter(cert));

  int critical = 0;
  bssl::UniquePtr<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (sans) {
    for (const GENERAL_NAME* n : sans.get()) c.subject_alt_name.push_back(decode_general_name(n));
  }
  bssl::UniquePtr<AUTHORITY_INFO_ACCESS> aia(static_cast<AUTHORITY_INFO_ACCESS*>(
      X509_get_ext_d2i(cert, NID_info_access, &critical, nullptr)));
  if (aia) {
    for (const ACCESS_DESCRIPTION* ad : aia.get()) {
      if (ad->location->type != GEN_URI) continue;
      int method = OBJ_obj2nid(ad->method);
      if (method == NID_ad_OCSP) {
        c.ocsp.push_back(python_utf8(ad->location->d.uniformResourceIdentifier));
      }
      if (method == NID_ad_ca_issuers) {
        c.ca_issuers.push_back(python_utf8(ad->location->d.uniformResourceIdentifier));
      }
    }
  }
  bssl::UniquePtr<CRL_DIST_POINTS> cdp(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, &critical, nullptr)));
  if (cdp) {
    for (const DIST_POINT* dp : cdp.get()) {
      if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;
      for (std::string& uri : uris_of(dp->distpoint->name.fullname)) {
        c.crl_distribution_points.push_back(std::move(uri));
      }
    }
  }
  return c;
}

std::string Certificate::to_json() const {
  if (empty()) return "{}";
  std::string out = "{\"subject\": ";
  json_name(out, subject);
  out += ", \"issuer\": ";
  json_name(out, issuer);
  out += ", \"version\": " + std::to_string(version);
  out += ", \"serialNumber\": ";
  json_string(out, serial_number);
  out += ", \"notBefore\": ";
  json_string(out, not_before);
  out += ", \"notAfter\": ";
  json_string(out, not_after);
  if (!subject_alt_name.empty()) {
    out += ", \"subjectAltName\": [";
    for (std::size_t i = 0; i < subject_alt_name.size(); ++i) {
      if (i) out += ", ";
      out += '[';
      json_string(out, subject_alt_name[i].type);
      out += ", ";
      if (subject_alt_name[i].type == "DirName") {
        json_name(out, subject_alt_name[i].dir_name);
      } else {
        json_string(out, subject_alt_name[i].value);
      }
      out += ']';
    }
    out += ']';
  }
  if (!ocsp.empty()) {
    out += ", \"OCSP\": ";
    json_strings(out, ocsp);
  }
  if (!ca_issuers.empty()) {
    out += ", \"caIssuers\": ";
    json_strings(out, ca_issuers);
  }
  if (!crl_distribution_points.empty()) {
    out += ", \"crlDistributionPoints\": ";
    json_strings(out, crl_distribution_points);
  }
  out += '}';
  return out;
}

}  // namespace sanstls
