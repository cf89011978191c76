// Results and errors: the names of statuses and error kinds, Python's
// exception hierarchy as thrown by Result::throw_if_error, and a real
// BoringSSL error from a connection: its library, reason and message, that
// it is sticky, and that it never leaks into another connection.
#include <catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cctype>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <sanstls/sanstls.hpp>

#include "support.hpp"

namespace {

using sanstls::Error;
using sanstls::ErrorKind;
using sanstls::Result;
using sanstls::Status;

// an_error returns an Error of |kind| with every field set to something
// recognisable.
Error an_error(ErrorKind kind) {
  Error e;
  e.kind = kind;
  e.library = "SSL";
  e.reason = "SOME_REASON";
  e.verify_code = sanstls::VerifyCode::unable_to_get_issuer_cert_locally;
  e.verify_message = "unable to get local issuer certificate";
  e.message = "[SSL: SOME_REASON] some reason (" + std::string(sanstls::error_kind_name(kind)) + ")";
  e.packed_code = 0x10000042;
  return e;
}

Result error_result(const Error& e) {
  return Result{Status::error, 0, std::make_shared<const Error>(e)};
}

// check_throws_exactly checks that |result|.throw_if_error() throws an
// exception whose dynamic type is |Expected|, that it is catchable as
// SSLError, and that it carries |expected|'s fields.
template <class Expected>
void check_throws_exactly(const Result& result, const Error& expected) {
  static_assert(std::is_base_of_v<sanstls::SSLError, Expected>);
  bool thrown = false;
  try {
    result.throw_if_error();
  } catch (const sanstls::SSLError& e) {
    thrown = true;
    CHECK(typeid(e) == typeid(Expected));
    CHECK(dynamic_cast<const Expected*>(&e) != nullptr);
    CHECK(std::string(e.what()) == expected.message);
    CHECK(e.library() == expected.library);
    CHECK(e.reason() == expected.reason);
    CHECK(e.error().kind == expected.kind);
    CHECK(e.error().verify_code == expected.verify_code);
    CHECK(e.error().verify_message == expected.verify_message);
    CHECK(e.error().message == expected.message);
    CHECK(e.error().packed_code == expected.packed_code);
  }
  CHECK(thrown);
}

// describe turns a reason code name into OpenSSL's text for it, as Python
// prints it: "WRONG_VERSION_NUMBER" -> "wrong version number".
std::string describe(std::string_view reason) {
  std::string text(reason);
  for (char& c : text) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

bool is_reason_code(std::string_view reason) {
  if (reason.empty()) return false;
  for (char c : reason) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A client whose handshake was answered with an HTTP request line instead
// of a ServerHello.
struct GarbageFedClient {
  sanstls::MemoryBIO incoming;
  sanstls::MemoryBIO outgoing;
  sanstls::Object client;

  GarbageFedClient()
      : client(test::client_context().wrap_bio(incoming, outgoing, false, "localhost")) {}

  Result fail() {
    Result hello = client.do_handshake();
    REQUIRE(hello.status == Status::want_read);
    REQUIRE(outgoing.pending() > 0);  // the ClientHello went out
    outgoing.consume(outgoing.pending());
    incoming.write(std::string_view("GET / HTTP/1.1\r\n\r\n"));
    return client.do_handshake();
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// Names.

TEST_CASE("status_name names every Status in lower case", "[error][names]") {
  CHECK(sanstls::status_name(Status::done) == "done");
  CHECK(sanstls::status_name(Status::want_read) == "want_read");
  CHECK(sanstls::status_name(Status::want_write) == "want_write");
  CHECK(sanstls::status_name(Status::closed) == "closed");
  CHECK(sanstls::status_name(Status::error) == "error");
}

TEST_CASE("error_kind_name gives Python's exception name for every ErrorKind", "[error][names]") {
  CHECK(sanstls::error_kind_name(ErrorKind::ssl) == "SSLError");
  CHECK(sanstls::error_kind_name(ErrorKind::zero_return) == "SSLZeroReturnError");
  CHECK(sanstls::error_kind_name(ErrorKind::want_read) == "SSLWantReadError");
  CHECK(sanstls::error_kind_name(ErrorKind::want_write) == "SSLWantWriteError");
  CHECK(sanstls::error_kind_name(ErrorKind::syscall) == "SSLSyscallError");
  CHECK(sanstls::error_kind_name(ErrorKind::eof) == "SSLEOFError");
  CHECK(sanstls::error_kind_name(ErrorKind::cert_verification) == "SSLCertVerificationError");
  CHECK(sanstls::error_kind_name(ErrorKind::certificate) == "CertificateError");
}

// ---------------------------------------------------------------------------
// The exception hierarchy.

TEST_CASE("the exception classes mirror Python's hierarchy under SSLError", "[error][exceptions]") {
  static_assert(std::is_base_of_v<std::runtime_error, sanstls::SSLError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLZeroReturnError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLWantReadError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLWantWriteError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLSyscallError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLEOFError>);
  static_assert(std::is_base_of_v<sanstls::SSLError, sanstls::SSLCertVerificationError>);
  // Siblings, as in Python: an SSLEOFError is not an SSLSyscallError.
  static_assert(!std::is_base_of_v<sanstls::SSLSyscallError, sanstls::SSLEOFError>);
  static_assert(!std::is_base_of_v<sanstls::SSLWantReadError, sanstls::SSLWantWriteError>);
  SUCCEED("checked at compile time");
}

TEST_CASE("CertificateError is the same type as SSLCertVerificationError", "[error][exceptions]") {
  static_assert(std::is_same_v<sanstls::CertificateError, sanstls::SSLCertVerificationError>);
  Error e = an_error(ErrorKind::certificate);
  CHECK_THROWS_AS(error_result(e).throw_if_error(), sanstls::CertificateError);
}

TEST_CASE("throw_if_error returns normally for done and closed", "[error][exceptions]") {
  CHECK_NOTHROW(Result{Status::done, 0, nullptr}.throw_if_error());
  CHECK_NOTHROW(Result{Status::done, 42, nullptr}.throw_if_error());
  CHECK_NOTHROW(Result{Status::closed, 0, nullptr}.throw_if_error());
  CHECK(Result{Status::done, 0, nullptr}.ok());
  CHECK_FALSE(Result{Status::closed, 0, nullptr}.ok());
  CHECK_FALSE(Result{Status::want_read, 0, nullptr}.ok());
}

TEST_CASE("throw_if_error throws SSLWantReadError for want_read and SSLWantWriteError for want_write",
          "[error][exceptions]") {
  try {
    Result{Status::want_read, 0, nullptr}.throw_if_error();
    FAIL("want_read did not throw");
  } catch (const sanstls::SSLError& e) {
    CHECK(typeid(e) == typeid(sanstls::SSLWantReadError));
    CHECK(e.error().kind == ErrorKind::want_read);
    CHECK(std::string(e.what()) == "The operation did not complete (read)");  // Python's text
  }
  try {
    Result{Status::want_write, 0, nullptr}.throw_if_error();
    FAIL("want_write did not throw");
  } catch (const sanstls::SSLError& e) {
    CHECK(typeid(e) == typeid(sanstls::SSLWantWriteError));
    CHECK(e.error().kind == ErrorKind::want_write);
    CHECK(std::string(e.what()) == "The operation did not complete (write)");
  }
}

TEST_CASE("throw_if_error throws the exception class matching each ErrorKind, catchable as SSLError",
          "[error][exceptions]") {
  SECTION("ssl -> SSLError itself") {
    Error e = an_error(ErrorKind::ssl);
    check_throws_exactly<sanstls::SSLError>(error_result(e), e);
  }
  SECTION("zero_return -> SSLZeroReturnError") {
    Error e = an_error(ErrorKind::zero_return);
    check_throws_exactly<sanstls::SSLZeroReturnError>(error_result(e), e);
  }
  SECTION("want_read -> SSLWantReadError") {
    Error e = an_error(ErrorKind::want_read);
    check_throws_exactly<sanstls::SSLWantReadError>(error_result(e), e);
  }
  SECTION("want_write -> SSLWantWriteError") {
    Error e = an_error(ErrorKind::want_write);
    check_throws_exactly<sanstls::SSLWantWriteError>(error_result(e), e);
  }
  SECTION("syscall -> SSLSyscallError") {
    Error e = an_error(ErrorKind::syscall);
    check_throws_exactly<sanstls::SSLSyscallError>(error_result(e), e);
  }
  SECTION("eof -> SSLEOFError") {
    Error e = an_error(ErrorKind::eof);
    check_throws_exactly<sanstls::SSLEOFError>(error_result(e), e);
  }
  SECTION("cert_verification -> SSLCertVerificationError") {
    Error e = an_error(ErrorKind::cert_verification);
    check_throws_exactly<sanstls::SSLCertVerificationError>(error_result(e), e);
  }
  SECTION("certificate -> SSLCertVerificationError (CertificateError)") {
    Error e = an_error(ErrorKind::certificate);
    check_throws_exactly<sanstls::SSLCertVerificationError>(error_result(e), e);
  }
}

TEST_CASE("throw_error throws the same classes as throw_if_error", "[error][exceptions]") {
  CHECK_THROWS_AS(sanstls::throw_error(an_error(ErrorKind::eof)), sanstls::SSLEOFError);
  CHECK_THROWS_AS(sanstls::throw_error(an_error(ErrorKind::syscall)), sanstls::SSLSyscallError);
  CHECK_THROWS_AS(sanstls::throw_error(an_error(ErrorKind::zero_return)), sanstls::SSLZeroReturnError);
  CHECK_THROWS_AS(sanstls::throw_error(an_error(ErrorKind::certificate)), sanstls::CertificateError);
  try {
    sanstls::throw_error(an_error(ErrorKind::ssl));
  } catch (const sanstls::SSLError& e) {
    CHECK(typeid(e) == typeid(sanstls::SSLError));
    CHECK(e.reason() == "SOME_REASON");
  }
}

TEST_CASE("SSLCertVerificationError exposes verify_code and verify_message", "[error][exceptions]") {
  Error e = an_error(ErrorKind::cert_verification);
  e.verify_code = sanstls::VerifyCode::hostname_mismatch;
  e.verify_message = "Hostname mismatch, certificate is not valid for 'example.com'.";
  e.reason = "CERTIFICATE_VERIFY_FAILED";
  e.message = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + e.verify_message;
  try {
    error_result(e).throw_if_error();
    FAIL("a cert_verification error did not throw");
  } catch (const sanstls::SSLCertVerificationError& x) {
    CHECK(x.verify_code() == sanstls::VerifyCode::hostname_mismatch);
    CHECK(x.verify_message() == "Hostname mismatch, certificate is not valid for 'example.com'.");
    CHECK(x.reason() == "CERTIFICATE_VERIFY_FAILED");
    CHECK(std::string(x.what()) == e.message);
  }
}

TEST_CASE("an SSLError keeps its details when copied, and after the Error it was made from is gone",
          "[error][exceptions]") {
  std::unique_ptr<sanstls::SSLError> copy;
  {
    Error e = an_error(ErrorKind::eof);
    sanstls::SSLEOFError original(e);
    copy = std::make_unique<sanstls::SSLError>(original);
  }
  CHECK(copy->reason() == "SOME_REASON");
  CHECK(copy->library() == "SSL");
  CHECK(std::string(copy->what()) == copy->error().message);
}

TEST_CASE("an error Result without an Error still throws SSLError rather than crashing", "[error][exceptions]") {
  // The Result contract says error is set exactly when status is error; a
  // hand-made Result that breaks it must not dereference a null pointer.
  const Result broken{Status::error, 0, nullptr};
  CHECK_THROWS_AS(broken.throw_if_error(), sanstls::SSLError);
}

// ---------------------------------------------------------------------------
// A real error from a connection.

TEST_CASE("garbage where the ServerHello should be is an SSL error with library, reason and Python's message",
          "[error][connection]") {
  GarbageFedClient c;
  Result r = c.fail();
  REQUIRE(r.status == Status::error);
  REQUIRE(r.error != nullptr);
  const Error& e = *r.error;
  INFO("message: " << e.message);
  CHECK(e.kind == ErrorKind::ssl);
  CHECK(e.library == "SSL");
  CHECK(is_reason_code(e.reason));
  CHECK(e.reason == "WRONG_VERSION_NUMBER");  // "GET " is not a TLS record header
  CHECK(e.message == "[SSL: " + e.reason + "] " + describe(e.reason));
  CHECK(e.message == "[SSL: WRONG_VERSION_NUMBER] wrong version number");
  CHECK(e.packed_code != 0);
  CHECK(e.verify_code == sanstls::VerifyCode::ok);
  CHECK(e.verify_message.empty());
  CHECK_FALSE(c.client.is_handshake_complete());

  // As an exception it is a plain SSLError with the same details.
  try {
    r.throw_if_error();
    FAIL("the error did not throw");
  } catch (const sanstls::SSLError& x) {
    CHECK(typeid(x) == typeid(sanstls::SSLError));
    CHECK(std::string(x.what()) == e.message);
    CHECK(x.library() == "SSL");
    CHECK(x.reason() == e.reason);
  }
}

TEST_CASE("a connection's fatal error is sticky: every later call returns the same Error", "[error][connection]") {
  GarbageFedClient c;
  Result r = c.fail();
  REQUIRE(r.status == Status::error);
  REQUIRE(r.error != nullptr);
  const Error* first = r.error.get();

  CHECK(c.client.error().get() == first);
  Result again = c.client.do_handshake();
  CHECK(again.status == Status::error);
  CHECK(again.error.get() == first);  // the same object, not an equal copy

  // More bytes do not revive it.
  c.incoming.write(std::string_view("\x16\x03\x03\x00\x01\x00"));
  CHECK(c.client.do_handshake().error.get() == first);

  sanstls::ReadResult read = c.client.read(100);
  CHECK(read.status == Status::error);
  CHECK(read.error.get() == first);
  CHECK(read.data.empty());

  Result write = c.client.write(std::string_view("hello"));
  CHECK(write.status == Status::error);
  CHECK(write.error.get() == first);
  CHECK(write.bytes == 0);

  Result unwrap = c.client.unwrap();
  CHECK(unwrap.status == Status::error);
  CHECK(unwrap.error.get() == first);
  CHECK(c.client.error().get() == first);
}

TEST_CASE("one connection's error does not leak into another connection on the same thread",
          "[error][connection]") {
  sanstls::Context client_ctx = test::client_context();
  sanstls::Context server_ctx = test::server_context();

  SECTION("a healthy handshake right after the failure succeeds") {
    GarbageFedClient c;
    REQUIRE(c.fail().status == Status::error);
    test::Pair pair = test::make_pair(client_ctx, server_ctx);
    sanstls::testing::Pipe pipe(pair.client, pair.server);
    REQUIRE(pipe.handshake());
    CHECK(pipe.last(sanstls::testing::Side::client).status == Status::want_read);
    CHECK(pipe.last(sanstls::testing::Side::server).status == Status::want_read);
    CHECK(pipe.send(sanstls::testing::Side::client, "ping").status == Status::done);
    CHECK(pipe.take_received(sanstls::testing::Side::server) == "ping");
    CHECK(pair.client.error() == nullptr);
    CHECK(pair.server.error() == nullptr);
  }
  SECTION("a failure in the middle of another connection's handshake does not disturb it") {
    test::Pair pair = test::make_pair(client_ctx, server_ctx);
    // The healthy client has started: its ClientHello is queued.
    Result started = pair.client.do_handshake();
    REQUIRE(started.status == Status::want_read);
    GarbageFedClient c;
    REQUIRE(c.fail().status == Status::error);
    // Its next call still sees only its own state.
    Result next = pair.client.do_handshake();
    CHECK(next.status == Status::want_read);
    CHECK(next.error == nullptr);
    CHECK(pair.server.do_handshake().status == Status::want_read);
    sanstls::testing::Pipe pipe(pair.client, pair.server);
    CHECK(pipe.handshake());
    // And the failed one still reports its own error, unchanged.
    CHECK(c.client.do_handshake().error == c.client.error());
    CHECK(c.client.error()->reason == "WRONG_VERSION_NUMBER");
  }
}

TEST_CASE("a failed call leaves BoringSSL's per-thread error queue empty", "[error][connection]") {
  // Users never see the queue: a caller who also uses BoringSSL directly
  // (through sanstls/boringssl.hpp) must not find our errors in it.
  ERR_clear_error();
  GarbageFedClient c;
  REQUIRE(c.fail().status == Status::error);
  CHECK(ERR_peek_error() == 0);
  REQUIRE(c.client.do_handshake().status == Status::error);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("reads and writes keep BoringSSL's error queue to themselves", "[error][connection]") {
  // read_into and write run without ErrorGuard (the record path): BoringSSL
  // empties the queue when SSL_read and SSL_write start, and a failure's
  // entries become its Result. Both halves of that are checked here.
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  sanstls::testing::Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());

  // Errors someone else left on this thread do not turn into ours.
  OPENSSL_PUT_ERROR(SSL, SSL_R_BAD_ALERT);
  Result sent = pipe.send(sanstls::testing::Side::client, "ping");
  CHECK(sent.status == Status::done);
  CHECK(sent.error == nullptr);
  CHECK(pipe.take_received(sanstls::testing::Side::server) == "ping");
  // Half a record makes SSL_read itself answer want_read, which SSL_get_error
  // would turn into an SSL error if the stale entry were still queued.
  REQUIRE(p.client.write(std::as_bytes(std::span(std::string_view("pong")))).status ==
          Status::done);
  sanstls::MemoryBIO out = p.client.outgoing();
  std::string record(out.pending(), '\0');
  REQUIRE(out.read_into(std::as_writable_bytes(std::span(record))) == record.size());
  sanstls::MemoryBIO server_in = p.server.incoming();
  server_in.write(std::string_view(record).substr(0, 8));
  OPENSSL_PUT_ERROR(SSL, SSL_R_BAD_ALERT);
  Result half = p.server.read(16);
  CHECK(half.status == Status::want_read);
  CHECK(half.error == nullptr);
  server_in.write(std::string_view(record).substr(8));
  sanstls::ReadResult whole = p.server.read(16);
  CHECK(whole.status == Status::done);
  CHECK(whole.data == "pong");

  // A record that fails to decrypt is this object's error, and leaves
  // nothing behind in the queue.
  ERR_clear_error();
  REQUIRE(p.client.write(std::as_bytes(std::span(std::string_view("pong")))).status ==
          Status::done);
  record.assign(out.pending(), '\0');
  REQUIRE(out.read_into(std::as_writable_bytes(std::span(record))) == record.size());
  record.back() = static_cast<char>(record.back() ^ 1);  // the tag
  server_in.write(std::string_view(record));
  Result bad = p.server.read(16);
  REQUIRE(bad.status == Status::error);
  CHECK(bad.error->reason == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
  CHECK(ERR_peek_error() == 0);
  // Its next write reports the same, sticky error, and the queue stays empty.
  Result after = p.server.write(std::as_bytes(std::span(std::string_view("x"))));
  CHECK(after.error == bad.error);
  CHECK(ERR_peek_error() == 0);
}

// ---------------------------------------------------------------------------
// std::error_code: what an asio-style caller sees.

TEST_CASE("make_error_code gives a protocol error its packed code and Python's message", "[error][error_code]") {
  GarbageFedClient c;
  Result r = c.fail();
  REQUIRE(r.error != nullptr);
  std::error_code ec = sanstls::make_error_code(*r.error);
  CHECK(ec);
  CHECK(&ec.category() == &sanstls::error_category());
  CHECK(std::string(ec.category().name()) == "sanstls");
  CHECK(static_cast<std::uint32_t>(ec.value()) == r.error->packed_code);
  CHECK(ERR_GET_REASON(static_cast<std::uint32_t>(ec.value())) == SSL_R_WRONG_VERSION_NUMBER);
  CHECK(ec.message() == "[SSL: WRONG_VERSION_NUMBER] wrong version number");
  CHECK(ec != sanstls::errc::stream_truncated);
}

TEST_CASE("make_error_code puts a verification failure in the verify category with its VerifyCode",
          "[error][error_code]") {
  // The client trusts another CA: unable to get local issuer certificate.
  test::Handshake h = test::handshake(test::client_trusting(test::other_pki().ca.certificate_pem()),
                                      test::server_context());
  REQUIRE(h.client_result.status == Status::error);
  const Error& e = *h.client_result.error;
  std::error_code ec = sanstls::make_error_code(e);
  CHECK(&ec.category() == &sanstls::verify_error_category());
  CHECK(std::string(ec.category().name()) == "sanstls.verify");
  CHECK(static_cast<sanstls::VerifyCode>(ec.value()) == e.verify_code);
  CHECK(ec.value() == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(ec.message() ==
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate");
  CHECK(ec.message() == e.message);  // here the full text has nothing more

  // A hostname mismatch: the code says which check failed; the name is in
  // the Error's message only.
  test::Handshake m = test::handshake(test::client_context(), test::server_context(), "example.com");
  REQUIRE(m.client_result.status == Status::error);
  std::error_code mismatch = sanstls::make_error_code(*m.client_result.error);
  CHECK(&mismatch.category() == &sanstls::verify_error_category());
  CHECK(mismatch.value() == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(m.client_result.error->message.find("'example.com'") != std::string::npos);
}

TEST_CASE("make_error_code maps errors without a BoringSSL code to errc", "[error][error_code]") {
  auto code_of = [](ErrorKind kind) {
    Error e;
    e.kind = kind;
    e.message = "x";
    return sanstls::make_error_code(e);
  };
  CHECK(code_of(ErrorKind::eof) == sanstls::errc::stream_truncated);
  CHECK(code_of(ErrorKind::zero_return) == sanstls::errc::closed);
  CHECK(code_of(ErrorKind::early_data_rejected) == sanstls::errc::early_data_rejected);
  CHECK(code_of(ErrorKind::ssl) == sanstls::errc::other);
  CHECK(code_of(ErrorKind::syscall) == sanstls::errc::other);
  // A verification Error without a code (an application's rejection with
  // no reason) is not put in the verify category as "ok".
  CHECK(code_of(ErrorKind::cert_verification) == sanstls::errc::other);

  std::error_code truncated = sanstls::errc::stream_truncated;
  CHECK(truncated.message() == "EOF occurred in violation of protocol");
  CHECK(std::error_code(sanstls::errc::closed).message() == "TLS/SSL connection has been closed (EOF)");
  // A real truncated stream: the server's handshake bytes end early.
  sanstls::MemoryBIO in, out;
  sanstls::Object client = test::client_context().wrap_bio(in, out, false, "localhost");
  CHECK(client.do_handshake().status == Status::want_read);
  in.write_eof();
  Result r = client.do_handshake();
  REQUIRE(r.status == Status::error);
  CHECK(sanstls::make_error_code(*r.error) == sanstls::errc::stream_truncated);
}
