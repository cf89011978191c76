// sanstls::asio::stream on real loopback TCP: coroutine clients and
// servers of our own, Python's ssl and OpenSSL's s_server and s_client as
// peers, 16 MiB both ways at once, cancellation, timeouts, peers that
// vanish or send garbage, a next layer whose writes fail, errors as
// std::error_codes, the synchronous forms, and callbacks answered from
// other threads.
//
// Every io_context run is bounded by a watchdog (kHang) that only exists
// to turn a hang into a failure; no check depends on how fast anything is.
#include <catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <future>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>

#include <sanstls/asio/stream.hpp>
#include <sanstls/sanstls.hpp>

#include "peer_process.hpp"
#include "support.hpp"

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using sanstls::Context;
using Stream = sanstls::asio::stream<tcp::socket>;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

constexpr auto kHang = 120s;  // a watchdog against hangs, never a measure
constexpr auto as_tuple = asio::experimental::as_tuple(use_awaitable);

// SocketPair is two connected loopback TCP sockets.
struct SocketPair {
  tcp::socket client;
  tcp::socket server;
};

SocketPair socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  return {std::move(client), std::move(server)};
}

// run spawns |coroutines| on |io| and runs it until they all finished,
// rethrowing the first exception one of them threw.
template <class... Coroutines>
void run(asio::io_context& io, Coroutines&&... coroutines) {
  std::exception_ptr failure;
  int left = sizeof...(coroutines);
  auto done = [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
    --left;
  };
  (asio::co_spawn(io, std::forward<Coroutines>(coroutines), done), ...);
  asio::steady_timer watchdog(io, kHang);
  watchdog.async_wait([&](std::error_code ec) {
    if (!ec) io.stop();
  });
  while (left > 0 && !io.stopped()) io.run_one();
  watchdog.cancel();
  io.restart();
  io.poll();
  if (failure) std::rethrow_exception(failure);
  if (left > 0) FAIL("the coroutines did not finish within the watchdog's time: a hang");
}

// Two streams over a socket pair, with the test PKI: the client verifies
// the server as "localhost".
struct Pair {
  Pair(asio::io_context& io, const Context& client_ctx, const Context& server_ctx) : Pair(socket_pair(io), client_ctx, server_ctx) {}
  Pair(SocketPair sockets, const Context& client_ctx, const Context& server_ctx)
      : client(std::move(sockets.client), client_ctx), server(std::move(sockets.server), server_ctx) {
    client.set_server_hostname("localhost");
  }
  Stream client;
  Stream server;
};

// GatedSocket is a next layer over a socket whose writes, once gated,
// wait for the test to let each one through or fail it: a transport that
// fails at the moment the test chooses.
class GatedSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  explicit GatedSocket(tcp::socket socket) : socket_(std::move(socket)) {}
  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          ++writes;
          if (!gated) return socket_.async_write_some(b, std::move(handler));
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          parked_.push_back([this, h, b](std::error_code ec) {
            if (ec) {
              std::move (*h)(ec, std::size_t{0});
            } else {
              socket_.async_write_some(b, std::move(*h));
            }
          });
        },
        token, buffers);
  }

  // The synchronous forms, which the stream's own are built on.
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, std::error_code& ec) {
    ++writes;
    return socket_.write_some(buffers, ec);
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, std::error_code& ec) {
    return socket_.read_some(buffers, ec);
  }

  std::size_t parked() const { return parked_.size(); }

  // release lets the oldest parked write through, or fails it with |ec|.
  void release(std::error_code ec = {}) {
    REQUIRE(!parked_.empty());
    auto next = std::move(parked_.front());
    parked_.erase(parked_.begin());
    asio::post(socket_.get_executor(), [next = std::move(next), ec] { next(ec); });
  }

  bool gated = false;
  int writes = 0;  // write calls, parked or not

 private:
  tcp::socket socket_;
  std::vector<std::function<void(std::error_code)>> parked_;
};

// run_until runs |io| (which must have work) until |done| holds.
template <class Predicate>
void run_until(asio::io_context& io, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + kHang;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("nothing happened within the watchdog's time: a hang");
    io.run_for(2ms);
  }
}

}  // namespace

TEST_CASE("a coroutine client and server: handshake, an HTTP-style exchange and shutdown",
          "[asio][coroutines]") {
  asio::io_context io;
  Context server_ctx = test::server_context();
  server_ctx.set_alpn_protocols({"http/1.1"});
  Context client_ctx = test::client_context();
  client_ctx.set_alpn_protocols({"h2", "http/1.1"});
  Pair p(io, client_ctx, server_ctx);
  std::string request_seen;
  std::string response_seen;
  std::error_code client_end;

  auto server = [&]() -> awaitable<void> {
    co_await p.server.async_handshake(Stream::server, use_awaitable);
    std::string request;
    std::size_t n = co_await asio::async_read_until(p.server, asio::dynamic_buffer(request), "\r\n\r\n",
                                                    use_awaitable);
    request_seen = request.substr(0, n);
    const std::string body = test::pattern(100'000, 3);
    std::string response = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n\r\n" + body;
    co_await asio::async_write(p.server, asio::buffer(response), use_awaitable);
    co_await p.server.async_shutdown(use_awaitable);
  };
  auto client = [&]() -> awaitable<void> {
    co_await p.client.async_handshake(Stream::client, use_awaitable);
    CHECK(p.client.object().selected_alpn_protocol() == "http/1.1");
    CHECK(p.client.object().version() == "TLSv1.3");
    co_await asio::async_write(p.client, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")),
                               use_awaitable);
    std::string response;
    auto [ec, n] = co_await asio::async_read(p.client, asio::dynamic_buffer(response), as_tuple);
    client_end = ec;
    response_seen = response;
    // The server's close_notify came; ours answers it.
    co_await p.client.async_shutdown(use_awaitable);
  };
  run(io, server(), client());
  CHECK(request_seen == "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(client_end == asio::error::eof);  // a clean end: the peer's close_notify
  REQUIRE(response_seen.size() > 100'000);
  CHECK(response_seen.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(response_seen.ends_with(test::pattern(100'000, 3)));
  CHECK(p.server.object().phase() == sanstls::Phase::closed);
  CHECK(p.client.object().phase() == sanstls::Phase::closed);
  CHECK(Stream::from(p.client.object()) == &p.client);
  CHECK(Stream::from(p.server.object()) == &p.server);
}

TEST_CASE("16 MiB both ways at once: a read and a write outstanding on each stream (full duplex)",
          "[asio][duplex]") {
  asio::io_context io;
  Pair p(io, test::client_context(), test::server_context());
  constexpr std::size_t kSize = 16u << 20;
  const std::string to_server = test::pattern(kSize, 11);
  const std::string to_client = test::pattern(kSize, 12);
  std::string got_by_server(kSize, '\0');
  std::string got_by_client(kSize, '\0');
  std::size_t most_buffered = 0;

  // Each side writes everything while it reads everything: neither would
  // finish if the stream serialised reads behind writes, because both
  // peers' socket buffers fill long before 16 MiB.
  auto side = [&](Stream& s, Stream::handshake_type type, const std::string& out,
                  std::string& in) -> awaitable<void> {
    co_await s.async_handshake(type, use_awaitable);
    auto write_all = [&]() -> awaitable<void> {
      co_await asio::async_write(s, asio::buffer(out), use_awaitable);
    };
    auto read_all = [&]() -> awaitable<void> {
      std::size_t got = 0;
      while (got < in.size()) {
        got += co_await s.async_read_some(asio::buffer(in.data() + got, in.size() - got), use_awaitable);
        most_buffered = std::max({most_buffered, s.object().incoming().capacity(),
                                  s.object().outgoing().capacity()});
      }
    };
    co_await (write_all() && read_all());
    co_await s.async_shutdown(use_awaitable);
  };
  run(io, side(p.server, Stream::server, to_client, got_by_server),
      side(p.client, Stream::client, to_server, got_by_client));
  CHECK((got_by_server == to_server));
  CHECK((got_by_client == to_client));
  // Bounded: never more than a read's and a write's worth of ciphertext.
  INFO("largest buffer seen: " << most_buffered);
  CHECK(most_buffered <= 256 * 1024);
}

TEST_CASE("a read cancelled while it waits completes with operation_aborted and loses nothing",
          "[asio][cancellation]") {
  asio::io_context io;
  Pair p(io, test::client_context(), test::server_context());
  asio::cancellation_signal cancel;
  std::error_code cancelled_with;
  std::string after;

  auto server = [&]() -> awaitable<void> {
    co_await p.server.async_handshake(Stream::server, use_awaitable);
    // Wait until the client's read was cancelled before sending anything,
    // so the read was certainly waiting on the socket.
    std::array<char, 1> go{};
    co_await asio::async_read(p.server, asio::buffer(go), use_awaitable);
    co_await asio::async_write(p.server, asio::buffer(std::string_view("after the cancel")), use_awaitable);
    co_await p.server.async_shutdown(use_awaitable);
  };
  auto client = [&]() -> awaitable<void> {
    co_await p.client.async_handshake(Stream::client, use_awaitable);
    std::array<char, 64> buf{};
    std::promise<std::pair<std::error_code, std::size_t>> first;
    p.client.async_read_some(asio::buffer(buf), asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, std::size_t n) {
                                first.set_value({ec, n});
                              }));
    // Let the read reach the socket, then cancel it.
    co_await asio::post(io, use_awaitable);
    cancel.emit(asio::cancellation_type::total);
    auto result = first.get_future();
    while (result.wait_for(0s) != std::future_status::ready) co_await asio::post(io, use_awaitable);
    auto [ec, n] = result.get();
    cancelled_with = ec;
    CHECK(n == 0);
    co_await asio::async_write(p.client, asio::buffer(std::string_view("!")), use_awaitable);
    std::string rest;
    auto [end, m] = co_await asio::async_read(p.client, asio::dynamic_buffer(rest), as_tuple);
    CHECK(end == asio::error::eof);
    after = rest;
    co_await p.client.async_shutdown(use_awaitable);
  };
  run(io, server(), client());
  CHECK(cancelled_with == asio::error::operation_aborted);
  CHECK(after == "after the cancel");
}

TEST_CASE("a cancellation in the same turn as the answer a handshake waits for still cancels it",
          "[asio][cancel]") {
  // The server's signer answers pending and keeps the request; the test
  // then answers it and emits a cancellation before the io_context runs
  // again, so the wake and the cancellation reach the waiting handshake
  // together.
  auto key = std::make_shared<sanstls::PrivateKey>(sanstls::PrivateKey::from_pem(test::pki().server.private_key_pem));
  std::optional<sanstls::PrivateKeyRequest> request;
  Stream* signing = nullptr;
  Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem_with_signer(
      test::pki().server.certificate_pem, [&](sanstls::Object& tls, const sanstls::PrivateKeyRequest& r) {
        request = r;
        signing = Stream::from(tls);
        return sanstls::PrivateKeyReply::pending();
      });
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  Pair p(io, test::client_context(), server_ctx);
  asio::cancellation_signal signal;
  std::optional<std::error_code> server_end;
  p.client.async_handshake(Stream::client, [](std::error_code) {});
  p.server.async_handshake(Stream::server,
                           asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { server_end = ec; }));
  run_until(io, [&] { return request.has_value(); });
  REQUIRE(signing == &p.server);
  io.run_for(20ms);
  REQUIRE_FALSE(server_end);  // it waits for the signature

  signing->complete_private_key(key->perform(*request));
  signal.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return server_end.has_value(); });
  CHECK(*server_end == asio::error::operation_aborted);
  CHECK_FALSE(p.server.object().is_handshake_complete());
}

TEST_CASE("a steady_timer bounds a read from a silent peer; the stream goes on afterwards",
          "[asio][timeout]") {
  asio::io_context io;
  Pair p(io, test::client_context(), test::server_context());
  bool timed_out = false;
  std::string later;

  auto server = [&]() -> awaitable<void> {
    co_await p.server.async_handshake(Stream::server, use_awaitable);
    std::array<char, 1> go{};
    co_await asio::async_read(p.server, asio::buffer(go), use_awaitable);  // silent until told
    co_await asio::async_write(p.server, asio::buffer(std::string_view("late")), use_awaitable);
  };
  auto client = [&]() -> awaitable<void> {
    co_await p.client.async_handshake(Stream::client, use_awaitable);
    std::array<char, 16> buf{};
    asio::steady_timer timer(io, 50ms);
    // The server says nothing until the client writes, so the timer wins
    // however slow the machine is.
    std::variant<std::size_t, std::monostate> first =
        co_await (p.client.async_read_some(asio::buffer(buf), use_awaitable) || timer.async_wait(use_awaitable));
    timed_out = first.index() == 1;
    co_await asio::async_write(p.client, asio::buffer(std::string_view("?")), use_awaitable);
    std::size_t n = co_await asio::async_read(p.client, asio::buffer(buf, 4), use_awaitable);
    later.assign(buf.data(), n);
  };
  run(io, server(), client());
  CHECK(timed_out);
  CHECK(later == "late");
}

TEST_CASE("peers that vanish or misbehave give errors of the right kind", "[asio][errors]") {
  asio::io_context io;
  SECTION("the server closes TCP after reading the ClientHello: stream_truncated") {
    SocketPair s = socket_pair(io);
    Stream client(std::move(s.client), test::client_context());
    client.set_server_hostname("localhost");
    std::error_code ec;
    auto server = [&]() -> awaitable<void> {
      std::array<char, 5> header{};
      co_await asio::async_read(s.server, asio::buffer(header), use_awaitable);
      s.server.shutdown(tcp::socket::shutdown_send);
      co_return;
    };
    auto go = [&]() -> awaitable<void> {
      std::tie(ec) = co_await client.async_handshake(Stream::client, as_tuple);
    };
    run(io, server(), go());
    CHECK(ec == sanstls::errc::stream_truncated);
    CHECK(ec.message() == "EOF occurred in violation of protocol");
  }
  SECTION("the server closes TCP mid-stream without close_notify: a read ends with stream_truncated") {
    Pair p(io, test::client_context(), test::server_context());
    std::error_code ec;
    std::string got;
    auto server = [&]() -> awaitable<void> {
      co_await p.server.async_handshake(Stream::server, use_awaitable);
      co_await asio::async_write(p.server, asio::buffer(std::string_view("partial")), use_awaitable);
      p.server.next_layer().shutdown(tcp::socket::shutdown_send);
    };
    auto client = [&]() -> awaitable<void> {
      co_await p.client.async_handshake(Stream::client, use_awaitable);
      std::size_t n = 0;
      std::tie(ec, n) = co_await asio::async_read(p.client, asio::dynamic_buffer(got), as_tuple);
    };
    run(io, server(), client());
    CHECK(got == "partial");  // what came before the cut is delivered
    CHECK(ec == sanstls::errc::stream_truncated);
  }
  SECTION("garbage instead of a ServerHello: a TLS error with Python's message") {
    SocketPair s = socket_pair(io);
    Stream client(std::move(s.client), test::client_context());
    client.set_server_hostname("localhost");
    std::error_code ec;
    auto server = [&]() -> awaitable<void> {
      std::array<char, 5> header{};
      co_await asio::async_read(s.server, asio::buffer(header), use_awaitable);
      co_await asio::async_write(s.server, asio::buffer(std::string_view("HTTP/1.1 400 Bad Request\r\n\r\n")),
                                 use_awaitable);
    };
    auto go = [&]() -> awaitable<void> {
      std::tie(ec) = co_await client.async_handshake(Stream::client, as_tuple);
    };
    run(io, server(), go());
    CHECK(&ec.category() == &sanstls::error_category());
    CHECK(ec.message() == "[SSL: WRONG_VERSION_NUMBER] wrong version number");
    REQUIRE(client.last_error() != nullptr);
    CHECK(client.last_error()->reason == "WRONG_VERSION_NUMBER");
  }
  SECTION("a certificate for another name: the verify category, the VerifyCode and Python's whole message") {
    SocketPair s = socket_pair(io);
    Stream client(std::move(s.client), test::client_context());
    Stream server(std::move(s.server), test::server_context());
    client.set_server_hostname("example.com");
    std::error_code client_ec, server_ec;
    auto c = [&]() -> awaitable<void> {
      std::tie(client_ec) = co_await client.async_handshake(Stream::client, as_tuple);
    };
    auto v = [&]() -> awaitable<void> {
      std::tie(server_ec) = co_await server.async_handshake(Stream::server, as_tuple);
    };
    run(io, c(), v());
    CHECK(&client_ec.category() == &sanstls::verify_error_category());
    CHECK(client_ec.value() == static_cast<int>(sanstls::VerifyCode::hostname_mismatch));
    REQUIRE(client.last_error() != nullptr);
    CHECK(client.last_error()->message ==
          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not "
          "valid for 'example.com'.");
    // The client's alert reached the server before the client closed.
    CHECK(&server_ec.category() == &sanstls::error_category());
    CHECK(server_ec.message().find("ALERT") != std::string::npos);
  }
  SECTION("empty buffers complete at once with 0, without waiting for the peer") {
    Pair p(io, test::client_context(), test::server_context());
    std::size_t read_n = 99, write_n = 99;
    std::error_code read_ec{asio::error::would_block}, write_ec{asio::error::would_block};
    auto c = [&]() -> awaitable<void> {
      co_await p.client.async_handshake(Stream::client, use_awaitable);
      std::tie(read_ec, read_n) = co_await p.client.async_read_some(asio::mutable_buffer(), as_tuple);
      std::tie(write_ec, write_n) = co_await p.client.async_write_some(asio::const_buffer(), as_tuple);
    };
    auto v = [&]() -> awaitable<void> { co_await p.server.async_handshake(Stream::server, use_awaitable); };
    run(io, c(), v());
    CHECK_FALSE(read_ec);
    CHECK(read_n == 0);
    CHECK_FALSE(write_ec);
    CHECK(write_n == 0);
  }
  SECTION("a read before the handshake fails at once, with a message") {
    SocketPair s = socket_pair(io);
    Stream client(std::move(s.client), test::client_context());
    std::array<char, 4> buf{};
    std::error_code ec;
    client.async_read_some(asio::buffer(buf), [&](std::error_code e, std::size_t) { ec = e; });
    CHECK_FALSE(ec);  // never inside the initiating function
    io.run();
    CHECK(ec == sanstls::errc::other);
    REQUIRE(client.last_error() != nullptr);
    CHECK(client.last_error()->message.find("before the handshake") != std::string::npos);
  }
}

TEST_CASE("a next-layer write that fails while another operation waits for it: both complete, nothing hangs",
          "[asio][errors]") {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  SocketPair s = socket_pair(io);
  Stream client(std::move(s.client), test::client_context());
  sanstls::asio::stream<GatedSocket> server(GatedSocket(std::move(s.server)), test::server_context());
  client.set_server_hostname("localhost");
  std::optional<std::error_code> client_hs, server_hs;
  client.async_handshake(Stream::client, [&](std::error_code ec) { client_hs = ec; });
  server.async_handshake(Stream::server, [&](std::error_code ec) { server_hs = ec; });
  run_until(io, [&] { return client_hs && server_hs; });
  REQUIRE_FALSE(*client_hs);
  REQUIRE_FALSE(*server_hs);

  // The client asks for a KeyUpdate and sends "x", in one TCP write.
  // Reading them, the server's engine writes its own KeyUpdate, which the
  // server's read sends: the first gated write.
  REQUIRE(client.object().key_update(true).status == sanstls::Status::done);
  bool client_wrote = false;
  asio::async_write(client, asio::buffer(std::string_view("x")),
                    [&](std::error_code ec, std::size_t) { client_wrote = !ec; });
  run_until(io, [&] { return client_wrote && server.next_layer().socket().available() > 0; });
  GatedSocket& gate = server.next_layer();
  gate.gated = true;
  const int writes_before = gate.writes;
  std::array<char, 16> buf{};
  std::optional<std::pair<std::error_code, std::size_t>> read_end, write_end;
  server.async_read_some(asio::buffer(buf),
                         [&](std::error_code ec, std::size_t n) { read_end.emplace(ec, n); });
  run_until(io, [&] { return gate.parked() == 1; });
  CHECK(gate.writes == writes_before + 1);
  CHECK_FALSE(read_end);  // it waits for its write

  // A write now: its records wait behind the read's write (one write to
  // the next layer at a time), and the write waits for them to go out.
  server.async_write_some(asio::buffer(std::string_view("y")),
                          [&](std::error_code ec, std::size_t n) { write_end.emplace(ec, n); });
  io.run_for(20ms);
  CHECK(gate.parked() == 1);
  CHECK_FALSE(write_end);

  SECTION("the read's write fails: the read keeps its data, the write completes with the error") {
    gate.release(asio::error::broken_pipe);
    run_until(io, [&] { return read_end && write_end; });
    CHECK(gate.writes == writes_before + 1);  // the write's records never went to the next layer
  }
  SECTION("the read's write goes through, then the read sends the write's records, and that fails") {
    gate.release();
    run_until(io, [&] { return gate.writes == writes_before + 2 && gate.parked() == 1; });
    io.run_for(20ms);
    CHECK_FALSE(write_end);  // still waiting for its records, in the read's write
    gate.release(asio::error::broken_pipe);
    run_until(io, [&] { return read_end && write_end; });
  }
  CHECK_FALSE(read_end->first);
  CHECK(read_end->second == 1);
  CHECK(buf[0] == 'x');
  CHECK(write_end->first == asio::error::broken_pipe);
  CHECK(write_end->second == 0);

  // Every later write reports the error at once, the asynchronous and the
  // synchronous form alike, without trying the next layer again.
  const int writes_after = gate.writes;
  std::optional<std::error_code> again;
  server.async_write_some(asio::buffer(std::string_view("z")),
                          [&](std::error_code ec, std::size_t) { again = ec; });
  run_until(io, [&] { return again.has_value(); });
  CHECK(*again == asio::error::broken_pipe);
  std::error_code sync_ec;
  CHECK(server.write_some(asio::buffer(std::string_view("z")), sync_ec) == 0);
  CHECK(sync_ec == asio::error::broken_pipe);
  CHECK(gate.writes == writes_after);
}

TEST_CASE("async_shutdown while a read waits: the read ends with eof, both sides close cleanly",
          "[asio][shutdown]") {
  asio::io_context io;
  Pair p(io, test::client_context(), test::server_context());
  std::error_code read_end;
  auto server = [&]() -> awaitable<void> {
    co_await p.server.async_handshake(Stream::server, use_awaitable);
    std::string all;
    auto [ec, n] = co_await asio::async_read(p.server, asio::dynamic_buffer(all), as_tuple);
    CHECK(ec == asio::error::eof);
    CHECK(all == "bye");
    co_await p.server.async_shutdown(use_awaitable);
  };
  auto client = [&]() -> awaitable<void> {
    co_await p.client.async_handshake(Stream::client, use_awaitable);
    co_await asio::async_write(p.client, asio::buffer(std::string_view("bye")), use_awaitable);
    std::array<char, 16> buf{};
    auto reader = [&]() -> awaitable<void> {
      auto [ec, n] = co_await p.client.async_read_some(asio::buffer(buf), as_tuple);
      read_end = ec;
    };
    co_await (reader() && p.client.async_shutdown(use_awaitable));
  };
  run(io, server(), client());
  CHECK(read_end == asio::error::eof);
  CHECK(p.client.object().phase() == sanstls::Phase::closed);
}

TEST_CASE("completion tokens: callbacks, std::future and deferred", "[asio][tokens]") {
  asio::io_context io;
  Pair p(io, test::client_context(), test::server_context());
  std::error_code server_ec{asio::error::would_block};
  p.server.async_handshake(Stream::server, [&](std::error_code ec) {
    server_ec = ec;
    // A callback chain: echo one message.
    auto buf = std::make_shared<std::array<char, 5>>();
    asio::async_read(p.server, asio::buffer(*buf), [&, buf](std::error_code, std::size_t) {
      asio::async_write(p.server, asio::buffer(*buf), [](std::error_code, std::size_t) {});
    });
  });
  auto deferred_handshake = p.client.async_handshake(Stream::client, asio::experimental::deferred);
  std::promise<std::error_code> client_done;
  std::move(deferred_handshake)([&](std::error_code ec) { client_done.set_value(ec); });
  // The io_context runs on another thread; this one waits on futures. The
  // stream's operations are started on the io_context's thread (posted),
  // as the stream's threading rule requires.
  std::thread runner([&] { io.run(); });
  REQUIRE_FALSE(client_done.get_future().get());
  std::array<char, 5> echo{};
  std::promise<std::pair<std::future<std::size_t>, std::future<std::size_t>>> started;
  asio::post(io, [&] {
    auto wrote = asio::async_write(p.client, asio::buffer(std::string_view("hello")), asio::use_future);
    auto read = asio::async_read(p.client, asio::buffer(echo), asio::use_future);
    started.set_value({std::move(wrote), std::move(read)});
  });
  auto [wrote, read] = started.get_future().get();
  CHECK(wrote.get() == 5);
  CHECK(read.get() == 5);
  runner.join();
  CHECK_FALSE(server_ec);
  CHECK(std::string(echo.data(), 5) == "hello");
}

TEST_CASE("the synchronous forms: blocking calls on two threads, failures as std::system_error",
          "[asio][sync]") {
  asio::io_context io;
  SECTION("echo and a clean shutdown") {
    Pair p(io, test::client_context(), test::server_context());
    std::thread server([&] {
      p.server.handshake(Stream::server);
      std::array<char, 1024> buf{};
      std::size_t n = p.server.read_some(asio::buffer(buf));
      asio::write(p.server, asio::buffer(buf.data(), n));
      std::error_code ec;
      p.server.read_some(asio::buffer(buf), ec);
      CHECK(ec == asio::error::eof);
      p.server.shutdown();
    });
    p.client.handshake(Stream::client);
    const std::string big = test::pattern(300'000, 5);
    std::string back;
    CHECK(p.client.write_some(asio::buffer(std::string_view("ping"))) == 4);
    back.resize(4);
    asio::read(p.client, asio::buffer(back));
    p.client.shutdown();
    server.join();
    CHECK(back == "ping");
  }
  SECTION("a verification failure throws std::system_error carrying the verify code") {
    Pair p(io, test::client_trusting(test::other_pki().ca.certificate_pem()), test::server_context());
    std::thread server([&] {
      std::error_code ec;
      p.server.handshake(Stream::server, ec);
      CHECK(ec);
    });
    try {
      p.client.handshake(Stream::client);
      FAIL("the handshake with an untrusted server did not throw");
    } catch (const std::system_error& e) {
      CHECK(&e.code().category() == &sanstls::verify_error_category());
      CHECK(e.code().value() == static_cast<int>(sanstls::VerifyCode::unable_to_get_issuer_cert_locally));
      CHECK(std::string(e.what()).find("unable to get local issuer certificate") != std::string::npos);
    }
    server.join();
  }
}

TEST_CASE("callbacks answered pending are completed from other threads through the stream",
          "[asio][callbacks]") {
  // The server's key is only reachable through a signer that hands the
  // work to a thread; the client's verify callback does the same. Both
  // answer through Stream::from(tls).complete_*, from those threads.
  auto key = std::make_shared<sanstls::PrivateKey>(sanstls::PrivateKey::from_pem(test::pki().server.private_key_pem));
  // The callbacks run on the threads that drive each side (two in the
  // synchronous case), so the list of workers has a lock.
  std::mutex workers_lock;
  std::vector<std::thread> workers;
  auto start = [&](std::function<void()> job) {
    std::lock_guard lock(workers_lock);
    workers.emplace_back(std::move(job));
  };
  std::atomic<int> signed_count{0}, verified_count{0};
  Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem_with_signer(
      test::pki().server.certificate_pem, [&](sanstls::Object& tls, const sanstls::PrivateKeyRequest& request) {
        Stream* s = Stream::from(tls);
        REQUIRE(s != nullptr);
        start([s, request, key, &signed_count] {
          ++signed_count;
          s->complete_private_key(key->perform(request));
        });
        return sanstls::PrivateKeyReply::pending();
      });
  Context client_ctx = test::client_context();
  client_ctx.set_verify_callback([&](sanstls::Object& tls, const sanstls::PeerCertificates& peer) {
    Stream* s = Stream::from(tls);
    REQUIRE(s != nullptr);
    const bool ok = peer.verify_code == sanstls::VerifyCode::ok;
    start([s, ok, &verified_count] {
      ++verified_count;
      s->complete_certificate_verify(ok ? sanstls::VerifyReply::accept() : sanstls::VerifyReply::reject("no"));
    });
    return sanstls::VerifyReply::pending();
  });

  SECTION("asynchronous handshakes") {
    asio::io_context io;
    Pair p(io, client_ctx, server_ctx);
    std::string echoed;
    auto server = [&]() -> awaitable<void> {
      co_await p.server.async_handshake(Stream::server, use_awaitable);
      std::array<char, 2> buf{};
      co_await asio::async_read(p.server, asio::buffer(buf), use_awaitable);
      co_await asio::async_write(p.server, asio::buffer(buf), use_awaitable);
    };
    auto client = [&]() -> awaitable<void> {
      co_await p.client.async_handshake(Stream::client, use_awaitable);
      co_await asio::async_write(p.client, asio::buffer(std::string_view("ok")), use_awaitable);
      std::array<char, 2> buf{};
      co_await asio::async_read(p.client, asio::buffer(buf), use_awaitable);
      echoed.assign(buf.data(), 2);
    };
    run(io, server(), client());
    CHECK(echoed == "ok");
  }
  SECTION("synchronous handshakes") {
    asio::io_context io;
    Pair p(io, client_ctx, server_ctx);
    std::thread server([&] { p.server.handshake(Stream::server); });
    p.client.handshake(Stream::client);
    server.join();
    CHECK(p.client.object().is_handshake_complete());
  }
  for (std::thread& t : workers) t.join();
  CHECK(signed_count == 1);
  CHECK(verified_count == 1);
}

// ---- Real peers: Python's ssl and OpenSSL ---------------------------------

namespace {

// PeerFiles are the test PKI's PEM files on disk, for the peer programs.
struct PeerFiles {
  test::TempDir dir;
  std::string ca = dir.write("ca.pem", test::pki().ca.certificate_pem());
  std::string cert = dir.write("server.pem", test::pki().server.certificate_pem);
  std::string key = dir.write("server.key", test::pki().server.private_key_pem);
};

// python_peer_script finds test/peers/python_peer.py next to the test data.
std::string python_peer_script() {
  std::filesystem::path data = test::data_path("");
  while (!data.empty() && data.filename().empty()) data = data.parent_path();  // trailing '/'
  return (data.parent_path() / "peers" / "python_peer.py").string();
}

test::Clock::time_point peer_deadline() { return test::Clock::now() + std::chrono::seconds(60); }

// port_line waits for the Python peer's first line, "PORT <n>".
std::uint16_t python_port(test::Peer& peer) {
  std::uint16_t port = 0;
  peer.wait_until(
      [&] {
        std::string out = peer.stdout_text();
        std::size_t at = out.find("PORT ");
        std::size_t end = out.find('\n', at);
        if (at == std::string::npos || end == std::string::npos) return false;
        port = static_cast<std::uint16_t>(std::stoi(out.substr(at + 5, end - at - 5)));
        return true;
      },
      "its PORT line", peer_deadline());
  return port;
}

}  // namespace

TEST_CASE("a coroutine client against Python's ssl server: 1 MiB echoed, close_notify both ways",
          "[asio][interop][python]") {
  PeerFiles f;
  const std::string payload = test::pattern(1 << 20, 21);
  test::Peer python({test::python3(), python_peer_script(), "server", "--cert", f.cert, "--key", f.key},
                    test::logs(f.dir, "python"));
  const std::uint16_t port = python_port(python);
  asio::io_context io;
  Stream tls(io, test::client_context());
  tls.set_server_hostname("localhost");
  std::string back(payload.size(), '\0');
  auto client = [&]() -> awaitable<void> {
    co_await tls.next_layer().async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), use_awaitable);
    co_await tls.async_handshake(Stream::client, use_awaitable);
    co_await (asio::async_write(tls, asio::buffer(payload), use_awaitable) &&
              asio::async_read(tls, asio::buffer(back), use_awaitable));
    // Our close_notify; Python's echo loop answers with unwrap().
    co_await tls.async_shutdown(use_awaitable);
  };
  run(io, client());
  CHECK((back == payload));
  CHECK(python.wait_exit(peer_deadline()) == 0);
  const std::string report = python.stdout_text();
  INFO(report);
  CHECK(report.find("\"unwrapped\": true") != std::string::npos);
  CHECK(report.find("\"version\": \"TLSv1.3\"") != std::string::npos);
}

TEST_CASE("Python's ssl client against a coroutine server: the echo checks out, both close cleanly",
          "[asio][interop][python]") {
  PeerFiles f;
  const std::string payload_file = f.dir.write("payload.bin", test::pattern(1 << 20, 22));
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  test::Peer python({test::python3(), python_peer_script(), "client", "--port",
                     std::to_string(acceptor.local_endpoint().port()), "--ca", f.ca, "--payload-file",
                     payload_file},
                    test::logs(f.dir, "python"));
  std::size_t echoed = 0;
  std::error_code end;
  auto server = [&]() -> awaitable<void> {
    Stream tls(co_await acceptor.async_accept(use_awaitable), test::server_context());
    co_await tls.async_handshake(Stream::server, use_awaitable);
    std::array<char, 16384> buf{};
    for (;;) {
      auto [ec, n] = co_await tls.async_read_some(asio::buffer(buf), as_tuple);
      if (ec) {
        end = ec;
        break;
      }
      co_await asio::async_write(tls, asio::buffer(buf.data(), n), use_awaitable);
      echoed += n;
    }
    co_await tls.async_shutdown(use_awaitable);
  };
  run(io, server());
  CHECK(end == asio::error::eof);  // Python's close_notify
  CHECK(echoed == 1u << 20);
  CHECK(python.wait_exit(peer_deadline()) == 0);
  const std::string report = python.stdout_text();
  INFO(report);
  CHECK(report.find("\"echo_ok\": true") != std::string::npos);
  CHECK(report.find("\"unwrapped\": true") != std::string::npos);
}

TEST_CASE("a coroutine client fetches a page from openssl s_server -www", "[asio][interop][openssl]") {
  PeerFiles f;
  test::Peer server({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", f.cert, "-key", f.key, "-www"},
                    test::s_server_io(f.dir));
  const std::uint16_t port = test::accept_port(server, peer_deadline());
  asio::io_context io;
  Context ctx = test::client_context();
  Stream tls(io, ctx);
  tls.set_server_hostname("localhost");
  std::string page;
  std::error_code end;
  auto client = [&]() -> awaitable<void> {
    co_await tls.next_layer().async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), use_awaitable);
    co_await tls.async_handshake(Stream::client, use_awaitable);
    co_await asio::async_write(tls, asio::buffer(std::string_view("GET / HTTP/1.0\r\n\r\n")), use_awaitable);
    std::size_t n = 0;
    std::tie(end, n) = co_await asio::async_read(tls, asio::dynamic_buffer(page), as_tuple);
  };
  run(io, client());
  INFO(page);
  CHECK(page.starts_with("HTTP/1.0 200 ok"));
  CHECK(page.find("New, TLSv1.3, Cipher is") != std::string::npos);  // s_server's status page
  CHECK(end == asio::error::eof);                                   // s_server ends with close_notify
}

TEST_CASE("openssl s_client against a coroutine server: a line echoed, close_notify answered",
          "[asio][interop][openssl]") {
  PeerFiles f;
  const std::string request = f.dir.write("request.txt", "hello from s_client\n");
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  test::PeerIO pio = test::logs(f.dir, "s_client");
  pio.stdin_path = request;
  test::Peer client({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()),
                     "-servername", "localhost", "-CAfile", f.ca, "-verify_return_error", "-verify_hostname",
                     "localhost", "-quiet"},
                    pio);
  std::string line;
  auto server = [&]() -> awaitable<void> {
    Stream tls(co_await acceptor.async_accept(use_awaitable), test::server_context());
    co_await tls.async_handshake(Stream::server, use_awaitable);
    co_await asio::async_read_until(tls, asio::dynamic_buffer(line), '\n', use_awaitable);
    co_await asio::async_write(tls, asio::buffer(line), use_awaitable);
    // s_client answers our close_notify with its own, or this fails.
    co_await tls.async_shutdown(use_awaitable);
  };
  run(io, server());
  CHECK(line == "hello from s_client\n");
  CHECK(client.wait_exit(peer_deadline()) == 0);
  CHECK(client.stdout_text() == "hello from s_client\n");
}

TEST_CASE("streams on strands of an io_context run by two threads: 8 echo pairs at once", "[asio][threads]") {
  asio::io_context io(2);
  constexpr int kPairs = 8;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < kPairs; ++i) {
    // Each socket has a strand of its own: the stream's operations and
    // their handlers never run at once, while different streams do.
    tcp::socket client(asio::make_strand(io));
    client.connect(acceptor.local_endpoint());
    tcp::socket server(asio::make_strand(io));
    acceptor.accept(server);
    pairs.push_back(std::make_unique<Pair>(SocketPair{std::move(client), std::move(server)},
                                           test::client_context(), test::server_context()));
  }
  std::atomic<int> good{0};
  std::atomic<int> finished{0};  // coroutines of either side that ended
  auto count = [&finished](std::exception_ptr) { ++finished; };
  for (int i = 0; i < kPairs; ++i) {
    Pair& p = *pairs[static_cast<std::size_t>(i)];
    const std::string message = test::pattern(200'000, static_cast<unsigned>(i));
    asio::co_spawn(p.server.get_executor(),
                   [&p]() -> awaitable<void> {
                     co_await p.server.async_handshake(Stream::server, use_awaitable);
                     std::array<char, 8192> buf{};
                     for (;;) {
                       auto [ec, n] = co_await p.server.async_read_some(asio::buffer(buf), as_tuple);
                       if (ec) break;
                       co_await asio::async_write(p.server, asio::buffer(buf.data(), n), use_awaitable);
                     }
                     co_await p.server.async_shutdown(use_awaitable);
                   },
                   count);
    asio::co_spawn(p.client.get_executor(),
                   [&p, message, &good]() -> awaitable<void> {
                     co_await p.client.async_handshake(Stream::client, use_awaitable);
                     std::string back(message.size(), '\0');
                     co_await (asio::async_write(p.client, asio::buffer(message), use_awaitable) &&
                               asio::async_read(p.client, asio::buffer(back), use_awaitable));
                     co_await p.client.async_shutdown(use_awaitable);
                     if (back == message) ++good;
                   },
                   count);
  }
  asio::steady_timer watchdog(io, kHang);
  watchdog.async_wait([&](std::error_code ec) {
    if (!ec) io.stop();
  });
  std::thread second([&] { io.run(); });
  // The main thread runs too, until both sides of every pair are done.
  while (finished < 2 * kPairs && !io.stopped()) io.run_one_for(std::chrono::milliseconds(100));
  watchdog.cancel();
  second.join();
  CHECK(good == kPairs);
}
