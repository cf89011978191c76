// Connections for the hostile-client tests: a bare TCP socket an attacker
// writes anything to, a sanstls Object driven over one (so that a test can
// put forged records between its own), and a well-behaved bystander on
// net::Socket. Every wait has a deadline: a server that hangs fails a
// test, it does not stop it.
#ifndef SANSTLS_TEST_HOSTILE_WIRE_HPP
#define SANSTLS_TEST_HOSTILE_WIRE_HPP

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sanstls/context.hpp>
#include <sanstls/net/socket.hpp>
#include <sanstls/object.hpp>

namespace hostile {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Ending is how a connection ended as its client saw it.
enum class Ending {
  open,   // nothing yet: the deadline passed first
  eof,    // the server closed it (FIN)
  reset,  // the server reset it (RST), as closing with unread input does
};

// ending_name returns "open", "eof" or "reset".
std::string_view ending_name(Ending ending) noexcept;

// End is what a client saw until its connection ended.
struct End {
  Ending ending = Ending::open;
  std::string received;  // the bytes that arrived meanwhile
  double seconds = 0;    // how long the wait took
};

// RawConnection is a TCP connection to 127.0.0.1 that sends whatever it
// is given: the attacker's side. Blocking, with deadlines.
class RawConnection {
 public:
  // Options are socket settings made before connecting.
  struct Options {
    // receive_buffer and send_buffer set SO_RCVBUF and SO_SNDBUF, which
    // also stops the kernel from growing them (to 32 MiB on this machine).
    std::optional<int> receive_buffer{};
    std::optional<int> send_buffer{};
    // no_delay sets TCP_NODELAY: each write leaves as a segment of its own.
    bool no_delay = false;
  };

  // RawConnection connects to 127.0.0.1:|port|. Throws std::system_error.
  explicit RawConnection(std::uint16_t port);
  // As above, with |options|.
  RawConnection(std::uint16_t port, const Options& options);

  // fd returns the socket.
  int fd() const noexcept { return fd_.get(); }
  // local_port is the client's port: the server's log names it.
  std::uint16_t local_port() const noexcept { return local_port_; }

  // send_all writes all of |data|, waiting up to |timeout| for room.
  // Returns false when the server dropped the connection first (EPIPE,
  // ECONNRESET); throws on timeout.
  bool send_all(std::string_view data, std::chrono::milliseconds timeout = 60s);

  // receive waits up to |timeout| for bytes and appends them to |out|.
  // Returns open when bytes arrived or the time ran out, eof or reset when
  // the connection ended.
  Ending receive(std::string& out, std::chrono::milliseconds timeout);

  // wait_end reads until the server closes or resets the connection, or
  // |timeout| passes, keeping what arrives.
  End wait_end(std::chrono::milliseconds timeout = 60s);

  // shutdown_write sends FIN: a half-close.
  void shutdown_write();
  // reset closes the socket with SO_LINGER {1, 0}, so the server gets an
  // RST instead of a FIN.
  void reset() noexcept;

 private:
  sanstls::net::FileDescriptor fd_;
  std::uint16_t local_port_ = 0;
};

// TlsClient is a client Object driven over a RawConnection by hand, so
// that a test can write the Object's records as it likes (one byte per
// TCP segment) and add forged ones between them.
class TlsClient {
 public:
  // TlsClient connects to |port| and wraps a client Object of |context|
  // for "localhost"; the handshake is the test's to run.
  TlsClient(const sanstls::Context& context, std::uint16_t port,
            const RawConnection::Options& options = {});

  // handshake runs the handshake to completion, sending each byte in a
  // write of its own when |one_byte_writes|. Throws std::runtime_error
  // when it fails or takes more than |timeout|.
  void handshake(bool one_byte_writes = false, std::chrono::milliseconds timeout = 60s);

  // write encrypts |data| with the Object and sends it, a byte per write
  // when |one_byte_writes|.
  void write(std::string_view data, bool one_byte_writes = false);

  // read_exactly returns the next |n| bytes of plaintext the server sends.
  // Throws std::runtime_error when the connection fails or ends first, or
  // after |timeout|.
  std::string read_exactly(std::size_t n, std::chrono::milliseconds timeout = 60s);

  // outcome hands what |end| received to the Object and says what the
  // Object makes of it: the message of the error it reports (an alert the
  // server sent arrives as "[SSL: TLSV1_ALERT_...]" or
  // "[SSL: SSLV3_ALERT_...]"), "closed" for a close_notify, or "nothing"
  // when it found no end in those bytes.
  std::string outcome(const End& end);

  // take_outgoing returns what the Object has written and not been sent,
  // for a test to send with something of its own.
  std::string take_outgoing() { return outgoing_.read(); }

  // object returns the Object.
  sanstls::Object& object() noexcept { return object_; }
  // raw returns the connection underneath.
  RawConnection& raw() noexcept { return raw_; }

 private:
  void send_outgoing(bool one_byte_writes);

  RawConnection raw_;
  sanstls::MemoryBIO incoming_;
  sanstls::MemoryBIO outgoing_;
  sanstls::Object object_;
};

// Bystander is a well-behaved client on net::Socket, verifying the
// server's certificate against the test CA: it is connected before an
// attack and must still be served during and after it.
class Bystander {
 public:
  // Bystander connects to |port| and handshakes, giving up after 60
  // seconds. Throws what net::Socket throws.
  explicit Bystander(std::uint16_t port);

  // echo sends |text| and returns what came back, as many bytes as were
  // sent (or fewer, when the connection ended first).
  std::string echo(std::string_view text);

  // close sends close_notify, reads the server's and closes.
  void close();

  // local_port is the bystander's port, as the server logs it.
  std::uint16_t local_port() const noexcept { return local_port_; }
  // socket returns the connection, for what echo() and close() do not do.
  sanstls::net::Socket& socket() noexcept { return socket_; }

 private:
  sanstls::net::Socket socket_;
  std::uint16_t local_port_ = 0;
};

// client_context returns a client context that trusts the test CA; with
// |tls12_only|, limited to TLS 1.2 and ECDHE-ECDSA-AES128-GCM-SHA256 (the
// suite a forged TLS 1.2 record uses).
sanstls::Context client_context(bool tls12_only = false);

}  // namespace hostile

#endif  // SANSTLS_TEST_HOSTILE_WIRE_HPP
