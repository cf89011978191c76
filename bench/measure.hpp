// bench/measure.hpp: the measurements every implementation runs, written
// once as templates over an implementation (SanstlsSide, BaselineSide<T>)
// so that both sides execute exactly the same loop.
#ifndef SANSTLS_BENCH_MEASURE_HPP
#define SANSTLS_BENCH_MEASURE_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "malloc_hook.hpp"

namespace bench {

// Timer measures a repetition: by default the CPU time of the calling
// thread (CLOCK_THREAD_CPUTIME_ID), which on a shared, busy machine leaves
// out the time other processes had the core; with use_wall_clock(true) the
// elapsed time instead.
class Timer {
 public:
  Timer() noexcept : start_(now()) {}
  // seconds returns the time since construction.
  double seconds() const noexcept { return now() - start_; }
  static void use_wall_clock(bool wall) noexcept { wall_clock() = wall; }
  static bool wall() noexcept { return wall_clock(); }

 private:
  static bool& wall_clock() noexcept {
    static bool wall = false;
    return wall;
  }
  static double now() noexcept {
    timespec ts{};
    clock_gettime(wall_clock() ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  double start_;
};

// read_buffer is the receiver's reused buffer: one maximum-size record.
inline std::span<std::byte> read_buffer() {
  static std::vector<std::byte> buffer(16384);
  return buffer;
}

// handshakes_per_second runs |n| full handshakes, each creating a client
// and a server connection and dropping both once they are established.
template <class Impl>
double handshakes_per_second(typename Impl::Env& env, int n) {
  Timer timer;
  for (int i = 0; i < n; ++i) {
    typename Impl::Pair pair(env);
    pair.handshake();
  }
  return n / timer.seconds();
}

// resumptions_per_second runs |n| handshakes in which the client offers
// the newest session it was given (and reads the tickets the server sends,
// so the next one can use them), then drops both connections.
template <class Impl>
double resumptions_per_second(typename Impl::Env& env, int n) {
  if (env.latest_session() == nullptr) {  // the first full handshake
    typename Impl::Pair pair(env);
    pair.handshake();
    pair.settle();
    if (env.latest_session() == nullptr) fail(std::string(Impl::name) + ": no session to resume");
  }
  Timer timer;
  for (int i = 0; i < n; ++i) {
    typename Impl::Pair pair(env, true);
    pair.handshake();
    pair.settle();
    if (!pair.session_reused()) fail(std::string(Impl::name) + ": the session was not resumed");
  }
  return n / timer.seconds();
}

// early_resumptions_per_second is resumptions_per_second with a request
// sent as TLS 1.3 early data: the client writes |request| before its
// handshake, the server reads it as early data (checked), then the server's
// byte brings the new tickets.
template <class Impl>
double early_resumptions_per_second(typename Impl::Env& env, int n, std::span<const std::byte> request) {
  if (env.latest_session() == nullptr) {
    typename Impl::Pair pair(env);
    pair.handshake();
    pair.settle();
    if (env.latest_session() == nullptr) fail(std::string(Impl::name) + ": no session to resume");
  }
  std::array<std::byte, 4096> buffer{};
  Timer timer;
  for (int i = 0; i < n; ++i) {
    typename Impl::Pair pair(env, true);
    pair.write_early(request);
    pair.handshake();
    const std::size_t got = pair.read_early(buffer);
    if (got != request.size() || !std::equal(request.begin(), request.end(), buffer.begin())) {
      fail(std::string(Impl::name) + ": the early data did not arrive intact");
    }
    pair.settle();
    if (!pair.session_reused() || !pair.early_accepted()) {
      fail(std::string(Impl::name) + ": the resumption or its early data was not accepted");
    }
  }
  return n / timer.seconds();
}

// bulk_mb_per_second sends |total| bytes (a multiple of |write_size|) from
// client to server in writes of |write_size|; after each write the records
// move to the server, which reads everything it can. Returns application
// megabytes (10^6 bytes) per second; the handshake is not timed. With
// |verify|, every received byte is compared with what was sent.
template <class Impl>
double bulk_mb_per_second(typename Impl::Env& env, std::size_t write_size, std::uint64_t total,
                          bool verify, std::string* cipher = nullptr) {
  typename Impl::Pair pair(env);
  pair.handshake();
  pair.settle();
  if (cipher != nullptr) *cipher = pair.cipher() + " (" + pair.version() + ")";
  Receiver receiver(verify);
  std::span<std::byte> buffer = read_buffer();
  Timer timer;
  for (std::uint64_t sent = 0; sent < total; sent += write_size) {
    pair.write(Side::client, pattern::at(sent, write_size));
    pair.read_all(Side::server, buffer, receiver);
  }
  double secs = timer.seconds();
  if (receiver.received() != total) {
    fail(std::string(Impl::name) + ": sent " + std::to_string(total) + " bytes, received " +
         std::to_string(receiver.received()));
  }
  return static_cast<double>(total) / 1e6 / secs;
}

// allocations_per_record counts heap allocations while |n| 16 KiB records
// go from client to server (write, transfer, read), after |warmup| records
// brought the connection to its steady state.
template <class Impl>
double allocations_per_record(typename Impl::Env& env, int n, int warmup) {
  constexpr std::size_t kRecord = 16384;
  typename Impl::Pair pair(env);
  pair.handshake();
  pair.settle();
  Receiver receiver(true);
  std::span<std::byte> buffer = read_buffer();
  std::uint64_t sent = 0;
  auto one = [&] {
    pair.write(Side::client, pattern::at(sent, kRecord));
    pair.read_all(Side::server, buffer, receiver);
    sent += kRecord;
  };
  for (int i = 0; i < warmup; ++i) one();
  std::uint64_t count = 0;
  {
    heap::Counter counter;
    for (int i = 0; i < n; ++i) one();
    count = counter.count();
  }
  if (receiver.received() != sent) fail(std::string(Impl::name) + ": records lost");
  return static_cast<double>(count) / n;
}

// allocations_per_handshake counts heap allocations (both sides, from
// creating the two connections to dropping them) over |n| full handshakes.
template <class Impl>
double allocations_per_handshake(typename Impl::Env& env, int n) {
  std::uint64_t count = 0;
  {
    heap::Counter counter;
    for (int i = 0; i < n; ++i) {
      typename Impl::Pair pair(env);
      pair.handshake();
    }
    count = counter.count();
  }
  return static_cast<double>(count) / n;
}

// MemoryPerPair is the heap held per established client + server pair.
struct MemoryPerPair {
  double after_handshake = 0;  // bytes per pair, handshake done, tickets read
  double after_transfer = 0;   // ... and after 1 MiB went through each pair
  double buffers_after_handshake = 0;  // sanstls: MemoryBIO::capacity() part
  double buffers_after_transfer = 0;
};

// memory_per_pair_on_this_thread creates |pairs| established pairs and
// reports the growth of live heap bytes per pair: right after the
// handshakes (each client has read the post-handshake tickets), then after
// 1 MiB was sent through each pair client to server in 16 KiB writes and
// all of it read.
template <class Impl>
MemoryPerPair memory_per_pair_on_this_thread(const Settings& settings, int pairs) {
  MemoryPerPair result;
  typename Impl::Env env(settings);
  // The bench's own lazily made buffers must not count.
  (void)pattern::at(0, 0);
  std::span<std::byte> buffer = read_buffer();
  {  // first use on this thread: BoringSSL's per-thread state, warm paths
    typename Impl::Pair warm(env);
    warm.handshake();
    warm.settle();
  }
  std::vector<std::unique_ptr<typename Impl::Pair>> held;
  held.reserve(static_cast<std::size_t>(pairs));
  auto buffers = [&] {
    double sum = 0;
    if constexpr (requires(typename Impl::Pair& p) { p.buffered_capacity(); }) {
      for (auto& p : held) sum += static_cast<double>(p->buffered_capacity());
    }
    return sum / pairs;
  };

  const std::int64_t before = heap::live_bytes();
  for (int i = 0; i < pairs; ++i) {
    held.push_back(std::make_unique<typename Impl::Pair>(env));
    held.back()->handshake();
    held.back()->settle();
  }
  const std::int64_t established = heap::live_bytes();
  result.buffers_after_handshake = buffers();

  constexpr std::size_t kWrite = 16384;
  constexpr std::uint64_t kTotal = 1 << 20;
  for (auto& p : held) {
    Receiver receiver(true);
    for (std::uint64_t sent = 0; sent < kTotal; sent += kWrite) {
      p->write(Side::client, pattern::at(sent, kWrite));
      p->read_all(Side::server, buffer, receiver);
    }
    if (receiver.received() != kTotal) fail(std::string(Impl::name) + ": 1 MiB did not arrive");
  }
  const std::int64_t transferred = heap::live_bytes();
  result.buffers_after_transfer = buffers();
  result.after_handshake = static_cast<double>(established - before) / pairs;
  result.after_transfer = static_cast<double>(transferred - before) / pairs;
  return result;
}

// memory_per_pair runs memory_per_pair_on_this_thread on a fresh thread, so
// per-thread caches (BoringSSL's error queue, sanstls's MemoryBIO buffer
// cache) start empty and are charged to the connections that fill them.
template <class Impl>
MemoryPerPair memory_per_pair(const Settings& settings, int pairs) {
  MemoryPerPair result;
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      result = memory_per_pair_on_this_thread<Impl>(settings, pairs);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
  return result;
}

}  // namespace bench

#endif  // SANSTLS_BENCH_MEASURE_HPP
