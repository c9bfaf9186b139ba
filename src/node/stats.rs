//! The per-link counters: atomics in each link's [`super::PeerSlot`], added
//! to by the packet path (one relaxed add per event, nothing looked up by
//! label) and read whole by [`LinkStats::read`] for `/metrics` and the
//! admin API.
//!
//! Error codes are counted in fixed slots (F, T, R times 00-99, and one for
//! anything else), so a peer's codes cannot grow the counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::packet::ErrorCode;

/// Upper bounds (seconds) of the forwarding latency histogram.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// [`LATENCY_BUCKETS`] in nanoseconds: the packet path compares integers.
const LATENCY_BUCKETS_NANOS: [u64; LATENCY_BUCKETS.len()] = [
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];
/// Error-code counter slots: F, T, R times 00-99, and one for anything else.
pub const CODE_SLOTS: usize = 301;
const OTHER_CODE: usize = CODE_SLOTS - 1;

/// Which way a packet went on a link, from this node's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A Prepare the peer sent us (we answered it).
    Incoming = 0,
    /// A Prepare we sent the peer (it answered).
    Outgoing = 1,
}

impl Flow {
    /// Both flows, in index order.
    pub const ALL: [Flow; 2] = [Flow::Incoming, Flow::Outgoing];

    /// The `direction` label of this flow.
    pub fn label(self) -> &'static str {
        match self {
            Flow::Incoming => "incoming",
            Flow::Outgoing => "outgoing",
        }
    }
}

fn code_slot(code: ErrorCode) -> usize {
    let [c, a, b] = code.0;
    let class = match c {
        b'F' => 0,
        b'T' => 1,
        b'R' => 2,
        _ => return OTHER_CODE,
    };
    if !a.is_ascii_digit() || !b.is_ascii_digit() {
        return OTHER_CODE;
    }
    class * 100 + usize::from(a - b'0') * 10 + usize::from(b - b'0')
}

/// The label of error-code slot `i` (`F02`, ..., or `other`).
pub fn code_label(i: usize) -> String {
    if i == OTHER_CODE {
        return "other".into();
    }
    let class = ['F', 'T', 'R'][i / 100];
    format!("{class}{:02}", i % 100)
}

/// The counters of one link; every update is one relaxed atomic add.
#[derive(Debug)]
pub struct LinkStats {
    fulfilled: [AtomicU64; 2],
    rejected: [Box<[AtomicU64]>; 2],
    failed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    state_changes: AtomicU64,
    reconnects: AtomicU64,
    was_up: AtomicBool,
    /// Per-bucket counts, the last for anything above the last bound (+Inf).
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_nanos: AtomicU64,
}

impl Default for LinkStats {
    fn default() -> Self {
        let codes = || (0..CODE_SLOTS).map(|_| AtomicU64::new(0)).collect();
        Self {
            fulfilled: Default::default(),
            rejected: [codes(), codes()],
            failed: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            state_changes: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            was_up: AtomicBool::new(false),
            latency_buckets: Default::default(),
            latency_sum_nanos: AtomicU64::new(0),
        }
    }
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Every counter of one link, read at one moment ([`LinkStats::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Fulfilled Prepares, indexed by [`Flow`].
    pub fulfilled: [u64; 2],
    /// Rejected Prepares by flow, then by code slot ([`code_label`]).
    pub rejected: [Vec<u64>; 2],
    /// Forwarded Prepares with no answer (expired, link closed).
    pub failed: u64,
    /// Bytes of ILP packets received.
    pub bytes_in: u64,
    /// Bytes of ILP packets sent.
    pub bytes_out: u64,
    /// Times the link went up or down.
    pub state_changes: u64,
    /// Times it came up after the first.
    pub reconnects: u64,
    /// Forwarding latency: per-bucket counts of [`LATENCY_BUCKETS`], the
    /// last for anything above the last bound.
    pub latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the forwarding latencies, in nanoseconds.
    pub latency_sum_nanos: u64,
}

impl LinkStats {
    /// A fulfilled packet.
    pub fn fulfilled(&self, flow: Flow) {
        add(&self.fulfilled[flow as usize], 1);
    }

    /// A packet rejected with `code`.
    pub fn rejected(&self, flow: Flow, code: ErrorCode) {
        add(&self.rejected[flow as usize][code_slot(code)], 1);
    }

    /// A Prepare sent on this link that got no reply (expiry, link lost).
    pub fn failed(&self) {
        add(&self.failed, 1);
    }

    /// Bytes of ILP packets received on this link.
    pub fn bytes_in(&self, n: usize) {
        add(&self.bytes_in, n as u64);
    }

    /// Bytes of ILP packets sent on this link.
    pub fn bytes_out(&self, n: usize) {
        add(&self.bytes_out, n as u64);
    }

    /// The time from forwarding a Prepare on this link to its answer.
    pub fn forwarded_in(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_NANOS
            .iter()
            .position(|b| nanos <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        add(&self.latency_buckets[i], 1);
        add(&self.latency_sum_nanos, nanos);
    }

    /// Forwarded packets timed by [`LinkStats::forwarded_in`].
    pub fn latency_count(&self) -> u64 {
        self.latency_buckets.iter().map(get).sum()
    }

    /// The link came up; every time after the first is a reconnect.
    pub fn link_up(&self) {
        add(&self.state_changes, 1);
        if self.was_up.swap(true, Ordering::Relaxed) {
            add(&self.reconnects, 1);
        }
    }

    /// The link went down.
    pub fn link_down(&self) {
        add(&self.state_changes, 1);
    }

    /// Fulfilled count for `flow` (tests, admin).
    pub fn fulfilled_count(&self, flow: Flow) -> u64 {
        get(&self.fulfilled[flow as usize])
    }

    /// Rejected count for `flow` and `code` (tests, admin).
    pub fn rejected_count(&self, flow: Flow, code: ErrorCode) -> u64 {
        get(&self.rejected[flow as usize][code_slot(code)])
    }

    /// Every counter, read now (for `/metrics`).
    pub fn read(&self) -> Counts {
        let rejected = |flow: usize| self.rejected[flow].iter().map(get).collect();
        Counts {
            fulfilled: [get(&self.fulfilled[0]), get(&self.fulfilled[1])],
            rejected: [rejected(0), rejected(1)],
            failed: get(&self.failed),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            state_changes: get(&self.state_changes),
            reconnects: get(&self.reconnects),
            latency_buckets: std::array::from_fn(|i| get(&self.latency_buckets[i])),
            latency_sum_nanos: get(&self.latency_sum_nanos),
        }
    }

    /// Every counter of the link, read now (the admin API's link list).
    pub fn totals(&self) -> LinkTotals {
        let counts = self.read();
        let direction = |flow: usize| {
            let rejected: BTreeMap<String, u64> = counts.rejected[flow]
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (code_label(i), *n))
                .collect();
            DirectionTotals {
                fulfilled: counts.fulfilled[flow],
                rejected: rejected.values().sum(),
                rejected_by_code: rejected,
            }
        };
        LinkTotals {
            incoming: direction(Flow::Incoming as usize),
            outgoing: direction(Flow::Outgoing as usize),
            failed: counts.failed,
            bytes_in: counts.bytes_in,
            bytes_out: counts.bytes_out,
            state_changes: counts.state_changes,
            reconnects: counts.reconnects,
        }
    }
}

/// One direction's packet counts of a link ([`LinkStats::totals`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectionTotals {
    /// Prepares fulfilled.
    pub fulfilled: u64,
    /// Prepares rejected (every code).
    pub rejected: u64,
    /// The rejects by ILP code (`other` for codes outside F00-R99); codes
    /// never seen are left out.
    pub rejected_by_code: BTreeMap<String, u64>,
}

/// Every counter of a link ([`LinkStats::totals`]), as `/metrics` has them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkTotals {
    /// Prepares the peer sent us.
    pub incoming: DirectionTotals,
    /// Prepares we forwarded to the peer.
    pub outgoing: DirectionTotals,
    /// Forwarded Prepares with no answer (expired, link closed).
    pub failed: u64,
    /// Bytes of ILP packets received.
    pub bytes_in: u64,
    /// Bytes of ILP packets sent.
    pub bytes_out: u64,
    /// Times the link went up or down.
    pub state_changes: u64,
    /// Times it came up after the first.
    pub reconnects: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_slot_and_strange_codes_share_one() {
        assert_eq!(code_label(code_slot(ErrorCode(*b"F02"))), "F02");
        assert_eq!(code_label(code_slot(ErrorCode(*b"T01"))), "T01");
        assert_eq!(code_label(code_slot(ErrorCode(*b"R99"))), "R99");
        assert_eq!(code_label(code_slot(ErrorCode(*b"X01"))), "other");
        assert_eq!(code_label(code_slot(ErrorCode(*b"F0x"))), "other");
    }

    #[test]
    fn integer_bounds_are_the_exported_bounds() {
        for (secs, nanos) in LATENCY_BUCKETS.iter().zip(LATENCY_BUCKETS_NANOS) {
            assert_eq!((secs * 1e9).round() as u64, nanos);
        }
    }

    #[test]
    fn latency_lands_in_its_bucket_and_the_sum() {
        let s = LinkStats::default();
        s.forwarded_in(Duration::from_millis(3));
        s.forwarded_in(Duration::from_secs(60));
        let c = s.read();
        assert_eq!(c.latency_buckets[4], 1);
        assert_eq!(c.latency_buckets[LATENCY_BUCKETS.len()], 1);
        assert_eq!(s.latency_count(), 2);
        assert_eq!(c.latency_sum_nanos, 60_003_000_000);
    }
}
