//! The CCP driver: the node's one [`Speaker`] and the task that drives it
//! (`ROUTING=ccp`). See [`crate::ccp`] for the protocol and how a speaker is
//! driven; this file is only the I/O around it.
//!
//! - Link up / down come from `Node::set_link` and `Node::clear_link`
//!   (after BTP auth, before the link's first packet is read, on either
//!   runtime: the dialer and the BTP server start a link paused and open it
//!   once it is registered, [`crate::link::Link::start_paused`], so a
//!   peer's first route control never finds its link unknown here).
//! - `peer.route.*` Prepares are answered on the packet path
//!   (`Routing::answer`), never forwarded.
//! - The driver task takes the speaker's actions: a `Send` goes out as a
//!   Prepare on the peer's link, its reply is reported with `sent_result`;
//!   `Route` changes rebuild the node's routing table (swapped whole). It
//!   ticks the speaker at `next_wakeup` and whenever something above woke it.
//!
//! The live table is built from the speaker's forwarding table (static,
//! local and learned), then each configured link's own address where
//! nothing was learned for it (so a peer is reachable before its routes
//! arrive, and through others when its link is down), then our address
//! (local), children and the static routes, which always win.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use tracing::{debug, info};

use crate::ccp::codec::{self, CCP_REQUEST_EXPIRY};
use crate::ccp::{self, Action, Millis, PeerLink, RoutingTableId, Speaker, SpeakerConfig};
use crate::config::{Config, Relation};
use crate::forward::{Fulfilled, Rejected, Verdict};
use crate::link::LinkError;
use crate::packet::{self, Fulfill, Prepare};
use crate::routing::NextHop;

use super::{Node, PeerSlot, Routes};

/// The node's CCP state: the speaker and what wakes its driver.
#[derive(Debug)]
pub struct Routing {
    speaker: Mutex<Speaker>,
    wake: tokio::sync::Notify,
    started: Instant,
}

impl Routing {
    /// A speaker for `config` with a fresh random table id and secret.
    pub(super) fn new(config: &Config) -> Arc<Routing> {
        let mut id: [u8; 16] = rand::random();
        // A version 4 UUID, as the JS connector's.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let mut cfg = SpeakerConfig::new(
            config.ilp_address.clone(),
            RoutingTableId(id),
            rand::random(),
        );
        cfg.broadcast_interval = config.routing.broadcast_interval;
        cfg.hold_down = config.routing.hold_down;
        let mut speaker = Speaker::new(cfg);
        speaker.set_static_routes(
            config.routes.iter().map(|(p, q)| (p.clone(), q.as_str())),
            0,
        );
        Arc::new(Routing {
            speaker: Mutex::new(speaker),
            wake: tokio::sync::Notify::new(),
            started: Instant::now(),
        })
    }

    fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }

    /// The speaker, locked (for reports; keep it short).
    pub fn speaker(&self) -> MutexGuard<'_, Speaker> {
        self.speaker.lock().expect("speaker lock")
    }

    /// A link to `slot`'s peer was authenticated.
    pub(super) fn link_up(&self, config: &Config, slot: &PeerSlot) {
        let exchange = config.routing.exchange(&slot.id, slot.config.relation);
        let relation = match slot.config.relation {
            Relation::Peer => ccp::Relation::Peer,
            Relation::Child => ccp::Relation::Child,
        };
        let child_prefix = (slot.config.relation == Relation::Child
            && slot.config.address.is_under(config.ilp_address.as_str()))
        .then(|| slot.config.address.clone());
        let link = PeerLink {
            relation,
            send_routes: exchange.sends(),
            receive_routes: exchange.receives(),
            child_prefix,
        };
        let now = self.now();
        self.speaker().link_up(&slot.id, link, now);
        self.wake.notify_one();
    }

    /// The link to `peer` closed.
    pub(super) fn link_down(&self, peer: &str) {
        let now = self.now();
        self.speaker().link_down(peer, now);
        self.wake.notify_one();
    }

    /// Answers a `peer.route.control` / `peer.route.update` Prepare from `from`.
    pub(crate) fn answer(&self, from: &PeerSlot, prepare: &Prepare) -> Verdict {
        let now = self.now();
        let answer = self
            .speaker()
            .answer_prepare(&from.id, prepare, Utc::now(), now);
        self.wake.notify_one();
        match answer {
            Ok(fulfill) => Ok(Fulfilled::new(fulfill.encode())),
            Err(reject) => Err(Rejected::new(reject.code, reject.encode())),
        }
    }
}

/// Whether `destination` is CCP's (`peer.route.control`, `peer.route.update`).
pub(crate) fn is_ccp(destination: &crate::address::Address) -> bool {
    codec::is_ccp_destination(destination)
}

/// The driver task: runs until the node stops.
pub(super) async fn drive(node: Arc<Node>, routing: Arc<Routing>) {
    loop {
        let (actions, wakeup) = {
            let mut sp = routing.speaker();
            let now = routing.now();
            sp.tick(now);
            let actions = sp.take_actions();
            if actions.iter().any(|a| matches!(a, Action::Route { .. })) {
                node.replace_routes(build_table(&node, &sp));
                node.notify_change();
                debug!(
                    routes = sp.forwarding_table().len(),
                    "ccp: routing table swapped"
                );
            }
            (actions, sp.next_wakeup())
        };
        let mut again = false;
        for action in actions {
            if let Action::Send {
                peer,
                token,
                request,
            } = action
            {
                again |= !send(&node, &routing, peer, token, &request);
            }
        }
        if again {
            // A send failed at once and was reported: take what follows now.
            continue;
        }
        let sleep = async {
            match wakeup {
                Some(at) => {
                    let wait = at.saturating_sub(routing.now());
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = routing.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

/// Sends one CCP request; false when it could not go (reported at once).
fn send(
    node: &Node,
    routing: &Arc<Routing>,
    peer: ccp::PeerId,
    token: u64,
    request: &ccp::CcpRequest,
) -> bool {
    let link = node.peers.get(&*peer).and_then(|s| s.link());
    let Some(link) = link else {
        debug!(peerId = %peer, "ccp: link down; request not sent");
        routing
            .speaker()
            .sent_result(&peer, token, false, routing.now());
        return false;
    };
    let expiry = TimeDelta::from_std(CCP_REQUEST_EXPIRY).expect("a small constant");
    let prepare = request.to_prepare(Utc::now() + expiry);
    let deadline = tokio::time::Instant::now() + CCP_REQUEST_EXPIRY;
    let r = routing.clone();
    link.request_with(
        &prepare.encode(),
        deadline,
        Box::new(move |answer: Result<bytes::Bytes, LinkError>, _at| {
            let ok = match &answer {
                Ok(reply) if packet::packet_type(reply) == Some(packet::TYPE_FULFILL) => {
                    Fulfill::decode(reply.clone()).is_ok_and(|f| codec::is_valid_response(&f))
                }
                _ => false,
            };
            if !ok {
                debug!(peerId = %peer, reply = ?answer.as_ref().map(|b| b.len()), "ccp: request not accepted");
            }
            r.speaker().sent_result(&peer, token, ok, r.now());
            r.wake.notify_one();
        }),
    );
    true
}

/// The live routing table from the speaker's forwarding table and the
/// configuration (see the module doc for the order).
fn build_table(node: &Node, sp: &Speaker) -> Routes {
    let config = &node.config;
    let slot = |id: &str| node.peers.get(id).cloned();
    let mut routes = Routes::default();
    for (prefix, entry) in sp.forwarding_table() {
        match &entry.next_hop {
            ccp::NextHop::Local => routes.insert(prefix.as_str(), NextHop::Local),
            ccp::NextHop::Peer(id) => {
                if let Some(s) = slot(id) {
                    routes.insert(prefix.as_str(), NextHop::Peer(s));
                }
            }
        }
    }
    for p in &config.peers {
        let learned = routes
            .lookup(p.address.as_str())
            .is_some_and(|(prefix, _)| prefix == p.address.as_str());
        if p.relation == Relation::Child || !learned {
            routes.insert(
                p.address.as_str(),
                NextHop::Peer(node.peers[p.id.as_str()].clone()),
            );
        }
    }
    routes.insert(config.ilp_address.as_str(), NextHop::Local);
    for (prefix, peer) in &config.routes {
        if let Some(s) = slot(peer) {
            routes.insert(prefix.as_str(), NextHop::Peer(s));
        }
    }
    routes
}

/// Logs that CCP is on (once, at start).
pub(super) fn log_start(config: &Config) {
    info!(
        event = "ccp_enabled",
        broadcastIntervalMs = config.routing.broadcast_interval.as_millis() as u64,
        holdDownMs = config.routing.hold_down.as_millis() as u64,
        "routes are learned from peers (CCP)"
    );
}

/// Where a route of the live table came from, for `/routes`.
pub fn origin_of(
    node: &Node,
    prefix: &str,
    hop: &NextHop<Arc<PeerSlot>>,
) -> (&'static str, Vec<String>) {
    let config = &node.config;
    if config.routes.contains_key(prefix) {
        return ("static", Vec::new());
    }
    if prefix == config.ilp_address.as_str() || matches!(hop, NextHop::Local) {
        return ("local", Vec::new());
    }
    if let Some(r) = node.ccp.as_ref() {
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
