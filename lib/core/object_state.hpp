// Object::State, one connection's state, shared by object.cpp (the
// Object's engine calls and what it reports) and object_callbacks.cpp (what
// BoringSSL calls back during a handshake). Its member functions are defined
// in the struct so that the record path stays inlined. Not installed.
#ifndef SANSTLS_LIB_CORE_OBJECT_STATE_HPP
#define SANSTLS_LIB_CORE_OBJECT_STATE_HPP

#include <sanstls/object.hpp>

#include <openssl/bytestring.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "records13.hpp"

namespace sanstls {

// Object::State is one connection: the SSL, the handles that keep its
// buffers and configuration alive, and where the connection is in its life
// (phase). Every engine call goes through perform(), the one place the
// phase moves; BoringSSL's callbacks report what they saw with on().
struct Object::State {
  // Members are initialised from wrap_bio's arguments: a default Context
  // or MemoryBIO would allocate an SSL_CTX or a buffer only to drop it.
  State(const Context& ctx, MemoryBIO in, MemoryBIO out, bool server)
      : context(ctx), incoming(std::move(in)), outgoing(std::move(out)), server_side(server) {}

  Context context;
  MemoryBIO incoming;
  MemoryBIO outgoing;
  bssl::UniquePtr<SSL> ssl;
  bool server_side = false;
  std::optional<std::string> server_hostname;
  bool hostname_is_ip = false;
  bool verifies_peer = false;  // SSL_get_verify_mode fails once the config is shed
  // The peer's name is checked (check_hostname when wrapped), with these
  // X509_CHECK_FLAG_* bits.
  bool checks_host = false;
  unsigned int host_flags = 0;
  PeerVerdict verdict;  // on_verify's result, for verification_error
  std::vector<uint16_t> shared_suites;  // a server's, from the ClientHello
  std::shared_ptr<const Error> fatal;
  // A client's newest session from the new-session callback: in TLS 1.3
  // the only resumable one, since SSL_get_session keeps the handshake's.
  bssl::UniquePtr<SSL_SESSION> latest_session;
  // original_context is the context wrap_bio was given, once set_context
  // switched away from it: its session cache and ticket keys stay in use.
  std::optional<Context> original_context;
  // records is sanstls's own record layer once an established TLS 1.3
  // connection has been handed over (records13.hpp); may_take_over says a
  // hand-over is still to be tried, when BoringSSL's buffers are empty.
  std::unique_ptr<Records13> records;
  bool may_take_over = false;
  void* user_data = nullptr;  // the application's (Object::set_user_data)
  // write_unfinished: BoringSSL holds part of a write that returned early
  // (0-RTT at its limit), which only the same SSL_write call can finish.
  bool write_unfinished = false;

  // Certificate compression: the algorithm the server's certificate
  // travelled with (0: none), and on a server the algorithms the
  // ClientHello offered (bits 1 << code point), for set_context's check.
  std::uint16_t certificate_compression = 0;
  unsigned compression_offered = 0;

  // ---- The lifecycle ----------------------------------------------------

  Phase phase = Phase::fresh;
  // self is the Object of the engine call in progress, for BoringSSL's
  // callbacks (an Object may have moved since the previous call); null
  // between calls.
  Object* self = nullptr;

  // Event is what a BoringSSL callback saw; on() records it.
  enum class Event : std::uint8_t {
    sni_callback_started,   // set_context is allowed until it ends
    sni_callback_ended,
    client_hello_callback_started,  // so is set_context until it ends
    client_hello_callback_ended,
    session_offered,        // a server's ClientHello offered a session to resume
    early_data_offered,     // ... and 0-RTT data
    handshake_started,
    handshake_finished,
  };
  bool in_sni_callback = false;
  bool in_client_hello_callback = false;
  bool offered_session = false;
  int handshakes_done = 0;  // renegotiations count apart

  // A callback's pending answer (callbacks.hpp). The callback that answered
  // pending made perform() enter the matching waiting_for_* phase; the
  // application's complete_* call leaves its reply here, and BoringSSL's
  // retry of the callback takes it.
  std::optional<PrivateKeyReply> key_answer;
  std::optional<VerifyReply> verify_answer;
  std::optional<ClientHelloReply> hello_answer;
  std::optional<AlertDescription> hello_refusal;  // sent from on_servername
  // callback_error explains in words what an application callback did to
  // fail the handshake ("the signer failed: HSM offline"): BoringSSL's own
  // error only says that an operation or extension failed.
  std::string callback_error;

  void on(Event event) {
    switch (event) {
      case Event::sni_callback_started: in_sni_callback = true; return;
      case Event::sni_callback_ended: in_sni_callback = false; return;
      case Event::client_hello_callback_started: in_client_hello_callback = true; return;
      case Event::client_hello_callback_ended: in_client_hello_callback = false; return;
      case Event::session_offered: offered_session = true; return;
      case Event::early_data_offered: early_offered = true; return;
      case Event::handshake_started: return;
      case Event::handshake_finished: ++handshakes_done; return;
    }
  }

  enum class Op { handshake, read, write, shutdown };

  // perform runs one engine call: |step| calls BoringSSL and maps its
  // outcome to a Result, with |object| reachable from the callbacks
  // meanwhile; then the phase follows. The record path of an established
  // connection skips it (read_into, write): a record read or written
  // leaves the phase as it was, and anything else goes through settle().
  template <class Step>
  Result perform(Object* object, Step&& step) {
    if (phase == Phase::fresh) phase = Phase::handshaking;  // before callbacks run
    self = object;
    Result r = step();
    if (r.status == Status::early_data_rejected && early_written == 0) {
      // Nothing was sent as early data, so nothing is lost: go on as if
      // none had been offered.
      r = step();
    }
    self = nullptr;
    settle(r);
    return r;
  }

  // settle moves the phase after an engine call ended with |r|.
  void settle(const Result& r) {
    if (fatal) {
      phase = Phase::failed;
      return;
    }
    switch (r.status) {
      case Status::want_private_key: phase = Phase::waiting_for_private_key; return;
      case Status::want_certificate_verify: phase = Phase::waiting_for_certificate_verify; return;
      case Status::want_client_hello: phase = Phase::waiting_for_client_hello; return;
      default: break;
    }
    const SSL* s = ssl.get();
    const Phase before = phase;
    if (SSL_in_init(s)) {
      phase = SSL_in_early_data(s) ? Phase::early_data : Phase::handshaking;
      if (phase == Phase::early_data && !server_side) early_offered = true;
      return;
    }
    switch (shutdown_flags()) {
      case 0: phase = Phase::established; break;
      case SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN: phase = Phase::closed; break;
      default: phase = Phase::closing; break;
    }
    if (is_handshake_phase(before)) {
      handshake_finished();
      // Handed over at the first record read or written (take_over).
      may_take_over = SSL_version(s) == TLS1_3_VERSION;
    }
  }

  // shutdown_flags is SSL_get_shutdown's answer, from whichever record
  // layer the connection is on.
  int shutdown_flags() const noexcept {
    return records ? records->shutdown_flags() : SSL_get_shutdown(ssl.get());
  }

  // take_over hands an established TLS 1.3 connection to Records13 once
  // nothing is left in BoringSSL's buffers or in app_in; true once records
  // is set. A message-tracing callback keeps BoringSSL's record layer,
  // which reports every record to it.
  bool take_over() {
    if (!may_take_over || phase != Phase::established || fatal) return false;
    SSL* s = ssl.get();
    if (SSL_get_shutdown(s) != 0 || traces_messages(s)) {
      may_take_over = false;
      return false;
    }
    if (SSL_has_pending(s) || !app_in.empty() || write_unfinished) return false;  // next time
    may_take_over = false;
    records = Records13::take_over(s, server_side);
    return records != nullptr;
  }

  static bool is_handshake_phase(Phase p) noexcept {
    return p == Phase::fresh || p == Phase::handshaking || p == Phase::waiting_for_client_hello ||
           p == Phase::waiting_for_certificate_verify || p == Phase::waiting_for_private_key ||
           p == Phase::early_data;
  }

  // handshake_finished runs once a handshake has just completed. A
  // BoringSSL TLS 1.3 server holds its session tickets back until its first
  // write, so a client that only reads (or a connection that closes first)
  // would never be able to resume; OpenSSL, and so Python, send them with
  // the handshake. A zero-length write flushes them.
  void handshake_finished() {
    if (!server_side || tickets_flushed) return;
    tickets_flushed = true;
    static constexpr uint8_t kNothing = 0;
    if (SSL_write(ssl.get(), &kNothing, 0) < 0) {
      // Nothing is lost: BoringSSL sends the tickets with the next write.
      ERR_clear_error();
    }
  }
  bool tickets_flushed = false;

  // ---- TLS 1.3 early data (0-RTT) ---------------------------------------
  bool early_enabled = false;   // the Context's setting when wrapped
  bool early_offered = false;   // a client sent, a server received, an early_data offer
  bool early_rejected = false;  // a client was told so (and reset)
  std::size_t early_written = 0;  // a client's bytes written as early data
  // A server keeps the early data do_handshake() read for
  // read_early_data(), and 1-RTT data that the same reads ran into for
  // read_into(): BoringSSL hands both out through SSL_read.
  std::string early_in;
  std::string app_in;

  // drain_early reads a server's early data into early_in (and any 1-RTT
  // data that follows into app_in) until BoringSSL wants more input or the
  // handshake is done; the phase follows.
  Result drain_early() {
    std::array<uint8_t, 4096> chunk;
    while (phase == Phase::early_data) {
      const int n = SSL_read(ssl.get(), chunk.data(), static_cast<int>(chunk.size()));
      Result r = outcome(n, Op::read);
      if (r.status == Status::done) {
        // Still in early data after the record: it was early data.
        (SSL_in_early_data(ssl.get()) ? early_in : app_in).append(reinterpret_cast<const char*>(chunk.data()), r.bytes);
      }
      settle(r);
      if (r.status == Status::want_read && !is_handshake_phase(phase)) break;  // the handshake is done
      if (r.status != Status::done) return r;
    }
    return Result{Status::done, 0, nullptr};
  }

  // take_buffered moves up to |buffer|'s size from |from| into it.
  static Result take_buffered(std::string& from, std::span<std::byte> buffer) {
    const std::size_t n = std::min(from.size(), buffer.size());
    std::memcpy(buffer.data(), from.data(), n);
    from.erase(0, n);
    return Result{Status::done, n, nullptr};
  }

  // take_answer keeps the application's |reply| in |slot| for BoringSSL's
  // retry of the callback, once it has checked that an answer of that kind
  // is due: the Object waits for it (|waiting|), has none yet, and |reply|
  // is an answer rather than pending.
  template <class Reply>
  void take_answer(Phase waiting, std::optional<Reply>& slot, Reply reply, const char* call) {
    if (phase != waiting) {
      throw std::logic_error(std::string(call) + "() while " + std::string(phase_description(phase)) +
                             " (the Object is not " + std::string(phase_description(waiting)) + ")");
    }
    if (slot) {
      throw std::logic_error(std::string(call) +
                             "() a second time: the first answer is not taken yet (call do_handshake())");
    }
    if (reply.kind() == Reply::Kind::pending) {
      throw std::invalid_argument(std::string(call) + "() needs an answer, not a pending reply");
    }
    slot = std::move(reply);
  }

  Result fail(Error error, bool sticky) {
    auto shared = std::make_shared<const Error>(std::move(error));
    if (sticky) fatal = shared;
    return Result{Status::error, 0, std::move(shared)};
  }

  Error verification_error(std::uint32_t code) const {
    Error e = error_from_code(code, ErrorKind::cert_verification);
    e.verify_code = static_cast<VerifyCode>(verdict.code);
    if (!verdict.message.empty()) {
      e.verify_message = verdict.message;
    } else if (verdict.code == X509_V_ERR_HOSTNAME_MISMATCH && server_hostname) {
      e.verify_message = "Hostname mismatch, certificate is not valid for '" + *server_hostname + "'.";
    } else if (verdict.code == X509_V_ERR_IP_ADDRESS_MISMATCH && server_hostname) {
      e.verify_message = "IP address mismatch, certificate is not valid for '" + *server_hostname + "'.";
    } else {
      e.verify_message = X509_verify_cert_error_string(verdict.code);
    }
    e.message += ": " + e.verify_message;
    return e;
  }

  // outcome turns a BoringSSL return value into a Result. It must run
  // before the error queue is cleared: SSL_get_error reads it. A failure's
  // queued entries are taken (take_error_code), so none is left behind.
  Result outcome(int ret, Op op) {
    // A positive return is always SSL_ERROR_NONE; this is every record's
    // path, so it skips the call.
    if (ret > 0) return Result{Status::done, static_cast<std::size_t>(ret), nullptr};
    int err = SSL_get_error(ssl.get(), ret);
    switch (err) {
      case SSL_ERROR_NONE:
        return Result{Status::done, ret > 0 ? static_cast<std::size_t>(ret) : 0, nullptr};
      case SSL_ERROR_WANT_READ:
        return Result{Status::want_read, 0, nullptr};
      case SSL_ERROR_WANT_WRITE:
        return Result{Status::want_write, 0, nullptr};
      case SSL_ERROR_WANT_PRIVATE_KEY_OPERATION:
        return Result{Status::want_private_key, 0, nullptr};
      case SSL_ERROR_WANT_CERTIFICATE_VERIFY:
        return Result{Status::want_certificate_verify, 0, nullptr};
      case SSL_ERROR_PENDING_CERTIFICATE:
        return Result{Status::want_client_hello, 0, nullptr};
      case SSL_ERROR_EARLY_DATA_REJECTED:
        // The Object goes on as a 1-RTT handshake; the caller learns that
        // its early data is lost.
        SSL_reset_early_data_reject(ssl.get());
        early_rejected = true;
        return Result{Status::early_data_rejected, 0, nullptr};
      case SSL_ERROR_ZERO_RETURN:
        if (op == Op::read || op == Op::shutdown) return Result{Status::closed, 0, nullptr};
        return fail(plain_error(ErrorKind::zero_return, "TLS/SSL connection has been closed (EOF)"),
                    true);
      case SSL_ERROR_SYSCALL: {
        std::uint32_t code = take_error_code();
        if (code != 0) return fail(error_from_code(code), true);
        if (ret == 0 || incoming.eof()) {
          return fail(plain_error(ErrorKind::eof, "EOF occurred in violation of protocol"), true);
        }
        return fail(plain_error(ErrorKind::syscall, "Some I/O error occurred"), true);
      }
      case SSL_ERROR_SSL: {
        std::uint32_t code = take_error_code();
        if (code == 0) {
          return fail(plain_error(ErrorKind::ssl, "A failure in the SSL library occurred"), true);
        }
        int lib = ERR_GET_LIB(code);
        int reason = ERR_GET_REASON(code);
        if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
          return fail(verification_error(code), true);
        }
        // Misuse and shutdown races leave the connection usable.
        bool sticky = !(lib == ERR_LIB_SSL && (reason == SSL_R_SHUTDOWN_WHILE_IN_INIT ||
                                               reason == SSL_R_APPLICATION_DATA_ON_SHUTDOWN ||
                                               reason == SSL_R_PROTOCOL_IS_SHUTDOWN));
        if (lib == ERR_LIB_SSL && reason == SSL_R_PRIVATE_KEY_OPERATION_FAILED) {
          // BoringSSL fails a signer's failure silently; the peer would
          // wait for a flight that never comes. RFC 8446 section 6.2: an
          // error unrelated to the protocol is internal_error.
          if (SSL_send_fatal_alert(ssl.get(), SSL_AD_INTERNAL_ERROR) <= 0) ERR_clear_error();
        }
        Error e = error_from_code(code);
        if (!callback_error.empty()) e.message += " (" + callback_error + ")";
        if (lib == ERR_LIB_SSL && reason == SSL_R_ECH_REJECTED) e.ech_retry_configs = ech_retry_configs(ssl.get());
        return fail(std::move(e), sticky);
      }
      default:
        return fail(plain_error(ErrorKind::ssl, "unexpected SSL_get_error() result " +
                                                    std::to_string(err)),
                    true);
    }
  }

  Result fatal_result() const { return Result{Status::error, 0, fatal}; }
};

}  // namespace sanstls

#endif  // SANSTLS_LIB_CORE_OBJECT_STATE_HPP
