// asio_https_client: fetch one page over HTTPS with asio, C++20 coroutines
// and sanstls::asio::stream, under an overall timeout.
//
//   asio_https_client https://HOST[:PORT][/PATH]   fetch that URL, trusting
//                                                  the system's CAs
//   asio_https_client                              show it working offline: a
//                                                  local HTTPS server with a
//                                                  certificate made on the
//                                                  fly, on 127.0.0.1
//
// It prints the response's status line and headers to stdout and the
// body's size, and exits 0 for a 2xx answer. Without a URL it also checks
// the body it got from its own server. Any failure (name resolution,
// connection, certificate, a server that stops answering) is one line on
// stderr and exit status 1.
#include <chrono>
#include <cstdio>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <sanstls/asio/stream.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Stream = sanstls::asio::stream<tcp::socket>;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTimeout = std::chrono::seconds(20);

struct Url {
  std::string host;
  std::string port = "443";
  std::string path = "/";
};

std::optional<Url> parse(std::string_view text) {
  constexpr std::string_view scheme = "https://";
  if (!text.starts_with(scheme)) return std::nullopt;
  text.remove_prefix(scheme.size());
  Url url;
  std::size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(text.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    url.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  }
  url.host = std::string(authority);
  if (url.host.empty()) return std::nullopt;
  return url;
}

// fetch connects, verifies the server for url.host, sends a GET and reads
// the response until the server closes. The stream throws
// std::system_error for any failure; a TLS one carries Python's message
// in last_error().
awaitable<std::string> fetch(const sanstls::Context& ctx, const Url& url) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, use_awaitable);
  Stream tls(executor, ctx);
  tls.set_server_hostname(url.host);  // SNI, and the name the certificate must carry
  co_await asio::async_connect(tls.next_layer(), endpoints, use_awaitable);
  try {
    co_await tls.async_handshake(Stream::client, use_awaitable);
  } catch (const std::system_error&) {
    if (tls.last_error()) throw std::runtime_error(tls.last_error()->message);
    throw;
  }
  const std::string request = "GET " + url.path + " HTTP/1.1\r\nHost: " + url.host +
                              "\r\nUser-Agent: sanstls-asio-example\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(tls, asio::buffer(request), use_awaitable);
  std::string response;
  auto [ec, n] = co_await asio::async_read(tls, asio::dynamic_buffer(response),
                                           asio::experimental::as_tuple(use_awaitable));
  // A clean end is the server's close_notify; many servers just close the
  // connection after "Connection: close" (stream_truncated), which HTTP's
  // own framing makes harmless once the response is complete.
  if (ec != asio::error::eof && ec != sanstls::errc::stream_truncated) throw std::system_error(ec);
  (void)n;
  // Answer the server's close_notify with ours, as TLS asks.
  if (ec == asio::error::eof) co_await tls.async_shutdown(asio::experimental::as_tuple(use_awaitable));
  co_return response;
}

// with_timeout runs fetch() against a timer: whichever finishes first
// cancels the other.
awaitable<std::string> with_timeout(const sanstls::Context& ctx, const Url& url) {
  asio::steady_timer timer(co_await asio::this_coro::executor, kTimeout);
  std::variant<std::string, std::monostate> first = co_await (fetch(ctx, url) || timer.async_wait(use_awaitable));
  if (first.index() == 1) throw std::runtime_error("no complete answer within the timeout");
  co_return std::get<0>(std::move(first));
}

// local_server answers one request with a fixed page, as an HTTPS server
// would, then closes with close_notify.
awaitable<void> local_server(tcp::acceptor& acceptor, const sanstls::Context& ctx, std::string page) {
  Stream tls(co_await acceptor.async_accept(use_awaitable), ctx);
  co_await tls.async_handshake(Stream::server, use_awaitable);
  std::string request;
  co_await asio::async_read_until(tls, asio::dynamic_buffer(request), "\r\n\r\n", use_awaitable);
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(page.size()) + "\r\nConnection: close\r\n\r\n" + page;
  co_await asio::async_write(tls, asio::buffer(response), use_awaitable);
  // close_notify, then the client's answer. A client that just closes the
  // connection instead (stream_truncated) has had its page all the same.
  auto [ec] = co_await tls.async_shutdown(asio::experimental::as_tuple(use_awaitable));
  if (ec && ec != sanstls::errc::stream_truncated) throw std::system_error(ec);
}

int report(const std::string& response, const std::string* expected_body) {
  std::size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    std::fprintf(stderr, "asio_https_client: no complete HTTP response (%zu bytes)\n", response.size());
    return 1;
  }
  std::printf("%s\n\n(%zu bytes of body)\n", response.substr(0, head_end).c_str(),
              response.size() - head_end - 4);
  if (expected_body != nullptr && response.substr(head_end + 4) != *expected_body) {
    std::fprintf(stderr, "asio_https_client: the body is not what the server sent\n");
    return 1;
  }
  return response.starts_with("HTTP/1.1 2") || response.starts_with("HTTP/1.0 2") ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    asio::io_context io(1);
    if (argc > 2) {
      std::fprintf(stderr, "usage: asio_https_client [https://HOST[:PORT][/PATH]]\n");
      return 2;
    }
    if (argc == 2) {
      std::optional<Url> url = parse(argv[1]);
      if (!url) {
        std::fprintf(stderr, "asio_https_client: not an https:// URL: %s\n", argv[1]);
        return 2;
      }
      sanstls::Context ctx = sanstls::create_default_context();  // the system's CAs
      std::future<std::string> response = asio::co_spawn(io, with_timeout(ctx, *url), asio::use_future);
      io.run();
      return report(response.get(), nullptr);
    }

    // Offline: our own server, trusted through its CA alone.
    auto ca = sanstls::testing::CertificateAuthority::create("asio https example CA");
    sanstls::testing::Issued cert = ca.issue({.dns_names = {"localhost"}});
    sanstls::Context server_ctx(sanstls::Protocol::tls_server);
    server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
    sanstls::Context client_ctx(sanstls::Protocol::tls_client);
    client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    const std::string page = "hello from a sanstls::asio::stream server\n";
    asio::co_spawn(io, local_server(acceptor, server_ctx, page), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    Url url{"localhost", std::to_string(acceptor.local_endpoint().port()), "/"};
    std::future<std::string> response = asio::co_spawn(io, with_timeout(client_ctx, url), asio::use_future);
    io.run();
    return report(response.get(), &page);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_https_client: %s\n", e.what());
    return 1;
  }
}
