//! What the dashboard knows of each node, and the [`Snapshot`] the page draws
//! from it: nodes, the links between them as edges (up, down, faulted), packet
//! rates from counter windows, recent rejects by code. What the polls found
//! and the page shows as it is ([`Polled`]) is kept once, in that shape, by
//! [`NodeState`]; its [`NodeView`] adds only what is computed (state, links
//! and their peers, rates). Each link's books ([`Balance`], read by
//! [`super::books`]) come from `/health`, else from `/admin/links`, and the
//! settlements seen between two polls are kept per node. Pure apart from
//! clocks: every method that keeps counter windows is given the time, so
//! tests drive it sample by sample.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NodeTarget;
use super::books::{self, Balance, Seen, SettlementEvent};
use super::scrape::NodeMetrics;
use crate::send::Summary;

/// Span over which packet rates and latency are averaged.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Span of "recent" rejects.
pub const REJECT_WINDOW: Duration = Duration::from_secs(60);
/// Most samples one counter window keeps (at the shortest poll interval,
/// [`REJECT_WINDOW`] needs 600).
pub const MAX_WINDOW_SAMPLES: usize = 1_024;
/// Most counter series tracked per node (links x directions, codes).
pub const MAX_SERIES: usize = 512;
/// Most links of one node shown.
pub const MAX_LINKS: usize = 1_024;
/// Most routes of one node shown.
pub const MAX_ROUTES: usize = 2_000;
/// Sends remembered for the page.
pub const MAX_SENDS: usize = 10;

/// A counter sampled over time: its increase and rate over a span, counting a
/// drop (the node restarted) as a reset to zero.
#[derive(Debug, Clone)]
pub struct CounterWindow {
    span: Duration,
    samples: VecDeque<(Instant, f64)>,
}

impl CounterWindow {
    /// A window over `span`.
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `at` (samples come in time order).
    pub fn push(&mut self, at: Instant, value: f64) {
        self.samples.push_back((at, value));
        // Keep one sample at or before the span's start, so the window covers it.
        while self.samples.len() > 2 && at.duration_since(self.samples[1].0) >= self.span
            || self.samples.len() > MAX_WINDOW_SAMPLES
        {
            self.samples.pop_front();
        }
    }

    /// How much the counter grew over the window.
    pub fn increase(&self) -> f64 {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((_, a), (_, b))| if b >= a { b - a } else { *b })
            .sum()
    }

    /// Increase per second, or `None` with fewer than two samples.
    pub fn rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let dt = last.0.duration_since(first.0).as_secs_f64();
        (dt > 0.0).then(|| self.increase() / dt)
    }
}

/// The part of a node's `/health` the dashboard reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// NODE_ID.
    pub node_id: String,
    /// ILP address.
    pub ilp_address: String,
    /// BTP server port.
    pub btp_server_port: u16,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Crate version.
    pub version: String,
    /// Links.
    pub links: Vec<HealthLink>,
    /// `memory` or `durable`: where the node keeps its books (read as a
    /// value, so a node that says something else still parses).
    pub books: Option<Value>,
}

/// One link of a `/health` report.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthLink {
    /// Peer id.
    pub id: String,
    /// `peer` or `child`.
    pub relation: String,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// Up now.
    pub connected: bool,
    /// In that state since.
    pub since: String,
    /// Requests waiting for a reply.
    pub pending_requests: u64,
    /// Optional fault (see the module contract).
    pub fault: Option<Value>,
    /// Optional books (see the module contract), read by
    /// [`Balance::from_json`].
    pub balance: Option<Value>,
}

/// A fault on a link, as the admin API reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Held down.
    pub down: bool,
    /// Until when, if not until told.
    pub down_until: Option<String>,
    /// Added delay.
    pub latency_ms: f64,
    /// Added jitter.
    pub jitter_ms: f64,
    /// Share of packets lost, 0..=1.
    pub loss: f64,
    /// `reject` or `drop`.
    pub loss_mode: Option<String>,
    /// Settlements from the peer refused (as a stock JS peer does).
    pub settlement_refused: bool,
}

impl Fault {
    /// Reads a fault object (snake_case or camelCase keys); `None` when it is
    /// null, not an object, or has no effect.
    pub fn from_json(v: &Value) -> Option<Fault> {
        let o = v.as_object()?;
        let get = |snake: &str, camel: &str| o.get(snake).or_else(|| o.get(camel));
        let num = |snake, camel| get(snake, camel).and_then(Value::as_f64).unwrap_or(0.0);
        let text = |snake, camel| get(snake, camel).and_then(Value::as_str).map(String::from);
        let f = Fault {
            down: get("down", "down")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            down_until: text("down_until", "downUntil"),
            latency_ms: num("latency_ms", "latencyMs"),
            jitter_ms: num("jitter_ms", "jitterMs"),
            loss: num("loss", "loss"),
            loss_mode: text("loss_mode", "lossMode"),
            settlement_refused: get("settlement_refused", "settlementRefused")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        let effect = f.down
            || f.latency_ms > 0.0
            || f.jitter_ms > 0.0
            || f.loss > 0.0
            || f.settlement_refused;
        effect.then_some(f)
    }
}

/// One route of a node's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Address prefix.
    pub prefix: String,
    /// Peer the prefix goes to.
    pub next_hop: String,
    /// Path, when the node knows it (CCP).
    pub path: Vec<String>,
    /// Where the route came from (`static`, `ccp`, ...).
    pub source: Option<String>,
}

/// A node's routing table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// CCP epoch, when the node runs CCP.
    pub epoch: Option<u64>,
    /// Routes.
    pub routes: Vec<Route>,
}

impl Routing {
    /// Reads a `/routes` answer (see the module contract).
    pub fn from_json(v: &Value) -> Option<Routing> {
        let list = v
            .get("routes")
            .or_else(|| v.get("table"))
            .and_then(Value::as_array)?;
        let text = |r: &Value, a: &str, b: &str| {
            r.get(a)
                .or_else(|| r.get(b))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let routes = list
            .iter()
            .take(MAX_ROUTES)
            .filter_map(|r| {
                Some(Route {
                    prefix: text(r, "prefix", "prefix")?,
                    next_hop: text(r, "nextHop", "next_hop").unwrap_or_default(),
                    path: r
                        .get("path")
                        .and_then(Value::as_array)
                        .map(|p| {
                            p.iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default(),
                    source: text(r, "source", "source"),
                })
            })
            .collect();
        Some(Routing {
            epoch: v.get("epoch").and_then(Value::as_u64),
            routes,
        })
    }
}

/// Whether a node offers an optional endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// Offered and working.
    pub available: bool,
    /// Why not, or what it is; shown on the page.
    pub note: String,
}

impl Capability {
    fn unknown() -> Self {
        Self {
            available: false,
            note: "not checked yet".into(),
        }
    }

    /// Offered.
    pub fn yes() -> Self {
        Self {
            available: true,
            note: String::new(),
        }
    }

    /// Not offered, because `why`.
    pub fn no(why: impl Into<String>) -> Self {
        Self {
            available: false,
            note: why.into(),
        }
    }
}

/// The result of one send from the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRecord {
    /// When it finished (RFC 3339).
    pub at: String,
    /// Sending node.
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Packets asked for.
    pub count: u64,
    /// The summary, if it ran.
    pub summary: Option<Summary>,
    /// Why it could not run.
    pub error: Option<String>,
}

/// What the polls of a node found that the page shows as it is: kept in
/// this shape by [`NodeState`] and copied whole into its [`NodeView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Polled {
    /// Why the last poll failed.
    pub error: Option<String>,
    /// `/metrics`.
    pub metrics: Capability,
    /// `/routes`.
    pub routes: Capability,
    /// The admin API.
    pub admin: Capability,
    /// The last routing table.
    pub routing: Option<Routing>,
}

/// Everything known of one node.
#[derive(Debug)]
pub struct NodeState {
    /// Where it is.
    pub target: NodeTarget,
    /// The last health report (kept while it is down, to draw its links).
    pub health: Option<Health>,
    /// Whether the last poll reached it.
    pub reachable: Option<bool>,
    /// What the page shows of the polls as it is.
    pub polled: Polled,
    /// The last scrape of its `/metrics`.
    pub scrape: Option<NodeMetrics>,
    /// Faults by link, from `/admin/links`.
    pub admin_faults: BTreeMap<String, Fault>,
    /// Books by link, from `/admin/links` (used where `/health` has none).
    pub admin_balances: BTreeMap<String, Balance>,
    /// Each link's settlement counters at the last poll.
    books_seen: BTreeMap<String, Seen>,
    /// Settlements seen, newest first, at most [`books::MAX_SETTLEMENTS`].
    settlements: VecDeque<SettlementEvent>,
    link_rates: BTreeMap<String, CounterWindow>,
    incoming: CounterWindow,
    latency: (CounterWindow, CounterWindow),
    /// (from a child link, code) -> window.
    rejects: BTreeMap<(bool, String), CounterWindow>,
}

fn capped_window<'a, K: Ord + Clone>(
    map: &'a mut BTreeMap<K, CounterWindow>,
    key: &K,
    span: Duration,
) -> Option<&'a mut CounterWindow> {
    if !map.contains_key(key) && map.len() >= MAX_SERIES {
        return None;
    }
    Some(
        map.entry(key.clone())
            .or_insert_with(|| CounterWindow::new(span)),
    )
}

impl NodeState {
    /// A node not polled yet.
    pub fn new(target: NodeTarget) -> Self {
        Self {
            target,
            health: None,
            reachable: None,
            polled: Polled {
                error: None,
                metrics: Capability::unknown(),
                routes: Capability::unknown(),
                admin: Capability::unknown(),
                routing: None,
            },
            scrape: None,
            admin_faults: BTreeMap::new(),
            admin_balances: BTreeMap::new(),
            books_seen: BTreeMap::new(),
            settlements: VecDeque::new(),
            link_rates: BTreeMap::new(),
            incoming: CounterWindow::new(RATE_WINDOW),
            latency: (
                CounterWindow::new(RATE_WINDOW),
                CounterWindow::new(RATE_WINDOW),
            ),
            rejects: BTreeMap::new(),
        }
    }

    /// A health report came back.
    pub fn health_ok(&mut self, mut health: Health) {
        health.links.truncate(MAX_LINKS);
        let now = chrono::Utc::now();
        for l in &health.links {
            if let Some(b) = l.balance.as_ref().and_then(Balance::from_json) {
                self.books_polled(&l.id, &b, now);
            }
        }
        self.health = Some(health);
        self.reachable = Some(true);
        self.polled.error = None;
    }

    /// The node did not answer: it is down; forget its windows (a restarted
    /// node's counters start again from zero) and its live-only state.
    pub fn health_failed(&mut self, error: String) {
        self.reachable = Some(false);
        self.polled.error = Some(error);
        self.scrape = None;
        self.link_rates.clear();
        self.incoming = CounterWindow::new(RATE_WINDOW);
        self.latency = (
            CounterWindow::new(RATE_WINDOW),
            CounterWindow::new(RATE_WINDOW),
        );
        self.rejects.clear();
        self.admin_faults.clear();
        self.admin_balances.clear();
        // Books in memory start again from zero: the next poll is a new start.
        self.books_seen.clear();
    }

    /// An answer of `GET /admin/links` (its `links`): each link's fault and
    /// books.
    pub fn admin_links_ok(&mut self, links: &[Value]) {
        let now = chrono::Utc::now();
        self.admin_faults.clear();
        self.admin_balances.clear();
        for l in links.iter().take(MAX_LINKS) {
            let Some(id) = l.get("id").and_then(Value::as_str) else {
                continue;
            };
            if let Some(f) = l.get("fault").and_then(Fault::from_json) {
                self.admin_faults.insert(id.to_string(), f);
            }
            if let Some(b) = l.get("balance").and_then(Balance::from_json) {
                self.books_polled(id, &b, now);
                self.admin_balances.insert(id.to_string(), b);
            }
        }
    }

    /// The admin API is gone: forget what it said.
    pub fn admin_gone(&mut self) {
        self.admin_faults.clear();
        self.admin_balances.clear();
    }

    /// `link`'s books as polled at `at`: the settlements since the last
    /// poll are remembered. The same counters polled twice (from `/health`
    /// and `/admin/links`) add nothing.
    fn books_polled(&mut self, link: &str, b: &Balance, at: chrono::DateTime<chrono::Utc>) {
        let now = Seen::of(b);
        if !self.books_seen.contains_key(link) && self.books_seen.len() >= MAX_LINKS {
            return;
        }
        if let Some(before) = self.books_seen.insert(link.to_string(), now) {
            let events = books::settlements_between(&self.target.name, link, &before, &now, at);
            books::remember(&mut self.settlements, events);
        }
    }

    /// The settlements seen on this node, newest first.
    pub fn settlements(&self) -> impl Iterator<Item = &SettlementEvent> {
        self.settlements.iter()
    }

    fn balance_of(&self, link: &HealthLink) -> Option<Balance> {
        link.balance
            .as_ref()
            .and_then(Balance::from_json)
            .or_else(|| self.admin_balances.get(&link.id).cloned())
    }

    fn is_child(&self, link: &str) -> bool {
        self.health.as_ref().is_some_and(|h| {
            h.links
                .iter()
                .any(|l| l.id == link && l.relation == "child")
        })
    }

    /// A scrape came back at `at`.
    pub fn metrics_ok(&mut self, at: Instant, m: NodeMetrics) {
        let mut per_link: BTreeMap<String, f64> = BTreeMap::new();
        let mut incoming = 0.0;
        for (k, v) in &m.packets {
            *per_link.entry(k.link.clone()).or_default() += v;
            if k.direction == "incoming" {
                incoming += v;
            }
        }
        for (link, total) in per_link {
            if let Some(w) = capped_window(&mut self.link_rates, &link, RATE_WINDOW) {
                w.push(at, total);
            }
        }
        self.incoming.push(at, incoming);
        if let Some((sum, count)) = m.latency {
            self.latency.0.push(at, sum);
            self.latency.1.push(at, count);
        }
        for (code, total) in m.incoming_rejects() {
            // Codes and links of one node are few; sum child links apart.
            let mut child = 0.0;
            for (k, v) in &m.packets {
                if k.direction == "incoming"
                    && k.outcome == "rejected"
                    && (k.code == code || (k.code.is_empty() && code == "?"))
                    && self.is_child(&k.link)
                {
                    child += v;
                }
            }
            for (key, value) in [((false, code.clone()), total), ((true, code), child)] {
                if let Some(w) = capped_window(&mut self.rejects, &key, REJECT_WINDOW) {
                    w.push(at, value);
                }
            }
        }
        self.polled.metrics = Capability::yes();
        self.scrape = Some(m);
    }

    /// Packets per second through `link` (both directions), from metrics.
    pub fn link_rate(&self, link: &str) -> Option<f64> {
        self.link_rates.get(link).and_then(CounterWindow::rate)
    }

    /// Mean forwarding latency over [`RATE_WINDOW`], in ms.
    pub fn latency_ms(&self) -> Option<f64> {
        let n = self.latency.1.increase();
        (n > 0.0).then(|| self.latency.0.increase() / n * 1000.0)
    }

    /// Rejects over [`REJECT_WINDOW`] by code; `children_only` keeps those
    /// answered to the node's children (what senders saw).
    pub fn recent_rejects(&self, children_only: bool) -> BTreeMap<String, u64> {
        self.rejects
            .iter()
            .filter(|((child, _), _)| *child == children_only)
            .map(|((_, code), w)| (code.clone(), w.increase().round() as u64))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn fault_of(&self, link: &HealthLink) -> Option<Fault> {
        self.admin_faults
            .get(&link.id)
            .cloned()
            .or_else(|| link.fault.as_ref().and_then(Fault::from_json))
    }

    /// Whether a node with this NODE_ID is this one.
    fn is(&self, id: &str) -> bool {
        self.target.name == id || self.health.as_ref().is_some_and(|h| h.node_id == id)
    }

    fn view(&self, names: &[&NodeState]) -> NodeView {
        let h = self.health.as_ref();
        let state = match (self.reachable, h) {
            (None, _) => "unknown",
            (Some(false), _) => "down",
            (Some(true), Some(h)) if h.status == "healthy" => "up",
            (Some(true), _) => "unhealthy",
        };
        let live = self.reachable == Some(true);
        let links = h
            .map(|h| {
                h.links
                    .iter()
                    .map(|l| LinkView {
                        id: l.id.clone(),
                        relation: l.relation.clone(),
                        direction: l.direction.clone(),
                        connected: live && l.connected,
                        since: l.since.clone(),
                        pending_requests: l.pending_requests,
                        peer_node: names
                            .iter()
                            .find(|n| n.is(&l.id))
                            .map(|n| n.target.name.clone()),
                        fault: self.fault_of(l),
                        rate: self.link_rate(&l.id),
                        balance: self.balance_of(l),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let in_flight = live.then(|| {
            self.scrape
                .as_ref()
                .and_then(|m| m.in_flight)
                .unwrap_or_else(|| {
                    h.map_or(0.0, |h| {
                        h.links.iter().map(|l| l.pending_requests as f64).sum()
                    })
                })
        });
        NodeView {
            name: self.target.name.clone(),
            health_addr: self.target.health.clone(),
            btp_url: self.btp_url(),
            state,
            node_id: h.map(|h| h.node_id.clone()),
            ilp_address: h.map(|h| h.ilp_address.clone()),
            uptime_seconds: h.filter(|_| live).map(|h| h.uptime_seconds),
            version: h.map(|h| h.version.clone()),
            books: h
                .and_then(|h| h.books.as_ref())
                .and_then(Value::as_str)
                .map(|s| s.chars().take(books::MAX_STATE_CHARS).collect()),
            in_flight,
            latency_ms: self.latency_ms(),
            packet_rate: self.incoming.rate(),
            polled: self.polled.clone(),
            links,
            rejects: self.recent_rejects(false),
        }
    }

    /// The BTP URL to send through: as configured, else the health host and
    /// the node's `btpServerPort`.
    pub fn btp_url(&self) -> Option<String> {
        if let Some(u) = &self.target.btp_url {
            return Some(u.clone());
        }
        let port = self.health.as_ref()?.btp_server_port;
        let host = self
            .target
            .health
            .rsplit_once(':')
            .map_or(self.target.health.as_str(), |(h, _)| h);
        Some(format!("ws://{host}:{port}"))
    }
}

/// One link as a node sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    /// Peer id.
    pub id: String,
    /// `peer` or `child`.
    pub relation: String,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// Up now (false when the node itself is down).
    pub connected: bool,
    /// In that state since.
    pub since: String,
    /// Requests waiting for a reply.
    pub pending_requests: u64,
    /// The dashboard node at the other end, if it is one.
    pub peer_node: Option<String>,
    /// A fault injected on it.
    pub fault: Option<Fault>,
    /// Packets per second (metrics).
    pub rate: Option<f64>,
    /// Its books, when the node reports them.
    pub balance: Option<Balance>,
}

/// One node on the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Health `host:port`.
    pub health_addr: String,
    /// BTP URL used to send.
    pub btp_url: Option<String>,
    /// `up`, `unhealthy`, `down` or `unknown` (not polled yet).
    pub state: &'static str,
    /// NODE_ID.
    pub node_id: Option<String>,
    /// ILP address.
    pub ilp_address: Option<String>,
    /// Uptime.
    pub uptime_seconds: Option<f64>,
    /// Version.
    pub version: Option<String>,
    /// Where it keeps its books (`memory`, `durable`), when it says.
    pub books: Option<String>,
    /// Packets in flight.
    pub in_flight: Option<f64>,
    /// Mean forwarding latency (metrics).
    pub latency_ms: Option<f64>,
    /// Incoming packets per second (metrics).
    pub packet_rate: Option<f64>,
    /// Why it is down, its optional endpoints, its routing table (the JSON
    /// keys `error`, `metrics`, `routes`, `admin`, `routing`).
    #[serde(flatten)]
    pub polled: Polled,
    /// Links.
    pub links: Vec<LinkView>,
    /// Rejects it answered in the last minute, by code.
    pub rejects: BTreeMap<String, u64>,
}

/// A link between two dashboard nodes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeView {
    /// `a|b` (names sorted).
    pub id: String,
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// `up`, `down` or `faulted`.
    pub state: &'static str,
    /// Why, in words.
    pub reason: String,
    /// Packets per second, if an end exports metrics.
    pub rate: Option<f64>,
    /// A fault on it.
    pub fault: Option<Fault>,
    /// The ends that can act on it (admin API available), with the link id
    /// each knows it by.
    pub controls: Vec<(String, String)>,
    /// The books of each end that reports them.
    pub balances: Vec<EndBalance>,
    /// The sum of both ends' `committed`, when both report it: zero once
    /// the link is quiet.
    pub balance_sum: Option<String>,
    /// Whether both ends report books and neither has anything pending or
    /// a settlement in flight (then `balanceSum` should be zero).
    pub quiet: bool,
}

/// One end's books of a link between two dashboard nodes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndBalance {
    /// The node.
    pub node: String,
    /// The link's id at that node.
    pub link: String,
    /// Its books.
    pub balance: Balance,
}

/// What the page draws.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// When (RFC 3339).
    pub generated_at: String,
    /// Poll interval.
    pub poll_interval_ms: u64,
    /// Whether sending from the page is configured; if not, why.
    pub send: Capability,
    /// Whether an admin token was given.
    pub admin_token_set: bool,
    /// Nodes, in the order given.
    pub nodes: Vec<NodeView>,
    /// Links between them.
    pub edges: Vec<EdgeView>,
    /// Rejects senders saw in the last minute, by code (metrics).
    pub rejects: BTreeMap<String, u64>,
    /// Whether any node exports metrics (else `rejects` cannot be known).
    pub any_metrics: bool,
    /// Recent sends from the page, newest first.
    pub sends: Vec<SendRecord>,
    /// Settlements seen, newest first, at most [`books::MAX_SETTLEMENTS`]
    /// (a payment between two dashboard nodes listed once, by the payer).
    pub settlements: Vec<SettlementEvent>,
}

/// Builds the snapshot from every node's state.
pub fn snapshot(
    nodes: &[&NodeState],
    sends: &VecDeque<SendRecord>,
    send: Capability,
    admin_token_set: bool,
    poll_interval: Duration,
) -> Snapshot {
    let views: Vec<NodeView> = nodes.iter().map(|n| n.view(nodes)).collect();
    // (a, b) sorted -> per end: (end name, link id, view)
    let mut ends: BTreeMap<(String, String), Vec<(usize, LinkView)>> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        for l in &v.links {
            let Some(peer) = &l.peer_node else { continue };
            if l.relation == "child" || peer == &v.name {
                continue;
            }
            let key = if v.name < *peer {
                (v.name.clone(), peer.clone())
            } else {
                (peer.clone(), v.name.clone())
            };
            ends.entry(key).or_default().push((i, l.clone()));
        }
    }
    let state_of = |name: &str| {
        views
            .iter()
            .find(|v| v.name == name)
            .map_or("unknown", |v| v.state)
    };
    let mut edges = Vec::new();
    for ((a, b), sides) in ends {
        let dead: Vec<&str> = [a.as_str(), b.as_str()]
            .into_iter()
            .filter(|n| matches!(state_of(n), "down" | "unknown"))
            .collect();
        let reporting_down: Vec<&str> = sides
            .iter()
            .filter(|(i, l)| views[*i].state != "down" && !l.connected)
            .map(|(i, _)| views[*i].name.as_str())
            .collect();
        let fault = sides.iter().find_map(|(_, l)| l.fault.clone());
        let (state, reason) = if !dead.is_empty() {
            ("down", format!("{} not answering", dead.join(" and ")))
        } else if !reporting_down.is_empty() {
            let held = fault.as_ref().is_some_and(|f| f.down);
            let why = if held { " (held down)" } else { "" };
            let who = match reporting_down.as_slice() {
                [one] => format!("{one} reports it down"),
                _ => "both ends report it down".to_string(),
            };
            ("down", format!("{who}{why}"))
        } else if let Some(f) = &fault {
            let mut parts = Vec::new();
            if f.latency_ms > 0.0 || f.jitter_ms > 0.0 {
                parts.push(format!("+{} ms ±{} ms", f.latency_ms, f.jitter_ms));
            }
            if f.loss > 0.0 {
                parts.push(format!(
                    "{:.0}% loss ({})",
                    f.loss * 100.0,
                    f.loss_mode.as_deref().unwrap_or("reject")
                ));
            }
            if f.settlement_refused {
                parts.push("settlements refused".to_string());
            }
            ("faulted", parts.join(", "))
        } else {
            ("up", "connected on both ends".to_string())
        };
        let rate = sides
            .iter()
            .filter_map(|(_, l)| l.rate)
            .fold(None, |acc: Option<f64>, r| {
                Some(acc.map_or(r, |a| a.max(r)))
            });
        let controls = sides
            .iter()
            .filter(|(i, _)| views[*i].polled.admin.available)
            .map(|(i, l)| (views[*i].name.clone(), l.id.clone()))
            .collect();
        let balances: Vec<EndBalance> = sides
            .iter()
            .filter_map(|(i, l)| {
                Some(EndBalance {
                    node: views[*i].name.clone(),
                    link: l.id.clone(),
                    balance: l.balance.clone()?,
                })
            })
            .collect();
        let (balance_sum, quiet) = match balances.as_slice() {
            [x, y] => (
                books::sum(&x.balance, &y.balance),
                x.balance.is_quiet() && y.balance.is_quiet(),
            ),
            _ => (None, false),
        };
        edges.push(EdgeView {
            id: format!("{a}|{b}"),
            a,
            b,
            state,
            reason,
            rate,
            fault,
            controls,
            balances,
            balance_sum,
            quiet,
        });
    }
    let mut rejects = BTreeMap::new();
    for n in nodes {
        for (code, c) in n.recent_rejects(true) {
            *rejects.entry(code).or_default() += c;
        }
    }
    // A payment between two dashboard nodes that both report books is seen
    // at both ends; it is listed by the payer only.
    let both_report = |node: &str, link: &str| {
        views.iter().any(|v| {
            v.name == node
                && v.links.iter().any(|l| {
                    l.id == link
                        && l.balance.is_some()
                        && l.peer_node.as_deref().is_some_and(|p| {
                            views.iter().any(|pv| {
                                pv.name == p
                                    && pv.links.iter().any(|pl| {
                                        pl.peer_node.as_deref() == Some(node)
                                            && pl.balance.is_some()
                                    })
                            })
                        })
                })
        })
    };
    let mut settlements: Vec<SettlementEvent> = nodes
        .iter()
        .flat_map(|n| n.settlements())
        .filter(|e| e.kind != books::SettlementKind::Received || !both_report(&e.node, &e.link))
        .cloned()
        .collect();
    // RFC 3339 in one format and zone: the text sorts as the time.
    settlements.sort_by(|a, b| b.at.cmp(&a.at));
    settlements.truncate(books::MAX_SETTLEMENTS);
    Snapshot {
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        poll_interval_ms: poll_interval.as_millis() as u64,
        send,
        admin_token_set,
        any_metrics: nodes.iter().any(|n| n.polled.metrics.available),
        nodes: views,
        edges,
        rejects,
        sends: sends.iter().cloned().collect(),
        settlements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn window_rate_and_increase_follow_the_counter_and_survive_a_reset() {
        let t = t0();
        let mut w = CounterWindow::new(Duration::from_secs(2));
        assert_eq!(w.rate(), None);
        w.push(t, 100.0);
        assert_eq!(w.rate(), None, "one sample is no rate");
        w.push(t + Duration::from_millis(500), 150.0);
        assert_eq!(w.rate(), Some(100.0));
        w.push(t + Duration::from_millis(1000), 250.0);
        assert_eq!(w.increase(), 150.0);
        assert_eq!(w.rate(), Some(150.0));
        // The node restarted: the counter starts again from 0.
        w.push(t + Duration::from_millis(1500), 20.0);
        assert_eq!(w.increase(), 170.0);
        // Old samples leave the window.
        for i in 4..20 {
            w.push(t + Duration::from_millis(500 * i), 20.0);
        }
        assert_eq!(w.rate(), Some(0.0));
        assert!(w.samples.len() <= 6, "{}", w.samples.len());
    }

    #[test]
    fn window_is_bounded() {
        let t = t0();
        let mut w = CounterWindow::new(Duration::from_secs(3600));
        for i in 0..(MAX_WINDOW_SAMPLES as u64 + 50) {
            w.push(t + Duration::from_millis(i), i as f64);
        }
        assert_eq!(w.samples.len(), MAX_WINDOW_SAMPLES);
    }

    fn target(name: &str) -> NodeTarget {
        NodeTarget {
            name: name.into(),
            health: "127.0.0.1:1".into(),
            btp_url: None,
        }
    }

    fn health(id: &str, links: &[(&str, &str, bool)]) -> Health {
        Health {
            status: "healthy".into(),
            node_id: id.into(),
            ilp_address: format!("g.{id}"),
            btp_server_port: 3000,
            links: links
                .iter()
                .map(|(peer, rel, up)| HealthLink {
                    id: peer.to_string(),
                    relation: rel.to_string(),
                    connected: *up,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn snap(nodes: &[NodeState]) -> Snapshot {
        let refs: Vec<&NodeState> = nodes.iter().collect();
        snapshot(
            &refs,
            &VecDeque::new(),
            Capability::yes(),
            false,
            Duration::from_millis(500),
        )
    }

    #[test]
    fn edges_come_from_both_ends_and_a_dead_node_takes_its_links_down() {
        let mut a = NodeState::new(target("a"));
        let mut b = NodeState::new(target("b"));
        let mut c = NodeState::new(target("c"));
        a.health_ok(health(
            "a",
            &[
                ("b", "peer", true),
                ("c", "peer", true),
                ("sender", "child", true),
            ],
        ));
        b.health_ok(health("b", &[("a", "peer", true), ("c", "peer", false)]));
        c.health_ok(health("c", &[("a", "peer", true), ("b", "peer", false)]));
        let s = snap(&[a, b, c]);
        let states: Vec<(&str, &str)> = s.edges.iter().map(|e| (e.id.as_str(), e.state)).collect();
        assert_eq!(states, [("a|b", "up"), ("a|c", "up"), ("b|c", "down")]);
        assert_eq!(s.edges[2].reason, "both ends report it down");
        assert_eq!(s.nodes[0].btp_url.as_deref(), Some("ws://127.0.0.1:3000"));

        // c dies: its last-known links stay drawn, down.
        let [a, b, mut c] = [0, 1, 2].map(|i| {
            let mut n = NodeState::new(target(["a", "b", "c"][i]));
            n.health_ok(health(
                ["a", "b", "c"][i],
                &[
                    (["b", "a", "a"][i], "peer", true),
                    (["c", "c", "b"][i], "peer", true),
                ],
            ));
            n
        });
        c.health_failed("cannot reach 127.0.0.1:1: refused".into());
        let s = snap(&[a, b, c]);
        let states: Vec<&str> = s.edges.iter().map(|e| e.state).collect();
        assert_eq!(states, ["up", "down", "down"]);
        assert_eq!(s.edges[1].reason, "c not answering");
        assert_eq!(s.nodes[2].state, "down");
        assert!(s.nodes[2].links.iter().all(|l| !l.connected));
        assert_eq!(s.nodes[2].in_flight, None);
    }

    #[test]
    fn a_fault_from_health_or_admin_marks_the_edge_faulted() {
        let mut a = NodeState::new(target("a"));
        let mut b = NodeState::new(target("b"));
        let mut h = health("a", &[("b", "peer", true)]);
        h.links[0].fault = Some(serde_json::json!({"latency_ms": 200, "jitter_ms": 50}));
        a.health_ok(h);
        b.health_ok(health("b", &[("a", "peer", true)]));
        let s = snap(&[a, b]);
        assert_eq!(s.edges[0].state, "faulted");
        assert_eq!(s.edges[0].reason, "+200 ms ±50 ms");
        assert!(
            Fault::from_json(&serde_json::json!({"latencyMs": 0, "loss": 0})).is_none(),
            "no effect, no fault"
        );
        let f = Fault::from_json(&serde_json::json!({"loss": 0.25, "lossMode": "drop"})).unwrap();
        assert_eq!((f.loss, f.loss_mode.as_deref()), (0.25, Some("drop")));
    }

    #[test]
    fn rates_latency_and_rejects_come_from_counter_deltas() {
        let t = t0();
        let mut a = NodeState::new(target("a"));
        a.health_ok(health(
            "a",
            &[("b", "peer", true), ("sender", "child", true)],
        ));
        let scrape = |fwd: u64, rejected: u64, lat_sum: f64| {
            NodeMetrics::from_text(&format!(
                "ilp_packets_total{{link=\"sender\",direction=\"incoming\",outcome=\"fulfilled\"}} {fwd}\n\
                 ilp_packets_total{{link=\"sender\",direction=\"incoming\",outcome=\"rejected\",code=\"T01\"}} {rejected}\n\
                 ilp_packets_total{{link=\"b\",direction=\"outgoing\",outcome=\"fulfilled\"}} {fwd}\n\
                 ilp_forward_latency_seconds_sum {lat_sum}\n\
                 ilp_forward_latency_seconds_count {fwd}\n"
            ))
        };
        a.metrics_ok(t, scrape(1000, 5, 1.0));
        a.metrics_ok(t + Duration::from_millis(500), scrape(1100, 7, 1.2));
        a.metrics_ok(t + Duration::from_millis(1000), scrape(1300, 8, 1.6));
        assert_eq!(a.link_rate("b"), Some(300.0));
        assert_eq!(a.link_rate("sender"), Some(303.0));
        // 0.6 s of latency over 300 packets: 2 ms each.
        assert!((a.latency_ms().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(a.recent_rejects(true).get("T01"), Some(&3));
        assert_eq!(a.recent_rejects(false).get("T01"), Some(&3));
        let s = snap(&[a]);
        assert_eq!(s.rejects.get("T01"), Some(&3));
        assert!(s.any_metrics);
        assert_eq!(s.nodes[0].packet_rate, Some(303.0));
    }

    fn with_balance(mut h: Health, link: usize, b: Value) -> Health {
        h.links[link].balance = Some(b);
        h
    }

    #[test]
    fn both_ends_books_reach_the_edge_and_a_payment_is_listed_once() {
        let books = |committed: &str, out: &str, inn: &str, paid: u64, got: u64| {
            serde_json::json!({"committed": committed, "pendingIncoming": "0",
                "pendingOutgoing": "0", "settling": null, "settledOut": out, "settledIn": inn,
                "settlement": "idle",
                "settlements": {"sent": paid, "accepted": paid, "refused": 0, "received": got},
                "limits": {"minimum": null, "maximum": "1000000",
                           "settleThreshold": "-1000", "settleTo": "0"}})
        };
        let mut a = NodeState::new(target("a"));
        let mut b = NodeState::new(target("b"));
        let hb = |id: &str, peer: &str, v| with_balance(health(id, &[(peer, "peer", true)]), 0, v);
        a.health_ok(hb("a", "b", books("-1200", "0", "0", 0, 0)));
        b.health_ok(hb("b", "a", books("1200", "0", "0", 0, 0)));
        let s = snap(&[a, b]);
        let e = &s.edges[0];
        assert_eq!(e.balances.len(), 2);
        assert_eq!(
            (
                e.balances[0].node.as_str(),
                e.balances[0].balance.committed.as_str()
            ),
            ("a", "-1200")
        );
        assert_eq!(e.balance_sum.as_deref(), Some("0"));
        assert!(e.quiet);
        assert!(s.settlements.is_empty(), "a first poll is a baseline");
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(
            j["nodes"][0]["links"][0]["balance"]["limits"]["maximum"],
            "1000000"
        );
        assert_eq!(j["edges"][0]["balanceSum"], "0");

        // a pays b 1200: a's paid total grows, b's received total too.
        let [mut a, mut b] = [NodeState::new(target("a")), NodeState::new(target("b"))];
        a.health_ok(hb("a", "b", books("-1200", "0", "0", 0, 0)));
        b.health_ok(hb("b", "a", books("1200", "0", "0", 0, 0)));
        a.health_ok(hb("a", "b", books("0", "1200", "0", 1, 0)));
        b.health_ok(hb("b", "a", books("0", "0", "1200", 0, 1)));
        assert_eq!(b.settlements().count(), 1, "b saw it received");
        let s = snap(&[a, b]);
        assert_eq!(s.settlements.len(), 1, "{:?}", s.settlements);
        let p = &s.settlements[0];
        assert_eq!(
            (
                p.node.as_str(),
                p.link.as_str(),
                p.kind,
                p.amount.as_deref()
            ),
            ("a", "b", books::SettlementKind::Paid, Some("1200"))
        );
    }

    #[test]
    fn a_node_without_books_or_with_broken_ones_shows_none_and_still_parses() {
        let h: Health = serde_json::from_value(serde_json::json!({
            "status": "healthy", "nodeId": "a", "books": 7,
            "links": [{"id": "b", "relation": "peer", "connected": true,
                       "balance": {"committed": 1.5}},
                      {"id": "c", "relation": "peer", "connected": true,
                       "balance": "lots"},
                      {"id": "d", "relation": "peer", "connected": true}]
        }))
        .expect("a report with odd books still parses");
        let mut a = NodeState::new(target("a"));
        a.health_ok(h);
        let s = snap(&[a]);
        assert!(s.nodes[0].links.iter().all(|l| l.balance.is_none()));
        assert_eq!(s.nodes[0].books, None);

        // The admin API's books are used when /health has none; a
        // settlement fault shows on the edge.
        let mut a = NodeState::new(target("a"));
        let mut b = NodeState::new(target("b"));
        a.health_ok(health("a", &[("b", "peer", true)]));
        b.health_ok(health("b", &[("a", "peer", true)]));
        a.admin_links_ok(&[serde_json::json!({"id": "b",
            "fault": {"settlement_refused": true},
            "balance": {"committed": "-5", "settlement": "settlement refused by peer"}})]);
        let s = snap(&[a, b]);
        let e = &s.edges[0];
        assert_eq!(e.balances.len(), 1);
        assert_eq!(
            e.balances[0].balance.settlement.as_deref(),
            Some("settlement refused by peer")
        );
        assert_eq!(e.balance_sum, None, "one end only");
        assert_eq!(
            (e.state, e.reason.as_str()),
            ("faulted", "settlements refused")
        );
    }

    #[test]
    fn routes_parse_with_either_key_style() {
        let r = Routing::from_json(&serde_json::json!({
            "epoch": 7,
            "routes": [
                {"prefix": "g.b", "nextHop": "b", "path": ["b"], "source": "ccp"},
                {"prefix": "g.c", "next_hop": "b", "path": ["b", "c"]},
                {"nextHop": "x"}
            ]
        }))
        .unwrap();
        assert_eq!(r.epoch, Some(7));
        assert_eq!(r.routes.len(), 2);
        assert_eq!(r.routes[1].path, ["b", "c"]);
        assert_eq!(r.routes[1].next_hop, "b");
        assert!(Routing::from_json(&serde_json::json!({"error": "x"})).is_none());
    }
}
