#include "wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "../support.hpp"

namespace hostile {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

int milliseconds_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 60'000));
}

std::uint16_t local_port_of(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) throw_errno("getsockname");
  return ntohs(address.sin_port);
}

sanstls::net::Socket connect_bystander(std::uint16_t port) {
  sanstls::net::Socket socket = sanstls::net::wrap_socket(
      client_context(), sanstls::net::create_connection("127.0.0.1", port, 60.0),
      {.do_handshake_on_connect = false, .server_hostname = "localhost"});
  socket.settimeout(60.0);
  socket.do_handshake();
  return socket;
}

}  // namespace

std::string_view ending_name(Ending ending) noexcept {
  switch (ending) {
    case Ending::open: return "open";
    case Ending::eof: return "eof";
    case Ending::reset: return "reset";
  }
  return "?";
}

// ---- RawConnection ----------------------------------------------------------

RawConnection::RawConnection(std::uint16_t port) : RawConnection(port, Options{}) {}

RawConnection::RawConnection(std::uint16_t port, const Options& options)
    : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (!fd_) throw_errno("socket");
  auto set = [this](int level, int name, int value, const char* what) {
    if (::setsockopt(fd_.get(), level, name, &value, sizeof value) != 0) throw_errno(what);
  };
  if (options.receive_buffer) set(SOL_SOCKET, SO_RCVBUF, *options.receive_buffer, "SO_RCVBUF");
  if (options.send_buffer) set(SOL_SOCKET, SO_SNDBUF, *options.send_buffer, "SO_SNDBUF");
  if (options.no_delay) set(IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Blocking: on loopback the kernel completes it at once, even while the
  // server is busy (the listen backlog holds it).
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("connect");
  }
  local_port_ = local_port_of(fd_.get());
  if (::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK) != 0) throw_errno("fcntl");
}

bool RawConnection::send_all(std::string_view data, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) return false;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("send");
    pollfd p{fd_.get(), POLLOUT, 0};
    int ready = ::poll(&p, 1, milliseconds_until(deadline));
    if (ready < 0 && errno != EINTR) throw_errno("poll");
    if (ready == 0 && Clock::now() >= deadline) {
      throw std::runtime_error("send: the server took nothing for " + std::to_string(timeout.count()) + " ms");
    }
  }
  return true;
}

Ending RawConnection::receive(std::string& out, std::chrono::milliseconds timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) throw_errno("poll");
  if (ready <= 0) return Ending::open;
  std::array<char, 65536> buffer;
  ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
  if (n > 0) {
    out.append(buffer.data(), static_cast<std::size_t>(n));
    return Ending::open;
  }
  if (n == 0) return Ending::eof;
  if (errno == ECONNRESET) return Ending::reset;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Ending::open;
  throw_errno("recv");
}

End RawConnection::wait_end(std::chrono::milliseconds timeout) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + timeout;
  End end;
  while (end.ending == Ending::open && Clock::now() < deadline) {
    end.ending = receive(end.received, std::chrono::milliseconds(milliseconds_until(deadline)));
  }
  end.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return end;
}

void RawConnection::shutdown_write() {
  if (::shutdown(fd_.get(), SHUT_WR) != 0) throw_errno("shutdown");
}

void RawConnection::reset() noexcept {
  linger abort{1, 0};
  (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  fd_.reset();
}

// ---- TlsClient --------------------------------------------------------------

TlsClient::TlsClient(const sanstls::Context& context, std::uint16_t port,
                     const RawConnection::Options& options)
    : raw_(port, options), object_(context.wrap_bio(incoming_, outgoing_, false, "localhost")) {}

void TlsClient::send_outgoing(bool one_byte_writes) {
  std::string bytes = outgoing_.read();
  if (!one_byte_writes) {
    if (!raw_.send_all(bytes)) throw std::runtime_error("the server dropped the connection");
    return;
  }
  for (char byte : bytes) {
    if (!raw_.send_all(std::string_view(&byte, 1))) {
      throw std::runtime_error("the server dropped the connection");
    }
    // A moment between bytes, so that the server mostly reads them one
    // at a time rather than as the kernel gathers them again.
    std::this_thread::sleep_for(50us);
  }
}

void TlsClient::handshake(bool one_byte_writes, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    sanstls::Result r = object_.do_handshake();
    send_outgoing(one_byte_writes);
    if (r.status == sanstls::Status::done) return;
    if (r.status != sanstls::Status::want_read) {
      throw std::runtime_error("client handshake: " + test::describe(r));
    }
    std::string got;
    Ending ending = raw_.receive(got, std::chrono::milliseconds(milliseconds_until(deadline)));
    incoming_.write(got);
    if (ending != Ending::open) incoming_.write_eof();
    if (Clock::now() >= deadline) throw std::runtime_error("client handshake: timed out");
  }
}

void TlsClient::write(std::string_view data, bool one_byte_writes) {
  sanstls::Result r = object_.write(data);
  if (r.status != sanstls::Status::done) throw std::runtime_error("client write: " + test::describe(r));
  send_outgoing(one_byte_writes);
}

std::string TlsClient::read_exactly(std::size_t n, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string out;
  while (out.size() < n) {
    sanstls::ReadResult r = object_.read(n - out.size());
    if (r.status == sanstls::Status::done) {
      out += r.data;
      continue;
    }
    if (r.status != sanstls::Status::want_read) {
      throw std::runtime_error("client read after " + std::to_string(out.size()) +
                               " bytes: " + test::describe(r));
    }
    if (Clock::now() >= deadline) throw std::runtime_error("client read: timed out");
    std::string got;
    Ending ending = raw_.receive(got, std::chrono::milliseconds(milliseconds_until(deadline)));
    incoming_.write(got);
    if (ending != Ending::open) incoming_.write_eof();
  }
  return out;
}

std::string TlsClient::outcome(const End& end) {
  incoming_.write(end.received);
  if (end.ending != Ending::open) incoming_.write_eof();
  for (;;) {
    sanstls::Result r = object_.is_handshake_complete() ? object_.read(sanstls::max_read_size)
                                                         : object_.do_handshake();
    switch (r.status) {
      case sanstls::Status::done: continue;  // data (an echo) or the handshake's end
      case sanstls::Status::closed: return "closed";
      case sanstls::Status::error: return r.error->message;
      default: return "nothing";
    }
  }
}

// ---- Bystander --------------------------------------------------------------

Bystander::Bystander(std::uint16_t port)
    : socket_(connect_bystander(port)), local_port_(local_port_of(socket_.fileno())) {}

std::string Bystander::echo(std::string_view text) {
  socket_.sendall(text);
  std::string back;
  while (back.size() < text.size()) {
    std::string got = socket_.recv(text.size() - back.size());
    if (got.empty()) break;
    back += got;
  }
  return back;
}

void Bystander::close() { (void)socket_.unwrap(); }

sanstls::Context client_context(bool tls12_only) {
  sanstls::Context context = test::client_context();
  if (tls12_only) {
    context.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256");
  }
  return context;
}

}  // namespace hostile
