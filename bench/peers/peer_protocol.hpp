// bench/peers/peer_protocol.hpp: the peer side of sanstls-bench's line
// protocol (bench/README.md, "Peers"), shared by the C++ peers (the Botan
// peer and the asio::ssl peer).
//
// Each peer is a program of its own, because the library it measures
// cannot share a process with the BoringSSL that sanstls-bench links (the
// same headers and symbols in OpenSSL 3's case). This header touches no
// TLS library, so every peer can include it: the options, the command loop
// (warm / run / report / quit), the timer and the report line live here
// once; a peer supplies only its scenarios.
//
//   class MyPeer : public bench::peer::Peer { ... };
//   int main(int argc, char** argv) {
//     return bench::peer::serve(argc, argv, [](const bench::peer::Options& options) {
//       bench::peer::say("# my library 1.0, timed by " + bench::peer::clock_name(options));
//       return std::make_unique<MyPeer>(options);
//     });
//   }
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

namespace bench::peer {

// Options are the command-line options sanstls-bench starts a peer with.
struct Options {
  std::string dir;               // --dir: the bench's certificates and keys
  double target_seconds = 0.25;  // --target-seconds: how long one repetition should take
  bool quick = false;            // --quick: few operations, every byte compared
  bool wall_clock = false;       // --wall-clock: time by CLOCK_MONOTONIC, not thread CPU time
};

// parse_options reads the options; an unknown or incomplete one throws.
// --serve (the only mode) and --reps (sanstls-bench counts the runs) are
// accepted and ignored.
inline Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--serve") continue;
    else if (arg == "--quick") o.quick = true;
    else if (arg == "--wall-clock") o.wall_clock = true;
    else if (arg == "--dir") o.dir = value();
    else if (arg == "--reps") value();
    else if (arg == "--target-seconds") o.target_seconds = std::stod(value());
    else throw std::runtime_error("unknown argument " + arg);
  }
  if (o.dir.empty()) throw std::runtime_error("--dir is required");
  return o;
}

// say writes one protocol line and flushes it: sanstls-bench waits for
// each answer before it sends the next command.
inline void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// format is snprintf for one number.
inline std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

// now_seconds reads the clock the options chose. Thread CPU time by
// default, as sanstls-bench itself measures, so a busy machine slows
// neither side's figures.
inline double now_seconds(const Options& options) {
  timespec ts{};
  clock_gettime(options.wall_clock ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// clock_name names that clock for a peer's banner.
inline std::string clock_name(const Options& options) {
  return options.wall_clock ? "the wall clock" : "thread CPU time";
}

// say_report answers "report": the median, minimum and maximum of the
// repetitions' values, their unit and the operations per repetition.
inline void say_report(const std::string& name, std::vector<double> values, const char* unit,
                       std::uint64_t count) {
  if (values.empty()) throw std::runtime_error("no repetitions run");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  char buf[256];
  std::snprintf(buf, sizeof buf, "PEER scenario=%s median=%.3f unit=%s min=%.3f max=%.3f count=%llu",
                name.c_str(), median, unit, values.front(), values.back(),
                static_cast<unsigned long long>(count));
  say(buf);
}

// Peer is what a peer program does for the three commands about a
// scenario. Each may throw; serve answers the exception with ERROR.
class Peer {
 public:
  virtual ~Peer() = default;
  // warm sets scenario |name| up afresh (a scenario warmed again starts
  // over) and says "OK", its "# name: ..." notes first, or says
  // "UNSUPPORTED <why>".
  virtual void warm(const std::string& name) = 0;
  // run times one repetition of a warmed scenario and returns its value.
  virtual double run(const std::string& name) = 0;
  // report answers with say_report over the scenario's repetitions.
  virtual void report(const std::string& name) = 0;
  // close ends whatever is still open, before the program exits.
  virtual void close() {}
};

// serve runs a peer program: it parses the options, calls start (which
// says the peer's banner lines and returns the Peer), says READY, and
// answers commands until "quit" or the end of input. Returns main's exit
// status: 0, or 1 after saying "ERROR <command>: <what>" for an exception,
// which ends the program (sanstls-bench reports it and carries on without
// the peer).
template <class Start>
int serve(int argc, char** argv, Start start) {
  std::string current = "start";
  try {
    const Options options = parse_options(argc, argv);
    std::unique_ptr<Peer> peer = start(options);
    say("READY");
    std::string line;
    while (std::getline(std::cin, line)) {
      current = line;
      std::istringstream words(line);
      std::string command, name, extra;
      words >> command >> name >> extra;
      if (command.empty()) continue;
      if (command == "quit") break;
      if (name.empty() || !extra.empty()) throw std::runtime_error("expected: COMMAND SCENARIO");
      if (command == "warm") {
        peer->warm(name);
      } else if (command == "run") {
        say(format("REP %.3f", peer->run(name)));
      } else if (command == "report") {
        peer->report(name);
      } else {
        throw std::runtime_error("unknown command");
      }
    }
    current = "quit";
    peer->close();
    return 0;
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    say("ERROR " + current + ": " + what);
    return 1;
  }
}

}  // namespace bench::peer
