// bench/peers/asio_ssl/asio_ssl_peer.cpp: the asio::ssl peer of
// sanstls-bench. It runs the loopback scenarios (asio_echo_1k,
// asio_echo_16k, asio_handshakes; bench/asio_load.hpp) with
// asio::ssl::stream on OpenSSL 3, the same loops sanstls-bench runs with
// sanstls::asio::stream, and answers the line protocol of bench/peers
// (warm / run / report / quit; see bench/README.md). Every other scenario
// is UNSUPPORTED, and it says so up front (SCENARIOS), so the bench asks
// it about these three only.
//
// A program of its own because OpenSSL 3 and BoringSSL (which sanstls-bench
// links) have the same headers and symbols: this one links OpenSSL only,
// and never sanstls.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../asio_load.hpp"
#include "asio_ssl_impl.hpp"

namespace {

using namespace bench::asio_load;

struct Options {
  std::string dir;
  double target_seconds = 0.25;
  bool quick = false;
  bool wall_clock = false;
};

Options g_options;

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

double now_seconds() {
  timespec ts{};
  clock_gettime(g_options.wall_clock ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + path);
  return text.str();
}

// Scenario is one warmed-up scenario: its workload (connections kept
// across repetitions), the size of a repetition and the values so far.
struct Scenario {
  const Spec* spec = nullptr;
  std::unique_ptr<Workload> workload;
  int count = 0;
  std::vector<double> values;
};

class Peer {
 public:
  Peer()
      : impl_(Pem{read_file(g_options.dir + "/ecdsa-ca.pem"), read_file(g_options.dir + "/ecdsa-cert.pem"),
                  read_file(g_options.dir + "/ecdsa-key.pem"), read_file(g_options.dir + "/rsa2048-ca.pem")}) {}

  // handle answers one command line; false means quit.
  bool handle(const std::string& line) {
    std::istringstream words(line);
    std::string command, name, extra;
    words >> command >> name >> extra;
    if (command.empty()) return true;
    if (command == "quit") return false;
    if (name.empty() || !extra.empty()) throw std::runtime_error("expected: COMMAND SCENARIO");
    if (command == "warm") {
      warm(name);
    } else if (command == "run") {
      Scenario& s = warmed(name);
      s.values.push_back(run(s, s.count));
      say(format("REP %.3f", s.values.back()));
    } else if (command == "report") {
      report(name, warmed(name));
    } else {
      throw std::runtime_error("unknown command");
    }
    return true;
  }

 private:
  Scenario& warmed(const std::string& name) {
    auto it = scenarios_.find(name);
    if (it == scenarios_.end()) throw std::runtime_error("scenario not warmed");
    return it->second;
  }

  // run times |count| operations and returns them per second.
  double run(Scenario& s, int count) {
    const double start = now_seconds();
    s.workload->run(count);
    return count / (now_seconds() - start);
  }

  void warm(const std::string& name) {
    const Spec* spec = find_spec(name);
    if (spec == nullptr) {
      say("UNSUPPORTED asio::ssl runs only the loopback scenarios (asio_*)");
      return;
    }
    // A scenario warmed again starts afresh; the old one ends cleanly.
    if (auto it = scenarios_.find(name); it != scenarios_.end()) {
      it->second.workload->close();
      scenarios_.erase(it);
    }
    const std::string verification = check_verification(impl_);
    Scenario s;
    s.spec = spec;
    s.workload = make_workload(impl_, *spec);
    const double rate = run(s, warm_count(*spec, g_options.quick));
    const std::string negotiated = s.workload->describe();
    if (negotiated != kNegotiated) {
      throw std::runtime_error("negotiated " + negotiated + ", not what sanstls-bench's side does");
    }
    s.count = count_for(*spec, rate, g_options.target_seconds, g_options.quick);
    say("# " + name + ": " + negotiated + "; " + verification);
    say("# " + name + ": " + std::to_string(kConnections) + " connections" +
        (spec->handshakes ? " (lanes of connect, handshake, 32-byte echo, close_notify both ways)" : "") +
        " on one io_context in one thread, clients and servers; " + std::to_string(s.count) +
        (spec->handshakes ? " handshakes" : " echoes") + " per repetition; every echo compared");
    scenarios_.emplace(name, std::move(s));
    say("OK");
  }

  static void report(const std::string& name, const Scenario& s) {
    if (s.values.empty()) throw std::runtime_error("no repetitions run");
    std::vector<double> v = s.values;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    char buf[256];
    std::snprintf(buf, sizeof buf, "PEER scenario=%s median=%.3f unit=%s min=%.3f max=%.3f count=%d", name.c_str(),
                  median, s.spec->unit, v.front(), v.back(), s.count);
    say(buf);
  }

 public:
  // close ends every scenario's connections cleanly, reporting a failure.
  void close() {
    for (auto& [name, s] : scenarios_) s.workload->close();
    scenarios_.clear();
  }

 private:
  AsioSsl impl_;
  std::map<std::string, Scenario> scenarios_;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--serve") continue;  // the only mode
    else if (arg == "--quick") o.quick = true;
    else if (arg == "--wall-clock") o.wall_clock = true;
    else if (arg == "--dir") o.dir = value();
    else if (arg == "--reps") value();  // the driver counts the runs
    else if (arg == "--target-seconds") o.target_seconds = std::stod(value());
    else throw std::runtime_error("unknown argument " + arg);
  }
  if (o.dir.empty()) throw std::runtime_error("--dir is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::string current = "start";
  try {
    g_options = parse_options(argc, argv);
    Peer peer;
    say("# asio " + std::to_string(ASIO_VERSION / 100000) + "." + std::to_string(ASIO_VERSION / 100 % 1000) + "." +
        std::to_string(ASIO_VERSION % 100) + " asio::ssl::stream<asio::ip::tcp::socket> on " + AsioSsl::library() +
        ", coroutines (asio::awaitable), over loopback TCP; timed by " +
        (g_options.wall_clock ? "the wall clock" : "thread CPU time"));
    std::string scenarios;
    for (const Spec& spec : kSpecs) scenarios += (scenarios.empty() ? "" : ",") + std::string(spec.name);
    say("SCENARIOS " + scenarios);
    say("READY");
    std::string line;
    while (std::getline(std::cin, line)) {
      current = line;
      if (!peer.handle(line)) break;
    }
    current = "quit";
    peer.close();
    return 0;
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    say("ERROR " + current + ": " + what);
    return 1;
  }
}
