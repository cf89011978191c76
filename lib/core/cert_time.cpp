// Python 3.7's ssl.cert_time_to_seconds: the month by its English
// abbreviation, then the rest as time.strptime(rest, " %d %H:%M:%S %Y GMT")
// parses it, and the seconds as calendar.timegm counts them.
#include <sanstls/helpers.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "text.hpp"

namespace sanstls {

namespace {

using pystr::Text;

// The regular expression time.strptime builds from the format, matched the
// way Python's re does (alternatives in order, greedy whitespace,
// backtracking, IGNORECASE for the letters).

constexpr std::string_view kTimeFormat = " %d %H:%M:%S %Y GMT";

// CharClass is one character position: an ASCII range, or re's \d (any
// Unicode decimal digit) when any_digit is set.
struct CharClass {
  char lo;
  char hi;
  bool any_digit = false;
};

constexpr CharClass kDigit{'0', '9', true};

constexpr CharClass only(char c) { return CharClass{c, c}; }

struct Alternative {
  std::array<CharClass, 4> chars;
  std::size_t size;
};

// The fields' alternatives, in the order _strptime writes them.
constexpr Alternative kDay[] = {
    {{only('3'), CharClass{'0', '1'}}, 2},       // 3[0-1]
    {{CharClass{'1', '2'}, kDigit}, 2},          // [1-2]\d
    {{only('0'), CharClass{'1', '9'}}, 2},       // 0[1-9]
    {{CharClass{'1', '9'}}, 1},                  // [1-9]
    {{only(' '), CharClass{'1', '9'}}, 2},       // " [1-9]"
};
constexpr Alternative kHour[] = {
    {{only('2'), CharClass{'0', '3'}}, 2},  // 2[0-3]
    {{CharClass{'0', '1'}, kDigit}, 2},     // [0-1]\d
    {{kDigit}, 1},                          // \d
};
constexpr Alternative kMinute[] = {
    {{CharClass{'0', '5'}, kDigit}, 2},  // [0-5]\d
    {{kDigit}, 1},                       // \d
};
constexpr Alternative kSecond[] = {
    {{only('6'), CharClass{'0', '1'}}, 2},  // 6[0-1]: leap seconds
    {{CharClass{'0', '5'}, kDigit}, 2},     // [0-5]\d
    {{kDigit}, 1},                          // \d
};
constexpr Alternative kYear[] = {
    {{kDigit, kDigit, kDigit, kDigit}, 4},  // \d\d\d\d
};

enum class Field : std::size_t { day, hour, minute, second, year };

struct Element {
  enum class Kind { whitespace, literal, field } kind;
  char literal = 0;
  std::span<const Alternative> alternatives{};
  Field field = Field::day;
};

constexpr Element whitespace() { return {Element::Kind::whitespace}; }
constexpr Element literal(char c) { return {Element::Kind::literal, c}; }
constexpr Element field(std::span<const Alternative> alternatives, Field which) {
  return {Element::Kind::field, 0, alternatives, which};
}

// Each run of whitespace in the format became \s+.
constexpr Element kTimePattern[] = {
    whitespace(), field(kDay, Field::day),
    whitespace(), field(kHour, Field::hour), literal(':'), field(kMinute, Field::minute),
    literal(':'), field(kSecond, Field::second),
    whitespace(), field(kYear, Field::year),
    whitespace(), literal('G'), literal('M'), literal('T'),
};

bool class_matches(const CharClass& cls, char32_t c) {
  if (cls.any_digit) return pystr::decimal_value(c) >= 0;
  return c >= static_cast<unsigned char>(cls.lo) && c <= static_cast<unsigned char>(cls.hi);
}

char32_t ascii_lower(char32_t c) { return c >= U'A' && c <= U'Z' ? c + 32 : c; }

using Fields = std::array<std::pair<std::size_t, std::size_t>, 5>;  // [begin, end) in the text

// match_time returns where the first match (in re's order) of the pattern
// from |element| on, starting at |pos|, ends.
std::optional<std::size_t> match_time(const Text& text, std::size_t pos, std::size_t element,
                                      Fields& fields) {
  if (element == std::size(kTimePattern)) return pos;
  const Element& e = kTimePattern[element];
  switch (e.kind) {
    case Element::Kind::whitespace: {
      std::size_t end = pos;
      while (end < text.size() && pystr::is_space(text[end])) ++end;
      for (; end > pos; --end) {
        if (auto found = match_time(text, end, element + 1, fields)) return found;
      }
      return std::nullopt;
    }
    case Element::Kind::literal:
      if (pos < text.size() && ascii_lower(text[pos]) == ascii_lower(static_cast<unsigned char>(e.literal))) {
        return match_time(text, pos + 1, element + 1, fields);
      }
      return std::nullopt;
    case Element::Kind::field:
      for (const Alternative& alternative : e.alternatives) {
        if (text.size() - pos < alternative.size) continue;
        bool matches = true;
        for (std::size_t k = 0; matches && k < alternative.size; ++k) {
          matches = class_matches(alternative.chars[k], text[pos + k]);
        }
        if (!matches) continue;
        fields[static_cast<std::size_t>(e.field)] = {pos, pos + alternative.size};
        if (auto found = match_time(text, pos + alternative.size, element + 1, fields)) return found;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// field_value is int() of a matched field; " 5" is 5.
std::int64_t field_value(const Text& text, std::pair<std::size_t, std::size_t> range) {
  std::int64_t value = 0;
  for (std::size_t k = range.first; k < range.second; ++k) {
    int digit = pystr::decimal_value(text[k]);
    if (digit >= 0) value = value * 10 + digit;
  }
  return value;
}

// days_from_civil counts days from 1970-01-01 to |year|-|month|-|day| in
// the proleptic Gregorian calendar; |day| may run past the month's end, as
// calendar.timegm lets it.
std::int64_t days_from_civil(std::int64_t year, std::int64_t month, std::int64_t day) {
  year -= month <= 2 ? 1 : 0;
  std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  std::int64_t year_of_era = year - era * 400;
  std::int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5;
  std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468 + (day - 1);
}

// month_number is the 1-based index of cert_time[:3].title() among the
// English abbreviations, or 0. Only ASCII letters title-case to ASCII,
// except "ſ" (LATIN SMALL LETTER LONG S), whose title case is "S".
int month_number(const Text& text) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (text.size() < 3) return 0;
  std::array<char32_t, 3> prefix = {text[0] == 0x17f ? U's' : text[0], text[1], text[2]};
  for (std::size_t m = 0; m < kMonths.size(); ++m) {
    bool same = true;
    for (std::size_t k = 0; same && k < 3; ++k) same = ascii_lower(prefix[k]) == static_cast<unsigned char>(kMonths[m][k]);
    if (same) return static_cast<int>(m) + 1;
  }
  return 0;
}

}  // namespace

std::int64_t cert_time_to_seconds(std::string_view cert_time) {
  Text text = pystr::decode(cert_time);
  int month = month_number(text);
  if (month == 0) {
    throw std::invalid_argument("time data " + pystr::repr(text) + " does not match format \"%b" +
                                std::string(kTimeFormat) + "\"");
  }
  Text rest = text.substr(3);
  Fields fields{};
  std::optional<std::size_t> end = match_time(rest, 0, 0, fields);
  if (!end) {
    throw std::invalid_argument("time data " + pystr::repr(rest) + " does not match format " +
                                pystr::repr(pystr::ascii_text(kTimeFormat)));
  }
  if (*end != rest.size()) {
    throw std::invalid_argument("unconverted data remains: " + pystr::encode(rest.substr(*end)));
  }
  auto value = [&](Field f) { return field_value(rest, fields[static_cast<std::size_t>(f)]); };
  std::int64_t year = value(Field::year);
  // strptime builds a date of January (the format has no month), so only
  // the year can be out of range here; "Feb 30" runs on into March.
  if (year == 0) throw std::invalid_argument("year 0 is out of range");
  std::int64_t days = days_from_civil(year, month, value(Field::day));
  return ((days * 24 + value(Field::hour)) * 60 + value(Field::minute)) * 60 + value(Field::second);
}

}  // namespace sanstls
