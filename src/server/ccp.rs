//! The CCP driver task (`ROUTING=ccp`): the I/O around the node's one
//! speaker ([`crate::node::ccp::CcpState`]). It takes the speaker's actions:
//! a `Send` goes out as a Prepare on the peer's link and its reply is
//! reported with `sent_result`; `Route` changes rebuild the node's routing
//! table (swapped whole). It ticks the speaker at `next_wakeup` and whenever
//! something else woke it.
//!
//! The live table is built from the speaker's forwarding table (static,
//! local and learned), then each configured link's own address where
//! nothing was learned for it (so a peer is reachable before its routes
//! arrive, and through others when its link is down), then our address
//! (local), children and the static routes, which always win.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use tracing::{debug, info};

use crate::ccp::codec::{self, CCP_REQUEST_EXPIRY};
use crate::ccp::{self, Action, Speaker};
use crate::config::{Config, Relation};
use crate::link::LinkError;
use crate::node::ccp::CcpState;
use crate::node::{Node, Routes};
use crate::packet::{self, Fulfill};
use crate::route_table::NextHop;

/// The driver task: runs until the node stops.
pub(super) async fn drive(node: Arc<Node>, routing: Arc<CcpState>) {
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
            _ = node.shutdown().cancelled() => return,
            _ = routing.woken() => {}
            _ = sleep => {}
        }
    }
}

/// Sends one CCP request; false when it could not go (reported at once).
fn send(
    node: &Node,
    routing: &Arc<CcpState>,
    peer: ccp::PeerId,
    token: u64,
    request: &ccp::CcpRequest,
) -> bool {
    let link = node.peer(&peer).and_then(|s| s.link());
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
            r.wake();
        }),
    );
    true
}

/// The live routing table from the speaker's forwarding table and the
/// configuration (see the module doc for the order).
fn build_table(node: &Node, sp: &Speaker) -> Routes {
    let config = node.config();
    let slot = |id: &str| node.peer(id).cloned();
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
        // Every configured peer has a slot (Node::new).
        if let Some(s) = slot(&p.id)
            && (p.relation == Relation::Child || !learned)
        {
            routes.insert(p.address.as_str(), NextHop::Peer(s));
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
