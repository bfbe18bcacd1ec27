//! The memory allocator the gateway's binaries run on: mimalloc, set so that
//! memory a burst or a compile freed goes back to the system at once.
//!
//! Why not the C library's: on the message path most of the allocations are
//! the strings of each message lifted out of a module and the ids and names
//! the host stamps on it. With glibc's `malloc` a relay in batches of 64
//! spent 30% of its time in `malloc`/`free`; with mimalloc the same relay
//! went from about 0.94 to 1.3 million messages a second, and the in-process
//! chain of three modules more than doubled (BENCHMARKS.md, section 1).
//!
//! Why these settings: mimalloc's defaults keep freed memory for a second
//! (ten, for whole arenas) before returning it, and ask for transparent huge
//! pages, which took the idle demo from 31 MB to 140 MB resident. Built
//! without huge pages (the `no_thp` feature) and with a purge delay of 0, it
//! idles within a few MB of glibc's allocator (BENCHMARKS.md, section 4) at a
//! cost on the hop of about 1%.
//!
//! A binary declares it and calls [`configure`] first thing:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: ganglion::allocator::Allocator = ganglion::allocator::Allocator;
//!
//! fn main() {
//!     ganglion::allocator::configure();
//! }
//! ```
//!
//! The library does not declare it itself: a program that embeds it (a
//! module author's tests through [`crate::harness`]) keeps its own choice.

/// The global allocator of the `ganglion` binary and of the benchmarks.
pub use mimalloc::MiMalloc as Allocator;

/// Sets mimalloc's options for a long-running gateway: freed memory is
/// returned to the system without delay. And since the C library's
/// allocator is left only the odd allocation of C code, it gets one arena:
/// glibc would otherwise reserve 64 MiB of address space for each thread
/// that allocates (seen under a `ulimit -v` of 256 MiB: 64 MiB of the 68
/// left, some runs). Idempotent; call it first thing in `main`, before any
/// thread starts.
#[allow(unsafe_code)]
pub fn configure() {
    one_c_arena();
    /// `mi_option_purge_delay` of mimalloc.h (v2 and v3), which the sys
    /// crate does not name.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table; it
    // takes no pointer and may be called from any thread at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Limits glibc's `malloc` to one arena (`M_ARENA_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn one_c_arena() {
    /// `M_ARENA_MAX` of glibc's malloc.h.
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: `mallopt` takes no pointer; setting the arena limit before
    // other threads allocate is what it is for.
    unsafe {
        mallopt(M_ARENA_MAX, 1);
    }
}

/// Other C libraries have no per-thread arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_c_arena() {}

/// Returns what mimalloc holds free, of this thread's heap and of threads
/// that ended, to the system.
#[allow(unsafe_code)]
pub fn collect() {
    // SAFETY: `mi_collect` takes no pointer; it only releases memory that no
    // allocation uses, and does nothing if mimalloc is not the allocator.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
