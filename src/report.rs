//! The node's reports, computed at each request: the health report
//! (`GET /health`: every link, 200 when healthy, 503 when not) and the
//! routing report (`GET /routes`: the live table, where each route came
//! from, the CCP state of each peer). Served by [`crate::server::http`].

use std::sync::Arc;

use serde::Serialize;

use crate::ccp;
use crate::config::Relation;
use crate::link::Direction;
use crate::node::account::SettlementState;
use crate::node::{Node, PeerSlot};
use crate::route_table::NextHop;

/// Path of the health report.
pub const HEALTH_PATH: &str = "/health";
/// Path of the routing report.
pub const ROUTES_PATH: &str = "/routes";

/// The health report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// The node id.
    pub node_id: String,
    /// The node's ILP address.
    pub ilp_address: String,
    /// The BTP server port.
    pub btp_server_port: u16,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Crate version.
    pub version: &'static str,
    /// `durable` (`DATA_DIR`) or `memory`: where the books live.
    pub books: &'static str,
    /// Every configured link.
    pub links: Vec<LinkReport>,
}

/// One link in the health report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    /// Peer id.
    pub id: String,
    /// `peer` or `child`.
    pub relation: Relation,
    /// `outbound` (this node dials) or `inbound`.
    pub direction: Direction,
    /// Whether the link is up now.
    pub connected: bool,
    /// Since when it has been in that state (RFC 3339).
    pub since: String,
    /// Requests sent on it still waiting for a reply.
    pub pending_requests: usize,
    /// Faults injected through the admin API, or null.
    pub fault: Option<crate::fault::Fault>,
    /// The link's books.
    pub balance: BalanceReport,
}

/// A link's books in a report. Amounts are decimal strings (they are
/// 128-bit; JSON numbers are not exact past 2^53), as the JS connector's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceReport {
    /// The durable balance: positive, the peer owes us.
    pub committed: String,
    /// Incoming Prepares admitted, not yet answered.
    pub pending_incoming: String,
    /// Outgoing Prepares reserved, not yet answered.
    pub pending_outgoing: String,
    /// A settlement we sent that is not answered yet.
    pub settling: Option<String>,
    /// Total we paid the peer.
    pub settled_out: String,
    /// Total the peer paid us.
    pub settled_in: String,
    /// `idle`, `in flight`, `settlement refused by peer` or `link down`
    /// (something is owed or in flight and the link is down).
    pub settlement: &'static str,
    /// Settlement counts.
    pub settlements: SettlementCounts,
    /// The link's limits (null: unbounded).
    pub limits: LimitsReport,
}

/// Settlement counts of a link.
#[derive(Debug, Clone, Serialize)]
pub struct SettlementCounts {
    /// Settlements sent (each new one once).
    pub sent: u64,
    /// Accepted by the peer.
    pub accepted: u64,
    /// Refused by the peer.
    pub refused: u64,
    /// Paid to us by the peer.
    pub received: u64,
}

/// A link's limits in a report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsReport {
    /// Least balance (we may owe the peer at most this much).
    pub minimum: Option<String>,
    /// Most balance (the peer may owe us at most this much).
    pub maximum: Option<String>,
    /// Settle when the balance falls below this.
    pub settle_threshold: Option<String>,
    /// Settle up to this balance.
    pub settle_to: String,
}

/// The books of `slot`'s link, now.
pub fn balance_report(slot: &PeerSlot) -> BalanceReport {
    let a = slot.account.snapshot();
    let text = |n: Option<i128>| n.map(|n| n.to_string());
    let settlement = match a.state {
        SettlementState::InFlight if slot.link().is_none() => "link down",
        SettlementState::Idle => "idle",
        SettlementState::InFlight => "in flight",
        SettlementState::RefusedByPeer => "settlement refused by peer",
    };
    BalanceReport {
        committed: a.committed.to_string(),
        pending_incoming: a.pending_incoming.to_string(),
        pending_outgoing: a.pending_outgoing.to_string(),
        settling: a.settling.map(|n| n.to_string()),
        settled_out: a.settled_out.to_string(),
        settled_in: a.settled_in.to_string(),
        settlement,
        settlements: SettlementCounts {
            sent: a.sent,
            accepted: a.accepted,
            refused: a.refused,
            received: a.received,
        },
        limits: LimitsReport {
            minimum: text(a.limits.minimum),
            maximum: text(a.limits.maximum),
            settle_threshold: text(a.limits.settle_threshold),
            settle_to: a.limits.settle_to.to_string(),
        },
    }
}

/// The report, computed now.
pub fn report(node: &Node) -> Report {
    let links = node
        .peer_slots()
        .iter()
        .map(|s| {
            let link = s.link();
            LinkReport {
                id: s.id.to_string(),
                relation: s.config.relation,
                direction: s.direction(),
                connected: link.is_some(),
                since: s
                    .since()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                pending_requests: link.map_or(0, |l| l.pending_requests()),
                fault: s.fault.snapshot(),
                balance: balance_report(s),
            }
        })
        .collect();
    Report {
        status: if node.is_healthy() {
            "healthy"
        } else {
            "unhealthy"
        },
        node_id: node.config().node_id.clone(),
        ilp_address: node.config().ilp_address.to_string(),
        btp_server_port: node.btp_addr().port(),
        uptime_seconds: (node.uptime().as_millis() as f64) / 1000.0,
        version: env!("CARGO_PKG_VERSION"),
        books: if node.journal().is_some() {
            "durable"
        } else {
            "memory"
        },
        links,
    }
}

/// The routing report (`GET /routes`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutesReport {
    /// `ccp` or `static`.
    pub routing: crate::config::RoutingMode,
    /// Our routing table id (a UUID), with CCP.
    pub routing_table_id: Option<String>,
    /// Our table's current epoch, with CCP.
    pub epoch: Option<u32>,
    /// The live routing table, sorted by prefix.
    pub routes: Vec<RouteReport>,
    /// What CCP knows of each peer (empty for static routing).
    pub peers: Vec<CcpPeerReport>,
}

/// One route of the live table.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteReport {
    /// Address prefix.
    pub prefix: String,
    /// Peer id of the next hop, or `local`.
    pub next_hop: String,
    /// The path the next hop announced (learned routes only).
    pub path: Vec<String>,
    /// `local` (our address, children), `static` (ILP_ROUTES, the config
    /// file), `learned` (CCP) or `link` (a peer's own address).
    pub origin: &'static str,
}

/// CCP state of one peer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CcpPeerReport {
    /// Peer id.
    pub id: String,
    /// Whether its link is up.
    pub up: bool,
    /// Whether it asked for our routes (sync mode).
    pub sending: bool,
    /// The epoch of our table it has.
    pub sent_epoch: u32,
    /// Its routing table id as we know it.
    pub routing_table_id: String,
    /// The epoch of its table we have.
    pub epoch: u32,
    /// Routes we hold from it.
    pub routes: usize,
}

/// The routing report, computed now.
pub fn routes_report(node: &Node) -> RoutesReport {
    let table = node.routes();
    let routes = table
        .entries()
        .into_iter()
        .map(|(prefix, hop)| {
            let (origin, path) = origin_of(node, prefix, hop);
            RouteReport {
                prefix: prefix.to_string(),
                next_hop: match hop {
                    NextHop::Local => "local".into(),
                    NextHop::Peer(s) => s.id.to_string(),
                },
                path,
                origin,
            }
        })
        .collect();
    let (routing_table_id, epoch, peers) = match node.ccp() {
        Some(r) => {
            let sp = r.speaker();
            let peers = sp
                .peer_status()
                .into_iter()
                .map(|p| CcpPeerReport {
                    id: p.peer.to_string(),
                    up: p.up,
                    sending: p.sending,
                    sent_epoch: p.sent_epoch,
                    routing_table_id: p.routing_table_id.to_string(),
                    epoch: p.epoch,
                    routes: p.routes,
                })
                .collect();
            (
                Some(sp.routing_table_id().to_string()),
                Some(sp.current_epoch()),
                peers,
            )
        }
        None => (None, None, Vec::new()),
    };
    RoutesReport {
        routing: node.config().routing.mode,
        routing_table_id,
        epoch,
        routes,
        peers,
    }
}

/// Where a route of the live table came from, for `/routes`.
pub fn origin_of(
    node: &Node,
    prefix: &str,
    hop: &NextHop<Arc<PeerSlot>>,
) -> (&'static str, Vec<String>) {
    let config = node.config();
    if config.routes.contains_key(prefix) {
        return ("static", Vec::new());
    }
    if prefix == config.ilp_address.as_str() || matches!(hop, NextHop::Local) {
        return ("local", Vec::new());
    }
    if let Some(r) = node.ccp() {
        let sp = r.speaker();
        if let Some(e) = sp.forwarding_table().get(prefix)
            && e.origin == ccp::Origin::Learned
            && matches!((&e.next_hop, hop), (ccp::NextHop::Peer(a), NextHop::Peer(b)) if **a == *b.id)
        {
            return ("learned", e.path.iter().map(|a| a.to_string()).collect());
        }
    }
    if config
        .peers
        .iter()
        .any(|p| p.address.as_str() == prefix && p.relation == Relation::Child)
    {
        return ("local", Vec::new());
    }
    ("link", Vec::new())
}
