// libuv_echo_server: a TLS echo server on libuv, one thread, one sanstls
// Object per connection over its two MemoryBIOs. It shows the zero-copy
// path of docs/embedding.md ("## libuv"): libuv reads straight into the
// incoming buffer's prepare()d space, and every uv_write sends straight from
// a Block that outgoing.take_readable() handed over, so the engine goes on
// writing records while earlier ones are still in flight. What does not
// depend on the loop (command line, certificates, the engine calls, the
// summary) is in echo_server_common.hpp, shared with uring_echo_server.
//
// It makes its own CA and a certificate for localhost on the fly, listens on
// 127.0.0.1 on a port the kernel picks and prints "listening on PORT".
// examples/echo_clients.py runs it as a test.
//
//   libuv_echo_server [--ca-out FILE] [--serve N] [--max-clients M]
//
//   --ca-out FILE      write the CA certificate (PEM) that clients must trust
//   --serve N          exit 0 once N connections have ended, printing
//                      "served N connections: C clean, E errors"
//   --max-clients M    leave further connections in the listen backlog
//                      while M are open
#include <netinet/in.h>
#include <uv.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
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

constexpr const char* program = "libuv_echo_server";

// Connection is one client: its libuv handle, its TLS Object and what is in
// flight. It is freed in the handle's close callback, after libuv has
// finished (or cancelled) every write that points into its Blocks.
struct Connection {
  Connection(std::uint64_t connection_id, const sanstls::Context& ctx)
      : id(connection_id), tls(ctx.wrap_bio(incoming, outgoing, true)) {}

  uv_tcp_t tcp{};  // tcp.data points back here
  std::uint64_t id;
  MemoryBIO incoming, outgoing;
  sanstls::Object tls;
  State state = State::handshaking;
  bool reading = false;     // between uv_read_start and uv_read_stop
  std::size_t queued = 0;   // ciphertext bytes in uv_writes not yet completed
  std::size_t writes = 0;   // uv_writes not yet completed
  bool failed = false;      // ended by an error, which was logged
};

// WriteRequest is one uv_write and the Block its buffer points into; the
// Block must not go before libuv's callback says the bytes were written.
struct WriteRequest {
  explicit WriteRequest(MemoryBIO::Block taken) : block(std::move(taken)) { req.data = this; }
  uv_write_t req{};
  MemoryBIO::Block block;
};

// The casts below are libuv's C inheritance: a uv_tcp_t starts with the
// fields of uv_stream_t, which starts with those of uv_handle_t.
uv_stream_t* as_stream(uv_tcp_t& tcp) { return reinterpret_cast<uv_stream_t*>(&tcp); }
uv_handle_t* as_handle(uv_tcp_t& tcp) { return reinterpret_cast<uv_handle_t*>(&tcp); }

// Server owns the loop's listener and the connections, and makes the
// connections' State transitions that are not the engine's (those are in
// echo_example::drive_engine). Everything runs on the loop's thread, so
// nothing here needs a lock.
class Server {
 public:
  Server(uv_loop_t* loop, sanstls::Context ctx, const Options& options)
      : loop_(loop), ctx_(std::move(ctx)), options_(options) {}

  // listen binds 127.0.0.1 on an ephemeral port and returns the port.
  int listen() {
    check(uv_tcp_init(loop_, &listener_), "uv_tcp_init");
    listener_.data = this;
    listener_open_ = true;
    sockaddr_in addr{};
    check(uv_ip4_addr("127.0.0.1", 0, &addr), "uv_ip4_addr");
    check(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0), "bind");
    check(uv_listen(as_stream(listener_), 511, on_connection), "listen");
    int len = static_cast<int>(sizeof addr);
    check(uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
    return ntohs(addr.sin_port);
  }

  // The summary's counts: connections that ended, with a close_notify
  // both ways, and with an error.
  std::uint64_t ended() const noexcept { return clean_ + errors_; }
  std::uint64_t clean() const noexcept { return clean_; }
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  // check turns a failed setup call into an exception for main(). Not for
  // callbacks: an exception must not unwind through libuv's C frames.
  static void check(int rc, const char* what) {
    if (rc < 0) throw std::runtime_error(std::string(what) + ": " + uv_strerror(rc));
  }

  // ---- Accepting -------------------------------------------------------

  // on_connection: libuv has accepted a connection and holds it for us.
  static void on_connection(uv_stream_t* listener, int status) {
    Server& server = *static_cast<Server*>(listener->data);
    if (status < 0) {
      std::fprintf(stderr, "%s: accept: %s\n", program, uv_strerror(status));
      return;
    }
    server.accept_waiting_ = true;
    server.try_accept();
  }

  // try_accept is accept() for callbacks: an exception (out of memory) must
  // not unwind through libuv's C frames.
  void try_accept() {
    try {
      accept();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: accept: %s\n", program, e.what());
    }
  }

  // accept takes the connection libuv holds for us, unless --max-clients
  // are open: then libuv keeps it and stops watching the listener until
  // uv_accept is called, so the rest wait in the kernel's backlog.
  void accept() {
    if (!accept_waiting_ || !listener_open_) return;
    if (options_.max_clients != 0 && connections_.size() >= options_.max_clients) return;
    auto owned = std::make_unique<Connection>(++next_id_, ctx_);
    Connection& c = *owned;
    check(uv_tcp_init(loop_, &c.tcp), "uv_tcp_init");  // only fails for a bad loop
    accept_waiting_ = false;
    c.tcp.data = &c;
    connections_.emplace(c.id, std::move(owned));
    if (int rc = uv_accept(as_stream(listener_), as_stream(c.tcp)); rc < 0) {
      std::fprintf(stderr, "%s: accept: %s\n", program, uv_strerror(rc));
      c.state = State::closed;  // never served: not counted
      uv_close(as_handle(c.tcp), on_closed);
      return;
    }
    (void)uv_tcp_nodelay(&c.tcp, 1);  // echoes are small and latency-bound
    ++accepted_;
    if (options_.serve != 0 && accepted_ == options_.serve) {
      // Every connection to serve is in: the loop ends when they are done.
      listener_open_ = false;
      uv_close(as_handle(listener_), nullptr);
    }
    start_reading(c);
  }

  // ---- Reading -----------------------------------------------------------

  // start_reading and stop_reading switch the connection's reads on and
  // off: off for back-pressure and once its input no longer matters.
  void start_reading(Connection& c) {
    if (int rc = uv_read_start(as_stream(c.tcp), on_alloc, on_read); rc < 0) {
      return fail(c, std::string("uv_read_start: ") + uv_strerror(rc));
    }
    c.reading = true;
  }

  void stop_reading(Connection& c) {
    if (c.reading) (void)uv_read_stop(as_stream(c.tcp));
    c.reading = false;
  }

  // on_alloc hands libuv the incoming buffer's own free space, so the
  // kernel copies the bytes straight into the place the engine reads them
  // from. The span stays valid until commit() in on_read.
  // Should prepare() fail (no memory), libuv gets no space and reports
  // UV_ENOBUFS to on_read, which ends the connection.
  static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    Connection& c = *static_cast<Connection*>(handle->data);
    *buf = uv_buf_init(nullptr, 0);
    try {
      std::span<std::byte> space = c.incoming.prepare(receive_size);
      *buf = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
    } catch (const std::exception&) {
    }
  }

  // on_read: libuv filled the space on_alloc gave (nread > 0), found
  // nothing after all (0), or reports the end of the stream or an error.
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    Connection& c = *static_cast<Connection*>(stream->data);
    Server& server = *static_cast<Server*>(stream->loop->data);
    server.guarded(c, [&] { server.received(c, nread); });
  }

  // received takes what a read brought into the engine and answers it.
  void received(Connection& c, ssize_t nread) {
    if (nread == 0 || !reads_in(c.state)) return;  // 0: EAGAIN, nothing to commit
    if (nread == UV_EOF) {
      // libuv has stopped reading. The engine tells a close_notify (closed)
      // from a peer that just went away (an eof error).
      c.reading = false;
      c.incoming.write_eof();
    } else if (nread < 0) {
      return fail(c, std::string("recv: ") + uv_strerror(static_cast<int>(nread)));
    } else {
      c.incoming.commit(static_cast<std::size_t>(nread));
    }
    drive(c);
    if (c.incoming.eof_written() && reads_in(c.state)) {
      fail(c, "the peer closed the connection without a close_notify");
    }
    if (c.reading && c.queued > stop_reading_above) stop_reading(c);  // back-pressure
  }

  // ---- The engine ---------------------------------------------------------

  // drive runs the engine on what incoming holds (echo_example::
  // drive_engine), stops reading once the peer's close_notify came, and
  // writes what the engine wrote.
  void drive(Connection& c) {
    if (std::optional<std::string> why = echo_example::drive_engine(c.tls, c.state, scratch_)) {
      return fail(c, *why);
    }
    if (c.state == State::closing) stop_reading(c);
    flush(c);
    finish_if_written(c);
  }

  // ---- Writing ------------------------------------------------------------

  // flush sends everything the engine has written so far. The Block owns
  // those bytes and lives in the request until the write callback, so the
  // engine may write more at once: those go to other memory.
  void flush(Connection& c) {
    MemoryBIO::Block block = c.outgoing.take_readable();
    if (block.empty() || c.state == State::closed) return;
    auto request = std::make_unique<WriteRequest>(std::move(block));
    std::span<const std::byte> bytes = request->block.bytes();
    // uv_buf_t is shared with reads, hence not const; libuv only reads it.
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                               static_cast<unsigned>(bytes.size()));
    if (int rc = uv_write(&request->req, as_stream(c.tcp), &buf, 1, on_written); rc < 0) {
      return fail(c, std::string("send: ") + uv_strerror(rc));
    }
    c.queued += bytes.size();
    ++c.writes;
    (void)request.release();  // on_written deletes it
  }

  // on_written: the kernel has every byte of one request (or the write
  // failed, or uv_close cancelled it).
  static void on_written(uv_write_t* req, int status) {
    std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
    Connection& c = *static_cast<Connection*>(req->handle->data);
    Server& server = *static_cast<Server*>(req->handle->loop->data);
    c.queued -= request->block.size();
    --c.writes;
    request.reset();  // the bytes are in the kernel: the Block can go
    server.guarded(c, [&] { server.written(c, status); });
  }

  // written resumes reading once the queue has drained (back-pressure)
  // and ends a closing or failing connection with its last write.
  void written(Connection& c, int status) {
    if (status < 0) {
      // UV_ECANCELED only comes from uv_close(), when the outcome is known.
      if (status != UV_ECANCELED) fail(c, std::string("send: ") + uv_strerror(status));
    } else if (reads_in(c.state) && !c.reading && !c.incoming.eof_written() &&
               c.queued <= resume_reading_at) {
      start_reading(c);
    }
    // Also after an error: a connection already failing (a reset seen by
    // the read side first) ends with its last write, failed or not.
    finish_if_written(c);
  }

  // ---- Ending ---------------------------------------------------------------

  // guarded runs a callback's work on |c|. An exception (out of memory)
  // must not unwind through libuv's C frames: it ends that connection.
  template <typename Work>
  void guarded(Connection& c, Work&& work) {
    try {
      work();
    } catch (const std::exception& e) {
      fail(c, e.what());
    }
  }

  // fail ends |c| after an error, logging it once. The alert the engine
  // may have queued is still sent: the peer learns why.
  void fail(Connection& c, const std::string& why) {
    if (c.state == State::failing || c.state == State::closed) return;
    echo_example::log_failure(program, c.id, c.state, why);
    c.failed = true;
    c.state = State::failing;
    stop_reading(c);
    flush(c);
    finish_if_written(c);
  }

  // finish_if_written closes a closing or failing connection once its last
  // write has completed; the close_notify counts only once it was sent.
  void finish_if_written(Connection& c) {
    if ((c.state != State::closing && c.state != State::failing) || c.writes != 0) return;
    if (c.failed) {
      ++errors_;
    } else {
      ++clean_;
    }
    c.state = State::closed;
    stop_reading(c);
    uv_close(as_handle(c.tcp), on_closed);
  }

  // on_closed: libuv is done with the handle, and has called back every
  // write request first, so nothing points into the connection any more.
  static void on_closed(uv_handle_t* handle) {
    Connection& c = *static_cast<Connection*>(handle->data);
    Server& server = *static_cast<Server*>(handle->loop->data);
    server.connections_.erase(c.id);  // frees c
    server.try_accept();  // a --max-clients slot is free
  }

  uv_loop_t* loop_;
  sanstls::Context ctx_;
  Options options_;
  uv_tcp_t listener_{};
  bool listener_open_ = false;
  bool accept_waiting_ = false;  // libuv holds a connection we have not taken
  std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t clean_ = 0;
  std::uint64_t errors_ = 0;
  echo_example::Scratch scratch_{};
};

// run makes the certificates, serves, prints the summary and returns the
// exit status; setup failures throw.
int run(const Options& options) {
  sanstls::Context ctx = echo_example::server_context("libuv echo CA", options);

  // A peer that resets the connection must cost it an EPIPE, not the
  // process: libuv writes with write(2), which raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop{};
  if (int rc = uv_loop_init(&loop); rc < 0) throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  auto server = std::make_unique<Server>(&loop, ctx, options);
  loop.data = server.get();
  const int port = server->listen();
  echo_example::print_listening(port);

  // Returns once no handle is left: the listener closes after --serve
  // connections were accepted, each connection after it ended.
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  echo_example::print_summary(server->ended(), server->clean(), server->errors());
  server.reset();
  if (int rc = uv_loop_close(&loop); rc != 0) {
    std::fprintf(stderr, "%s: uv_loop_close: %s (a handle was left open)\n", program, uv_strerror(rc));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return echo_example::main_with(program, argc, argv, run); }
