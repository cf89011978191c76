// sanstls-load conns: many concurrent TLS connections to a server process
// this program starts (issue 15). It opens N connections on loopback from a
// few epoll threads, each connection a non-blocking net::Socket driven by
// the try_* calls (the library's own event-loop API), holds them idle or
// echoing, and reports handshakes per second, handshake latency, and what
// the server process spends per connection. `sanstls-load conns --help`
// for the options; bench/README.md for the method and the results.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/net/socket.hpp>
#include <sanstls/testing/certificates.hpp>

#include "load.hpp"

#ifndef SANSTLS_LOAD_SERVER
#define SANSTLS_LOAD_SERVER "sanstls"
#endif
#ifndef SANSTLS_LOAD_BORINGSSL
#define SANSTLS_LOAD_BORINGSSL "unknown"
#endif

namespace sanstls_load {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;
using namespace std::chrono_literals;

constexpr std::string_view usage_text =
    "usage: sanstls-load conns [options]\n"
    "\n"
    "Starts a TLS server on 127.0.0.1 (`sanstls server`, or `openssl s_server`)\n"
    "with a certificate made on the fly, opens --connections TLS connections to\n"
    "it from a few epoll threads (non-blocking sanstls::net::Socket), holds them\n"
    "idle or echoing, closes them with close_notify, and stops the server. It\n"
    "prints BENCH lines as sanstls-bench does:\n"
    "\n"
    "  conns_<N>_idle  handshakes/s, p50/p99 handshake latency (connect() to\n"
    "                  done), and the server's resident memory (VmRSS) and heap\n"
    "                  (malloc's bytes in use, from its SIGUSR1 status line) per\n"
    "                  connection once all are handshaken and idle, beyond its\n"
    "                  baseline (see --no-warm-up)\n"
    "  conns_<N>_echo  (--hold echo) messages sent and echoed, p50/p99 and max\n"
    "                  echo round trip, stalls, and the server's memory growth\n"
    "\n"
    "Exit status 0 when every connection handshook, every echo came back intact\n"
    "and in time, the server's open count returned to 0 after the close, and the\n"
    "server was alive until this program stopped it; 1 otherwise; 2 for a bad\n"
    "command line. Everything is bounded: each handshake by --handshake-timeout,\n"
    "each echo by --stall-seconds, the close by 30 s, the whole run by\n"
    "--max-seconds. After the first failed handshake no new connection is opened.\n"
    "\n"
    "Descriptors and ports: each connection takes a descriptor here and one in\n"
    "the server. This program raises its own RLIMIT_NOFILE soft limit to the hard\n"
    "limit (setrlimit) before it starts the server, which inherits the raised\n"
    "limit (`sanstls server` also raises its own), and refuses to run when\n"
    "N + 64 exceeds the hard limit: raise that first (as root: `ulimit -Hn`, or\n"
    "/etc/security/limits.conf). Each connection also takes a local port from\n"
    "/proc/sys/net/ipv4/ip_local_port_range; N must fit in it.\n"
    "\n"
    "options:\n"
    "  --connections N        concurrent connections (default 1000)\n"
    "  --hold idle|echo       what the connections do once open (default idle)\n"
    "  --seconds S            how long to hold them (default 10)\n"
    "  --message-size B       echo: bytes each connection sends per message\n"
    "                         (default 1024); the echo is checked byte for byte\n"
    "  --interval S           echo: seconds between one connection's messages\n"
    "                         (default 1); the connections' turns are spread\n"
    "                         evenly over the interval\n"
    "  --stall-seconds S      an echo not back within S seconds is a stall, which\n"
    "                         fails the run (default 10)\n"
    "  --concurrency N        handshakes in flight at once, so that the listen\n"
    "                         backlog never overflows (default 256); the latency\n"
    "                         includes waiting behind the others in flight\n"
    "  --threads N            client epoll threads (default 1)\n"
    "  --handshake-timeout S  seconds a connection may take from connect() to\n"
    "                         the end of its handshake (default 10)\n"
    "  --tls12                use TLS 1.2 (default: TLS 1.3)\n"
    "  --server sanstls|openssl\n"
    "                         the server to load (default sanstls). openssl\n"
    "                         s_server serves one client at a time: expect one\n"
    "                         connection, the rest timing out; idle only\n"
    "  --sanstls PATH         the sanstls CLI (default: the one built with this\n"
    "                         program)\n"
    "  --openssl PATH         the openssl program (default openssl, from PATH)\n"
    "  --sample-seconds S     sample the server's memory every S seconds while\n"
    "                         holding (default 5)\n"
    "  --max-rss-per-conn-kib K\n"
    "                         fail when the server's RSS per connection exceeds K\n"
    "  --no-warm-up           take the server's baseline right after it listens;\n"
    "                         by default one connection is opened, handshaken\n"
    "                         and closed first, so that what the server sets up\n"
    "                         once, on its first connection, is not counted per\n"
    "                         connection\n"
    "  --max-seconds S        hard limit on the whole run (default 900)\n";

// UsageError is a bad command line: usage text and exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ServerKind { sanstls, openssl };
enum class Hold { idle, echo };

struct Options {
  std::size_t connections = 1000;
  Hold hold = Hold::idle;
  double seconds = 10;
  std::size_t message_size = 1024;
  double interval = 1;
  double stall_seconds = 10;
  std::size_t concurrency = 256;
  std::size_t threads = 1;
  double handshake_timeout = 10;
  bool tls12 = false;
  ServerKind server = ServerKind::sanstls;
  std::string sanstls_path = SANSTLS_LOAD_SERVER;
  std::string openssl_path = "openssl";
  double sample_seconds = 5;
  std::optional<double> max_rss_per_conn_kib;
  double max_seconds = 900;
  bool warm_up = true;
};

template <class T>
T parse_number(std::string_view option, std::string_view text, T low, T high) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= low) || !(value <= high)) {
    std::ostringstream why;
    why << option << ": '" << text << "' is not a number from " << low << " to " << high;
    throw UsageError(why.str());
  }
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError("option " + std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--connections") {
      o.connections = parse_number<std::size_t>(arg, value(), 1, 1'000'000);
    } else if (arg == "--hold") {
      const std::string_view v = value();
      if (v != "idle" && v != "echo") throw UsageError("--hold: idle or echo, not '" + std::string(v) + "'");
      o.hold = v == "echo" ? Hold::echo : Hold::idle;
    } else if (arg == "--seconds") {
      o.seconds = parse_number<double>(arg, value(), 0, 86400);
    } else if (arg == "--message-size") {
      o.message_size = parse_number<std::size_t>(arg, value(), 1, 1 << 20);
    } else if (arg == "--interval") {
      o.interval = parse_number<double>(arg, value(), 0.001, 3600);
    } else if (arg == "--stall-seconds") {
      o.stall_seconds = parse_number<double>(arg, value(), 0.001, 3600);
    } else if (arg == "--concurrency") {
      o.concurrency = parse_number<std::size_t>(arg, value(), 1, 100'000);
    } else if (arg == "--threads") {
      o.threads = parse_number<std::size_t>(arg, value(), 1, 64);
    } else if (arg == "--handshake-timeout") {
      o.handshake_timeout = parse_number<double>(arg, value(), 0.001, 3600);
    } else if (arg == "--tls12") {
      o.tls12 = true;
    } else if (arg == "--server") {
      const std::string_view v = value();
      if (v != "sanstls" && v != "openssl") {
        throw UsageError("--server: sanstls or openssl, not '" + std::string(v) + "'");
      }
      o.server = v == "openssl" ? ServerKind::openssl : ServerKind::sanstls;
    } else if (arg == "--sanstls") {
      o.sanstls_path = value();
    } else if (arg == "--openssl") {
      o.openssl_path = value();
    } else if (arg == "--sample-seconds") {
      o.sample_seconds = parse_number<double>(arg, value(), 0.1, 3600);
    } else if (arg == "--max-rss-per-conn-kib") {
      o.max_rss_per_conn_kib = parse_number<double>(arg, value(), 0, 1e9);
    } else if (arg == "--no-warm-up") {
      o.warm_up = false;
    } else if (arg == "--max-seconds") {
      o.max_seconds = parse_number<double>(arg, value(), 1, 86400 * 7);
    } else {
      throw UsageError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (o.server == ServerKind::openssl && o.hold == Hold::echo) {
    throw UsageError(
        "--hold echo needs an echo server: openssl s_server does not echo (its -rev "
        "mode reverses lines); use --hold idle");
  }
  return o;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// ---- Small helpers ----------------------------------------------------------

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// scenario_count writes N as the scenario names do: "10k" for 10000.
std::string scenario_count(std::size_t n) {
  return n % 1000 == 0 ? std::to_string(n / 1000) + "k" : std::to_string(n);
}

// percentile returns the q-quantile (0..1) of |values| by nearest rank;
// reorders |values|.
double percentile(std::vector<float>& values, double q) {
  if (values.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  rank = std::clamp<std::size_t>(rank, 1, values.size()) - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

double milliseconds(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

// process_cpu_seconds returns the user and system time of |pid| so far.
std::optional<double> process_cpu_seconds(pid_t pid) {
  const std::string stat = read_whole_file("/proc/" + std::to_string(pid) + "/stat");
  // Fields after the command name, which may hold spaces but ends at the
  // last ')': state is field 3, utime 14, stime 15.
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::vector<std::string> f;
  for (std::string field; fields >> field;) f.push_back(field);
  if (f.size() < 13) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Stop requests from SIGINT and SIGTERM: the run ends early, still cleaning up.
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler writes it");

void on_stop_signal(int) { interrupted.store(true); }

// StopSignals routes SIGINT and SIGTERM to |interrupted| while it lives.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction action {};
    action.sa_handler = &on_stop_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// ---- The temporary directory ------------------------------------------------

// TempDir is a private directory (mkdtemp, mode 0700) for the certificate,
// the key and the server's output; it is removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sanstls-load-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& name : files_) ::unlink((path_ + "/" + name).c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // file returns the path of |name| in the directory, to be removed with it.
  std::string file(const std::string& name) {
    files_.push_back(name);
    return path_ + "/" + name;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// ---- The server process -------------------------------------------------------

// ServerStatus is the status line `sanstls server` writes to standard error
// on SIGUSR1: "sanstls server: status: open=N handshaking=N accepted=N
// finished=N heap=BYTES rss=BYTES".
struct ServerStatus {
  std::map<std::string, std::uint64_t, std::less<>> values;
  std::uint64_t get(std::string_view key) const {
    auto found = values.find(key);
    return found == values.end() ? 0 : found->second;
  }
};

// ServerProcess is the server child: started with fork and exec, its
// standard output and error going to files (which cannot fill up as a pipe
// would while no one reads). The destructor stops it (SIGTERM, then SIGKILL)
// and reaps it, on every way out of the run; and PR_SET_PDEATHSIG kills it
// should this program die without running destructors.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& argv, const std::string& out_path,
                const std::string& err_path)
      : out_path_(out_path), err_path_(err_path) {
    // The server's standard input is a pipe that never delivers anything
    // nor ends: openssl s_server reads its terminal input from there, and
    // would stop at EOF (or spin on /dev/null with -ign_eof).
    int input[2];
    if (::pipe2(input, O_CLOEXEC) != 0) throw_errno("pipe");
    stdin_read_ = sanstls::net::FileDescriptor(input[0]);
    stdin_write_ = sanstls::net::FileDescriptor(input[1]);
    sanstls::net::FileDescriptor out(
        ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    sanstls::net::FileDescriptor err(
        ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out || !err) throw_errno("open " + out_path);
    // Everything the child needs is prepared before fork: after it, the
    // child makes only async-signal-safe calls.
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      if (::dup2(stdin_read_.get(), 0) < 0 || ::dup2(out.get(), 1) < 0 || ::dup2(err.get(), 2) < 0) {
        ::_exit(127);
      }
      ::execvp(args[0], args.data());
      static constexpr char message[] = "sanstls-load: cannot run the server program\n";
      (void)!::write(2, message, sizeof message - 1);
      ::_exit(127);
    }
    stdin_read_.reset();
  }

  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // alive returns false once the server has exited (and reaps it).
  bool alive() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
    }
    return !exited_;
  }

  // describe_exit says how the server ended, for a failure message.
  std::string describe_exit() const {
    if (!exited_) return "running";
    if (WIFEXITED(exit_status_)) return "exited with status " + std::to_string(WEXITSTATUS(exit_status_));
    if (WIFSIGNALED(exit_status_)) {
      return "was killed by signal " + std::to_string(WTERMSIG(exit_status_)) + " (" +
             ::strsignal(WTERMSIG(exit_status_)) + ")";
    }
    return "ended";
  }

  // stop ends the server: SIGTERM, up to 3 s to exit, then SIGKILL.
  void stop() noexcept {
    if (pid_ <= 0 || exited_) return;
    ::kill(pid_, SIGTERM);
    const Clock::time_point give_up = Clock::now() + 3s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() >= give_up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    exited_ = true;
    exit_status_ = status;
  }

  // wait_for_output waits until the server's standard output holds a line
  // starting with |prefix| and returns the rest of that line; nothing when
  // the server exits first or |timeout| passes.
  std::optional<std::string> wait_for_output(std::string_view prefix, Clock::duration timeout) {
    const Clock::time_point give_up = Clock::now() + timeout;
    for (;;) {
      std::istringstream lines(read_whole_file(out_path_));
      for (std::string line; std::getline(lines, line);) {
        if (line.starts_with(prefix) && !lines.eof()) return line.substr(prefix.size());
      }
      if (!alive() || Clock::now() >= give_up) return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
  }

  // rss_kib returns the server's resident memory (VmRSS) in KiB.
  std::optional<double> rss_kib() const {
    std::istringstream status(read_whole_file("/proc/" + std::to_string(pid_) + "/status"));
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("VmRSS:")) return std::stod(line.substr(6));
    }
    return std::nullopt;
  }

  // status asks `sanstls server` for its status line (SIGUSR1) and waits up
  // to |timeout| for it. Only for a server that handles SIGUSR1: it kills
  // any other.
  std::optional<ServerStatus> status(Clock::duration timeout) {
    scan_stderr();  // what was written before the request is not the answer
    if (::kill(pid_, SIGUSR1) != 0) return std::nullopt;
    const Clock::time_point give_up = Clock::now() + timeout;
    for (;;) {
      if (std::optional<ServerStatus> s = scan_stderr()) return s;
      if (!alive() || Clock::now() >= give_up) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }

  // dropped returns how many connections the server logged as dropped,
  // and the first such line.
  std::pair<std::size_t, std::string> dropped() {
    (void)scan_stderr();
    return {dropped_, first_dropped_};
  }

  // stderr_tail returns the last lines the server wrote to standard error.
  std::string stderr_tail(std::size_t max_lines) const {
    std::istringstream in(read_whole_file(err_path_));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::string tail;
    for (std::size_t i = lines.size() > max_lines ? lines.size() - max_lines : 0; i < lines.size(); ++i) {
      tail += "#   " + lines[i] + "\n";
    }
    return tail;
  }

 private:
  // scan_stderr reads the server's new complete lines of standard error,
  // counts the dropped connections and returns the last status line, if any.
  std::optional<ServerStatus> scan_stderr() {
    std::ifstream in(err_path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(err_offset_));
    std::ostringstream more;
    more << in.rdbuf();
    partial_ += more.str();
    std::optional<ServerStatus> status;
    std::size_t start = 0;
    for (std::size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string_view line = std::string_view(partial_).substr(start, end - start);
      constexpr std::string_view kStatus = "sanstls server: status:";
      if (line.starts_with(kStatus)) {
        ServerStatus s;
        std::istringstream fields{std::string(line.substr(kStatus.size()))};
        for (std::string field; fields >> field;) {
          const std::size_t eq = field.find('=');
          if (eq == std::string::npos) continue;
          s.values[field.substr(0, eq)] = std::strtoull(field.c_str() + eq + 1, nullptr, 10);
        }
        status = std::move(s);
      } else if (line.find("] dropped: ") != std::string_view::npos) {
        if (dropped_++ == 0) first_dropped_ = std::string(line);
      }
    }
    err_offset_ += more.str().size();
    partial_.erase(0, start);
    return status;
  }

  std::string out_path_;
  std::string err_path_;
  sanstls::net::FileDescriptor stdin_read_;
  sanstls::net::FileDescriptor stdin_write_;  // held open: the server's input never ends
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;
  std::size_t err_offset_ = 0;
  std::string partial_;
  std::size_t dropped_ = 0;
  std::string first_dropped_;
};

// supports_status returns true when `sanstls server --help` mentions
// SIGUSR1: signalling a server that does not handle it would kill it.
bool supports_status(const std::string& sanstls_path, TempDir& dir) {
  const std::string out = dir.file("server-help.out");
  const std::string err = dir.file("server-help.err");
  ServerProcess help({sanstls_path, "server", "--help"}, out, err);
  const Clock::time_point give_up = Clock::now() + 10s;
  while (help.alive() && Clock::now() < give_up) std::this_thread::sleep_for(10ms);
  return (read_whole_file(out) + read_whole_file(err)).find("SIGUSR1") != std::string::npos;
}

// ---- The echo messages ------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// fill_message writes bytes [offset, offset + out.size()) of message |seq|
// of connection |connection|. Every message of every connection differs, so
// an echo that went to the wrong connection, or came back out of order,
// does not compare equal; any byte range can be made on its own, as the
// echo arrives in pieces.
void fill_message(std::size_t connection, std::uint32_t seq, std::size_t offset, std::span<std::byte> out) {
  const std::uint64_t seed = splitmix64((static_cast<std::uint64_t>(connection) << 32) | seq);
  std::size_t p = offset;
  for (std::byte& b : out) {
    const std::uint64_t block = splitmix64(seed + p / 8);
    b = static_cast<std::byte>(block >> (8 * (p % 8)));
    ++p;
  }
}

// ---- One client connection ------------------------------------------------------

// State is where a client connection is; each has one function in Worker.
enum class State : std::uint8_t {
  waiting,      // not started yet
  connecting,   // TCP connect() under way
  handshaking,  // connected: the TLS handshake is under way
  open,         // handshaken: idle, or echoing messages
  closing,      // close_notify sent: waiting for the server's
  closed,       // closed cleanly: the descriptor is closed
  failed,       // failed (failures say why): the descriptor is closed
};
constexpr std::size_t kStates = 7;

std::string_view state_name(State state) {
  switch (state) {
    case State::waiting: return "waiting";
    case State::connecting: return "connecting";
    case State::handshaking: return "handshaking";
    case State::open: return "open";
    case State::closing: return "closing";
    case State::closed: return "closed";
    case State::failed: return "failed";
  }
  return "?";
}

// An echo connection may have this many messages out at once; at its next
// turn beyond that it skips a message (counted in skipped).
constexpr std::size_t kMaxOutstanding = 4;

struct Connection {
  std::optional<sanstls::net::Socket> tls{};
  State state = State::waiting;
  std::uint32_t events = 0;   // what epoll waits for; 0 while not registered
  Clock::time_point since{};  // when connect() or the close started
  // Echo: messages are numbered from 0; sent counts those started,
  // echoed those that came back whole.
  std::uint32_t sent = 0;
  std::uint32_t echoed = 0;
  std::size_t send_offset = 0;  // bytes of message sent - 1 handed to the Socket
  std::size_t received = 0;     // bytes of message |echoed| back so far
  std::array<Clock::time_point, kMaxOutstanding> sent_at{};
};

// Failure ends one connection with a message for the report.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// WorkerStats is what one worker saw; the run adds them up.
struct WorkerStats {
  std::size_t established = 0;
  std::size_t failed = 0;
  std::size_t handshake_timeouts = 0;
  std::size_t not_attempted = 0;
  std::size_t closed = 0;
  std::optional<Clock::time_point> first_connect;
  std::optional<Clock::time_point> last_established;
  std::vector<float> handshake_ms;
  std::uint64_t sent = 0;
  std::uint64_t echoed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t stalls = 0;
  std::vector<float> echo_ms;
  double echo_max_ms = 0;
  std::vector<std::string> failures;  // the first few, for the report
  std::string crash;                  // an exception that ended the worker
};

// Plan is what every worker shares, read-only while they run.
struct Plan {
  const Options& options;
  const sanstls::Context& context;
  sockaddr_in server{};
  std::atomic<bool>& abort;  // the run is over: the server died, time ran out, or ^C
};

// Worker drives connections [first, first + count) from one thread, with
// its own level-triggered epoll set. Its phases (establish, hold_idle,
// hold_echo, close_all) run one after another, each on a thread the run
// starts for it; between phases the run reads its stats.
class Worker {
 public:
  Worker(const Plan& plan, std::size_t first, std::size_t count, std::size_t max_in_flight)
      : plan_(plan), first_(first), conns_(count), max_in_flight_(max_in_flight) {
    epoll_ = sanstls::net::FileDescriptor(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    stats_.handshake_ms.reserve(count);
  }

  const WorkerStats& stats() const noexcept { return stats_; }
  WorkerStats& stats() noexcept { return stats_; }

  // establish opens every connection, at most max_in_flight handshaking at
  // once, and returns once all are open or failed (after a failure, none
  // more is started).
  void establish() {
    while (!plan_.abort.load()) {
      while (!gave_up_ && next_ < conns_.size() && in_flight() < max_in_flight_) start(next_++);
      if (in_flight() == 0 && (next_ == conns_.size() || gave_up_)) break;
      poll_events(20);
      check_deadlines();
    }
    stats_.not_attempted = conns_.size() - next_;
  }

  // hold_idle serves the open connections (session tickets arrive now)
  // until |until| or |stop|.
  void hold_idle(Clock::time_point until, const std::atomic<bool>& stop) {
    while (!plan_.abort.load() && !stop.load()) {
      const Clock::duration left = until - Clock::now();
      if (left <= Clock::duration::zero()) break;
      poll_events(static_cast<int>(
          std::min<std::int64_t>(100, std::chrono::ceil<std::chrono::milliseconds>(left).count())));
      check_deadlines();
    }
  }

  // hold_echo has each open connection send a message every interval, the
  // turns of all connections of the run spread evenly over the interval,
  // from |begin_at| until |end_at|; then it waits for the echoes still out (a
  // stall fails its connection, which bounds the wait).
  void hold_echo(Clock::time_point begin_at, Clock::time_point end_at) {
    const std::size_t total = plan_.options.connections;
    const Seconds interval(plan_.options.interval);
    std::uint64_t round = 0;
    std::size_t cursor = 0;
    bool sending = true;
    while (!plan_.abort.load()) {
      Clock::time_point now = Clock::now();
      Clock::time_point next_due = now + 10ms;
      while (sending) {
        const Clock::time_point due =
            begin_at + std::chrono::duration_cast<Clock::duration>(
                           interval * (static_cast<double>(round) +
                                       static_cast<double>(first_ + cursor) / static_cast<double>(total)));
        if (due >= end_at) {
          sending = false;
          break;
        }
        if (due > now) {
          next_due = std::min(next_due, due);
          break;
        }
        start_message(cursor);
        if (++cursor == conns_.size()) {
          cursor = 0;
          ++round;
        }
      }
      if (!sending && outstanding_ == 0) break;
      now = Clock::now();
      poll_events(sending ? static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(
                                                 std::max(next_due - now, Clock::duration::zero()))
                                                 .count())
                          : 50);
      check_deadlines();
    }
  }

  // close_all closes every open connection with close_notify both ways
  // and waits until each is closed or has failed.
  void close_all() {
    for (std::size_t j = 0; j < conns_.size(); ++j) {
      if (conns_[j].state != State::open) continue;
      enter(conns_[j], State::closing);
      advance(j);
    }
    while (!plan_.abort.load() && in_state_[static_cast<std::size_t>(State::closing)] != 0) {
      poll_events(50);
      check_deadlines();
    }
  }

 private:
  enum class Step {
    again,     // the state changed: run the new state's function now
    wait,      // wait for epoll
    finished,  // the connection is closed or failed
  };

  std::size_t in_flight() const noexcept {
    return in_state_[static_cast<std::size_t>(State::connecting)] +
           in_state_[static_cast<std::size_t>(State::handshaking)];
  }

  // enter moves |c| to |state|, keeping the count per state. The time a
  // state started is kept for connecting, whose clock the handshake
  // latency and timeout continue through handshaking, and for closing.
  void enter(Connection& c, State state) {
    --in_state_[static_cast<std::size_t>(c.state)];
    ++in_state_[static_cast<std::size_t>(state)];
    c.state = state;
    if (state == State::connecting || state == State::closing) c.since = Clock::now();
  }

  // start wraps a new socket and connects it; the handshake starts once
  // the TCP connection is up.
  void start(std::size_t j) {
    Connection& c = conns_[j];
    try {
      sanstls::net::FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) throw_errno("socket");
      c.tls.emplace(sanstls::net::wrap_socket(
          plan_.context, std::move(fd),
          {.do_handshake_on_connect = false, .server_hostname = std::string("localhost")}));
      c.tls->setblocking(false);
      enter(c, State::connecting);
      if (!stats_.first_connect) stats_.first_connect = c.since;
      const int rc =
          ::connect(c.tls->fileno(), reinterpret_cast<const sockaddr*>(&plan_.server), sizeof plan_.server);
      if (rc != 0 && errno != EINPROGRESS) throw_errno("connect");
      if (rc == 0) enter(c, State::handshaking);
    } catch (const std::exception& e) {
      if (c.state == State::waiting) enter(c, State::connecting);  // fail() counts it from here
      fail(j, e.what());
      return;
    }
    advance(j);
  }

  void advance(std::size_t j) {
    Connection& c = conns_[j];
    try {
      for (;;) {
        const Step s = step(c, j);
        if (s == Step::again) continue;
        if (s == Step::finished) return;
        break;
      }
      // Level-triggered: writability while connecting or while encrypted
      // bytes wait to be sent, else readability.
      const std::uint32_t wanted = c.state == State::connecting || c.tls->wants_write() ? EPOLLOUT : EPOLLIN;
      if (wanted != c.events) {
        epoll_event event{};
        event.events = wanted;
        event.data.u64 = j;
        const int op = c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (::epoll_ctl(epoll_.get(), op, c.tls->fileno(), &event) != 0) throw_errno("epoll_ctl");
        c.events = wanted;
      }
    } catch (const std::exception& e) {
      fail(j, e.what());
    }
  }

  Step step(Connection& c, std::size_t j) {
    switch (c.state) {
      case State::connecting: return on_connecting(c);
      case State::handshaking: return on_handshaking(c);
      case State::open: return on_open(c, j);
      case State::closing: return on_closing(c);
      case State::waiting:
      case State::closed:
      case State::failed: break;
    }
    return Step::finished;
  }

  Step on_connecting(Connection& c) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(c.tls->fileno(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) throw_errno("getsockopt");
    if (error != 0) throw Failure(std::string("connect: ") + std::strerror(error));
    enter(c, State::handshaking);
    return Step::again;
  }

  Step on_handshaking(Connection& c) {
    sanstls::Result r = c.tls->try_handshake();
    switch (r.status) {
      case sanstls::Status::done: {
        const Clock::time_point now = Clock::now();
        stats_.handshake_ms.push_back(static_cast<float>(milliseconds(now - c.since)));
        ++stats_.established;
        stats_.last_established = now;
        enter(c, State::open);
        return Step::again;
      }
      case sanstls::Status::want_read:
      case sanstls::Status::want_write: return Step::wait;
      case sanstls::Status::closed: throw Failure("the server closed during the handshake");
      case sanstls::Status::error: throw Failure("handshake: " + r.error->message);
      default: break;
    }
    throw Failure("handshake: unexpected " + std::string(sanstls::status_name(r.status)));
  }

  Step on_open(Connection& c, std::size_t j) {
    if (!send_rest(c, j)) return Step::wait;
    // Read until the Socket wants more from the network: bytes it already
    // took from the descriptor would not make epoll report the socket again.
    for (;;) {
      sanstls::Result r = c.tls->try_recv_into(buffer_);
      switch (r.status) {
        case sanstls::Status::done: take_echo(c, j, std::span(buffer_).first(r.bytes)); continue;
        case sanstls::Status::want_read:
        case sanstls::Status::want_write: return Step::wait;
        case sanstls::Status::closed: throw Failure("the server closed the connection");
        case sanstls::Status::error: throw Failure(r.error->message);
        default: throw Failure("read: unexpected " + std::string(sanstls::status_name(r.status)));
      }
    }
  }

  Step on_closing(Connection& c) {
    sanstls::Result r = c.tls->try_unwrap();
    switch (r.status) {
      case sanstls::Status::done:
        ++stats_.closed;
        release(c);
        enter(c, State::closed);
        return Step::finished;
      case sanstls::Status::want_read:
      case sanstls::Status::want_write: return Step::wait;
      case sanstls::Status::error: throw Failure("close: " + r.error->message);
      default: break;
    }
    throw Failure("close: unexpected " + std::string(sanstls::status_name(r.status)));
  }

  // start_message starts connection j's next message, unless it is not
  // open or too many of its messages are still out.
  void start_message(std::size_t j) {
    Connection& c = conns_[j];
    if (c.state != State::open) return;
    if (c.send_offset < plan_.options.message_size && c.sent != 0) {
      ++stats_.skipped;  // the previous message is not even sent yet
      return;
    }
    if (c.sent - c.echoed >= kMaxOutstanding) {
      ++stats_.skipped;
      return;
    }
    c.sent_at[c.sent % kMaxOutstanding] = Clock::now();
    ++c.sent;
    c.send_offset = 0;
    ++stats_.sent;
    ++outstanding_;
    advance(j);
  }

  // send_rest hands the rest of the current message to the Socket; false
  // while the socket cannot take it.
  bool send_rest(Connection& c, std::size_t j) {
    const std::size_t size = plan_.options.message_size;
    if (c.sent == 0) return true;
    while (c.send_offset < size) {
      std::span<std::byte> rest = std::span(send_buffer_).first(size - c.send_offset);
      fill_message(first_ + j, c.sent - 1, c.send_offset, rest);
      sanstls::Result r = c.tls->try_send(rest);
      switch (r.status) {
        case sanstls::Status::done: c.send_offset += r.bytes; continue;
        case sanstls::Status::want_read:
        case sanstls::Status::want_write: return false;
        case sanstls::Status::error: throw Failure("send: " + r.error->message);
        default: throw Failure("send: unexpected " + std::string(sanstls::status_name(r.status)));
      }
    }
    return !c.tls->wants_write() || c.tls->flush();
  }

  // take_echo checks echoed bytes against what was sent, byte for byte.
  void take_echo(Connection& c, std::size_t j, std::span<const std::byte> data) {
    const std::size_t size = plan_.options.message_size;
    while (!data.empty()) {
      if (c.echoed >= c.sent) {
        ++stats_.mismatches;
        throw Failure(plan_.options.hold == Hold::idle ? "unexpected data from the server"
                                                       : "more bytes echoed than were sent");
      }
      const std::size_t n = std::min(data.size(), size - c.received);
      std::span<std::byte> expected = std::span(expect_buffer_).first(n);
      fill_message(first_ + j, c.echoed, c.received, expected);
      if (!std::equal(expected.begin(), expected.end(), data.begin())) {
        ++stats_.mismatches;
        throw Failure("echo of message " + std::to_string(c.echoed) +
                      " differs from what was sent, at bytes " + std::to_string(c.received) + "-" +
                      std::to_string(c.received + n));
      }
      c.received += n;
      data = data.subspan(n);
      if (c.received == size) {
        const double ms = milliseconds(Clock::now() - c.sent_at[c.echoed % kMaxOutstanding]);
        stats_.echo_ms.push_back(static_cast<float>(ms));
        stats_.echo_max_ms = std::max(stats_.echo_max_ms, ms);
        ++c.echoed;
        c.received = 0;
        ++stats_.echoed;
        --outstanding_;
      }
    }
  }

  void poll_events(int timeout_ms) {
    std::array<epoll_event, 256> events{};
    const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw_errno("epoll_wait");
    }
    for (const epoll_event& event : std::span(events).first(static_cast<std::size_t>(n))) {
      advance(static_cast<std::size_t>(event.data.u64));
    }
  }

  // check_deadlines fails the connections that waited too long: for their
  // handshake, for an echo, or for the server's close_notify.
  void check_deadlines() {
    const Clock::time_point now = Clock::now();
    if (now < next_check_) return;
    next_check_ = now + 100ms;
    const auto handshake =
        std::chrono::duration_cast<Clock::duration>(Seconds(plan_.options.handshake_timeout));
    const auto stall = std::chrono::duration_cast<Clock::duration>(Seconds(plan_.options.stall_seconds));
    for (std::size_t j = 0; j < conns_.size(); ++j) {
      Connection& c = conns_[j];
      switch (c.state) {
        case State::connecting:
        case State::handshaking:
          if (now - c.since > handshake) {
            ++stats_.handshake_timeouts;
            fail(j, std::string(state_name(c.state)) + ": no handshake within " +
                        fixed(plan_.options.handshake_timeout, 1) + " s");
          }
          break;
        case State::open:
          if (c.echoed < c.sent && now - c.sent_at[c.echoed % kMaxOutstanding] > stall) {
            ++stats_.stalls;
            fail(j, "stall: message " + std::to_string(c.echoed) + " not echoed within " +
                        fixed(plan_.options.stall_seconds, 1) + " s (" + std::to_string(c.received) + " of " +
                        std::to_string(plan_.options.message_size) + " bytes back)");
          }
          break;
        case State::closing:
          if (now - c.since > 30s) fail(j, "closing: no close_notify from the server within 30 s");
          break;
        case State::waiting:
        case State::closed:
        case State::failed: break;
      }
    }
  }

  void fail(std::size_t j, const std::string& why) {
    Connection& c = conns_[j];
    if (c.state == State::failed) return;
    if (c.state == State::connecting || c.state == State::handshaking) gave_up_ = true;
    outstanding_ -= c.sent - c.echoed;
    ++stats_.failed;
    if (stats_.failures.size() < 5) {
      stats_.failures.push_back("connection #" + std::to_string(first_ + j) + " (" +
                                std::string(state_name(c.state)) + "): " + why);
    }
    release(c);
    enter(c, State::failed);
  }

  // release closes the connection's descriptor (without close_notify) and
  // lets go of its memory.
  void release(Connection& c) {
    if (c.tls) {
      if (c.events != 0) (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.tls->fileno(), nullptr);
      c.tls.reset();
    }
    c.events = 0;
  }

  const Plan& plan_;
  std::size_t first_;
  std::vector<Connection> conns_;
  std::size_t max_in_flight_;
  sanstls::net::FileDescriptor epoll_;
  std::array<std::size_t, kStates> in_state_{conns_.size()};  // all start waiting
  std::size_t next_ = 0;
  bool gave_up_ = false;
  std::uint64_t outstanding_ = 0;  // echo messages sent and not yet echoed
  Clock::time_point next_check_{};
  WorkerStats stats_;
  std::array<std::byte, 17 * 1024> buffer_{};
  std::vector<std::byte> send_buffer_ = std::vector<std::byte>(plan_.options.message_size);
  std::vector<std::byte> expect_buffer_ = std::vector<std::byte>(plan_.options.message_size);
};

// ---- The run -------------------------------------------------------------------

// Sample is the server's memory at one moment of the hold.
struct Sample {
  double t = 0;  // seconds since the hold started
  std::optional<double> rss_kib;
  std::optional<ServerStatus> status;
};

class Run {
 public:
  Run(const Options& options, ServerProcess& server, bool has_status)
      : options_(options),
        server_(server),
        has_status_(has_status),
        deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(options.max_seconds))) {}

  std::atomic<bool>& abort_flag() noexcept { return abort_; }

  // watchdog stops the run when the server dies, time runs out or a stop
  // signal arrives; false once the run is stopped.
  bool watchdog() {
    if (abort_.load()) return false;
    std::string why;
    if (!server_.alive()) {
      why = "the server " + server_.describe_exit();
    } else if (Clock::now() >= deadline_) {
      why = "--max-seconds " + fixed(options_.max_seconds, 0) + " reached";
    } else if (interrupted.load()) {
      why = "interrupted";
    }
    if (why.empty()) return true;
    problem(why);
    abort_.store(true);
    return false;
  }

  // sleep waits |d|, watching; false when the run was stopped meanwhile.
  bool sleep(Clock::duration d) {
    const Clock::time_point until = Clock::now() + d;
    while (watchdog()) {
      const Clock::duration left = until - Clock::now();
      if (left <= Clock::duration::zero()) return true;
      std::this_thread::sleep_for(std::min<Clock::duration>(left, 50ms));
    }
    return false;
  }

  // phase runs |body| on every worker, each on its own thread, while this
  // thread runs |watch| (which returns when it is done watching; |stop|
  // then asks the workers to end the phase) and the watchdog.
  template <class Body, class Watch>
  void phase(std::vector<Worker>& workers, Body body, Watch watch) {
    std::atomic<std::size_t> done{0};
    std::vector<std::thread> threads;
    stop_.store(false);
    for (Worker& w : workers) {
      threads.emplace_back([&w, &body, &done, this] {
        try {
          body(w);
        } catch (const std::exception& e) {
          w.stats().crash = e.what();
          abort_.store(true);
        }
        ++done;
      });
    }
    watch([&] { return done.load() == workers.size(); });
    stop_.store(true);
    while (done.load() != workers.size()) {
      (void)watchdog();
      std::this_thread::sleep_for(10ms);
    }
    for (std::thread& t : threads) t.join();
    for (const Worker& w : workers) {
      if (!w.stats().crash.empty()) problem("a client thread failed: " + w.stats().crash);
    }
  }

  const std::atomic<bool>& stop_flag() const noexcept { return stop_; }

  Sample sample(Clock::time_point hold_start) {
    Sample s;
    s.t = Seconds(Clock::now() - hold_start).count();
    s.rss_kib = server_.rss_kib();
    if (has_status_) s.status = server_.status(10s);
    return s;
  }

  void problem(const std::string& why) { problems_.push_back(why); }
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  const Options& options_;
  ServerProcess& server_;
  bool has_status_;
  Clock::time_point deadline_;
  std::atomic<bool> abort_{false};
  std::atomic<bool> stop_{false};
  std::vector<std::string> problems_;
};

std::string kib_or_na(std::optional<double> kib, int decimals) { return kib ? fixed(*kib, decimals) : "n/a"; }

// heap_kib returns the heap figure of a status line. A sanitizer's
// allocator leaves mallinfo2 at zero: that reads as unknown.
std::optional<double> heap_kib(const std::optional<ServerStatus>& s) {
  if (!s || s->get("heap") == 0) return std::nullopt;
  return static_cast<double>(s->get("heap")) / 1024;
}

void print_sample(const Sample& s) {
  std::cout << "# sample t=" << fixed(s.t, 1) << "s rss_kib=" << (s.rss_kib ? fixed(*s.rss_kib, 0) : "n/a");
  if (s.status) {
    std::cout << " heap_kib=" << kib_or_na(heap_kib(s.status), 0) << " open=" << s.status->get("open")
              << " handshaking=" << s.status->get("handshaking");
  }
  std::cout << std::endl;
}

// raise_descriptor_limit raises RLIMIT_NOFILE's soft limit to the hard one
// and says whether |needed| descriptors fit.
bool raise_descriptor_limit(std::size_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("getrlimit");
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("setrlimit");
  auto text = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  std::cout << "# descriptors: RLIMIT_NOFILE soft limit raised from " << text(before) << " to "
            << text(limit.rlim_cur) << " (the hard limit; the server inherits it), " << needed << " needed"
            << std::endl;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    std::cerr << "sanstls-load conns: " << needed << " descriptors needed (connections + 64), but the hard "
              << "limit is " << limit.rlim_max << ": raise it (as root: ulimit -Hn, or "
              << "/etc/security/limits.conf) or open fewer connections\n";
    return false;
  }
  return true;
}

// check_port_range says whether |connections| fit in the local port range.
bool check_port_range(std::size_t connections) {
  std::istringstream range(read_whole_file("/proc/sys/net/ipv4/ip_local_port_range"));
  std::size_t low = 0;
  std::size_t high = 0;
  if (!(range >> low >> high) || high < low) return true;  // unknown: let connect() say
  if (connections > high - low + 1) {
    std::cerr << "sanstls-load conns: " << connections << " connections need as many local ports, but "
              << "/proc/sys/net/ipv4/ip_local_port_range has " << high - low + 1 << " (" << low << "-" << high
              << ")\n";
    return false;
  }
  return true;
}

// warm_up opens one connection, handshakes and closes it (blocking, with
// short timeouts), so that the server's one-time setup happens before its
// baseline is taken. Returns why it failed, if it did.
std::optional<std::string> warm_up(const sanstls::Context& context, std::uint16_t port) {
  try {
    sanstls::net::Socket tls = sanstls::net::wrap_socket(
        context, sanstls::net::create_connection("127.0.0.1", port, 10.0),
        {.do_handshake_on_connect = false, .server_hostname = std::string("localhost")});
    tls.settimeout(10.0);
    tls.do_handshake();
    // openssl s_server may not answer close_notify: the close is best effort.
    tls.settimeout(2.0);
    try {
      (void)tls.unwrap();
    } catch (const std::exception&) {
    }
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

int conns_main(const Options& o) {
  const std::string server_name = o.server == ServerKind::sanstls ? "sanstls" : "openssl";
  const std::string count = scenario_count(o.connections);
  std::cout << "# sanstls-load conns: server=" << server_name << " connections=" << o.connections
            << " hold=" << (o.hold == Hold::echo ? "echo" : "idle") << " seconds=" << fixed(o.seconds, 1)
            << " threads=" << o.threads << " concurrency=" << o.concurrency
            << " tls=" << (o.tls12 ? "TLSv1.2" : "TLSv1.3") << "\n"
            << "# BoringSSL (client" << (o.server == ServerKind::sanstls ? " and server" : "")
            << "): " << SANSTLS_LOAD_BORINGSSL << std::endl;
  if (!raise_descriptor_limit(o.connections + 64) || !check_port_range(o.connections)) return 1;
  if (const char* perturb = std::getenv("MALLOC_PERTURB_"); perturb != nullptr && *perturb != '\0') {
    // meson test sets it: the server inherits it, and its RSS then counts
    // every byte malloc handed out, touched or not, as the heap figure does.
    std::cout << "# MALLOC_PERTURB_=" << perturb << ": malloc fills what it hands out, so the server's RSS "
              << "includes allocations it never touched" << std::endl;
  }

  StopSignals stop_signals;
  TempDir dir;
  auto ca = sanstls::testing::CertificateAuthority::create("sanstls-load CA");
  const sanstls::testing::Issued issued =
      ca.issue({.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  const std::string cert_path = dir.file("cert.pem");
  const std::string key_path = dir.file("key.pem");
  write_file(cert_path, issued.certificate_pem);
  write_file(key_path, issued.private_key_pem);

  bool has_status = false;
  std::vector<std::string> argv;
  std::string listening_prefix;
  if (o.server == ServerKind::sanstls) {
    has_status = supports_status(o.sanstls_path, dir);
    argv = {o.sanstls_path, "server", "--cert", cert_path, "--key", key_path};
    listening_prefix = "listening on ";
  } else {
    // Not -quiet: in quiet mode it does not print the ACCEPT line.
    // -ign_eof: our end of its standard input never sends anything anyway.
    argv = {o.openssl_path, "s_server", "-accept", "127.0.0.1:0",
            "-cert", cert_path, "-key", key_path, "-ign_eof"};
    listening_prefix = "ACCEPT ";
  }
  ServerProcess server(argv, dir.file("server.out"), dir.file("server.err"));
  Run run(o, server, has_status);

  // Everything after this point reports through |run| and ends at the
  // bottom: the summary prints the server's log tail on failure, then the
  // destructors stop the server and remove the directory.
  std::vector<Worker> workers;
  std::optional<sanstls::Context> client_context;
  std::optional<Plan> plan;
  std::optional<std::string> listening = server.wait_for_output(listening_prefix, 10s);
  std::uint16_t port = 0;
  if (listening) {
    const std::size_t colon = listening->rfind(':');
    if (colon != std::string::npos) {
      port = static_cast<std::uint16_t>(std::strtoul(listening->c_str() + colon + 1, nullptr, 10));
    }
  }
  if (port == 0) run.problem("the server did not start listening");

  std::optional<double> base_rss;
  std::optional<ServerStatus> base_status;
  std::optional<double> idle_rss;
  std::optional<ServerStatus> idle_status;
  std::size_t established = 0;
  if (port != 0) {
    std::cout << "# server: " << argv[0] << " " << argv[1] << " (pid " << server.pid()
              << ") listening on 127.0.0.1:" << port
              << "; status line (SIGUSR1): " << (has_status ? "yes" : "no, heap n/a") << std::endl;
    client_context.emplace(sanstls::Protocol::tls_client);
    client_context->load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});
    if (o.tls12) client_context->set_maximum_version(sanstls::TLSVersion::tlsv1_2);

    if (o.warm_up) {
      if (std::optional<std::string> failure = warm_up(*client_context, port)) {
        run.problem("the warm-up connection failed: " + *failure);
      }
      // Wait until the server has let go of it.
      if (has_status) {
        const Clock::time_point give_up = Clock::now() + 5s;
        while (run.sleep(20ms) && Clock::now() < give_up) {
          std::optional<ServerStatus> s = server.status(10s);
          if (s && s->get("open") == 0) break;
        }
      } else {
        (void)run.sleep(300ms);  // nothing to ask: give it time to return to accept()
      }
    }
    base_rss = server.rss_kib();
    if (has_status) base_status = server.status(10s);
    std::cout << "# server baseline ("
              << (o.warm_up ? "after one warm-up connection" : "right after listening")
              << "): rss_kib=" << kib_or_na(base_rss, 0)
              << " heap_kib=" << kib_or_na(heap_kib(base_status), 0) << std::endl;
    plan.emplace(Plan{.options = o, .context = *client_context, .server = {}, .abort = run.abort_flag()});
    plan->server.sin_family = AF_INET;
    plan->server.sin_port = htons(port);
    plan->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    const std::size_t threads = std::min(o.threads, o.connections);
    const std::size_t per_thread_in_flight =
        std::max<std::size_t>(1, (o.concurrency + threads - 1) / threads);
    workers.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      const std::size_t begin = o.connections * t / threads;
      const std::size_t end = o.connections * (t + 1) / threads;
      workers.emplace_back(*plan, begin, end - begin, per_thread_in_flight);
    }

    // Establish.
    const double server_cpu_before = process_cpu_seconds(server.pid()).value_or(0);
    const double client_cpu_before = own_cpu_seconds();
    run.phase(
        workers, [](Worker& w) { w.establish(); },
        [&](auto done) {
          while (!done() && run.sleep(50ms)) {
          }
        });
    const double server_cpu = process_cpu_seconds(server.pid()).value_or(0) - server_cpu_before;
    const double client_cpu = own_cpu_seconds() - client_cpu_before;

    std::size_t failed = 0;
    std::size_t timeouts = 0;
    std::size_t not_attempted = 0;
    std::optional<Clock::time_point> first;
    std::optional<Clock::time_point> last;
    std::vector<float> handshake_ms;
    for (const Worker& w : workers) {
      const WorkerStats& s = w.stats();
      established += s.established;
      failed += s.failed;
      timeouts += s.handshake_timeouts;
      not_attempted += s.not_attempted;
      if (s.first_connect && (!first || *s.first_connect < *first)) first = s.first_connect;
      if (s.last_established && (!last || *s.last_established > *last)) last = s.last_established;
      handshake_ms.insert(handshake_ms.end(), s.handshake_ms.begin(), s.handshake_ms.end());
    }
    const double establish_s = first && last ? Seconds(*last - *first).count() : 0;

    // Settle: the workers keep serving (reading session tickets) while the
    // server finishes its side of the last handshakes; then measure.
    run.phase(
        workers, [&](Worker& w) { w.hold_idle(Clock::time_point::max(), run.stop_flag()); },
        [&](auto) {
          if (has_status) {
            const Clock::time_point give_up = Clock::now() + 10s;
            while (run.watchdog() && Clock::now() < give_up) {
              std::optional<ServerStatus> s = server.status(10s);
              if (s && s->get("handshaking") == 0 && s->get("open") >= established) break;
              if (!run.sleep(100ms)) break;
            }
          }
          if (!run.sleep(1s)) return;
          idle_rss = server.rss_kib();
          if (has_status) idle_status = server.status(10s);
        });

    const double n = static_cast<double>(std::max<std::size_t>(established, 1));
    std::optional<double> rss_per_conn;
    if (idle_rss && base_rss && established != 0) rss_per_conn = (*idle_rss - *base_rss) / n;
    std::optional<double> heap_per_conn;
    if (heap_kib(idle_status) && heap_kib(base_status) && established != 0) {
      heap_per_conn = (*heap_kib(idle_status) - *heap_kib(base_status)) / n;
    }
    std::cout << "BENCH scenario=conns_" << count << "_idle server=" << server_name
              << " tls=" << (o.tls12 ? "TLSv1.2" : "TLSv1.3") << " connections=" << o.connections
              << " established=" << established << " failed=" << failed << " not_attempted=" << not_attempted
              << " handshakes_per_s="
              << (established >= 2 && establish_s > 0
                      ? fixed(static_cast<double>(established) / establish_s, 1)
                      : "n/a")
              << " p50_ms=" << fixed(percentile(handshake_ms, 0.50), 2)
              << " p99_ms=" << fixed(percentile(handshake_ms, 0.99), 2)
              << " rss_per_conn_kib=" << kib_or_na(rss_per_conn, 2)
              << " heap_per_conn_kib=" << kib_or_na(heap_per_conn, 2)
              << " server_rss_kib=" << kib_or_na(idle_rss, 0)
              << " server_baseline_rss_kib=" << kib_or_na(base_rss, 0)
              << " server_cpu_s=" << fixed(server_cpu, 2) << " client_cpu_s=" << fixed(client_cpu, 2)
              << std::endl;
    if (idle_status) {
      std::cout << "# server status when idle: open=" << idle_status->get("open")
                << " handshaking=" << idle_status->get("handshaking")
                << " accepted=" << idle_status->get("accepted")
                << " finished=" << idle_status->get("finished") << std::endl;
    }
    if (o.server == ServerKind::openssl) {
      std::cout << "# openssl s_server serves one client at a time: it held " << established << " of "
                << o.connections << " connection(s) at once";
      if (established < o.connections) {
        std::cout << "; the others waited in its listen backlog"
                  << (timeouts != 0 ? " until their handshake timed out" : "")
                  << ", and after the first failure no more were opened";
      }
      std::cout << " (RSS moves by whole pages: one connection's figure is good to 4 KiB)" << std::endl;
    }
    if (established != o.connections) {
      run.problem(std::to_string(established) + " of " + std::to_string(o.connections) +
                  " connections handshaken (" + std::to_string(failed) + " failed, " +
                  std::to_string(timeouts) + " of them timed out, " + std::to_string(not_attempted) +
                  " not attempted)");
    }
    if (o.max_rss_per_conn_kib && rss_per_conn && *rss_per_conn > *o.max_rss_per_conn_kib) {
      run.problem("server RSS per connection " + fixed(*rss_per_conn, 2) +
                  " KiB exceeds --max-rss-per-conn-kib " + fixed(*o.max_rss_per_conn_kib, 2));
    }

    // Hold, sampling the server's memory.
    std::vector<Sample> samples;
    if (!run.abort_flag().load() && o.seconds > 0 && established != 0) {
      const Clock::time_point start = Clock::now();
      const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(Seconds(o.seconds));
      auto watch = [&](auto done) {
        const auto every = std::chrono::duration_cast<Clock::duration>(Seconds(o.sample_seconds));
        for (Clock::time_point next = start; !done() && run.watchdog();) {
          if (Clock::now() >= next && next < end) {
            samples.push_back(run.sample(start));
            print_sample(samples.back());
            next += every;
          }
          std::this_thread::sleep_for(20ms);
        }
      };
      if (o.hold == Hold::echo) {
        run.phase(
            workers, [&](Worker& w) { w.hold_echo(start, end); }, watch);
      } else {
        run.phase(
            workers, [&](Worker& w) { w.hold_idle(end, run.stop_flag()); }, watch);
      }
      // The last sample: the hold is over (and the echoes are back), the
      // connections are still open.
      if (run.watchdog()) {
        samples.push_back(run.sample(start));
        print_sample(samples.back());
      }
    }

    if (o.hold == Hold::echo) {
      std::uint64_t sent = 0, echoed = 0, skipped = 0, mismatches = 0, stalls = 0;
      double echo_max = 0;
      std::vector<float> echo_ms;
      for (const Worker& w : workers) {
        const WorkerStats& s = w.stats();
        sent += s.sent;
        echoed += s.echoed;
        skipped += s.skipped;
        mismatches += s.mismatches;
        stalls += s.stalls;
        echo_max = std::max(echo_max, s.echo_max_ms);
        echo_ms.insert(echo_ms.end(), s.echo_ms.begin(), s.echo_ms.end());
      }
      // Growth is measured from the first sample after one whole interval,
      // when every connection has echoed once and the server's buffers for
      // it exist, to the last.
      const Sample* from = nullptr;
      for (const Sample& s : samples) {
        if (s.t >= o.interval) {
          from = &s;
          break;
        }
      }
      const Sample* to = samples.empty() ? nullptr : &samples.back();
      if (from == to) from = nullptr;
      std::optional<double> rss_growth;
      std::optional<double> heap_growth;
      if (from && from->rss_kib && to->rss_kib) rss_growth = *to->rss_kib - *from->rss_kib;
      if (from && heap_kib(from->status) && heap_kib(to->status)) {
        heap_growth = *heap_kib(to->status) - *heap_kib(from->status);
      }
      std::cout << "BENCH scenario=conns_" << count << "_echo server=" << server_name
                << " tls=" << (o.tls12 ? "TLSv1.2" : "TLSv1.3") << " connections=" << established
                << " seconds=" << fixed(o.seconds, 1) << " message_bytes=" << o.message_size
                << " interval_s=" << fixed(o.interval, 2) << " sent=" << sent << " echoed=" << echoed
                << " skipped=" << skipped << " echo_p50_ms=" << fixed(percentile(echo_ms, 0.50), 2)
                << " echo_p99_ms=" << fixed(percentile(echo_ms, 0.99), 2)
                << " echo_max_ms=" << fixed(echo_max, 2) << " stalls=" << stalls
                << " mismatches=" << mismatches << " rss_growth_kib=" << kib_or_na(rss_growth, 0)
                << " heap_growth_kib=" << kib_or_na(heap_growth, 0)
                << " samples_from_s=" << (from ? fixed(from->t, 1) : "n/a")
                << " samples_to_s=" << (from ? fixed(to->t, 1) : "n/a") << std::endl;
      if (stalls != 0) run.problem(std::to_string(stalls) + " echo stall(s)");
      if (mismatches != 0) run.problem(std::to_string(mismatches) + " echo mismatch(es)");
      if (echoed != sent) run.problem(std::to_string(sent - echoed) + " message(s) not echoed");
    } else if (samples.size() >= 2 && samples.front().rss_kib && samples.back().rss_kib) {
      std::cout << "# idle hold: server rss_kib " << fixed(*samples.front().rss_kib, 0) << " -> "
                << fixed(*samples.back().rss_kib, 0) << std::endl;
    }

    // Close, and check the server lets go of every connection.
    if (!run.abort_flag().load()) {
      run.phase(
          workers, [](Worker& w) { w.close_all(); },
          [&](auto done) {
            while (!done() && run.sleep(50ms)) {
            }
          });
      std::size_t closed = 0;
      for (const Worker& w : workers) closed += w.stats().closed;
      std::cout << "# closed " << closed << " connection(s) with close_notify both ways" << std::endl;
      if (has_status && run.watchdog()) {
        std::optional<ServerStatus> s;
        const Clock::time_point give_up = Clock::now() + 10s;
        while (run.watchdog()) {
          s = server.status(10s);
          if ((s && s->get("open") == 0) || Clock::now() >= give_up) break;
          (void)run.sleep(100ms);
        }
        if (s) {
          std::cout << "# server after the close: open=" << s->get("open")
                    << " finished=" << s->get("finished") << " rss_kib=" << kib_or_na(server.rss_kib(), 0)
                    << " heap_kib=" << kib_or_na(heap_kib(s), 0) << std::endl;
          if (s->get("open") != 0) {
            run.problem("the server still has " + std::to_string(s->get("open")) +
                        " connection(s) open after the close");
          }
        } else {
          run.problem("no status line from the server after the close");
        }
      }
    }
  }

  std::size_t failures_shown = 0;
  for (const Worker& w : workers) {
    for (const std::string& f : w.stats().failures) {
      if (failures_shown++ < 5) std::cout << "# failed: " << f << "\n";
    }
  }
  if (o.server == ServerKind::sanstls) {
    auto [dropped, first_dropped] = server.dropped();
    if (dropped != 0)
      std::cout << "# the server dropped " << dropped << " connection(s), first: " << first_dropped << "\n";
  }
  (void)run.watchdog();  // a server that died is a failure even when everything else went well
  if (run.problems().empty()) {
    std::cout << "ok" << std::endl;
    return 0;
  }
  std::cout << "# server's last lines of standard error:\n" << server.stderr_tail(10);
  for (const std::string& p : run.problems()) std::cout << "FAILED: " << p << "\n";
  std::cout << std::flush;
  return 1;
}

}  // namespace

int run_conns(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_text;
      return 0;
    }
  }
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "sanstls-load conns: " << e.what() << " (sanstls-load conns --help for the options)\n";
    return 2;
  }
  try {
    return conns_main(options);
  } catch (const std::exception& e) {
    std::cerr << "sanstls-load conns: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace sanstls_load
