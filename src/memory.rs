//! Giving the memory the node frees back to the kernel, with mimalloc's
//! defaults. The crate's one module with `unsafe`: a single FFI call.
//!
//! The binary's global allocator is mimalloc (v3, `src/main.rs`). When a
//! mimalloc page is freed it goes back to its arena and a *purge* of it (an
//! `madvise` that gives the memory to the kernel) is scheduled
//! `mi_option_purge_delay` later (1,000 ms by default). Nothing runs the
//! purge when it falls due: mimalloc acts on due purges only inside its own
//! calls (when a thread frees a page to an arena, abandons one, or every
//! 10,000 slow-path allocations). After an attack the node is idle, it makes
//! few such calls, and the pages freed at the end of the attack stayed
//! resident: node-a at 33 MB against a 15 MB baseline after a 64 MiB
//! non-reading-peer attack (RELIABILITY.md). With `MIMALLOC_PURGE_DELAY=0`
//! the purge ran at once, which showed the memory itself was free.
//!
//! [`collect_periodically`] calls mimalloc's `mi_collect(false)` every
//! [`COLLECT_INTERVAL`] from the node's runtime: it frees the calling
//! thread's empty pages to their arenas and runs the purges that are due,
//! for every arena of the process. With the default current-thread runtime
//! that is the thread that allocates nearly everything. The cost is one call
//! a second, none per packet; the measured figures are in RELIABILITY.md
//! ("The allocator gives back what the node frees").
//!
//! When mimalloc is not the global allocator (the library's tests), its
//! thread heaps are never initialised and `mi_collect` returns at once.
#![allow(unsafe_code)]

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Time between two collections: mimalloc's default purge delay, so memory
/// freed at an attack's end is back with the kernel within about two of it.
pub const COLLECT_INTERVAL: Duration = Duration::from_secs(1);

/// Lets mimalloc free the calling thread's empty pages and run the purges
/// that are due (not a forced purge: the ones freed less than the purge
/// delay ago wait for the next call).
pub fn collect() {
    // SAFETY: `mi_collect` takes no pointer and has no precondition: it
    // works on the calling thread's own heap and on the arenas, which
    // mimalloc synchronises itself, like any allocation would.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

/// Calls [`collect`] every [`COLLECT_INTERVAL`] until `stop` is cancelled.
pub async fn collect_periodically(stop: CancellationToken) {
    let mut tick = tokio::time::interval(COLLECT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => collect(),
        }
    }
}
