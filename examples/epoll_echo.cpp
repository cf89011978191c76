// epoll_echo: a TLS echo server for many clients in one thread, on epoll
// and net::Socket's non-blocking try_* calls, with a certificate made on
// the fly. To show it working, the program also starts CLIENTS blocking
// clients on threads, each sending ROUNDS messages and checking every echo;
// it exits 0 when all of them were served correctly.
//
//   epoll_echo [CLIENTS [ROUNDS]]      (default 64 clients, 20 rounds)
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <string>
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
  bool handshaken = false;
  bool closing = false;
  std::string outbox;
};

class Server {
 public:
  Server(const sanstls::Context& ctx, FileDescriptor listener)
      : ctx_(ctx), listener_(std::move(listener)), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    add(listener_.get(), EPOLLIN);
  }

  // run serves until |expected| connections have finished.
  void run(int expected) {
    std::array<epoll_event, 64> events{};
    while (finished_ < expected) {
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 10000);
      if (n <= 0) throw std::runtime_error("epoll_wait: nothing happened for 10 s");
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == listener_.get()) {
          accept_all();
        } else if (auto it = connections_.find(fd); it != connections_.end()) {
          serve(*it->second);
        }
      }
    }
  }

  int failed() const noexcept { return failed_; }

 private:
  void add(int fd, std::uint32_t events) {
    epoll_event e{};
    e.events = events;
    e.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e);
  }

  void watch(Connection& c) {
    epoll_event e{};
    // Writability only matters while encrypted bytes wait for the socket.
    e.events = EPOLLIN | (c.tls.wants_write() ? EPOLLOUT : 0u);
    e.data.fd = c.tls.fileno();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.tls.fileno(), &e);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: all taken
      Socket tls = sanstls::net::wrap_socket(
          ctx_, FileDescriptor(fd), {.server_side = true, .do_handshake_on_connect = false});
      tls.setblocking(false);
      add(fd, EPOLLIN);
      connections_.emplace(fd, std::make_unique<Connection>(std::move(tls)));
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
        if (w.status == Status::error) return drop(c, w);
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
    if (r.status == Status::error) return drop(c, r);
    if (c.closing) {
      Result u = c.tls.try_unwrap();  // answer the client's close_notify
      if (u.status == Status::done || u.status == Status::error) return finish(c);
    }
    c.tls.flush();
    watch(c);
  }

  void drop(Connection& c, const Result& r) {
    std::fprintf(stderr, "epoll_echo: client dropped: %s\n", r.error ? r.error->message.c_str() : "?");
    ++failed_;
    finish(c);
  }

  void finish(Connection& c) {
    int fd = c.tls.fileno();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    connections_.erase(fd);
    ++finished_;
  }

  sanstls::Context ctx_;
  FileDescriptor listener_;
  FileDescriptor epoll_;
  std::map<int, std::unique_ptr<Connection>> connections_;
  int finished_ = 0;
  int failed_ = 0;
};

int run(int clients, int rounds) {
  using sanstls::testing::CertificateAuthority;
  CertificateAuthority ca = CertificateAuthority::create("example CA");
  sanstls::testing::Issued cert = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  sanstls::Context client_ctx(sanstls::Protocol::tls_client);
  client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 128) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  const std::uint16_t port = ntohs(addr.sin_port);

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
    server.run(clients);
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
  int clients = argc > 1 ? std::atoi(argv[1]) : 64;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  if (clients <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: epoll_echo [CLIENTS [ROUNDS]]\n");
    return 2;
  }
  try {
    return run(clients, rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epoll_echo: %s\n", e.what());
    return 1;
  }
}
