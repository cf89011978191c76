// bench/malloc_hook_off.cpp: the heap accounting interface without the hook,
// for sanitizer builds, whose runtime replaces malloc itself.
#include "malloc_hook.hpp"

namespace bench::heap {

bool available() noexcept { return false; }
std::int64_t live_bytes() noexcept { return 0; }
std::uint64_t allocations() noexcept { return 0; }
void set_counting(bool) noexcept {}

}  // namespace bench::heap
