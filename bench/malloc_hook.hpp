// bench/malloc_hook.hpp: a heap accounting hook for the benchmark.
//
// malloc_hook.cpp defines malloc, free, calloc, realloc, posix_memalign,
// aligned_alloc, memalign, valloc, pvalloc and every operator new/delete in
// the bench executable. The dynamic linker binds every shared library's
// calls to these names (libssl, libcrypto, libsanstls, libstdc++) to the
// executable's definitions, so the hook sees every heap allocation in the
// process; each forwards to glibc's __libc_* entry points.
//
// Two things are tracked:
//   * live bytes, always: malloc_usable_size() of each block when it is
//     handed out and when it is freed, so a delta between two snapshots is
//     the heap the code in between still holds;
//   * allocation calls, only while counting is switched on.
//
// Sanitizer builds (b_sanitize) replace malloc themselves; there
// malloc_hook_off.cpp is built instead and available() returns false.
#ifndef SANSTLS_BENCH_MALLOC_HOOK_HPP
#define SANSTLS_BENCH_MALLOC_HOOK_HPP

#include <cstdint>

namespace bench::heap {

// available returns false when the bench was built without the hook (a
// sanitizer build, whose runtime owns malloc): the counters then stay 0.
bool available() noexcept;

// live_bytes returns the usable bytes of every block currently allocated.
std::int64_t live_bytes() noexcept;

// allocations returns how many allocation calls (malloc, calloc, realloc,
// the aligned variants and operator new) ran while counting was on.
std::uint64_t allocations() noexcept;

// set_counting switches the allocation counter on or off.
void set_counting(bool on) noexcept;

// Counter counts the allocations made during its lifetime.
class Counter {
 public:
  Counter() noexcept : start_(allocations()) { set_counting(true); }
  ~Counter() { set_counting(false); }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;
  // count returns the allocations so far.
  std::uint64_t count() const noexcept { return allocations() - start_; }

 private:
  std::uint64_t start_;
};

}  // namespace bench::heap

#endif  // SANSTLS_BENCH_MALLOC_HOOK_HPP
