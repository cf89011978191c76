// bench/peer.hpp: another TLS implementation measured in the same run: a
// program (python_bench.py for Python's ssl module, bench/peers/ for
// rustls and Botan) that runs the same in-memory scenarios and waits on its
// stdin for one command at a time, so its repetitions interleave with the
// C++ ones (sanstls, baseline, ..., rustls, botan, python, sanstls, ...)
// and see the same machine. The protocol is in README.md ("Peers").
#ifndef SANSTLS_BENCH_PEER_HPP
#define SANSTLS_BENCH_PEER_HPP

#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace bench {

class Peer {
 public:
  // |name| labels the peer in the output ("python", "rustls", ...).
  explicit Peer(std::string name) : name_(std::move(name)) {}
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  // The destructor asks the program to quit, waits for it and removes the
  // folder of PEM files.
  ~Peer();

  // start writes the certificates and keys to a temporary folder and runs
  // |command| (a program and its first arguments) with the protocol's
  // arguments. Returns false, after printing a "# NAME: ..." note, when the
  // program is missing; fails when it does not start.
  bool start(const std::vector<std::string>& command, int reps, double target_seconds,
             bool quick, bool wall_clock);
  const std::string& name() const noexcept { return name_; }
  // takes says whether to ask the peer about |scenario|: a peer that
  // listed its scenarios at start (SCENARIOS) runs those only; one that
  // did not is asked about every in-memory scenario, never about a
  // |loopback| one (over TCP), which it would not know.
  bool takes(const std::string& scenario, bool loopback) const;
  bool active() const noexcept { return pid_ > 0; }

  // warm warms |scenario| up and sizes its repetitions. Returns false,
  // after a note, when the peer cannot run it.
  bool warm(const std::string& scenario);
  // run times one repetition and returns its value.
  double run(const std::string& scenario);
  // Summary is what the peer reports for a scenario.
  struct Summary {
    double median = 0;
    std::string unit;
  };
  // report returns the median of the repetitions run so far.
  Summary report(const std::string& scenario);

 private:
  // command sends |line| and returns the first answer line that is not a
  // note; notes are printed as "# NAME: ...".
  std::string command(const std::string& line);
  std::string read_line();
  [[noreturn]] void fail_with(const std::string& what) const;

  std::string name_;
  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
  std::filesystem::path dir_;
  std::vector<std::string> scenarios_;  // from its SCENARIOS line; empty: none given
};

// write_credentials writes the PEM files a peer reads into |dir| (which
// must exist): for KEY in ecdsa and rsa2048, KEY-ca.pem, KEY-cert.pem and
// KEY-key.pem, the certificates and keys every implementation uses.
void write_credentials(const std::filesystem::path& dir);

// find_program returns the path of |name| (PATH is searched when it has no
// slash), or "" when there is no such executable.
std::string find_program(const std::string& name);

}  // namespace bench

#endif  // SANSTLS_BENCH_PEER_HPP
