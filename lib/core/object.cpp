// The Object, one connection: its state and the engine calls that drive
// it (do_handshake, read, write, unwrap, early data), what it reports once
// negotiated, and the BoringSSL callbacks that run the application's part
// of a handshake (SNI, ClientHello, certificate verification, the private
// key, new sessions) against that state.
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
    switch (SSL_get_shutdown(s)) {
      case 0: phase = Phase::established; break;
      case SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN: phase = Phase::closed; break;
      default: phase = Phase::closing; break;
    }
    if (is_handshake_phase(before)) handshake_finished();
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

namespace {

// object_index is the SSL ex_data slot that points back at Object::State.
int object_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

Object ObjectAccess::make(const Context& context, MemoryBIO incoming, MemoryBIO outgoing,
                          bool server_side, std::optional<std::string> server_hostname) {
  const ContextAccess::State& cs = ContextAccess::state(context);
  ErrorGuard guard;
  auto s = std::make_unique<Object::State>(context, std::move(incoming), std::move(outgoing),
                                           server_side);
  s->ssl.reset(SSL_new(cs.ctx.get()));
  if (!s->ssl) throw_from_queue("failed to allocate an SSL");
  SSL* ssl = s->ssl.get();

  bssl::UniquePtr<BIO> rbio = MemoryBIOAccess::new_bio(s->incoming);
  bssl::UniquePtr<BIO> wbio = MemoryBIOAccess::new_bio(s->outgoing);
  if (!rbio || !wbio) throw_from_queue("failed to allocate a BIO");
  SSL_set_bio(ssl, rbio.release(), wbio.release());

  s->verifies_peer = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
  s->early_enabled = cs.early_data;
  if (!server_side && !s->verifies_peer && cs.verify_callback) {
    // A client's verify callback decides even with cert_none: BoringSSL
    // would ignore its rejection under SSL_VERIFY_NONE.
    SSL_set_custom_verify(ssl, SSL_VERIFY_PEER, &ObjectAccess::on_verify);
  }
  // An established connection does not need its copy of the certificate,
  // key, cipher and verification settings: shedding them saves about a
  // kilobyte per idle connection. BoringSSL keeps them where a TLS 1.2
  // client may still be asked to renegotiate.
  SSL_set_shed_handshake_config(ssl, 1);

  if (server_side) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    // OpenSSL, and so Python, lets a server renegotiate TLS 1.2 unless
    // OP_NO_RENEGOTIATION is set; BoringSSL refuses unless told.
    SSL_set_renegotiate_mode(ssl, has(cs.options, Options::no_renegotiation)
                                      ? ssl_renegotiate_never
                                      : ssl_renegotiate_freely);
  }

  if (server_hostname) {
    const std::string& name = *server_hostname;
    bssl::UniquePtr<ASN1_OCTET_STRING> ip = parse_ip(name);
    s->hostname_is_ip = ip != nullptr;
    // RFC 6066: SNI carries host names only, never address literals.
    if (!ip && !SSL_set_tlsext_host_name(ssl, name.c_str())) {
      throw_from_queue("cannot set SNI");
    }
    s->checks_host = cs.check_hostname;
    s->host_flags = cs.host_flags;
    s->server_hostname = std::move(server_hostname);
  }
  if (!SSL_set_ex_data(ssl, object_index(), s.get())) throw_from_queue("cannot attach the object");
  return Object(std::move(s));
}

Object::Object(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Object::Object(Object&&) noexcept = default;
Object& Object::operator=(Object&&) noexcept = default;
Object::~Object() = default;

Result Object::do_handshake() {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  ErrorGuard guard;
  auto handshake = [&s] { return s.outcome(SSL_do_handshake(s.ssl.get()), State::Op::handshake); };
  Result r = s.perform(this, handshake);
  if (r.status != Status::done || s.phase != Phase::early_data) return r;
  // BoringSSL returns early around 0-RTT; do_handshake() means the whole
  // handshake. A client goes on to wait for the server's answer; a server
  // keeps the early data for read_early_data() so that the client's
  // Finished, behind it, can be read.
  if (!s.server_side) return s.perform(this, handshake);
  s.self = this;
  r = s.drain_early();
  s.self = nullptr;
  return r;
}

Result Object::read_into(std::span<std::byte> buffer) {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  if (buffer.empty()) return Result{Status::done, 0, nullptr};
  if (s.early_enabled && s.server_side) {
    // Early data goes to read_early_data(): the handshake, and the early
    // data it meets, first.
    if (!s.app_in.empty()) return State::take_buffered(s.app_in, buffer);
    if (State::is_handshake_phase(s.phase)) {
      Result r = do_handshake();
      if (!s.app_in.empty()) return State::take_buffered(s.app_in, buffer);
      if (r.status != Status::done) return r;
    }
  }
  SSL* ssl = s.ssl.get();
  const bool established = s.phase == Phase::established;
  // An event loop reads until want_read, so every burst of records ends with
  // a read that has nothing to work on. When the connection is established
  // and no input is buffered anywhere, that answer is known without
  // entering BoringSSL (whose failed SSL_read costs about as much as a
  // 64-byte record's decryption).
  if (established && s.incoming.pending() == 0 && !s.incoming.eof_written() && !SSL_has_pending(ssl)) {
    return Result{Status::want_read, 0, nullptr};
  }
  // No ErrorGuard on the record path: SSL_read empties the error queue
  // itself before it starts (ssl_reset_error_state), and outcome() takes
  // what a failure queued. The guard's two peeks at the thread-local queue
  // cost about 150 instructions per call (callgrind, 64-byte records).
  const int len = static_cast<int>(std::min<std::size_t>(buffer.size(), INT_MAX));
  if (established) {
    // A record read while established leaves it established; anything
    // else (a close_notify, an alert, a renegotiation) goes through
    // settle().
    s.self = this;
    Result r = s.outcome(SSL_read(ssl, buffer.data(), len), State::Op::read);
    s.self = nullptr;
    if (r.status != Status::done) s.settle(r);
    return r;
  }
  return s.perform(this, [&] { return s.outcome(SSL_read(ssl, buffer.data(), len), State::Op::read); });
}

ReadResult Object::read(std::size_t n) {
  ReadResult r;
  // One call returns at most one record's plaintext, so a larger buffer
  // would only be allocated and zero-filled for nothing: read(16 MiB) in a
  // loop cost 16 MiB of memset per 16 KiB record.
  static_assert(max_read_size == SSL3_RT_MAX_PLAIN_LENGTH);
  r.data.resize(std::min(n, max_read_size));
  static_cast<Result&>(r) = read_into(std::as_writable_bytes(std::span(r.data)));
  r.data.resize(r.bytes);
  return r;
}

Result Object::write(std::span<const std::byte> data) {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  SSL* ssl = s.ssl.get();
  if ((SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) != 0) {
    return s.fail(plain_error(ErrorKind::zero_return,
                              "TLS/SSL connection has been closed (EOF): write after unwrap()"),
                  false);
  }
  // No ErrorGuard: SSL_write and SSL_do_handshake empty the error queue
  // before they start, and outcome() takes what a failure queued (see
  // read_into).
  if (data.empty()) {
    // A zero-length write still drives an unfinished handshake.
    if (!State::is_handshake_phase(s.phase)) return Result{Status::done, 0, nullptr};
    Result r = s.perform(this, [&] { return s.outcome(SSL_do_handshake(ssl), State::Op::handshake); });
    return r.status == Status::done ? Result{Status::done, 0, nullptr} : r;
  }
  if (s.phase != Phase::established) {
    // The handshake (or its end) first: the first chunk drives it.
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
    Result r = s.perform(this, [&] { return s.outcome(SSL_write(ssl, data.data(), chunk), State::Op::write); });
    if (r.status == Status::done && !s.server_side && s.phase == Phase::early_data) s.early_written += r.bytes;
    if (r.status != Status::done || r.bytes == data.size()) return r;
    Result rest = write(data.subspan(r.bytes));
    rest.bytes += r.bytes;
    return rest;
  }
  // Established: records only, and the phase stays.
  s.self = this;
  std::size_t total = 0;
  while (total < data.size()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size() - total, INT_MAX));
    Result r = s.outcome(SSL_write(ssl, data.data() + total, chunk), State::Op::write);
    if (r.status != Status::done) {
      s.self = nullptr;
      s.settle(r);
      r.bytes = total;
      return r;
    }
    total += r.bytes;
  }
  s.self = nullptr;
  return Result{Status::done, total, nullptr};
}

Result Object::read_early_data(std::span<std::byte> buffer) {
  State& s = *state_;
  if (!s.early_in.empty()) return State::take_buffered(s.early_in, buffer);
  if (s.fatal) return s.fatal_result();
  const Result none{Status::closed, 0, nullptr};
  if (!s.server_side || !s.early_enabled) return none;
  if (s.phase == Phase::early_data) {
    ErrorGuard guard;
    s.self = this;
    Result r = s.drain_early();
    s.self = nullptr;
    if (!s.early_in.empty()) return State::take_buffered(s.early_in, buffer);
    if (r.status != Status::done) return r;
    return none;  // the early data ended: the handshake is done
  }
  // Before the ClientHello is processed, early data may still come.
  const bool decided = SSL_get_early_data_reason(s.ssl.get()) != ssl_early_data_unknown;
  if (State::is_handshake_phase(s.phase) && !decided) return Result{Status::want_read, 0, nullptr};
  return none;
}

EarlyData Object::early_data() const {
  const State& s = *state_;
  const SSL* ssl = s.ssl.get();
  EarlyData e;
  const ssl_early_data_reason_t reason = SSL_get_early_data_reason(ssl);
  if (reason != ssl_early_data_unknown) {
    if (const char* text = SSL_early_data_reason_string(reason)) e.reason = text;
  }
  if (!s.early_offered) return e;
  if (SSL_early_data_accepted(ssl) && !s.early_rejected) {
    e.status = EarlyData::Status::accepted;
  } else if (s.early_rejected || (s.server_side && reason != ssl_early_data_unknown)) {
    e.status = EarlyData::Status::rejected;
  } else {
    e.status = EarlyData::Status::offered;
  }
  return e;
}

std::size_t Object::pending() const noexcept {
  int n = SSL_pending(state_->ssl.get());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

Result Object::unwrap() {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  ErrorGuard guard;
  if (State::is_handshake_phase(s.phase)) {
    // BoringSSL reports success here without sending anything; OpenSSL,
    // and so Python, refuse.
    return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_SHUTDOWN_WHILE_IN_INIT)), false);
  }
  return s.perform(this, [&s] {
    SSL* ssl = s.ssl.get();
    int ret = SSL_shutdown(ssl);
    // Our close_notify is out; the peer's may already be buffered.
    if (ret == 0) ret = SSL_shutdown(ssl);
    if (ret == 1) return Result{Status::done, 0, nullptr};
    if (ret == 0) return Result{Status::want_read, 0, nullptr};
    return s.outcome(ret, State::Op::shutdown);
  });
}

std::optional<std::string> Object::version() const {
  if (!is_handshake_complete()) return std::nullopt;
  return std::string(SSL_get_version(state_->ssl.get()));
}

std::optional<Cipher> Object::cipher() const {
  if (!is_handshake_complete()) return std::nullopt;
  const SSL_CIPHER* c = SSL_get_current_cipher(state_->ssl.get());
  if (c == nullptr) return std::nullopt;
  return cipher_of(c);
}

std::optional<std::vector<Cipher>> Object::shared_ciphers() const {
  if (!server_side() || !is_handshake_complete()) return std::nullopt;
  const std::vector<uint16_t>& shared = state_->shared_suites;
  if (shared.empty()) return std::nullopt;  // no ClientHello seen
  std::vector<Cipher> out;
  out.reserve(shared.size());
  for (uint16_t id : shared) {
    if (const SSL_CIPHER* c = SSL_get_cipher_by_value(id)) out.push_back(cipher_of(c));
  }
  return out;
}

std::optional<std::string> Object::selected_alpn_protocol() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(state_->ssl.get(), &data, &len);
  if (len == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::optional<std::string> Object::selected_npn_protocol() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_next_proto_negotiated(state_->ssl.get(), &data, &len);
  if (data == nullptr || len == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), len);
}

void Object::verify_client_post_handshake() {
  // CPython's text when built against a library without PHA.
  throw NotImplementedError("Post-handshake auth is not supported by your OpenSSL version.");
}

std::optional<std::string> Object::getpeercert(binary_form_t) const {
  if (!is_handshake_complete()) return std::nullopt;
  // The leaf comes first on both sides.
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(state_->ssl.get());
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) return std::nullopt;
  const CRYPTO_BUFFER* leaf = sk_CRYPTO_BUFFER_value(chain, 0);
  return std::string(reinterpret_cast<const char*>(CRYPTO_BUFFER_data(leaf)),
                     CRYPTO_BUFFER_len(leaf));
}

std::optional<Certificate> Object::getpeercert() const {
  std::optional<std::string> der = getpeercert(binary_form);
  if (!der) return std::nullopt;
  if (!state_->verifies_peer) return Certificate{};
  return Certificate::from_der(as_bytes(*der));
}

std::string_view phase_name(Phase phase) noexcept {
  switch (phase) {
    case Phase::fresh: return "fresh";
    case Phase::handshaking: return "handshaking";
    case Phase::waiting_for_client_hello: return "waiting_for_client_hello";
    case Phase::waiting_for_certificate_verify: return "waiting_for_certificate_verify";
    case Phase::waiting_for_private_key: return "waiting_for_private_key";
    case Phase::early_data: return "early_data";
    case Phase::established: return "established";
    case Phase::closing: return "closing";
    case Phase::closed: return "closed";
    case Phase::failed: return "failed";
  }
  return "unknown";
}

std::string_view phase_description(Phase phase) noexcept {
  switch (phase) {
    case Phase::fresh: return "fresh (no engine call yet)";
    case Phase::handshaking: return "handshaking";
    case Phase::waiting_for_client_hello: return "waiting for a ClientHello decision";
    case Phase::waiting_for_certificate_verify: return "waiting for a certificate verification";
    case Phase::waiting_for_private_key: return "waiting for a private-key operation";
    case Phase::early_data: return "in early data (0-RTT)";
    case Phase::established: return "established";
    case Phase::closing: return "closing";
    case Phase::closed: return "closed";
    case Phase::failed: return "failed";
  }
  return "unknown";
}

std::string_view wait_description(Status status) noexcept {
  switch (status) {
    case Status::want_private_key: return phase_description(Phase::waiting_for_private_key);
    case Status::want_certificate_verify: return phase_description(Phase::waiting_for_certificate_verify);
    case Status::want_client_hello: return phase_description(Phase::waiting_for_client_hello);
    default: return status_name(status);
  }
}

Phase Object::phase() const noexcept { return state_->phase; }

bool Object::is_handshake_complete() const noexcept {
  return SSL_is_init_finished(state_->ssl.get()) != 0;
}

bool Object::server_side() const noexcept { return state_->server_side; }

const std::optional<std::string>& Object::server_hostname() const noexcept {
  return state_->server_hostname;
}

const Context& Object::context() const noexcept { return state_->context; }

bool Object::session_reused() const noexcept { return SSL_session_reused(state_->ssl.get()) != 0; }

const MemoryBIO& Object::incoming() const noexcept { return state_->incoming; }
const MemoryBIO& Object::outgoing() const noexcept { return state_->outgoing; }

std::shared_ptr<const Error> Object::error() const noexcept { return state_->fatal; }

std::optional<Session> Object::session() const {
  const State& s = *state_;
  if (!is_handshake_complete()) return std::nullopt;
  if (s.latest_session) {
    SSL_SESSION_up_ref(s.latest_session.get());
    return SessionAccess::make(bssl::UniquePtr<SSL_SESSION>(s.latest_session.get()), s.context);
  }
  bssl::UniquePtr<SSL_SESSION> current(SSL_get1_session(s.ssl.get()));
  if (!current) return std::nullopt;
  return SessionAccess::make(std::move(current), s.context);
}

void Object::set_session(const Session& session) {
  State& s = *state_;
  const auto& given = SessionAccess::state(session);
  if (ContextAccess::native(given.context) != ContextAccess::native(s.context)) {
    throw std::invalid_argument("Session refers to a different SSLContext.");
  }
  if (s.server_side) throw std::invalid_argument("Cannot set session for server-side SSLSocket.");
  if (is_handshake_complete()) throw std::invalid_argument("Cannot set session after handshake.");
  // BoringSSL aborts the process if a session is set once the handshake
  // has begun; OpenSSL ignores it.
  if (s.phase != Phase::fresh) {
    throw std::invalid_argument("Cannot set session after the handshake has started (the Object is " +
                                std::string(phase_description(s.phase)) + ").");
  }
  ErrorGuard guard;
  if (!SSL_set_session(s.ssl.get(), given.session.get())) throw_from_queue("cannot set the session");
}

SSL* ObjectAccess::native(const Object& object) noexcept { return object.state_->ssl.get(); }

namespace {

// CallbackScope reports that an application callback runs for as long as
// it lives: |started| now and |ended| when it goes, even by exception.
class CallbackScope {
 public:
  using Event = ObjectAccess::State::Event;
  CallbackScope(ObjectAccess::State& state, Event started, Event ended) : state_(state), ended_(ended) {
    state_.on(started);
  }
  ~CallbackScope() { state_.on(ended_); }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  ObjectAccess::State& state_;
  Event ended_;
};

}  // namespace

ObjectAccess::State* ObjectAccess::state_of(const SSL* ssl) noexcept {
  return static_cast<ObjectAccess::State*>(SSL_get_ex_data(ssl, object_index()));
}

const Context* ObjectAccess::session_context_of(const SSL* ssl) noexcept {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr) return nullptr;
  return s->original_context ? &*s->original_context : &s->context;
}

void Object::set_context(const Context& context) {
  State& s = *state_;
  const bool allowed = s.phase == Phase::fresh || s.in_sni_callback || s.in_client_hello_callback ||
                       s.phase == Phase::waiting_for_client_hello;
  if (!allowed) {
    throw std::logic_error(
        "set_context: the context can only change before the handshake, in an SNI or ClientHello "
        "callback, or while a ClientHello callback's answer is pending (the Object is " +
        std::string(phase_description(s.phase)) + ")");
  }
  if (ContextAccess::native(context) == ContextAccess::native(s.context)) return;
  ErrorGuard guard;
  if (SSL_set_SSL_CTX(s.ssl.get(), ContextAccess::native(context)) == nullptr) {
    throw_from_queue("cannot switch the context");
  }
  if (!s.original_context) s.original_context = s.context;
  s.context = context;
}

namespace {

// verdict_of applies a verify callback's accept or reject to |s|.
ssl_verify_result_t verdict_of(ObjectAccess::State& s, const VerifyReply& reply, uint8_t* out_alert) {
  if (reply.kind() == VerifyReply::Kind::accept) {
    s.verdict = PeerVerdict{};
    ERR_clear_error();
    return ssl_verify_ok;
  }
  s.verdict.code = X509_V_ERR_APPLICATION_VERIFICATION;
  s.verdict.message = reply.message().empty() ? "rejected by the verify callback" : reply.message();
  *out_alert = static_cast<uint8_t>(reply.alert());
  return ssl_verify_invalid;
}

}  // namespace

ssl_verify_result_t ObjectAccess::on_verify(SSL* ssl, uint8_t* out_alert) {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  if (s->phase == Phase::waiting_for_certificate_verify) {
    // BoringSSL asks again after a pending answer.
    if (!s->verify_answer) return ssl_verify_retry;
    const VerifyReply reply = *s->verify_answer;
    s->verify_answer.reset();
    return verdict_of(*s, reply, out_alert);
  }
  const VerifyCallback& callback = ContextAccess::state(s->context).verify_callback;
  // CERT_NONE: BoringSSL would accept whatever the verification said, and
  // nothing reports it (getpeercert() is then empty, as in Python).
  if (!s->verifies_peer && !callback) return ssl_verify_ok;
  PeerCheck check;
  check.server = s->server_side;
  if (s->checks_host && s->server_hostname) {
    check.host = &*s->server_hostname;
    check.host_is_ip = s->hostname_is_ip;
    check.host_flags = s->host_flags;
  }
  // The context in use now: after an SNI switch, the new one's store.
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl);
  s->verdict = verify_peer_chain(ContextAccess::state(s->context), chain, check);
  if (!callback || s->self == nullptr) {
    if (s->verdict.code == X509_V_OK) {
      ERR_clear_error();
      return ssl_verify_ok;
    }
    *out_alert = static_cast<uint8_t>(SSL_alert_from_verify_result(s->verdict.code));
    return ssl_verify_invalid;
  }

  PeerCertificates peer;
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); ++i) {
    const CRYPTO_BUFFER* cert = sk_CRYPTO_BUFFER_value(chain, i);
    peer.chain.emplace_back(reinterpret_cast<const char*>(CRYPTO_BUFFER_data(cert)), CRYPTO_BUFFER_len(cert));
  }
  peer.server_hostname = s->server_hostname;
  peer.server_side = s->server_side;
  peer.verify_code = static_cast<VerifyCode>(s->verdict.code);
  if (s->verdict.code == X509_V_OK) {
    peer.verify_message = "ok";
  } else if (!s->verdict.message.empty()) {
    peer.verify_message = s->verdict.message;
  } else {
    // As the SSLCertVerificationError would say it.
    peer.verify_message = s->verification_error(ERR_PACK(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED)).verify_message;
  }
  ERR_clear_error();
  VerifyReply reply = VerifyReply::pending();
  try {
    const VerifyCallback keep = callback;
    reply = keep(*s->self, peer);
  } catch (const std::exception& e) {
    reply = VerifyReply::reject(std::string("the verify callback threw: ") + e.what());
  } catch (...) {
    reply = VerifyReply::reject("the verify callback threw an exception that is not a std::exception");
  }
  if (reply.kind() == VerifyReply::Kind::pending) return ssl_verify_retry;
  return verdict_of(*s, reply, out_alert);
}

namespace {

// key_result hands a signer's done or failed reply to BoringSSL.
ssl_private_key_result_t key_result(ObjectAccess::State& s, const PrivateKeyReply& reply, uint8_t* out,
                                    size_t* out_len, size_t max_out) {
  if (reply.kind() == PrivateKeyReply::Kind::failed) {
    s.callback_error = "the signer failed: " + reply.reason();
    return ssl_private_key_failure;
  }
  const std::string& output = reply.output();
  if (output.empty() || output.size() > max_out) {
    s.callback_error = "the signer returned " + std::to_string(output.size()) +
                       " bytes (at most " + std::to_string(max_out) + " fit)";
    return ssl_private_key_failure;
  }
  std::memcpy(out, output.data(), output.size());
  *out_len = output.size();
  return ssl_private_key_success;
}

ssl_private_key_result_t start_key_operation(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                             PrivateKeyRequest request) {
  ObjectAccess::State* s = ObjectAccess::state_of(ssl);
  if (s == nullptr || s->self == nullptr) return ssl_private_key_failure;
  const PrivateKeySigner& signer = ContextAccess::state(s->context).signer;
  if (!signer) {
    s->callback_error = "the Context has no signer";
    return ssl_private_key_failure;
  }
  PrivateKeyReply reply = PrivateKeyReply::pending();
  try {
    const PrivateKeySigner keep = signer;
    reply = keep(*s->self, request);
  } catch (const std::exception& e) {
    reply = PrivateKeyReply::failed(std::string("it threw: ") + e.what());
  } catch (...) {
    reply = PrivateKeyReply::failed("it threw an exception that is not a std::exception");
  }
  if (reply.kind() == PrivateKeyReply::Kind::pending) return ssl_private_key_retry;
  return key_result(*s, reply, out, out_len, max_out);
}

ssl_private_key_result_t on_sign(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                 uint16_t algorithm, const uint8_t* in, size_t in_len) {
  PrivateKeyRequest request;
  request.operation = PrivateKeyOperation::sign;
  request.algorithm = algorithm;
  if (const char* name = SSL_get_signature_algorithm_name(algorithm, /*include_curve=*/1)) {
    request.algorithm_name = name;
  }
  request.input.assign(reinterpret_cast<const char*>(in), in_len);
  return start_key_operation(ssl, out, out_len, max_out, std::move(request));
}

ssl_private_key_result_t on_decrypt(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                    const uint8_t* in, size_t in_len) {
  PrivateKeyRequest request;
  request.operation = PrivateKeyOperation::decrypt;
  request.input.assign(reinterpret_cast<const char*>(in), in_len);
  return start_key_operation(ssl, out, out_len, max_out, std::move(request));
}

ssl_private_key_result_t on_complete(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out) {
  ObjectAccess::State* s = ObjectAccess::state_of(ssl);
  if (s == nullptr) return ssl_private_key_failure;
  if (!s->key_answer) return ssl_private_key_retry;
  const PrivateKeyReply reply = std::move(*s->key_answer);
  s->key_answer.reset();
  return key_result(*s, reply, out, out_len, max_out);
}

}  // namespace

const SSL_PRIVATE_KEY_METHOD ObjectAccess::kSignerMethod = {on_sign, on_decrypt, on_complete};

void Object::complete_private_key(PrivateKeyReply reply) {
  state_->take_answer(Phase::waiting_for_private_key, state_->key_answer, std::move(reply), "complete_private_key");
}

void Object::complete_certificate_verify(VerifyReply reply) {
  state_->take_answer(Phase::waiting_for_certificate_verify, state_->verify_answer, std::move(reply),
                      "complete_certificate_verify");
}

void Object::complete_client_hello(ClientHelloReply reply) {
  state_->take_answer(Phase::waiting_for_client_hello, state_->hello_answer, reply, "complete_client_hello");
}

int ObjectAccess::on_servername(SSL* ssl, int* alert, void*) {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr || s->self == nullptr) return SSL_TLSEXT_ERR_OK;
  if (s->hello_refusal) {
    if (s->callback_error.empty()) {
      s->callback_error = "the ClientHello callback refused the handshake with alert " +
                          std::to_string(static_cast<int>(*s->hello_refusal));
    }
    *alert = static_cast<int>(*s->hello_refusal);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const Context& context = s->original_context ? *s->original_context : s->context;
  const Context::SNICallback& callback = ContextAccess::state(context).sni_callback;
  if (!callback) return SSL_TLSEXT_ERR_OK;
  std::optional<std::string> name;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) name = sni;
  std::optional<AlertDescription> result;
  try {
    CallbackScope scope(*s, ObjectAccess::State::Event::sni_callback_started,
                        ObjectAccess::State::Event::sni_callback_ended);
    // The callback may replace s->context; it gets its own handle.
    const Context this_context = context;
    result = callback(*s->self, name, this_context);
  } catch (const std::exception& e) {
    // As CPython: whatever the callback threw ends the handshake with
    // handshake_failure; it must not unwind through BoringSSL. The server's
    // error names it.
    s->callback_error = std::string("the SNI callback threw: ") + e.what();
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  } catch (...) {
    s->callback_error = "the SNI callback threw an exception that is not a std::exception";
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (!result) return SSL_TLSEXT_ERR_OK;
  *alert = static_cast<int>(*result);
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void ObjectAccess::on_info(const SSL* ssl, int where, int) {
  if ((where & (SSL_CB_HANDSHAKE_START | SSL_CB_HANDSHAKE_DONE)) == 0) return;
  ObjectAccess::State* s = state_of(ssl);
  const Context* context = session_context_of(ssl);
  if (s == nullptr || context == nullptr) return;
  auto& c = ContextAccess::state(*context).counters;
  if ((where & SSL_CB_HANDSHAKE_START) != 0) {
    if (s->server_side) {
      ++c.accept;
    } else if (s->handshakes_done > 0) {
      ++c.connect_renegotiate;
    } else {
      ++c.connect;
    }
    s->on(ObjectAccess::State::Event::handshake_started);
  }
  if ((where & SSL_CB_HANDSHAKE_DONE) != 0) {
    s->on(ObjectAccess::State::Event::handshake_finished);
    if (!s->server_side) {
      ++c.connect_good;
    } else {
      ++c.accept_good;
      if (SSL_session_reused(ssl)) {
        ++c.hits;
      } else if (s->offered_session) {
        ++c.misses;
      }
    }
  }
}

namespace {

// u16_list reads a list of 16-bit values that fills |in|.
std::vector<std::uint16_t> u16_list(CBS in) {
  std::vector<std::uint16_t> out;
  uint16_t v = 0;
  while (CBS_get_u16(&in, &v)) out.push_back(v);
  return out;
}

// client_hello_of copies what the application may look at from |hello|.
// Malformed extensions (BoringSSL has not parsed them yet) leave their
// field empty: the handshake rejects them later.
ClientHello client_hello_of(const SSL_CLIENT_HELLO* hello, bool offers_session) {
  ClientHello out;
  out.offers_session = offers_session;
  if (const char* sni = SSL_get_servername(hello->ssl, TLSEXT_NAMETYPE_host_name)) out.server_name = sni;
  CBS suites;
  CBS_init(&suites, hello->cipher_suites, hello->cipher_suites_len);
  out.cipher_suites = u16_list(suites);
  const uint8_t* data = nullptr;
  size_t len = 0;
  CBS body;
  CBS list;
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                           &data, &len)) {
    CBS_init(&body, data, len);
    CBS name;
    if (CBS_get_u16_length_prefixed(&body, &list)) {
      while (CBS_get_u8_length_prefixed(&list, &name)) {
        out.alpn_protocols.emplace_back(reinterpret_cast<const char*>(CBS_data(&name)), CBS_len(&name));
      }
    }
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_versions, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u8_length_prefixed(&body, &list)) out.supported_versions = u16_list(list);
  } else {
    out.supported_versions.push_back(hello->version);
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_groups, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u16_length_prefixed(&body, &list)) out.groups = u16_list(list);
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_signature_algorithms, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u16_length_prefixed(&body, &list)) out.signature_algorithms = u16_list(list);
  }
  CBS extensions;
  CBS_init(&extensions, hello->extensions, hello->extensions_len);
  uint16_t type = 0;
  CBS ignored;
  while (CBS_get_u16(&extensions, &type) && CBS_get_u16_length_prefixed(&extensions, &ignored)) {
    out.extensions.push_back(type);
  }
  return out;
}

}  // namespace

ssl_select_cert_result_t ObjectAccess::on_client_hello(const SSL_CLIENT_HELLO* hello) {
  ObjectAccess::State* s = state_of(hello->ssl);
  if (s == nullptr) return ssl_select_cert_success;
  if (s->phase == Phase::waiting_for_client_hello) {
    // BoringSSL asks again after a pending answer.
    if (!s->hello_answer) return ssl_select_cert_retry;
    const ClientHelloReply reply = *s->hello_answer;
    s->hello_answer.reset();
    if (reply.kind() == ClientHelloReply::Kind::refuse) s->hello_refusal = reply.alert();
    return ssl_select_cert_success;
  }
  remember_client_hello(hello, s->shared_suites);
  const uint8_t* data = nullptr;
  size_t len = 0;
  // A TLS 1.3 client offers a session as a pre_shared_key; a TLS 1.2 one as
  // a non-empty session ticket or a session ID. TLS 1.3-capable clients
  // send a random session ID anyway, so an ID counts only without
  // supported_versions.
  bool psk = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_pre_shared_key, &data, &len) != 0;
  bool ticket = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_session_ticket, &data, &len) != 0 &&
                len > 0;
  bool tls13 = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_versions, &data, &len) != 0;
  const bool offered = psk || ticket || (!tls13 && hello->session_id_len > 0);
  if (offered) s->on(ObjectAccess::State::Event::session_offered);
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_early_data, &data, &len)) {
    s->on(ObjectAccess::State::Event::early_data_offered);  // and, unless accepted below, rejected
    auto& cs = ContextAccess::state(s->original_context ? *s->original_context : s->context);
    // Single use: the first PSK identity is the ticket BoringSSL would
    // resume (RFC 8446 section 4.2.11); a second offer of its early data
    // is a replay.
    CBS body;
    CBS identities;
    CBS identity;
    if (s->early_enabled && cs.early_data_single_use &&
        SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_pre_shared_key, &data, &len)) {
      CBS_init(&body, data, len);
      const bool parsed = CBS_get_u16_length_prefixed(&body, &identities) &&
                          CBS_get_u16_length_prefixed(&identities, &identity);
      if (!parsed || !cs.used_tickets.first_use(std::string_view(
                         reinterpret_cast<const char*>(CBS_data(&identity)), CBS_len(&identity)))) {
        SSL_set_early_data_enabled(hello->ssl, 0);
      }
    }
  }

  const Context& context = s->original_context ? *s->original_context : s->context;
  const ClientHelloCallback& callback = ContextAccess::state(context).client_hello_callback;
  if (!callback || s->self == nullptr) return ssl_select_cert_success;
  std::optional<ClientHelloReply> reply;
  try {
    CallbackScope scope(*s, ObjectAccess::State::Event::client_hello_callback_started,
                        ObjectAccess::State::Event::client_hello_callback_ended);
    const ClientHelloCallback keep = callback;  // it may replace the context
    reply = keep(*s->self, client_hello_of(hello, offered));
  } catch (const std::exception& e) {
    s->callback_error = std::string("the ClientHello callback threw: ") + e.what();
    s->hello_refusal = AlertDescription::handshake_failure;
    return ssl_select_cert_success;
  } catch (...) {
    s->callback_error = "the ClientHello callback threw an exception that is not a std::exception";
    s->hello_refusal = AlertDescription::handshake_failure;
    return ssl_select_cert_success;
  }
  switch (reply->kind()) {
    case ClientHelloReply::Kind::proceed: return ssl_select_cert_success;
    case ClientHelloReply::Kind::pending: return ssl_select_cert_retry;
    case ClientHelloReply::Kind::refuse:
      // The refusal goes out from on_servername, which BoringSSL calls
      // next and which, unlike this callback, can choose the alert.
      s->hello_refusal = reply->alert();
      return ssl_select_cert_success;
  }
  return ssl_select_cert_success;
}

int ObjectAccess::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* s = static_cast<ObjectAccess::State*>(SSL_get_ex_data(ssl, object_index()));
  if (s == nullptr || s->server_side) return 0;  // BoringSSL keeps its reference
  s->latest_session.reset(session);             // takes BoringSSL's reference
  return 1;
}

}  // namespace sanstls
