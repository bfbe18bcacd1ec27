//! Gives the memory that a compile freed back to the operating system.
//!
//! Compiling a component with cranelift (on several threads) allocates and
//! frees tens of megabytes. An allocator keeps freed memory for reuse, so a
//! gateway that compiled its modules when it started would otherwise stay
//! about 12 MB larger for as long as it runs (the demo on glibc's allocator:
//! 35 MB resident after compiling, 18 MB when its modules came from the
//! cache). Compiles are rare (a first start, a new version), so the trim
//! after each one costs nothing that matters.
//!
//! Both allocators a gateway may run on are asked: mimalloc, the binaries'
//! (see [`crate::allocator`]), and the C library's, which the library falls
//! back to in a program that does not choose (and which C code in the
//! process uses either way).

/// Returns the free memory of mimalloc and of every malloc arena to the
/// system.
pub fn release_freed_memory() {
    crate::allocator::collect();
    trim_c_heap();
}

/// Returns the free pages of every glibc malloc arena to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_c_heap() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: `malloc_trim` takes no pointer and is safe to call from any
    // thread at any time; it only releases memory that no allocation uses.
    unsafe {
        malloc_trim(0);
    }
}

/// Other C libraries give freed memory back by themselves, or have no trim.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_c_heap() {}
