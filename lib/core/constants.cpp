#include <sanstls/constants.hpp>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <sanstls/error.hpp>

namespace sanstls {

namespace {

// declares_* tell whether BoringSSL's headers declare a function, by
// argument-dependent lookup at instantiation: a missing function makes the
// overload taking the call's type drop out instead of failing the build.
template <class S>
auto declares_npn(S* ctx, int) -> decltype(SSL_CTX_set_next_proto_select_cb(ctx, nullptr, nullptr),
                                            std::true_type{});
template <class S>
std::false_type declares_npn(S*, long);

template <class S>
auto declares_pha(S* ssl, int) -> decltype(SSL_verify_client_post_handshake(ssl), std::true_type{});
template <class S>
std::false_type declares_pha(S*, long);

}  // namespace

// The flags follow what the headers offer; the test proves each by a
// handshake.
static_assert(has_npn == decltype(declares_npn(std::declval<SSL_CTX*>(), 0))::value,
              "has_npn disagrees with BoringSSL's headers");
static_assert(has_pha == decltype(declares_pha(std::declval<SSL*>(), 0))::value,
              "has_pha disagrees with BoringSSL's headers");
#ifndef TLS1_3_VERSION
static_assert(!has_tlsv1_3, "has_tlsv1_3 but BoringSSL's headers have no TLS1_3_VERSION");
#endif
static_assert(decode_openssl_version(0x1010107f) == OpenSSLVersionInfo{1, 1, 1, 7, 15});
static_assert(decode_openssl_version(0x30000020) == OpenSSLVersionInfo{3, 0, 0, 2, 0});

std::uint32_t openssl_version_number() noexcept {
  return static_cast<std::uint32_t>(OpenSSL_version_num());
}

OpenSSLVersionInfo openssl_version_info() noexcept {
  return decode_openssl_version(openssl_version_number());
}

std::optional<SSLErrorNumber> error_number(const Error& error) noexcept {
  switch (error.kind) {
    case ErrorKind::ssl:
    case ErrorKind::cert_verification:
      return SSLErrorNumber::ssl;
    case ErrorKind::zero_return:
      return SSLErrorNumber::zero_return;
    case ErrorKind::want_read:
      return SSLErrorNumber::want_read;
    case ErrorKind::want_write:
      return SSLErrorNumber::want_write;
    case ErrorKind::syscall:
      return SSLErrorNumber::syscall;
    case ErrorKind::eof:
      return SSLErrorNumber::eof;
    case ErrorKind::certificate:
    case ErrorKind::want_application:  // no SSL_ERROR_* of Python's
    case ErrorKind::early_data_rejected:
      return std::nullopt;
  }
  return SSLErrorNumber::invalid_error_code;  // a kind added to ErrorKind later
}

std::string rand_bytes(std::size_t num) {
  if (num > static_cast<std::size_t>(INT_MAX)) {
    throw std::invalid_argument("num must be at most " + std::to_string(INT_MAX));
  }
  std::string out(num, '\0');
  // BoringSSL's RAND_bytes cannot fail (it aborts the process if the
  // operating system refuses randomness); the check is for other builds.
  if (RAND_bytes(reinterpret_cast<std::uint8_t*>(out.data()), out.size()) != 1) {
    Error e;
    e.library = "RAND";
    e.message = "[RAND] random number generation failed";
    throw SSLError(std::move(e));
  }
  return out;
}

PseudoRandomBytes rand_pseudo_bytes(std::size_t num) { return {rand_bytes(num), true}; }

bool rand_status() noexcept { return RAND_status() == 1; }

void rand_add(std::span<const std::byte> data, double entropy) noexcept {
  // RAND_add takes an int length: feed larger inputs in pieces, as Python.
  while (!data.empty()) {
    std::size_t piece = std::min(data.size(), static_cast<std::size_t>(INT_MAX));
    RAND_add(data.data(), static_cast<int>(piece), entropy);
    data = data.subspan(piece);
  }
}

void rand_add(std::string_view data, double entropy) noexcept {
  rand_add(std::as_bytes(std::span(data.data(), data.size())), entropy);
}

}  // namespace sanstls
