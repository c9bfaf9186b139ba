//! `ilp-connector`: run a node (the default), `send` packets, probe `health`,
//! steer links through the `admin` API, or serve the network page (`dashboard`).
//! The command line is [`ilp_connector::cli`]'s.
#![forbid(unsafe_code)]

use std::process::ExitCode;

// mimalloc instead of glibc malloc: each forwarded packet allocates a task
// (a 128-byte-aligned cell, glibc's slow `memalign` path), a oneshot, frames;
// under glibc these took a fifth of a node's CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ilp_connector::cli::main()
}
