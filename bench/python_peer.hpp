// bench/python_peer.hpp: Python's ssl module as a second reference, run in
// the same benchmark: python_bench.py --serve in a child process that waits
// on its stdin for one command at a time, so its repetitions interleave
// with the C++ ones (sanstls, baseline, ..., python, sanstls, ...) and see
// the same machine.
#ifndef SANSTLS_BENCH_PYTHON_PEER_HPP
#define SANSTLS_BENCH_PYTHON_PEER_HPP

#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace bench {

class PythonPeer {
 public:
  PythonPeer() = default;
  PythonPeer(const PythonPeer&) = delete;
  PythonPeer& operator=(const PythonPeer&) = delete;
  // The destructor asks the script to quit, waits for it and removes the
  // folder of PEM files.
  ~PythonPeer();

  // start finds python3 (PYTHON3, else PATH) and |script|, writes the
  // certificates and keys to a temporary folder and starts the script.
  // Returns false, after printing a "# python: ..." note, when either is
  // missing; fails when the script does not start.
  bool start(const std::string& script, int reps, double target_seconds, bool quick,
             bool wall_clock);
  bool active() const noexcept { return pid_ > 0; }

  // warm warms |scenario| up and sizes its repetitions.
  void warm(const std::string& scenario);
  // run times one repetition and returns its value.
  double run(const std::string& scenario);
  // Summary is what the script reports for a scenario.
  struct Summary {
    double median = 0;
    std::string unit;
  };
  // report returns the median of the repetitions run so far.
  Summary report(const std::string& scenario);

 private:
  // command sends |line| and returns the first answer line that is not a
  // note; notes are printed as "# python: ...".
  std::string command(const std::string& line);
  std::string read_line();

  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
  std::filesystem::path dir_;
};

}  // namespace bench

#endif  // SANSTLS_BENCH_PYTHON_PEER_HPP
