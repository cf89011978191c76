// Python's str for sanstls: UTF-8 to code points and back, and the str
// operations (repr, lower, strip, character classes) that the certificate
// helpers' results and messages depend on. Python counts, slices, classifies
// and quotes code points, so these do too.
#include "text.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sanstls::pystr {

namespace {

// The character classes come from Python's unicodedata, by
// scripts/gen-unicode-tables: see unicode_tables.inc.

struct CodePointRange {
  char32_t first;
  char32_t last;
};

// LowerRun is a run of lower-case mappings: every stride-th character from
// first to last maps to itself plus delta.
struct LowerRun {
  char32_t first;
  char32_t last;
  char32_t stride;
  std::int32_t delta;
};

#include "unicode_tables.inc"

template <typename Range>
const Range* find_range(std::span<const Range> ranges, char32_t c) {
  auto it = std::lower_bound(ranges.begin(), ranges.end(), c,
                             [](const Range& r, char32_t value) { return r.last < value; });
  if (it == ranges.end() || it->first > c) return nullptr;
  return &*it;
}

bool is_printable(char32_t c) {
  return find_range<CodePointRange>(kNonPrintable, c) == nullptr;
}

void append_lower(Text& out, char32_t c) {
  if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: "i" + COMBINING DOT ABOVE
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  const LowerRun* r = find_range<LowerRun>(kLower, c);
  if (r != nullptr && (c - r->first) % r->stride == 0) {
    out += static_cast<char32_t>(static_cast<std::int64_t>(c) + r->delta);
  } else {
    out += c;
  }
}

// ---------------------------------------------------------------------------
// UTF-8 <-> code points. Bytes outside a valid UTF-8 sequence become
// U+DC80..U+DCFF and back, as Python's "surrogateescape".

constexpr char32_t kEscapeBase = 0xdc00;

bool is_escaped_byte(char32_t c) { return c >= 0xdc80 && c <= 0xdcff; }

bool is_surrogate(char32_t c) { return c >= 0xd800 && c <= 0xdfff; }

// Utf8Sequence is what Python's UTF-8 decoder makes of the bytes at one
// position: a code point and its length, or why the bytes are not UTF-8
// and how many of them its UnicodeDecodeError names (length).
struct Utf8Sequence {
  char32_t code_point = 0;
  std::size_t length = 0;
  const char* error = nullptr;  // the UnicodeDecodeError's reason, or null
};

Utf8Sequence next_sequence(std::string_view utf8, std::size_t i) {
  auto byte = [&utf8](std::size_t k) { return static_cast<unsigned char>(utf8[k]); };
  auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return {b0, 1, nullptr};
  // The second byte's range depends on the first: this excludes overlong
  // forms, surrogates and values above U+10FFFF, as Python's decoder does.
  std::size_t length = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (in(b0, 0xc2, 0xdf)) {
    length = 2;
  } else if (in(b0, 0xe0, 0xef)) {
    length = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (in(b0, 0xf0, 0xf4)) {
    length = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return {0, 1, "invalid start byte"};
  }
  // As CPython's decoder: the first bad byte ends the sequence; running out
  // of data with every byte so far good is "unexpected end of data".
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= utf8.size()) return {0, utf8.size() - i, "unexpected end of data"};
    if (!in(byte(i + k), k == 1 ? lo : 0x80, k == 1 ? hi : 0xbf)) {
      return {0, k, "invalid continuation byte"};
    }
  }
  char32_t c = b0 & (length == 2 ? 0x1f : length == 3 ? 0x0f : 0x07);
  for (std::size_t k = 1; k < length; ++k) c = (c << 6) | (byte(i + k) & 0x3f);
  return {c, length, nullptr};
}

void append_utf8(std::string& out, char32_t c) {
  if (is_escaped_byte(c)) {
    out += static_cast<char>(c - kEscapeBase);
  } else if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

// append_escape writes |c| as Python's escapes do, in the shortest of
// \xhh, \uhhhh and \Uhhhhhhhh.
void append_escape(std::string& out, char32_t c) {
  static constexpr char kHex[] = "0123456789abcdef";
  int digits = 8;
  if (c <= 0xff) {
    out += "\\x";
    digits = 2;
  } else if (c <= 0xffff) {
    out += "\\u";
    digits = 4;
  } else {
    out += "\\U";
  }
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(c >> shift) & 0xf];
}

}  // namespace

Text decode(std::string_view utf8) {
  Text out;
  out.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    const Utf8Sequence s = next_sequence(utf8, i);
    if (s.error == nullptr) {
      out += s.code_point;
    } else {
      // surrogateescape stands each byte of the invalid sequence for itself.
      for (std::size_t k = 0; k < s.length; ++k) {
        out += kEscapeBase + static_cast<unsigned char>(utf8[i + k]);
      }
    }
    i += s.length;
  }
  return out;
}

std::string encode(const Text& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

void check_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    const Utf8Sequence s = next_sequence(bytes, i);
    if (s.error != nullptr) {
      char buf[160];
      if (s.length == 1) {
        std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                      static_cast<unsigned char>(bytes[i]), i, s.error);
      } else {
        std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode bytes in position %zu-%zu: %s", i,
                      i + s.length - 1, s.error);
      }
      throw std::invalid_argument(buf);
    }
    i += s.length;
  }
}

std::string repr(const Text& text) {
  bool has_single = text.find(U'\'') != Text::npos;
  bool has_double = text.find(U'"') != Text::npos;
  char32_t quote = has_single && !has_double ? U'"' : U'\'';
  std::string out(1, static_cast<char>(quote));
  for (char32_t c : text) {
    if (c == quote || c == U'\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if ((c >= 0x20 && c < 0x7f) || is_printable(c)) {
      append_utf8(out, c);
    } else {
      append_escape(out, c);
    }
  }
  out += static_cast<char>(quote);
  return out;
}

std::string encode_error_message(std::string_view codec, const Text& text, std::size_t start,
                                 std::size_t end, std::string_view reason) {
  // Appends only: GCC 12 at -O3 reports a false -Wrestrict inside
  // "literal" + temporary std::string (GCC bug 105329).
  std::string out = "'";
  out += codec;
  out += "' codec can't encode ";
  if (end == start + 1) {
    out += "character '";
    append_escape(out, text[start]);
    out += "' in position ";
    out += std::to_string(start);
  } else {
    out += "characters in position ";
    out += std::to_string(start);
    out += '-';
    out += std::to_string(end - 1);
  }
  out += ": ";
  out += reason;
  return out;
}

std::string c_string_argument(const Text& text) {
  auto first = std::find_if(text.begin(), text.end(), is_surrogate);
  if (first != text.end()) {
    auto last = std::find_if_not(first, text.end(), is_surrogate);
    throw std::invalid_argument(encode_error_message(
        "utf-8", text, static_cast<std::size_t>(first - text.begin()),
        static_cast<std::size_t>(last - text.begin()), "surrogates not allowed"));
  }
  std::string utf8 = encode(text);
  if (utf8.find('\0') != std::string::npos) throw std::invalid_argument("embedded null character");
  return utf8;
}

Text lower(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (char32_t c : text) append_lower(out, c);
  return out;
}

Text strip(const Text& text, bool left) {
  std::size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end && is_space(text[begin])) ++begin;
  }
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

Text ascii_text(std::string_view ascii) { return Text(ascii.begin(), ascii.end()); }

bool starts_with(const Text& text, std::string_view ascii) {
  return text.size() >= ascii.size() && std::equal(ascii.begin(), ascii.end(), text.begin());
}

bool ends_with(const Text& text, std::string_view ascii) {
  return text.size() >= ascii.size() &&
         std::equal(ascii.begin(), ascii.end(), text.end() - static_cast<std::ptrdiff_t>(ascii.size()));
}

bool is_space(char32_t c) { return find_range<CodePointRange>(kWhitespace, c) != nullptr; }

int decimal_value(char32_t c) {
  const CodePointRange* r = find_range<CodePointRange>(kDigits, c);
  return r == nullptr ? -1 : static_cast<int>((c - r->first) % 10);
}

}  // namespace sanstls::pystr
