// The Object, one connection: the engine calls that drive it
// (do_handshake, read, write, unwrap, early data), what it reports once
// negotiated, and the application's answers to a waiting handshake
// (complete_*). Its state is Object::State (object_state.hpp); what
// BoringSSL calls back during a handshake is in object_callbacks.cpp.
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
#include "object_state.hpp"

namespace sanstls {

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

  apply_certificate_status(ssl, cs, server_side);
  apply_ech(ssl, cs, server_side);

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
  if (s.records) {
    Result r = s.records->read(s, buffer);
    if (r.status != Status::done) s.settle(r);
    return r;
  }
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
  // The hand-over waits for the first record either way, so a connection
  // that stays idle never holds the record layer (about 1.5 KB).
  if (s.take_over()) {
    Result r = s.records->read(s, buffer);
    if (r.status != Status::done) s.settle(r);
    return r;
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
  if (s.records || s.take_over()) {
    Result r = s.records->write(s, data);
    if (r.status != Status::done) s.settle(r);
    return r;
  }
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
    s.write_unfinished = r.status != Status::done;
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
  s.write_unfinished = false;
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
  if (state_->records) return state_->records->pending();
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
  if (s.records || s.take_over()) {
    Result r = s.records->shutdown(s);
    s.settle(r);
    return r;
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

Result Object::key_update(bool request_peer_update) {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  if (s.records || s.take_over()) {
    Result r = s.records->key_update(s, request_peer_update);
    if (r.status != Status::done) s.settle(r);
    return r;
  }
  ErrorGuard guard;
  SSL* ssl = s.ssl.get();
  const int type = request_peer_update ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED;
  if (State::is_handshake_phase(s.phase)) {
    return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_HANDSHAKE_NOT_COMPLETE)), false);
  }
  if ((s.shutdown_flags() & SSL_SENT_SHUTDOWN) != 0) {
    return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_PROTOCOL_IS_SHUTDOWN)), false);
  }
  if (!SSL_key_update(ssl, type)) return s.fail(error_from_queue("KeyUpdate failed"), false);
  // BoringSSL queues the message until the next write; a zero-length write
  // sends it now, and returns 0 when it did.
  static constexpr uint8_t kNothing = 0;
  const int ret = SSL_write(ssl, &kNothing, 0);
  if (ret >= 0) return Result{Status::done, 0, nullptr};
  return s.outcome(ret, State::Op::write);
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

void Object::set_user_data(void* data) noexcept { state_->user_data = data; }

void* Object::user_data() const noexcept { return state_->user_data; }

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
  if (s.in_sni_callback && SSL_version(s.ssl.get()) == TLS1_3_VERSION) {
    // BoringSSL agreed on an algorithm with the current Context before the
    // SNI callback ran, and compresses with the new one's: without it the
    // handshake would fail with an internal error.
    const auto agreed = negotiated_compression(ContextAccess::state(s.context), s.compression_offered);
    const auto& offers = ContextAccess::state(context).compression;
    if (agreed && std::find(offers.begin(), offers.end(), *agreed) == offers.end()) {
      throw std::logic_error("set_context: this handshake already agreed to compress the certificate with " +
                             std::string(certificate_compression_name(*agreed)) +
                             ", which the new Context does not have (set_certificate_compression)");
    }
  }
  ErrorGuard guard;
  if (SSL_set_SSL_CTX(s.ssl.get(), ContextAccess::native(context)) == nullptr) {
    throw_from_queue("cannot switch the context");
  }
  if (!s.original_context) s.original_context = s.context;
  s.context = context;
  apply_certificate_status(s.ssl.get(), ContextAccess::state(context), s.server_side);
  apply_ech(s.ssl.get(), ContextAccess::state(context), s.server_side);
}

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

}  // namespace sanstls
