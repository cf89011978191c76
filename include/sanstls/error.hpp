// sanstls/error.hpp: outcomes of engine calls, and Python's ssl exceptions.
//
// The engine never throws for what an event loop expects to see: every call
// that moves TLS data returns a Result whose status says what happened.
//
// Example:
//   sanstls::Result r;  // as returned by Object::do_handshake()
//   r.status = sanstls::Status::want_read;
//   switch (r.status) {
//     case sanstls::Status::done: break;        // finished
//     case sanstls::Status::want_read: break;   // feed the peer's bytes to incoming
//     case sanstls::Status::want_write: break;  // drain outgoing first
//     case sanstls::Status::closed: break;      // peer sent close_notify
//     case sanstls::Status::want_private_key:         // a callback of yours answered
//     case sanstls::Status::want_certificate_verify:  // pending: complete it on the
//     case sanstls::Status::want_client_hello: break; // Object (callbacks.hpp)
//     case sanstls::Status::early_data_rejected: break;  // send the 0-RTT data again
//     case sanstls::Status::error: {                  // r.error says why
//       std::string why = r.error->message;
//       break;
//     }
//   }
//   try {
//     r.throw_if_error();  // Python's behaviour: exceptions
//   } catch (const sanstls::SSLWantReadError& e) {
//     std::string text = e.what();  // "The operation did not complete (read)"
//   }
//
// Configuration calls (Context::load_cert_chain, set_ciphers, ...) and
// MemoryBIO misuse throw the exceptions below, which mirror Python's:
//
//   SSLError ─┬─ SSLZeroReturnError
//             ├─ SSLWantReadError
//             ├─ SSLWantWriteError
//             ├─ SSLSyscallError
//             ├─ SSLEOFError
//             └─ SSLCertVerificationError (= CertificateError, as in 3.7)
//
// Python's ValueError and TypeError are std::invalid_argument; its
// FileNotFoundError and other OSErrors are std::system_error.
//
// For code built on std::error_code (asio, and the integrations in
// sanstls/asio/), make_error_code(const Error&) gives each failure a code:
//
//   std::error_code ec = sanstls::make_error_code(*r.error);
//   if (ec == sanstls::errc::stream_truncated) { /* EOF, no close_notify */ }
//   if (ec.category() == sanstls::verify_error_category()) {
//     auto code = static_cast<sanstls::VerifyCode>(ec.value());  // why
//     (void)code;
//   }
//   std::string text = ec.message();  // "[SSL: ...] ..." as Python prints
//
// Threads: these are values. A Result's error is shared with its Object
// and never changes once made, so a Result, an Error or a caught exception
// may be read, copied or rethrown (std::exception_ptr) on any thread, also
// while the Object goes on elsewhere. The functions here keep no state.
#ifndef SANSTLS_ERROR_HPP
#define SANSTLS_ERROR_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/constants.hpp>

namespace sanstls {

// Status is what a call on an Object achieved.
enum class Status : std::uint8_t {
  done,        // the operation completed (Result::bytes says how much moved)
  want_read,   // more bytes must be written to the incoming MemoryBIO first
  want_write,  // the outgoing MemoryBIO must be drained first
  closed,      // the peer sent close_notify: no more application data
  error,       // the connection failed; Result::error says why (sticky)
  // The handshake waits for the application (callbacks.hpp): answer with
  // the Object's matching complete_* call, then call the engine again.
  want_private_key,         // the signer answered pending: Object::complete_private_key
  want_certificate_verify,  // the verify callback answered pending: Object::complete_certificate_verify
  want_client_hello,        // the ClientHello callback answered pending: Object::complete_client_hello
  // A client's 0-RTT data was refused by the server (TLS 1.3 early data,
  // Context::set_early_data_enabled): everything written before the
  // handshake completed is lost. The Object goes on: call again to finish
  // the handshake, then write the data again.
  early_data_rejected,
};

// waits_for_application returns true for the statuses that wait for the
// application rather than the network.
constexpr bool waits_for_application(Status status) noexcept {
  return status == Status::want_private_key || status == Status::want_certificate_verify ||
         status == Status::want_client_hello;
}

// status_name returns the lower-case name of |status|, for logs.
std::string_view status_name(Status status) noexcept;

// ErrorKind selects the Python exception an Error corresponds to.
enum class ErrorKind : std::uint8_t {
  ssl,                // SSLError: a protocol, configuration or library error
  zero_return,        // SSLZeroReturnError: the connection is closed for writing
  want_read,          // SSLWantReadError
  want_write,         // SSLWantWriteError
  syscall,            // SSLSyscallError
  eof,                // SSLEOFError: EOF occurred in violation of protocol
  cert_verification,  // SSLCertVerificationError: the peer's chain or name failed
  certificate,        // CertificateError raised by hostname matching helpers
  want_application,   // SSLWantApplicationError: a callback's answer is pending (not in Python)
  early_data_rejected,  // SSLEarlyDataRejectedError: 0-RTT data must be sent again (not in Python)
};

// error_kind_name returns the Python exception name for |kind|, such as
// "SSLEOFError".
std::string_view error_kind_name(ErrorKind kind) noexcept;

// Error is the information Python puts on an SSLError.
struct Error {
  // kind is the Python exception the error is raised as (throw_error).
  ErrorKind kind = ErrorKind::ssl;
  // library is the short name of the library that raised it ("SSL", "PEM",
  // "X509", ...), empty when the error did not come from BoringSSL's queue.
  std::string library;
  // reason is BoringSSL's reason code name, such as "WRONG_VERSION_NUMBER".
  std::string reason;
  // verify_code is why verification failed, for cert_verification errors;
  // else VerifyCode::ok.
  VerifyCode verify_code = VerifyCode::ok;
  // verify_message explains verify_code ("unable to get local issuer
  // certificate", "Hostname mismatch, certificate is not valid for 'x'.").
  std::string verify_message;
  // message is the full text as Python formats it, such as
  // "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...".
  std::string message;
  // packed_code is BoringSSL's packed error code (ERR_get_error), or 0.
  std::uint32_t packed_code = 0;
  // ech_retry_configs is, for the reason "ECH_REJECTED" (a server that
  // could not decrypt the client's Encrypted Client Hello), the
  // ECHConfigList the server sent to try again with, after the client
  // verified the server for the configuration's public name; empty when
  // the server sent none (try again without ECH). Nothing for any other
  // error.
  std::optional<std::string> ech_retry_configs;
};

// Result is the outcome of do_handshake, read, write and unwrap on an Object.
struct [[nodiscard]] Result {
  // status says what the call achieved; the other fields depend on it.
  Status status = Status::done;
  // bytes is how many bytes of application data were read or written.
  std::size_t bytes = 0;
  // error is set exactly when status is Status::error. It is shared with the
  // Object, which reports the same error from every later call.
  std::shared_ptr<const Error> error;

  // ok returns true when status is Status::done.
  bool ok() const noexcept { return status == Status::done; }

  // throw_if_error behaves as Python's SSLObject does: it returns normally for
  // done and closed, and throws SSLWantReadError, SSLWantWriteError,
  // SSLWantApplicationError or SSLEarlyDataRejectedError (the statuses
  // Python does not have) or the exception matching error->kind otherwise.
  void throw_if_error() const;
};

// SSLError is the base of every TLS exception, as Python's ssl.SSLError.
class SSLError : public std::runtime_error {
 public:
  // SSLError carries |error|; what() returns its message. The
  // subclasses take the same argument.
  explicit SSLError(Error error);

  // error returns the details: library, reason, verify code and message.
  const Error& error() const noexcept { return *error_; }
  // library returns Python's SSLError.library ("SSL", "PEM", ...).
  const std::string& library() const noexcept { return error_->library; }
  // reason returns Python's SSLError.reason ("WRONG_VERSION_NUMBER", ...).
  const std::string& reason() const noexcept { return error_->reason; }

 private:
  std::shared_ptr<const Error> error_;
};

// SSLZeroReturnError: the TLS connection has been closed (close_notify).
class SSLZeroReturnError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLWantReadError: the operation needs bytes from the peer first.
class SSLWantReadError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLWantWriteError: the operation needs the outgoing data sent first.
class SSLWantWriteError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLWantApplicationError: the handshake waits for a callback's pending
// answer (want_private_key, want_certificate_verify, want_client_hello).
// Python has no such state; its message names the wait ("The operation did
// not complete (waiting for a private-key operation)").
class SSLWantApplicationError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLEarlyDataRejectedError: the server refused a client's 0-RTT data
// (Status::early_data_rejected); the connection goes on, the data must be
// written again once the handshake is done. Python has no 0-RTT.
class SSLEarlyDataRejectedError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLSyscallError: the transport failed underneath TLS.
class SSLSyscallError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLEOFError: the transport ended without a close_notify.
class SSLEOFError : public SSLError {
 public:
  using SSLError::SSLError;
};

// SSLCertVerificationError: the peer's certificate failed verification;
// verify_code and verify_message say how.
class SSLCertVerificationError : public SSLError {
 public:
  using SSLError::SSLError;
  // verify_code returns why verification failed (OpenSSL's X509_V_ERR_*
  // code; static_cast<long> gives Python's integer).
  VerifyCode verify_code() const noexcept { return error().verify_code; }
  // verify_message returns the explanation of verify_code.
  const std::string& verify_message() const noexcept { return error().verify_message; }
};

// CertificateError is an alias of SSLCertVerificationError, as in Python 3.7.
using CertificateError = SSLCertVerificationError;

// NotImplementedError: a feature of Python's ssl module that this
// BoringSSL does not have (TLS 1.3 post-handshake authentication, DHE
// cipher suites), as Python's NotImplementedError.
class NotImplementedError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// throw_error throws the exception matching |error|.kind.
[[noreturn]] void throw_error(const Error& error);

// ---- std::error_code ------------------------------------------------------

// errc names the failures in error_category() that have no BoringSSL error
// code of their own. Every other value in that category is a BoringSSL
// packed error code (Error::packed_code), which is never this small.
enum class errc {
  // The transport ended without a close_notify: "EOF occurred in violation
  // of protocol" (SSLEOFError; asio::ssl's stream_truncated).
  stream_truncated = 1,
  // The connection is closed for writing: this side called unwrap(), or
  // the peer's close_notify came (SSLZeroReturnError).
  closed = 2,
  // The server refused 0-RTT data (SSLEarlyDataRejectedError).
  early_data_rejected = 3,
  // Any other failure that BoringSSL did not report with a code.
  other = 4,
};

// error_category is "sanstls": errc values, and BoringSSL's packed error
// codes, whose message() is the text Python prints, such as "[SSL:
// WRONG_VERSION_NUMBER] wrong version number".
const std::error_category& error_category() noexcept;

// verify_error_category is "sanstls.verify": certificate verification
// failures, whose value is the VerifyCode (X509_V_ERR_*) and whose
// message() is "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify
// failed: " and the code's text. The full text, with the host name of a
// mismatch, is Error::message.
const std::error_category& verify_error_category() noexcept;

// make_error_code makes errc values std::error_codes (so that ec ==
// errc::stream_truncated compiles).
std::error_code make_error_code(errc e) noexcept;

// make_error_code returns the code of |error|: a verification failure in
// verify_error_category(), a BoringSSL error by its packed code, and the
// rest as errc. A default error_code never comes out: every Error fails.
std::error_code make_error_code(const Error& error) noexcept;

}  // namespace sanstls

namespace std {
// is_error_code_enum makes sanstls::errc convert to std::error_code
// implicitly, as the std enums do.
template <>
struct is_error_code_enum<sanstls::errc> : true_type {};
}  // namespace std

#endif  // SANSTLS_ERROR_HPP
