//! The state a running node shares, and nothing else: [`Node`] (its
//! configuration, links, routing table, CCP state and the filter of repeated
//! warnings), each link's [`PeerSlot`] ([`peer`]) with its counters
//! ([`stats`]), the CCP state ([`ccp`]) and the repeat filter ([`repeat`]).
//! Fields are private; rooms above read and change the state through methods.
//!
//! What runs (the BTP server, the dialers, the CCP driver, the HTTP port,
//! the stop) is wired above, in [`crate::server`]; the path of a packet is
//! [`crate::forward`].
//!
//! A link's state is its [`PeerSlot`]: the link's handler and every route to
//! it hold the slot itself. The routing table is swapped whole
//! ([`Node::replace_routes`]); the packet path reads it without a lock.

pub mod account;
pub mod ccp;
pub mod peer;
pub mod repeat;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::accounts::journal::Journal;
use crate::accounts::store::Books;
use crate::address::Address;
use crate::condition::FulfillmentKey;
use crate::config::{Config, ConfigError, RoutingMode};
use crate::link::{Direction, Link};
use crate::route_table::{NextHop, RoutingTable};

pub use peer::PeerSlot;
pub use repeat::{AUTH_FAILURE_LOG_INTERVAL, AUTH_FAILURE_LOG_KEYS};

use ccp::CcpState;
use peer::Inflight;
use repeat::{RepeatFilter, RepeatKey};

/// The node's routing table: each route leads to the next hop's own state.
pub type Routes = RoutingTable<Arc<PeerSlot>>;

/// A running node's shared state.
pub struct Node {
    config: Config,
    routes: ArcSwap<Routes>,
    peers: FxHashMap<Arc<str>, Arc<PeerSlot>>,
    receiver: Option<FulfillmentKey>,
    receiver_address: Address,
    inflight: Arc<Inflight>,
    shutdown: CancellationToken,
    /// Set with `shutdown`; read per packet instead of the token, which locks.
    stopping: AtomicBool,
    started: Instant,
    started_at: DateTime<Utc>,
    btp_addr: SocketAddr,
    changes: watch::Sender<u64>,
    warnings: RepeatFilter,
    /// The CCP speaker (`ROUTING=ccp`), `None` for static routing.
    ccp: Option<Arc<CcpState>>,
    /// The writer of the durable books (`DATA_DIR`), `None`: in memory.
    journal: Option<Journal>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The state of a node for `config` (validated here) whose BTP server
    /// listens on `btp_addr`: every configured link down, the routes the
    /// configuration gives, CCP state when `ROUTING=ccp`; each link's books
    /// as `books` has them (loaded from `DATA_DIR`, with the journal that
    /// writes them from now on), or in memory from zero.
    pub fn new(
        config: Config,
        btp_addr: SocketAddr,
        books: Option<(Books, Journal)>,
    ) -> Result<Arc<Node>, ConfigError> {
        config.validate()?;
        let receiver_address = config.receiver_address().ok_or_else(|| {
            ConfigError::new("ILP_ADDRESS", "too long to have a receiver under it")
        })?;
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
        let journal = books.map(|(books, journal)| {
            for (id, b) in &books.peers {
                match peers.get(&**id) {
                    Some(slot) => slot.account.restore(b),
                    None => info!(
                        event = "books_unknown_peer",
                        peerId = %id,
                        balance = %b.balance,
                        "the books hold a link that is no longer configured; kept, not used"
                    ),
                }
            }
            journal
        });
        let routes = configured_routes(&config, &peers);
        let ccp = (config.routing.mode == RoutingMode::Ccp).then(|| CcpState::new(&config));
        Ok(Arc::new(Node {
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
            warnings: RepeatFilter::default(),
            journal,
            config,
        }))
    }

    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address the BTP server listens on.
    pub fn btp_addr(&self) -> SocketAddr {
        self.btp_addr
    }

    /// The link state of peer `id`, if configured.
    pub fn peer(&self, id: &str) -> Option<&Arc<PeerSlot>> {
        self.peers.get(id)
    }

    /// Configured links in configuration order.
    pub fn peer_slots(&self) -> Vec<Arc<PeerSlot>> {
        self.config
            .peers
            .iter()
            .filter_map(|p| self.peers.get(p.id.as_str()).cloned())
            .collect()
    }

    /// The test receiver's key (`RECEIVER_SECRET`), if enabled.
    pub fn receiver(&self) -> Option<&FulfillmentKey> {
        self.receiver.as_ref()
    }

    /// The test receiver's address, `<ILP_ADDRESS>.receiver`.
    pub fn receiver_address(&self) -> &Address {
        &self.receiver_address
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

    /// The writer of the durable books, with `DATA_DIR`.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Flushes the books and stops their writer (at the end of a stop).
    pub fn close_books(&self) {
        if let Some(j) = &self.journal {
            j.close();
        }
    }

    /// The CCP state, when routes are learned (`ROUTING=ccp`).
    pub fn ccp(&self) -> Option<&Arc<CcpState>> {
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

    /// Cancelled when the node stops: every task of the node ends on it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Starts the stop: no new packets or links from now on (a link that
    /// comes up later sees it and closes itself, [`Node::set_link`]).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Tells every task of the node to end ([`Node::shutdown`]) and wakes
    /// every waiter.
    pub fn end_tasks(&self) {
        self.shutdown.cancel();
        self.notify_change();
    }

    /// Packets being handled by the whole node now.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Resolves when no packet is being handled.
    pub async fn wait_idle(&self) {
        self.inflight.wait_idle().await
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

    /// Whether a warning keyed by `key` (never a string a peer chose freely)
    /// is the first in [`AUTH_FAILURE_LOG_INTERVAL`]; repeats go to debug.
    pub fn first_in_a_while(&self, key: RepeatKey) -> bool {
        self.warnings.first_in_a_while(key)
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

    /// Wakes every [`Node::wait_until`]: a link or the routing table changed.
    pub fn notify_change(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Installs `link` as `slot`'s live link (closing the one it replaces),
    /// unless the link is held down or the node is stopping, when `link` is
    /// closed instead.
    pub fn set_link(&self, slot: &PeerSlot, link: Arc<Link>) {
        if slot.fault.held_down() {
            // Held down (hold_link_down or the admin API): not accepted.
            debug!(peerId = %slot.id, "link held down; closed");
            link.close();
            return;
        }
        if let Some(old) = slot.replace_link(link.clone()) {
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
        slot.account.wake();
        self.notify_change();
    }

    /// Clears the slot if `link` is still its current link; returns whether it was.
    pub fn clear_link(&self, slot: &PeerSlot, link: &Arc<Link>) -> bool {
        let is_current = slot.clear_link_if(link);
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
        // `peers` is built from these very `config.peers` (Node::new).
        if let Some(slot) = peers.get(p.id.as_str()) {
            routes.insert(p.address.as_str(), NextHop::Peer(slot.clone()));
        }
    }
    // Every route names a configured peer (Config::validate, run by Node::new).
    for (prefix, peer) in &config.routes {
        if let Some(slot) = peers.get(peer.as_str()) {
            routes.insert(prefix.as_str(), NextHop::Peer(slot.clone()));
        }
    }
    routes
}
