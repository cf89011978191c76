// epoll_echo: a TLS echo server for many clients in one thread, on epoll
// and net::Socket's non-blocking try_* calls, with a certificate made on
// the fly. To show it working, the program also starts CLIENTS blocking
// clients on threads, each sending ROUNDS messages and checking every echo;
// it exits 0 when all of them were served correctly.
//
//   epoll_echo [CLIENTS [ROUNDS]]      (default 64 clients, 20 rounds)
//   epoll_echo --serve N [--ca-out FILE] [--max-clients M]
//
// With --serve it is the server alone, as the libuv, io_uring and asio
// echo servers are: it writes its CA to FILE, prints "listening on PORT",
// serves N connections from outside and exits, printing "served N
// connections: C clean, E errors" with one line on stderr per error
// (examples/echo_clients.py tests it that way, and bench/echo_load.cpp
// measures it beside the others). --max-clients M stops accepting while M
// connections are open: the others wait in the kernel's listen backlog.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sanstls/net/socket.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace {

using sanstls::Result;
using sanstls::Status;
using sanstls::net::FileDescriptor;
using sanstls::net::Socket;

// Connection is one client's TLS socket and the bytes it sent that have not
// been echoed yet.
struct Connection {
  explicit Connection(Socket s) : tls(std::move(s)) {}
  Socket tls;
  long id = 0;
  bool handshaken = false;
  bool closing = false;
  std::string outbox;
};

class Server {
 public:
  Server(const sanstls::Context& ctx, FileDescriptor listener, std::size_t max_clients = 0)
      : ctx_(ctx), listener_(std::move(listener)), epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        max_clients_(max_clients) {
    control(EPOLL_CTL_ADD, listener_.get(), EPOLLIN);
  }

  // run serves until |expected| connections have finished. |idle_ms|
  // bounds a wait with nothing happening (-1: no bound), so that the
  // self-test fails instead of hanging.
  void run(int expected, int idle_ms) {
    std::array<epoll_event, 64> events{};
    while (finished_ < expected) {
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), idle_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("epoll_wait: nothing happened for " + std::to_string(idle_ms) + " ms");
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == listener_.get()) {
          accept_all();
        } else if (auto it = connections_.find(fd); it != connections_.end()) {
          Connection& c = *it->second;
          // The socket's own failures (a send into a reset connection)
          // are exceptions, as Python's OSError; they end this connection
          // only.
          try {
            serve(c);
          } catch (const std::exception& e) {
            drop(c, e.what());
          }
        }
      }
    }
  }

  int failed() const noexcept { return failed_; }
  int finished() const noexcept { return finished_; }

 private:
  // control adds |fd| to the epoll set or changes what it is watched for.
  void control(int op, int fd, std::uint32_t events) {
    epoll_event e{};
    e.events = events;
    e.data.fd = fd;
    ::epoll_ctl(epoll_.get(), op, fd, &e);
  }

  void watch(Connection& c) {
    // Writability only matters while encrypted bytes wait for the socket;
    // while echoes wait to be sent, reading more would only grow the
    // outbox (back-pressure: a client that does not read is not read).
    const bool blocked = !c.outbox.empty() || c.tls.wants_write();
    control(EPOLL_CTL_MOD, c.tls.fileno(), (c.outbox.empty() ? EPOLLIN : 0u) | (blocked ? EPOLLOUT : 0u));
  }

  void accept_all() {
    for (;;) {
      if (max_clients_ != 0 && connections_.size() >= max_clients_) {
        // Not watched, the listener leaves the rest in the backlog; a
        // finished connection watches it again.
        control(EPOLL_CTL_MOD, listener_.get(), 0);
        return;
      }
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: all taken
      Socket tls = sanstls::net::wrap_socket(
          ctx_, FileDescriptor(fd), {.server_side = true, .do_handshake_on_connect = false});
      tls.setblocking(false);
      control(EPOLL_CTL_ADD, fd, EPOLLIN);
      auto c = std::make_unique<Connection>(std::move(tls));
      c->id = accepted_++;
      connections_.emplace(fd, std::move(c));
    }
  }

  // serve does everything the connection can do now without waiting.
  void serve(Connection& c) {
    Result r{Status::done, 0, nullptr};
    if (!c.handshaken) {
      r = c.tls.try_handshake();
      if (r.status == Status::done) c.handshaken = true;
    }
    std::array<std::byte, 16384> buffer{};
    while (c.handshaken && !c.closing) {
      if (!c.outbox.empty()) {
        Result w = c.tls.try_send(sanstls::as_bytes(c.outbox));
        if (w.status == Status::done) c.outbox.erase(0, w.bytes);
        if (w.status == Status::error) return drop(c, message(w));
        if (!c.outbox.empty()) break;  // the socket is full: wait for EPOLLOUT
      }
      r = c.tls.try_recv_into(buffer);
      if (r.status == Status::done) {
        c.outbox.append(reinterpret_cast<const char*>(buffer.data()), r.bytes);
        continue;  // echo it, then read again: pending() bytes need no event
      }
      if (r.status == Status::closed) c.closing = true;
      break;
    }
    if (r.status == Status::error) return drop(c, message(r));
    if (c.closing) {
      Result u = c.tls.try_unwrap();  // answer the client's close_notify
      if (u.status == Status::error) return drop(c, message(u));
      if (u.status == Status::done) return finish(c);
    }
    c.tls.flush();
    watch(c);
  }

  static std::string message(const Result& r) { return r.error ? r.error->message : "?"; }

  void drop(Connection& c, const std::string& why) {
    const char* stage = !c.handshaken ? "handshaking" : c.closing ? "closing" : "echoing";
    std::fprintf(stderr, "epoll_echo: connection %ld failed while %s: %s\n", c.id, stage, why.c_str());
    ++failed_;
    finish(c);
  }

  void finish(Connection& c) {
    int fd = c.tls.fileno();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    connections_.erase(fd);
    ++finished_;
    if (max_clients_ != 0 && connections_.size() + 1 == max_clients_) {
      control(EPOLL_CTL_MOD, listener_.get(), EPOLLIN);
    }
  }

  sanstls::Context ctx_;
  FileDescriptor listener_;
  FileDescriptor epoll_;
  std::size_t max_clients_;  // 0: no limit
  std::map<int, std::unique_ptr<Connection>> connections_;
  long accepted_ = 0;
  int finished_ = 0;
  int failed_ = 0;
};

// listen_loopback returns a listening socket on 127.0.0.1 and its port.
std::pair<FileDescriptor, std::uint16_t> listen_loopback() {
  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 128) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
  }
  return {std::move(listener), ntohs(addr.sin_port)};
}

// serve_only is --serve: the server alone, for clients from outside.
int serve_only(int connections, const std::string& ca_out, int max_clients) {
  using sanstls::testing::CertificateAuthority;
  CertificateAuthority ca = CertificateAuthority::create("epoll echo CA");
  sanstls::testing::Issued cert = ca.issue({.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  if (!ca_out.empty()) std::ofstream(ca_out) << ca.certificate_pem();
  auto [listener, port] = listen_loopback();
  std::printf("listening on %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  Server server(server_ctx, std::move(listener), static_cast<std::size_t>(max_clients));
  server.run(connections, -1);
  std::printf("served %d connections: %d clean, %d errors\n", server.finished(),
              server.finished() - server.failed(), server.failed());
  return 0;
}

int run(int clients, int rounds) {
  using sanstls::testing::CertificateAuthority;
  CertificateAuthority ca = CertificateAuthority::create("example CA");
  sanstls::testing::Issued cert = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  sanstls::Context client_ctx(sanstls::Protocol::tls_client);
  client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

  auto listening = listen_loopback();
  FileDescriptor listener = std::move(listening.first);
  const std::uint16_t port = listening.second;  // captured below: not a structured binding (clang 14)

  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      try {
        Socket tls = sanstls::net::wrap_socket(client_ctx, sanstls::net::create_connection("127.0.0.1", port, 10),
                                               {.server_hostname = "localhost"});
        tls.settimeout(30);
        for (int round = 0; round < rounds; ++round) {
          const std::string message = "client " + std::to_string(i) + " round " + std::to_string(round) +
                                      std::string(static_cast<std::size_t>(100 * round), '.');
          tls.sendall(message);
          std::string echoed;
          while (echoed.size() < message.size()) {
            std::string got = tls.recv(message.size() - echoed.size());
            if (got.empty()) throw std::runtime_error("the server closed early");
            echoed += got;
          }
          if (echoed != message) throw std::runtime_error("the echo differs");
        }
        tls.unwrap();
        ++good;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "epoll_echo: client %d: %s\n", i, e.what());
      }
    });
  }
  Server server(server_ctx, std::move(listener));
  try {
    server.run(clients, 10000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epoll_echo: server: %s\n", e.what());
  }
  for (std::thread& t : threads) t.join();
  std::printf("%d of %d clients echoed correctly by one epoll thread; %d dropped\n", good.load(),
              clients, server.failed());
  return good == clients && server.failed() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]).starts_with("--")) {
    int connections = 0;
    int max_clients = 0;
    std::string ca_out;
    bool ok = true;
    for (int i = 1; ok && i < argc; i += 2) {
      const std::string_view arg = argv[i];
      ok = i + 1 < argc;
      if (!ok) break;
      if (arg == "--serve") {
        connections = std::atoi(argv[i + 1]);
      } else if (arg == "--ca-out") {
        ca_out = argv[i + 1];
      } else if (arg == "--max-clients") {
        max_clients = std::atoi(argv[i + 1]);
        ok = max_clients > 0;
      } else {
        ok = false;
      }
    }
    if (!ok || connections <= 0) {
      std::fprintf(stderr, "usage: epoll_echo --serve N [--ca-out FILE] [--max-clients M]\n");
      return 2;
    }
    try {
      return serve_only(connections, ca_out, max_clients);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "epoll_echo: %s\n", e.what());
      return 1;
    }
  }
  int clients = argc > 1 ? std::atoi(argv[1]) : 64;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  if (clients <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: epoll_echo [CLIENTS [ROUNDS]]\n       epoll_echo --serve N [--ca-out FILE] [--max-clients M]\n");
    return 2;
  }
  try {
    return run(clients, rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epoll_echo: %s\n", e.what());
    return 1;
  }
}
