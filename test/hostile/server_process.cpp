#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace hostile {

namespace {

using Clock = std::chrono::steady_clock;

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string& tool_path() {
  static const std::string path = [] {
    const char* env = std::getenv("SANSTLS_TOOL");
    if (env == nullptr || *env == '\0') {
      throw std::runtime_error("SANSTLS_TOOL is not set: run this test through meson test");
    }
    return std::string(env);
  }();
  return path;
}

// value_of reads "key=NUMBER" out of a status line; nothing when absent.
std::optional<std::uint64_t> value_of(std::string_view line, std::string_view key) {
  std::string pattern(key);
  pattern += '=';
  std::size_t at = line.find(pattern);
  if (at == std::string_view::npos) return std::nullopt;
  const char* first = line.data() + at + pattern.size();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(first, line.data() + line.size(), value);
  if (ec != std::errc() || end == first) return std::nullopt;
  return value;
}

}  // namespace

bool sanitized() noexcept {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

std::string describe_bytes(std::uint64_t bytes) {
  if (bytes >= 4 * 1024 * 1024) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  return std::to_string(bytes / 1024) + " KiB";
}

ServerProcess::ServerProcess(int handshake_timeout, int stall_timeout) {
  const test::Pki& pki = test::pki();
  const std::string cert = dir_.write("server.pem", pki.server.certificate_pem);
  const std::string key = dir_.write("server.key", pki.server.private_key_pem);
  ca_file_ = dir_.write("ca.pem", pki.ca.certificate_pem());
  log_file_ = dir_.path("server.log");
  const std::string out_file = dir_.path("server.out");

  std::vector<std::string> args = {tool_path(),
                                   "server",
                                   "--cert",
                                   cert,
                                   "--key",
                                   key,
                                   "--port",
                                   "0",
                                   "--handshake-timeout",
                                   std::to_string(handshake_timeout),
                                   "--stall-timeout",
                                   std::to_string(stall_timeout)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Files rather than pipes: nothing has to drain them while a test
  // attacks, and a crash report stays readable after the server is gone.
  // fork and exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test
  // killed by its timeout takes its server with it instead of leaving it
  // listening forever. Between fork and exec the child only makes system
  // calls (the parent may have threads).
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t parent = ::getpid();
  if (null_fd >= 0 && out_fd >= 0 && log_fd >= 0) pid_ = ::fork();
  const int fork_errno = errno;
  if (pid_ == 0) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent ||
        ::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
        ::dup2(log_fd, STDERR_FILENO) < 0) {
      ::_exit(127);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int fd : {null_fd, out_fd, log_fd}) {
    if (fd >= 0) ::close(fd);
  }
  if (pid_ < 0) {
    pid_ = -1;
    throw std::system_error(fork_errno, std::generic_category(), "cannot start " + tool_path());
  }

  const std::string_view prefix = "listening on 127.0.0.1:";
  const Clock::time_point deadline = Clock::now() + 30s;
  for (;;) {
    std::string out = read_whole(out_file);
    std::size_t at = out.find(prefix);
    std::size_t end = at == std::string::npos ? at : out.find('\n', at);
    if (end != std::string::npos) {
      const char* first = out.data() + at + prefix.size();
      auto [last, ec] = std::from_chars(first, out.data() + end, port_);
      if (ec != std::errc() || last != out.data() + end) {
        stop();
        throw std::runtime_error("sanstls server printed a strange first line: " + out);
      }
      return;
    }
    if (!running() || Clock::now() >= deadline) {
      stop();
      throw std::runtime_error("sanstls server did not start listening: " + out + log_text());
    }
    std::this_thread::sleep_for(10ms);
  }
}

ServerProcess::~ServerProcess() { stop(); }

std::vector<std::string> ServerProcess::log() const {
  std::string text = read_whole(log_file_);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.emplace_back(text, start, end - start);
  }
  return lines;
}

std::string ServerProcess::log_text() const { return read_whole(log_file_); }

std::optional<std::string> ServerProcess::wait_for_line(
    const std::function<bool(std::string_view)>& matches, std::chrono::milliseconds timeout) const {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    // Whether it was running is asked before the log is read: a line the
    // server wrote just before exiting is still found.
    const bool alive = running();
    for (const std::string& line : log()) {
      if (matches(line)) return line;
    }
    if (!alive || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

namespace {

// about returns the tag the server's lines about a connection carry:
// "[#N 127.0.0.1:PORT] ".
std::string about(std::uint16_t client_port) {
  std::string tag = " 127.0.0.1:";
  tag += std::to_string(client_port);
  tag += "] ";
  return tag;
}

}  // namespace

std::optional<std::string> ServerProcess::line_about(std::uint16_t client_port,
                                                     std::chrono::milliseconds timeout) const {
  const std::string tag = about(client_port);
  return wait_for_line([&tag](std::string_view line) { return line.find(tag) != std::string_view::npos; },
                       timeout);
}

std::vector<std::string> ServerProcess::lines_about(std::uint16_t client_port) const {
  const std::string tag = about(client_port);
  std::vector<std::string> lines;
  for (std::string& line : log()) {
    if (line.find(tag) != std::string::npos) lines.push_back(std::move(line));
  }
  return lines;
}

Status ServerProcess::status() const {
  const std::string_view prefix = "sanstls server: status: ";
  auto is_status = [&prefix](std::string_view line) { return line.starts_with(prefix); };
  std::size_t before = 0;
  for (const std::string& line : log()) before += is_status(line) ? 1 : 0;
  if (!running() || ::kill(pid_, SIGUSR1) != 0) {
    throw std::runtime_error("sanstls server is not running: " + log_text());
  }
  const Clock::time_point deadline = Clock::now() + 30s;
  for (;;) {
    std::size_t seen = 0;
    for (const std::string& line : log()) {
      if (!is_status(line) || ++seen <= before) continue;
      Status s;
      s.line = line;
      auto field = [&](std::string_view key) {
        std::optional<std::uint64_t> v = value_of(line, key);
        if (!v) throw std::runtime_error("no " + std::string(key) + "= in the status line: " + line);
        return *v;
      };
      s.open = static_cast<std::size_t>(field("open"));
      s.handshaking = static_cast<std::size_t>(field("handshaking"));
      s.accepted = static_cast<std::size_t>(field("accepted"));
      s.finished = static_cast<std::size_t>(field("finished"));
      s.dropped = static_cast<std::size_t>(field("dropped"));
      // Sanitizers' allocators do not answer mallinfo2: "heap=n/a".
      if (line.find(" heap=n/a") == std::string::npos) s.heap = field("heap");
      s.rss = field("rss");
      return s;
    }
    if (!running() || Clock::now() >= deadline) {
      throw std::runtime_error("sanstls server did not answer SIGUSR1: " + log_text());
    }
    std::this_thread::sleep_for(10ms);
  }
}

Memory ServerProcess::memory() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  Memory m;
  for (std::string line; std::getline(in, line);) {
    auto kib = [&line](std::string_view key) -> std::optional<std::uint64_t> {
      if (!std::string_view(line).starts_with(key)) return std::nullopt;
      return std::strtoull(line.c_str() + key.size(), nullptr, 10) * 1024;
    };
    if (auto v = kib("VmRSS:")) m.rss = *v;
    if (auto v = kib("VmHWM:")) m.peak_rss = *v;
  }
  if (m.rss == 0) throw std::runtime_error("cannot read the server's VmRSS from /proc");
  return m;
}

bool ServerProcess::running() const {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    return false;
  }
  return r == 0;
}

int ServerProcess::stop() {
  if (pid_ <= 0) return 0;
  if (running()) {
    ::kill(pid_, SIGTERM);
    const Clock::time_point deadline = Clock::now() + 20s;
    while (running() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) exit_status_ = status;
    }
  }
  return exit_status_.value_or(-1);
}

}  // namespace hostile
