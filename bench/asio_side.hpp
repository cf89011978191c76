// bench/asio_side.hpp: the loopback scenarios (asio_echo_1k,
// asio_echo_16k, asio_handshakes) in sanstls-bench: sanstls::asio::stream,
// and as the baseline asio::ssl::stream on the same BoringSSL, both running
// bench/asio_load.hpp's loops over TCP on 127.0.0.1. The asio::ssl peer
// (bench/peers/asio_ssl) runs the same loops on OpenSSL 3. Built when
// asio is found (SANSTLS_BENCH_ASIO).
#ifndef SANSTLS_BENCH_ASIO_SIDE_HPP
#define SANSTLS_BENCH_ASIO_SIDE_HPP

#include <memory>
#include <string>
#include <vector>

namespace bench {

// LoopbackArm is one implementation of a loopback scenario, set up (for
// the echoes, its connections established) and warmed up.
class LoopbackArm {
 public:
  virtual ~LoopbackArm() = default;
  // run runs |count| operations and returns them per second (Timer).
  virtual double run(int count) = 0;
  // close ends the connections cleanly, failing if they do not.
  virtual void close() = 0;
};

// LoopbackScenario is a loopback scenario ready to alternate: both
// in-process arms and the number of operations in one repetition.
struct LoopbackScenario {
  const char* unit = "";
  int count = 0;
  int connections = 0;
  std::unique_ptr<LoopbackArm> sanstls;
  std::unique_ptr<LoopbackArm> baseline;  // asio::ssl::stream on this BoringSSL
};

// loopback_scenarios returns the names of the loopback scenarios.
std::vector<std::string> loopback_scenarios();

// setup_loopback sets scenario |name| up on sanstls and on the baseline,
// checks and notes what each negotiated and that a client trusting the
// other CA or asking for another name fails, runs the warm-up and sizes a
// repetition from sanstls's warm-up rate (about |target_seconds|).
LoopbackScenario setup_loopback(const std::string& name, bool quick, double target_seconds);

}  // namespace bench

#endif  // SANSTLS_BENCH_ASIO_SIDE_HPP
