// Peer processes for the interop tests: a subprocess on PATH (openssl
// s_server and s_client, bssl-tool, Python) with its output in files, killed
// and reaped by its destructor so that a failed REQUIRE never leaves one
// behind, and the waits that find where it listens.
#ifndef SANSTLS_TEST_PEER_PROCESS_HPP
#define SANSTLS_TEST_PEER_PROCESS_HPP

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <sanstls/net/socket.hpp>

#include "support.hpp"

extern char** environ;

namespace test {

namespace peer_detail {

using Clock = std::chrono::steady_clock;
using sanstls::net::FileDescriptor;

[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace peer_detail

using peer_detail::Clock;

// PeerIO says where a peer's standard streams go.
struct PeerIO {
  std::string stdin_path = "/dev/null";
  bool stdin_pipe = false;  // a pipe we hold open (write_stdin), instead of stdin_path
  std::string stdout_path;
  std::string stderr_path;
  std::string cwd;
};

// Peer is a subprocess (found on PATH) with its output in files. The
// destructor kills (SIGKILL) and reaps it if it is still running.
class Peer {
 public:
  Peer(std::vector<std::string> args, PeerIO io) : io_(std::move(io)), name_(args.at(0)) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    peer_detail::FileDescriptor stdin_read;
    if (io_.stdin_pipe) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) peer_detail::throw_errno("pipe2");
      stdin_read = peer_detail::FileDescriptor(fds[0]);
      stdin_write_ = peer_detail::FileDescriptor(fds[1]);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (io_.stdin_pipe) {
      posix_spawn_file_actions_adddup2(&actions, stdin_read.get(), STDIN_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, io_.stdin_path.c_str(), O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, io_.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, io_.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!io_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, io_.cwd.c_str());
    int rc = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::system_error(rc, std::generic_category(), "posix_spawnp " + name_);
    }
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  ~Peer() {
    stdin_write_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const noexcept { return pid_; }

  // output returns what the peer wrote to stdout and stderr so far.
  std::string output() const { return peer_detail::read_file(io_.stdout_path) + peer_detail::read_file(io_.stderr_path); }
  std::string stdout_text() const { return peer_detail::read_file(io_.stdout_path); }
  std::string stderr_text() const { return peer_detail::read_file(io_.stderr_path); }

  void write_stdin(std::string_view text) {
    while (!text.empty()) {
      ssize_t n = ::write(stdin_write_.get(), text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) peer_detail::throw_errno("write to " + name_);
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // running reaps the peer if it has exited; false then.
  bool running() {
    if (pid_ <= 0) return false;
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // wait_exit waits for the peer to exit and returns its exit code; at
  // |deadline| it kills the peer and throws.
  int wait_exit(Clock::time_point deadline) {
    while (running()) {
      if (Clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        throw std::runtime_error(name_ + " did not exit in time; output:\n" + output());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

  // wait_until polls |ready| until it returns true; throws when the peer
  // exits first or at |deadline|.
  void wait_until(const std::function<bool()>& ready, const std::string& what,
                  Clock::time_point deadline) {
    for (;;) {
      if (ready()) return;
      if (!running()) throw std::runtime_error(name_ + " exited before " + what + "; output:\n" + output());
      if (Clock::now() >= deadline) {
        throw std::runtime_error("timed out waiting for " + name_ + ": " + what + "; output:\n" + output());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // wait_for_output waits until stdout or stderr contains |needle|.
  void wait_for_output(const std::string& needle, Clock::time_point deadline) {
    wait_until([&] { return output().find(needle) != std::string::npos; }, "\"" + needle + "\"",
               deadline);
  }

  // stop freezes the peer (SIGSTOP); kill_now kills and reaps it.
  void stop() { ::kill(pid_, SIGSTOP); }
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  PeerIO io_;
  std::string name_;
  pid_t pid_ = -1;
  int status_ = 0;
  peer_detail::FileDescriptor stdin_write_;
};

inline PeerIO logs(const test::TempDir& dir, const std::string& name) {
  PeerIO io;
  io.stdout_path = dir.path(name + ".out");
  io.stderr_path = dir.path(name + ".err");
  return io;
}

// s_server_io is logs() with stdin on a pipe we hold: s_server ends the
// connection, and stops accepting, when its stdin reaches EOF.
inline PeerIO s_server_io(const test::TempDir& dir) {
  PeerIO io = logs(dir, "s_server");
  io.stdin_pipe = true;
  return io;
}

// accept_port waits for s_server's "ACCEPT 127.0.0.1:<port>" line.
inline std::uint16_t accept_port(Peer& server, Clock::time_point deadline) {
  const std::string prefix = "ACCEPT 127.0.0.1:";
  std::uint16_t port = 0;
  server.wait_until(
      [&] {
        std::string out = server.stdout_text();
        std::size_t at = out.find(prefix);
        if (at == std::string::npos) return false;
        std::size_t end = out.find('\n', at);
        if (end == std::string::npos) return false;
        port = static_cast<std::uint16_t>(std::stoi(out.substr(at + prefix.size(), end - at - prefix.size())));
        return true;
      },
      "its ACCEPT line", deadline);
  return port;
}

// listening_port finds the TCP port |pid| listens on (bssl-tool server
// -accept 0 does not print it): the inodes of its sockets, looked up in
// its network namespace's tcp and tcp6 tables in state LISTEN (0A).
inline std::optional<std::uint16_t> listening_port(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::vector<std::string> inodes;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", ec)) {
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.starts_with("socket:[")) inodes.push_back(target.substr(8, target.size() - 9));
  }
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in(proc + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state != "0A") continue;
      for (const std::string& mine : inodes) {
        if (mine == inode) {
          return static_cast<std::uint16_t>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
        }
      }
    }
  }
  return std::nullopt;
}

inline std::uint16_t wait_listening(Peer& peer, Clock::time_point deadline) {
  std::optional<std::uint16_t> port;
  peer.wait_until([&] { return (port = listening_port(peer.pid())).has_value(); }, "it listens",
                  deadline);
  return *port;
}


}  // namespace test

#endif  // SANSTLS_TEST_PEER_PROCESS_HPP
