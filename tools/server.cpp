// sanstls server --cert F --key F: a TLS echo (or tiny HTTP) server on
// 127.0.0.1 for trying out clients. One thread serves every client at once:
// a level-triggered epoll loop drives each connection's non-blocking
// net::Socket with the try_* calls, through the states of Connection.
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/net/socket.hpp>

#include "commands.hpp"

namespace {

using sanstls_tool::UsageError;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view usage_text =
    "usage: sanstls server --cert FILE --key FILE [options]\n"
    "\n"
    "Listens on 127.0.0.1, prints \"listening on 127.0.0.1:PORT\" as its first\n"
    "line, and serves any number of TLS clients at once from one thread: it\n"
    "echoes what each client sends until the client closes, or with --http\n"
    "answers one HTTP request and closes. A client that fails is logged to\n"
    "standard error and dropped. SIGINT and SIGTERM stop the server; SIGUSR1\n"
    "writes a status line to standard error:\n"
    "  sanstls server: status: open=N handshaking=N accepted=N finished=N\n"
    "  dropped=N heap=BYTES rss=BYTES\n"
    "(heap: what malloc has handed out and not taken back, from mallinfo2;\n"
    "n/a under sanitizers).\n"
    "The server raises its open-file limit (RLIMIT_NOFILE) to the hard limit,\n"
    "since each connection holds a descriptor.\n"
    "\n"
    "options:\n"
    "  --cert FILE           the server's certificate chain (PEM)\n"
    "  --key FILE            its private key (PEM)\n"
    "  --port PORT           the port to listen on (default 0: a free one)\n"
    "  --alpn P1,P2          accept these ALPN protocols, preferred first\n"
    "  --cafile FILE         ask clients for a certificate and verify it\n"
    "                        against the CA certificates in FILE\n"
    "  --verify-client       require a client certificate (needs --cafile)\n"
    "  --http                answer the first request with \"HTTP/1.0 200 OK\"\n"
    "  --early-data          accept TLS 1.3 early data (0-RTT; each ticket's\n"
    "                        once) and treat it as the start of what the\n"
    "                        client sends; the log line says what became of it\n"
    "  --ocsp-response FILE  staple the OCSP response in FILE (DER) to clients\n"
    "                        that ask for one\n"
    "  --sct FILE            send the SignedCertificateTimestampList in FILE\n"
    "                        (RFC 6962's TLS encoding) to clients that ask\n"
    "  --compress-cert ALGS  compress the certificate (TLS 1.3, RFC 8879) for\n"
    "                        clients that offer one of ALGS (zlib,brotli; the\n"
    "                        first preferred); the log line says which was used\n"
    "  --ech-key FILE        decrypt Encrypted Client Hellos with the keys in FILE\n"
    "                        (PEM, as sanstls ech-keygen writes it); the log line\n"
    "                        says ech=accepted or ech=not-accepted\n"
    "  --max-connections N   exit once N connections have finished\n"
    "  --handshake-timeout S drop a client whose handshake takes longer than S\n"
    "                        seconds (default 10)\n"
    "  --stall-timeout S     drop a client that reads nothing the server sends\n"
    "                        for S seconds (default 30)\n";

struct Options {
  std::string cert;
  std::string key;
  std::uint16_t port = 0;
  std::vector<std::string> alpn;
  std::optional<std::string> cafile;
  bool verify_client = false;
  bool http = false;
  bool early_data = false;
  std::optional<std::string> ocsp_response;  // file names
  std::optional<std::string> sct;
  std::vector<sanstls::CertificateCompression> compress_cert;
  std::optional<std::string> ech_key;  // a file name
  std::optional<std::size_t> max_connections;
  std::chrono::duration<double> handshake_timeout{10.0};
  std::chrono::duration<double> stall_timeout{30.0};
};

std::chrono::duration<double> parse_seconds(std::string_view option, const std::string& text) {
  double seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || !(seconds > 0) || seconds > 1e6) {
    std::string message = "'";
    message += text;
    message += "' is not a number of seconds for ";
    message += option;
    throw UsageError(message);
  }
  return std::chrono::duration<double>(seconds);
}

Options parse(int argc, char** argv) {
  sanstls_tool::Arguments args(argc, argv);
  Options o;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  while (!args.done()) {
    std::string_view arg = args.next();
    if (arg == "--cert") {
      cert = args.value(arg);
    } else if (arg == "--key") {
      key = args.value(arg);
    } else if (arg == "--port") {
      o.port = sanstls_tool::parse_port(args.value(arg), true);
    } else if (arg == "--alpn") {
      o.alpn = sanstls_tool::split_list(args.value(arg));
    } else if (arg == "--cafile") {
      o.cafile = args.value(arg);
    } else if (arg == "--verify-client") {
      o.verify_client = true;
    } else if (arg == "--http") {
      o.http = true;
    } else if (arg == "--early-data") {
      o.early_data = true;
    } else if (arg == "--ocsp-response") {
      o.ocsp_response = args.value(arg);
    } else if (arg == "--sct") {
      o.sct = args.value(arg);
    } else if (arg == "--compress-cert") {
      o.compress_cert = sanstls_tool::parse_compression(args.value(arg));
    } else if (arg == "--ech-key") {
      o.ech_key = args.value(arg);
    } else if (arg == "--max-connections") {
      std::string text = args.value(arg);
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n == 0) {
        throw UsageError("'" + text + "' is not a positive number of connections");
      }
      o.max_connections = n;
    } else if (arg == "--handshake-timeout") {
      o.handshake_timeout = parse_seconds(arg, args.value(arg));
    } else if (arg == "--stall-timeout") {
      o.stall_timeout = parse_seconds(arg, args.value(arg));
    } else {
      throw UsageError("unexpected argument '" + args.operand(arg) + "'");
    }
  }
  if (!cert || !key) throw UsageError("--cert and --key are required");
  if (o.verify_client && !o.cafile) throw UsageError("--verify-client needs --cafile");
  o.cert = *cert;
  o.key = *key;
  return o;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string read_binary_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_errno("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- One connection -------------------------------------------------------

// State is where a connection is; each has one function in Server.
enum class State {
  handshaking,  // until the handshake completes
  reading,      // echo: reading and echoing; --http: reading the request
  flushing,     // sending what is queued (the echo's rest, the response)
  closing,      // close_notify sent, waiting for the client's
};

std::string_view state_name(State state) {
  switch (state) {
    case State::handshaking: return "handshaking";
    case State::reading: return "reading";
    case State::flushing: return "flushing";
    case State::closing: return "closing";
  }
  return "?";
}

// How long a connection may stay in a state before it is dropped; reading
// an echo has no limit (an idle client may stay), but a client that stops
// reading what it is sent is dropped after --stall-timeout in any state.
std::optional<Clock::duration> time_limit(State state, const Options& options) {
  switch (state) {
    case State::handshaking:
      return std::chrono::duration_cast<Clock::duration>(options.handshake_timeout);
    case State::reading: return options.http ? std::optional<Clock::duration>(10s) : std::nullopt;
    case State::flushing: return std::nullopt;  // the stall timeout bounds it
    case State::closing: return 5s;
  }
  return std::nullopt;
}

// RequestHead finds the end of an HTTP request head (--http): the request
// line and header lines up to an empty line. A line may end in CRLF or in a
// bare LF, as many test tools send (RFC 9112 section 2.2 lets a recipient
// take LF alone as the end of a line), and empty lines before the request
// line are skipped (the same section). It reads each byte once, however
// the request is split across records.
class RequestHead {
 public:
  // complete reads what |request| gained since the last call and returns
  // true once the head has ended.
  bool complete(std::string_view request) {
    for (; scanned_ < request.size() && where_ != Where::done; ++scanned_) {
      char c = request[scanned_];
      switch (where_) {
        case Where::before: where_ = c == '\r' || c == '\n' ? Where::before : Where::in_line; break;
        case Where::in_line: where_ = c == '\n' ? Where::line_ended : Where::in_line; break;
        case Where::line_ended:
          where_ = c == '\n' ? Where::done : c == '\r' ? Where::empty_line_cr : Where::in_line;
          break;
        case Where::empty_line_cr: where_ = c == '\n' ? Where::done : Where::in_line; break;
        case Where::done: break;
      }
    }
    return where_ == Where::done;
  }

 private:
  enum class Where { before, in_line, line_ended, empty_line_cr, done };
  Where where_ = Where::before;
  std::size_t scanned_ = 0;
};

struct Connection {
  std::uint64_t id = 0;
  std::string peer;  // "127.0.0.1:54321", for the log
  int fd = -1;       // registered with epoll until the connection is dropped
  sanstls::net::Socket tls;
  sanstls::net::FileDescriptor unwrapped{};  // the plain socket after unwrap()
  State state = State::handshaking;
  std::optional<Clock::time_point> deadline{};
  // Since when the connection has made no progress sending (set while
  // epoll waits for EPOLLOUT, restarted each time it fires or the kernel's
  // send queue shrinks): a client that reads nothing stalls here, and holds
  // at most the socket buffers, one record queued and the Socket's 64 KiB.
  std::optional<Clock::time_point> waiting_to_write{};
  int send_queue = -1;  // the kernel's send queue then (SIOCOUTQ)
  std::uint32_t events = 0;  // what epoll waits for
  std::string queued{};      // plaintext waiting to be sent
  std::size_t queued_sent = 0;
  std::string request{};  // --http: the request read so far
  RequestHead head{};     // --http: where the request head ends
  std::size_t bytes_in = 0;
  std::size_t bytes_out = 0;
  std::size_t early_bytes = 0;  // --early-data: how much came as 0-RTT data
};

// What a state function achieved.
enum class Step {
  again,     // the state changed: run the new state's function now
  wait,      // wait for epoll (the socket wants read or write)
  yield,     // more to do, but let the other connections have a turn
  finished,  // the connection is done: close it
};

// ConnectionFailure drops one connection with a message for the log.
class ConnectionFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string describe_peer(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

// send_queue_bytes returns the bytes the kernel still holds to send on
// |fd| (sent but not yet acknowledged, or not yet sent), or -1.
int send_queue_bytes(int fd) {
  int bytes = 0;
  return ::ioctl(fd, SIOCOUTQ, &bytes) == 0 ? bytes : -1;
}

std::string http_response(const sanstls::net::Socket& tls) {
  std::optional<sanstls::Cipher> cipher = tls.cipher();
  std::string body = "Hello from sanstls.\nTLS version: " + tls.version().value_or("?") +
                     "\ncipher: " + (cipher ? cipher->name : "?") + "\n";
  if (std::optional<std::string> alpn = tls.selected_alpn_protocol()) body += "ALPN: " + *alpn + "\n";
  return "HTTP/1.0 200 OK\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(body.size()) +
         "\r\n"
         "Connection: close\r\n"
         "\r\n" +
         body;
}

// ---- The server ------------------------------------------------------------

constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kSignalId = 1;
constexpr std::size_t kMaxRequest = 16 * 1024;
constexpr int kReadsPerTurn = 32;
constexpr std::size_t kTrimAfter = 1024;  // connections at once

class Server {
 public:
  Server(const Options& options, sanstls::Context context)
      : options_(options), context_(std::move(context)) {}

  int run();

 private:
  void listen();
  void watch(int fd, std::uint64_t id, std::uint32_t events);
  void accept_all();
  void advance(std::uint64_t id);
  Step step(Connection& c);
  Step on_handshaking(Connection& c);
  Step on_reading(Connection& c);
  Step on_flushing(Connection& c);
  Step on_closing(Connection& c);
  bool send_queued(Connection& c);
  void take_early_data(Connection& c);
  void enter(Connection& c, State state);
  void finish(std::uint64_t id, const std::string& failure);
  void check_deadlines();
  void print_status() const;
  void log(const Connection& c, std::string_view what) const {
    std::cerr << "sanstls server: [#" << c.id - kSignalId << ' ' << c.peer << "] " << what << '\n';
  }

  Options options_;
  sanstls::Context context_;
  sanstls::net::FileDescriptor epoll_;
  sanstls::net::FileDescriptor listener_;
  sanstls::net::FileDescriptor signals_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::uint64_t> ready_;  // connections that yielded
  std::uint64_t next_id_ = kSignalId + 1;
  std::size_t accepted_ = 0;
  std::size_t finished_ = 0;
  std::size_t dropped_ = 0;
  std::size_t peak_open_ = 0;  // since the last malloc_trim
  std::optional<Clock::time_point> accept_paused_until_;
  Clock::time_point deadlines_checked_{};
  std::array<std::byte, 16384> buffer_{};
};

void Server::watch(int fd, std::uint64_t id, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno("epoll_ctl");
}

void Server::listen() {
  listener_ = sanstls::net::FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_) throw_errno("socket");
  int one = 1;
  if (::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    throw_errno("setsockopt");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options_.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("cannot listen on 127.0.0.1 port " + std::to_string(options_.port));
  }
  if (::listen(listener_.get(), SOMAXCONN) != 0) throw_errno("listen");
  socklen_t length = sizeof address;
  if (::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw_errno("getsockname");
  }
  std::cout << "listening on 127.0.0.1:" << ntohs(address.sin_port) << std::endl;
}

int Server::run() {
  // SIGINT and SIGTERM arrive through a signalfd, as events of the loop.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);
  if (::sigprocmask(SIG_BLOCK, &stop_signals, nullptr) != 0) throw_errno("sigprocmask");
  ::signal(SIGPIPE, SIG_IGN);
  signals_ = sanstls::net::FileDescriptor(::signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signals_) throw_errno("signalfd");
  epoll_ = sanstls::net::FileDescriptor(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw_errno("epoll_create1");

  listen();
  watch(listener_.get(), kListenerId, EPOLLIN);
  watch(signals_.get(), kSignalId, EPOLLIN);

  std::array<epoll_event, 64> events{};
  for (;;) {
    int timeout_ms = ready_.empty() ? 250 : 0;
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("epoll_wait");
    }
    std::vector<std::uint64_t> yielded = std::move(ready_);
    ready_.clear();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
      if (id == kSignalId) {
        signalfd_siginfo info{};
        if (::read(signals_.get(), &info, sizeof info) == sizeof info) {
          if (info.ssi_signo == SIGUSR1) {
            print_status();
            continue;
          }
          std::cerr << "sanstls server: " << ::strsignal(static_cast<int>(info.ssi_signo))
                    << ", stopping with " << connections_.size() << " connection(s) open\n";
          return 0;
        }
      } else if (id == kListenerId) {
        accept_all();
      } else {
        if (events[static_cast<std::size_t>(i)].events & EPOLLOUT) {
          // The socket took bytes again: the stall clock restarts.
          auto found = connections_.find(id);
          if (found != connections_.end()) found->second->waiting_to_write.reset();
        }
        advance(id);
      }
    }
    for (std::uint64_t id : yielded) advance(id);
    // Limits are whole seconds or tenths: with 10,000 connections a scan
    // after every wake-up would cost more than the events it follows.
    if (Clock::now() - deadlines_checked_ >= 100ms) check_deadlines();
    if (options_.max_connections && finished_ >= *options_.max_connections) {
      std::cerr << "sanstls server: " << finished_ << " connection(s) served, exiting\n";
      return 0;
    }
  }
}

void Server::accept_all() {
  while (listener_) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors (or worse): stop accepting for a moment rather
      // than spin on a listener that stays readable.
      std::cerr << "sanstls server: accept: " << std::strerror(errno) << '\n';
      (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
      accept_paused_until_ = Clock::now() + 100ms;
      return;
    }
    std::unique_ptr<Connection> c;
    try {
      c = std::make_unique<Connection>(Connection{
          .id = next_id_,
          .peer = describe_peer(address),
          .fd = fd,
          .tls = sanstls::net::wrap_socket(context_, sanstls::net::FileDescriptor(fd),
                                           {.server_side = true, .do_handshake_on_connect = false}),
      });
      c->tls.setblocking(false);
    } catch (const std::exception& e) {
      // The descriptor is closed by now, with whatever failed to hold it.
      std::cerr << "sanstls server: [" << describe_peer(address) << "] " << e.what() << '\n';
      continue;
    }
    ++next_id_;
    ++accepted_;
    const std::uint64_t id = c->id;
    enter(*c, State::handshaking);
    c->events = EPOLLIN;
    watch(fd, id, c->events);
    connections_.emplace(id, std::move(c));
    peak_open_ = std::max(peak_open_, connections_.size());
    if (options_.max_connections && accepted_ >= *options_.max_connections) {
      // Enough: the listener closes, the accepted connections finish.
      (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
      listener_.reset();
    }
    advance(id);
  }
}

void Server::enter(Connection& c, State state) {
  c.state = state;
  std::optional<Clock::duration> limit = time_limit(state, options_);
  c.deadline = limit ? std::optional<Clock::time_point>(Clock::now() + *limit) : std::nullopt;
}

void Server::advance(std::uint64_t id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;  // dropped earlier in this round
  Connection& c = *found->second;
  std::string failure;
  try {
    for (;;) {
      Step s = step(c);
      if (s == Step::again) continue;
      if (s == Step::finished) break;
      if (s == Step::yield) ready_.push_back(id);
      // Level-triggered: wait for writability only while bytes wait to be
      // sent (a drive that cannot flush does not read either), else for
      // readability.
      std::uint32_t wanted = c.tls.wants_write() ? EPOLLOUT : EPOLLIN;
      if (wanted == EPOLLIN) {
        c.waiting_to_write.reset();
      } else if (!c.waiting_to_write) {
        c.waiting_to_write = Clock::now();
        c.send_queue = send_queue_bytes(c.fd);
      }
      if (wanted != c.events) {
        epoll_event event{};
        event.events = wanted;
        event.data.u64 = id;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd, &event) != 0) throw_errno("epoll_ctl");
        c.events = wanted;
      }
      return;
    }
  } catch (const ConnectionFailure& e) {
    failure = e.what();
  } catch (const std::exception& e) {
    failure = std::string(state_name(c.state)) + ": " + e.what();
  }
  finish(id, failure);
}

Step Server::step(Connection& c) {
  switch (c.state) {
    case State::handshaking: return on_handshaking(c);
    case State::reading: return on_reading(c);
    case State::flushing: return on_flushing(c);
    case State::closing: return on_closing(c);
  }
  return Step::finished;
}

Step Server::on_handshaking(Connection& c) {
  sanstls::Result r = c.tls.try_handshake();
  if (options_.early_data) take_early_data(c);
  switch (r.status) {
    case sanstls::Status::done: enter(c, State::reading); return Step::again;
    case sanstls::Status::want_read:
    case sanstls::Status::want_write: return Step::wait;
    case sanstls::Status::closed: throw ConnectionFailure("the client closed during the handshake");
    case sanstls::Status::want_private_key:
    case sanstls::Status::want_certificate_verify:
    case sanstls::Status::want_client_hello:
    case sanstls::Status::early_data_rejected:
      // This server installs no callback that answers later, and a server
      // is never told that its early data was rejected.
      throw ConnectionFailure("the handshake waits for the application: " +
                              std::string(sanstls::status_name(r.status)));
    case sanstls::Status::error: break;
  }
  throw ConnectionFailure("handshake failed: " + r.error->message);
}

Step Server::on_reading(Connection& c) {
  for (int turn = 0; turn < kReadsPerTurn; ++turn) {
    if (!send_queued(c)) return Step::wait;
    // Checked before reading, too: 0-RTT data may have brought the whole
    // request before the handshake finished.
    if (options_.http && c.head.complete(c.request)) {
      c.queued = http_response(c.tls);
      enter(c, State::flushing);
      return Step::again;
    }
    sanstls::Result r = c.tls.try_recv_into(buffer_);
    switch (r.status) {
      case sanstls::Status::done: {
        std::string_view data = sanstls::as_string_view(std::span(buffer_).first(r.bytes));
        c.bytes_in += r.bytes;
        if (!options_.http) {
          // Echo straight from the read buffer when nothing waits before
          // it; only what the socket cannot take yet is kept.
          std::size_t sent = 0;
          if (c.queued.empty()) {
            sanstls::Result w = c.tls.try_send(std::span(buffer_).first(r.bytes));
            if (w.status == sanstls::Status::error) throw ConnectionFailure(std::string(state_name(c.state)) + ": " + w.error->message);
            if (w.status == sanstls::Status::done) sent = w.bytes;
            c.bytes_out += sent;
          }
          c.queued.append(data.substr(sent));
          continue;
        }
        c.request.append(data);
        if (c.request.size() > kMaxRequest && !c.head.complete(c.request)) {
          throw ConnectionFailure("the request head is too large");
        }
        continue;
      }
      case sanstls::Status::closed:
        // The client's close_notify (or EOF): send the rest, then ours.
        enter(c, State::flushing);
        return Step::again;
      case sanstls::Status::want_read:
      case sanstls::Status::want_write: return Step::wait;
      case sanstls::Status::error:
        throw ConnectionFailure(std::string(state_name(c.state)) + ": " + r.error->message);
      case sanstls::Status::want_private_key:
      case sanstls::Status::want_certificate_verify:
      case sanstls::Status::want_client_hello:
      case sanstls::Status::early_data_rejected:
        throw ConnectionFailure("a read waits for the application: " +
                                std::string(sanstls::status_name(r.status)));
    }
  }
  return Step::yield;
}

// take_early_data takes the 0-RTT data that has arrived as the start of
// the client's input, as soon as it arrives: before the handshake is done.
void Server::take_early_data(Connection& c) {
  for (;;) {
    sanstls::Result r = c.tls.object().read_early_data(buffer_);
    if (r.status != sanstls::Status::done) return;
    std::string_view data = sanstls::as_string_view(std::span(buffer_).first(r.bytes));
    c.bytes_in += r.bytes;
    c.early_bytes += r.bytes;
    (options_.http ? c.request : c.queued).append(data);
  }
}

Step Server::on_flushing(Connection& c) {
  if (!send_queued(c)) return Step::wait;
  enter(c, State::closing);
  return Step::again;
}

Step Server::on_closing(Connection& c) {
  // Socket::unwrap() in non-blocking mode makes one attempt, as the try_*
  // calls do, and says what it waits for with SSLWantRead/WriteError.
  try {
    c.unwrapped = c.tls.unwrap();
    // A non-blocking unwrap() reports done even when the socket did not
    // take the whole close_notify; hand over the rest once, best effort.
    if (c.tls.wants_write()) {
      sanstls::MemoryBIO outgoing = c.tls.object().outgoing();
      std::span<const std::byte> rest = outgoing.readable();
      ssize_t sent = ::send(c.unwrapped.get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) outgoing.consume(static_cast<std::size_t>(sent));
    }
    return Step::finished;
  } catch (const sanstls::SSLWantReadError&) {
    return Step::wait;
  } catch (const sanstls::SSLWantWriteError&) {
    return Step::wait;
  } catch (const sanstls::SSLEOFError&) {
    return Step::finished;  // the client left without its close_notify: common
  } catch (const std::system_error&) {
    return Step::finished;  // or reset the connection: ours was sent
  }
}

// send_queued sends what is queued; false while the socket cannot take it.
bool Server::send_queued(Connection& c) {
  while (c.queued_sent < c.queued.size()) {
    sanstls::Result w = c.tls.try_send(sanstls::as_bytes(std::string_view(c.queued).substr(c.queued_sent)));
    if (w.status == sanstls::Status::error) throw ConnectionFailure(std::string(state_name(c.state)) + ": " + w.error->message);
    if (w.status != sanstls::Status::done) return false;
    c.queued_sent += w.bytes;
    c.bytes_out += w.bytes;
  }
  // Released, not cleared: an idle connection should not keep the
  // capacity of the largest burst it ever queued.
  std::string().swap(c.queued);
  c.queued_sent = 0;
  return !c.tls.wants_write() || c.tls.flush();
}

void Server::finish(std::uint64_t id, const std::string& failure) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  Connection& c = *found->second;
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd, nullptr);
  if (!failure.empty()) {
    log(c, "dropped: " + failure);
    ++dropped_;
  } else {
    std::optional<sanstls::Cipher> cipher = c.tls.cipher();
    std::string early;
    if (options_.early_data) {
      early = ", early-data=" + std::string(sanstls_tool::early_data_name(c.tls.object().early_data().status));
      if (c.early_bytes != 0) early += " (" + std::to_string(c.early_bytes) + " bytes)";
    }
    if (options_.ech_key) early += c.tls.object().ech_accepted() ? ", ech=accepted" : ", ech=not-accepted";
    if (!options_.compress_cert.empty()) {
      early += ", cert-compression=" +
               std::string(sanstls_tool::compression_name(c.tls.object().certificate_compression()));
    }
    log(c, c.tls.version().value_or("?") + " " + (cipher ? cipher->name : "?") + ", " +
               std::to_string(c.bytes_in) + " bytes in, " + std::to_string(c.bytes_out) +
               " bytes out" + early + ", closed");
  }
  connections_.erase(found);
  ++finished_;
  if (connections_.empty() && peak_open_ >= kTrimAfter) {
    // After a crowd has left, give its pages back: malloc keeps a
    // fragmented heap resident (10,000 idle connections left ~90 MB).
    ::malloc_trim(0);
    peak_open_ = 0;
  }
}

void Server::check_deadlines() {
  const Clock::time_point now = Clock::now();
  deadlines_checked_ = now;
  if (accept_paused_until_ && now >= *accept_paused_until_ && listener_) {
    accept_paused_until_.reset();
    watch(listener_.get(), kListenerId, EPOLLIN);
  }
  std::vector<std::pair<std::uint64_t, std::string>> expired;
  for (const auto& [id, c] : connections_) {
    if (c->deadline && now >= *c->deadline) {
      expired.emplace_back(id, std::string(state_name(c->state)) + ": timed out");
    } else if (c->waiting_to_write && now - *c->waiting_to_write >= options_.stall_timeout) {
      // Linux reports a socket writable only once a third of its send
      // buffer (up to 4 MiB) is free, so a client reading slowly but
      // steadily may not make it writable for a long time: the bytes
      // leaving the kernel's queue are what show it reads.
      const int queued = send_queue_bytes(c->fd);
      if (queued >= 0 && queued < c->send_queue) {
        c->waiting_to_write = now;
        c->send_queue = queued;
        continue;
      }
      std::string why(state_name(c->state));
      why += ": the client stopped reading (nothing sent for ";
      why += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - *c->waiting_to_write).count());
      why += " s)";
      expired.emplace_back(id, std::move(why));
    }
  }
  for (const auto& [id, why] : expired) finish(id, why);
}

// print_status answers SIGUSR1, for load tools and operators: how many
// connections are where, and what they cost the process.
void Server::print_status() const {
  std::size_t handshaking = 0;
  for (const auto& [id, c] : connections_) handshaking += c->state == State::handshaking ? 1 : 0;
  const struct mallinfo2 heap = ::mallinfo2();
  const std::size_t heap_bytes = heap.uordblks + heap.hblkhd;
  long pages = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages >> pages;  // size, then resident
  std::cerr << "sanstls server: status: open=" << connections_.size() << " handshaking=" << handshaking
            << " accepted=" << accepted_ << " finished=" << finished_ << " dropped=" << dropped_
            // A sanitizer's allocator answers mallinfo2 with zeros.
            << " heap=" << (heap_bytes != 0 ? std::to_string(heap_bytes) : std::string("n/a"))
            << " rss=" << static_cast<unsigned long>(pages) * static_cast<unsigned long>(::sysconf(_SC_PAGESIZE))
            << std::endl;
}

// raise_file_limit lets the server hold as many connections as the hard
// limit allows (the soft limit is often 1,024); failing to is not fatal.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int run_server(int argc, char** argv) {
  return sanstls_tool::command_main("server", usage_text, argc, argv, &parse,
                                     [&](const Options& options) -> int {
    try {
      sanstls::Context context = sanstls::create_default_context(sanstls::Purpose::client_auth);
      context.load_cert_chain(options.cert, options.key);
      if (!options.alpn.empty()) context.set_alpn_protocols(options.alpn);
      if (options.early_data) context.set_early_data_enabled(true);
      if (options.ocsp_response) {
        context.set_ocsp_response(sanstls::as_bytes(read_binary_file(*options.ocsp_response)));
      }
      if (options.sct) context.set_signed_certificate_timestamps(sanstls::as_bytes(read_binary_file(*options.sct)));
      context.set_certificate_compression(options.compress_cert);
      if (options.ech_key) {
        try {
          context.set_ech_keys(sanstls::EchKeys::from_pem(read_binary_file(*options.ech_key)));
        } catch (const std::invalid_argument& e) {
          throw std::runtime_error(*options.ech_key + ": " + e.what());
        }
      }
      if (options.cafile) {
        context.load_verify_locations({.cafile = options.cafile});
        context.set_verify_mode(options.verify_client ? sanstls::VerifyMode::cert_required
                                                      : sanstls::VerifyMode::cert_optional);
      }
      raise_file_limit();
      Server server(options, std::move(context));
      return server.run();
    } catch (const std::exception& e) {
      std::cerr << "sanstls server: " << e.what() << '\n';
    }
    return 1;
  });
}
