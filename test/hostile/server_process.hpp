// A `sanstls server` started by a test: the hostile-client tests attack it
// over loopback and read what it logs, what it reports on SIGUSR1 and what
// /proc says about its memory.
#ifndef SANSTLS_TEST_HOSTILE_SERVER_PROCESS_HPP
#define SANSTLS_TEST_HOSTILE_SERVER_PROCESS_HPP

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../support.hpp"

namespace hostile {

using namespace std::chrono_literals;

// Status is the server's answer to SIGUSR1 ("sanstls server: status:
// open=N handshaking=N accepted=N finished=N dropped=N heap=BYTES|n/a
// rss=BYTES").
struct Status {
  std::size_t open = 0;
  std::size_t handshaking = 0;
  std::size_t accepted = 0;
  std::size_t finished = 0;
  std::size_t dropped = 0;
  // heap is what malloc has handed out (mallinfo2), or nothing when the
  // server cannot tell ("heap=n/a" under sanitizers, whose allocator is
  // their own).
  std::optional<std::uint64_t> heap;
  std::uint64_t rss = 0;
  std::string line;  // the line itself, for failure messages
};

// Memory is the server's resident set as /proc/PID/status reports it.
struct Memory {
  std::uint64_t rss = 0;       // VmRSS, bytes
  std::uint64_t peak_rss = 0;  // VmHWM: the most it has ever been resident, bytes
};

// ServerProcess runs `sanstls server` (the tool $SANSTLS_TOOL names) with
// pki().server's certificate on a free port, with short timeouts so that
// the tests wait seconds, not minutes:
//   --handshake-timeout 2 --stall-timeout 2
// Its standard error goes to a file the test reads line by line. The
// destructor stops it (SIGTERM, then SIGKILL) and reaps it, so a failed
// REQUIRE leaves no server behind; and the server is killed when the
// thread that started it ends, so a test killed by its timeout does not
// leave one either (start it on the test's own thread).
class ServerProcess {
 public:
  // handshake_timeout and stall_timeout are the server's options of those
  // names, in seconds. Throws std::runtime_error, with the server's log,
  // when it does not print its "listening on" line within 30 seconds.
  explicit ServerProcess(int handshake_timeout = 2, int stall_timeout = 2);
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // port is where the server listens on 127.0.0.1.
  std::uint16_t port() const noexcept { return port_; }
  // pid is the server's process id.
  pid_t pid() const noexcept { return pid_; }
  // ca_file is a PEM file holding the CA that issued the server's
  // certificate, for peers that verify it (openssl s_client).
  const std::string& ca_file() const noexcept { return ca_file_; }

  // log returns the complete lines the server has written to standard
  // error so far (a line still being written is left out).
  std::vector<std::string> log() const;
  // log_text returns the whole log as one string, for failure messages.
  std::string log_text() const;

  // wait_for_line waits up to |timeout| for a log line that |matches|
  // and returns it; nothing when none came or the server exited.
  std::optional<std::string> wait_for_line(const std::function<bool(std::string_view)>& matches,
                                           std::chrono::milliseconds timeout = 60s) const;
  // line_about waits for the line the server logs when it is done with the
  // connection from 127.0.0.1:|client_port| ("[#N 127.0.0.1:PORT] ...").
  std::optional<std::string> line_about(std::uint16_t client_port,
                                        std::chrono::milliseconds timeout = 60s) const;
  // lines_about returns every line logged so far about the connection from
  // 127.0.0.1:|client_port|, without waiting.
  std::vector<std::string> lines_about(std::uint16_t client_port) const;

  // status sends SIGUSR1 and returns the status line it answers with.
  // Throws std::runtime_error when none comes within 30 seconds.
  Status status() const;
  // memory reads the server's /proc/PID/status.
  Memory memory() const;

  // running returns true while the server has not exited.
  bool running() const;
  // stop sends SIGTERM and returns the exit status as waitpid gives it
  // (SIGKILL after 20 seconds without exiting).
  int stop();

 private:
  test::TempDir dir_;
  std::string ca_file_;
  std::string log_file_;
  pid_t pid_ = -1;
  mutable std::optional<int> exit_status_;  // set once reaped
  std::uint16_t port_ = 0;
};

// sanitized is true when this program, and with it the server of the same
// build, runs under AddressSanitizer: resident memory then includes its
// shadow memory and the quarantine of freed blocks, and the server has no
// heap figure.
bool sanitized() noexcept;

// describe_bytes says |bytes| in KiB or MiB, for messages.
std::string describe_bytes(std::uint64_t bytes);

}  // namespace hostile

#endif  // SANSTLS_TEST_HOSTILE_SERVER_PROCESS_HPP
