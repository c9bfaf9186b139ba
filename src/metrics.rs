//! Prometheus metrics at `GET /metrics`, in the text format: a collector of
//! `prometheus-client` that reads the node's state at scrape time (each
//! link's counters, [`crate::node::stats`], its fault and connection, the
//! routing table, CCP). Renders only: nothing here is on the packet path.
//!
//! Labels are bounded: peer ids (configured) and ILP error codes (at most
//! F00-R99 plus `other`), never destinations.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::node::account::AccountSnapshot;
use crate::node::stats::{CODE_SLOTS, Counts, Flow, LATENCY_BUCKETS, code_label};
use crate::node::{Node, PeerSlot};

/// Path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// Content type of the OpenMetrics text format `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What one scrape reports: a snapshot of the node's state.
#[derive(Debug)]
struct Snapshot {
    /// Each link, its counters and its books, read once.
    slots: Vec<(Arc<PeerSlot>, Counts, AccountSnapshot)>,
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
        let codes: Vec<String> = (0..CODE_SLOTS).map(code_label).collect();
        for (s, st, _) in &self.slots {
            for flow in Flow::ALL {
                let dir = flow.label();
                let row =
                    |outcome| vec![("link", &*s.id), ("direction", dir), ("outcome", outcome)];
                packets.push((row("fulfilled"), st.fulfilled[flow as usize]));
                for (i, n) in st.rejected[flow as usize].iter().enumerate() {
                    if *n > 0 {
                        let mut l = row("rejected");
                        l.push(("code", &codes[i]));
                        packets.push((l, *n));
                    }
                }
                if flow == Flow::Outgoing {
                    packets.push((row("failed"), st.failed));
                }
            }
        }
        counter(
            &mut enc,
            "ilp_packets",
            "ILP Prepares by link, direction (incoming: the peer sent it; outgoing: this node forwarded it) and outcome (failed: no reply before expiry or the link closed)",
            &packets,
        )?;
        let per_link = |f: &dyn Fn(&Counts) -> u64| -> Vec<(Labels, u64)> {
            self.slots
                .iter()
                .map(|(s, st, _)| (vec![("link", &*s.id)], f(st)))
                .collect()
        };
        let per_link_gauge = |f: &dyn Fn(&PeerSlot) -> i64| -> Vec<(Labels, i64)> {
            self.slots
                .iter()
                .map(|(s, _, _)| (vec![("link", &*s.id)], f(s)))
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
            for (s, st, _) in &self.slots {
                // Per-bucket counts; the encoder makes them cumulative.
                let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                    .iter()
                    .chain([&f64::MAX])
                    .zip(&st.latency_buckets)
                    .map(|(b, n)| (*b, *n))
                    .collect();
                let count = buckets.iter().map(|(_, n)| n).sum();
                let labels = vec![("next_hop", &*s.id)];
                let sum = st.latency_sum_nanos as f64 / 1e9;
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
        for (s, _, _) in &self.slots {
            let f = s.fault.snapshot().unwrap_or_default();
            for (kind, on) in [
                ("down", f.down),
                ("latency", f.latency_ms > 0 || f.jitter_ms > 0),
                ("loss", f.loss > 0.0),
                ("settlement_refused", f.settlement_refused),
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
            &per_link(&|st| st.state_changes),
        )?;
        counter(
            &mut enc,
            "ilp_reconnects",
            "Times the link came up again after its first connection",
            &per_link(&|st| st.reconnects),
        )?;
        let mut bytes = Vec::new();
        for (s, st, _) in &self.slots {
            bytes.push((vec![("link", &*s.id), ("direction", "in")], st.bytes_in));
            bytes.push((vec![("link", &*s.id), ("direction", "out")], st.bytes_out));
        }
        counter(
            &mut enc,
            "ilp_bytes",
            "Bytes of ILP packets received (in) and sent (out) on the link",
            &bytes,
        )?;
        self.encode_books(&mut enc)?;
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

/// A gauge's value for an amount (saturated to the 64-bit range a gauge has).
fn amount_gauge(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// A counter's value for a total (saturated to 64 bits).
fn amount_counter(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Snapshot {
    /// Each link's books: balance, pending amounts, limits, settlements.
    fn encode_books(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let books = || self.slots.iter().map(|(s, _, b)| (&*s.id, b));
        gauge(
            enc,
            "ilp_balance",
            "The link's balance in its asset's units: positive, the peer owes this node (fulfilled packets and settlements; durable with DATA_DIR)",
            &books()
                .map(|(id, b)| (vec![("link", id)], amount_gauge(b.committed)))
                .collect::<Vec<_>>(),
        )?;
        let mut pending = Vec::new();
        for (id, b) in books() {
            for (dir, n) in [
                ("incoming", b.pending_incoming),
                ("outgoing", b.pending_outgoing),
            ] {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                pending.push((vec![("link", id), ("direction", dir)], n));
            }
        }
        gauge(
            enc,
            "ilp_balance_pending",
            "Amounts of Prepares in flight on the link (incoming: admitted from the peer; outgoing: reserved towards it)",
            &pending,
        )?;
        let mut limits = Vec::new();
        for (id, b) in books() {
            let l = b.limits;
            for (name, v) in [
                ("minimum", l.minimum),
                ("maximum", l.maximum),
                ("settle_threshold", l.settle_threshold),
                ("settle_to", l.settle_threshold.map(|_| l.settle_to)),
            ] {
                if let Some(v) = v {
                    limits.push((vec![("link", id), ("limit", name)], amount_gauge(v)));
                }
            }
        }
        gauge(
            enc,
            "ilp_balance_limit",
            "The link's limits that are set (minimum, maximum, settle_threshold, settle_to)",
            &limits,
        )?;
        let mut settlements = Vec::new();
        for (id, b) in books() {
            for (dir, outcome, n) in [
                ("sent", "accepted", b.accepted),
                ("sent", "refused", b.refused),
                ("received", "accepted", b.received),
            ] {
                settlements.push((
                    vec![("link", id), ("direction", dir), ("outcome", outcome)],
                    n,
                ));
            }
        }
        counter(
            enc,
            "ilp_settlements",
            "Settlements (BTP Transfers) of the link by direction and outcome",
            &settlements,
        )?;
        let mut settled = Vec::new();
        for (id, b) in books() {
            settled.push((
                vec![("link", id), ("direction", "out")],
                amount_counter(b.settled_out),
            ));
            settled.push((
                vec![("link", id), ("direction", "in")],
                amount_counter(b.settled_in),
            ));
        }
        counter(
            enc,
            "ilp_settled_amount",
            "Total settled on the link: out, paid to the peer; in, paid by it (admin records included)",
            &settled,
        )
    }
}

/// The node's metrics in the Prometheus text format, computed now.
pub fn render(node: &Node) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        slots: node
            .peer_slots()
            .into_iter()
            .map(|s| {
                let counts = s.stats.read();
                let books = s.account.snapshot();
                (s, counts, books)
            })
            .collect(),
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
