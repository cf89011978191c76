#include <string>
#include <string_view>

#include "internal.hpp"

namespace sanstls {

namespace {

// is_strict_ipv4 accepts exactly four decimal octets without leading zeros.
// BoringSSL's a2i_IPADDRESS parses IPv4 with sscanf and so also takes
// "127.0.0.1.evil.example" as 127.0.0.1, which would verify a host name
// against an IP address SAN.
bool is_strict_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = s.find('.', pos);
    std::string_view part = s.substr(pos, end == std::string_view::npos ? s.npos : end - pos);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    int value = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    if (value > 255) return false;
    ++parts;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return parts == 4;
}

}  // namespace

bssl::UniquePtr<ASN1_OCTET_STRING> parse_ip(const std::string& text) {
  bool v6 = text.find(':') != std::string::npos;
  if (!v6 && !is_strict_ipv4(text)) return nullptr;
  if (v6) {
    // An embedded IPv4 tail ("::ffff:1.2.3.4") must be strict as well.
    std::size_t last = text.rfind(':');
    std::string_view tail = std::string_view(text).substr(last + 1);
    if (tail.find('.') != std::string_view::npos && !is_strict_ipv4(tail)) return nullptr;
  }
  bssl::UniquePtr<ASN1_OCTET_STRING> ip(a2i_IPADDRESS(text.c_str()));
  ERR_clear_error();
  return ip;
}

}  // namespace sanstls
