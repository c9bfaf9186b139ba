//! Node wiring: the state a running node shares ([`Node`]), and [`start`],
//! which builds it from a [`Config`] on listeners the caller bound and starts
//! the BTP server ([`accept`]), the dialers (`dial`, with [`backoff`]), the
//! health server and the forwarding core ([`crate::forward`]); [`stop`] holds
//! the handle and the graceful stop.
//!
//! A link's state is its [`PeerSlot`] ([`peer`]): the link's handler and every
//! route to it hold the slot itself. The routing table is swapped whole
//! ([`Node::replace_routes`]); the packet path reads it without a lock.

pub mod accept;
pub mod backoff;
mod dial;
pub mod peer;
pub mod routing;
pub mod stop;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span};

use crate::address::Address;
use crate::condition::FulfillmentKey;
use crate::config::{Config, RoutingMode};
use crate::link::{Direction, Link};
use crate::routing::{NextHop, RoutingTable};

pub use accept::{ACCEPT_ERROR_PAUSE, AUTH_FAILURE_LOG_INTERVAL, AUTH_FAILURE_LOG_KEYS};
pub use backoff::{MAX_RECONNECT_BACKOFF, MIN_RECONNECT_BACKOFF};
pub(crate) use peer::Inflight;
pub use peer::PeerSlot;
pub use stop::{NodeHandle, SHUTDOWN_GRACE};

/// The node's routing table: each route leads to the next hop's own state.
pub type Routes = RoutingTable<Arc<PeerSlot>>;

/// A running node's shared state.
pub struct Node {
    pub(crate) config: Config,
    routes: ArcSwap<Routes>,
    pub(crate) peers: FxHashMap<Arc<str>, Arc<PeerSlot>>,
    pub(crate) receiver: Option<FulfillmentKey>,
    pub(crate) receiver_address: Address,
    pub(crate) inflight: Arc<Inflight>,
    pub(crate) shutdown: CancellationToken,
    /// Set with `shutdown`; read per packet instead of the token, which locks.
    stopping: AtomicBool,
    started: Instant,
    started_at: DateTime<Utc>,
    btp_addr: SocketAddr,
    changes: watch::Sender<u64>,
    auth_failures: accept::RepeatFilter,
    /// The CCP speaker (`ROUTING=ccp`), `None` for static routing.
    pub(crate) ccp: Option<Arc<routing::Routing>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address the BTP server listens on.
    pub fn btp_addr(&self) -> SocketAddr {
        self.btp_addr
    }

    /// Configured links in configuration order.
    pub fn peer_slots(&self) -> Vec<Arc<PeerSlot>> {
        self.config
            .peers
            .iter()
            // `peers` is built from `config.peers` (start): every id is there.
            .map(|p| self.peers[p.id.as_str()].clone())
            .collect()
    }

    /// The routing table now (a snapshot: a table swapped in later does not
    /// change it). Lock-free; cheap enough per packet.
    pub fn routes(&self) -> Guard<Arc<Routes>> {
        self.routes.load()
    }

    /// Swaps in a new routing table; packets routed from now on use it, those
    /// already routed keep their next hop. For routes learned at run time.
    pub fn replace_routes(&self, routes: Routes) {
        self.routes.store(Arc::new(routes));
    }

    /// The CCP state, when routes are learned (`ROUTING=ccp`).
    pub fn ccp(&self) -> Option<&Arc<routing::Routing>> {
        self.ccp.as_ref()
    }

    /// Holds the link to `peer` down (closes it now and refuses it, both
    /// ways, neither redialed nor accepted) until released with `false`: the
    /// same fault as the admin API's `down` without a time limit, so it shows
    /// in health and metrics and the admin API's `up` or `clear` ends it too.
    /// False when no such peer is configured.
    pub fn hold_link_down(&self, peer: &str, down: bool) -> bool {
        let Some(slot) = self.peers.get(peer) else {
            return false;
        };
        if down {
            slot.fault.down(None);
            if let Some(link) = slot.link() {
                link.close();
            }
        } else {
            slot.fault.up();
        }
        true
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Wall-clock start time.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Whether the node is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Healthy: serving, and every link this node dials is up. Inbound links do
    /// not count: a node cannot make others dial it, and counting them would
    /// keep a hub unhealthy until its last spoke started (and spokes wait for a
    /// healthy hub).
    pub fn is_healthy(&self) -> bool {
        !self.is_stopping()
            && self
                .peers
                .values()
                .filter(|s| s.direction() == Direction::Outbound)
                .all(|s| s.link().is_some())
    }

    /// Whether a warning keyed by `key` (a fixed key, never a peer-chosen
    /// string) is the first in [`AUTH_FAILURE_LOG_INTERVAL`]; repeats go to debug.
    pub(crate) fn first_warning_in_a_while(&self, limit: &'static str) -> bool {
        self.auth_failures
            .first_in_a_while(accept::RepeatKey::Limit(limit))
    }

    /// Whether the link to `peer` is up.
    pub fn is_connected(&self, peer: &str) -> bool {
        self.peers.get(peer).and_then(|s| s.link()).is_some()
    }

    /// Waits until `condition` holds; re-checked at every link change.
    pub async fn wait_until(&self, condition: impl Fn(&Node) -> bool) {
        let mut rx = self.changes.subscribe();
        loop {
            if condition(self) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn notify_change(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    fn set_link(&self, slot: &PeerSlot, link: Arc<Link>) {
        if slot.fault.held_down() {
            // Held down (hold_link_down or the admin API): not accepted.
            debug!(peerId = %slot.id, "link held down; closed");
            link.close();
            return;
        }
        let old = slot.link.write().expect("link lock").replace(link.clone());
        *slot.since.lock().expect("since lock") = Utc::now();
        if let Some(old) = old {
            old.close();
        }
        slot.stats.link_up();
        if self.is_stopping() {
            // Came up after the shutdown took its snapshot of the links.
            link.close();
            return;
        }
        info!(
            event = "btp_connection_established",
            peerId = %slot.id,
            direction = %link.direction(),
            relation = %slot.config.relation,
            "BTP connection established"
        );
        if let Some(r) = &self.ccp {
            r.link_up(&self.config, slot);
        }
        self.notify_change();
    }

    /// Clears the slot if `link` is still its current link; returns whether it was.
    fn clear_link(&self, slot: &PeerSlot, link: &Arc<Link>) -> bool {
        let mut current = slot.link.write().expect("link lock");
        let is_current = current.as_ref().is_some_and(|l| Arc::ptr_eq(l, link));
        if is_current {
            *current = None;
            *slot.since.lock().expect("since lock") = Utc::now();
        }
        drop(current);
        if is_current {
            if let Some(r) = &self.ccp {
                r.link_down(&slot.id);
            }
            slot.stats.link_down();
            self.notify_change();
        }
        is_current
    }
}

/// The routing table configuration gives: this node's address is local,
/// each peer's address leads to it, then the configured routes.
fn configured_routes(config: &Config, peers: &FxHashMap<Arc<str>, Arc<PeerSlot>>) -> Routes {
    let mut routes = Routes::default();
    routes.insert(config.ilp_address.as_str(), NextHop::Local);
    for p in &config.peers {
        routes.insert(
            p.address.as_str(),
            // `peers` is built from these very `config.peers` (start).
            NextHop::Peer(peers[p.id.as_str()].clone()),
        );
    }
    // Every route names a configured peer (Config::validate, run by start).
    for (prefix, peer) in &config.routes {
        if let Some(slot) = peers.get(peer.as_str()) {
            routes.insert(prefix.as_str(), NextHop::Peer(slot.clone()));
        }
    }
    routes
}

/// Starts a node on listeners the caller has bound (tests bind `127.0.0.1:0`).
pub fn start(config: Config, btp: TcpListener, health: TcpListener) -> std::io::Result<NodeHandle> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    config.validate().map_err(|e| invalid(e.to_string()))?;
    let receiver_address = config
        .receiver_address()
        .ok_or_else(|| invalid("ILP_ADDRESS: too long to have a receiver under it".into()))?;
    let btp_addr = btp.local_addr()?;
    let health_addr = health.local_addr()?;
    let span = info_span!("node", nodeId = %config.node_id);
    let _enter = span.enter();

    let inflight = Arc::new(Inflight::default());
    let peers: FxHashMap<Arc<str>, Arc<PeerSlot>> = config
        .peers
        .iter()
        .map(|p| {
            let id: Arc<str> = Arc::from(p.id.as_str());
            let slot = PeerSlot::new(p.clone(), id.clone(), inflight.clone());
            (id, Arc::new(slot))
        })
        .collect();
    let routes = configured_routes(&config, &peers);
    let ccp = (config.routing.mode == RoutingMode::Ccp).then(|| routing::Routing::new(&config));
    let node = Arc::new(Node {
        ccp,
        receiver: config
            .receiver_secret
            .as_ref()
            .map(|s| FulfillmentKey::from_secret(s.expose().as_bytes())),
        receiver_address,
        routes: ArcSwap::from_pointee(routes),
        peers,
        inflight,
        shutdown: CancellationToken::new(),
        stopping: AtomicBool::new(false),
        started: Instant::now(),
        started_at: Utc::now(),
        btp_addr,
        changes: watch::channel(0).0,
        auth_failures: accept::RepeatFilter::default(),
        config,
    });

    let tasks = TaskTracker::new();
    // At most MAX_CONNECTIONS_LIMIT (validated above), far below
    // Semaphore::MAX_PERMITS, so this cannot panic.
    let connections = Arc::new(Semaphore::new(node.config.limits.max_connections));
    tasks.spawn(accept::accept_loop(node.clone(), btp, connections).in_current_span());
    tasks.spawn(crate::health::serve(node.clone(), health).in_current_span());
    tasks.spawn(crate::memory::collect_periodically(node.shutdown.clone()));
    if let Some(r) = &node.ccp {
        routing::log_start(&node.config);
        tasks.spawn(routing::drive(node.clone(), r.clone()).in_current_span());
    }
    for slot in node
        .peers
        .values()
        .filter(|s| s.direction() == Direction::Outbound)
    {
        tasks.spawn(
            dial::dial_loop(node.clone(), slot.clone())
                .instrument(info_span!("link", peerId = %slot.id)),
        );
    }
    info!(
        event = "connector_started",
        nodeId = %node.config.node_id,
        ilpAddress = %node.config.ilp_address,
        btpServerPort = btp_addr.port(),
        healthPort = health_addr.port(),
        peers = node.peers.len(),
        routes = node.routes().len(),
        receiver = node.receiver.is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "connector_started"
    );
    drop(_enter);
    Ok(NodeHandle {
        span,
        node,
        health_addr,
        tasks,
    })
}
