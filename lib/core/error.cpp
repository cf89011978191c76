#include <sanstls/error.hpp>

#include <cctype>
#include <limits>
#include <string>
#include <utility>

#include "internal.hpp"

namespace sanstls {

std::string_view status_name(Status status) noexcept {
  switch (status) {
    case Status::done: return "done";
    case Status::want_read: return "want_read";
    case Status::want_write: return "want_write";
    case Status::closed: return "closed";
    case Status::error: return "error";
    case Status::want_private_key: return "want_private_key";
    case Status::want_certificate_verify: return "want_certificate_verify";
    case Status::want_client_hello: return "want_client_hello";
    case Status::early_data_rejected: return "early_data_rejected";
  }
  return "unknown";
}

std::string_view error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::ssl: return "SSLError";
    case ErrorKind::zero_return: return "SSLZeroReturnError";
    case ErrorKind::want_read: return "SSLWantReadError";
    case ErrorKind::want_write: return "SSLWantWriteError";
    case ErrorKind::syscall: return "SSLSyscallError";
    case ErrorKind::eof: return "SSLEOFError";
    case ErrorKind::cert_verification: return "SSLCertVerificationError";
    case ErrorKind::certificate: return "CertificateError";
    case ErrorKind::want_application: return "SSLWantApplicationError";
    case ErrorKind::early_data_rejected: return "SSLEarlyDataRejectedError";
  }
  return "SSLError";
}

SSLError::SSLError(Error error)
    : std::runtime_error(error.message), error_(std::make_shared<const Error>(std::move(error))) {}

void throw_error(const Error& error) {
  switch (error.kind) {
    case ErrorKind::zero_return: throw SSLZeroReturnError(error);
    case ErrorKind::want_read: throw SSLWantReadError(error);
    case ErrorKind::want_write: throw SSLWantWriteError(error);
    case ErrorKind::syscall: throw SSLSyscallError(error);
    case ErrorKind::eof: throw SSLEOFError(error);
    case ErrorKind::want_application: throw SSLWantApplicationError(error);
    case ErrorKind::early_data_rejected: throw SSLEarlyDataRejectedError(error);
    case ErrorKind::cert_verification:
    case ErrorKind::certificate: throw SSLCertVerificationError(error);
    case ErrorKind::ssl: break;
  }
  throw SSLError(error);
}

void Result::throw_if_error() const {
  switch (status) {
    case Status::done:
    case Status::closed:
      return;
    case Status::want_read:
      throw SSLWantReadError(plain_error(ErrorKind::want_read, "The operation did not complete (read)"));
    case Status::want_write:
      throw SSLWantWriteError(plain_error(ErrorKind::want_write, "The operation did not complete (write)"));
    case Status::want_private_key:
    case Status::want_certificate_verify:
    case Status::want_client_hello:
      throw SSLWantApplicationError(plain_error(
          ErrorKind::want_application,
          "The operation did not complete (" + std::string(wait_description(status)) + ")"));
    case Status::early_data_rejected:
      throw SSLEarlyDataRejectedError(plain_error(
          ErrorKind::early_data_rejected,
          "The server rejected the early data: write it again once the handshake is done"));
    case Status::error:
      break;
  }
  if (error) throw_error(*error);
  throw SSLError(plain_error(ErrorKind::ssl, "unknown error"));
}

namespace {

// Python names libraries with its own short table rather than OpenSSL's
// long descriptions ("SSL routines"); these are its names for BoringSSL's.
std::string library_name(int lib) {
  switch (lib) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_CIPHER: return "CIPHER";
    case ERR_LIB_PKCS8: return "PKCS12";
    case ERR_LIB_PKCS7: return "PKCS7";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_BN: return "BN";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_ECDSA: return "ECDSA";
    case ERR_LIB_DH: return "DH";
    case ERR_LIB_DSA: return "DSA";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_BUF: return "BUF";
    case ERR_LIB_OBJ: return "OBJ";
    case ERR_LIB_DIGEST: return "DIGEST";
    case ERR_LIB_CRYPTO: return "CRYPTO";
    case ERR_LIB_CONF: return "CONF";
    case ERR_LIB_HKDF: return "HKDF";
    case ERR_LIB_USER: return "USER";
    default: {
      const char* s = ERR_lib_error_string(static_cast<std::uint32_t>(lib) << 24);
      return s != nullptr ? s : "";
    }
  }
}

// BoringSSL's reason strings are the code names ("WRONG_VERSION_NUMBER");
// OpenSSL's, which Python prints after the bracket, are the same words in
// lower case ("wrong version number").
std::string describe_reason(std::string_view name) {
  std::string text(name);
  for (char& c : text) {
    if (c == '_') {
      c = ' ';
    } else {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return text;
}

}  // namespace

Error error_from_code(std::uint32_t code, ErrorKind kind) {
  Error e;
  e.kind = kind;
  e.packed_code = code;
  e.library = library_name(ERR_GET_LIB(code));
  const char* reason = ERR_reason_error_string(code);
  if (ERR_GET_REASON(code) < ERR_NUM_LIBS) {
    // A bare "error in library X" code: its text names a library, not a
    // reason; Python shows such errors as "[LIB] text".
    e.message = "[" + e.library + "] " + (reason != nullptr ? reason : "unknown error");
    return e;
  }
  e.reason = reason != nullptr ? reason : "";
  if (e.reason.empty()) {
    e.message = e.library.empty() ? "unknown error" : "[" + e.library + "] unknown error";
  } else if (e.library.empty()) {
    e.message = describe_reason(e.reason);
  } else {
    e.message = "[" + e.library + ": " + e.reason + "] " + describe_reason(e.reason);
  }
  return e;
}

std::uint32_t take_error_code() {
  // Python reports the newest error. BoringSSL often adds a generic "error
  // in library X" entry on top of the one that says what went wrong (a
  // wrong password is CIPHER: BAD_DECRYPT under PEM: ASN1_LIB), so the
  // newest entry with a specific reason wins.
  std::uint32_t newest = 0;
  std::uint32_t newest_specific = 0;
  while (std::uint32_t code = ERR_get_error()) {
    newest = code;
    if (ERR_GET_REASON(code) >= ERR_NUM_LIBS) newest_specific = code;
  }
  return newest_specific != 0 ? newest_specific : newest;
}

Error error_from_queue(std::string_view fallback) {
  std::uint32_t code = take_error_code();
  if (code == 0) return plain_error(ErrorKind::ssl, std::string(fallback));
  return error_from_code(code);
}

Error plain_error(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

void throw_from_queue(std::string_view fallback) {
  Error e = error_from_queue(fallback);
  ERR_clear_error();
  throw SSLError(std::move(e));
}

void throw_pem_lib(std::string_view what) {
  // Python reports every unusable PEM in load_cert_chain as "[SSL] PEM lib";
  // BoringSSL's own finding says which part was wrong.
  Error detail = error_from_queue(what);
  ERR_clear_error();
  Error e;
  e.kind = ErrorKind::ssl;
  e.library = "SSL";
  e.reason = "PEM_LIB";
  e.packed_code = detail.packed_code;
  e.message = "[SSL] PEM lib: " + std::string(what);
  if (detail.packed_code != 0) e.message += " (" + detail.message + ")";
  throw SSLError(std::move(e));
}

}  // namespace sanstls

namespace sanstls {

namespace {

class ErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sanstls"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::stream_truncated: return "EOF occurred in violation of protocol";
      case errc::closed: return "TLS/SSL connection has been closed (EOF)";
      case errc::early_data_rejected: return "the server rejected the early data";
      case errc::other: return "TLS error";
    }
    return error_from_code(static_cast<std::uint32_t>(value)).message;
  }
};

class VerifyErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sanstls.verify"; }
  std::string message(int value) const override {
    return "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " +
           std::string(X509_verify_cert_error_string(value));
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

const std::error_category& verify_error_category() noexcept {
  static const VerifyErrorCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

std::error_code make_error_code(const Error& error) noexcept {
  if (error.kind == ErrorKind::cert_verification && error.verify_code != VerifyCode::ok) {
    return {static_cast<int>(error.verify_code), verify_error_category()};
  }
  // A packed code is (library << 24) | reason: positive as an int, and far
  // above the errc values.
  if (error.packed_code > static_cast<std::uint32_t>(errc::other) &&
      error.packed_code <= static_cast<std::uint32_t>(std::numeric_limits<int>::max())) {
    return {static_cast<int>(error.packed_code), error_category()};
  }
  switch (error.kind) {
    case ErrorKind::eof: return make_error_code(errc::stream_truncated);
    case ErrorKind::zero_return: return make_error_code(errc::closed);
    case ErrorKind::early_data_rejected: return make_error_code(errc::early_data_rejected);
    default: return make_error_code(errc::other);
  }
}

}  // namespace sanstls
