// Python's str, for the functions that must answer as Python does (the
// certificate helpers, and the certificate fields Python decodes): text as
// code points, and the str operations and error messages they rely on.
// Not installed.
#ifndef SANSTLS_LIB_CORE_TEXT_HPP
#define SANSTLS_LIB_CORE_TEXT_HPP

#include <cstddef>
#include <string>
#include <string_view>

namespace sanstls::pystr {

// Text is a str: one element a code point. Bytes that are not valid UTF-8
// stand for themselves as U+DC80..U+DCFF, as Python's "surrogateescape".
using Text = std::u32string;

// decode is bytes.decode("utf-8", "surrogateescape").
Text decode(std::string_view utf8);

// encode is str.encode("utf-8", "surrogateescape"): the inverse of decode.
std::string encode(const Text& text);

// check_utf8 accepts what bytes.decode("utf-8") accepts, and throws
// std::invalid_argument with its UnicodeDecodeError's text otherwise
// ("'utf-8' codec can't decode byte 0xff in position 3: invalid start
// byte").
void check_utf8(std::string_view bytes);

// encode_error_message is UnicodeEncodeError's text for the characters
// [start, end) of |text| that |codec| cannot encode, for |reason|.
std::string encode_error_message(std::string_view codec, const Text& text, std::size_t start,
                                 std::size_t end, std::string_view reason);

// c_string_argument is what Python's socket functions do to a str before
// calling C: encode it as UTF-8 (a ValueError for lone surrogates, which is
// what escaped bytes are) and refuse embedded NULs. Throws
// std::invalid_argument.
std::string c_string_argument(const Text& text);

// repr is Python 3's repr() of a str, as UTF-8: the messages Python raises
// quote names with it, and callers compare those messages.
std::string repr(const Text& text);

// lower is str.lower() without the final-sigma rule, which needs the
// "cased" and "case-ignorable" properties of the neighbours.
Text lower(const Text& text);

// strip is str.strip() (str.rstrip() unless |left|).
Text strip(const Text& text, bool left);

// ascii_text is |ascii| as Text.
Text ascii_text(std::string_view ascii);

// starts_with and ends_with compare with ASCII text.
bool starts_with(const Text& text, std::string_view ascii);
bool ends_with(const Text& text, std::string_view ascii);

// is_space is str.isspace(), which is also what re's \s and str.strip()
// take as whitespace.
bool is_space(char32_t c);

// decimal_value returns the value of a character re's \d matches, else -1.
// int() takes the same characters, so "٥" is 5 for both.
int decimal_value(char32_t c);

}  // namespace sanstls::pystr

#endif  // SANSTLS_LIB_CORE_TEXT_HPP
