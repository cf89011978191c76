// async_signer: a TLS echo server on one epoll thread whose private key
// never enters the process's TLS configuration: every signature is made by
// a worker thread (a stand-in for an HSM, a KMS or another process) while
// the loop keeps serving the connections that are already up.
//
// The server's Context has the certificate chain and a signer
// (Context::load_cert_chain_with_signer). The signer only queues the
// request and answers pending; the connection's try_handshake() then
// returns Status::want_private_key and the loop leaves it alone. The
// worker signs, queues the signature and wakes the loop through an
// eventfd; the loop hands the signature to the connection
// (Object::complete_private_key) and drives it on.
//
// To show it working, the program starts one "chatty" client that echoes
// without pause, then CLIENTS more that each handshake and echo ROUNDS
// messages. The worker holds every signature until the loop has echoed at
// least one message after the request came in (unless nothing else is
// up), so the run proves, without relying on timing, that the loop served
// other connections while signatures were pending. Exits 0 when every
// client was served correctly.
//
//   async_signer [CLIENTS [ROUNDS]]      (default 16 clients, 10 rounds)
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sanstls/net/socket.hpp>
#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace {

using sanstls::PrivateKeyReply;
using sanstls::PrivateKeyRequest;
using sanstls::Result;
using sanstls::Status;
using sanstls::net::FileDescriptor;
using sanstls::net::Socket;

// Hsm owns the key on its own thread. Jobs go in from the loop; results
// come back through a queue and an eventfd the loop watches.
class Hsm {
 public:
  struct Done {
    std::uint64_t connection;
    PrivateKeyReply reply;
  };

  explicit Hsm(const std::string& key_pem)
      : key_(sanstls::PrivateKey::from_pem(key_pem)), wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!wake_) throw std::runtime_error("the HSM cannot start");
    thread_ = std::thread([this] { work(); });
  }
  ~Hsm() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Hsm(const Hsm&) = delete;
  Hsm& operator=(const Hsm&) = delete;

  int wake_fd() const noexcept { return wake_.get(); }

  // submit queues |request| for |connection|. Called on the loop.
  void submit(std::uint64_t connection, PrivateKeyRequest request) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back({connection, std::move(request), echoes_});
    }
    cv_.notify_all();
  }

  // progress tells the worker how many echoes the loop has served and how
  // many connections are up. Called on the loop.
  void progress(std::uint64_t echoes, int established) {
    {
      std::lock_guard lock(mutex_);
      echoes_ = echoes;
      established_ = established;
    }
    cv_.notify_all();
  }

  // take returns the finished jobs. Called on the loop when wake_fd() is
  // readable.
  std::vector<Done> take() {
    std::uint64_t count = 0;
    (void)::read(wake_.get(), &count, sizeof count);
    std::lock_guard lock(mutex_);
    std::vector<Done> out(std::make_move_iterator(done_.begin()), std::make_move_iterator(done_.end()));
    done_.clear();
    return out;
  }

 private:
  struct Job {
    std::uint64_t connection;
    PrivateKeyRequest request;
    std::uint64_t echoes_at_submit;
  };

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      // A job waits until the loop has echoed a message since it came in,
      // or until nothing else is up to echo.
      cv_.wait(lock, [this] {
        return stopping_ || (!jobs_.empty() && (echoes_ > jobs_.front().echoes_at_submit || established_ == 0));
      });
      if (stopping_) return;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      Done done{job.connection, key_.perform(job.request)};
      lock.lock();
      done_.push_back(std::move(done));
      const std::uint64_t one = 1;
      (void)::write(wake_.get(), &one, sizeof one);
    }
  }

  sanstls::PrivateKey key_;  // a real HSM would hold it instead
  FileDescriptor wake_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<Done> done_;
  std::uint64_t echoes_ = 0;
  int established_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

struct Connection {
  Connection(Socket s, std::uint64_t n) : tls(std::move(s)), id(n) {}
  Socket tls;
  std::uint64_t id;
  bool handshaken = false;
  bool closing = false;
  std::string outbox;
};

class Server {
 public:
  Server(sanstls::Context& ctx, FileDescriptor listener, Hsm& hsm)
      : ctx_(ctx), listener_(std::move(listener)), hsm_(hsm), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    add(listener_.get(), EPOLLIN);
    add(hsm_.wake_fd(), EPOLLIN);
  }

  // signer is the Context's signer: it finds the connection the request
  // is for and queues it on the HSM.
  PrivateKeyReply signer(sanstls::Object& tls, const PrivateKeyRequest& request) {
    auto it = by_object_.find(&tls);
    if (it == by_object_.end()) return PrivateKeyReply::failed("unknown connection");
    hsm_.submit(it->second->id, request);
    ++pending_;
    return PrivateKeyReply::pending();
  }

  // run serves until |expected| connections have finished.
  void run(int expected) {
    std::array<epoll_event, 64> events{};
    while (finished_ < expected) {
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 10000);
      if (n <= 0) throw std::runtime_error("epoll_wait: nothing happened for 10 s");
      for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == listener_.get()) {
          accept_all();
        } else if (fd == hsm_.wake_fd()) {
          complete_signatures();
        } else if (auto it = connections_.find(fd); it != connections_.end()) {
          serve(*it->second);
        }
      }
    }
  }

  int failed() const noexcept { return failed_; }
  std::uint64_t echoes_while_pending() const noexcept { return echoes_while_pending_; }
  std::uint64_t signatures() const noexcept { return signatures_; }

 private:
  void add(int fd, std::uint32_t events) {
    epoll_event e{};
    e.events = events;
    e.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e);
  }

  void watch(Connection& c) {
    epoll_event e{};
    e.events = EPOLLIN | (c.tls.wants_write() ? EPOLLOUT : 0u);
    e.data.fd = c.tls.fileno();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.tls.fileno(), &e);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      Socket tls = sanstls::net::wrap_socket(ctx_, FileDescriptor(fd),
                                             {.server_side = true, .do_handshake_on_connect = false});
      tls.setblocking(false);
      add(fd, EPOLLIN);
      auto c = std::make_unique<Connection>(std::move(tls), ++next_id_);
      by_object_[&c->tls.object()] = c.get();
      by_id_[c->id] = c.get();
      connections_.emplace(fd, std::move(c));
    }
  }

  void complete_signatures() {
    for (Hsm::Done& done : hsm_.take()) {
      --pending_;
      ++signatures_;
      auto it = by_id_.find(done.connection);
      if (it == by_id_.end()) continue;  // the client went away meanwhile
      Connection& c = *it->second;
      c.tls.object().complete_private_key(std::move(done.reply));
      serve(c);
    }
  }

  void serve(Connection& c) {
    Result r{Status::done, 0, nullptr};
    if (!c.handshaken) {
      r = c.tls.try_handshake();
      if (r.status == Status::want_private_key) return;  // the HSM wakes us
      if (r.status == Status::done) {
        c.handshaken = true;
        ++established_;
        hsm_.progress(echoes_, established_);
      }
    }
    std::array<std::byte, 16384> buffer{};
    while (c.handshaken && !c.closing) {
      if (!c.outbox.empty()) {
        Result w = c.tls.try_send(sanstls::as_bytes(c.outbox));
        if (w.status == Status::done) {
          c.outbox.erase(0, w.bytes);
          if (c.outbox.empty()) echoed();
        }
        if (w.status == Status::error) return drop(c, w);
        if (!c.outbox.empty()) break;
      }
      r = c.tls.try_recv_into(buffer);
      if (r.status == Status::done) {
        c.outbox.append(reinterpret_cast<const char*>(buffer.data()), r.bytes);
        continue;
      }
      if (r.status == Status::closed) c.closing = true;
      break;
    }
    if (r.status == Status::error) return drop(c, r);
    if (c.closing) {
      Result u = c.tls.try_unwrap();
      if (u.status == Status::done || u.status == Status::error) return finish(c);
    }
    c.tls.flush();
    watch(c);
  }

  void echoed() {
    ++echoes_;
    if (pending_ > 0) ++echoes_while_pending_;
    hsm_.progress(echoes_, established_);
  }

  void drop(Connection& c, const Result& r) {
    std::fprintf(stderr, "async_signer: client dropped: %s\n", r.error ? r.error->message.c_str() : "?");
    ++failed_;
    finish(c);
  }

  void finish(Connection& c) {
    if (c.handshaken) {
      --established_;
      hsm_.progress(echoes_, established_);
    }
    const int fd = c.tls.fileno();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    by_object_.erase(&c.tls.object());
    by_id_.erase(c.id);
    connections_.erase(fd);
    ++finished_;
  }

  sanstls::Context& ctx_;
  FileDescriptor listener_;
  Hsm& hsm_;
  FileDescriptor epoll_;
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::map<const sanstls::Object*, Connection*> by_object_;
  std::map<std::uint64_t, Connection*> by_id_;
  std::uint64_t next_id_ = 0;
  int pending_ = 0;
  int established_ = 0;
  std::uint64_t echoes_ = 0;
  std::uint64_t echoes_while_pending_ = 0;
  std::uint64_t signatures_ = 0;
  int finished_ = 0;
  int failed_ = 0;
};

// echo_client connects, handshakes and echoes |rounds| messages (or, with
// |until|, until it is set), checking each; true when all came back.
bool echo_client(const sanstls::Context& ctx, std::uint16_t port, int id, int rounds,
                 const std::atomic<bool>* until, std::promise<void>* up) {
  try {
    Socket tls = sanstls::net::wrap_socket(ctx, sanstls::net::create_connection("127.0.0.1", port, 10),
                                           {.server_hostname = "localhost"});
    tls.settimeout(30);
    if (up != nullptr) up->set_value();
    for (int round = 0; until != nullptr ? !until->load() : round < rounds; ++round) {
      const std::string message = "client " + std::to_string(id) + " round " + std::to_string(round);
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
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "async_signer: client %d: %s\n", id, e.what());
    if (up != nullptr) {
      try {
        up->set_value();
      } catch (const std::future_error&) {
      }
    }
    return false;
  }
}

int run(int clients, int rounds) {
  using sanstls::testing::CertificateAuthority;
  CertificateAuthority ca = CertificateAuthority::create("example CA");
  sanstls::testing::Issued cert = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  Hsm hsm(cert.private_key_pem);  // the key goes to the HSM only

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

  sanstls::Context server_ctx(sanstls::Protocol::tls_server);
  Server server(server_ctx, std::move(listener), hsm);
  server_ctx.load_cert_chain_pem_with_signer(
      cert.certificate_pem,
      [&server](sanstls::Object& tls, const PrivateKeyRequest& request) { return server.signer(tls, request); });
  sanstls::Context client_ctx(sanstls::Protocol::tls_client);
  client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});

  std::atomic<int> good{0};
  std::atomic<bool> others_done{false};
  std::promise<void> chatty_up;
  std::future<void> chatty_ready = chatty_up.get_future();
  std::thread chatty([&] {
    if (echo_client(client_ctx, port, 0, 0, &others_done, &chatty_up)) ++good;
  });
  std::thread others([&] {
    chatty_ready.wait();  // the chatty client is up before the others connect
    std::vector<std::thread> threads;
    for (int i = 1; i <= clients; ++i) {
      threads.emplace_back([&, i] {
        if (echo_client(client_ctx, port, i, rounds, nullptr, nullptr)) ++good;
      });
    }
    for (std::thread& t : threads) t.join();
    others_done = true;
  });
  try {
    server.run(clients + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "async_signer: server: %s\n", e.what());
    others_done = true;
  }
  others.join();
  chatty.join();
  std::printf("%d of %d clients echoed correctly; %llu signatures made by the HSM thread; "
              "%llu echoes served while a signature was pending; %d dropped\n",
              good.load(), clients + 1, static_cast<unsigned long long>(server.signatures()),
              static_cast<unsigned long long>(server.echoes_while_pending()), server.failed());
  const bool served_meanwhile = clients == 0 || server.echoes_while_pending() > 0;
  return good == clients + 1 && server.failed() == 0 && served_meanwhile &&
                 server.signatures() == static_cast<std::uint64_t>(clients + 1)
             ? 0
             : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 16;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
  if (clients < 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: async_signer [CLIENTS [ROUNDS]]\n");
    return 2;
  }
  try {
    return run(clients, rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "async_signer: %s\n", e.what());
    return 1;
  }
}
