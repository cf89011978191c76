// echo_server_common.hpp: what libuv_echo_server and uring_echo_server share.
//
// The two servers are one program on two event loops: the same command
// line, certificates, per-connection states, engine calls and summary. That
// part does not depend on the loop, so it is here once, and each .cpp keeps
// only what its loop decides: how bytes reach the incoming MemoryBIO, how
// the Blocks taken from the outgoing one are sent, and when a connection can
// be freed. Everything is inline: the header is included by one .cpp per
// program and has no library of its own.
#ifndef SANSTLS_EXAMPLES_ECHO_SERVER_COMMON_HPP
#define SANSTLS_EXAMPLES_ECHO_SERVER_COMMON_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

namespace echo_example {

// receive_size is the space each read (a libuv read, an io_uring RECV) is
// offered: several records, so one wake-up can take a burst.
inline constexpr std::size_t receive_size = 64 * 1024;
// stop_reading_above is how much ciphertext may wait to be sent before a
// connection stops reading: a client that sends without reading its echoes
// would otherwise make the server buffer without bound. One read adds at
// most receive_size (plus record overhead) after the check, so a connection
// never holds much more than this.
inline constexpr std::size_t stop_reading_above = 256 * 1024;
// resume_reading_at is where reading starts again; below the stop mark, so
// a connection at the limit does not stop and start for every send.
inline constexpr std::size_t resume_reading_at = 64 * 1024;

// State is where a connection is. drive_engine() below makes the engine's
// transitions; each server's fail() and finish step make the rest.
enum class State {
  handshaking,  // reading the client's flights; do_handshake() until done
  established,  // echoing: read_into() until want_read, write() what came
  closing,      // the peer's close_notify arrived, ours is being sent
  failing,      // an error: the alert (if any) is being sent
  closed,       // done; freed once the loop holds nothing of it any more
};

// state_name names |state| for the logs.
inline std::string_view state_name(State state) {
  switch (state) {
    case State::handshaking: return "handshaking";
    case State::established: return "established";
    case State::closing: return "closing";
    case State::failing: return "failing";
    case State::closed: return "closed";
  }
  return "?";
}

// reads_in returns true in the states that take bytes from the peer.
inline bool reads_in(State state) { return state == State::handshaking || state == State::established; }

// describe says why |r| is not a result the echo loop expects.
inline std::string describe(const sanstls::Result& r) {
  if (r.error) return r.error->message;
  return "unexpected status " + std::string(sanstls::status_name(r.status));
}

// Scratch holds one record's plaintext between read_into and write. A
// server has one: its loop is one thread and serves one connection at a time.
using Scratch = std::array<std::byte, sanstls::max_read_size>;

// drive_engine runs |tls| as far as the bytes in its incoming MemoryBIO
// allow: the handshake, then every complete record, each echoed as it is
// read. It reads until want_read, so nothing decrypted (pending()) or
// complete is left behind when the loop goes back to waiting for the
// socket. It moves |state| to established once the handshake is done, and
// to closing on the peer's close_notify, once ours is queued: the caller
// then stops reading. On any other outcome it returns why, with |state|
// unchanged, for the caller's fail(). What the engine wrote waits in the
// outgoing MemoryBIO for the caller to send.
inline std::optional<std::string> drive_engine(sanstls::Object& tls, State& state, Scratch& scratch) {
  using sanstls::Result;
  using sanstls::Status;
  if (state == State::handshaking) {
    Result r = tls.do_handshake();
    if (r.status == Status::done) {
      state = State::established;
    } else if (r.status != Status::want_read) {
      return describe(r);
    }
  }
  while (state == State::established) {
    Result r = tls.read_into(scratch);
    if (r.status == Status::done) {
      Result w = tls.write(std::span(scratch).first(r.bytes));
      if (w.status != Status::done) return describe(w);
    } else if (r.status == Status::closed) {
      // The peer's close_notify: answer with ours; the caller closes once
      // it has been sent.
      Result u = tls.unwrap();
      if (u.status != Status::done) return describe(u);
      state = State::closing;
    } else if (r.status == Status::want_read) {
      break;
    } else {
      return describe(r);
    }
  }
  return std::nullopt;
}

// log_failure is the line a server logs, once, for a connection that ends
// with an error.
inline void log_failure(const char* program, std::uint64_t id, State state, const std::string& why) {
  std::fprintf(stderr, "%s: connection %llu failed while %s: %s\n", program, static_cast<unsigned long long>(id),
               state_name(state).data(), why.c_str());
}

// Options are the command line's settings.
struct Options {
  std::string ca_out;            // empty: do not write the CA
  std::uint64_t serve = 0;       // 0: serve forever
  std::uint64_t max_clients = 0; // 0: no limit
};

// parse_count reads a non-negative number for |option|.
inline std::uint64_t parse_count(std::string_view option, const char* text) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0' || text[0] == '-') {
    throw std::invalid_argument(std::string(option) + " wants a number, not '" + text + "'");
  }
  return value;
}

// parse_options reads the command line; std::invalid_argument says what is
// wrong with it.
inline Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("unknown or incomplete option " + std::string(arg));
    const char* value = argv[++i];
    if (arg == "--ca-out") {
      options.ca_out = value;
    } else if (arg == "--serve") {
      options.serve = parse_count(arg, value);
    } else if (arg == "--max-clients") {
      options.max_clients = parse_count(arg, value);
    } else {
      throw std::invalid_argument("unknown option " + std::string(arg));
    }
  }
  return options;
}

// server_context makes a CA named |ca_name| and a certificate for
// localhost and 127.0.0.1, returns a server Context with it, and writes
// the CA (PEM) to --ca-out if given. Failures throw.
inline sanstls::Context server_context(std::string_view ca_name, const Options& options) {
  sanstls::testing::CertificateAuthority ca = sanstls::testing::CertificateAuthority::create(ca_name);
  sanstls::testing::Issued cert =
      ca.issue({.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  sanstls::Context ctx(sanstls::Protocol::tls_server);
  ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
  if (!options.ca_out.empty()) {
    std::ofstream out(options.ca_out, std::ios::binary);
    out << ca.certificate_pem();
    out.close();
    if (!out) throw std::runtime_error("cannot write the CA to " + options.ca_out);
  }
  return ctx;
}

// print_listening and print_summary are the lines echo_clients.py reads
// from stdout; each is flushed at once, as stdout is a pipe there.
inline void print_listening(int port) {
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
}

// print_summary's |ended| counts the connections that ended: |clean| with
// a close_notify both ways, |errors| with an error.
inline void print_summary(std::uint64_t ended, std::uint64_t clean, std::uint64_t errors) {
  std::printf("served %llu connections: %llu clean, %llu errors\n", static_cast<unsigned long long>(ended),
              static_cast<unsigned long long>(clean), static_cast<unsigned long long>(errors));
  std::fflush(stdout);
}

// main_with is both servers' main(): a bad command line prints the usage
// and exits 2; otherwise it returns run(options), or 1 if that throws.
template <typename Run>
int main_with(const char* program, int argc, char** argv, Run run) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\nusage: %s [--ca-out FILE] [--serve N] [--max-clients M]\n", program,
                 e.what(), program);
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace echo_example

#endif  // SANSTLS_EXAMPLES_ECHO_SERVER_COMMON_HPP
