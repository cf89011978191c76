// bench/sanstls_bench.cpp: sanstls against raw BoringSSL (and Python's ssl)
// in one run. See README.md for the method; `sanstls-bench --help` for use.
#include <openssl/aead.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sanstls/version.hpp>

#include "baseline_side.hpp"
#include "bench.hpp"
#if SANSTLS_BENCH_ASIO
#include "asio_side.hpp"
#endif
#include "malloc_hook.hpp"
#include "measure.hpp"
#include "peer.hpp"
#include "report.hpp"
#include "sanstls_side.hpp"

#ifndef SANSTLS_BENCH_SOURCE_DIR
#define SANSTLS_BENCH_SOURCE_DIR "bench"
#endif
#ifndef SANSTLS_BENCH_BUILDTYPE
#define SANSTLS_BENCH_BUILDTYPE "unknown"
#endif
#ifndef SANSTLS_BENCH_BORINGSSL
#define SANSTLS_BENCH_BORINGSSL "unknown"
#endif

namespace bench {
namespace {

using Sanstls = SanstlsSide;
using Baseline = BaselineSide<Transport::bio_pair>;
using SharedPair = BaselineSide<Transport::shared_pair>;
using MemBio = BaselineSide<Transport::mem>;
using sanstls::testing::KeyType;

struct Options {
  bool quick = false;
  std::string filter;
  int reps = 7;
  bool reps_given = false;
  double target_seconds = 0.25;  // the length of one timed repetition
  std::string python_script;
  bool python = true;
  bool wall_clock = false;
  std::string only;  // --only sanstls|baseline: time that one (and the peers)
  std::string cpu;   // --cpu N|any; empty: the CPU it starts on
  std::string credentials_dir;  // --write-credentials DIR
  std::vector<std::pair<std::string, std::string>> peers;  // --peer NAME=PROGRAM
};

Options g_options;

// The other implementations that run as programs of their own: the
// --peer ones (rustls, Botan), then Python's ssl module when it is there.
std::vector<std::unique_ptr<Peer>> g_peers;

// Runs is the samples of one scenario, one vector per implementation;
// peers[i] is the i-th PeerArm's, round by round like the others.
struct Runs {
  std::vector<double> sanstls, baseline, shared, mem;
  std::vector<std::vector<double>> peers;
};

// Arms are the measurements of one scenario; null ones are skipped.
struct Arms {
  std::function<double()> sanstls, baseline, shared = nullptr, mem = nullptr;
};

// PeerArm is a peer that takes part in one scenario.
struct PeerArm {
  Peer* peer;
  std::string scenario;
};

// peer_arms warms |scenario| up in every peer that can run it: the peers
// that list it (Peer::takes), or for an in-memory scenario, every peer
// that lists none. |loopback| says it is one of the asio_ scenarios over
// TCP, which only a peer that names them can run.
std::vector<PeerArm> peer_arms(const std::string& scenario, bool loopback = false) {
  std::vector<PeerArm> arms;
  for (auto& peer : g_peers) {
    if (peer->takes(scenario, loopback) && peer->warm(scenario)) arms.push_back({peer.get(), scenario});
  }
  return arms;
}

// alternate runs |reps| repetitions of each measurement in turn: sanstls,
// baseline, (the extra baselines, the peers,) sanstls, baseline, ... The
// peers keep their own samples.
Runs alternate(const Arms& arms, const std::vector<PeerArm>& peers = {}) {
  Runs runs;
  runs.peers.resize(peers.size());
  for (int i = 0; i < g_options.reps; ++i) {
    const bool all = g_options.only.empty();
    if (arms.sanstls && (all || g_options.only == "sanstls")) {
      runs.sanstls.push_back(arms.sanstls());
    }
    if (arms.baseline && (all || g_options.only == "baseline")) {
      runs.baseline.push_back(arms.baseline());
    }
    if (all) {
      if (arms.shared) runs.shared.push_back(arms.shared());
      if (arms.mem) runs.mem.push_back(arms.mem());
    }
    for (std::size_t k = 0; k < peers.size(); ++k) {
      runs.peers[k].push_back(peers[k].peer->run(peers[k].scenario));
    }
  }
  return runs;
}

// paired_ratio is the median over rounds of sanstls's sample divided by
// the other's from the same round. On a shared machine whose speed drifts
// by tens of per cent over seconds, a round's two samples, taken a
// fraction of a second apart, share most of the drift, which the ratio of
// the two medians does not cancel. Empty when there are no pairs.
std::string paired_ratio(const std::vector<double>& mine, const std::vector<double>& theirs) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < mine.size() && i < theirs.size(); ++i) {
    if (theirs[i] > 0) ratios.push_back(mine[i] / theirs[i]);
  }
  if (ratios.empty()) return "";
  return format(summarize(ratios).median, 3);
}

// print_peers prints a line comparing sanstls with each peer that ran
// |scenario|: "python=", "rustls=", ... For a rate a ratio above 1 means
// sanstls is faster; for bytes, below 1 means it uses less.
// With |runs|, each line also has paired=, paired_ratio's.
void print_peers(const std::vector<PeerArm>& peers, const Summary& sanstls, Unit unit,
                 const Runs* runs = nullptr) {
  for (std::size_t k = 0; k < peers.size(); ++k) {
    const PeerArm& p = peers[k];
    Peer::Summary other = p.peer->report(p.scenario);
    if (other.unit != unit.name) {
      fail(p.peer->name() + " peer: unit " + other.unit + " for " + p.scenario);
    }
    std::string paired;
    if (runs != nullptr && k < runs->peers.size()) {
      paired = paired_ratio(runs->sanstls, runs->peers[k]);
    }
    std::printf("BENCH scenario=%s sanstls=%s %s=%s ratio=%s%s%s unit=%s\n", p.scenario.c_str(),
                format(sanstls.median, unit.decimals).c_str(), p.peer->name().c_str(),
                format(other.median, unit.decimals).c_str(),
                ratio(sanstls.median, other.median).c_str(), paired.empty() ? "" : " paired=",
                paired.c_str(), unit.name);
  }
  std::fflush(stdout);
}

std::string describe(const std::string& label, const Summary& s, int decimals) {
  return label + " median=" + format(s.median, decimals) + " min=" + format(s.min, decimals) +
         " max=" + format(s.max, decimals);
}

// count_for returns how many operations make one timed repetition, given
// the rate a warm-up measured.
int count_for(double rate, int quick_count, int minimum) {
  if (g_options.quick) return quick_count;
  return std::clamp(static_cast<int>(rate * g_options.target_seconds), minimum, 1000000);
}

// ---- scenarios --------------------------------------------------------

// kTls12Gcm is the TLS 1.2 suite of the TLS 1.2 scenarios.
constexpr const char* kTls12Gcm = "ECDHE-ECDSA-AES128-GCM-SHA256";

Settings handshake_settings(KeyType key, bool tls12) {
  Settings s;
  s.key_type = key;
  s.tls12 = tls12;
  if (tls12) s.ciphers = kTls12Gcm;
  s.resumption = false;
  return s;
}

void run_handshake(const std::string& name, KeyType key, bool tls12) {
  Settings settings = handshake_settings(key, tls12);
  Sanstls::Env s_env(settings);
  Baseline::Env b_env(settings);
  SharedPair::Env sh_env(settings);
  {
    Sanstls::Pair s(s_env);
    s.handshake();
    Baseline::Pair b(b_env);
    b.handshake();
    if (s.cipher() != b.cipher() || s.version() != b.version()) {
      fail(name + ": sanstls negotiated " + s.cipher() + " " + s.version() + ", baseline " +
           b.cipher() + " " + b.version());
    }
    print_note(name + ": " + s.version() + " " + s.cipher() + ", both sides");
  }
  const int warm = g_options.quick ? 2 : 20;
  double rate = handshakes_per_second<Sanstls>(s_env, warm);
  handshakes_per_second<Baseline>(b_env, warm);
  handshakes_per_second<SharedPair>(sh_env, warm);
  const int n = count_for(rate, 5, 20);
  std::vector<PeerArm> peers = peer_arms(name);
  Runs runs = alternate({.sanstls = [&] { return handshakes_per_second<Sanstls>(s_env, n); },
                         .baseline = [&] { return handshakes_per_second<Baseline>(b_env, n); },
                         .shared = [&] { return handshakes_per_second<SharedPair>(sh_env, n); }},
                        peers);
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  Summary sh = summarize(runs.shared);
  print_bench(name, s, b, kHandshakes);
  print_note(name + ": " + std::to_string(n) + " handshakes x " + std::to_string(g_options.reps) +
             " reps; " + describe("baseline", b, 1) + "; " +
             describe("shared_bio_pair", sh, 1) + " ratio=" + ratio(s.median, sh.median));
  print_peers(peers, s, kHandshakes, &runs);
}

// run_cert_compression measures certificate compression (RFC 8879) for the
// test chain (one ECDSA P-256 certificate) and a realistic three-certificate
// RSA-2048 chain, with none, zlib and brotli: the bytes the server sends in
// a full TLS 1.3 handshake (BENCH unit=bytes, next to the same handshake
// uncompressed) and the handshake rate (next to raw BoringSSL with the
// same compression, which compresses in every handshake where sanstls
// reuses its Context's result), and what compression costs each of them
// against its own uncompressed rate.
void run_cert_compression() {
  using sanstls::CertificateCompression;
  struct Chain {
    const char* name;
    KeyType key;
    bool chain3;
  };
  for (const Chain chain : {Chain{"ecdsa", KeyType::ec_p256, false}, Chain{"rsa3", KeyType::rsa2048, true}}) {
    Settings plain = handshake_settings(chain.key, false);
    plain.chain3 = chain.chain3;
    Sanstls::Env s_plain(plain);
    Baseline::Env b_plain(plain);
    std::uint64_t plain_bytes = 0;
    for (const std::optional<CertificateCompression> algorithm :
         {std::optional<CertificateCompression>(), std::optional(CertificateCompression::zlib),
          std::optional(CertificateCompression::brotli)}) {
      const std::string label =
          std::string(chain.name) + "_" +
          (algorithm ? std::string(sanstls::certificate_compression_name(*algorithm)) : "none");
      Settings settings = plain;
      if (algorithm) settings.compression = {*algorithm};
      Sanstls::Env s_env(settings);
      Baseline::Env b_env(settings);
      std::uint64_t bytes = 0;
      {
        Sanstls::Pair s(s_env);
        s.handshake();
        if (s.certificate_compression() != algorithm) fail("cert_compression_" + label + ": not compressed as asked");
        bytes = s.sent(Side::server);
        Baseline::Pair b(b_env);
        b.handshake();
      }
      if (!algorithm) plain_bytes = bytes;
      std::printf("BENCH scenario=cert_compression_bytes_%s sanstls=%llu uncompressed=%llu ratio=%s unit=bytes\n",
                  label.c_str(), static_cast<unsigned long long>(bytes),
                  static_cast<unsigned long long>(plain_bytes),
                  ratio(static_cast<double>(bytes), static_cast<double>(plain_bytes)).c_str());
      const int warm = g_options.quick ? 2 : 10;
      const double rate = handshakes_per_second<Sanstls>(s_env, warm);
      handshakes_per_second<Baseline>(b_env, warm);
      const int n = count_for(rate, 5, 20);
      // Each round also times both sides uncompressed, so that the cost of
      // compression is a ratio of samples taken moments apart (paired).
      Runs runs = alternate({.sanstls = [&] { return handshakes_per_second<Sanstls>(s_env, n); },
                             .baseline = [&] { return handshakes_per_second<Baseline>(b_env, n); },
                             .shared = [&] { return handshakes_per_second<Sanstls>(s_plain, n); },
                             .mem = [&] { return handshakes_per_second<Baseline>(b_plain, n); }});
      const Summary s = summarize(runs.sanstls);
      const Summary b = summarize(runs.baseline);
      print_bench("cert_compression_handshake_" + label, s, b, kHandshakes);
      if (algorithm) {
        print_note("cert_compression_handshake_" + label +
                   ": rate against the same chain uncompressed, paired by round: sanstls " +
                   paired_ratio(runs.sanstls, runs.shared) + ", baseline " + paired_ratio(runs.baseline, runs.mem));
      }
    }
  }
}

// threaded_handshakes_per_second runs |per_thread| full handshakes on each
// of |threads| threads, all sharing |env|'s client and server contexts, and
// returns the handshakes per second of all threads together by the wall
// clock (thread CPU time cannot show how the threads scale). The threads
// may run on any CPU, whatever the bench is pinned to.
template <class Impl>
double threaded_handshakes_per_second(typename Impl::Env& env, int threads, int per_thread) {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (unsigned cpu = 0; cpu < std::thread::hardware_concurrency(); ++cpu) CPU_SET(cpu, &all);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&env, &all, per_thread] {
      sched_setaffinity(0, sizeof all, &all);
      for (int i = 0; i < per_thread; ++i) {
        typename Impl::Pair pair(env);
        pair.handshake();
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return threads * per_thread / elapsed.count();
}

// run_threads_shared_context measures full TLS 1.3 handshakes (as
// handshake_tls13_ecdsa) by 1, 2 and 4 threads that share one client and
// one server Context, against raw BoringSSL's threads sharing one SSL_CTX
// pair: one BENCH line per thread count (threads_shared_context_N), and a
// note with how each scales from one thread. On two cores, four threads
// can only match two.
void run_threads_shared_context(const std::string& name) {
  Settings settings = handshake_settings(KeyType::ec_p256, false);
  Sanstls::Env s_env(settings);
  Baseline::Env b_env(settings);
  const int warm = g_options.quick ? 2 : 20;
  double rate = handshakes_per_second<Sanstls>(s_env, warm);
  handshakes_per_second<Baseline>(b_env, warm);
  const int per_thread = count_for(rate, 5, 20);
  double one_thread_sanstls = 0, one_thread_baseline = 0;
  for (int threads : {1, 2, 4}) {
    std::vector<double> s_rates, b_rates;
    for (int rep = 0; rep < g_options.reps; ++rep) {
      s_rates.push_back(threaded_handshakes_per_second<Sanstls>(s_env, threads, per_thread));
      b_rates.push_back(threaded_handshakes_per_second<Baseline>(b_env, threads, per_thread));
    }
    Summary s = summarize(s_rates);
    Summary b = summarize(b_rates);
    if (threads == 1) {
      one_thread_sanstls = s.median;
      one_thread_baseline = b.median;
    }
    const std::string line = name + "_" + std::to_string(threads);
    print_bench(line, s, b, kHandshakes);
    print_note(line + ": " + std::to_string(threads) + " threads x " + std::to_string(per_thread) +
               " handshakes x " + std::to_string(g_options.reps) + " reps, wall clock; " +
               describe("baseline", b, 1) + "; scaling from 1 thread: sanstls " +
               ratio(s.median, one_thread_sanstls) + ", baseline " + ratio(b.median, one_thread_baseline));
  }
}

// run_handshake_async_key measures TLS 1.3 handshakes whose server key is
// behind a signer answering on the next turn of the handshake loop
// (Settings::async_key), against raw BoringSSL signing synchronously, with
// sanstls's own synchronous handshake from the same run in the note.
void run_handshake_async_key(const std::string& name) {
  Settings sync = handshake_settings(KeyType::ec_p256, false);
  Settings async = sync;
  async.async_key = true;
  Sanstls::Env a_env(async);
  Sanstls::Env s_env(sync);
  Baseline::Env b_env(sync);
  {
    Sanstls::Pair a(a_env);
    a.handshake();
    print_note(name + ": " + a.version() + " " + a.cipher() + ", the server signing through an asynchronous signer");
  }
  const int warm = g_options.quick ? 2 : 20;
  double rate = handshakes_per_second<Sanstls>(a_env, warm);
  handshakes_per_second<Sanstls>(s_env, warm);
  handshakes_per_second<Baseline>(b_env, warm);
  const int n = count_for(rate, 5, 20);
  Runs runs = alternate({.sanstls = [&] { return handshakes_per_second<Sanstls>(a_env, n); },
                         .baseline = [&] { return handshakes_per_second<Baseline>(b_env, n); },
                         .shared = [&] { return handshakes_per_second<Sanstls>(s_env, n); }});
  Summary a = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  Summary s = summarize(runs.shared);
  print_bench(name, a, b, kHandshakes);
  print_note(name + ": " + std::to_string(n) + " handshakes x " + std::to_string(g_options.reps) +
             " reps; " + describe("baseline", b, 1) + "; " + describe("sanstls_synchronous_key", s, 1) +
             " async/sync ratio=" + ratio(a.median, s.median));
}

// resume_run warms up resumption for |Impl| and returns one timed
// repetition of |n| resumptions.
template <class Impl>
std::function<double()> resume_run(const Settings& settings, int warm, int n) {
  auto env = std::make_shared<typename Impl::Env>(settings);
  resumptions_per_second<Impl>(*env, warm);
  return [env, n] { return resumptions_per_second<Impl>(*env, n); };
}

// run_resume measures resumptions; |tickets| is how many TLS 1.3 tickets
// the server sends per handshake (BoringSSL's default is 2, rustls's 1).
void run_resume(const std::string& name, bool tls12, int tickets = 2) {
  Settings settings;
  settings.tls12 = tls12;
  settings.tls13_tickets = tickets;
  if (tls12) settings.ciphers = kTls12Gcm;
  settings.resumption = true;
  const int warm = g_options.quick ? 2 : 20;
  double rate = 0;
  {
    Baseline::Env probe(settings);
    rate = resumptions_per_second<Baseline>(probe, warm);
  }
  const int n = count_for(rate, 5, 20);
  std::vector<PeerArm> peers = peer_arms(name);
  Runs runs = alternate({.sanstls = resume_run<Sanstls>(settings, warm, n),
                         .baseline = resume_run<Baseline>(settings, warm, n)},
                        peers);
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  print_bench(name, s, b, kHandshakes);
  print_note(name + ": " + std::to_string(n) + " resumptions x " + std::to_string(g_options.reps) +
             " reps (client offers its newest ticket, reads the new ones; " +
             (tls12 ? std::string("a TLS 1.2 ticket") : std::to_string(tickets) + " TLS 1.3 tickets") +
             " per handshake); " +
             describe("baseline", b, 1));
  print_peers(peers, s, kHandshakes, &runs);
}

// run_resume_early_data measures TLS 1.3 resumptions that carry a
// 512-byte request as early data, read by the server as such.
void run_resume_early_data(const std::string& name) {
  Settings settings;
  settings.early_data = true;
  settings.resumption = true;
  static const std::string request(512, 'r');
  const std::span<const std::byte> bytes = std::as_bytes(std::span(request));
  const int warm = g_options.quick ? 2 : 20;
  auto s_env = std::make_shared<Sanstls::Env>(settings);
  auto b_env = std::make_shared<Baseline::Env>(settings);
  const double rate = early_resumptions_per_second<Baseline>(*b_env, warm, bytes);
  early_resumptions_per_second<Sanstls>(*s_env, warm, bytes);
  const int n = count_for(rate, 5, 20);
  Runs runs = alternate({.sanstls = [&] { return early_resumptions_per_second<Sanstls>(*s_env, n, bytes); },
                         .baseline = [&] { return early_resumptions_per_second<Baseline>(*b_env, n, bytes); }});
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  print_bench(name, s, b, kHandshakes);
  print_note(name + ": " + std::to_string(n) + " resumptions x " + std::to_string(g_options.reps) +
             " reps, each with a 512-byte request as 0-RTT data, checked on arrival; sanstls's server "
             "also records each ticket's first use (single-use tickets, its default), raw BoringSSL "
             "does not; " + describe("baseline", b, 1));
}

// run_bulk measures |write_size| writes over TLS 1.3 with AES-128-GCM, or
// over TLS 1.2 with |tls12_cipher|.
void run_bulk(const std::string& name, std::size_t write_size, const char* tls12_cipher = nullptr) {
  Settings settings;
  settings.resumption = false;
  // BoringSSL offers no way to prefer ChaCha20 in TLS 1.3 on a machine with
  // AES hardware: the TLS 1.2 suite stands in for it.
  const bool chacha = tls12_cipher != nullptr && std::string_view(tls12_cipher).find("CHACHA") !=
                                                     std::string_view::npos;
  if (tls12_cipher != nullptr) {
    settings.tls12 = true;
    settings.ciphers = tls12_cipher;
  }
  Sanstls::Env s_env(settings);
  Baseline::Env b_env(settings);
  SharedPair::Env sh_env(settings);
  // Warm-up, which also proves the bytes arrive intact on every side.
  const std::uint64_t warm_total = (1u << 20) / write_size * write_size;
  std::string s_cipher, b_cipher, sh_cipher;
  double rate = bulk_mb_per_second<Sanstls>(s_env, write_size, warm_total, true, &s_cipher);
  bulk_mb_per_second<Baseline>(b_env, write_size, warm_total, true, &b_cipher);
  bulk_mb_per_second<SharedPair>(sh_env, write_size, warm_total, true, &sh_cipher);
  if (s_cipher != b_cipher || s_cipher != sh_cipher) {
    fail(name + ": ciphers differ: sanstls " + s_cipher + ", baseline " + b_cipher);
  }
  const char* expected = tls12_cipher != nullptr ? tls12_cipher : "TLS_AES_128_GCM_SHA256";
  if (s_cipher.rfind(expected, 0) != 0) fail(name + ": expected " + expected + ", got " + s_cipher);
  std::uint64_t total = warm_total;
  if (!g_options.quick) {
    total = std::max<std::uint64_t>(32u << 20,
                                    static_cast<std::uint64_t>(rate * 1e6 * g_options.target_seconds));
    total = total / write_size * write_size;
  }
  const bool verify = g_options.quick;
  std::vector<PeerArm> peers = peer_arms(name);
  Runs runs = alternate(
      {.sanstls = [&] { return bulk_mb_per_second<Sanstls>(s_env, write_size, total, verify); },
       .baseline = [&] { return bulk_mb_per_second<Baseline>(b_env, write_size, total, verify); },
       .shared = [&] { return bulk_mb_per_second<SharedPair>(sh_env, write_size, total, verify); }},
      peers);
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  Summary sh = summarize(runs.shared);
  print_bench(name, s, b, kMegabytes);
  print_note(name + ": cipher " + s_cipher + " on every side" +
             (chacha ? " (TLS 1.2: BoringSSL cannot be made to pick ChaCha20 in TLS 1.3 when "
                       "it has AES hardware)"
                     : "") +
             "; AES hardware " + (EVP_has_aes_hardware() ? "yes" : "no") + "; " +
             std::to_string(total >> 10) + " KiB x " + std::to_string(g_options.reps) +
             " reps; " + describe("baseline", b, 1) + "; " + describe("shared_bio_pair", sh, 1) +
             " ratio=" + ratio(s.median, sh.median));
  print_peers(peers, s, kMegabytes, &runs);
}

void run_allocs(const std::string& name) {
  Settings settings;
  settings.resumption = false;
  Sanstls::Env s_env(settings);
  Baseline::Env b_env(settings);
  MemBio::Env m_env(settings);
  const int n = g_options.quick ? 64 : 4096;
  const int warmup = g_options.quick ? 16 : 256;
  Runs runs = alternate({.sanstls = [&] { return allocations_per_record<Sanstls>(s_env, n, warmup); },
                         .baseline = [&] { return allocations_per_record<Baseline>(b_env, n, warmup); },
                         .mem = [&] { return allocations_per_record<MemBio>(m_env, n, warmup); }});
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  print_bench(name, s, b, kAllocations);
  print_note(name + ": " + std::to_string(n) + " records of 16 KiB (write, transfer, read) after " +
             std::to_string(warmup) + " warm-up records; " + describe("baseline", b, 3) + "; " +
             describe("bio_s_mem", summarize(runs.mem), 3));
}

void run_allocs_per_handshake(const std::string& name) {
  Settings settings = handshake_settings(KeyType::ec_p256, false);
  Sanstls::Env s_env(settings);
  Baseline::Env b_env(settings);
  const int n = g_options.quick ? 5 : 50;
  handshakes_per_second<Sanstls>(s_env, 2);  // first use: lazily made state
  handshakes_per_second<Baseline>(b_env, 2);
  Runs runs = alternate({.sanstls = [&] { return allocations_per_handshake<Sanstls>(s_env, n); },
                         .baseline = [&] { return allocations_per_handshake<Baseline>(b_env, n); }});
  Summary s = summarize(runs.sanstls);
  Summary b = summarize(runs.baseline);
  print_bench(name, s, b, kAllocationsPerHandshake);
  print_note(name + ": TLS 1.3, ECDSA P-256, no resumption; client and server from creation to "
             "drop; " + std::to_string(n) + " handshakes per rep; " + describe("baseline", b, 1));
}

void run_memory(bool idle, bool after) {
  Settings settings;  // sanstls's defaults: TLS 1.3, tickets on
  const int pairs = g_options.quick ? 10 : 50;
  std::vector<PeerArm> peers;
  if (idle) peers = peer_arms("mem_idle_handshake");
  if (after) {
    std::vector<PeerArm> more = peer_arms("mem_idle_after_1mib");
    peers.insert(peers.end(), more.begin(), more.end());
  }
  std::vector<MemoryPerPair> s, b, m;
  for (int i = 0; i < g_options.reps; ++i) {
    s.push_back(memory_per_pair<Sanstls>(settings, pairs));
    b.push_back(memory_per_pair<Baseline>(settings, pairs));
    m.push_back(memory_per_pair<MemBio>(settings, pairs));
    for (const PeerArm& p : peers) p.peer->run(p.scenario);
  }
  auto field = [](const std::vector<MemoryPerPair>& v, double MemoryPerPair::*f) {
    std::vector<double> out;
    for (const MemoryPerPair& r : v) out.push_back(r.*f);
    return summarize(out);
  };
  struct Line {
    bool wanted;
    const char* name;
    double MemoryPerPair::*total;
    double MemoryPerPair::*buffers;
  };
  for (const Line& line : {Line{idle, "mem_idle_handshake", &MemoryPerPair::after_handshake,
                                &MemoryPerPair::buffers_after_handshake},
                           Line{after, "mem_idle_after_1mib", &MemoryPerPair::after_transfer,
                                &MemoryPerPair::buffers_after_transfer}}) {
    if (!line.wanted) continue;
    print_bench(line.name, field(s, line.total), field(b, line.total), kBytes);
    std::vector<PeerArm> these;
    for (const PeerArm& p : peers) {
      if (p.scenario == line.name) these.push_back(p);
    }
    print_peers(these, field(s, line.total), kBytes);
    std::string note = std::string(line.name) + ": " + std::to_string(pairs) + " pairs; " +
                       describe("baseline_bio_s_mem", field(m, line.total), 0) +
                       "; of sanstls's bytes per pair, its four MemoryBIO buffers hold " +
                       format(field(s, line.buffers).median, 0);
    if (line.total == &MemoryPerPair::after_transfer) {
      // BoringSSL holds no more after the transfer than before (see the
      // baseline), so what sanstls gained beyond its MemoryBIOs' own
      // buffers is the per-thread cache of drained large buffers: a fixed
      // amount per thread, spread here over |pairs| pairs.
      std::vector<double> cache;
      for (const MemoryPerPair& r : s) {
        cache.push_back(((r.after_transfer - r.buffers_after_transfer) -
                         (r.after_handshake - r.buffers_after_handshake)) * pairs);
      }
      note += "; sanstls's per-thread buffer cache (not per pair) ~ " +
              format(summarize(cache).median, 0) + " bytes in total";
    }
    print_note(note);
  }
}

#if SANSTLS_BENCH_ASIO
// run_loopback measures a loopback scenario (asio_load.hpp): sanstls's
// asio::stream against asio::ssl::stream on the same BoringSSL (BENCH
// baseline=) and against the peers that run it (asio_ssl=: asio::ssl on
// OpenSSL 3, bench/peers/asio_ssl).
void run_loopback(const std::string& name) {
  LoopbackScenario s = setup_loopback(name, g_options.quick, g_options.target_seconds);
  std::vector<PeerArm> peers = peer_arms(name, true);
  Runs runs = alternate({.sanstls = [&] { return s.sanstls->run(s.count); },
                         .baseline = [&] { return s.baseline->run(s.count); }},
                        peers);
  // Every connection ends with close_notify both ways, or the run fails.
  s.sanstls->close();
  s.baseline->close();
  const Unit unit{s.unit, 1};
  const Summary sanstls = summarize(runs.sanstls);
  const Summary baseline = summarize(runs.baseline);
  print_bench(name, sanstls, baseline, unit);
  print_note(name + ": " + std::to_string(s.count) + " per rep x " + std::to_string(g_options.reps) + " reps, " +
             std::to_string(s.connections) +
             " connections on one io_context in this thread (clients and servers) over 127.0.0.1; " +
             describe("baseline", baseline, 1) + " (asio::ssl::stream on this BoringSSL) paired=" +
             paired_ratio(runs.sanstls, runs.baseline));
  print_peers(peers, sanstls, unit, &runs);
}
#endif

// ---- main ---------------------------------------------------------------

// check_malloc_hook returns false when the hook is not built in; otherwise
// it proves that it sees libssl's and operator new's allocations.
bool check_malloc_hook() {
  if (!heap::available()) {
    print_note("malloc hook: not built in (sanitizer build): allocs_per_record and mem_* skipped");
    return false;
  }
  std::uint64_t made = 0;
  std::int64_t before = heap::live_bytes();
  std::int64_t held = 0;
  {
    heap::Counter counter;
    SSL_CTX* ctx = SSL_CTX_new(TLS_method());
    held = heap::live_bytes() - before;
    SSL_CTX_free(ctx);
    made = counter.count();
  }
  std::int64_t leaked = heap::live_bytes() - before;
  std::uint64_t cxx = 0;
  {
    heap::Counter counter;
    auto* p = new std::string(100, 'x');
    cxx = counter.count();
    delete p;
  }
  if (made == 0 || held <= 0 || cxx < 2) {
    fail("the malloc hook does not see allocations (SSL_CTX_new: " + std::to_string(made) +
         ", operator new: " + std::to_string(cxx) + ")");
  }
  print_note("malloc hook: SSL_CTX_new made " + std::to_string(made) + " allocations holding " +
             std::to_string(held) + " bytes (" + std::to_string(leaked) +
             " left after SSL_CTX_free); libssl/libcrypto allocations are seen");
  return true;
}

// crypto_note prints what the handshake's public-key primitives cost on
// the BoringSSL this program runs on, timed like the scenarios: a
// comparison of engines is first a comparison of their builds' crypto.
void crypto_note() {
  bssl::UniquePtr<EC_KEY> key(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!key || !EC_KEY_generate_key(key.get())) fail("P-256 key generation failed");
  uint8_t digest[32] = {1, 2, 3};
  uint8_t sig[80];  // ECDSA_size of a P-256 key is 72
  unsigned sig_len = 0;
  uint8_t x_priv[32], x_pub[32], x_peer[32], x_shared[32];
  X25519_keypair(x_pub, x_priv);
  X25519_keypair(x_peer, x_priv);
  // rate runs |op| in batches for about 0.1 s and returns operations/s.
  auto rate = [](auto op) {
    Timer timer;
    int n = 0;
    while (timer.seconds() < 0.1) {
      for (int i = 0; i < 16; ++i) op();
      n += 16;
    }
    return n / timer.seconds();
  };
  double sign = rate([&] {
    if (!ECDSA_sign(0, digest, sizeof digest, sig, &sig_len, key.get())) fail("ECDSA_sign failed");
  });
  double verify = rate([&] {
    if (ECDSA_verify(0, digest, sizeof digest, sig, sig_len, key.get()) != 1) {
      fail("ECDSA_verify failed");
    }
  });
  double keygen = rate([&] { X25519_keypair(x_pub, x_priv); });
  double shared = rate([&] {
    if (!X25519(x_shared, x_priv, x_peer)) fail("X25519 failed");
  });
  print_note("crypto on this BoringSSL (operations/s): ECDSA P-256 sign " + format(sign, 0) +
             ", verify " + format(verify, 0) + "; X25519 key generation " + format(keygen, 0) +
             ", shared secret " + format(shared, 0));
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return in ? one + " " + five + " " + fifteen : "unknown";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

struct Scenario {
  std::string name;
  bool peers;  // the peers (Python, --peer) are asked to run it too
  std::function<void()> run;
  bool loopback = false;  // over TCP (asio_load.hpp): only the peers that name it run it
};

// pin_to_cpu binds this process, and so every peer it starts afterwards
// (children inherit the mask), to one CPU, and says which. On a shared
// machine two processes left to the scheduler may each stay on a different
// core for a whole run, one of them slowed by a neighbour the other does
// not have: runs of the same comparison then differed by up to 1.5 times,
// where pinned runs agree within a few per cent. |which| is a CPU number,
// "any" (no pinning) or empty (the CPU this process is running on).
std::string pin_to_cpu(const std::string& which) {
  if (which == "any") return "not pinned: each process runs where the scheduler puts it";
  int cpu = -1;
  if (which.empty()) {
    cpu = sched_getcpu();
  } else {
    char* end = nullptr;
    long n = std::strtol(which.c_str(), &end, 10);
    if (end == which.c_str() || *end != '\0' || n < 0 || n >= CPU_SETSIZE) {
      throw std::invalid_argument("--cpu takes a CPU number or any, not " + which);
    }
    cpu = static_cast<int>(n);
  }
  if (cpu < 0) return "not pinned: sched_getcpu failed";
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    if (!which.empty()) fail("--cpu " + which + ": " + std::strerror(errno));
    return std::string("not pinned: ") + std::strerror(errno);
  }
  return "pinned to CPU " + std::to_string(cpu) + ", with the peers (--cpu any: not pinned)";
}

int usage(int code) {
  std::printf(
      "usage: sanstls-bench [--quick] [--filter NAME[,NAME...]] [--reps N] [--target-seconds S]\n"
      "                     [--python-script PATH] [--no-python] [--wall-clock]\n"
      "                     [--peer NAME=PROGRAM]...\n"
      "  --quick           every scenario briefly: a smoke test that checks data arrives intact\n"
      "  --filter NAME     run the scenario NAME (exact), else every scenario containing NAME;\n"
      "                    a comma-separated list runs each of its names' scenarios\n"
      "  --reps N          repetitions per implementation (default 7, --quick 3)\n"
      "  --target-seconds  length of one timed repetition (default 0.25)\n"
      "  --python-script   python_bench.py to run (default: the source tree's)\n"
      "  --no-python       skip the Python reference\n"
      "  --only sanstls|baseline\n"
      "                    time only that implementation (and the peers), for instruction\n"
      "                    counts (bench/peers/instructions)\n"
      "  --wall-clock      time repetitions by the wall clock, not the thread's CPU time\n"
      "  --cpu N|any       run on CPU N, with the peers it starts (default: the CPU it starts\n"
      "                    on); any: wherever the scheduler puts each process\n"
      "  --peer NAME=PROG  also run the peer program PROG (bench/peers/), printed as NAME=\n"
      "  --write-credentials DIR\n"
      "                    write the certificates and keys the peers read into DIR, and exit\n"
      "environment: PYTHON3 names the Python interpreter (default: python3 on PATH)\n");
  return code;
}

int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--quick") {
      g_options.quick = true;
    } else if (arg == "--filter") {
      g_options.filter = value();
    } else if (arg == "--reps") {
      g_options.reps = std::stoi(value());
      g_options.reps_given = true;
      if (g_options.reps < 1) throw std::invalid_argument("--reps must be at least 1");
    } else if (arg == "--target-seconds") {
      g_options.target_seconds = std::stod(value());
    } else if (arg == "--python-script") {
      g_options.python_script = value();
    } else if (arg == "--no-python") {
      g_options.python = false;
    } else if (arg == "--only") {
      g_options.only = value();
      if (g_options.only != "sanstls" && g_options.only != "baseline") {
        throw std::invalid_argument("--only takes sanstls or baseline");
      }
    } else if (arg == "--write-credentials") {
      g_options.credentials_dir = value();
    } else if (arg == "--cpu") {
      g_options.cpu = value();
    } else if (arg == "--wall-clock") {
      g_options.wall_clock = true;
    } else if (arg == "--peer") {
      std::string peer = value();
      auto eq = peer.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == peer.size()) {
        throw std::invalid_argument("--peer needs NAME=PROGRAM, not " + peer);
      }
      g_options.peers.emplace_back(peer.substr(0, eq), peer.substr(eq + 1));
    } else if (arg == "--help" || arg == "-h") {
      return usage(0);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return usage(2);
    }
  }
  if (g_options.quick && !g_options.reps_given) g_options.reps = 3;
  if (!g_options.credentials_dir.empty()) {
    write_credentials(g_options.credentials_dir);
    return 0;
  }

  std::vector<Scenario> scenarios = {
      {"handshake_tls13_ecdsa", true, [] { run_handshake("handshake_tls13_ecdsa", KeyType::ec_p256, false); }},
      {"handshake_tls13_ecdsa_async_key", true,
       [] { run_handshake_async_key("handshake_tls13_ecdsa_async_key"); }},
      {"handshake_tls13_rsa2048", true, [] { run_handshake("handshake_tls13_rsa2048", KeyType::rsa2048, false); }},
      {"handshake_tls12_ecdsa", true, [] { run_handshake("handshake_tls12_ecdsa", KeyType::ec_p256, true); }},
      {"threads_shared_context", false, [] { run_threads_shared_context("threads_shared_context"); }},
      {"resume_tls13", true, [] { run_resume("resume_tls13", false); }},
      {"resume_tls13_early_data", true, [] { run_resume_early_data("resume_tls13_early_data"); }},
      {"resume_tls13_one_ticket", true, [] { run_resume("resume_tls13_one_ticket", false, 1); }},
      {"resume_tls12", true, [] { run_resume("resume_tls12", true); }},
      {"bulk_64", true, [] { run_bulk("bulk_64", 64); }},
      {"bulk_1024", true, [] { run_bulk("bulk_1024", 1024); }},
      {"bulk_16384", true, [] { run_bulk("bulk_16384", 16384); }},
      {"bulk_64_tls12", true, [] { run_bulk("bulk_64_tls12", 64, kTls12Gcm); }},
      {"bulk_1024_tls12", true, [] { run_bulk("bulk_1024_tls12", 1024, kTls12Gcm); }},
      {"bulk_16384_tls12", true, [] { run_bulk("bulk_16384_tls12", 16384, kTls12Gcm); }},
      {"bulk_16384_chacha20", true,
       [] { run_bulk("bulk_16384_chacha20", 16384, "ECDHE-ECDSA-CHACHA20-POLY1305"); }},
      {"cert_compression", false, run_cert_compression},
      {"allocs_per_record", false, [] { run_allocs("allocs_per_record"); }},
      {"allocs_per_handshake", false, [] { run_allocs_per_handshake("allocs_per_handshake"); }},
      {"mem_idle_handshake", true, nullptr},
      {"mem_idle_after_1mib", true, nullptr},
  };
#if SANSTLS_BENCH_ASIO
  for (const std::string& name : loopback_scenarios()) {
    scenarios.push_back({name, true, [name] { run_loopback(name); }, true});
  }
#endif
  std::vector<const Scenario*> selected;
  std::stringstream filters(g_options.filter);
  for (std::string filter; std::getline(filters, filter, ',') || selected.empty();) {
    std::vector<const Scenario*> matched;
    for (const Scenario& s : scenarios) {
      if (s.name == filter) matched = {&s};
    }
    if (matched.empty()) {
      for (const Scenario& s : scenarios) {
        if (s.name.find(filter) != std::string::npos) matched.push_back(&s);
      }
    }
    if (matched.empty()) {
      std::fprintf(stderr, "no scenario matches '%s'\n", filter.c_str());
      return 2;
    }
    for (const Scenario* s : matched) {
      if (std::find(selected.begin(), selected.end(), s) == selected.end()) selected.push_back(s);
    }
  }

  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  print_note("sanstls-bench: sanstls " + std::string(sanstls::version()) + ", BoringSSL API " +
             std::to_string(BORINGSSL_API_VERSION) + ", build " + SANSTLS_BENCH_BUILDTYPE +
             ", compiler " + __VERSION__ + (g_options.quick ? ", QUICK" : ""));
  print_note(std::string("BoringSSL: ") + SANSTLS_BENCH_BORINGSSL);
  print_note(std::string("date ") + date + "; " + std::to_string(std::thread::hardware_concurrency()) +
             " cores (" + cpu_model() + "), load average " + load_average() + "; " +
             std::to_string(g_options.reps) + " reps each");
  const bool hook = check_malloc_hook();

  print_note(pin_to_cpu(g_options.cpu));
  Timer::use_wall_clock(g_options.wall_clock);
  print_note(std::string("timed by ") +
             (g_options.wall_clock ? "the wall clock" : "the thread's CPU time"));
  if (!g_options.quick) crypto_note();
  const auto started = std::chrono::steady_clock::now();
  bool mem_idle = false;
  bool mem_after = false;
  bool peers_wanted = false;
  bool python_wanted = false;  // Python runs in-memory scenarios only
  for (const Scenario* s : selected) {
    peers_wanted = peers_wanted || s->peers;
    python_wanted = python_wanted || (s->peers && !s->loopback);
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> peers;
  for (const auto& [name, program] : g_options.peers) peers.push_back({name, {program}});
  if (g_options.python && python_wanted) {
    const char* python = std::getenv("PYTHON3");
    std::string script = g_options.python_script.empty()
                             ? std::string(SANSTLS_BENCH_SOURCE_DIR) + "/python_bench.py"
                             : g_options.python_script;
    peers.push_back({"python", {python != nullptr && *python != '\0' ? python : "python3", script}});
  }
  for (auto& [name, command] : peers) {
    if (!peers_wanted) break;
    auto peer = std::make_unique<Peer>(name);
    if (peer->start(command, g_options.reps, g_options.target_seconds, g_options.quick,
                    g_options.wall_clock)) {
      g_peers.push_back(std::move(peer));
    }
  }
  for (const Scenario* s : selected) {
    if (!hook && (s->name.rfind("allocs_", 0) == 0 || s->name.rfind("mem_", 0) == 0)) continue;
    if (s->run) {
      s->run();
    } else if (s->name == "mem_idle_handshake") {
      mem_idle = true;
    } else {
      mem_after = true;
    }
  }
  if (mem_idle || mem_after) run_memory(mem_idle, mem_after);
  print_note("load average " + load_average());
  print_note("total " +
             format(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 1) +
             " s elapsed");
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  try {
    return bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "sanstls-bench: FAILED: %s\n", e.what());
    return 1;
  }
}
