//! Prometheus metrics: per-link counters kept as atomics in each link's
//! [`PeerSlot`] (the packet path adds to them, nothing is looked up by
//! label), exported at `GET /metrics` in the text format by a collector of
//! `prometheus-client` that reads them at scrape time.
//!
//! Labels are bounded: peer ids (configured) and ILP error codes (at most
//! F00-R99 plus `other`), never destinations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::node::{Node, PeerSlot};
use crate::packet::ErrorCode;

/// Path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// Content type of the OpenMetrics text format `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
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
const CODE_SLOTS: usize = 301;
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
    fn label(i: usize) -> &'static str {
        if i == 0 { "incoming" } else { "outgoing" }
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

fn slot_code(i: usize) -> String {
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

    /// Every counter of the link, read now (the admin API's link list).
    pub fn totals(&self) -> LinkTotals {
        let direction = |flow: usize| {
            let rejected: BTreeMap<String, u64> = self.rejected[flow]
                .iter()
                .enumerate()
                .map(|(i, c)| (slot_code(i), get(c)))
                .filter(|(_, n)| *n > 0)
                .collect();
            DirectionTotals {
                fulfilled: get(&self.fulfilled[flow]),
                rejected: rejected.values().sum(),
                rejected_by_code: rejected,
            }
        };
        LinkTotals {
            incoming: direction(Flow::Incoming as usize),
            outgoing: direction(Flow::Outgoing as usize),
            failed: get(&self.failed),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            state_changes: get(&self.state_changes),
            reconnects: get(&self.reconnects),
        }
    }

    /// Rejected count for `flow` and `code` (tests, admin).
    pub fn rejected_count(&self, flow: Flow, code: ErrorCode) -> u64 {
        get(&self.rejected[flow as usize][code_slot(code)])
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

/// What one scrape reports: a snapshot of the node's state.
#[derive(Debug)]
struct Snapshot {
    slots: Vec<Arc<PeerSlot>>,
    uptime: f64,
    routes: usize,
    /// With CCP: our table's epoch and what each CCP peer gave us.
    ccp: Option<CcpSnapshot>,
}

/// The CCP state one scrape reports.
#[derive(Debug)]
struct CcpSnapshot {
    /// Our routing table's current epoch.
    epoch: u32,
    /// Per CCP peer.
    peers: Vec<CcpPeer>,
}

/// One CCP peer as a scrape reports it.
#[derive(Debug)]
struct CcpPeer {
    /// Its link id.
    link: String,
    /// The epoch of its table we have applied.
    epoch: u32,
    /// Routes we hold from it.
    routes: usize,
    /// The epoch of our table it has been sent.
    sent_epoch: u32,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Labels, u64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Labels, i64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let mut packets: Vec<(Labels, u64)> = Vec::new();
        let codes: Vec<String> = (0..CODE_SLOTS).map(slot_code).collect();
        for s in &self.slots {
            let st = &s.stats;
            for flow in 0..2 {
                let dir = Flow::label(flow);
                let row =
                    |outcome| vec![("link", &*s.id), ("direction", dir), ("outcome", outcome)];
                packets.push((row("fulfilled"), get(&st.fulfilled[flow])));
                for (i, c) in st.rejected[flow].iter().enumerate() {
                    let n = get(c);
                    if n > 0 {
                        let mut l = row("rejected");
                        l.push(("code", &codes[i]));
                        packets.push((l, n));
                    }
                }
                if flow == Flow::Outgoing as usize {
                    packets.push((row("failed"), get(&st.failed)));
                }
            }
        }
        counter(
            &mut enc,
            "ilp_packets",
            "ILP Prepares by link, direction (incoming: the peer sent it; outgoing: this node forwarded it) and outcome (failed: no reply before expiry or the link closed)",
            &packets,
        )?;
        let per_link = |f: &dyn Fn(&PeerSlot) -> u64| -> Vec<(Labels, u64)> {
            self.slots
                .iter()
                .map(|s| (vec![("link", &*s.id)], f(s)))
                .collect()
        };
        let per_link_gauge = |f: &dyn Fn(&PeerSlot) -> i64| -> Vec<(Labels, i64)> {
            self.slots
                .iter()
                .map(|s| (vec![("link", &*s.id)], f(s)))
                .collect()
        };
        gauge(
            &mut enc,
            "ilp_in_flight",
            "Prepares from this link being handled now",
            &per_link_gauge(&|s| s.inflight() as i64),
        )?;
        {
            let mut m = enc.encode_descriptor(
                "ilp_forward_latency_seconds",
                "Time from forwarding a Prepare to a next hop to its answer",
                None,
                MetricType::Histogram,
            )?;
            for s in &self.slots {
                let st = &s.stats;
                // Per-bucket counts; the encoder makes them cumulative.
                let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                    .iter()
                    .chain([&f64::MAX])
                    .zip(&st.latency_buckets)
                    .map(|(b, n)| (*b, get(n)))
                    .collect();
                let count = buckets.iter().map(|(_, n)| n).sum();
                let labels = vec![("next_hop", &*s.id)];
                let sum = get(&st.latency_sum_nanos) as f64 / 1e9;
                m.encode_family(&labels)?
                    .encode_histogram::<Labels>(sum, count, &buckets, None)?;
            }
        }
        gauge(
            &mut enc,
            "ilp_link_up",
            "1 when the link is connected, else 0",
            &per_link_gauge(&|s| i64::from(s.link().is_some())),
        )?;
        let mut faults = Vec::new();
        for s in &self.slots {
            let f = s.fault.snapshot().unwrap_or_default();
            for (kind, on) in [
                ("down", f.down),
                ("latency", f.latency_ms > 0 || f.jitter_ms > 0),
                ("loss", f.loss > 0.0),
            ] {
                faults.push((vec![("link", &*s.id), ("kind", kind)], i64::from(on)));
            }
        }
        gauge(
            &mut enc,
            "ilp_link_fault",
            "1 while a fault of this kind is injected on the link (admin API)",
            &faults,
        )?;
        counter(
            &mut enc,
            "ilp_link_state_changes",
            "Times the link went up or down",
            &per_link(&|s| get(&s.stats.state_changes)),
        )?;
        counter(
            &mut enc,
            "ilp_reconnects",
            "Times the link came up again after its first connection",
            &per_link(&|s| get(&s.stats.reconnects)),
        )?;
        let mut bytes = Vec::new();
        for s in &self.slots {
            bytes.push((
                vec![("link", &*s.id), ("direction", "in")],
                get(&s.stats.bytes_in),
            ));
            bytes.push((
                vec![("link", &*s.id), ("direction", "out")],
                get(&s.stats.bytes_out),
            ));
        }
        counter(
            &mut enc,
            "ilp_bytes",
            "Bytes of ILP packets received (in) and sent (out) on the link",
            &bytes,
        )?;
        let m = enc.encode_descriptor(
            "ilp_routes",
            "Entries in the routing table",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.routes as i64).encode(m)?;
        if let Some(ccp) = &self.ccp {
            let m = enc.encode_descriptor(
                "ilp_ccp_epoch",
                "Current epoch of this node's CCP routing table (each change of what it advertises takes the next; a restart starts a new table at 0)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::from(ccp.epoch)).encode(m)?;
            let rows = |f: &dyn Fn(&CcpPeer) -> i64| -> Vec<(Labels, i64)> {
                ccp.peers
                    .iter()
                    .map(|p| (vec![("link", p.link.as_str())], f(p)))
                    .collect()
            };
            gauge(
                &mut enc,
                "ilp_ccp_peer_epoch",
                "Epoch of the peer's CCP routing table this node has applied",
                &rows(&|p| i64::from(p.epoch)),
            )?;
            gauge(
                &mut enc,
                "ilp_ccp_peer_sent_epoch",
                "Epoch of this node's CCP routing table the peer has been sent",
                &rows(&|p| i64::from(p.sent_epoch)),
            )?;
            gauge(
                &mut enc,
                "ilp_ccp_peer_routes",
                "Routes this node holds from the peer (CCP)",
                &rows(&|p| p.routes as i64),
            )?;
        }
        gauge(
            &mut enc,
            "ilp_build_info",
            "Always 1; the version label names the build",
            &[(vec![("version", env!("CARGO_PKG_VERSION"))], 1)],
        )?;
        let m = enc.encode_descriptor(
            "ilp_uptime_seconds",
            "Seconds since the node started",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.uptime).encode(m)?;
        let m = enc.encode_descriptor(
            "ilp_log_lines_dropped",
            "Log lines dropped because stdout was not draining (logging never waits)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(crate::logging::dropped_lines_total()).encode(m)?;
        Ok(())
    }
}

/// The node's metrics in the Prometheus text format, computed now.
pub fn render(node: &Node) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        slots: node.peer_slots(),
        uptime: node.uptime().as_secs_f64(),
        routes: node.routes().len(),
        ccp: node.ccp().map(|r| {
            let sp = r.speaker();
            CcpSnapshot {
                epoch: sp.current_epoch(),
                peers: sp
                    .peer_status()
                    .into_iter()
                    .map(|p| CcpPeer {
                        link: p.peer.to_string(),
                        epoch: p.epoch,
                        routes: p.routes,
                        sent_epoch: p.sent_epoch,
                    })
                    .collect(),
            }
        }),
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_slot_and_strange_codes_share_one() {
        assert_eq!(slot_code(code_slot(ErrorCode(*b"F02"))), "F02");
        assert_eq!(slot_code(code_slot(ErrorCode(*b"T01"))), "T01");
        assert_eq!(slot_code(code_slot(ErrorCode(*b"R99"))), "R99");
        assert_eq!(slot_code(code_slot(ErrorCode(*b"X01"))), "other");
        assert_eq!(slot_code(code_slot(ErrorCode(*b"F0x"))), "other");
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
        assert_eq!(get(&s.latency_buckets[4]), 1);
        assert_eq!(get(&s.latency_buckets[LATENCY_BUCKETS.len()]), 1);
        assert_eq!(s.latency_count(), 2);
        assert_eq!(get(&s.latency_sum_nanos), 60_003_000_000);
    }
}
