//! The CCP speaker: a sans-IO routing information base. See the module
//! documentation of [`crate::ccp`] for how a node drives it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::codec::{
    self, AUTH_LEN, CcpRequest, ControlRequest, MAX_PATH_LEN, Mode, Route, RoutingTableId,
    UpdateRequest,
};
use crate::address::{Address, SCHEMES};
use crate::condition::{hmac_sha256, sha256};
use crate::packet::{ErrorCode, Fulfill, MAX_DATA_LEN, Prepare, Reject};

/// A peer's id (the link's account name, as in the configuration).
pub type PeerId = Arc<str>;

/// Monotonic time in milliseconds since an origin of the caller's choosing
/// (e.g. the node's start). The speaker never reads a clock.
pub type Millis = u64;

/// Default interval between updates to a peer when nothing changed (a
/// heartbeat that refreshes its hold-down); changes are sent at once. The JS
/// connector's `routeBroadcastInterval` default.
pub const DEFAULT_BROADCAST_INTERVAL: Duration = Duration::from_secs(30);
/// Default hold-down time we announce: how long a peer may keep our routes
/// without hearing from us. The JS connector's `routeExpiry` default.
pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(45);
/// Shortest hold-down we honour: a shorter one announced by a peer is raised
/// to this, so that it cannot make us drop and re-ask its routes on every tick.
pub const MIN_HOLD_DOWN: Duration = Duration::from_secs(5);
/// Most routes plus withdrawals in one update we send (the rest follows in
/// the next update, sent as soon as this one is answered).
pub const UPDATE_BATCH_ROUTES: usize = 100;
/// Most bytes of the data of one update we send (an ILP Prepare's limit).
pub const MAX_UPDATE_DATA_LEN: usize = MAX_DATA_LEN;
/// Most routes we keep from one peer; more are ignored (logged once).
pub const MAX_ROUTES_PER_PEER: usize = 4096;
/// Most bytes (prefixes and paths) we keep from one peer; more are ignored.
pub const MAX_LEARNED_BYTES_PER_PEER: usize = 4 << 20;
/// Most withdrawn prefixes our update log remembers; past that the table is
/// given a new id and every peer resynchronises from scratch.
pub const MAX_TOMBSTONES: usize = 4096;
/// First delay before re-sending a route control that failed; it doubles on
/// each failure up to [`CONTROL_RETRY_MAX`].
pub const CONTROL_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest delay between route control attempts.
pub const CONTROL_RETRY_MAX: Duration = Duration::from_secs(30);
/// Delay before re-sending an update that was rejected or failed.
pub const UPDATE_RETRY: Duration = Duration::from_secs(1);
/// A request of ours with no result after this long is taken as failed (the
/// node should always report one; this only guards against a lost report).
pub const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(65);

fn ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How a peer relates to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Above us.
    Parent,
    /// Beside us.
    Peer,
    /// Below us: it gets its address from us (our address + `.` + a segment).
    Child,
}

/// What the speaker needs to know of a link when it comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLink {
    /// The relation.
    pub relation: Relation,
    /// Whether we send our routes to this peer (when it asks with a control).
    pub send_routes: bool,
    /// Whether we ask for and accept this peer's routes.
    pub receive_routes: bool,
    /// A child's prefix, routed to it with origin local.
    pub child_prefix: Option<Address>,
}

impl PeerLink {
    /// The JS connector's defaults: routes sent to and received from parents
    /// and peers, neither for children.
    pub fn new(relation: Relation) -> PeerLink {
        let exchange = relation != Relation::Child;
        PeerLink {
            relation,
            send_routes: exchange,
            receive_routes: exchange,
            child_prefix: None,
        }
    }
}

/// Settings of a speaker.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// Our ILP address (a local route, advertised).
    pub own_address: Address,
    /// Id of our routing table; pick it at random at start-up so peers see a
    /// restart as a new table.
    pub routing_table_id: RoutingTableId,
    /// Secret the auth values of our own routes are derived from.
    pub routing_secret: [u8; 32],
    /// See [`DEFAULT_BROADCAST_INTERVAL`].
    pub broadcast_interval: Duration,
    /// See [`DEFAULT_HOLD_DOWN`].
    pub hold_down: Duration,
}

impl SpeakerConfig {
    /// A configuration with the default interval and hold-down.
    pub fn new(
        own_address: Address,
        routing_table_id: RoutingTableId,
        routing_secret: [u8; 32],
    ) -> Self {
        SpeakerConfig {
            own_address,
            routing_table_id,
            routing_secret,
            broadcast_interval: DEFAULT_BROADCAST_INTERVAL,
            hold_down: DEFAULT_HOLD_DOWN,
        }
    }
}

/// Where the forwarding table sends a prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NextHop {
    /// Handled by this node.
    Local,
    /// To this peer.
    Peer(PeerId),
}

/// Where a forwarding entry came from (preferred in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Configured (`ILP_ROUTES`, config file).
    Static,
    /// Our own address and our children.
    Local,
    /// Learned from a peer by CCP.
    Learned,
}

/// One entry of the forwarding table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingEntry {
    /// Next hop.
    pub next_hop: NextHop,
    /// The path as the next hop announced it (empty unless learned).
    pub path: Vec<Address>,
    /// Origin.
    pub origin: Origin,
}

/// What the speaker asks the node to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `request` as a Prepare ([`CcpRequest::to_prepare`]) to `peer`,
    /// then report the outcome with [`Speaker::sent_result`] and `token`.
    Send {
        /// The peer.
        peer: PeerId,
        /// Identifies this request in [`Speaker::sent_result`].
        token: u64,
        /// The request.
        request: CcpRequest,
    },
    /// The forwarding table changed for `prefix` (`None`: removed).
    Route {
        /// The prefix.
        prefix: String,
        /// Its new entry.
        entry: Option<ForwardingEntry>,
    },
}

/// What the speaker knows of one peer (for status reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer.
    pub peer: PeerId,
    /// Whether its link is up.
    pub up: bool,
    /// Whether it asked us for updates (sync mode).
    pub sending: bool,
    /// The epoch of our table it has.
    pub sent_epoch: u32,
    /// Its table id as we know it.
    pub routing_table_id: RoutingTableId,
    /// The epoch of its table we have.
    pub epoch: u32,
    /// Routes we hold from it.
    pub routes: usize,
}

#[derive(Debug, Clone)]
struct Learned {
    path: Vec<Address>,
    auth: [u8; AUTH_LEN],
    /// From an older table of the peer; dropped once it has resent its table.
    stale: bool,
}

impl Learned {
    fn bytes(prefix: &str, path: &[Address]) -> usize {
        prefix.len() + path.iter().map(Address::len).sum::<usize>() + 64
    }
}

#[derive(Debug)]
struct Peer {
    link: PeerLink,
    up: bool,
    // Receiving its routes.
    rx_table: RoutingTableId,
    rx_epoch: u32,
    rx_expires: Option<Millis>,
    routes: BTreeMap<String, Learned>,
    learned_bytes: usize,
    overflow_logged: bool,
    hostile_logged: bool,
    control_wanted: bool,
    control_in_flight: Option<(u64, Millis)>,
    control_retry_at: Option<Millis>,
    control_backoff: Millis,
    // Sending ours.
    tx_sync: bool,
    tx_epoch: u32,
    /// token, epoch to go back to on failure, sent at.
    tx_in_flight: Option<(u64, u32, Millis)>,
    tx_last_sent: Option<Millis>,
    tx_retry_at: Option<Millis>,
}

impl Peer {
    fn new(link: PeerLink) -> Peer {
        Peer {
            link,
            up: false,
            rx_table: RoutingTableId::UNKNOWN,
            rx_epoch: 0,
            rx_expires: None,
            routes: BTreeMap::new(),
            learned_bytes: 0,
            overflow_logged: false,
            hostile_logged: false,
            control_wanted: false,
            control_in_flight: None,
            control_retry_at: None,
            control_backoff: ms(CONTROL_RETRY_MIN),
            tx_sync: false,
            tx_epoch: 0,
            tx_in_flight: None,
            tx_last_sent: None,
            tx_retry_at: None,
        }
    }

    fn receiving(&self) -> bool {
        self.up && self.link.receive_routes
    }

    /// Forgets everything learned; returns the prefixes it had.
    fn clear_routes(&mut self) -> Vec<String> {
        self.learned_bytes = 0;
        std::mem::take(&mut self.routes).into_keys().collect()
    }
}

/// Our advertisement of one prefix.
#[derive(Debug, Clone)]
struct Advert {
    /// `None`: a route of ours (never withheld by split horizon).
    next_hop: Option<PeerId>,
    /// Starts with our address.
    path: Vec<Address>,
    auth: [u8; AUTH_LEN],
    epoch: u32,
}

/// The CCP speaker and routing information base. Sans-IO and deterministic:
/// inputs are method calls with the current [`Millis`], outputs are
/// [`Action`]s collected by [`Speaker::take_actions`].
#[derive(Debug)]
pub struct Speaker {
    cfg: SpeakerConfig,
    peers: BTreeMap<PeerId, Peer>,
    statics: BTreeMap<String, PeerId>,
    locals: BTreeMap<String, NextHop>,
    forwarding: BTreeMap<String, ForwardingEntry>,
    table_id: RoutingTableId,
    /// The next epoch to assign (the JS `currentEpoch`).
    epoch: u32,
    adverts: BTreeMap<String, Advert>,
    tombstones: BTreeMap<String, u32>,
    log: BTreeMap<u32, String>,
    actions: Vec<Action>,
    next_token: u64,
}

impl Speaker {
    /// A speaker with only its own address as a (local) route.
    pub fn new(cfg: SpeakerConfig) -> Speaker {
        let own = cfg.own_address.as_str().to_owned();
        let mut s = Speaker {
            table_id: cfg.routing_table_id,
            cfg,
            peers: BTreeMap::new(),
            statics: BTreeMap::new(),
            locals: BTreeMap::new(),
            forwarding: BTreeMap::new(),
            epoch: 0,
            adverts: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            log: BTreeMap::new(),
            actions: Vec::new(),
            next_token: 0,
        };
        s.locals.insert(own.clone(), NextHop::Local);
        s.update_prefix(&own);
        s
    }

    /// Our address.
    pub fn own_address(&self) -> &Address {
        &self.cfg.own_address
    }

    /// Our routing table's id.
    pub fn routing_table_id(&self) -> RoutingTableId {
        self.table_id
    }

    /// Our table's current epoch.
    pub fn current_epoch(&self) -> u32 {
        self.epoch
    }

    /// The forwarding table.
    pub fn forwarding_table(&self) -> &BTreeMap<String, ForwardingEntry> {
        &self.forwarding
    }

    /// The entry for the longest prefix of `destination` on a segment boundary.
    pub fn lookup(&self, destination: &str) -> Option<(&str, &ForwardingEntry)> {
        let mut candidate = destination;
        loop {
            if let Some((p, e)) = self.forwarding.get_key_value(candidate) {
                return Some((p.as_str(), e));
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }

    /// What we know of each peer.
    pub fn peer_status(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .map(|(id, p)| PeerStatus {
                peer: id.clone(),
                up: p.up,
                sending: p.tx_sync,
                sent_epoch: p.tx_epoch,
                routing_table_id: p.rx_table,
                epoch: p.rx_epoch,
                routes: p.routes.len(),
            })
            .collect()
    }

    /// Takes the actions produced so far.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// When [`Speaker::tick`] next has something to do (`None`: nothing
    /// scheduled; any other call may schedule something).
    pub fn next_wakeup(&self) -> Option<Millis> {
        let interval = ms(self.cfg.broadcast_interval);
        let timeout = ms(IN_FLIGHT_TIMEOUT);
        self.peers
            .values()
            .filter(|p| p.up)
            .flat_map(|p| {
                let tx = if p.tx_sync && p.link.send_routes {
                    match (p.tx_in_flight, p.tx_retry_at, p.tx_last_sent) {
                        (Some((_, _, at)), _, _) => Some(at.saturating_add(timeout)),
                        (None, Some(at), _) => Some(at),
                        (None, None, Some(at)) => Some(at.saturating_add(interval)),
                        (None, None, None) => Some(0),
                    }
                } else {
                    None
                };
                let control = match p.control_in_flight {
                    Some((_, at)) => Some(at.saturating_add(timeout)),
                    None if p.control_wanted => Some(p.control_retry_at.unwrap_or(0)),
                    None => None,
                };
                let expiry = p.rx_expires.filter(|_| p.receiving());
                [tx, control, expiry]
            })
            .flatten()
            .min()
    }

    /// A link came up (or its settings changed). Asks the peer for its
    /// routes when we receive from it.
    pub fn link_up(&mut self, peer: &str, link: PeerLink, now: Millis) {
        let id: PeerId = Arc::from(peer);
        if let Some(prefix) = &link.child_prefix {
            self.locals
                .insert(prefix.as_str().to_owned(), NextHop::Peer(id.clone()));
        }
        let p = self
            .peers
            .entry(id.clone())
            .or_insert_with(|| Peer::new(link.clone()));
        p.link = link.clone();
        p.up = true;
        p.control_wanted = link.receive_routes;
        p.control_in_flight = None;
        p.control_retry_at = None;
        p.control_backoff = ms(CONTROL_RETRY_MIN);
        tracing::debug!(
            peer,
            send = link.send_routes,
            receive = link.receive_routes,
            "ccp: link up"
        );
        if let Some(prefix) = &link.child_prefix {
            self.update_prefix(prefix.as_str());
        }
        self.flush(now);
    }

    /// A link went down: its routes are withdrawn at once (alternatives take
    /// over), and updates to it stop.
    pub fn link_down(&mut self, peer: &str, now: Millis) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        p.up = false;
        let changed = p.clear_routes();
        p.rx_table = RoutingTableId::UNKNOWN;
        p.rx_epoch = 0;
        p.rx_expires = None;
        p.control_wanted = false;
        p.control_in_flight = None;
        p.tx_sync = false;
        p.tx_epoch = 0;
        p.tx_in_flight = None;
        p.tx_last_sent = None;
        p.tx_retry_at = None;
        tracing::debug!(peer, withdrawn = changed.len(), "ccp: link down");
        for prefix in changed {
            self.update_prefix(&prefix);
        }
        self.flush(now);
    }

    /// Replaces the static routes (prefix, peer id). They win over local and
    /// learned routes and stay whatever the state of the link.
    pub fn set_static_routes<I, P, Q>(&mut self, routes: I, now: Millis)
    where
        I: IntoIterator<Item = (P, Q)>,
        P: Into<String>,
        Q: AsRef<str>,
    {
        let new: BTreeMap<String, PeerId> = routes
            .into_iter()
            .map(|(p, q)| (p.into(), Arc::from(q.as_ref())))
            .collect();
        let old = std::mem::replace(&mut self.statics, new);
        let touched: BTreeSet<String> = old
            .into_keys()
            .chain(self.statics.keys().cloned())
            .collect();
        for prefix in touched {
            self.update_prefix(&prefix);
        }
        self.flush(now);
    }

    /// Timers: route expiry (hold-down), retries, heartbeats.
    pub fn tick(&mut self, now: Millis) {
        let timeout = ms(IN_FLIGHT_TIMEOUT);
        let retry = ms(UPDATE_RETRY);
        let mut changed = Vec::new();
        for (id, p) in &mut self.peers {
            if !p.up {
                continue;
            }
            if let Some((_, _, at)) = p.tx_in_flight
                && now >= at.saturating_add(timeout)
            {
                let (_, back, _) = p.tx_in_flight.take().unwrap_or_default();
                p.tx_epoch = back;
                p.tx_retry_at = Some(now.saturating_add(retry));
            }
            if let Some((_, at)) = p.control_in_flight
                && now >= at.saturating_add(timeout)
            {
                p.control_in_flight = None;
                p.control_wanted = true;
            }
            if p.receiving() && p.rx_expires.is_some_and(|at| now >= at) {
                if !p.routes.is_empty() {
                    tracing::info!(peer = %id, routes = p.routes.len(), "ccp: routes expired (no update within the hold-down time); asking again");
                }
                changed.extend(p.clear_routes());
                p.rx_epoch = 0;
                p.rx_expires = None;
                p.control_wanted = true;
            }
        }
        for prefix in changed {
            self.update_prefix(&prefix);
        }
        self.flush(now);
    }

    /// The outcome of a request sent for [`Action::Send`]: `ok` when
    /// answered with a valid Fulfill ([`codec::is_valid_response`]), false
    /// for a Reject, a timeout or a link that was down.
    pub fn sent_result(&mut self, peer: &str, token: u64, ok: bool, now: Millis) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if let Some((t, back, _)) = p.tx_in_flight
            && t == token
        {
            p.tx_in_flight = None;
            if !ok {
                tracing::debug!(peer, "ccp: route update not accepted; will retry");
                p.tx_epoch = back;
                p.tx_retry_at = Some(now.saturating_add(ms(UPDATE_RETRY)));
            }
        } else if let Some((t, _)) = p.control_in_flight
            && t == token
        {
            p.control_in_flight = None;
            if ok {
                p.control_backoff = ms(CONTROL_RETRY_MIN);
                // A peer that accepted our control but never sends is asked again.
                let hold = now.saturating_add(ms(self.cfg.hold_down));
                p.rx_expires = Some(p.rx_expires.map_or(hold, |e| e.max(hold)));
            } else {
                tracing::debug!(
                    peer,
                    retry_ms = p.control_backoff,
                    "ccp: route control not accepted; will retry"
                );
                p.control_wanted = true;
                p.control_retry_at = Some(now.saturating_add(p.control_backoff));
                p.control_backoff = (p.control_backoff * 2).min(ms(CONTROL_RETRY_MAX));
            }
        }
        self.flush(now);
    }

    /// Answers a Prepare to a CCP destination received from `peer`: decodes
    /// it ([`codec::parse_request`], expiry against `wall_now`), handles it,
    /// and returns the Fulfill or Reject to send back. Never forwards.
    pub fn answer_prepare(
        &mut self,
        peer: &str,
        prepare: &Prepare,
        wall_now: DateTime<Utc>,
        now: Millis,
    ) -> Result<Fulfill, Reject> {
        let result = match codec::parse_request(prepare, wall_now) {
            Ok(req) => self.handle_request(peer, req, now),
            Err(e) => {
                self.note_hostile(peer, &e.to_string());
                Err((e.code(), e.to_string()))
            }
        };
        result
            .map(|()| codec::response_fulfill())
            .map_err(|(code, message)| Reject {
                code,
                triggered_by: Some(self.cfg.own_address.clone()),
                message: message.into_bytes().into(),
                data: bytes::Bytes::new(),
            })
    }

    /// Handles a decoded request from `peer`; `Err` carries the ILP code and
    /// message to reject with.
    pub fn handle_request(
        &mut self,
        peer: &str,
        req: CcpRequest,
        now: Millis,
    ) -> Result<(), (ErrorCode, String)> {
        let r = match req {
            CcpRequest::Control(c) => self.handle_control(peer, c),
            CcpRequest::Update(u) => self.handle_update(peer, u, now),
        };
        self.flush(now);
        r
    }

    fn handle_control(&mut self, peer: &str, c: ControlRequest) -> Result<(), (ErrorCode, String)> {
        let (table, current) = (self.table_id, self.epoch);
        let Some(p) = self.peers.get_mut(peer).filter(|p| p.up) else {
            return Err(bad("cannot process route control messages from non-peers"));
        };
        if !p.link.send_routes {
            return Err(bad(
                "rejecting route control: we are configured not to send routes to you",
            ));
        }
        p.tx_sync = c.mode == Mode::Sync;
        p.tx_epoch = if c.last_known_routing_table_id == table && c.last_known_epoch <= current {
            c.last_known_epoch
        } else {
            0
        };
        p.tx_in_flight = None;
        p.tx_retry_at = None;
        p.tx_last_sent = None;
        tracing::debug!(peer, mode = ?c.mode, epoch = p.tx_epoch, "ccp: route control");
        Ok(())
    }

    fn handle_update(
        &mut self,
        peer: &str,
        u: UpdateRequest,
        now: Millis,
    ) -> Result<(), (ErrorCode, String)> {
        let own = self.cfg.own_address.clone();
        let Some(p) = self.peers.get_mut(peer).filter(|p| p.up) else {
            return Err(bad("cannot process route update messages from non-peers"));
        };
        if !p.link.receive_routes {
            return Err(bad(
                "rejecting route update: we are configured not to receive routes from you",
            ));
        }
        if u.from_epoch_index > u.to_epoch_index || u.to_epoch_index > u.current_epoch_index {
            let msg = format!(
                "invalid epoch range: from {} to {} with current {}",
                u.from_epoch_index, u.to_epoch_index, u.current_epoch_index
            );
            note_hostile(p, peer, &msg);
            return Err(bad(&msg));
        }
        let hold = now.saturating_add(u64::from(u.hold_down_time).max(ms(MIN_HOLD_DOWN)));
        p.rx_expires = Some(p.rx_expires.map_or(hold, |e| e.max(hold)));
        if u.routing_table_id != p.rx_table {
            tracing::debug!(peer, old = %p.rx_table, new = %u.routing_table_id, "ccp: new routing table from peer");
            p.rx_table = u.routing_table_id;
            p.rx_epoch = 0;
            for r in p.routes.values_mut() {
                r.stale = true;
            }
        }
        if u.from_epoch_index > p.rx_epoch {
            tracing::debug!(
                peer,
                have = p.rx_epoch,
                from = u.from_epoch_index,
                "ccp: gap in updates; asking for a resync"
            );
            p.control_wanted = true;
            return Ok(());
        }
        if u.to_epoch_index < p.rx_epoch {
            return Ok(());
        }
        let mut changed = BTreeSet::new();
        for prefix in u.withdrawn_routes {
            if let Some(old) = p.routes.remove(&prefix) {
                p.learned_bytes -= Learned::bytes(&prefix, &old.path);
                changed.insert(prefix);
            }
        }
        for route in u.new_routes {
            if let Some(why) = refuse(&own, &route) {
                match why {
                    // Path-vector loop avoidance at work: in a mesh every peer
                    // offers back routes that went through us. Normal traffic.
                    Refusal::Loop => tracing::debug!(
                        peer,
                        prefix = %crate::logging::shown(&route.prefix),
                        "ccp: route ignored: its path holds our address (loop)"
                    ),
                    Refusal::Hostile(why) => note_hostile(
                        p,
                        peer,
                        &format!(
                            "route {} ignored: {why}",
                            crate::logging::shown(&route.prefix)
                        ),
                    ),
                }
                // It replaces what the peer said of this prefix before.
                if let Some(old) = p.routes.remove(&route.prefix) {
                    p.learned_bytes -= Learned::bytes(&route.prefix, &old.path);
                    changed.insert(route.prefix);
                }
                continue;
            }
            let size = Learned::bytes(&route.prefix, &route.path);
            let old_size = p
                .routes
                .get(&route.prefix)
                .map_or(0, |l| Learned::bytes(&route.prefix, &l.path));
            let over_count = old_size == 0 && p.routes.len() >= MAX_ROUTES_PER_PEER;
            if over_count || p.learned_bytes - old_size + size > MAX_LEARNED_BYTES_PER_PEER {
                if !p.overflow_logged {
                    p.overflow_logged = true;
                    tracing::warn!(
                        peer,
                        limit = MAX_ROUTES_PER_PEER,
                        bytes = MAX_LEARNED_BYTES_PER_PEER,
                        "ccp: peer sent more routes than we keep; the rest are ignored"
                    );
                }
                if let Some(old) = p.routes.remove(&route.prefix) {
                    p.learned_bytes -= Learned::bytes(&route.prefix, &old.path);
                    changed.insert(route.prefix);
                }
                continue;
            }
            p.learned_bytes = p.learned_bytes - old_size + size;
            p.routes.insert(
                route.prefix.clone(),
                Learned {
                    path: route.path,
                    auth: route.auth,
                    stale: false,
                },
            );
            changed.insert(route.prefix);
        }
        p.rx_epoch = u.to_epoch_index;
        if u.to_epoch_index == u.current_epoch_index {
            let stale: Vec<String> = p
                .routes
                .iter()
                .filter(|(_, l)| l.stale)
                .map(|(k, _)| k.clone())
                .collect();
            for prefix in stale {
                if let Some(old) = p.routes.remove(&prefix) {
                    p.learned_bytes -= Learned::bytes(&prefix, &old.path);
                }
                changed.insert(prefix);
            }
        }
        for prefix in changed {
            self.update_prefix(&prefix);
        }
        Ok(())
    }

    fn note_hostile(&mut self, peer: &str, what: &str) {
        if let Some(p) = self.peers.get_mut(peer) {
            note_hostile(p, peer, what);
        }
    }

    /// Recomputes the best route for `prefix`; emits the forwarding change
    /// and logs the advertisement change, if any.
    fn update_prefix(&mut self, prefix: &str) {
        let best = self.best(prefix);
        if self.forwarding.get(prefix) != best.as_ref() {
            match &best {
                Some(e) => self.forwarding.insert(prefix.to_owned(), e.clone()),
                None => self.forwarding.remove(prefix),
            };
            self.actions.push(Action::Route {
                prefix: prefix.to_owned(),
                entry: best.clone(),
            });
        }
        let advert = best.and_then(|e| self.advert_for(prefix, &e));
        let current = self.adverts.get(prefix);
        let same = match (&advert, current) {
            (None, None) => true,
            (Some(a), Some(c)) => a.next_hop == c.next_hop && a.path == c.path,
            _ => false,
        };
        if !same {
            self.log_change(prefix, advert);
        }
    }

    fn best(&self, prefix: &str) -> Option<ForwardingEntry> {
        if let Some(peer) = self.statics.get(prefix) {
            return Some(ForwardingEntry {
                next_hop: NextHop::Peer(peer.clone()),
                path: Vec::new(),
                origin: Origin::Static,
            });
        }
        if let Some(hop) = self.locals.get(prefix) {
            return Some(ForwardingEntry {
                next_hop: hop.clone(),
                path: Vec::new(),
                origin: Origin::Local,
            });
        }
        self.peers
            .iter()
            .filter(|(_, p)| p.receiving())
            .filter_map(|(id, p)| p.routes.get(prefix).map(|l| (id, l)))
            .min_by(|a, b| (a.1.path.len(), a.0).cmp(&(b.1.path.len(), b.0)))
            .map(|(id, l)| ForwardingEntry {
                next_hop: NextHop::Peer(id.clone()),
                path: l.path.clone(),
                origin: Origin::Learned,
            })
    }

    /// What we advertise for `prefix` when `e` is its best route: nothing for
    /// a bare scheme (default route), for prefixes under our address other
    /// than our address itself (our address covers them), or for a path too
    /// long to send.
    fn advert_for(&self, prefix: &str, e: &ForwardingEntry) -> Option<Advert> {
        let own = &self.cfg.own_address;
        if SCHEMES.contains(&prefix) || (prefix != own.as_str() && own_covers(own, prefix)) {
            return None;
        }
        let mut path = Vec::with_capacity(e.path.len() + 1);
        path.push(own.clone());
        path.extend(e.path.iter().cloned());
        let auth = match (&e.origin, &e.next_hop) {
            (Origin::Learned, NextHop::Peer(id)) => {
                let learned = self.peers.get(id)?.routes.get(prefix)?;
                sha256(&learned.auth)
            }
            _ => hmac_sha256(&self.cfg.routing_secret, prefix.as_bytes()),
        };
        let route = Route {
            prefix: prefix.to_owned(),
            path,
            auth,
            props: Vec::new(),
        };
        if route.path.len() as u64 > MAX_PATH_LEN
            || codec::update_base_len(own, 1, 1) + route.encoded_len() > MAX_UPDATE_DATA_LEN
        {
            return None;
        }
        Some(Advert {
            next_hop: match (&e.origin, &e.next_hop) {
                (Origin::Learned | Origin::Static, NextHop::Peer(id)) => Some(id.clone()),
                _ => None,
            },
            path: route.path,
            auth,
            epoch: 0,
        })
    }

    fn log_change(&mut self, prefix: &str, advert: Option<Advert>) {
        if self.epoch == u32::MAX {
            self.new_table();
        }
        let old_epoch = self
            .adverts
            .get(prefix)
            .map(|a| a.epoch)
            .or_else(|| self.tombstones.get(prefix).copied());
        if let Some(e) = old_epoch {
            self.log.remove(&e);
        }
        let epoch = self.epoch;
        self.epoch += 1;
        self.log.insert(epoch, prefix.to_owned());
        match advert {
            Some(mut a) => {
                a.epoch = epoch;
                self.adverts.insert(prefix.to_owned(), a);
                self.tombstones.remove(prefix);
            }
            None => {
                self.adverts.remove(prefix);
                self.tombstones.insert(prefix.to_owned(), epoch);
            }
        }
        if self.tombstones.len() > MAX_TOMBSTONES {
            self.new_table();
        }
    }

    /// Starts a new table (new id, epochs from 0, no tombstones): peers see
    /// the new id and take a full copy.
    fn new_table(&mut self) {
        let mut seed = self.table_id.0.to_vec();
        seed.extend_from_slice(&self.cfg.routing_secret);
        let digest = sha256(&seed);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        tracing::info!(old = %self.table_id, new = %RoutingTableId(id), "ccp: starting a new routing table");
        self.table_id = RoutingTableId(id);
        self.tombstones.clear();
        self.log.clear();
        self.epoch = 0;
        for (prefix, a) in &mut self.adverts {
            a.epoch = self.epoch;
            self.log.insert(self.epoch, prefix.clone());
            self.epoch += 1;
        }
        for p in self.peers.values_mut() {
            p.tx_epoch = 0;
            p.tx_in_flight = None;
        }
    }

    /// Sends what is due: route controls, then updates.
    fn flush(&mut self, now: Millis) {
        let interval = ms(self.cfg.broadcast_interval);
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in ids {
            let p = &self.peers[&id];
            if !p.up {
                continue;
            }
            if p.link.receive_routes
                && p.control_wanted
                && p.control_in_flight.is_none()
                && p.control_retry_at.is_none_or(|at| now >= at)
            {
                let token = self.token();
                let p = self.peers.get_mut(&id).expect("listed above");
                p.control_wanted = false;
                p.control_retry_at = None;
                p.control_in_flight = Some((token, now));
                let request = CcpRequest::Control(ControlRequest {
                    mode: Mode::Sync,
                    last_known_routing_table_id: p.rx_table,
                    last_known_epoch: p.rx_epoch,
                    features: Vec::new(),
                });
                self.actions.push(Action::Send {
                    peer: id.clone(),
                    token,
                    request,
                });
            }
            let p = &self.peers[&id];
            let due = p.tx_epoch < self.epoch
                || p.tx_last_sent
                    .is_none_or(|at| now >= at.saturating_add(interval));
            if p.link.send_routes
                && p.tx_sync
                && p.tx_in_flight.is_none()
                && p.tx_retry_at.is_none_or(|at| now >= at)
                && due
            {
                let from = p.tx_epoch.min(self.epoch);
                let update = self.build_update(&id, from);
                let token = self.token();
                let p = self.peers.get_mut(&id).expect("listed above");
                p.tx_in_flight = Some((token, from, now));
                p.tx_epoch = update.to_epoch_index;
                p.tx_last_sent = Some(now);
                p.tx_retry_at = None;
                self.actions.push(Action::Send {
                    peer: id.clone(),
                    token,
                    request: CcpRequest::Update(update),
                });
            }
        }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// The update for `peer` covering our log from epoch `from`, bounded by
    /// [`UPDATE_BATCH_ROUTES`] and [`MAX_UPDATE_DATA_LEN`]. Split horizon: a
    /// prefix whose best route goes through `peer` is sent to it as withdrawn,
    /// and so is one through a peer or parent when `peer` is our parent.
    fn build_update(&self, peer: &PeerId, from: u32) -> UpdateRequest {
        let own = &self.cfg.own_address;
        let to_parent = self
            .peers
            .get(peer)
            .is_some_and(|p| p.link.relation == Relation::Parent);
        // Valley-free export (as the JS connector): a parent gets no routes
        // through our peers or parents, only ours and our children's.
        let exported = |a: &Advert| match &a.next_hop {
            Some(hop) if hop == peer => false,
            Some(hop) if to_parent => !self
                .peers
                .get(hop)
                .is_some_and(|h| matches!(h.link.relation, Relation::Peer | Relation::Parent)),
            _ => true,
        };
        // Counts are at most UPDATE_BATCH_ROUTES: 3 bytes each is an upper bound.
        let mut size = codec::update_base_len(own, 1 << 16, 1 << 16);
        let mut new_routes = Vec::new();
        let mut withdrawn_routes = Vec::new();
        let mut to = self.epoch;
        for (&epoch, prefix) in self.log.range(from..) {
            let route = self
                .adverts
                .get(prefix)
                .filter(|a| exported(a))
                .map(|a| Route {
                    prefix: prefix.clone(),
                    path: a.path.clone(),
                    auth: a.auth,
                    props: Vec::new(),
                });
            let len = route
                .as_ref()
                .map_or_else(|| codec::withdrawn_encoded_len(prefix), Route::encoded_len);
            if new_routes.len() + withdrawn_routes.len() >= UPDATE_BATCH_ROUTES
                || size + len > MAX_UPDATE_DATA_LEN
            {
                to = epoch;
                break;
            }
            size += len;
            match route {
                Some(r) => new_routes.push(r),
                None => withdrawn_routes.push(prefix.clone()),
            }
        }
        UpdateRequest {
            routing_table_id: self.table_id,
            current_epoch_index: self.epoch,
            from_epoch_index: from,
            to_epoch_index: to,
            hold_down_time: u32::try_from(ms(self.cfg.hold_down)).unwrap_or(u32::MAX),
            speaker: own.clone(),
            new_routes,
            withdrawn_routes,
        }
    }
}

fn bad(message: &str) -> (ErrorCode, String) {
    (ErrorCode::F00_BAD_REQUEST, message.to_owned())
}

/// Whether `prefix` is our address or under it.
fn own_covers(own: &Address, prefix: &str) -> bool {
    Address::new(prefix).is_ok_and(|a| a.is_under(own.as_str()))
}

/// Why a learned route is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Its path already holds our address: every well-behaved peer sends
    /// these (a route it learned through us), so they are dropped quietly.
    Loop,
    /// Nothing a well-behaved peer sends; logged once per peer.
    Hostile(&'static str),
}

/// Why a learned route is not accepted, if it is not.
fn refuse(own: &Address, route: &Route) -> Option<Refusal> {
    if SCHEMES.contains(&route.prefix.as_str()) {
        Some(Refusal::Hostile(
            "a default route (bare scheme) is never learned",
        ))
    } else if route.path.iter().any(|hop| hop == own) {
        Some(Refusal::Loop)
    } else if own_covers(own, &route.prefix) {
        Some(Refusal::Hostile("it is our own prefix or under it"))
    } else if route.path.is_empty() {
        Some(Refusal::Hostile("empty path"))
    } else {
        None
    }
}

fn note_hostile(p: &mut Peer, peer: &str, what: &str) {
    // `what` quotes the peer's packet (a prefix, a codec error).
    let what = crate::logging::bounded(what, crate::logging::MAX_LOGGED_ERROR_LEN);
    if p.hostile_logged {
        tracing::debug!(peer, "ccp: {what}");
    } else {
        p.hostile_logged = true;
        tracing::warn!(
            peer,
            "ccp: {what} (further such messages from this peer are logged at debug level)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, path: &[&str]) -> Route {
        Route {
            prefix: prefix.into(),
            path: path.iter().map(|p| p.parse().unwrap()).collect(),
            auth: [0; AUTH_LEN],
            props: Vec::new(),
        }
    }

    #[test]
    fn a_route_through_us_is_a_loop_not_hostile() {
        let own: Address = "g.a".parse().unwrap();
        // A mesh neighbour offering our own prefix back (learned via g.c).
        assert_eq!(
            refuse(&own, &route("g.a", &["g.b", "g.c", "g.a"])),
            Some(Refusal::Loop)
        );
        assert_eq!(
            refuse(&own, &route("g.d", &["g.b", "g.a", "g.d"])),
            Some(Refusal::Loop)
        );
        // Claiming our prefix without us on the path is not normal.
        assert!(matches!(
            refuse(&own, &route("g.a.sub", &["g.b"])),
            Some(Refusal::Hostile(_))
        ));
        assert!(matches!(
            refuse(&own, &route("g", &["g.b"])),
            Some(Refusal::Hostile(_))
        ));
        assert!(matches!(
            refuse(&own, &route("g.d", &[])),
            Some(Refusal::Hostile(_))
        ));
        assert_eq!(refuse(&own, &route("g.d", &["g.b", "g.d"])), None);
    }
}
