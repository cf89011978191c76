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
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../asio_load.hpp"
#include "../peer_protocol.hpp"
#include "asio_ssl_impl.hpp"

namespace {

using namespace bench::asio_load;
using bench::peer::say;

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

class Peer : public bench::peer::Peer {
 public:
  explicit Peer(const bench::peer::Options& options)
      : options_(options),
        impl_(Pem{read_file(options.dir + "/ecdsa-ca.pem"), read_file(options.dir + "/ecdsa-cert.pem"),
                  read_file(options.dir + "/ecdsa-key.pem"), read_file(options.dir + "/rsa2048-ca.pem")}) {}

  void warm(const std::string& name) override {
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
    const double rate = run(s, warm_count(*spec, options_.quick));
    const std::string negotiated = s.workload->describe();
    if (negotiated != kNegotiated) {
      throw std::runtime_error("negotiated " + negotiated + ", not what sanstls-bench's side does");
    }
    s.count = count_for(*spec, rate, options_.target_seconds, options_.quick);
    say("# " + name + ": " + negotiated + "; " + verification);
    say("# " + name + ": " + std::to_string(kConnections) + " connections" +
        (spec->handshakes ? " (lanes of connect, handshake, 32-byte echo, close_notify both ways)" : "") +
        " on one io_context in one thread, clients and servers; " + std::to_string(s.count) +
        (spec->handshakes ? " handshakes" : " echoes") + " per repetition; every echo compared");
    scenarios_.emplace(name, std::move(s));
    say("OK");
  }

  double run(const std::string& name) override {
    Scenario& s = warmed(name);
    s.values.push_back(run(s, s.count));
    return s.values.back();
  }

  void report(const std::string& name) override {
    const Scenario& s = warmed(name);
    bench::peer::say_report(name, s.values, s.spec->unit, static_cast<std::uint64_t>(s.count));
  }

  // close ends every scenario's connections cleanly, reporting a failure.
  void close() override {
    for (auto& [name, s] : scenarios_) s.workload->close();
    scenarios_.clear();
  }

 private:
  Scenario& warmed(const std::string& name) {
    auto it = scenarios_.find(name);
    if (it == scenarios_.end()) throw std::runtime_error("scenario not warmed");
    return it->second;
  }

  // run times |count| operations and returns them per second.
  double run(Scenario& s, int count) {
    const double start = bench::peer::now_seconds(options_);
    s.workload->run(count);
    return count / (bench::peer::now_seconds(options_) - start);
  }

  bench::peer::Options options_;
  AsioSsl impl_;
  std::map<std::string, Scenario> scenarios_;
};

}  // namespace

int main(int argc, char** argv) {
  return bench::peer::serve(argc, argv, [](const bench::peer::Options& options) {
    auto peer = std::make_unique<Peer>(options);
    say("# asio " + std::to_string(ASIO_VERSION / 100000) + "." + std::to_string(ASIO_VERSION / 100 % 1000) + "." +
        std::to_string(ASIO_VERSION % 100) + " asio::ssl::stream<asio::ip::tcp::socket> on " + AsioSsl::library() +
        ", coroutines (asio::awaitable), over loopback TCP; timed by " + bench::peer::clock_name(options));
    std::string scenarios;
    for (const Spec& spec : kSpecs) scenarios += (scenarios.empty() ? "" : ",") + std::string(spec.name);
    say("SCENARIOS " + scenarios);
    return peer;
  });
}
