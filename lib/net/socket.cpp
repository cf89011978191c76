// sanstls::net::Socket: the engine's Object on a POSIX socket. The socket
// is always non-blocking underneath; blocking mode and timeouts are poll()
// with a deadline, so that a timeout covers a whole operation however many
// reads and writes it takes.
#include <sanstls/net/socket.hpp>

#include <sanstls/helpers.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <string>
#include <system_error>
#include <utility>

namespace sanstls::net {

namespace {

using Clock = std::chrono::steady_clock;

// The most plaintext encrypted ahead of the socket in one step: enough for
// four full records, little enough that sendall() of a large buffer does
// not copy it all into memory first.
constexpr std::size_t kSendChunk = 64 * 1024;
constexpr std::size_t kReceiveChunk = 17 * 1024;  // one full TLS record

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_nonblocking(int fd, bool nonblocking) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_errno("fcntl(F_GETFL)");
  int wanted = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) < 0) throw_errno("fcntl(F_SETFL)");
}

bool is_connected(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  return ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
}

bool is_listening(int fd) {
  int value = 0;
  socklen_t len = sizeof value;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0 && value != 0;
}

std::optional<Clock::time_point> deadline_for(std::optional<double> timeout) {
  if (!timeout) return std::nullopt;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(*timeout));
}

// poll_for waits until |fd| has |events| or |deadline| passes; false on
// timeout.
bool poll_for(int fd, short events, std::optional<Clock::time_point> deadline) {
  for (;;) {
    int ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
    }
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw_errno("poll");
  }
}

// connect_with_deadline connects the non-blocking |fd|.
void connect_with_deadline(int fd, const sockaddr* addr, socklen_t len,
                           std::optional<Clock::time_point> deadline) {
  if (::connect(fd, addr, len) == 0) return;
  if (errno != EINPROGRESS && errno != EINTR) throw_errno("connect");
  if (!poll_for(fd, POLLOUT, deadline)) throw TimeoutError("timed out");
  int err = 0;
  socklen_t err_len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) throw_errno("getsockopt");
  if (err != 0) throw std::system_error(err, std::generic_category(), "connect");
}

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const noexcept { ::freeaddrinfo(info); }
};

std::unique_ptr<addrinfo, AddrInfoDeleter> resolve(const std::string& host, std::uint16_t port,
                                                   int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    throw std::system_error(EHOSTUNREACH, std::generic_category(),
                            "getaddrinfo " + host + ": " + ::gai_strerror(rc));
  }
  return std::unique_ptr<addrinfo, AddrInfoDeleter>(result);
}

}  // namespace

// ---- FileDescriptor -------------------------------------------------------

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() { reset(); }

int FileDescriptor::release() noexcept { return std::exchange(fd_, -1); }

void FileDescriptor::reset() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

// ---- Socket ---------------------------------------------------------------

Socket::Socket(const Context& context, FileDescriptor fd, const WrapOptions& options)
    : context_(context),
      options_(options),
      fd_(std::move(fd)),
      object_(context_.wrap_bio(incoming_, outgoing_, options.server_side,
                                options.server_hostname, options.session)) {
  set_nonblocking(fd_.get(), true);
  listening_ = is_listening(fd_.get());
}

Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

Socket wrap_socket(const Context& context, FileDescriptor fd, const WrapOptions& options) {
  if (!fd) throw std::invalid_argument("wrap_socket: not a file descriptor");
  if (options.server_side && options.server_hostname) {
    throw std::invalid_argument("server_hostname can only be specified in client mode");
  }
  Socket socket(context, std::move(fd), options);
  if (options.do_handshake_on_connect && !socket.listening_ && is_connected(socket.fileno())) {
    socket.do_handshake();
  }
  return socket;
}

std::string_view socket_phase_name(SocketPhase phase) noexcept {
  switch (phase) {
    case SocketPhase::unconnected: return "unconnected";
    case SocketPhase::listening: return "listening";
    case SocketPhase::handshaking: return "handshaking";
    case SocketPhase::open: return "open";
    case SocketPhase::unwrapping: return "unwrapping";
    case SocketPhase::unwrapped: return "unwrapped";
    case SocketPhase::closed: return "closed";
    case SocketPhase::failed: return "failed";
  }
  return "unknown";
}

// Worked out when asked, in this one place, from the descriptor and the
// Object's own phase, so that nothing on the data path keeps it up to date.
SocketPhase Socket::phase() const noexcept {
  if (!fd_) return unwrapped_ ? SocketPhase::unwrapped : SocketPhase::closed;
  if (listening_) return SocketPhase::listening;
  switch (object_.phase()) {
    case Phase::fresh:
      return is_connected(fd_.get()) ? SocketPhase::handshaking : SocketPhase::unconnected;
    case Phase::handshaking:
    case Phase::waiting_for_client_hello:
    case Phase::waiting_for_certificate_verify:
    case Phase::waiting_for_private_key:
    case Phase::early_data:
      return SocketPhase::handshaking;
    case Phase::established: return SocketPhase::open;
    // The peer's close_notify alone leaves the socket open: reads end, and
    // unwrap() answers it.
    case Phase::closing: return unwrap_started_ ? SocketPhase::unwrapping : SocketPhase::open;
    // Both alerts are through; ours may still wait in outgoing.
    case Phase::closed: return wants_write() ? SocketPhase::unwrapping : SocketPhase::unwrapped;
    case Phase::failed: return SocketPhase::failed;
  }
  return SocketPhase::failed;
}

int Socket::fileno() const noexcept { return fd_.get(); }
bool Socket::server_side() const noexcept { return options_.server_side; }
const std::optional<std::string>& Socket::server_hostname() const noexcept {
  return object_.server_hostname();
}
const Context& Socket::context() const noexcept { return object_.context(); }
std::size_t Socket::pending() const noexcept { return object_.pending(); }
bool Socket::wants_write() const noexcept { return outgoing_.pending() != 0; }

void Socket::settimeout(std::optional<double> seconds) {
  if (seconds && (!(*seconds >= 0) || std::isinf(*seconds))) {
    throw std::invalid_argument("Timeout value out of range");
  }
  timeout_ = seconds;
}

std::optional<double> Socket::gettimeout() const noexcept { return timeout_; }

bool Socket::flush() {
  while (outgoing_.pending() != 0) {
    std::span<const std::byte> ready = outgoing_.readable();
    ssize_t n = ::send(fd_.get(), ready.data(), ready.size(), MSG_NOSIGNAL);
    if (n > 0) {
      outgoing_.consume(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return false;
    } else if (errno != EINTR) {
      throw_errno("send");
    }
  }
  return true;
}

// receive_some moves what the socket has into incoming: the byte count, 0
// at EOF (incoming then reports EOF), or SIZE_MAX when nothing is there yet.
std::size_t Socket::receive_some() {
  if (incoming_.eof_written()) return 0;
  for (;;) {
    std::span<std::byte> space = incoming_.prepare(kReceiveChunk);
    ssize_t n = ::recv(fd_.get(), space.data(), space.size(), 0);
    const int error = errno;
    // Every path ends the prepared space: space left prepared keeps the
    // buffer, and an idle connection would hold 17 KiB it does not use.
    incoming_.commit(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n > 0) return static_cast<std::size_t>(n);
    errno = error;
    if (n == 0 || errno == ECONNRESET) {
      // A reset is the peer vanishing too; TLS tells a clean close apart.
      incoming_.write_eof();
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SIZE_MAX;
    if (errno != EINTR) throw_errno("recv");
  }
}

template <class Op>
Result Socket::drive(Op op, const char* what) {
  const bool blocking = !timeout_ || *timeout_ > 0;
  const std::optional<Clock::time_point> deadline = deadline_for(timeout_);
  auto wait_for = [&](short events) {
    if (!poll_for(fd_.get(), events, deadline)) {
      throw TimeoutError(std::string("The ") + what + " operation timed out");
    }
  };
  for (;;) {
    Result r = op();
    if (r.status == Status::error) {
      // The alert goes out if the socket takes it; the error is what counts.
      try {
        flush();
      } catch (const std::system_error&) {
      }
      return r;
    }
    if (!flush()) {
      if (!blocking) {
        // The peer cannot answer bytes it has not got: a loop must wait
        // for writability first.
        return r.status == Status::want_read ? Result{Status::want_write, 0, nullptr} : r;
      }
      do {
        wait_for(POLLOUT);
      } while (!flush());
    }
    if (r.status != Status::want_read) return r;
    if (receive_some() != SIZE_MAX) continue;
    if (!blocking) return r;
    wait_for(POLLIN);
  }
}

Result Socket::try_handshake() {
  return drive([this] { return object_.do_handshake(); }, "handshake");
}

void Socket::do_handshake() {
  Result r = drive([this] { return object_.do_handshake(); }, "handshake");
  r.throw_if_error();
}

Result Socket::finish_read(Result r) {
  if (r.status == Status::error && r.error->kind == ErrorKind::eof && options_.suppress_ragged_eofs) {
    return Result{Status::closed, 0, nullptr};
  }
  return r;
}

Result Socket::try_recv_into(std::span<std::byte> buffer) {
  return finish_read(drive([this, buffer] { return object_.read_into(buffer); }, "read"));
}

std::size_t Socket::recv_into(std::span<std::byte> buffer) {
  if (buffer.empty()) return 0;
  Result r = try_recv_into(buffer);
  if (r.status == Status::closed) return 0;
  r.throw_if_error();
  return r.bytes;
}

std::string Socket::recv(std::size_t n) {
  // One read returns one record at most: a larger string would only be
  // allocated and zero-filled (recv(256 KiB) in a loop: 16 times the data).
  std::string out(std::min(n, max_read_size), '\0');
  out.resize(recv_into(std::as_writable_bytes(std::span(out))));
  return out;
}

Result Socket::try_send(std::span<const std::byte> data) {
  // Backpressure: nothing new is encrypted while the socket has not taken
  // what was encrypted before.
  if (!flush()) return Result{Status::want_write, 0, nullptr};
  std::span<const std::byte> chunk = data.first(std::min(data.size(), kSendChunk));
  return drive([this, chunk] { return object_.write(chunk); }, "write");
}

std::size_t Socket::send(std::span<const std::byte> data) {
  const bool blocking = !timeout_ || *timeout_ > 0;
  std::size_t total = 0;
  do {
    if (blocking && !flush()) {
      Result drained = drive([] { return Result{Status::done, 0, nullptr}; }, "write");
      drained.throw_if_error();
    }
    Result r = try_send(data.subspan(total));
    if (r.status != Status::done) {
      if (total != 0) return total;
      r.throw_if_error();
      return 0;
    }
    total += r.bytes;
  } while (blocking && total < data.size());
  return total;
}

void Socket::sendall(std::span<const std::byte> data) {
  std::size_t total = 0;
  while (total < data.size()) total += send(data.subspan(total));
}

Result Socket::try_unwrap() {
  unwrap_started_ = true;
  Result r = drive([this] { return object_.unwrap(); }, "shutdown");
  // Done means both close_notify alerts were exchanged; ours must also have
  // left before the descriptor may be closed or reused for cleartext.
  if (r.status == Status::done && wants_write()) return Result{Status::want_write, 0, nullptr};
  return r;
}

FileDescriptor Socket::unwrap() {
  Result r = try_unwrap();
  r.throw_if_error();
  set_nonblocking(fd_.get(), timeout_ && *timeout_ == 0);
  unwrapped_ = true;
  return std::move(fd_);
}

void Socket::close() noexcept { fd_.reset(); }

void Socket::shutdown(int how) {
  if (::shutdown(fd_.get(), how) != 0) throw_errno("shutdown");
}

void Socket::connect(const std::string& host, std::uint16_t port) {
  int domain = AF_UNSPEC;
  socklen_t len = sizeof domain;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) throw_errno("getsockopt");
  auto addresses = resolve(host, port, domain);
  const std::optional<Clock::time_point> deadline = deadline_for(timeout_);
  std::system_error last(ECONNREFUSED, std::generic_category(), "connect " + host);
  bool connected = false;
  for (addrinfo* a = addresses.get(); a != nullptr && !connected; a = a->ai_next) {
    try {
      connect_with_deadline(fd_.get(), a->ai_addr, a->ai_addrlen, deadline);
      connected = true;
    } catch (const std::system_error& e) {
      last = e;
    }
  }
  if (!connected) throw last;
  if (options_.do_handshake_on_connect) do_handshake();
}

Socket Socket::accept() {
  if (!listening_) {
    throw std::logic_error(std::string("accept: the socket is not listening (it is ") +
                           std::string(socket_phase_name(phase())) + ")");
  }
  const std::optional<Clock::time_point> deadline = deadline_for(timeout_);
  const bool blocking = !timeout_ || *timeout_ > 0;
  for (;;) {
    int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      WrapOptions options = options_;
      options.server_side = true;
      Socket connection(context_, FileDescriptor(fd), options);
      connection.timeout_ = timeout_;
      if (options.do_handshake_on_connect) connection.do_handshake();
      return connection;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("accept");
    if (!blocking) {
      throw std::system_error(EAGAIN, std::generic_category(), "accept");
    }
    if (!poll_for(fd_.get(), POLLIN, deadline)) throw TimeoutError("timed out");
  }
}

FileDescriptor create_connection(const std::string& host, std::uint16_t port,
                                 std::optional<double> timeout) {
  auto addresses = resolve(host, port, AF_UNSPEC);
  const std::optional<Clock::time_point> deadline = deadline_for(timeout);
  std::system_error last(ECONNREFUSED, std::generic_category(), "connect " + host);
  for (addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    FileDescriptor fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) {
      last = std::system_error(errno, std::generic_category(), "socket");
      continue;
    }
    try {
      set_nonblocking(fd.get(), true);
      connect_with_deadline(fd.get(), a->ai_addr, a->ai_addrlen, deadline);
      set_nonblocking(fd.get(), false);
      return fd;
    } catch (const std::system_error& e) {
      last = e;
    }
  }
  throw last;
}

std::string get_server_certificate(const std::string& host, std::uint16_t port,
                                   std::optional<std::string> ca_certs,
                                   std::optional<double> timeout) {
  Context context(Protocol::tls_client);
  if (ca_certs) {
    context.load_verify_locations({.cafile = *ca_certs});
    context.set_check_hostname(false);  // as Python: the chain, not the name
  } else {
    context.set_check_hostname(false);
    context.set_verify_mode(VerifyMode::cert_none);
  }
  Socket tls = wrap_socket(context, create_connection(host, port, timeout),
                           {.server_hostname = host});
  std::optional<std::string> der = tls.getpeercert(binary_form);
  if (!der) throw SSLError(Error{ErrorKind::ssl, "", "", VerifyCode::ok, "", "the server sent no certificate", 0, std::nullopt});
  return der_cert_to_pem_cert(as_bytes(*der));
}

}  // namespace sanstls::net
