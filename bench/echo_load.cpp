// bench/echo_load.cpp: sanstls-echo-load, one load against the example
// echo servers, to compare their event loops: uring_echo_server (io_uring)
// against epoll_echo --serve (epoll by hand, on net::Socket's try_*
// calls), libuv_echo_server (libuv on epoll; the same server as the
// io_uring one on another loop) and asio_echo_server (asio's epoll
// reactor, sanstls::asio::stream).
//
//   sanstls-echo-load [--quick] [--seconds S] [--rounds R] [--connections N]
//                     [--cpus SERVER,CLIENT] SERVER...
//
// For each message size (1 KiB, 16 KiB) and round, each SERVER in turn is
// started (`SERVER --ca-out FILE --serve N`) on one CPU while this program
// runs on another; it opens N connections (sanstls::asio::stream clients,
// coroutines on one io_context, verifying the server's certificate for
// "localhost" against FILE), handshakes them untimed, then every client
// writes a message, reads its echo and compares it, again and again, for
// S seconds. Every connection then ends with close_notify both ways, and
// the server must report all N connections clean. It prints, per server:
//
//   BENCH scenario=echo_server_1k server=NAME echoes/s=... server_us/echo=... client_us/echo=...
//
// and the first SERVER against each other one (medians over the rounds):
//
//   BENCH scenario=echo_server_1k FIRST=... OTHER=... ratio=... unit=echoes/s
//   BENCH scenario=echo_server_cpu_1k FIRST=... OTHER=... ratio=... unit=server_us/echo
//
// echoes/s is by the wall clock (both processes run at once); a server's
// CPU time is what its threads spent on a CPU (/proc/PID/task/*/schedstat,
// user and kernel), so it says what the server's loop costs whatever the
// client does. A server that exits 77 (no io_uring here) is left out.
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sanstls/asio/stream.hpp>
#include <sanstls/context.hpp>

#include "asio_load.hpp"

extern char** environ;

namespace {

using asio::ip::tcp;
using bench::asio_load::as_tuple;
using bench::asio_load::Loop;
using bench::asio_load::pattern;
using Stream = sanstls::asio::stream<tcp::socket>;

struct Options {
  double seconds = 1.0;
  int rounds = 3;
  int connections = 16;
  int server_cpu = 0;
  int client_cpu = 1;
  bool quick = false;
  std::vector<std::string> servers;
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) fail("cannot run on CPU " + std::to_string(cpu));
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Server is one example server process, started pinned to a CPU.
class Server {
 public:
  // Server starts |program|; false from started() when it exits 77 (no
  // io_uring) before listening.
  Server(const std::string& program, const std::filesystem::path& ca, int serve, const Options& o) {
    int out[2];
    if (::pipe(out) != 0) fail("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    std::vector<std::string> args{program, "--ca-out", ca.string(), "--serve", std::to_string(serve)};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The child inherits the CPU this process runs on when it spawns.
    pin(o.server_cpu);
    std::fflush(stdout);
    const int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    pin(o.client_cpu);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      fail("cannot start " + program + ": " + std::strerror(rc));
    }
    from_ = ::fdopen(out[0], "r");
    const std::string first = line();
    if (first.rfind("listening on ", 0) != 0) {
      if (wait() == 77) return;  // said why on stderr
      fail(program + " did not start: " + first);
    }
    port_ = static_cast<unsigned short>(std::stoi(first.substr(13)));
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      wait();
    }
    if (from_ != nullptr) std::fclose(from_);
  }

  bool started() const noexcept { return port_ != 0; }
  unsigned short port() const noexcept { return port_; }

  // cpu_seconds returns what the server's threads have spent on a CPU.
  double cpu_seconds() const {
    double total = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/task")) {
      std::ifstream in(task.path() / "schedstat");
      unsigned long long ns = 0;
      if (in >> ns) total += static_cast<double>(ns) * 1e-9;
    }
    return total;
  }

  // finish reads the server's summary and waits for it to exit.
  std::string finish() {
    std::string summary = line();
    const int status = wait();
    if (status != 0) fail("the server exited with status " + std::to_string(status) + ": " + summary);
    return summary;
  }

 private:
  std::string line() {
    std::string text;
    for (int c; (c = std::fgetc(from_)) != EOF && c != '\n';) text += static_cast<char>(c);
    return text;
  }
  int wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) fail("waitpid failed");
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  std::FILE* from_ = nullptr;
  unsigned short port_ = 0;
};

// Client is one connection of the load.
struct Client {
  Client(asio::io_context& io, const sanstls::Context& ctx) : tls(io, ctx), reply(16384) {
    tls.set_server_hostname("localhost");
  }
  Stream tls;
  std::vector<char> reply;
  std::size_t position = 0;
  std::uint64_t echoes = 0;
};

asio::awaitable<void> connect(Client& c, tcp::endpoint server) {
  co_await c.tls.next_layer().async_connect(server, asio::use_awaitable);
  c.tls.next_layer().set_option(tcp::no_delay(true));
  co_await c.tls.async_handshake(Stream::client, asio::use_awaitable);
}

asio::awaitable<void> echo_until(Client& c, std::size_t size, std::chrono::steady_clock::time_point end) {
  while (std::chrono::steady_clock::now() < end) {
    const std::string_view message = pattern(c.position, size);
    co_await asio::async_write(c.tls, asio::buffer(message), asio::use_awaitable);
    co_await asio::async_read(c.tls, asio::buffer(c.reply.data(), size), asio::use_awaitable);
    if (std::memcmp(c.reply.data(), message.data(), size) != 0) fail("an echo differs from its message");
    c.position += size + 1;
    ++c.echoes;
  }
}

asio::awaitable<void> close(Client& c) {
  co_await c.tls.async_shutdown(asio::use_awaitable);
}

struct Sample {
  double echoes_per_second = 0;
  double server_us_per_echo = 0;
  double client_us_per_echo = 0;
};

// measure runs one server through one load.
std::optional<Sample> measure(const std::string& program, std::size_t size, const Options& o,
                              const std::filesystem::path& dir) {
  const std::filesystem::path ca = dir / "ca.pem";
  Server server(program, ca, o.connections, o);
  if (!server.started()) return std::nullopt;
  sanstls::Context ctx(sanstls::Protocol::tls_client);
  ctx.load_verify_locations({.cafile = ca.string()});
  Loop loop;
  std::vector<std::unique_ptr<Client>> clients;
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), server.port());
  std::vector<asio::awaitable<void>> tasks;
  for (int i = 0; i < o.connections; ++i) {
    clients.push_back(std::make_unique<Client>(loop.io, ctx));
    clients.back()->position = static_cast<std::size_t>(i) * 4099;
    tasks.push_back(connect(*clients.back(), endpoint));
  }
  loop.run(std::move(tasks));
  // A short untimed stretch first: the server's buffers and the kernel's
  // socket buffers reach their steady size.
  const auto warm = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.quick ? 5 : 100);
  for (auto& c : clients) tasks.push_back(echo_until(*c, size, warm));
  loop.run(std::move(tasks));
  std::uint64_t before = 0;
  for (auto& c : clients) before += c->echoes;

  const double server_start = server.cpu_seconds();
  const double client_start = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(o.seconds));
  for (auto& c : clients) tasks.push_back(echo_until(*c, size, end));
  loop.run(std::move(tasks));
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;
  const double server_cpu = server.cpu_seconds() - server_start;
  const double client_cpu = thread_cpu_seconds() - client_start;
  std::uint64_t echoes = 0;
  for (auto& c : clients) echoes += c->echoes;
  echoes -= before;

  for (auto& c : clients) tasks.push_back(close(*c));
  loop.run(std::move(tasks));
  clients.clear();
  const std::string summary = server.finish();
  const std::string clean = "served " + std::to_string(o.connections) + " connections: " +
                            std::to_string(o.connections) + " clean, 0 errors";
  if (summary != clean) fail(program + ": " + summary);
  if (echoes == 0) fail(program + ": no echo in the timed stretch");
  const auto n = static_cast<double>(echoes);
  return Sample{n / wall.count(), server_cpu / n * 1e6, client_cpu / n * 1e6};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string name_of(const std::string& program) { return std::filesystem::path(program).filename().string(); }

Options parse(int argc, char** argv) {
  Options o;
  bool seconds_given = false, rounds_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--seconds") {
      o.seconds = std::stod(value());
      seconds_given = true;
    } else if (arg == "--rounds") {
      o.rounds = std::stoi(value());
      rounds_given = true;
    } else if (arg == "--connections") {
      o.connections = std::stoi(value());
    } else if (arg == "--cpus") {
      const std::string cpus = value();
      const auto comma = cpus.find(',');
      if (comma == std::string::npos) fail("--cpus takes SERVER,CLIENT");
      o.server_cpu = std::stoi(cpus.substr(0, comma));
      o.client_cpu = std::stoi(cpus.substr(comma + 1));
    } else if (arg.rfind("--", 0) == 0) {
      fail("unknown option " + arg);
    } else {
      o.servers.push_back(arg);
    }
  }
  if (o.quick) {
    if (!seconds_given) o.seconds = 0.05;
    if (!rounds_given) o.rounds = 1;
  }
  if (o.servers.empty() || o.rounds < 1 || o.connections < 1 || o.seconds <= 0) {
    fail("usage: sanstls-echo-load [--quick] [--seconds S] [--rounds R] [--connections N] "
         "[--cpus SERVER,CLIENT] SERVER...");
  }
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  pin(o.client_cpu);
  char templ[] = "/tmp/sanstls-echo-load-XXXXXX";
  if (::mkdtemp(templ) == nullptr) fail("mkdtemp failed");
  const std::filesystem::path dir = templ;
  std::printf("# sanstls-echo-load: %d connections, %.2f s per measurement, %d rounds; servers on CPU %d, "
              "this client on CPU %d; echoes/s by the wall clock, CPU time from /proc/PID/task/*/schedstat\n",
              o.connections, o.seconds, o.rounds, o.server_cpu, o.client_cpu);
  for (const std::size_t size : {std::size_t{1024}, std::size_t{16384}}) {
    const std::string label = size == 1024 ? "1k" : "16k";
    std::map<std::string, std::vector<Sample>> samples;
    std::vector<std::string> present;
    for (int round = 0; round < o.rounds; ++round) {
      for (const std::string& program : o.servers) {
        const std::string name = name_of(program);
        if (round > 0 && std::find(present.begin(), present.end(), name) == present.end()) continue;
        std::optional<Sample> s = measure(program, size, o, dir);
        if (!s) {
          if (round == 0) std::printf("# %s: left out (exit status 77: no io_uring here)\n", name.c_str());
          continue;
        }
        if (round == 0) present.push_back(name);
        samples[name].push_back(*s);
      }
    }
    std::map<std::string, Sample> med;
    for (const std::string& name : present) {
      std::vector<double> rate, server, client;
      for (const Sample& s : samples[name]) {
        rate.push_back(s.echoes_per_second);
        server.push_back(s.server_us_per_echo);
        client.push_back(s.client_us_per_echo);
      }
      med[name] = Sample{median(rate), median(server), median(client)};
      std::printf("BENCH scenario=echo_server_%s server=%s echoes/s=%.0f server_us/echo=%.2f client_us/echo=%.2f\n",
                  label.c_str(), name.c_str(), med[name].echoes_per_second, med[name].server_us_per_echo,
                  med[name].client_us_per_echo);
    }
    for (std::size_t i = 1; i < present.size(); ++i) {
      const Sample& a = med[present[0]];
      const Sample& b = med[present[i]];
      std::printf("BENCH scenario=echo_server_%s %s=%.0f %s=%.0f ratio=%.3f unit=echoes/s\n", label.c_str(),
                  present[0].c_str(), a.echoes_per_second, present[i].c_str(), b.echoes_per_second,
                  a.echoes_per_second / b.echoes_per_second);
      std::printf("BENCH scenario=echo_server_cpu_%s %s=%.2f %s=%.2f ratio=%.3f unit=server_us/echo\n",
                  label.c_str(), present[0].c_str(), a.server_us_per_echo, present[i].c_str(),
                  b.server_us_per_echo, a.server_us_per_echo / b.server_us_per_echo);
    }
    std::fflush(stdout);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "sanstls-echo-load: FAILED: %s\n", e.what());
    return 1;
  }
}
