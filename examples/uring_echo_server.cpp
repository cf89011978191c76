// uring_echo_server: a TLS echo server on io_uring (liburing), one thread,
// one sanstls Object per connection over its two MemoryBIOs. The kernel
// receives straight into the incoming buffer's prepare()d space and sends
// straight from a Block that outgoing.take_readable() handed over, while the
// engine goes on writing records into outgoing behind it; see
// docs/embedding.md, "## io_uring". It is libuv_echo_server on another loop:
// what does not depend on the loop (command line, certificates, the engine
// calls, the summary) is in echo_server_common.hpp, which both include.
//
// It makes its own CA and a certificate for localhost on the fly, listens on
// 127.0.0.1 on a port the kernel picks and prints "listening on PORT".
// examples/echo_clients.py runs it as a test. Where the kernel has no
// io_uring (too old, kernel.io_uring_disabled, a seccomp filter) it says so
// and exits 77, which Meson reports as a skipped test.
//
//   uring_echo_server [--ca-out FILE] [--serve N] [--max-clients M]
//
//   --ca-out FILE      write the CA certificate (PEM) that clients must trust
//   --serve N          exit 0 once N connections have ended, printing
//                      "served N connections: C clean, E errors"
//   --max-clients M    stop accepting while M connections are open (a
//                      multishot accept already under way may deliver a
//                      few more, which are served)
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include <sanstls/sanstls.hpp>

#include "echo_server_common.hpp"

namespace {

using echo_example::Options;
using echo_example::reads_in;
using echo_example::receive_size;
using echo_example::resume_reading_at;
using echo_example::State;
using echo_example::stop_reading_above;
using sanstls::MemoryBIO;

constexpr const char* program = "uring_echo_server";

// The exit status Meson counts as a skipped test.
constexpr int exit_skip = 77;

// Op says which operation a completion belongs to. It is kept in the low
// bits of user_data, next to the Connection's address (null for the
// listener's operations), which is why a Connection is 8-aligned.
enum class Op : std::uint64_t { accept = 1, recv = 2, send = 3, cancel = 4 };
constexpr std::uint64_t op_bits = 7;

// Connection is one client: its socket, its TLS Object and the operations
// the kernel holds for it. The kernel may write into incoming's prepared
// space and read sending's bytes until their completions arrive, so a
// Connection is freed only when none is left (idle()).
struct Connection {
  Connection(std::uint64_t connection_id, int socket, const sanstls::Context& ctx)
      : id(connection_id), fd(socket), tls(ctx.wrap_bio(incoming, outgoing, true)) {}

  // queued is the ciphertext not yet sent: the SEND in flight and what the
  // engine wrote behind it.
  std::size_t queued() const noexcept { return sending.size() + outgoing.pending(); }
  // idle returns true when no completion is due any more.
  bool idle() const noexcept { return !receiving && !send_in_flight && cancels == 0; }

  std::uint64_t id;
  int fd;
  MemoryBIO incoming, outgoing;
  sanstls::Object tls;
  State state = State::handshaking;
  bool receiving = false;       // a RECV into incoming.prepare()d space is in flight
  bool receive_cancelled = false;
  bool send_in_flight = false;  // a SEND from |sending| is in flight
  MemoryBIO::Block sending;     // one SEND at a time keeps the byte order
  int cancels = 0;              // ASYNC_CANCELs in flight
  bool failed = false;          // ended by an error, which was logged
};

static_assert(alignof(Connection) > op_bits, "user_data keeps Op in a Connection address's zero bits");

// tag packs |op| and |c| into a user_data value.
std::uint64_t tag(const Connection* c, Op op) {
  return reinterpret_cast<std::uintptr_t>(c) | static_cast<std::uint64_t>(op);
}

// errno_text is strerror for an io_uring result (a negated errno).
std::string errno_text(int negative_errno) { return std::strerror(-negative_errno); }

// Ring owns the io_uring instance.
class Ring {
 public:
  // Ring sets up a ring, or returns the negated errno in error().
  Ring() {
    io_uring_params params{};
    // Every connection can have a RECV, a SEND and a cancel in flight:
    // a large completion queue keeps bursts out of the overflow list.
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 4096;
    error_ = io_uring_queue_init_params(256, &ring_, &params);
  }
  ~Ring() {
    if (error_ == 0) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // error is io_uring_queue_init's result: 0, or a negated errno.
  int error() const noexcept { return error_; }
  // get returns the ring for liburing's calls.
  io_uring* get() noexcept { return &ring_; }

 private:
  io_uring ring_{};
  int error_ = 0;
};

// unavailable_reason returns why this kernel cannot run the server, or an
// empty string when it can: every opcode used here must be there.
std::string unavailable_reason(Ring& ring) {
  if (ring.error() < 0) {
    std::string why = errno_text(ring.error()) + " (io_uring_queue_init";
    if (ring.error() == -EPERM || ring.error() == -EACCES) {
      why += "; kernel.io_uring_disabled, a seccomp filter or a container may forbid it";
    } else if (ring.error() == -ENOSYS) {
      why += "; the kernel was built without io_uring or a seccomp filter hides it";
    } else if (ring.error() == -ENOMEM) {
      why += "; RLIMIT_MEMLOCK may be too low for the ring on kernels before 5.12";
    }
    return why + ")";
  }
  io_uring_probe* probe = io_uring_get_probe_ring(ring.get());
  if (probe == nullptr) return "the kernel cannot be probed for opcodes (before 5.6)";
  std::string missing;
  const std::array<std::pair<int, const char*>, 4> needed{{{IORING_OP_ACCEPT, "ACCEPT"},
                                                          {IORING_OP_RECV, "RECV"},
                                                          {IORING_OP_SEND, "SEND"},
                                                          {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}}};
  for (const auto& [op, name] : needed) {
    if (!io_uring_opcode_supported(probe, op)) missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  io_uring_free_probe(probe);
  return missing.empty() ? std::string() : "the kernel lacks IORING_OP_" + missing;
}

// Server owns the listener and the connections, turns completions into
// engine calls and makes the connections' State transitions that are not
// the engine's (those are in echo_example::drive_engine). Everything runs
// on one thread.
class Server {
 public:
  Server(io_uring* ring, sanstls::Context ctx, const Options& options)
      : ring_(ring), ctx_(std::move(ctx)), options_(options) {}
  ~Server() {
    if (listener_ >= 0) ::close(listener_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // listen binds 127.0.0.1 on an ephemeral port and returns the port.
  int listen() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 511) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
    }
    return ntohs(addr.sin_port);
  }

  // run serves until --serve connections have ended and every operation
  // has completed (forever without --serve).
  void run() {
    update_accept();
    while (!finished()) {
      int rc = io_uring_submit_and_wait(ring_, 1);
      if (rc < 0 && rc != -EINTR) throw std::runtime_error("io_uring_submit_and_wait: " + errno_text(rc));
      io_uring_cqe* cqe = nullptr;
      while (io_uring_peek_cqe(ring_, &cqe) == 0) {
        const std::uint64_t user_data = cqe->user_data;
        const int res = cqe->res;
        const unsigned flags = cqe->flags;
        io_uring_cqe_seen(ring_, cqe);
        complete(user_data, res, flags);
      }
    }
  }

  // The summary's counts: connections that ended, with a close_notify
  // both ways, and with an error.
  std::uint64_t ended() const noexcept { return clean_ + errors_; }
  std::uint64_t clean() const noexcept { return clean_; }
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  // finished: --serve connections were served and the kernel holds
  // nothing of ours any more (every connection and the listener freed).
  bool finished() const noexcept {
    return options_.serve != 0 && accepted_ >= options_.serve && connections_.empty() && listener_ < 0;
  }

  // sqe returns a free submission entry, submitting the queued ones first
  // when the queue is full.
  io_uring_sqe* sqe() {
    io_uring_sqe* entry = io_uring_get_sqe(ring_);
    if (entry == nullptr) {
      (void)io_uring_submit(ring_);
      entry = io_uring_get_sqe(ring_);
    }
    if (entry == nullptr) throw std::runtime_error("io_uring: the submission queue stays full");
    return entry;
  }

  // complete dispatches one completion. Whatever its handler does, the
  // connection is freed at the end if that was its last completion, and
  // only here: handlers call each other and must never see it go.
  void complete(std::uint64_t user_data, int res, unsigned flags) {
    const Op op = static_cast<Op>(user_data & op_bits);
    auto* c = reinterpret_cast<Connection*>(static_cast<std::uintptr_t>(user_data & ~op_bits));
    if (c == nullptr) {
      try {
        if (op == Op::accept) accepted(res, flags);
      } catch (const std::exception& e) {  // out of memory, a full queue
        std::fprintf(stderr, "%s: accept: %s\n", program, e.what());
      }
      if (op == Op::cancel) --listener_cancels_;
      return update_accept();
    }
    try {
      switch (op) {
        case Op::recv: received(*c, res); break;
        case Op::send: sent(*c, res); break;
        case Op::cancel: --c->cancels; break;
        case Op::accept: break;
      }
    } catch (const std::exception& e) {  // out of memory, a full queue
      fail(*c, e.what());
    }
    reap(*c);
  }

  // ---- Accepting ---------------------------------------------------------

  // update_accept keeps one accept armed while connections are wanted,
  // cancels it when they are not (--serve reached, --max-clients open),
  // and closes the listener once --serve have been accepted and its
  // operations are over.
  void update_accept() {
    if (listener_ < 0) return;
    const bool done = options_.serve != 0 && accepted_ >= options_.serve;
    const bool wanted = !done && (options_.max_clients == 0 || connections_.size() < options_.max_clients);
    if (wanted && !accept_armed_) {
      io_uring_sqe* entry = sqe();
      if (multishot_) {
        io_uring_prep_multishot_accept(entry, listener_, nullptr, nullptr, SOCK_CLOEXEC);
      } else {
        io_uring_prep_accept(entry, listener_, nullptr, nullptr, SOCK_CLOEXEC);
      }
      io_uring_sqe_set_data64(entry, tag(nullptr, Op::accept));
      accept_armed_ = true;
      accept_cancelled_ = false;
    } else if (!wanted && accept_armed_ && !accept_cancelled_) {
      io_uring_sqe* entry = sqe();
      io_uring_prep_cancel64(entry, tag(nullptr, Op::accept), 0);
      io_uring_sqe_set_data64(entry, tag(nullptr, Op::cancel));
      accept_cancelled_ = true;
      ++listener_cancels_;
    }
    if (done && !accept_armed_ && listener_cancels_ == 0) {
      ::close(listener_);
      listener_ = -1;
    }
  }

  // accepted takes one accept completion: a new connection (res is its
  // socket), the end of a cancelled multishot accept, or an error.
  void accepted(int res, unsigned flags) {
    // A multishot accept goes on while the kernel sets F_MORE; without it
    // this was its last completion (or a one-shot accept's only one).
    if ((flags & IORING_CQE_F_MORE) == 0) accept_armed_ = false;
    if (res == -EINVAL && multishot_ && !multishot_worked_) {
      std::fprintf(stderr, "%s: multishot accept unsupported (%s): accepting one at a time\n", program,
                   errno_text(res).c_str());
      multishot_ = false;
      return;
    }
    if (res < 0) {
      if (res != -ECANCELED) std::fprintf(stderr, "%s: accept: %s\n", program, errno_text(res).c_str());
      return;
    }
    multishot_worked_ = multishot_;
    if (options_.serve != 0 && accepted_ >= options_.serve) {
      ::close(res);  // came in before the cancel did: not ours to serve
      return;
    }
    ++accepted_;
    const int one = 1;
    (void)::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // echoes are latency-bound
    std::unique_ptr<Connection> owned;
    try {
      owned = std::make_unique<Connection>(++next_id_, res, ctx_);
    } catch (...) {
      ::close(res);
      throw;
    }
    Connection& c = *owned;
    connections_.emplace(c.id, std::move(owned));
    try {
      start_receiving(c);
    } catch (const std::exception& e) {
      fail(c, e.what());
    }
    reap(c);
  }

  // ---- Receiving -------------------------------------------------------------

  // start_receiving lets the kernel receive straight into incoming's free
  // space. The span stays valid until commit() in received().
  void start_receiving(Connection& c) {
    std::span<std::byte> space = c.incoming.prepare(receive_size);
    io_uring_sqe* entry = sqe();
    io_uring_prep_recv(entry, c.fd, space.data(), space.size(), 0);
    io_uring_sqe_set_data64(entry, tag(&c, Op::recv));
    c.receiving = true;
  }

  // stop_receiving cancels the RECV in flight; its completion still comes
  // (ECANCELED, or data that is ignored) before the Connection is freed.
  void stop_receiving(Connection& c) {
    if (!c.receiving || c.receive_cancelled) return;
    io_uring_sqe* entry = sqe();
    io_uring_prep_cancel64(entry, tag(&c, Op::recv), 0);
    io_uring_sqe_set_data64(entry, tag(&c, Op::cancel));
    c.receive_cancelled = true;
    ++c.cancels;
  }

  // received takes a RECV completion into the engine, answers it and
  // submits the next RECV unless back-pressure holds it.
  void received(Connection& c, int res) {
    c.receiving = false;
    c.receive_cancelled = false;
    if (!reads_in(c.state)) return;  // cancelled: the outcome is known
    if (res < 0) return fail(c, "recv: " + errno_text(res));
    if (res == 0) {
      // The engine tells a close_notify (closed) from a peer that just
      // went away (an eof error).
      c.incoming.write_eof();
    } else {
      c.incoming.commit(static_cast<std::size_t>(res));
    }
    drive(c);
    if (c.incoming.eof_written() && reads_in(c.state)) {
      return fail(c, "the peer closed the connection without a close_notify");
    }
    // Back-pressure: above the mark, sent() submits the next RECV.
    if (reads_in(c.state) && c.queued() <= stop_reading_above) start_receiving(c);
  }

  // ---- The engine ---------------------------------------------------------

  // drive runs the engine on what incoming holds (echo_example::
  // drive_engine), cancels the RECV once the peer's close_notify came, and
  // sends what the engine wrote.
  void drive(Connection& c) {
    if (std::optional<std::string> why = echo_example::drive_engine(c.tls, c.state, scratch_)) {
      return fail(c, *why);
    }
    if (c.state == State::closing) stop_receiving(c);
    flush(c);
    finish_if_sent(c);
  }

  // ---- Sending ---------------------------------------------------------------

  // flush starts a SEND of everything the engine has written, unless one
  // is in flight: then the engine's records wait in outgoing, and sent()
  // takes them all at once. Two SENDs on one socket could interleave.
  void flush(Connection& c) {
    if (c.send_in_flight || c.state == State::closed) return;
    c.sending = c.outgoing.take_readable();
    if (!c.sending.empty()) submit_send(c);
  }

  // submit_send sends what is left of |sending|. The Block owns those
  // bytes and does not move them, whatever the engine writes meanwhile.
  void submit_send(Connection& c) {
    std::span<const std::byte> bytes = c.sending.bytes();
    io_uring_sqe* entry = sqe();
    // MSG_NOSIGNAL: a peer that reset the connection costs it an EPIPE,
    // not the process a SIGPIPE.
    io_uring_prep_send(entry, c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(entry, tag(&c, Op::send));
    c.send_in_flight = true;
  }

  // sent takes a SEND completion: the rest of a short send, or the next
  // Block; resumes receiving once the queue has drained; ends a closing or
  // failing connection once everything is out.
  void sent(Connection& c, int res) {
    c.send_in_flight = false;
    if (res < 0) {
      c.sending = MemoryBIO::Block();
      fail(c, "send: " + errno_text(res));
      // Also when it was failing already (a reset seen by the receive side
      // first): what is left goes out (or fails) at once, and it ends.
      flush(c);
      return finish_if_sent(c);
    }
    c.sending.consume(static_cast<std::size_t>(res));
    if (!c.sending.empty()) return submit_send(c);  // a short send: the rest of the same Block
    c.sending = MemoryBIO::Block();  // sent: its memory can go
    flush(c);
    if (reads_in(c.state) && !c.receiving && !c.incoming.eof_written() &&
        c.queued() <= resume_reading_at) {
      start_receiving(c);
    }
    finish_if_sent(c);
  }

  // ---- Ending ---------------------------------------------------------------

  // fail ends |c| after an error, logging it once. The alert the engine
  // may have queued is still sent: the peer learns why.
  void fail(Connection& c, const std::string& why) {
    if (c.state == State::failing || c.state == State::closed) return;
    echo_example::log_failure(program, c.id, c.state, why);
    c.failed = true;
    c.state = State::failing;
    stop_receiving(c);
    flush(c);
    finish_if_sent(c);
  }

  // finish_if_sent ends a closing or failing connection once everything
  // was sent; the close_notify counts only once it has been.
  void finish_if_sent(Connection& c) {
    if (c.state != State::closing && c.state != State::failing) return;
    if (c.send_in_flight || c.outgoing.pending() != 0) return;
    if (c.failed) {
      ++errors_;
    } else {
      ++clean_;
    }
    c.state = State::closed;
    stop_receiving(c);
  }

  // reap frees a closed connection whose last completion has arrived.
  void reap(Connection& c) {
    if (c.state != State::closed || !c.idle()) return;
    ::close(c.fd);
    connections_.erase(c.id);  // frees c
    update_accept();           // a --max-clients slot is free
  }

  io_uring* ring_;
  sanstls::Context ctx_;
  Options options_;
  int listener_ = -1;
  bool multishot_ = true;          // until the kernel refuses it
  bool multishot_worked_ = false;  // a refusal after a success is no refusal
  bool accept_armed_ = false;      // an accept's last completion is due
  bool accept_cancelled_ = false;  // ... and a cancel was sent for it
  int listener_cancels_ = 0;
  std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t clean_ = 0;
  std::uint64_t errors_ = 0;
  echo_example::Scratch scratch_{};
};

// run checks for io_uring, makes the certificates, serves, prints the
// summary and returns the exit status; setup failures throw.
int run(const Options& options) {
  Ring ring;
  if (std::string why = unavailable_reason(ring); !why.empty()) {
    std::fprintf(stderr, "%s: io_uring unavailable: %s\n", program, why.c_str());
    return exit_skip;
  }

  sanstls::Context ctx = echo_example::server_context("io_uring echo CA", options);

  Server server(ring.get(), ctx, options);
  const int port = server.listen();
  echo_example::print_listening(port);
  server.run();
  echo_example::print_summary(server.ended(), server.clean(), server.errors());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return echo_example::main_with(program, argc, argv, run); }
