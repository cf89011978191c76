// A certificate between DER and PEM, as Python's DER_cert_to_PEM_cert and
// PEM_cert_to_DER_cert: base64 written by hand and read as
// binascii.a2b_base64 reads it, PEM framing compared as Python's str does.
#include <sanstls/helpers.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "text.hpp"

namespace sanstls {

namespace {

using pystr::Text;

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char32_t c) {
  if (c >= 'A' && c <= 'Z') return static_cast<int>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<int>(c - 'a') + 26;
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0') + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// a2b_base64 is binascii.a2b_base64 as Python 3.7 has it (3.11's
// non-strict mode gives the same results): characters outside the alphabet
// are skipped; a "=" ends the data only after at least two characters of a
// quad, and after exactly two only when the next significant character is
// "=" as well; otherwise it is skipped.
std::string a2b_base64(const Text& text) {
  std::string out;
  int quad_pos = 0;
  int leftbits = 0;
  std::uint32_t leftchar = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c == U'=') {
      if (quad_pos < 2) continue;
      if (quad_pos == 2) {
        auto next = std::find_if(text.begin() + static_cast<std::ptrdiff_t>(i) + 1, text.end(),
                                 [](char32_t n) { return n == U'=' || base64_value(n) >= 0; });
        if (next == text.end() || *next != U'=') continue;
      }
      leftbits = 0;
      break;
    }
    int value = base64_value(c);
    if (value < 0) continue;
    quad_pos = (quad_pos + 1) & 3;
    leftchar = (leftchar << 6) | static_cast<std::uint32_t>(value);
    leftbits += 6;
    if (leftbits >= 8) {
      leftbits -= 8;
      out += static_cast<char>((leftchar >> leftbits) & 0xff);
      leftchar &= (1u << leftbits) - 1;
    }
  }
  if (leftbits == 6) {
    // One character past whole quads cannot come from any encoding.
    throw std::invalid_argument(
        "Invalid base64-encoded string: number of data characters (" +
        std::to_string(out.size() / 3 * 4 + 1) + ") cannot be 1 more than a multiple of 4");
  }
  if (leftbits != 0) throw std::invalid_argument("Incorrect padding");
  return out;
}

}  // namespace

std::string der_cert_to_pem_cert(std::span<const std::byte> der) {
  std::string base64;
  base64.reserve((der.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < der.size(); i += 3) {
    std::size_t n = std::min<std::size_t>(3, der.size() - i);
    std::uint32_t block = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      block = (block << 8) | (k < n ? std::to_integer<std::uint32_t>(der[i + k]) : 0u);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      base64 += k <= n ? kBase64Alphabet[(block >> (18 - 6 * k)) & 0x3f] : '=';
    }
  }
  std::string pem(pem_header);
  pem += '\n';
  for (std::size_t i = 0; i < base64.size(); i += 64) {
    pem.append(base64, i, 64);
    pem += '\n';
  }
  pem += pem_footer;
  pem += '\n';
  return pem;
}

std::string pem_cert_to_der_cert(std::string_view pem) {
  Text text = pystr::decode(pem);
  if (!pystr::starts_with(text, pem_header)) {
    throw std::invalid_argument("Invalid PEM encoding; must start with " + std::string(pem_header));
  }
  Text stripped = pystr::strip(text, true);
  if (!pystr::ends_with(stripped, pem_footer)) {
    throw std::invalid_argument("Invalid PEM encoding; must end with " + std::string(pem_footer));
  }
  // stripped[len(HEADER):-len(FOOTER)]: the two lines may share their
  // dashes, leaving nothing between.
  std::size_t begin = pem_header.size();
  std::size_t end = stripped.size() - pem_footer.size();
  Text body = end > begin ? stripped.substr(begin, end - begin) : Text();
  auto first = std::find_if(body.begin(), body.end(), [](char32_t c) { return c >= 0x80; });
  if (first != body.end()) {
    auto last = std::find_if(first, body.end(), [](char32_t c) { return c < 0x80; });
    throw std::invalid_argument(pystr::encode_error_message(
        "ascii", body, static_cast<std::size_t>(first - body.begin()),
        static_cast<std::size_t>(last - body.begin()), "ordinal not in range(128)"));
  }
  return a2b_base64(body);
}

}  // namespace sanstls
