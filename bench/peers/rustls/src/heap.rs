//! Live heap bytes, counted the way the C++ side's malloc hook counts them.
//!
//! sanstls-bench's hook adds `malloc_usable_size` of every block when it is
//! handed out and subtracts it when the block is freed. Rust's `System`
//! allocator is glibc's malloc family on Linux (malloc/calloc/realloc, or
//! posix_memalign for over-aligned layouts), and glibc answers
//! `malloc_usable_size` for blocks from all of them, so this wrapper counts
//! the same quantity for every block rather than the requested size. ring's
//! C and assembly code never allocates, and rustls, webpki and ring allocate
//! only through this allocator, so every byte they hold is seen.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

pub struct CountingAllocator;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// The bytes of all live heap blocks, as malloc_usable_size reports them.
pub fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn usable(ptr: *mut u8) -> i64 {
    // SAFETY: only called on non-null pointers System just returned or is
    // about to free, all of which come from glibc's malloc family.
    unsafe { libc::malloc_usable_size(ptr.cast()) as i64 }
}

// SAFETY: every method forwards to System unchanged; the counter is only
// bookkeeping on the side.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(usable(ptr), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(usable(ptr), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(usable(ptr), Ordering::Relaxed);
        System.dealloc(ptr, layout);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Read the old size first: after a successful realloc the old block
        // may be gone. On failure the old block stays, and so does its count.
        let old = usable(ptr);
        let new_ptr = System.realloc(ptr, layout, new_size);
        if !new_ptr.is_null() {
            LIVE_BYTES.fetch_add(usable(new_ptr) - old, Ordering::Relaxed);
        }
        new_ptr
    }
}
