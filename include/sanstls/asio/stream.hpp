// sanstls/asio/stream.hpp: TLS over any asio stream, with the shape of
// asio::ssl::stream, on one sanstls Object (standalone asio 1.22 or later;
// header-only: link sanstls, include asio yourself).
//
// Example:
//   // A client, in a C++20 coroutine; callbacks, futures and any other
//   // completion token work the same way.
//   auto fetch = [](sanstls::asio::stream<asio::ip::tcp::socket>& tls,
//                   asio::ip::tcp::endpoint server) -> asio::awaitable<std::string> {
//     co_await tls.next_layer().async_connect(server, asio::use_awaitable);
//     co_await tls.async_handshake(sanstls::asio::stream_base::client, asio::use_awaitable);
//     co_await asio::async_write(tls, asio::buffer(std::string_view("GET / HTTP/1.0\r\n\r\n")),
//                                asio::use_awaitable);
//     std::string reply;
//     auto [ec, n] = co_await asio::async_read(tls, asio::dynamic_buffer(reply),
//                                              asio::experimental::as_tuple(asio::use_awaitable));
//     // ec is asio::error::eof after the server's close_notify; a missing
//     // close_notify is sanstls::errc::stream_truncated.
//     (void)n;
//     co_return reply;
//   };
//   asio::io_context io;
//   sanstls::Context ctx = sanstls::create_default_context();
//   sanstls::asio::stream<asio::ip::tcp::socket> tls(io, ctx);
//   tls.set_server_hostname("example.com");  // SNI and the name verified
//   (void)fetch;
//
// What it does, and what a caller may rely on:
//
// * Zero copy between the socket and the engine: the next layer reads
//   straight into incoming's prepare()d space and sends the Blocks that
//   outgoing's take_readable() hands over (memory_bio.hpp). The engine's
//   own encryption and decryption are the only copies.
// * Bounded: a read takes at most 64 KiB of ciphertext from the next
//   layer, and only when the engine asks for more; a write_some encrypts at
//   most 64 KiB of plaintext and completes once those records are written
//   to the next layer, so a stream never holds more than about 128 KiB.
// * Full duplex: one async_read_some (or async_handshake or
//   async_shutdown) and one async_write_some may be outstanding at once,
//   as with asio::ssl::stream; the stream serialises the next layer's reads
//   and writes between them. An async_shutdown may be started while an
//   async_read_some waits (the usual way to end a connection).
// * Errors are std::error_codes: a TLS failure is in sanstls's
//   error_category() or, for a certificate that failed verification,
//   verify_error_category() (the value is the VerifyCode); last_error()
//   has the whole Error, with the message exactly as Python prints it. The
//   peer's close_notify ends reads with asio::error::eof; a transport that
//   ends without one gives sanstls::errc::stream_truncated.
// * Cancellation: an async_read_some, or a wait for the peer in
//   async_handshake or async_shutdown, may be cancelled (bind a
//   cancellation slot, or race it with a timer through
//   asio::experimental::awaitable_operators); it completes with
//   asio::error::operation_aborted. A cancelled read loses nothing: the
//   stream stays usable. A record half written to the next layer is always
//   finished, because cutting it short would corrupt the connection; a
//   cancellation that comes meanwhile takes effect at the next wait.
// * A next layer that fails a write: the operations whose records it
//   carried, and every later write, complete with its error; a read that
//   already has its bytes delivers them.
// * The application's waits (callbacks.hpp): a signer, verify or
//   ClientHello callback that answers pending makes the handshake wait;
//   answer with complete_private_key(), complete_certificate_verify() or
//   complete_client_hello() on the stream, from any thread. stream::from()
//   finds the stream from the Object a callback is given.
//
// Threads: as asio::ssl::stream. The stream's operations, and the
// handlers of its next layer, must not run concurrently: use one thread, or
// an explicit or implicit strand as the next layer's executor. Only the
// complete_* calls may come from any thread. Synchronous calls
// (handshake(), read_some(), ...) and asynchronous ones are not to be mixed
// while either is in progress.
#ifndef SANSTLS_ASIO_STREAM_HPP
#define SANSTLS_ASIO_STREAM_HPP

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <sanstls/callbacks.hpp>
#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>
#include <sanstls/session.hpp>

namespace sanstls::asio {

// stream_base holds what every stream type shares, as asio::ssl::stream_base.
class stream_base {
 public:
  // handshake_type says which side of the handshake a stream plays.
  enum handshake_type {
    client,  // sends the ClientHello; verifies the server for set_server_hostname()
    server,  // answers it
  };

 protected:
  ~stream_base() = default;
};

namespace detail {

// The amounts that bound a stream's buffers. A read asks the next layer for
// one full record's worth (16 KiB of plaintext and the record overhead),
// or for 64 KiB once a read came back full (a bulk transfer); a write
// encrypts at most 64 KiB per write_some.
inline constexpr std::size_t kSmallRead = 17 * 1024;
inline constexpr std::size_t kLargeRead = 64 * 1024;
inline constexpr std::size_t kMaxWrite = 64 * 1024;

struct Core;

// Answers carries the application's answers to pending callbacks from the
// threads that make them to the stream. It is shared with those threads
// and with answers posted to the executor, so it may outlive the stream:
// core is cleared, under the lock, when the stream goes.
struct Answers {
  std::mutex mutex;
  std::condition_variable answered;
  bool sync_active = false;  // a synchronous call waits on answered
  std::vector<std::function<void(Object&)>> queue;
  Core* core = nullptr;
};

// Core is a stream's state, shared by its operations. The stream owns it;
// it stays where it is when the stream moves, so operations in progress
// (which must not outlive the stream, as with any asio I/O object) keep a
// plain reference.
struct Core {
  template <class Executor>
  Core(const Executor& executor, const Context& ctx)
      : context(ctx), wake(executor, std::chrono::steady_clock::time_point::max()) {
    answers->core = this;
  }
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  ~Core() {
    std::lock_guard lock(answers->mutex);
    answers->core = nullptr;
    if (tls) tls->set_user_data(nullptr);
  }

  Context context;
  MemoryBIO incoming;
  MemoryBIO outgoing;
  std::optional<Object> tls;  // made by the first handshake
  std::optional<std::string> hostname;
  std::optional<Session> session;
  void* owner = nullptr;  // the stream, for stream::from

  // The next layer's writes: one at a time, of the Block in flight. queued
  // counts bytes ever taken from outgoing, sent those written; an
  // operation whose records must be out before it completes waits until
  // sent reaches queued + outgoing.pending() as it was after its engine
  // call.
  MemoryBIO::Block sending;
  bool writing = false;
  std::error_code write_failed;  // the next layer's write error, once one failed
  std::uint64_t queued = 0;
  std::uint64_t sent = 0;

  // The next layer's reads: one at a time, into incoming's prepared space.
  bool reading = false;
  std::size_t read_size = kSmallRead;

  // Operations that wait for another one (to finish its read or write) or
  // for the application (a callback answered pending) wait on this timer,
  // which never expires: cancel() wakes them all and each looks again.
  ::asio::steady_timer wake;

  std::shared_ptr<const Error> last_error;

  std::shared_ptr<Answers> answers = std::make_shared<Answers>();

  // notify wakes every waiting operation. The generation tells a woken
  // wait from a cancelled one, both of which end with operation_aborted.
  std::uint64_t generation = 0;
  void notify() {
    ++generation;
    wake.cancel();
  }

  // flush_target is the count sent must reach for everything now in
  // outgoing to be on its way.
  std::uint64_t flush_target() const noexcept { return queued + outgoing.pending(); }

  // grow_or_shrink picks the next read's size from what the last one got.
  void adapt_read_size(std::size_t got) noexcept {
    read_size = got == read_size ? kLargeRead : kSmallRead;
  }
};

// first_buffer returns the first non-empty buffer of |buffers| (asio's
// streams, asio::ssl's too, move one buffer per read_some or write_some).
template <class Buffer, class Sequence>
Buffer first_buffer(const Sequence& buffers) {
  auto end = ::asio::buffer_sequence_end(buffers);
  for (auto it = ::asio::buffer_sequence_begin(buffers); it != end; ++it) {
    Buffer b(*it);
    if (b.size() != 0) return b;
  }
  return Buffer();
}

// HandshakeOp, ReadOp, WriteOp and ShutdownOp are the engine call each
// operation repeats until it is done. flushes says whether the operation
// completes only once its records are written to the next layer.
struct HandshakeOp {
  static constexpr bool flushes = true;
  Result step(Object& tls) {
    Result r = tls.do_handshake();
    // 0-RTT is not offered through a stream: nothing to send again.
    if (r.status == Status::early_data_rejected) r = tls.do_handshake();
    return r;
  }
};

struct ReadOp {
  static constexpr bool flushes = false;
  ::asio::mutable_buffer buffer;
  Result step(Object& tls) {
    auto* out = static_cast<std::byte*>(buffer.data());
    std::size_t filled = 0;
    Result r;
    // One call returns at most one record; take the ones already in the
    // engine or in incoming too, so a bulk read completes once per buffer
    // rather than once per record.
    for (;;) {
      r = tls.read_into(std::span<std::byte>(out + filled, buffer.size() - filled));
      if (r.status != Status::done) break;
      filled += r.bytes;
      if (filled == buffer.size() || r.bytes == 0) break;
      if (tls.pending() == 0 && tls.incoming().pending() == 0) break;
    }
    if (filled == 0) return r;
    Result done;
    done.bytes = filled;
    return done;
  }
};

struct WriteOp {
  static constexpr bool flushes = true;
  ::asio::const_buffer buffer;
  Result step(Object& tls) {
    const std::size_t n = std::min(buffer.size(), kMaxWrite);
    return tls.write(std::span<const std::byte>(static_cast<const std::byte*>(buffer.data()), n));
  }
};

struct ShutdownOp {
  static constexpr bool flushes = true;
  Result step(Object& tls) { return tls.unwrap(); }
};

// outcome turns a final Result into what the operation completes with.
inline std::error_code outcome(Core& core, const Result& r) {
  switch (r.status) {
    case Status::done: return {};
    case Status::closed: return ::asio::error::eof;
    case Status::early_data_rejected: return errc::early_data_rejected;
    case Status::error:
      core.last_error = r.error;
      return r.error ? make_error_code(*r.error) : make_error_code(errc::other);
    default: return make_error_code(errc::other);
  }
}

// is_final says whether |status| ends the operation (after a flush);
// want_read and the application's waits mean the step runs again later.
inline bool is_final(Status status) noexcept {
  return status == Status::done || status == Status::closed || status == Status::error ||
         status == Status::early_data_rejected;
}

// completed_bytes is the byte count an operation reports with |ec|: none
// after a failure, but what a read got before the peer's close_notify.
inline std::size_t completed_bytes(const std::error_code& ec, std::size_t bytes) noexcept {
  return ec && ec != ::asio::error::eof ? 0 : bytes;
}

// result_stands says whether an operation completes with the engine's
// result |r| although the next layer failed a write: a TLS error says
// more than the transport's, and a read that has its bytes (or the peer's
// close_notify) loses nothing by a failed write, which carried the
// engine's own records (a KeyUpdate answer, a close_notify reply) rather
// than the read's. Every later write reports the transport's error.
template <class Operation>
bool result_stands(const Result& r) noexcept {
  return r.status == Status::error || (!Operation::flushes && is_final(r.status));
}

// IoOp runs one Operation asynchronously: the engine call, then whatever
// the next layer must do for it, until it is done. Only one operation
// reads the next layer at a time and only one writes; the others wait for
// it on the core's timer and then look again.
template <class NextLayer, class Operation, bool WithBytes>
class IoOp {
 public:
  IoOp(Core& core, NextLayer& next, Operation op) : core_(&core), next_(&next), op_(std::move(op)) {}

  template <class Self>
  void operator()(Self& self, std::error_code ec = {}, std::size_t n = 0) {
    Core& c = *core_;
    // Every step but the first runs from a handler, where completing is
    // allowed; the first runs inside the initiating function.
    if (state_ != State::starting) started_ = true;
    switch (state_) {
      case State::starting:
        // A read loses nothing when cancelled, so it accepts every kind.
        if constexpr (std::is_same_v<Operation, ReadOp>) {
          self.reset_cancellation_state(::asio::enable_total_cancellation());
        }
        if (!c.tls) {
          c.last_error = std::make_shared<const Error>(
              plain("sanstls::asio::stream: read, write or shutdown before the handshake"));
          return finish(self, make_error_code(errc::other));
        }
        // As for any asio stream, no bytes asked for is no bytes moved, at
        // once, without waiting for the peer.
        if constexpr (requires { op_.buffer.size(); }) {
          if (op_.buffer.size() == 0) return finish(self, {}, 0);
        }
        break;
      case State::writing:
        c.writing = false;
        c.sent += n;
        c.sending = MemoryBIO::Block();
        if (ec) c.write_failed = ec;
        c.notify();
        if (ec) return finish(self, failure(ec), result_.bytes);
        break;
      case State::reading:
        c.reading = false;
        c.incoming.commit(ec ? 0 : n);
        c.notify();
        if (ec == ::asio::error::eof) {
          // The engine says whether that was a close_notify or a truncation.
          c.incoming.write_eof();
          ec = {};
        }
        if (ec) return finish(self, ec);
        c.adapt_read_size(n);
        have_result_ = false;
        break;
      case State::waiting:
        // The timer never expires, so the wait ended because the core
        // woke it (the generation moved on) or because it was cancelled;
        // a cancellation in the same turn as a wake is still one.
        if (ec && (c.generation == waited_generation_ || cancelled(self))) {
          return finish(self, ::asio::error::operation_aborted);
        }
        if (!is_final(result_.status)) have_result_ = false;
        break;
      case State::completing:
        return finish(self, saved_, saved_bytes_);
      case State::running:
        break;
    }
    state_ = State::running;
    run(self);
  }

 private:
  enum class State { starting, running, writing, reading, waiting, completing };

  template <class Self>
  void run(Self& self) {
    Core& c = *core_;
    if (!have_result_) {
      result_ = op_.step(*c.tls);
      have_result_ = true;
      if constexpr (Operation::flushes) target_ = c.flush_target();
    }
    // Whatever the engine wrote goes out now, unless another operation is
    // already writing: it keeps writing until outgoing is empty. Once a
    // write failed nothing more can go out, and waiting for it would hang.
    if (c.outgoing.pending() != 0 && !c.writing) {
      if (c.write_failed) return finish(self, failure(c.write_failed), result_.bytes);
      return start_write(self);
    }
    if (is_final(result_.status)) {
      if (Operation::flushes && c.sent < target_) {
        if (c.write_failed && !c.writing) return finish(self, failure(c.write_failed), result_.bytes);
        return wait(self);
      }
      return finish(self, outcome(c, result_), result_.bytes);
    }
    if (result_.status == Status::want_read) {
      if (c.reading) return wait(self);
      if (c.incoming.eof_written()) return finish(self, make_error_code(errc::stream_truncated));
      return start_read(self);
    }
    // want_private_key, want_certificate_verify, want_client_hello: the
    // application answers through the stream, which wakes this wait.
    return wait(self);
  }

  template <class Self>
  void start_write(Self& self) {
    Core& c = *core_;
    c.writing = true;
    c.sending = c.outgoing.take_readable();
    c.queued += c.sending.size();
    state_ = State::writing;
    // Never cancelled: half a record on the wire would break the stream.
    ::asio::async_write(*next_, ::asio::buffer(c.sending.bytes().data(), c.sending.size()),
                        ::asio::bind_cancellation_slot(::asio::cancellation_slot(), std::move(self)));
  }

  template <class Self>
  void start_read(Self& self) {
    if (cancelled(self)) return finish(self, ::asio::error::operation_aborted);
    Core& c = *core_;
    c.reading = true;
    std::span<std::byte> space = c.incoming.prepare(c.read_size);
    state_ = State::reading;
    next_->async_read_some(::asio::buffer(space.data(), space.size()), std::move(self));
  }

  template <class Self>
  void wait(Self& self) {
    if (cancelled(self)) return finish(self, ::asio::error::operation_aborted);
    state_ = State::waiting;
    waited_generation_ = core_->generation;
    core_->wake.async_wait(std::move(self));
  }

  // cancelled says whether a cancellation this operation accepts was
  // emitted. One that came while the operation wrote (writes are never
  // cancelled) or in the same turn as a wake has cancelled nothing yet:
  // the operation ends with operation_aborted at its next wait instead of
  // waiting on, which would leave a read raced against a timer hanging.
  template <class Self>
  static bool cancelled(const Self& self) noexcept {
    return self.get_cancellation_state().cancelled() != ::asio::cancellation_type::none;
  }

  // failure is what to complete with when the next layer failed a write:
  // the transport's error, unless the engine's result stands.
  std::error_code failure(std::error_code transport) {
    return result_stands<Operation>(result_) ? outcome(*core_, result_) : transport;
  }

  // finish completes the operation; a completion that would come before
  // the initiating function returned is posted instead, as asio requires.
  template <class Self>
  void finish(Self& self, std::error_code ec, std::size_t bytes = 0) {
    if (!started_) {
      saved_ = ec;
      saved_bytes_ = bytes;
      state_ = State::completing;
      ::asio::post(std::move(self));
      return;
    }
    if constexpr (WithBytes) {
      self.complete(ec, completed_bytes(ec, bytes));
    } else {
      self.complete(ec);
    }
  }

  static Error plain(const char* message) {
    Error e;
    e.message = message;
    return e;
  }

 private:
  Core* core_;
  NextLayer* next_;
  Operation op_;
  State state_ = State::starting;
  Result result_;
  bool have_result_ = false;
  bool started_ = false;
  std::uint64_t target_ = 0;
  std::uint64_t waited_generation_ = 0;
  std::error_code saved_;
  std::size_t saved_bytes_ = 0;
};

}  // namespace detail

// stream is TLS over a NextLayer (an asio AsyncReadStream and
// AsyncWriteStream such as asio::ip::tcp::socket, or a reference to one):
// the same members as asio::ssl::stream, configured by a sanstls Context.
template <class NextLayer>
class stream : public stream_base {
 public:
  // next_layer_type is the stream TLS runs over.
  using next_layer_type = std::remove_reference_t<NextLayer>;
  // executor_type is the next layer's executor, which runs every handler
  // of the stream's operations that has none of its own.
  using executor_type = typename next_layer_type::executor_type;

  // stream makes the next layer from |arg| (an io_context, an executor, a
  // socket to move in) and keeps |ctx|, which the handshake wraps with.
  template <class Arg>
  stream(Arg&& arg, const Context& ctx)
      : next_(std::forward<Arg>(arg)), core_(std::make_unique<detail::Core>(next_.get_executor(), ctx)) {
    core_->owner = this;
  }

  // stream moves a stream that has no operation in progress; the Object's
  // link back (from()) follows it.
  stream(stream&& other) noexcept : next_(std::move(other.next_)), core_(std::move(other.core_)) {
    if (core_) core_->owner = this;
  }
  // operator= moves |other| in, as the move constructor does.
  stream& operator=(stream&& other) noexcept {
    next_ = std::move(other.next_);
    core_ = std::move(other.core_);
    if (core_) core_->owner = this;
    return *this;
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  // ~stream ends the connection without a close_notify (call shutdown()
  // first for a clean end); operations must have completed.
  ~stream() = default;

  // from returns the stream whose Object |tls| is: how a Context's callback
  // (which is given the Object) finds the stream to answer through. Null
  // for an Object that is not a stream's.
  static stream* from(Object& tls) noexcept {
    auto* core = static_cast<detail::Core*>(tls.user_data());
    return core != nullptr ? static_cast<stream*>(core->owner) : nullptr;
  }

  // get_executor returns the next layer's executor.
  executor_type get_executor() noexcept { return next_.get_executor(); }
  // next_layer returns the stream TLS runs over.
  next_layer_type& next_layer() noexcept { return next_; }
  // next_layer returns the stream TLS runs over.
  const next_layer_type& next_layer() const noexcept { return next_; }
  // lowest_layer returns the next layer's lowest layer (the socket).
  auto& lowest_layer() noexcept { return next_.lowest_layer(); }

  // context returns the Context the handshake wraps with.
  const Context& context() const noexcept { return core_->context; }

  // set_server_hostname sets the name a client sends (SNI) and verifies
  // the server's certificate for, as wrap_bio's server_hostname. Before
  // the handshake only; throws std::logic_error after.
  void set_server_hostname(std::string name) {
    before_handshake("set_server_hostname");
    core_->hostname = std::move(name);
  }
  // set_session makes a client offer |session| to resume it
  // (Object::set_session). Before the handshake only.
  void set_session(Session session) {
    before_handshake("set_session");
    core_->session = std::move(session);
  }

  // has_object returns true once a handshake has started: object() exists.
  bool has_object() const noexcept { return core_->tls.has_value(); }
  // object returns the connection: its peer certificate, version, ALPN,
  // session and the rest of Object's queries. Throws std::logic_error
  // before the first handshake call made it.
  Object& object() {
    if (!core_->tls) throw std::logic_error("sanstls::asio::stream: object() before the handshake started");
    return *core_->tls;
  }

  // last_error returns the details of the last TLS failure an operation
  // completed with (the message as Python prints it, the verify code and
  // message, the reason), or null if there was none.
  std::shared_ptr<const Error> last_error() const noexcept { return core_->last_error; }

  // ---- Handshake -----------------------------------------------------------

  // handshake runs the handshake as |type|; throws std::system_error with
  // the error_code (what() holds Python's message).
  void handshake(handshake_type type) {
    std::error_code ec;
    handshake(type, ec);
    throw_on(ec, "handshake");
  }
  // handshake runs the handshake as |type|, reporting a failure in |ec|.
  void handshake(handshake_type type, std::error_code& ec) {
    wrap(type);
    run_sync(detail::HandshakeOp{}, ec);
  }
  // async_handshake runs the handshake as |type|; the completion is
  // void(std::error_code).
  template <class CompletionToken>
  auto async_handshake(handshake_type type, CompletionToken&& token) {
    wrap(type);
    return ::asio::async_compose<CompletionToken, void(std::error_code)>(
        detail::IoOp<next_layer_type, detail::HandshakeOp, false>(*core_, next_, {}), token, next_);
  }

  // ---- Reading and writing ---------------------------------------------

  // read_some reads at least one byte of application data into |buffers|
  // (their first non-empty one), waiting for the peer if none is there;
  // throws std::system_error (asio::error::eof after the peer's
  // close_notify).
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    std::error_code ec;
    std::size_t n = read_some(buffers, ec);
    throw_on(ec, "read_some");
    return n;
  }
  // read_some as above, reporting a failure in |ec|.
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, std::error_code& ec) {
    auto b = detail::first_buffer<::asio::mutable_buffer>(buffers);
    if (b.size() == 0) {
      ec = {};
      return 0;
    }
    return run_sync(detail::ReadOp{b}, ec);
  }
  // async_read_some reads as read_some does; the completion is
  // void(std::error_code, std::size_t). An empty buffer completes at once
  // with 0.
  template <class MutableBufferSequence, class CompletionToken>
  auto async_read_some(const MutableBufferSequence& buffers, CompletionToken&& token) {
    return ::asio::async_compose<CompletionToken, void(std::error_code, std::size_t)>(
        detail::IoOp<next_layer_type, detail::ReadOp, true>(
            *core_, next_, detail::ReadOp{detail::first_buffer<::asio::mutable_buffer>(buffers)}),
        token, next_);
  }

  // write_some encrypts up to 64 KiB of |buffers| (their first non-empty
  // one), writes the records to the next layer and returns how many bytes
  // of plaintext they carried; throws std::system_error.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    std::error_code ec;
    std::size_t n = write_some(buffers, ec);
    throw_on(ec, "write_some");
    return n;
  }
  // write_some as above, reporting a failure in |ec|.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, std::error_code& ec) {
    auto b = detail::first_buffer<::asio::const_buffer>(buffers);
    if (b.size() == 0) {
      ec = {};
      return 0;
    }
    return run_sync(detail::WriteOp{b}, ec);
  }
  // async_write_some writes as write_some does; the completion is
  // void(std::error_code, std::size_t), once the records are written.
  template <class ConstBufferSequence, class CompletionToken>
  auto async_write_some(const ConstBufferSequence& buffers, CompletionToken&& token) {
    return ::asio::async_compose<CompletionToken, void(std::error_code, std::size_t)>(
        detail::IoOp<next_layer_type, detail::WriteOp, true>(
            *core_, next_, detail::WriteOp{detail::first_buffer<::asio::const_buffer>(buffers)}),
        token, next_);
  }

  // ---- Closing ---------------------------------------------------------

  // shutdown sends close_notify and waits for the peer's; throws
  // std::system_error (sanstls::errc::stream_truncated when the peer closed
  // the transport without answering).
  void shutdown() {
    std::error_code ec;
    shutdown(ec);
    throw_on(ec, "shutdown");
  }
  // shutdown as above, reporting a failure in |ec|.
  void shutdown(std::error_code& ec) { run_sync(detail::ShutdownOp{}, ec); }
  // async_shutdown shuts down as shutdown() does; the completion is
  // void(std::error_code). It may start while an async_read_some waits:
  // that read then ends with asio::error::eof when the peer answers.
  template <class CompletionToken>
  auto async_shutdown(CompletionToken&& token) {
    return ::asio::async_compose<CompletionToken, void(std::error_code)>(
        detail::IoOp<next_layer_type, detail::ShutdownOp, false>(*core_, next_, {}), token, next_);
  }

  // ---- Answers to pending callbacks -------------------------------------
  //
  // Each may be called from any thread, once, after the callback answered
  // pending: the answer is handed to the waiting handshake (posted to the
  // stream's executor, or to a synchronous handshake() in progress), which
  // then goes on. An answer when nothing waits is a programming error:
  // Object's std::logic_error comes out of the executor's run().

  // complete_private_key answers a pending signer (Object::complete_private_key).
  void complete_private_key(PrivateKeyReply reply) {
    answer([reply = std::move(reply)](Object& tls) mutable { tls.complete_private_key(std::move(reply)); });
  }
  // complete_certificate_verify answers a pending verify callback.
  void complete_certificate_verify(VerifyReply reply) {
    answer([reply = std::move(reply)](Object& tls) mutable {
      tls.complete_certificate_verify(std::move(reply));
    });
  }
  // complete_client_hello answers a pending ClientHello callback.
  void complete_client_hello(ClientHelloReply reply) {
    answer([reply = std::move(reply)](Object& tls) mutable { tls.complete_client_hello(std::move(reply)); });
  }

 private:
  void before_handshake(const char* what) const {
    if (core_->tls) {
      throw std::logic_error(std::string("sanstls::asio::stream: ") + what + " after the handshake started");
    }
  }

  // wrap makes the Object at the first handshake call.
  void wrap(handshake_type type) {
    detail::Core& c = *core_;
    if (c.tls) return;
    c.tls.emplace(c.context.wrap_bio(c.incoming, c.outgoing, type == server, c.hostname, c.session));
    c.tls->set_user_data(&c);
  }

  static void throw_on(const std::error_code& ec, const char* what) {
    if (ec) throw std::system_error(ec, std::string("sanstls::asio::stream::") + what);
  }

  // answer hands |give| to the operation waiting for it: a synchronous
  // call in progress takes it from the queue; otherwise it is posted to
  // the executor, where it finds the stream through Answers (or nothing,
  // if the stream is gone by then).
  void answer(std::function<void(Object&)> give) {
    std::shared_ptr<detail::Answers> box = core_->answers;
    auto executor = next_.get_executor();
    {
      std::lock_guard lock(box->mutex);
      box->queue.push_back(std::move(give));
      if (box->sync_active) {
        box->answered.notify_all();
        return;
      }
    }
    ::asio::post(executor, [box] {
      std::vector<std::function<void(Object&)>> queue;
      detail::Core* core = nullptr;
      {
        std::lock_guard lock(box->mutex);
        queue.swap(box->queue);
        core = box->core;
      }
      if (core == nullptr || !core->tls) return;
      for (auto& g : queue) g(*core->tls);
      core->notify();
    });
  }

  // run_sync runs |op| with blocking calls on the next layer.
  template <class Operation>
  std::size_t run_sync(Operation op, std::error_code& ec) {
    detail::Core& c = *core_;
    ec = {};
    if (!c.tls) {
      ec = make_error_code(errc::other);
      return 0;
    }
    detail::Answers& box = *c.answers;
    {
      std::lock_guard lock(box.mutex);
      box.sync_active = true;
    }
    struct Inactive {
      detail::Answers& box;
      ~Inactive() {
        std::lock_guard lock(box.mutex);
        box.sync_active = false;
      }
    } inactive{box};
    for (;;) {
      Result r = op.step(*c.tls);
      // As in IoOp: once a write failed nothing more goes out.
      std::error_code wec = c.outgoing.pending() != 0 ? c.write_failed : std::error_code();
      while (!wec && c.outgoing.pending() != 0) {
        MemoryBIO::Block block = c.outgoing.take_readable();
        c.queued += block.size();
        std::size_t n = ::asio::write(next_, ::asio::buffer(block.bytes().data(), block.size()), wec);
        c.sent += n;
        if (wec) c.write_failed = wec;
      }
      if (wec) {
        if (!detail::result_stands<Operation>(r)) {
          ec = wec;
          return 0;
        }
        ec = detail::outcome(c, r);
        return detail::completed_bytes(ec, r.bytes);
      }
      if (detail::is_final(r.status)) {
        ec = detail::outcome(c, r);
        return detail::completed_bytes(ec, r.bytes);
      }
      if (r.status == Status::want_read) {
        if (c.incoming.eof_written()) {
          ec = make_error_code(errc::stream_truncated);
          return 0;
        }
        std::span<std::byte> space = c.incoming.prepare(c.read_size);
        std::error_code rec;
        std::size_t n = next_.read_some(::asio::buffer(space.data(), space.size()), rec);
        c.incoming.commit(rec ? 0 : n);
        if (rec == ::asio::error::eof) {
          c.incoming.write_eof();
        } else if (rec) {
          ec = rec;
          return 0;
        } else {
          c.adapt_read_size(n);
        }
        continue;
      }
      // A callback answered pending: wait for complete_*() from another
      // thread.
      std::vector<std::function<void(Object&)>> queue;
      {
        std::unique_lock lock(box.mutex);
        box.answered.wait(lock, [&] { return !box.queue.empty(); });
        queue.swap(box.queue);
      }
      for (auto& give : queue) give(*c.tls);
    }
  }

  NextLayer next_;
  std::unique_ptr<detail::Core> core_;
};

}  // namespace sanstls::asio

#endif  // SANSTLS_ASIO_STREAM_HPP
