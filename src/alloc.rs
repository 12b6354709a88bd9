//! The global allocator of the `kubesim` binary and of the criterion
//! benches (the library itself sets none): mimalloc, called through its C
//! interface. An allocation whose alignment the plain `mi_malloc` already
//! guarantees (at most 16 bytes and at most the size, the rule Rust's own
//! system allocator uses with `malloc`) takes mimalloc's plain fast path;
//! only larger alignments go through its aligned entry points, which cost
//! more per call.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_int, c_long, c_void};

use libmimalloc_sys as mi;

// mimalloc's option setter and getter (`mimalloc.h`; the option is a C
// enum).
unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// `mi_option_purge_delay`'s place in mimalloc's option enum (the same in
/// its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// Sets how the process gets its memory from the system, before anything
/// else runs (call it first thing in `main`): freed memory is kept for
/// reuse and memory is taken in small pages (below). A user's
/// `MIMALLOC_PURGE_DELAY` or `MIMALLOC_ALLOW_THP` still decides its own
/// setting.
pub fn tune_memory() {
    keep_freed_memory();
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        small_pages();
    }
}

/// Tells mimalloc to keep the memory the program frees for reuse instead
/// of handing it back to the system a while later (its "purge", after a
/// second by default in the mimalloc v3 built here), unless the
/// user chose a purge delay (`MIMALLOC_PURGE_DELAY`). A run's memory is
/// freed and reused all along; handed back, every page reused costs a
/// page fault again, which on some hosts is most of a run's system time
/// (results/BENCHMARKS.md, fifteenth pass). Memory freed stays with the
/// process until it ends, so the peak can be a little higher (scale-5k:
/// 885 MiB against 865).
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain C call setting an option; -1 means never purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

/// Linux's `prctl` option that turns transparent huge pages off for the
/// calling process, and the one that reads that setting back.
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: c_int = 41;
#[cfg(all(target_os = "linux", test))]
const PR_GET_THP_DISABLE: c_int = 42;

#[cfg(target_os = "linux")]
unsafe extern "C" {
    fn prctl(option: c_int, ...) -> c_int;
}

/// Turns transparent huge pages off for this process (Linux; elsewhere
/// nothing). mimalloc asks for them on the regions it takes from the
/// system, and a huge page is cleared whole, 2 MiB, the first time any
/// byte of it is written. A run's heap grows all along, so every 2 MiB
/// it grows into costs one such clear; where the system has to find that
/// memory first (virtual machines that hand their free memory back to the
/// host), a clear is slow: after a pause, churn-1h's system time was 0.21
/// to 0.33 s with huge pages and 0.07 to 0.11 s without, its peak 106 to
/// 119 MiB against 72 to 75 (results/BENCHMARKS.md, sixteenth pass). The
/// same setting as `MIMALLOC_ALLOW_THP=0`; the kernel applies it at each
/// page fault, so setting it first thing in `main` covers the run's memory.
fn small_pages() {
    // SAFETY: a plain system call setting a flag of the process; on a
    // kernel without the option it fails and nothing changes.
    #[cfg(target_os = "linux")]
    unsafe {
        prctl(
            PR_SET_THP_DISABLE,
            1 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        );
    }
}

/// The largest alignment `mi_malloc` guarantees for a block at least that
/// large (mimalloc's `MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// mimalloc as a Rust global allocator.
pub struct MiMalloc;

#[inline(always)]
fn plain(layout: &Layout) -> bool {
    layout.align() <= PLAIN_ALIGN && layout.align() <= layout.size()
}

// SAFETY: every method hands the request to mimalloc, which returns a block
// of at least `size` bytes with the asked alignment (the plain calls only
// when `plain` holds, see above) or null, and frees blocks it gave out.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; mimalloc accepts any size and a power of
        // two alignment, which `Layout` guarantees.
        unsafe {
            if plain(&layout) {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if plain(&layout) {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the trait's contract).
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the trait's
        // contract); the new block keeps the alignment by the same rule.
        unsafe {
            if layout.align() <= PLAIN_ALIGN && layout.align() <= new_size {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option set is the purge delay: 1 000 ms before (mimalloc v3's
    /// default for it, and for no other option), never after.
    #[test]
    fn freed_memory_is_kept() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: plain C calls reading an option.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        keep_freed_memory();
        let after = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!((before, after), (1000, -1));
    }

    /// After `small_pages` the kernel reports huge pages off for the
    /// process (it has no other effect on a test binary).
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_turned_off() {
        small_pages();
        // SAFETY: a plain system call reading a flag of the process.
        let off = unsafe {
            prctl(
                PR_GET_THP_DISABLE,
                0 as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
            )
        };
        assert_eq!(off, 1);
    }

    /// Every size and alignment a Rust program can ask for up to 4 KiB and
    /// 4 KiB alignment gets a block with that alignment, through every
    /// entry point, and the block holds its bytes across a realloc.
    #[test]
    fn blocks_have_the_alignment_asked_for() {
        let a = MiMalloc;
        let sizes = (1..=64)
            .chain((72..=512).step_by(8))
            .chain((648..=4096).step_by(136));
        let sizes: Vec<usize> = sizes.collect();
        for align in (0..=12).map(|k| 1usize << k) {
            for &size in &sizes {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: each block is used within its size and freed once
                // with the layout it has.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size}/{align}");
                    p.write_bytes(0xab, size);
                    let grown = size * 3;
                    let q = a.realloc(p, layout, grown);
                    assert_eq!(q as usize % align, 0, "realloc {size}/{align}");
                    assert!((0..size).all(|i| *q.add(i) == 0xab));
                    a.dealloc(q, Layout::from_size_align(grown, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "alloc_zeroed {size}/{align}");
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
