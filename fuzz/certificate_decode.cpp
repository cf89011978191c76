// fuzz/certificate_decode.cpp: the certificate decoder and the module-level
// helpers on arbitrary bytes.
//
// Input: [hostname length] [hostname] [DER bytes]
// The DER bytes go to Certificate::from_der, whose to_json() must be
// well-formed JSON; the hostname to match_hostname against that
// certificate and against one built from the input. DER → PEM → DER must
// give the same bytes back; cert_time_to_seconds gets the decoded times and
// the hostname. The documented exceptions (SSLError and its subclasses,
// CertificateError among them, and std::invalid_argument) are expected;
// anything else escapes and is a bug, as is an abort.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/certificate.hpp>
#include <sanstls/error.hpp>
#include <sanstls/helpers.hpp>

#include "fuzz_support.hpp"

namespace {

[[noreturn]] void bug(const char* what, std::string_view detail) {
  std::fprintf(stderr, "certificate_decode: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// JsonChecker accepts exactly the JSON grammar (RFC 8259), without
// building anything.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : s_(text) {}

  bool valid() {
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return pos_ == s_.size();
  }

 private:
  bool value(int depth) {
    if (depth > 64 || pos_ >= s_.size()) return false;
    switch (s_[pos_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool object(int depth) {
    ++pos_;
    skip_space();
    if (peek('}')) return ++pos_, true;
    for (;;) {
      skip_space();
      if (!peek('"') || !string()) return false;
      skip_space();
      if (!peek(':')) return false;
      ++pos_;
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (peek('}')) return ++pos_, true;
      if (!peek(',')) return false;
      ++pos_;
    }
  }

  bool array(int depth) {
    ++pos_;
    skip_space();
    if (peek(']')) return ++pos_, true;
    for (;;) {
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (peek(']')) return ++pos_, true;
      if (!peek(',')) return false;
      ++pos_;
    }
  }

  bool string() {
    ++pos_;
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      if (e == 'u') {
        for (int i = 0; i < 4; ++i, ++pos_) {
          if (pos_ >= s_.size() || std::string_view("0123456789abcdefABCDEF").find(s_[pos_]) == std::string_view::npos) {
            return false;
          }
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }

  bool number() {
    const std::size_t start = pos_;
    if (peek('-')) ++pos_;
    std::size_t digits = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_, ++digits;
    return digits != 0 && pos_ > start;
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// expected runs |f| and swallows the exceptions the helpers document.
template <class F>
void expected(F f) {
  try {
    f();
  } catch (const sanstls::SSLError&) {
  } catch (const std::invalid_argument&) {
  }
}

// made_up builds a certificate from the input's bytes, so match_hostname
// sees names that random DER would rarely decode to.
sanstls::Certificate made_up(std::string_view bytes) {
  static constexpr std::string_view kinds[] = {"DNS", "IP Address", "email", "URI", "DNS", "DNS"};
  sanstls::Certificate cert;
  cert.version = 3;
  sanstls_fuzz::Input in(bytes);
  cert.subject.push_back({{"commonName", std::string(in.take(in.byte() % 64))}});
  while (!in.empty()) {
    const std::uint8_t b = in.byte();
    cert.subject_alt_name.push_back({std::string(kinds[b % 6]), std::string(in.take(b / 6 % 40)), {}});
  }
  return cert;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::Input input(data, size);
  const std::string_view hostname = input.take(input.byte() % 80);
  const std::string_view der = input.rest();

  // DER → PEM → DER gives the bytes back, whatever they are.
  const std::string pem = sanstls::der_cert_to_pem_cert(sanstls::as_bytes(der));
  if (sanstls::pem_cert_to_der_cert(pem) != der) bug("PEM round trip changed the bytes", pem);
  // The raw input as PEM text: errors only of the documented kinds.
  expected([&] { (void)sanstls::pem_cert_to_der_cert(der); });
  expected([&] { (void)sanstls::cert_time_to_seconds(hostname); });

  expected([&] {
    const sanstls::Certificate cert = sanstls::Certificate::from_der(sanstls::as_bytes(der));
    if (!(sanstls::Certificate::from_der(sanstls::as_bytes(der)) == cert)) {
      bug("decoding is not deterministic", der);
    }
    const std::string json = cert.to_json();
    if (!JsonChecker(json).valid()) bug("to_json is not JSON", json);
    expected([&] { (void)sanstls::cert_time_to_seconds(cert.not_before); });
    expected([&] { (void)sanstls::cert_time_to_seconds(cert.not_after); });
    expected([&] { sanstls::match_hostname(cert, hostname); });
  });

  const sanstls::Certificate fake = made_up(der.substr(0, 512));
  if (!JsonChecker(fake.to_json()).valid()) bug("to_json of a made-up certificate is not JSON", fake.to_json());
  expected([&] { sanstls::match_hostname(fake, hostname); });
  return 0;
}
