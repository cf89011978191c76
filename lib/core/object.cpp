#include <sanstls/object.hpp>

#include <openssl/cipher.h>
#include <openssl/hmac.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>

#include "internal.hpp"

namespace sanstls {

// Object::State is one connection: the SSL, the handles that keep its
// buffers and configuration alive, and the sticky fatal error.
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
  bool started = false;          // an engine call ran: SSL_set_session would abort
  // self is the Object of the engine call in progress, for BoringSSL's
  // callbacks (an Object may have moved since the previous call).
  Object* self = nullptr;
  bool in_sni_callback = false;      // set_context is allowed then
  bool offered_session = false;      // the client's hello offered a session (server side)
  int handshakes_done = 0;           // renegotiations count apart
  std::string callback_error;        // what the SNI callback threw
  // original_context is the context wrap_bio was given, once set_context
  // switched away from it: its session cache and ticket keys stay in use.
  std::optional<Context> original_context;

  void enter(Object* object) noexcept {
    started = true;
    self = object;
  }
  bool tickets_flushed = false;  // a server sent its TLS 1.3 tickets

  enum class Op { handshake, read, write, shutdown };

  // handshake_progress runs after every engine call that may have finished
  // the handshake. A BoringSSL TLS 1.3 server holds its session tickets back
  // until its first write, so a client that only reads (or a connection
  // that closes first) would never be able to resume; OpenSSL, and so
  // Python, send them with the handshake. A zero-length write flushes them.
  bool tickets_flushed_or_client() const noexcept { return tickets_flushed || !server_side; }

  void handshake_progress() {
    if (tickets_flushed || !server_side || SSL_in_init(ssl.get())) return;
    tickets_flushed = true;
    static constexpr uint8_t kNothing = 0;
    if (SSL_write(ssl.get(), &kNothing, 0) < 0) {
      // Nothing is lost: BoringSSL sends the tickets with the next write.
      ERR_clear_error();
    }
  }

  Result fail(Error error, bool sticky) {
    auto shared = std::make_shared<const Error>(std::move(error));
    if (sticky) fatal = shared;
    return Result{Status::error, 0, std::move(shared)};
  }

  Error verification_error(std::uint32_t code) const {
    Error e = error_from_code(code, ErrorKind::cert_verification);
    e.verify_code = verdict.code;
    if (!verdict.message.empty()) {
      e.verify_message = verdict.message;
    } else if (e.verify_code == X509_V_ERR_HOSTNAME_MISMATCH && server_hostname) {
      e.verify_message = "Hostname mismatch, certificate is not valid for '" + *server_hostname + "'.";
    } else if (e.verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH && server_hostname) {
      e.verify_message = "IP address mismatch, certificate is not valid for '" + *server_hostname + "'.";
    } else {
      e.verify_message = X509_verify_cert_error_string(e.verify_code);
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
        Error e = error_from_code(code);
        if (!callback_error.empty()) {
          // BoringSSL only knows that an extension "failed to parse".
          e.message += " (the SNI callback threw: " + callback_error + ")";
        }
        return fail(std::move(e), sticky);
      }
      default:
        return fail(plain_error(ErrorKind::ssl, "unexpected SSL_get_error() result " +
                                                    std::to_string(err)),
                    true);
    }
  }

  Result fatal_result() const { return Result{Status::error, 0, fatal}; }

  // phase is the one place that says where the connection is, from what
  // the engine calls left behind: their sticky error, whether one ran, and
  // BoringSSL's handshake and shutdown state. Worked out when asked, so the
  // record path pays nothing for it.
  Phase phase() const noexcept {
    if (fatal) return Phase::failed;
    if (!started) return Phase::fresh;
    const SSL* s = ssl.get();
    if (SSL_in_init(s)) return Phase::handshaking;
    switch (SSL_get_shutdown(s)) {
      case 0: return Phase::established;
      case SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN: return Phase::closed;
      default: return Phase::closing;
    }
  }
};

namespace {

// object_index is the SSL ex_data slot that points back at Object::State.
int object_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

Object Context::wrap_bio(MemoryBIO incoming, MemoryBIO outgoing, bool server_side,
                         std::optional<std::string> server_hostname,
                         std::optional<Session> session) const {
  const State& cs = *state_;
  if (server_side && cs.protocol == Protocol::tls_client) {
    throw std::invalid_argument("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  }
  if (!server_side && cs.protocol == Protocol::tls_server) {
    throw std::invalid_argument("Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  }
  if (server_hostname) {
    const std::string& name = *server_hostname;
    if (server_side) {
      throw std::invalid_argument("server_hostname can only be specified in client mode");
    }
    if (name.empty() || name.front() == '.') {
      throw std::invalid_argument(
          "server_hostname cannot be an empty string or start with a leading dot.");
    }
    if (name.find('\0') != std::string::npos) {
      throw std::invalid_argument("server_hostname must not contain NUL bytes");
    }
    if (!is_ascii(name)) {
      throw std::invalid_argument(
          "server_hostname must be ASCII: IDNA-encode internationalized names (xn--...)");
    }
  } else if (!server_side && cs.check_hostname) {
    throw std::invalid_argument("check_hostname requires server_hostname");
  }

  ErrorGuard guard;
  auto s = std::make_unique<Object::State>(*this, std::move(incoming), std::move(outgoing),
                                           server_side);
  s->ssl.reset(SSL_new(cs.ctx.get()));
  if (!s->ssl) throw_from_queue("failed to allocate an SSL");
  SSL* ssl = s->ssl.get();

  bssl::UniquePtr<BIO> rbio = MemoryBIOAccess::new_bio(s->incoming);
  bssl::UniquePtr<BIO> wbio = MemoryBIOAccess::new_bio(s->outgoing);
  if (!rbio || !wbio) throw_from_queue("failed to allocate a BIO");
  SSL_set_bio(ssl, rbio.release(), wbio.release());

  s->verifies_peer = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
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
  Object object(std::move(s));
  if (session) object.set_session(*session);
  return object;
}

Object::Object(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Object::Object(Object&&) noexcept = default;
Object& Object::operator=(Object&&) noexcept = default;
Object::~Object() = default;

Result Object::do_handshake() {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  ErrorGuard guard;
  s.enter(this);
  Result r = s.outcome(SSL_do_handshake(s.ssl.get()), State::Op::handshake);
  if (r.status == Status::done) s.handshake_progress();
  return r;
}

Result Object::read_into(std::span<std::byte> buffer) {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  if (buffer.empty()) return Result{Status::done, 0, nullptr};
  SSL* ssl = s.ssl.get();
  // An event loop reads until want_read, so every burst of records ends with
  // a read that has nothing to work on. When no input is buffered anywhere
  // and nothing is in progress, that answer is known without entering
  // BoringSSL (whose failed SSL_read costs about as much as a 64-byte
  // record's decryption).
  if (s.incoming.pending() == 0 && !s.incoming.eof_written() && s.tickets_flushed_or_client() &&
      SSL_is_init_finished(ssl) && SSL_get_shutdown(ssl) == 0 && !SSL_has_pending(ssl)) {
    return Result{Status::want_read, 0, nullptr};
  }
  // No ErrorGuard on the record path: SSL_read empties the error queue
  // itself before it starts (ssl_reset_error_state), and outcome() takes
  // what a failure queued. The guard's two peeks at the thread-local queue
  // cost about 150 instructions per call (callgrind, 64-byte records).
  s.enter(this);
  int len = static_cast<int>(std::min<std::size_t>(buffer.size(), INT_MAX));
  Result r = s.outcome(SSL_read(ssl, buffer.data(), len), State::Op::read);
  if (!s.tickets_flushed && r.status != Status::error) s.handshake_progress();
  return r;
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
  if ((SSL_get_shutdown(s.ssl.get()) & SSL_SENT_SHUTDOWN) != 0) {
    return s.fail(plain_error(ErrorKind::zero_return,
                              "TLS/SSL connection has been closed (EOF): write after unwrap()"),
                  false);
  }
  // No ErrorGuard: SSL_write and SSL_do_handshake empty the error queue
  // before they start, and outcome() takes what a failure queued (see
  // read_into).
  s.enter(this);
  if (data.empty()) {
    // A zero-length write still drives an unfinished handshake.
    if (!is_handshake_complete()) {
      Result r = s.outcome(SSL_do_handshake(s.ssl.get()), State::Op::handshake);
      if (r.status != Status::done) return r;
    }
    s.handshake_progress();
    return Result{Status::done, 0, nullptr};
  }

  std::size_t total = 0;
  while (total < data.size()) {
    int chunk = static_cast<int>(std::min<std::size_t>(data.size() - total, INT_MAX));
    Result r = s.outcome(SSL_write(s.ssl.get(), data.data() + total, chunk), State::Op::write);
    if (r.status != Status::done) {
      r.bytes = total;
      return r;
    }
    total += r.bytes;
  }
  s.tickets_flushed = true;  // a write sends a server's tickets before its data
  return Result{Status::done, total, nullptr};
}

std::size_t Object::pending() const noexcept {
  int n = SSL_pending(state_->ssl.get());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

Result Object::unwrap() {
  State& s = *state_;
  if (s.fatal) return s.fatal_result();
  ErrorGuard guard;
  s.enter(this);
  SSL* ssl = s.ssl.get();
  if (!is_handshake_complete()) {
    // BoringSSL reports success here without sending anything; OpenSSL,
    // and so Python, refuse.
    return s.fail(error_from_code(ERR_PACK(ERR_LIB_SSL, SSL_R_SHUTDOWN_WHILE_IN_INIT)), false);
  }
  int ret = SSL_shutdown(ssl);
  if (ret == 0) {
    // Our close_notify is out; the peer's may already be buffered.
    ret = SSL_shutdown(ssl);
  }
  if (ret == 1) return Result{Status::done, 0, nullptr};
  if (ret == 0) return Result{Status::want_read, 0, nullptr};
  return s.outcome(ret, State::Op::shutdown);
}

std::optional<std::string> Object::version() const {
  if (!is_handshake_complete()) return std::nullopt;
  return std::string(SSL_get_version(state_->ssl.get()));
}

std::optional<Cipher> Object::cipher() const {
  if (!is_handshake_complete()) return std::nullopt;
  const SSL_CIPHER* c = SSL_get_current_cipher(state_->ssl.get());
  if (c == nullptr) return std::nullopt;
  Cipher out;
  out.name = SSL_CIPHER_get_name(c);
  // BoringSSL reports every suite as "TLSv1/SSLv3"; Python reports the
  // version that introduced it.
  switch (SSL_CIPHER_get_min_version(c)) {
    case TLS1_3_VERSION: out.protocol = "TLSv1.3"; break;
    case TLS1_2_VERSION: out.protocol = "TLSv1.2"; break;
    case TLS1_1_VERSION: out.protocol = "TLSv1.1"; break;
    case TLS1_VERSION: out.protocol = "TLSv1.0"; break;
    default:
      // BoringSSL files every pre-TLS 1.2 suite under SSLv3; OpenSSL files
      // the ECDHE ones (RFC 4492 came with TLS 1.0) under TLSv1.0.
      out.protocol = SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe ? "TLSv1.0" : "SSLv3";
      break;
  }
  out.secret_bits = SSL_CIPHER_get_bits(c, nullptr);
  return out;
}

std::optional<std::string> Object::selected_alpn_protocol() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(state_->ssl.get(), &data, &len);
  if (len == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), len);
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
    case Phase::established: return "established";
    case Phase::closing: return "closing";
    case Phase::closed: return "closed";
    case Phase::failed: return "failed";
  }
  return "unknown";
}

Phase Object::phase() const noexcept { return state_->phase(); }

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
  if (s.started) throw std::invalid_argument("Cannot set session after the handshake has started.");
  ErrorGuard guard;
  if (!SSL_set_session(s.ssl.get(), given.session.get())) throw_from_queue("cannot set the session");
}

SSL* ObjectAccess::native(const Object& object) noexcept { return object.state_->ssl.get(); }

namespace {

// ScopedFlag sets a flag for the duration of a callback.
class ScopedFlag {
 public:
  explicit ScopedFlag(bool& flag) noexcept : flag_(flag) { flag_ = true; }
  ~ScopedFlag() { flag_ = false; }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;

 private:
  bool& flag_;
};

}  // namespace

Object::State* ObjectAccess::state_of(const SSL* ssl) noexcept {
  return static_cast<Object::State*>(SSL_get_ex_data(ssl, object_index()));
}

Object* ObjectAccess::object_of(const SSL* ssl) noexcept {
  Object::State* s = state_of(ssl);
  return s != nullptr ? s->self : nullptr;
}

const Context* ObjectAccess::context_of(const SSL* ssl) noexcept {
  Object::State* s = state_of(ssl);
  return s != nullptr ? &s->context : nullptr;
}

const std::vector<uint16_t>& ObjectAccess::shared_suites(const Object& object) noexcept {
  return object.state_->shared_suites;
}

const Context* ObjectAccess::session_context_of(const SSL* ssl) noexcept {
  Object::State* s = state_of(ssl);
  if (s == nullptr) return nullptr;
  return s->original_context ? &*s->original_context : &s->context;
}

void Object::set_context(const Context& context) {
  State& s = *state_;
  if (s.started && !s.in_sni_callback) {
    throw std::logic_error(
        "set_context: the context can only change before the handshake or in an SNI callback "
        "(the Object is " + std::string(phase_name(s.phase())) + ")");
  }
  if (ContextAccess::native(context) == ContextAccess::native(s.context)) return;
  ErrorGuard guard;
  if (SSL_set_SSL_CTX(s.ssl.get(), ContextAccess::native(context)) == nullptr) {
    throw_from_queue("cannot switch the context");
  }
  if (!s.original_context) s.original_context = s.context;
  s.context = context;
}

ssl_verify_result_t ObjectAccess::on_verify(SSL* ssl, uint8_t* out_alert) {
  Object::State* s = state_of(ssl);
  if (s == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  // CERT_NONE: BoringSSL would accept whatever the verification said, and
  // nothing reports it (getpeercert() is then empty, as in Python).
  if (!s->verifies_peer) return ssl_verify_ok;
  PeerCheck check;
  check.server = s->server_side;
  if (s->checks_host && s->server_hostname) {
    check.host = &*s->server_hostname;
    check.host_is_ip = s->hostname_is_ip;
    check.host_flags = s->host_flags;
  }
  // The context in use now: after an SNI switch, the new one's store.
  s->verdict = verify_peer_chain(ContextAccess::state(s->context),
                                 SSL_get0_peer_certificates(ssl), check);
  if (s->verdict.code == X509_V_OK) {
    ERR_clear_error();
    return ssl_verify_ok;
  }
  *out_alert = static_cast<uint8_t>(SSL_alert_from_verify_result(s->verdict.code));
  return ssl_verify_invalid;
}

int ObjectAccess::on_servername(SSL* ssl, int* alert, void*) {
  Object::State* s = state_of(ssl);
  if (s == nullptr || s->self == nullptr) return SSL_TLSEXT_ERR_OK;
  const Context& context = s->original_context ? *s->original_context : s->context;
  const Context::SNICallback& callback = ContextAccess::state(context).sni_callback;
  if (!callback) return SSL_TLSEXT_ERR_OK;
  std::optional<std::string> name;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) name = sni;
  std::optional<AlertDescription> result;
  try {
    ScopedFlag in_callback(s->in_sni_callback);
    // The callback may replace s->context; it gets its own handle.
    const Context this_context = context;
    result = callback(*s->self, name, this_context);
  } catch (const std::exception& e) {
    // As CPython: whatever the callback threw ends the handshake with
    // handshake_failure; it must not unwind through BoringSSL. The server's
    // error names it.
    s->callback_error = e.what();
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  } catch (...) {
    s->callback_error = "an exception that is not a std::exception";
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (!result) return SSL_TLSEXT_ERR_OK;
  *alert = static_cast<int>(*result);
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void ObjectAccess::on_info(const SSL* ssl, int where, int) {
  if ((where & (SSL_CB_HANDSHAKE_START | SSL_CB_HANDSHAKE_DONE)) == 0) return;
  Object::State* s = state_of(ssl);
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
  }
  if ((where & SSL_CB_HANDSHAKE_DONE) != 0) {
    ++s->handshakes_done;
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

ssl_select_cert_result_t ObjectAccess::on_client_hello(const SSL_CLIENT_HELLO* hello) {
  Object::State* s = state_of(hello->ssl);
  if (s == nullptr) return ssl_select_cert_success;
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
  s->offered_session = psk || ticket || (!tls13 && hello->session_id_len > 0);
  return ssl_select_cert_success;
}

void ObjectAccess::on_remove_session(SSL_CTX* ctx, SSL_SESSION* session) {
  auto* cs = ContextAccess::state_of(ctx);
  if (cs == nullptr) return;
  // BoringSSL drops a session from its cache when it has expired (found so
  // on lookup, or by a periodic flush) or to make room in a full cache.
  const std::uint64_t expires = SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session);
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  if (now >= expires) {
    ++cs->counters.timeouts;
  } else if (SSL_CTX_sess_number(ctx) >= SSL_CTX_sess_get_cache_size(ctx)) {
    ++cs->counters.cache_full;
  }
}

int ObjectAccess::on_ticket_key(SSL* ssl, uint8_t* name, uint8_t* iv, EVP_CIPHER_CTX* cipher,
                                HMAC_CTX* hmac, int encrypt) {
  const Context* context = session_context_of(ssl);
  if (context == nullptr) return 0;
  const std::vector<TicketKey>& keys = ContextAccess::state(*context).ticket_keys;
  if (keys.empty()) return encrypt ? -1 : 0;
  const TicketKey* key = nullptr;
  if (encrypt) {
    key = &keys.front();
    std::memcpy(name, key->name.data(), key->name.size());
    if (!RAND_bytes(iv, EVP_MAX_IV_LENGTH)) return -1;
  } else {
    for (const TicketKey& k : keys) {
      if (std::memcmp(name, k.name.data(), k.name.size()) == 0) key = &k;
    }
    if (key == nullptr) return 0;  // unknown key: a full handshake
  }
  const auto* aes = reinterpret_cast<const uint8_t*>(key->aes_key.data());
  const int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes, iv)
                         : EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes, iv);
  if (!ok || !HMAC_Init_ex(hmac, key->hmac_key.data(), key->hmac_key.size(), EVP_sha256(), nullptr)) {
    return -1;
  }
  // 2: accepted, but the client gets a ticket under the current key.
  return encrypt || key == &keys.front() ? 1 : 2;
}

int ObjectAccess::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* s = static_cast<Object::State*>(SSL_get_ex_data(ssl, object_index()));
  if (s == nullptr || s->server_side) return 0;  // BoringSSL keeps its reference
  s->latest_session.reset(session);             // takes BoringSSL's reference
  return 1;
}

}  // namespace sanstls
