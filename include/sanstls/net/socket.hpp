// sanstls/net/socket.hpp: TLS on a POSIX socket, as Python's ssl.SSLSocket
// (library sanstls_net). A Socket drives the same Object an embedder drives
// by hand: it moves bytes between the file descriptor and the Object's
// MemoryBIOs, and throws Python's exceptions.
//
// Example:
//   // A blocking client (create_connection resolves and connects):
//   //   sanstls::Context ctx = sanstls::create_default_context();
//   //   sanstls::net::Socket tls = sanstls::net::wrap_socket(
//   //       ctx, sanstls::net::create_connection("example.com", 443, 10.0),
//   //       {.server_hostname = "example.com"});  // handshakes here
//   //   tls.sendall("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
//   //   std::string reply = tls.recv(4096);
//   //   tls.unwrap();  // close_notify both ways; the plain socket remains
//   auto describe = [](const sanstls::net::Socket& s) {
//     return s.version().value_or("no handshake yet");
//   };
//   (void)describe;
//
// Blocking mode (the default) waits, up to settimeout() when set. In
// non-blocking mode (setblocking(false), or settimeout(0)) the Python-style
// calls throw SSLWantReadError / SSLWantWriteError as Python does, and the
// try_* calls return want_read / want_write for event loops.
//
// Threads: a Socket, as the Object inside it, is used by one thread at a
// time (an accept() loop may hand each new Socket to a thread of its own); it
// may move to another thread between calls, and any number of Sockets may
// share one Context (context.hpp). Nothing here is process-wide: sends use
// MSG_NOSIGNAL rather than a SIGPIPE handler, so wrap_socket,
// create_connection and get_server_certificate may run on any number of
// threads at once.
#ifndef SANSTLS_NET_SOCKET_HPP
#define SANSTLS_NET_SOCKET_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <stdexcept>
#include <string_view>

#include <sanstls/bytes.hpp>
#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/object.hpp>
#include <sanstls/session.hpp>

// sanstls::net is the socket adapter (library sanstls_net): Python's
// SSLSocket on a POSIX descriptor, built on the engine's public API only.
namespace sanstls::net {

// FileDescriptor owns a file descriptor and closes it.
class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  // FileDescriptor takes ownership of |fd|: it is closed with this object.
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  // Moving transfers ownership and leaves |other| empty.
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  // Move assignment closes the descriptor held, then takes |other|'s.
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  // get returns the descriptor, still owned, or -1 when empty.
  int get() const noexcept { return fd_; }
  // release gives up ownership and returns the descriptor.
  int release() noexcept;
  // reset closes the descriptor it holds, if any.
  void reset() noexcept;
  // A FileDescriptor is true while it holds a descriptor.
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// WrapOptions are wrap_socket's keyword arguments, with Python's defaults.
struct WrapOptions {
  // server_side makes the socket the server end of TLS.
  bool server_side = false;
  // do_handshake_on_connect: handshake when wrapping a connected socket,
  // right after connect(), and in accept() before returning.
  bool do_handshake_on_connect = true;
  // suppress_ragged_eofs: an EOF without close_notify reads as the end of
  // the stream (true) or throws SSLEOFError (false).
  bool suppress_ragged_eofs = true;
  // server_hostname is what a client sends as SNI and checks the
  // certificate against, as wrap_bio's.
  std::optional<std::string> server_hostname{};
  // session is a session for a client to offer, as wrap_bio's.
  std::optional<Session> session{};
};

// TimeoutError is Python's socket.timeout: a blocking operation took longer
// than settimeout() allows ("The read operation timed out").
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SocketPhase is where a Socket is in its life, as Socket::phase() reports
// it: the Object's Phase seen from the descriptor's side.
//
//   unconnected --connect()--> handshaking --> open --unwrap()--> unwrapping --> unwrapped
//   listening (accept() returns new Sockets)       any --close()--> closed
//   any --(a fatal TLS error)--> failed
enum class SocketPhase : std::uint8_t {
  unconnected,  // a descriptor that is not connected yet
  listening,    // a listening descriptor: accept() is its only use
  handshaking,  // connected; the handshake is due or under way
  open,         // the handshake is done: data flows
  unwrapping,   // unwrap() sent close_notify and waits for the peer's (or for ours to leave)
  unwrapped,    // TLS is over: the descriptor is cleartext, or was handed back by unwrap()
  closed,       // close() closed the descriptor (or it was moved from)
  failed,       // a fatal TLS error: object().error() says which
};

// socket_phase_name returns |phase|'s name as written above ("open").
std::string_view socket_phase_name(SocketPhase phase) noexcept;

// Socket is Python's SSLSocket: an Object and its MemoryBIOs, driven over a
// descriptor it owns. wrap_socket() makes one; it can be moved, not copied.
class Socket {
 public:
  // Moving hands the descriptor and the connection over; the moved-from
  // Socket is closed.
  Socket(Socket&&) noexcept;
  // Move assignment closes this socket's descriptor (no close_notify)
  // and takes over the moved-from one's.
  Socket& operator=(Socket&&) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  // The destructor closes the descriptor without a close_notify (call
  // unwrap() first for a clean TLS close), as Python's SSLSocket.close().
  ~Socket();

  // connect connects an unconnected socket to |host|:|port| (getaddrinfo,
  // IPv4 and IPv6) and, with do_handshake_on_connect, handshakes. Throws
  // std::system_error when no address connects, and the TLS exceptions.
  void connect(const std::string& host, std::uint16_t port);

  // accept takes the next connection of a listening socket wrapped with
  // server_side, and returns it wrapped with the same options, handshaken
  // when do_handshake_on_connect. Throws what do_handshake throws; the
  // failed connection is closed.
  Socket accept();

  // do_handshake runs the handshake to completion (blocking) or as far as
  // the socket allows (non-blocking: throws SSLWantReadError/WriteError).
  // Callbacks that answer at once (callbacks.hpp) run inside it; one that
  // answers pending makes it throw SSLWantApplicationError in either mode:
  // answer through object() and call it again, or use try_handshake.
  void do_handshake();

  // recv returns up to |n| bytes of application data (at most one record,
  // max_read_size, per call); empty at the end of the stream (close_notify,
  // or EOF when suppress_ragged_eofs).
  std::string recv(std::size_t n = 1024);
  // recv_into reads into |buffer| and returns the byte count; 0 at the end.
  std::size_t recv_into(std::span<std::byte> buffer);
  // read and write are Python's older names for recv and send.
  std::string read(std::size_t n = 1024) { return recv(n); }

  // send encrypts as much of |data| as it takes (blocking: all of it) and
  // returns how much; sendall sends everything or throws.
  std::size_t send(std::span<const std::byte> data);
  // send, as above, for |data| as text.
  std::size_t send(std::string_view data) { return send(as_bytes(data)); }
  // sendall sends all of |data|, calling send until it is through.
  void sendall(std::span<const std::byte> data);
  // sendall, as above, for |data| as text.
  void sendall(std::string_view data) { sendall(as_bytes(data)); }
  // write is Python's older name for send.
  std::size_t write(std::string_view data) { return send(data); }

  // pending returns how many decrypted bytes can be read without waiting
  // for the socket: check it before waiting on readability.
  std::size_t pending() const noexcept;

  // unwrap performs the TLS shutdown (sends close_notify and waits for the
  // peer's) and returns the plain socket, ready for cleartext; this Socket
  // is closed afterwards. Non-blocking, it throws SSLWantReadError /
  // SSLWantWriteError until both alerts are through, as Python's.
  FileDescriptor unwrap();

  // close closes the descriptor without a close_notify.
  void close() noexcept;
  // shutdown shuts down the socket's read and/or write side (SHUT_RD,
  // SHUT_WR, SHUT_RDWR), without TLS.
  void shutdown(int how);

  // settimeout sets the timeout of blocking operations in seconds; nothing
  // means wait forever, 0 means non-blocking. gettimeout returns it.
  void settimeout(std::optional<double> seconds);
  // gettimeout returns what settimeout() set: nothing, or the seconds.
  std::optional<double> gettimeout() const noexcept;
  // setblocking(true) is settimeout(nothing), setblocking(false) settimeout(0).
  void setblocking(bool blocking) { settimeout(blocking ? std::nullopt : std::optional<double>(0.0)); }

  // ---- Event-loop interface: never throws for want_read / want_write ----

  // try_handshake, try_recv_into and try_send make one attempt: they move
  // what the socket takes without waiting and return the Object's status
  // (want_read: wait until readable; want_write: wait until writable;
  // want_private_key, want_certificate_verify, want_client_hello: answer
  // the callback through object().complete_*, then call again). On a
  // blocking socket they wait for the network as the Python-style calls
  // do, and return only a callback's wait.
  Result try_handshake();
  // try_recv_into reads into |buffer| as Object::read_into does, and
  // returns closed (0 bytes) at the end of the stream.
  Result try_recv_into(std::span<std::byte> buffer);
  // try_send encrypts up to 64 KiB of |data| (bytes says how much), but
  // only once the socket has taken what was encrypted before: it returns
  // want_write until then.
  Result try_send(std::span<const std::byte> data);
  // try_unwrap sends close_notify and returns done once the peer's arrived
  // and ours has left (want_read / want_write until then); the descriptor
  // stays open until close().
  Result try_unwrap();
  // wants_write returns true while encrypted bytes wait to be sent.
  bool wants_write() const noexcept;
  // flush sends what the socket takes now; true when nothing is left.
  bool flush();

  // ---- The Object's queries ----------------------------------------------

  // fileno returns the descriptor, for poll() or epoll; -1 once closed.
  int fileno() const noexcept;
  // phase returns where the socket is in its life (see SocketPhase).
  SocketPhase phase() const noexcept;
  // server_side returns true for the server end of the connection.
  bool server_side() const noexcept;
  // server_hostname returns the name the socket was wrapped with, if any.
  const std::optional<std::string>& server_hostname() const noexcept;
  // context returns the Context the socket was wrapped with.
  const Context& context() const noexcept;
  // version returns "TLSv1.3", ... once the handshake is complete.
  std::optional<std::string> version() const { return object_.version(); }
  // cipher returns the negotiated cipher suite, as Object::cipher().
  std::optional<Cipher> cipher() const { return object_.cipher(); }
  // selected_alpn_protocol returns the protocol both sides agreed on.
  std::optional<std::string> selected_alpn_protocol() const { return object_.selected_alpn_protocol(); }
  // getpeercert returns the peer's certificate decoded, as Object's does.
  std::optional<Certificate> getpeercert() const { return object_.getpeercert(); }
  // getpeercert(binary_form) returns its DER bytes, verified or not.
  std::optional<std::string> getpeercert(binary_form_t) const { return object_.getpeercert(binary_form); }
  // session returns the session to offer on a later connection.
  std::optional<Session> session() const { return object_.session(); }
  // session_reused returns true when the handshake resumed a session.
  bool session_reused() const noexcept { return object_.session_reused(); }
  // get_channel_binding returns the channel binding data of |type|, as
  // Object::get_channel_binding().
  std::optional<std::string> get_channel_binding(std::string_view type = "tls-unique") const {
    return object_.get_channel_binding(type);
  }
  // object returns the Object underneath, for everything else.
  Object& object() noexcept { return object_; }
  // object, as above, for a const Socket.
  const Object& object() const noexcept { return object_; }

 private:
  friend Socket wrap_socket(const Context& context, FileDescriptor fd, const WrapOptions& options);
  Socket(const Context& context, FileDescriptor fd, const WrapOptions& options);

  template <class Op>
  Result drive(Op op, const char* what);
  std::size_t receive_some();
  Result finish_read(Result r);

  Context context_;
  WrapOptions options_;
  FileDescriptor fd_;
  MemoryBIO incoming_;
  MemoryBIO outgoing_;
  Object object_;
  std::optional<double> timeout_;
  bool listening_ = false;
  bool unwrap_started_ = false;  // try_unwrap ran: our close_notify is on its way
  bool unwrapped_ = false;       // unwrap() handed the descriptor back
};

// wrap_socket wraps |fd| (connected, unconnected or listening) as Python's
// SSLContext.wrap_socket. A connected socket is handshaken now when
// do_handshake_on_connect. Throws std::invalid_argument as wrap_bio does,
// and the TLS exceptions of the handshake.
Socket wrap_socket(const Context& context, FileDescriptor fd, const WrapOptions& options = {});

// create_connection connects a TCP socket to |host|:|port|, trying every
// address getaddrinfo gives (IPv6 and IPv4) in order, each with |timeout|
// seconds when given. Throws std::system_error with the last failure.
FileDescriptor create_connection(const std::string& host, std::uint16_t port,
                                 std::optional<double> timeout = std::nullopt);

// get_server_certificate connects to |host|:|port|, handshakes (verifying
// against |ca_certs| when given, else not at all) and returns the server's
// certificate as PEM, as Python's ssl.get_server_certificate.
std::string get_server_certificate(const std::string& host, std::uint16_t port,
                                   std::optional<std::string> ca_certs = std::nullopt,
                                   std::optional<double> timeout = std::nullopt);

}  // namespace sanstls::net

#endif  // SANSTLS_NET_SOCKET_HPP
