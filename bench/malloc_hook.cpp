// bench/malloc_hook.cpp: see malloc_hook.hpp.
#include "malloc_hook.hpp"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
// glibc's own allocator entry points, which the definitions below wrap.
void* __libc_malloc(std::size_t size);
void __libc_free(void* ptr);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace bench::heap {
namespace {

std::atomic<std::int64_t> g_live{0};
std::atomic<std::uint64_t> g_allocations{0};
std::atomic<bool> g_counting{false};

inline void on_alloc(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

inline void on_free(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
}

inline bool is_power_of_two(std::size_t n) noexcept { return n != 0 && (n & (n - 1)) == 0; }

void* aligned(std::size_t alignment, std::size_t size) noexcept {
  void* p = __libc_memalign(alignment, size);
  on_alloc(p);
  return p;
}

}  // namespace

bool available() noexcept { return true; }
std::int64_t live_bytes() noexcept { return g_live.load(std::memory_order_relaxed); }
std::uint64_t allocations() noexcept { return g_allocations.load(std::memory_order_relaxed); }
void set_counting(bool on) noexcept { g_counting.store(on, std::memory_order_relaxed); }

}  // namespace bench::heap

using bench::heap::aligned;
using bench::heap::on_alloc;
using bench::heap::on_free;

extern "C" {

void* malloc(std::size_t size) noexcept {
  void* p = __libc_malloc(size);
  on_alloc(p);
  return p;
}

void free(void* ptr) noexcept {
  on_free(ptr);
  __libc_free(ptr);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  void* p = __libc_calloc(count, size);
  on_alloc(p);
  return p;
}

void* realloc(void* ptr, std::size_t size) noexcept {
  std::size_t old = ptr != nullptr ? malloc_usable_size(ptr) : 0;
  void* p = __libc_realloc(ptr, size);
  if (p == nullptr) {
    if (size == 0 && ptr != nullptr) {
      bench::heap::g_live.fetch_sub(static_cast<std::int64_t>(old), std::memory_order_relaxed);
    }
    return p;  // failure leaves the old block alone
  }
  bench::heap::g_live.fetch_sub(static_cast<std::int64_t>(old), std::memory_order_relaxed);
  on_alloc(p);
  return p;
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || !bench::heap::is_power_of_two(alignment)) return EINVAL;
  void* p = aligned(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  return aligned(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  return aligned(alignment, size);
}

void* valloc(std::size_t size) noexcept {
  return aligned(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), size);
}

void* pvalloc(std::size_t size) noexcept {
  auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return aligned(page, (size + page - 1) / page * page);
}

}  // extern "C"

// operator new and delete go straight to the hooked malloc and free, so a
// C++ allocation is counted once whichever library makes it.
namespace {

void* new_or_throw(std::size_t size) {
  for (;;) {
    void* p = malloc(size == 0 ? 1 : size);
    if (p != nullptr) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* new_aligned_or_throw(std::size_t size, std::align_val_t alignment) {
  auto a = static_cast<std::size_t>(alignment);
  if (a < sizeof(void*)) a = sizeof(void*);
  for (;;) {
    void* p = aligned(a, size == 0 ? 1 : size);
    if (p != nullptr) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

void* operator new(std::size_t size) { return new_or_throw(size); }
void* operator new[](std::size_t size) { return new_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return new_or_throw(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return new_or_throw(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return new_aligned_or_throw(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return new_aligned_or_throw(size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return new_aligned_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t alignment,
                     const std::nothrow_t&) noexcept {
  try {
    return new_aligned_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, std::size_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
