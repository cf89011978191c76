// IP address literals, in the two dialects sanstls must speak: the strict
// one it applies itself (parse_ip: no SNI for an address, and an address
// verified against the certificate's IP entries), and the lenient one of
// Python's socket module (inet_paton, for match_hostname), which parses
// IPv4 with inet_aton and IPv6 with inet_pton as the C library does.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "internal.hpp"
#include "text.hpp"

namespace sanstls {

namespace {

using Address = std::string;  // 4 or 16 bytes, network order

// parse_strict_ipv4 accepts exactly four decimal octets without leading
// zeros, which is both what inet_pton takes as the tail of an IPv6 address
// and the only IPv4 form parse_ip takes.
std::optional<std::array<unsigned char, 4>> parse_strict_ipv4(std::string_view s) {
  std::array<unsigned char, 4> out{};
  std::size_t parts = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = s.find('.', pos);
    std::string_view part = s.substr(pos, end == std::string_view::npos ? s.npos : end - pos);
    if (parts == out.size() || part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) {
      return std::nullopt;
    }
    unsigned value = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 255) return std::nullopt;
    out[parts++] = static_cast<unsigned char>(value);
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  if (parts != out.size()) return std::nullopt;
  return out;
}

bool is_c_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int digit_in_base(char c, unsigned base) {
  int value = -1;
  if (c >= '0' && c <= '9') value = c - '0';
  else if (c >= 'a' && c <= 'f') value = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F') value = c - 'A' + 10;
  return value >= 0 && static_cast<unsigned>(value) < base ? value : -1;
}

// inet_aton is glibc's: numbers in C syntax, one to four parts, trailing
// whitespace and anything after it ignored.
std::optional<Address> inet_aton(std::string_view s) {
  std::array<std::uint32_t, 3> parts{};
  std::size_t count = 0;
  std::size_t i = 0;
  std::uint64_t value = 0;
  for (;;) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
    // strtoul with base 0: "0x" followed by a hex digit is hex, a leading
    // "0" octal (so "08" stops after the 0), anything else decimal.
    unsigned base = 10;
    if (s[i] == '0') {
      base = 8;
      if (i + 2 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') && digit_in_base(s[i + 2], 16) >= 0) {
        base = 16;
        i += 2;
      }
    }
    value = 0;
    for (; i < s.size(); ++i) {
      int digit = digit_in_base(s[i], base);
      if (digit < 0) break;
      value = std::min<std::uint64_t>(value * base + static_cast<unsigned>(digit), 0x100000000);
    }
    if (value > 0xffffffff) return std::nullopt;
    if (i < s.size() && s[i] == '.') {
      if (count > 2 || value > 0xff) return std::nullopt;
      parts[count++] = static_cast<std::uint32_t>(value);
      ++i;
    } else {
      break;
    }
  }
  if (i < s.size() && !is_c_space(s[i])) return std::nullopt;
  // The last part fills the bytes the dotted parts left.
  static constexpr std::array<std::uint64_t, 4> kMax = {0xffffffff, 0xffffff, 0xffff, 0xff};
  if (value > kMax[count]) return std::nullopt;
  std::uint32_t word = static_cast<std::uint32_t>(value);
  for (std::size_t k = 0; k < count; ++k) word |= parts[k] << (24 - 8 * k);
  Address out;
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((word >> shift) & 0xff);
  return out;
}

std::string inet_ntoa(const Address& address) {
  std::string out;
  for (std::size_t k = 0; k < 4; ++k) {
    if (k != 0) out += '.';
    out += std::to_string(static_cast<unsigned char>(address[k]));
  }
  return out;
}

// inet_pton6 is glibc's inet_pton for AF_INET6.
std::optional<Address> inet_pton6(std::string_view s) {
  std::array<unsigned char, 16> bytes{};
  std::size_t tp = 0;
  std::optional<std::size_t> colon;  // where "::" stands
  std::size_t i = 0;
  if (s.empty()) return std::nullopt;
  if (s[0] == ':') {
    if (s.size() < 2 || s[1] != ':') return std::nullopt;
    i = 1;
  }
  std::size_t token = i;
  std::size_t xdigits = 0;
  unsigned value = 0;
  while (i < s.size()) {
    char c = s[i++];
    int digit = digit_in_base(c, 16);
    if (digit >= 0) {
      if (xdigits == 4) return std::nullopt;
      value = (value << 4) | static_cast<unsigned>(digit);
      ++xdigits;
      continue;
    }
    if (c == ':') {
      token = i;
      if (xdigits == 0) {
        if (colon) return std::nullopt;
        colon = tp;
        continue;
      }
      if (i == s.size()) return std::nullopt;
      if (tp + 2 > bytes.size()) return std::nullopt;
      bytes[tp++] = static_cast<unsigned char>(value >> 8);
      bytes[tp++] = static_cast<unsigned char>(value);
      xdigits = 0;
      value = 0;
      continue;
    }
    if (c == '.' && tp + 4 <= bytes.size()) {
      if (std::optional<std::array<unsigned char, 4>> v4 = parse_strict_ipv4(s.substr(token))) {
        std::copy(v4->begin(), v4->end(), bytes.begin() + static_cast<std::ptrdiff_t>(tp));
        tp += 4;
        xdigits = 0;
        break;
      }
    }
    return std::nullopt;
  }
  if (xdigits > 0) {
    if (tp + 2 > bytes.size()) return std::nullopt;
    bytes[tp++] = static_cast<unsigned char>(value >> 8);
    bytes[tp++] = static_cast<unsigned char>(value);
  }
  if (colon) {
    if (tp == bytes.size()) return std::nullopt;  // "::" must stand for at least one group
    std::size_t n = tp - *colon;
    std::copy_backward(bytes.begin() + static_cast<std::ptrdiff_t>(*colon),
                       bytes.begin() + static_cast<std::ptrdiff_t>(tp), bytes.end());
    std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(*colon),
              bytes.end() - static_cast<std::ptrdiff_t>(n), 0);
    tp = bytes.size();
  }
  if (tp != bytes.size()) return std::nullopt;
  return Address(bytes.begin(), bytes.end());
}

}  // namespace

bssl::UniquePtr<ASN1_OCTET_STRING> parse_ip(const std::string& text) {
  // BoringSSL's a2i_IPADDRESS parses IPv4 with sscanf and so also takes
  // "127.0.0.1.evil.example" as 127.0.0.1, which would verify a host name
  // against an IP address SAN: IPv4, alone or as an IPv6 address's tail
  // ("::ffff:1.2.3.4"), must be strict first.
  bool v6 = text.find(':') != std::string::npos;
  std::string_view v4 = text;
  if (v6) v4.remove_prefix(text.rfind(':') + 1);
  if ((!v6 || v4.find('.') != std::string_view::npos) && !parse_strict_ipv4(v4)) return nullptr;
  bssl::UniquePtr<ASN1_OCTET_STRING> ip(a2i_IPADDRESS(text.c_str()));
  ERR_clear_error();
  return ip;
}

std::string inet_paton(const std::u32string& ipname) {
  std::string c = pystr::c_string_argument(ipname);
  if (std::optional<Address> v4 = inet_aton(c)) {
    // Only the canonical spelling: "127.1" and "127.0.0.1 junk" are refused.
    if (inet_ntoa(*v4) == c) return *v4;
    throw std::invalid_argument(pystr::repr(ipname) + " is not a quad-dotted IPv4 address.");
  }
  if (std::optional<Address> v6 = inet_pton6(c)) return *v6;
  throw std::invalid_argument(pystr::repr(ipname) + " is neither an IPv4 nor an IP6 address.");
}

}  // namespace sanstls
