//! CCP route control and update payloads: whatever decodes re-encodes to the
//! same bytes and decodes again to the same value; a speaker fed whatever
//! decodes never panics and keeps its forwarding table consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The checks, shared with tests/ccp.rs (which runs them on mutated vectors
// where cargo-fuzz is not available).
#[path = "ccp_check.rs"]
mod ccp_check;

fuzz_target!(|data: &[u8]| {
    ccp_check::check(data);
});
