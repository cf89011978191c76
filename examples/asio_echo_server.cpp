// asio_echo_server: a TLS echo server on asio with C++20 coroutines and
// sanstls::asio::stream, one coroutine per connection on one thread, with a
// certificate made on the fly.
//
//   asio_echo_server [--ca-out FILE] [--serve N] [--max-clients M] [--port P]
//
// It listens on 127.0.0.1 (port 0: the kernel picks), writes its CA to
// --ca-out for clients to trust, prints "listening on PORT" and echoes
// every byte back until the client's close_notify, which it answers with
// its own. With --serve N it exits after N connections have ended, printing
// "served N connections: C clean, E errors"; each error is one line on
// stderr saying what the connection was doing and why it failed. With
// --max-clients M it accepts nothing while M connections are open: the
// others wait in the kernel's listen backlog.
// examples/echo_clients.py drives it with many Python ssl clients, some of
// them misbehaving, as a test.
//
// The whole protocol is the loop in serve(): read some, write it all back.
// A write waits until the records are in the kernel, so a client that
// never reads makes the server stop reading from it (back-pressure) with
// at most one message of plaintext and one write of ciphertext held.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <sanstls/asio/stream.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Stream = sanstls::asio::stream<tcp::socket>;
constexpr auto as_tuple = asio::experimental::as_tuple(use_awaitable);

// Tally counts how connections ended, for --serve's summary, and how many
// are open, for --max-clients.
struct Tally {
  explicit Tally(asio::io_context& io) : slot_free(io, std::chrono::steady_clock::time_point::max()) {}
  long wanted = -1;      // --serve: stop after this many; -1 for never
  long max_clients = 0;  // --max-clients; 0 for no limit
  long open = 0;
  long clean = 0;
  long errors = 0;
  long ended() const { return clean + errors; }
  // The listener waits on this timer, which never expires, while
  // max_clients are open; a connection that ends cancels the wait.
  asio::steady_timer slot_free;
};

// describe says why an operation failed: Python's message for a TLS
// failure (the stream keeps the whole Error), else the error_code's.
std::string describe(const Stream& tls, const std::error_code& ec) {
  const bool tls_failure =
      ec.category() == sanstls::error_category() || ec.category() == sanstls::verify_error_category();
  if (tls_failure && tls.last_error()) return tls.last_error()->message;
  return ec.message();
}

// serve echoes one connection until the client's close_notify, answers it,
// and counts how it ended.
awaitable<void> serve(tcp::socket socket, const sanstls::Context& ctx, long id, Tally& tally) {
  Stream tls(std::move(socket), ctx);
  const char* stage = "handshaking";
  std::error_code ec;
  std::tie(ec) = co_await tls.async_handshake(Stream::server, as_tuple);
  if (!ec) {
    stage = "echoing";
    char buf[16384];
    for (;;) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await tls.async_read_some(asio::buffer(buf), as_tuple);
      if (ec) break;
      std::tie(ec, n) = co_await asio::async_write(tls, asio::buffer(buf, n), as_tuple);
      if (ec) break;
    }
    if (ec == asio::error::eof) {  // the client's close_notify: answer it
      stage = "closing";
      std::tie(ec) = co_await tls.async_shutdown(as_tuple);
    }
  }
  if (ec) {
    ++tally.errors;
    std::fprintf(stderr, "connection %ld failed while %s: %s\n", id, stage, describe(tls, ec).c_str());
  } else {
    ++tally.clean;
  }
  --tally.open;
  tally.slot_free.cancel();
  // The socket closes with the stream, after our close_notify went out.
}

awaitable<void> listen(tcp::acceptor& acceptor, const sanstls::Context& ctx, Tally& tally) {
  for (long id = 0; tally.wanted < 0 || id < tally.wanted; ++id) {
    while (tally.max_clients != 0 && tally.open >= tally.max_clients) {
      co_await tally.slot_free.async_wait(as_tuple);
    }
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    ++tally.open;
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), ctx, id, tally), asio::detached);
  }
}

int usage() {
  std::fprintf(stderr, "usage: asio_echo_server [--ca-out FILE] [--serve N] [--max-clients M] [--port P]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string ca_out;
  asio::io_context io(1);
  Tally tally(io);
  unsigned short port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--ca-out") {
      ca_out = argv[++i];
    } else if (arg == "--serve") {
      tally.wanted = std::atol(argv[++i]);
    } else if (arg == "--max-clients") {
      tally.max_clients = std::atol(argv[++i]);
      if (tally.max_clients < 0) return usage();
    } else if (arg == "--port") {
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    } else {
      return usage();
    }
  }
  try {
    auto ca = sanstls::testing::CertificateAuthority::create("asio echo CA");
    sanstls::testing::Issued cert = ca.issue({.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
    sanstls::Context ctx(sanstls::Protocol::tls_server);
    ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
    if (!ca_out.empty()) {
      std::ofstream(ca_out) << ca.certificate_pem();
    }

    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), port));
    std::printf("listening on %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    asio::co_spawn(io, listen(acceptor, ctx, tally), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    // Every coroutine finishes by itself: the listener after --serve
    // accepts, each connection when its client is done. run() returns
    // when nothing is left.
    io.run();
    std::printf("served %ld connections: %ld clean, %ld errors\n", tally.ended(), tally.clean, tally.errors);
    return tally.wanted < 0 || tally.ended() == tally.wanted ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo_server: %s\n", e.what());
    return 1;
  }
}
