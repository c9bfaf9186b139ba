//! Node wiring: the BTP server, the dialers, the health server and the
//! forwarding core, started from a [`Config`] on listeners the caller bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::address::Address;
use crate::condition::FulfillmentKey;
use crate::config::{Config, PeerConfig, Relation};
use crate::link::{Direction, Handler, Link};
use crate::packet::ErrorCode;
use crate::routing::{NextHop, RoutingTable};
use crate::transport::{self, ConnectError, FIRST_REQUEST_ID};

/// First delay before redialing a link that dropped or could not connect.
pub const MIN_RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between dial attempts; links never give up.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_millis(1_500);
/// Longest time a graceful shutdown waits for in-flight packets.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// One configured link and its current connection.
#[derive(Debug)]
pub struct PeerSlot {
    /// The peer's configuration.
    pub config: PeerConfig,
    /// The peer id, shared with its links.
    pub id: Arc<str>,
    link: RwLock<Option<Arc<Link>>>,
    since: Mutex<DateTime<Utc>>,
    inflight: AtomicUsize,
    bucket: Option<Mutex<TokenBucket>>,
    total: Arc<Inflight>,
}

/// Packets being handled by the whole node, so a shutdown can wait for none.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    count: AtomicUsize,
    idle: Notify,
}

impl Inflight {
    /// Packets being handled now.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves when no packet is being handled.
    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A token bucket holding up to one second of a peer's packet rate.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second);
        Self {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Where the answer to one incoming Prepare goes. Sending it (or dropping
/// the responder) ends the packet's in-flight count on its link and node.
pub(crate) struct Responder {
    link: Arc<Link>,
    request_id: u32,
    slot: Arc<PeerSlot>,
}

impl Responder {
    /// The link the Prepare came from.
    pub(crate) fn slot(&self) -> &Arc<PeerSlot> {
        &self.slot
    }

    /// Answers the Prepare with an ILP Fulfill or Reject.
    pub(crate) fn send(self, reply: &[u8]) {
        self.link.respond(self.request_id, reply);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.slot.inflight.fetch_sub(1, Ordering::Relaxed);
        if self.slot.total.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.slot.total.idle.notify_waiters();
        }
    }
}

impl PeerSlot {
    /// The live link, if connected.
    pub fn link(&self) -> Option<Arc<Link>> {
        self.link
            .read()
            .expect("link lock")
            .clone()
            .filter(|l| !l.is_closed())
    }

    /// Since when the link has been in its current state (up or down).
    pub fn since(&self) -> DateTime<Utc> {
        *self.since.lock().expect("since lock")
    }

    /// Packets from this peer being handled now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Which side dials this link.
    pub fn direction(&self) -> Direction {
        if self.config.url.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }
}

/// A running node's shared state.
pub struct Node {
    pub(crate) config: Config,
    pub(crate) routes: RoutingTable,
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
    auth_failures: RepeatFilter,
}

/// How long repeats of an auth failure (same username, or same address before
/// auth) are logged at debug instead of warn.
pub const AUTH_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Most usernames and addresses whose last warning is remembered.
pub const AUTH_FAILURE_LOG_KEYS: usize = 1_024;

/// Tells whether something is happening for the first time in
/// [`AUTH_FAILURE_LOG_INTERVAL`], so a peer retrying with a wrong secret every
/// second does not fill the logs. Bounded: forgets everything when full.
#[derive(Debug, Default)]
struct RepeatFilter(Mutex<HashMap<String, Instant>>);

impl RepeatFilter {
    fn first_in_a_while(&self, key: &str) -> bool {
        let mut seen = self.0.lock().expect("repeat filter lock");
        let now = Instant::now();
        if let Some(last) = seen.get(key)
            && now.duration_since(*last) < AUTH_FAILURE_LOG_INTERVAL
        {
            return false;
        }
        if seen.len() >= AUTH_FAILURE_LOG_KEYS {
            seen.clear();
        }
        seen.insert(key.to_string(), now);
        true
    }
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
            .map(|p| self.peers[p.id.as_str()].clone())
            .collect()
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
        let old = slot.link.write().expect("link lock").replace(link.clone());
        *slot.since.lock().expect("since lock") = Utc::now();
        if let Some(old) = old {
            old.close();
        }
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
            self.notify_change();
        }
        is_current
    }

    fn authenticate(&self, username: &str, token: &str) -> Result<Arc<PeerSlot>, String> {
        let Some(slot) = self.peers.get(username) else {
            return Err("unknown username".into());
        };
        if !slot.config.secret.matches(token) {
            return Err("wrong secret".into());
        }
        if slot.config.url.is_some() {
            return Err("this node dials that peer itself and does not accept it inbound".into());
        }
        Ok(slot.clone())
    }
}

impl Handler for Node {
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, ilp: Bytes) {
        let Some(slot) = self.peers.get(link.peer_id().as_ref()).cloned() else {
            return;
        };
        if let Some(bucket) = &slot.bucket
            && !bucket.lock().expect("bucket lock").take()
        {
            let reply = self.reject(
                ErrorCode::T05_RATE_LIMITED,
                "packet rate limit of this link exceeded",
            );
            link.respond(request_id, &reply);
            return;
        }
        if slot.inflight.fetch_add(1, Ordering::Relaxed) >= self.config.limits.max_inflight_per_link
        {
            slot.inflight.fetch_sub(1, Ordering::Relaxed);
            let reply = self.reject(
                ErrorCode::T03_CONNECTOR_BUSY,
                "too many packets in flight on this link",
            );
            link.respond(request_id, &reply);
            return;
        }
        slot.total.count.fetch_add(1, Ordering::AcqRel);
        let responder = Responder {
            link: link.clone(),
            request_id,
            slot,
        };
        self.handle_packet(ilp, responder);
    }
}

/// A started node: its state, and the means to wait for it and stop it.
#[derive(Debug)]
pub struct NodeHandle {
    node: Arc<Node>,
    health_addr: SocketAddr,
    tasks: TaskTracker,
    span: tracing::Span,
}

impl NodeHandle {
    /// The node's shared state.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Where the BTP server listens.
    pub fn btp_addr(&self) -> SocketAddr {
        self.node.btp_addr
    }

    /// Where the health server listens.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Waits until the node is healthy (every link it dials is up).
    pub async fn ready(&self) {
        self.node.wait_until(Node::is_healthy).await
    }

    /// Waits until the link to `peer` is up.
    pub async fn connected(&self, peer: &str) {
        self.node.wait_until(|n| n.is_connected(peer)).await
    }

    /// Graceful stop: no new connections or packets, in-flight packets answered
    /// (up to [`SHUTDOWN_GRACE`]), links closed.
    pub async fn shutdown(self) {
        let span = self.span.clone();
        self.stop().instrument(span).await
    }

    async fn stop(self) {
        let node = &self.node;
        // Every live link, inbound ones included (their tasks clear them from
        // the slots as soon as the shutdown starts), to close once the
        // in-flight packets are answered.
        // `stopping` first: a link installed after this snapshot sees it and
        // closes itself (set_link).
        node.stopping.store(true, Ordering::SeqCst);
        let links: Vec<Arc<Link>> = node.peers.values().filter_map(|s| s.link()).collect();
        node.shutdown.cancel();
        node.notify_change();
        if tokio::time::timeout(SHUTDOWN_GRACE, node.inflight.wait_idle())
            .await
            .is_err()
        {
            warn!(
                inflight = node.inflight.len(),
                "shutdown grace period over with packets still in flight"
            );
        }
        for slot in node.peers.values() {
            if let Some(late) = slot.link.write().expect("link lock").take() {
                late.close();
            }
        }
        // Answer what is still pending (T01) while every link can still carry
        // the answers, then close them all.
        for link in &links {
            link.fail_pending_requests();
        }
        for link in &links {
            link.close();
        }
        // The answers queued on them are written before the process exits.
        for link in &links {
            let _ = tokio::time::timeout(crate::link::CLOSE_TIMEOUT * 2, link.written()).await;
        }
        self.tasks.close();
        self.tasks.wait().await;
        info!(event = "connector_stopped", "connector stopped");
    }
}

/// Starts a node on listeners the caller has bound (tests bind `127.0.0.1:0`).
pub fn start(config: Config, btp: TcpListener, health: TcpListener) -> std::io::Result<NodeHandle> {
    let btp_addr = btp.local_addr()?;
    let health_addr = health.local_addr()?;
    let span = info_span!("node", nodeId = %config.node_id);
    let _enter = span.enter();

    let mut routes = RoutingTable::new();
    routes.insert(config.ilp_address.as_str(), NextHop::Local);
    let inflight = Arc::new(Inflight::default());
    let mut peers = FxHashMap::default();
    for p in &config.peers {
        let id: Arc<str> = Arc::from(p.id.as_str());
        routes.insert(p.address.as_str(), NextHop::Peer(id.clone()));
        let slot = PeerSlot {
            config: p.clone(),
            id: id.clone(),
            link: RwLock::new(None),
            since: Mutex::new(Utc::now()),
            inflight: AtomicUsize::new(0),
            total: inflight.clone(),
            bucket: p
                .max_packets_per_second
                .map(|r| Mutex::new(TokenBucket::new(r))),
        };
        peers.insert(id, Arc::new(slot));
    }
    for (prefix, peer) in &config.routes {
        let id = peers
            .get_key_value(peer.as_str())
            .map(|(k, _)| k.clone())
            .expect("routes name configured peers");
        routes.insert(prefix.as_str(), NextHop::Peer(id));
    }
    let node = Arc::new(Node {
        receiver: config
            .receiver_secret
            .as_ref()
            .map(|s| FulfillmentKey::from_secret(s.expose().as_bytes())),
        receiver_address: config.receiver_address(),
        routes,
        peers,
        inflight,
        shutdown: CancellationToken::new(),
        stopping: AtomicBool::new(false),
        started: Instant::now(),
        started_at: Utc::now(),
        btp_addr,
        changes: watch::channel(0).0,
        auth_failures: RepeatFilter::default(),
        config,
    });

    let tasks = TaskTracker::new();
    let connections = Arc::new(Semaphore::new(node.config.limits.max_connections));
    tasks.spawn(accept_loop(node.clone(), btp, connections).in_current_span());
    tasks.spawn(crate::health::serve(node.clone(), health).in_current_span());
    for slot in node
        .peers
        .values()
        .filter(|s| s.direction() == Direction::Outbound)
    {
        tasks.spawn(
            dial_loop(node.clone(), slot.clone()).instrument(info_span!("link", peerId = %slot.id)),
        );
    }
    info!(
        event = "connector_started",
        nodeId = %node.config.node_id,
        ilpAddress = %node.config.ilp_address,
        btpServerPort = btp_addr.port(),
        healthPort = health_addr.port(),
        peers = node.peers.len(),
        routes = node.routes.len(),
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

async fn accept_loop(node: Arc<Node>, listener: TcpListener, connections: Arc<Semaphore>) {
    loop {
        let accepted = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, remote)) => {
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    warn!(event = "connection_refused", remote = %remote, limit = node.config.limits.max_connections, "too many connections (MAX_CONNECTIONS); closing the new one");
                    drop(tcp);
                    continue;
                };
                let node = node.clone();
                tokio::spawn(
                    async move {
                        inbound(node, tcp, remote).await;
                        drop(permit);
                    }
                    .in_current_span(),
                );
            }
            Err(e) => {
                error!(error = %e, "accepting a BTP connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

async fn inbound(node: Arc<Node>, tcp: TcpStream, remote: SocketAddr) {
    let accepted = tokio::select! {
        _ = node.shutdown.cancelled() => return,
        r = transport::accept(tcp, node.config.limits.auth_timeout, |user, token| node.authenticate(user, token)) => r,
    };
    let (ws, slot) = match accepted {
        Ok(x) => x,
        Err(transport::AcceptError::Refused { username, reason }) => {
            if node.auth_failures.first_in_a_while(&username) {
                warn!(event = "btp_auth_failed", peerId = %username.escape_debug(), remote = %remote, reason = %reason, "BTP auth refused (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event = "btp_auth_failed", peerId = %username.escape_debug(), remote = %remote, reason = %reason, "BTP auth refused");
            }
            return;
        }
        Err(e) => {
            if node
                .auth_failures
                .first_in_a_while(&remote.ip().to_string())
            {
                warn!(event = "btp_auth_failed", remote = %remote, reason = %e, "BTP connection dropped before auth (repeats from this address are logged at debug for a minute)");
            } else {
                debug!(event = "btp_auth_failed", remote = %remote, reason = %e, "BTP connection dropped before auth");
            }
            return;
        }
    };
    let span = info_span!("link", peerId = %slot.id);
    let link = {
        let _e = span.enter();
        Link::start(
            ws,
            slot.id.clone(),
            Direction::Inbound,
            FIRST_REQUEST_ID,
            node.clone(),
        )
    };
    async {
        node.set_link(&slot, link.clone());
        tokio::select! {
            _ = link.closed() => {}
            _ = node.shutdown.cancelled() => {}
        }
        if node.clear_link(&slot, &link) && !node.is_stopping() {
            // Children (clients) come and go; a peer connector going away matters.
            if slot.config.relation == Relation::Child {
                info!(event = "btp_connection_lost", peerId = %slot.id, direction = "inbound", "BTP connection closed");
            } else {
                warn!(event = "btp_connection_lost", peerId = %slot.id, direction = "inbound", "BTP connection lost; waiting for the peer to dial again");
            }
        }
    }
    .instrument(span)
    .await
}

/// Kinds of dial failure, so each is logged once rather than once per retry.
fn failure_kind(e: &ConnectError) -> u8 {
    match e {
        ConnectError::Connect(_) | ConnectError::Timeout(_) => 0,
        ConnectError::Refused(_) => 1,
        ConnectError::Protocol(_) => 2,
    }
}

async fn dial_loop(node: Arc<Node>, slot: Arc<PeerSlot>) {
    let url = slot
        .config
        .url
        .clone()
        .expect("only outbound peers are dialed");
    let mut backoff = MIN_RECONNECT_BACKOFF;
    let mut last_failure: Option<u8> = None;
    loop {
        let dialed = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            r = transport::connect(&url, &node.config.node_id, slot.config.secret.expose()) => r,
        };
        match dialed {
            Ok(ws) => {
                let link = Link::start(
                    ws,
                    slot.id.clone(),
                    Direction::Outbound,
                    FIRST_REQUEST_ID,
                    node.clone(),
                );
                node.set_link(&slot, link.clone());
                last_failure = None;
                backoff = MIN_RECONNECT_BACKOFF;
                tokio::select! {
                    _ = link.closed() => {}
                    _ = node.shutdown.cancelled() => return,
                }
                if node.clear_link(&slot, &link) && !node.is_stopping() {
                    warn!(event = "btp_connection_lost", peerId = %slot.id, direction = "outbound", url = %url, "BTP connection lost; reconnecting");
                }
            }
            Err(e) => {
                let kind = failure_kind(&e);
                if last_failure != Some(kind) {
                    let hint = match kind {
                        1 => {
                            "check that both ends have the same secret and that the peer configures this node as an inbound peer"
                        }
                        _ => "the peer may not be up yet; retrying",
                    };
                    warn!(event = "btp_connect_failed", peerId = %slot.id, url = %url, error = %e, hint, "BTP link not up; retrying until it is");
                    last_failure = Some(kind);
                } else {
                    debug!(peerId = %slot.id, error = %e, "BTP dial failed again");
                }
            }
        }
        let delay = jitter(backoff);
        backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// A delay between half and all of `backoff`, so peers restarted together do
/// not redial in lockstep.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let extra = (rand::random::<u64>() % (half.as_millis() as u64 + 1)) as u64;
    half + Duration::from_millis(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_filtered_per_key_and_the_filter_stays_bounded() {
        let f = RepeatFilter::default();
        assert!(f.first_in_a_while("connector-b"));
        assert!(!f.first_in_a_while("connector-b"));
        assert!(f.first_in_a_while("connector-c"));
        for i in 0..AUTH_FAILURE_LOG_KEYS * 2 {
            f.first_in_a_while(&format!("k{i}"));
        }
        assert!(f.0.lock().unwrap().len() <= AUTH_FAILURE_LOG_KEYS);
    }

    #[test]
    fn token_bucket_allows_a_second_of_burst_then_refuses() {
        let mut b = TokenBucket::new(5);
        assert_eq!((0..10).filter(|_| b.take()).count(), 5);
    }
}
