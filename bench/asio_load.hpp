// bench/asio_load.hpp: the loopback scenarios of sanstls-bench
// (asio_echo_1k, asio_echo_16k, asio_handshakes), written once as templates
// over a TLS stream implementation, so that sanstls::asio::stream and
// asio::ssl::stream run exactly the same loops: the same coroutines, the
// same io_context, the same sockets and the same checks.
//
// It includes asio and the standard library only, no TLS header: it is
// compiled into sanstls-bench (BoringSSL) and into the asio::ssl peer
// (bench/peers/asio_ssl, OpenSSL 3), which can never be one program.
//
// What one operation is:
//   * echo: a client writes one message (1 KiB or 16 KiB of a fixed
//     pseudo-random pattern) and reads the server's echo of it, which it
//     compares with what it sent; kConnections connections take turns.
//   * handshake: a new TCP connection, a full TLS 1.3 handshake in which
//     the client verifies the server's certificate and the name
//     "localhost", one 32-byte echo (compared), close_notify both ways
//     (the client's async_shutdown, which the server answers), close.
// Clients and servers all run on one io_context in the calling thread, so
// the thread's CPU time is the whole cost of both ends, kernel included.
//
// An implementation (Impl) provides:
//   using Stream = ...;               // constructible as Stream(io_context, context)
//                                     // and Stream(tcp::socket, context)
//   static constexpr auto client_role, server_role;   // handshake types
//   Context& client_context(ClientKind);   // verifying; other_ca trusts
//                                          // the other key type's CA
//   Context& server_context();
//   void prepare_client(Stream&, ClientKind);  // SNI and the name to verify:
//                                          // "localhost", wrong_name: "wrong.example"
//   std::string describe(Stream& client);  // after a handshake: "TLSv1.3
//                                          // TLS_AES_128_GCM_SHA256 X25519 ..."
//   std::string explain(Stream& client, std::error_code);  // why a handshake failed
#ifndef SANSTLS_BENCH_ASIO_LOAD_HPP
#define SANSTLS_BENCH_ASIO_LOAD_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

namespace bench::asio_load {

using asio::ip::tcp;

// Spec describes one loopback scenario.
struct Spec {
  const char* name;
  std::size_t message;  // bytes per echo
  bool handshakes;      // false: echoes on established connections
  const char* unit;
};

inline constexpr Spec kSpecs[] = {
    {"asio_echo_1k", 1024, false, "echoes/s"},
    {"asio_echo_16k", 16384, false, "echoes/s"},
    {"asio_handshakes", 32, true, "handshakes/s"},
};

// find_spec returns the scenario called |name|, or null.
inline const Spec* find_spec(std::string_view name) {
  for (const Spec& s : kSpecs) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

// kConnections is how many connections run at once: established ones for
// the echoes, lanes of connect-handshake-echo-close for the handshakes.
// Enough that the loop always has another connection's work to do while
// one waits for the kernel, few enough for one thread.
inline constexpr int kConnections = 16;

// kHang bounds one run of the loop: only there to turn a hang into a
// failure, never a measurement.
inline constexpr auto kHang = std::chrono::seconds(120);

// warm_count is how many operations the untimed warm-up runs.
inline int warm_count(const Spec& spec, bool quick) {
  if (quick) return kConnections;
  return spec.handshakes ? 4 * kConnections : 32 * kConnections;
}

// count_for is how many operations make one timed repetition, from the
// rate the warm-up measured: about |target_seconds|, at least a minimum,
// a multiple of kConnections so that every connection does the same.
inline int count_for(const Spec& spec, double rate, double target_seconds, bool quick) {
  int n = quick ? (spec.handshakes ? 1 : 4) * kConnections
                : std::clamp(static_cast<int>(rate * target_seconds),
                             spec.handshakes ? 2 * kConnections : 16 * kConnections, 1000000);
  return (n + kConnections - 1) / kConnections * kConnections;
}

// kNegotiated is what every implementation must describe() after a run:
// the same protocol, cipher suite and group, and no session ticket (every
// handshake is a full one, and no server spends time issuing tickets).
inline constexpr std::string_view kNegotiated = "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, no ticket";

// ClientKind is which client a connection uses: the verifying one of the
// scenarios, or one of the two that must fail (verification is on).
enum class ClientKind { verifying, other_ca, wrong_name };

// pattern returns |n| bytes of a fixed pseudo-random pattern (xorshift, not
// compressible) from |offset| (taken modulo its period); n <= 16 KiB.
inline std::string_view pattern(std::size_t offset, std::size_t n) {
  constexpr std::size_t kPeriod = 65536;
  static const std::string bytes = [] {
    std::string b(kPeriod + 16384, '\0');
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b[i] = static_cast<char>(x >> 56);
    }
    for (std::size_t i = kPeriod; i < b.size(); ++i) b[i] = b[i - kPeriod];
    return b;
  }();
  if (n > 16384) throw std::logic_error("asio_load::pattern: at most 16 KiB");
  return std::string_view(bytes).substr(offset % kPeriod, n);
}

inline constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Loop is the io_context every connection of a workload runs on, in the
// thread that calls run(), with the failures of its coroutines.
class Loop {
 public:
  // 1: one thread runs it (asio's concurrency hint).
  Loop() : io(1), watchdog_(io) {}
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  asio::io_context io;

  // start runs |task| in the background (a server's side): a failure stops
  // the loop and is rethrown by run().
  void start(asio::awaitable<void> task) {
    asio::co_spawn(io, std::move(task), [this](std::exception_ptr e) {
      if (e) stop_with(e);
    });
  }

  // run runs |tasks| until all have finished, with whatever the
  // background needs meanwhile, and rethrows the first failure. It stops
  // the loop the moment the last task ends: background work (a server's
  // pending read) keeps the io_context from running out of work.
  void run(std::vector<asio::awaitable<void>> tasks) {
    if (failure_) std::rethrow_exception(failure_);
    left_ = tasks.size();
    for (auto& task : tasks) {
      asio::co_spawn(io, std::move(task), [this](std::exception_ptr e) {
        if (e) return stop_with(e);
        if (--left_ == 0) io.stop();
      });
    }
    if (left_ == 0) return;
    watchdog_.expires_after(kHang);
    watchdog_.async_wait([this](std::error_code ec) {
      if (!ec) stop_with(std::make_exception_ptr(std::runtime_error("the loop hung")));
    });
    io.restart();
    io.run();
    // Its cancelled handler runs at the start of the next run.
    watchdog_.cancel();
    if (failure_) std::rethrow_exception(failure_);
  }

  // drain runs the loop until it has nothing left to do, and rethrows the
  // first failure. Call it once everything still running is ending: its
  // peer has closed, or its socket was closed under it (the pending
  // operations then end with errors). No watchdog: its timer would keep
  // the loop from running out of work.
  void drain() {
    watchdog_.cancel();
    do {
      io.restart();
    } while (io.run() != 0);  // a failure stops the loop: go on until nothing ran
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void stop_with(std::exception_ptr e) {
    if (!failure_) failure_ = e;
    io.stop();
  }

  asio::steady_timer watchdog_;
  std::size_t left_ = 0;
  std::exception_ptr failure_;
};

// Workload is a scenario set up on one implementation: run(count) runs
// |count| operations (a multiple of kConnections); the caller times it.
class Workload {
 public:
  virtual ~Workload() = default;
  virtual void run(int count) = 0;
  // describe says what a client negotiated, once a run has gone by (so
  // that any ticket a server sent has been read).
  virtual std::string describe() = 0;
  // close ends every connection cleanly (close_notify both ways) and
  // rethrows any failure; the destructor only closes the sockets.
  virtual void close() = 0;
};

// set_no_delay turns Nagle's algorithm off: every message and handshake
// flight is one write that waits for nothing, in every implementation.
inline void set_no_delay(tcp::socket& socket) { socket.set_option(tcp::no_delay(true)); }

inline tcp::endpoint loopback() { return tcp::endpoint(asio::ip::address_v4::loopback(), 0); }

// Echo is the echo scenarios: kConnections connections, established once
// (not timed) and kept; each server echoes whatever it reads until the
// client's close_notify.
template <class Impl>
class Echo final : public Workload {
 public:
  Echo(Impl& impl, const Spec& spec) : impl_(impl), size_(spec.message) {
    (void)pattern(0, 0);  // made now, not in the first run
    tcp::acceptor acceptor(loop_.io, loopback());
    for (int i = 0; i < kConnections; ++i) {
      connections_.push_back(std::make_unique<Connection>(impl_, loop_.io, size_));
      Connection& c = *connections_.back();
      c.position = static_cast<std::size_t>(i) * 4099;  // each its own stretch of the pattern
      impl_.prepare_client(c.client, ClientKind::verifying);
      // One connection at a time, so each client meets its own server.
      std::vector<asio::awaitable<void>> both;
      both.push_back(accept(acceptor, c));
      both.push_back(connect(acceptor.local_endpoint(), c));
      loop_.run(std::move(both));
    }
    for (auto& c : connections_) loop_.start(serve(*c));
  }

  ~Echo() override {
    for (auto& c : connections_) {
      std::error_code ignored;
      c->client.lowest_layer().close(ignored);
      c->server.lowest_layer().close(ignored);
    }
    try {
      loop_.drain();
    } catch (...) {  // a destructor ends quietly; close() reports
    }
  }

  std::string describe() override { return impl_.describe(connections_.front()->client); }

  void run(int count) override {
    std::vector<asio::awaitable<void>> clients;
    for (auto& c : connections_) clients.push_back(exchange(*c, count / kConnections));
    loop_.run(std::move(clients));
  }

  void close() override {
    std::vector<asio::awaitable<void>> ends;
    for (auto& c : connections_) ends.push_back(shut_down(*c));
    loop_.run(std::move(ends));
    loop_.drain();  // the servers' last steps
    for (auto& c : connections_) {
      if (!c->served) throw std::runtime_error("a server did not see the client's close_notify");
    }
  }

 private:
  struct Connection {
    Connection(Impl& impl, asio::io_context& io, std::size_t size)
        : client(io, impl.client_context(ClientKind::verifying)),
          server(io, impl.server_context()),
          reply(size),
          buffer(16384) {}
    typename Impl::Stream client;
    typename Impl::Stream server;
    std::vector<char> reply;   // the client reads each echo here
    std::vector<char> buffer;  // the server reads here and echoes from here
    std::size_t position = 0;  // where the client's next message starts in the pattern
    bool served = false;       // the server ended cleanly
  };

  asio::awaitable<void> accept(tcp::acceptor& acceptor, Connection& c) {
    co_await acceptor.async_accept(c.server.next_layer(), asio::use_awaitable);
    set_no_delay(c.server.next_layer());
    co_await c.server.async_handshake(Impl::server_role, asio::use_awaitable);
  }

  asio::awaitable<void> connect(tcp::endpoint server, Connection& c) {
    co_await c.client.next_layer().async_connect(server, asio::use_awaitable);
    set_no_delay(c.client.next_layer());
    co_await c.client.async_handshake(Impl::client_role, asio::use_awaitable);
  }

  // serve echoes until the client's close_notify (eof), then answers it.
  asio::awaitable<void> serve(Connection& c) {
    for (;;) {
      auto [ec, n] = co_await c.server.async_read_some(asio::buffer(c.buffer), as_tuple);
      if (ec == asio::error::eof) break;
      if (ec) throw std::system_error(ec, "echo server: read");
      co_await asio::async_write(c.server, asio::buffer(c.buffer.data(), n), asio::use_awaitable);
    }
    co_await c.server.async_shutdown(asio::use_awaitable);
    c.served = true;
  }

  asio::awaitable<void> exchange(Connection& c, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string_view message = pattern(c.position, size_);
      co_await asio::async_write(c.client, asio::buffer(message), asio::use_awaitable);
      co_await asio::async_read(c.client, asio::buffer(c.reply), asio::use_awaitable);
      if (std::memcmp(c.reply.data(), message.data(), size_) != 0) {
        throw std::runtime_error("the echo differs from the message sent");
      }
      c.position += size_ + 1;  // the next message starts one byte further on
    }
  }

  asio::awaitable<void> shut_down(Connection& c) {
    co_await c.client.async_shutdown(asio::use_awaitable);
  }

  Impl& impl_;
  std::size_t size_;
  Loop loop_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

// Handshakes is the handshake scenario: kConnections lanes, each opening
// connection after connection to one acceptor, whose loop serves each on
// a coroutine of its own.
template <class Impl>
class Handshakes final : public Workload {
 public:
  explicit Handshakes(Impl& impl) : impl_(impl), acceptor_(loop_.io, loopback()) {
    (void)pattern(0, 0);  // made now, not in the first run
    loop_.start(accept_loop());
  }

  ~Handshakes() override {
    std::error_code ignored;
    acceptor_.close(ignored);
    try {
      loop_.drain();
    } catch (...) {  // a destructor ends quietly; close() reports
    }
  }

  void run(int count) override {
    std::vector<asio::awaitable<void>> lanes;
    for (int i = 0; i < kConnections; ++i) lanes.push_back(lane(i, count / kConnections));
    loop_.run(std::move(lanes));
  }

  // describe says what the first connection of the first run negotiated.
  std::string describe() override { return description_; }

  void close() override {
    // The servers' last steps (after the client's shutdown completed) and
    // the end of the accept loop.
    acceptor_.close();
    loop_.drain();
    if (sessions_ != 0) throw std::runtime_error("a server session did not end");
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket(loop_.io);
      auto [ec] = co_await acceptor_.async_accept(socket, as_tuple);
      if (ec == asio::error::operation_aborted) co_return;  // close()
      if (ec) throw std::system_error(ec, "accept");
      set_no_delay(socket);
      ++sessions_;
      loop_.start(session(std::move(socket)));
    }
  }

  // session is the server's side of one connection: handshake, echo, the
  // client's close_notify answered.
  asio::awaitable<void> session(tcp::socket socket) {
    typename Impl::Stream tls(std::move(socket), impl_.server_context());
    co_await tls.async_handshake(Impl::server_role, asio::use_awaitable);
    std::array<char, 32> buffer{};
    co_await asio::async_read(tls, asio::buffer(buffer), asio::use_awaitable);
    co_await asio::async_write(tls, asio::buffer(buffer), asio::use_awaitable);
    auto [ec, n] = co_await tls.async_read_some(asio::buffer(buffer), as_tuple);
    if (ec != asio::error::eof) {
      throw std::runtime_error("handshake server: expected the client's close_notify, got " +
                               (ec ? ec.message() : std::to_string(n) + " bytes"));
    }
    co_await tls.async_shutdown(asio::use_awaitable);
    --sessions_;
  }

  asio::awaitable<void> lane(int index, int n) {
    const tcp::endpoint server = acceptor_.local_endpoint();
    for (int i = 0; i < n; ++i) {
      typename Impl::Stream tls(loop_.io, impl_.client_context(ClientKind::verifying));
      impl_.prepare_client(tls, ClientKind::verifying);
      co_await tls.next_layer().async_connect(server, asio::use_awaitable);
      set_no_delay(tls.next_layer());
      co_await tls.async_handshake(Impl::client_role, asio::use_awaitable);
      const std::string_view message = pattern(static_cast<std::size_t>(index * 1031 + i * 7), 32);
      co_await asio::async_write(tls, asio::buffer(message), asio::use_awaitable);
      std::array<char, 32> echo{};
      co_await asio::async_read(tls, asio::buffer(echo), asio::use_awaitable);
      if (std::memcmp(echo.data(), message.data(), echo.size()) != 0) {
        throw std::runtime_error("the echo differs from the message sent");
      }
      if (index == 0 && description_.empty()) description_ = impl_.describe(tls);
      co_await tls.async_shutdown(asio::use_awaitable);
    }
  }

  Impl& impl_;
  Loop loop_;
  tcp::acceptor acceptor_;
  int sessions_ = 0;  // server sessions not yet ended
  std::string description_;
};

// make_workload sets |spec| up on |impl| (for echoes: the connections,
// handshaken).
template <class Impl>
std::unique_ptr<Workload> make_workload(Impl& impl, const Spec& spec) {
  if (spec.handshakes) return std::make_unique<Handshakes<Impl>>(impl);
  return std::make_unique<Echo<Impl>>(impl, spec);
}

// verification_failure makes one connection with a client of |kind| (which
// must fail its handshake) and returns why it failed, as the client saw
// it; throws if the handshake succeeded.
template <class Impl>
std::string verification_failure(Impl& impl, ClientKind kind) {
  Loop loop;
  tcp::acceptor acceptor(loop.io, loopback());
  typename Impl::Stream server(loop.io, impl.server_context());
  typename Impl::Stream client(loop.io, impl.client_context(kind));
  impl.prepare_client(client, kind);
  std::error_code client_ec;
  auto serve = [&]() -> asio::awaitable<void> {
    co_await acceptor.async_accept(server.next_layer(), asio::use_awaitable);
    // The client's alert ends it; how does not matter here.
    co_await server.async_handshake(Impl::server_role, as_tuple);
  };
  auto connect = [&]() -> asio::awaitable<void> {
    co_await client.next_layer().async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    auto [ec] = co_await client.async_handshake(Impl::client_role, as_tuple);
    client_ec = ec;
    // The server may wait for more: end the connection under it.
    std::error_code ignored;
    client.next_layer().close(ignored);
  };
  std::vector<asio::awaitable<void>> both;
  both.push_back(serve());
  both.push_back(connect());
  loop.run(std::move(both));
  if (!client_ec) {
    throw std::runtime_error(std::string("a client ") +
                             (kind == ClientKind::other_ca ? "trusting the other CA" : "asking for wrong.example") +
                             " completed its handshake: verification is not on");
  }
  return impl.explain(client, client_ec);
}

// check_verification returns a note saying that both clients that must fail
// do, and why.
template <class Impl>
std::string check_verification(Impl& impl) {
  return "verification on: a client trusting the other CA fails (" +
         verification_failure(impl, ClientKind::other_ca) + "), a client asking for wrong.example fails (" +
         verification_failure(impl, ClientKind::wrong_name) + ")";
}

}  // namespace bench::asio_load

#endif  // SANSTLS_BENCH_ASIO_LOAD_HPP
