// sanstls decode-cert FILE: prints the first PEM certificate in FILE as the
// JSON of Python's ssl._ssl._test_decode_cert(FILE).
//
// Python hands the file to OpenSSL's PEM_read_bio_X509, so the PEM reader
// here follows OpenSSL 3's rules rather than a tidier reading of RFC 7468:
// the parity test (test/tools/decode_cert_parity.py) holds the two together,
// file by file. The library's pem_cert_to_der_cert (helpers.hpp) is Python's
// PEM_cert_to_DER_cert, which skips what is not base64 where OpenSSL refuses
// it, and a tool may not call BoringSSL: hence the reader lives here.
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/bytes.hpp>
#include <sanstls/certificate.hpp>

#include "commands.hpp"

namespace {

constexpr std::string_view usage_text =
    "usage: sanstls decode-cert FILE\n"
    "\n"
    "Prints the first PEM certificate in FILE as JSON, the dictionary Python's\n"
    "ssl._ssl._test_decode_cert(FILE) returns. Text and other PEM blocks (keys,\n"
    "parameters) before the certificate are skipped, as OpenSSL skips them.\n";

// Failure is what the command reports on stderr before exiting with status 1.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string read_file(const std::string& path) {
  // fopen succeeds on a directory and only the read fails, with a less
  // helpful message, so ask first.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Failure("cannot read " + in_quotes(path) + ": Is a directory");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw Failure("cannot open " + in_quotes(path) + ": " + std::strerror(errno));
  }
  // A line that starts with a NUL byte is where OpenSSL stops reading (see
  // Lines), so stop there too: /dev/zero is a short read, not an endless one.
  std::string text;
  char buf[16384];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    std::size_t from = text.size();
    text.append(buf, n);
    std::size_t nul = text.find('\0', from);
    while (nul != std::string::npos && nul > 0 && text[nul - 1] != '\n') {
      nul = text.find('\0', nul + 1);
    }
    if (nul != std::string::npos) {
      text.resize(nul + 1);
      break;
    }
  }
  int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) {
    throw Failure("cannot read " + in_quotes(path) + ": " + std::strerror(read_errno));
  }
  return text;
}

// Lines hands out the file's lines as OpenSSL's PEM reader sees them. Its
// file BIO reads with fgets and measures with strlen: a line ends at a NUL
// byte, and a line that starts with one reads as the end of the file. It
// strips a UTF-8 byte order mark from the first line of every search for a
// BEGIN line and of every block body, and trailing bytes up to ' ' compared
// as a signed char: so also every byte from 0x80 (Python's OpenSSL on x86).
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  std::optional<std::string_view> next(bool first_of_read) {
    if (pos_ < text_.size() && text_[pos_] == '\0') {
      nul_line_ = number_ + 1;
      pos_ = text_.size();
    }
    if (pos_ >= text_.size()) return std::nullopt;
    std::size_t eol = text_.find('\n', pos_);
    std::size_t raw_size = (eol == std::string_view::npos ? text_.size() : eol + 1) - pos_;
    if (eol == std::string_view::npos) eol = text_.size();
    std::string_view line = text_.substr(pos_, eol - pos_);
    pos_ = eol + 1;
    ++number_;
    if (std::size_t nul = line.find('\0'); nul != std::string_view::npos) {
      line = line.substr(0, nul);
      raw_size = nul;
    }
    if (first_of_read && raw_size > 3 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    while (!line.empty() && (static_cast<unsigned char>(line.back()) <= ' ' ||
                             static_cast<unsigned char>(line.back()) >= 0x80)) {
      line.remove_suffix(1);
    }
    return line;
  }

  std::size_t number() const { return number_; }

  // why_ended explains an early end of the file, or is empty.
  std::string why_ended() const {
    if (nul_line_ == 0) return "";
    return " (reading stopped at line " + std::to_string(nul_line_) +
           ", which starts with a NUL byte: OpenSSL reads that as the end of the file)";
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t number_ = 0;
  std::size_t nul_line_ = 0;
};

// Base64 decodes a block body the way OpenSSL's EVP_DecodeUpdate does:
// whitespace is skipped, a '-' ends the data (whatever follows is ignored),
// at most two '=' and only at the end, a multiple of four characters.
class Base64 {
 public:
  // add decodes one line; the error names |line_number| and what is wrong.
  void add(std::string_view line, std::size_t line_number, std::string_view label) {
    for (char c : line) {
      if (ended_) return;
      if (c == ' ' || c == '\t' || c == '\r') continue;
      if (c == '-') {
        ended_ = true;
        return;
      }
      int value = sextet(c);
      if (value < 0) {
        throw Failure("line " + std::to_string(line_number) + ": " + describe(c) + " in the " +
                      std::string(label) + " block is not base64");
      }
      if (c == '=') {
        if (++padding_ > 2) {
          throw Failure("line " + std::to_string(line_number) + ": more than two '=' in the " +
                        std::string(label) + " block");
        }
      } else if (padding_ > 0) {
        throw Failure("line " + std::to_string(line_number) + ": base64 data after '=' in the " +
                      std::string(label) + " block");
      }
      group_ = (group_ << 6) | static_cast<unsigned>(value);
      if (++count_ % 4 == 0) {
        bytes_.push_back(static_cast<char>(group_ >> 16));
        bytes_.push_back(static_cast<char>(group_ >> 8));
        bytes_.push_back(static_cast<char>(group_));
        group_ = 0;
      }
    }
  }

  // finish returns the decoded bytes once the whole body has been added.
  std::string finish(std::string_view label, std::size_t begin_line) {
    if (count_ % 4 != 0) {
      throw Failure("the " + std::string(label) + " block at line " + std::to_string(begin_line) +
                    " is cut short: " + std::to_string(count_) +
                    " base64 characters, not a multiple of four");
    }
    bytes_.resize(bytes_.size() - padding_);
    return std::move(bytes_);
  }

 private:
  static int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return 0;
    return -1;
  }

  static std::string describe(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", u);
    return std::string("byte ") + hex;
  }

  std::string bytes_;
  unsigned group_ = 0;
  std::size_t count_ = 0;
  std::size_t padding_ = 0;
  bool ended_ = false;
};

struct PemBlock {
  std::string label;
  std::size_t begin_line = 0;
  bool has_headers = false;    // RFC 1421 headers, as "Proc-Type: 4,ENCRYPTED"
  std::size_t blank_line = 0;  // where the headers end, if they do
  std::string data;
};

constexpr std::string_view begin_prefix = "-----BEGIN ";
constexpr std::string_view end_prefix = "-----END ";
constexpr std::string_view dashes = "-----";

// read_block reads the body of the block whose BEGIN line was just read, up
// to and including its END line. OpenSSL's get_header_and_data decides what
// is header and what is data: lines before the first blank line are headers
// when one of them holds a ':' or a blank line follows them; after a blank
// line, the data must come in lines of exactly 64 characters but the last.
PemBlock read_block(Lines& lines, std::string label) {
  PemBlock block;
  block.label = std::move(label);
  block.begin_line = lines.number();
  enum class Part { maybe_header, in_header, data_after_blank } part = Part::maybe_header;
  std::vector<std::pair<std::string_view, std::size_t>> pending;  // header or data
  std::vector<std::pair<std::string_view, std::size_t>> data;
  bool short_line_seen = false;
  bool first = true;
  for (;;) {
    std::optional<std::string_view> line = lines.next(first);
    first = false;
    if (!line) {
      throw Failure("the " + block.label + " block at line " + std::to_string(block.begin_line) +
                    " has no \"-----END " + block.label + "-----\" line" +
                    (lines.why_ended().empty() ? " (file truncated?)" : lines.why_ended()));
    }
    const std::size_t n = lines.number();
    if (part == Part::maybe_header && line->find(':') != std::string_view::npos) {
      part = Part::in_header;
    }
    if (line->empty()) {
      if (part == Part::data_after_blank) {
        throw Failure("line " + std::to_string(n) + ": a second blank line in the " +
                      block.label + " block");
      }
      block.has_headers = !pending.empty();
      pending.clear();
      block.blank_line = n;
      part = Part::data_after_blank;
      continue;
    }
    if (line->starts_with(end_prefix)) {
      std::string_view rest = line->substr(end_prefix.size());
      if (rest != block.label + std::string(dashes)) {
        throw Failure("line " + std::to_string(n) + ": \"" + std::string(*line) +
                      "\" does not end the " + block.label + " block begun at line " +
                      std::to_string(block.begin_line));
      }
      break;
    }
    if (short_line_seen) {
      throw Failure("line " + std::to_string(n) + ": after the blank line at line " +
                    std::to_string(block.blank_line) + " in the " + block.label +
                    " block, only the last line before END may be shorter than 64 characters");
    }
    if (part == Part::data_after_blank) {
      if (line->size() > 64) {
        throw Failure("line " + std::to_string(n) + ": after the blank line at line " +
                      std::to_string(block.blank_line) + " in the " + block.label +
                      " block, lines may not be longer than 64 characters");
      }
      short_line_seen = line->size() < 64;
      data.emplace_back(*line, n);
    } else {
      pending.emplace_back(*line, n);
    }
  }
  if (part == Part::maybe_header) data = std::move(pending);  // no headers after all
  if (part == Part::in_header) block.has_headers = true;      // and no data

  Base64 base64;
  for (const auto& [text, number] : data) base64.add(text, number, block.label);
  block.data = base64.finish(block.label, block.begin_line);
  // OpenSSL fails the whole read on a block without data, whatever its label.
  if (block.data.empty()) {
    std::string what = "the " + block.label + " block at line " + std::to_string(block.begin_line);
    if (part == Part::in_header) {
      throw Failure(what + " has no data: a line with ':' made all its lines PEM header lines");
    }
    if (block.has_headers) {
      throw Failure(what + " has no data after its blank line at line " +
                    std::to_string(block.blank_line) +
                    ", and the lines before it count as PEM header lines");
    }
    throw Failure(what + " is empty");
  }
  return block;
}

bool is_certificate_label(std::string_view label) {
  // PEM_read_bio_X509 also takes the pre-RFC 7468 label, but not
  // "TRUSTED CERTIFICATE" (that is PEM_read_bio_X509_AUX).
  return label == "CERTIFICATE" || label == "X509 CERTIFICATE";
}

// first_certificate returns the first certificate block. Every block before it
// must be well-formed too: OpenSSL reads and decodes each one in turn.
PemBlock first_certificate(std::string_view text) {
  Lines lines(text);
  std::string skipped;
  bool first = true;
  while (std::optional<std::string_view> line = lines.next(first)) {
    first = false;
    if (!line->starts_with(begin_prefix) || !line->ends_with(dashes) ||
        line->size() < begin_prefix.size() + dashes.size()) {
      continue;
    }
    std::string label(line->substr(begin_prefix.size(),
                                   line->size() - begin_prefix.size() - dashes.size()));
    PemBlock block = read_block(lines, std::move(label));
    if (is_certificate_label(block.label)) return block;
    skipped += (skipped.empty() ? "" : ", ") + block.label;
    first = true;
  }
  if (skipped.empty()) {
    throw Failure("no \"-----BEGIN CERTIFICATE-----\" line: not a PEM certificate file" +
                  lines.why_ended());
  }
  throw Failure("no certificate among its PEM blocks (found " + skipped + ")" + lines.why_ended());
}

// der_element returns the DER element at the start of |der|: OpenSSL's
// d2i_X509 reads one certificate and ignores any bytes after it, while
// Certificate::from_der insists on exactly one certificate.
std::string_view der_element(std::string_view der) {
  if (der.size() < 2) return der;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(der[i]); };
  std::size_t header = 2;
  std::size_t length = byte(1);
  if (length > 0x80 && length <= 0x84) {
    std::size_t octets = length - 0x80;
    if (der.size() < 2 + octets) return der;
    length = 0;
    for (std::size_t i = 0; i < octets; ++i) length = (length << 8) | byte(2 + i);
    header += octets;
  } else if (length >= 0x80) {
    return der;  // indefinite or absurd: let from_der say what is wrong
  }
  if (length > der.size() - header) {
    throw Failure("the DER is cut short: its outer element claims " +
                  std::to_string(header + length) + " bytes, the block holds " +
                  std::to_string(der.size()));
  }
  return der.substr(0, header + length);
}

std::string decode(const std::string& path) {
  std::string text = read_file(path);
  if (text.empty()) throw Failure("the file is empty");
  PemBlock block = first_certificate(text);
  if (block.has_headers) {
    throw Failure("the " + block.label + " block at line " + std::to_string(block.begin_line) +
                  " has PEM header lines (the lines before its blank line at line " +
                  std::to_string(block.blank_line) +
                  ", as an encrypted key's \"Proc-Type:\"), which a certificate may not have");
  }
  std::string_view der = der_element(block.data);
  try {
    return sanstls::Certificate::from_der(sanstls::as_bytes(der)).to_json();
  } catch (const std::exception& e) {
    throw Failure("the " + block.label + " block at line " + std::to_string(block.begin_line) +
                  " is not a valid certificate: " + e.what());
  }
}

}  // namespace

int run_decode_cert(int argc, char** argv) {
  std::vector<std::string_view> operands;
  bool options_ended = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!options_ended && (arg == "-h" || arg == "--help")) {
      std::cout << usage_text;
      return 0;
    }
    if (!options_ended && arg == "--") {
      options_ended = true;
    } else if (!options_ended && arg.size() > 1 && arg.starts_with('-')) {
      std::cerr << "sanstls decode-cert: unknown option '" << arg << "'\n" << usage_text;
      return 2;
    } else {
      operands.push_back(arg);
    }
  }
  if (operands.size() != 1) {
    std::cerr << usage_text;
    return 2;
  }
  const std::string path(operands[0]);
  try {
    std::string json = decode(path);
    std::cout << json << '\n' << std::flush;
    if (!std::cout) {
      std::cerr << "sanstls decode-cert: cannot write the output\n";
      return 1;
    }
    return 0;
  } catch (const Failure& e) {
    // The file's name leads unless the message already names it.
    std::string_view what = e.what();
    std::cerr << "sanstls decode-cert: ";
    if (what.find(in_quotes(path)) == std::string_view::npos) std::cerr << path << ": ";
    std::cerr << what << '\n';
  } catch (const std::exception& e) {
    std::cerr << "sanstls decode-cert: " << path << ": " << e.what() << '\n';
  }
  return 1;
}
