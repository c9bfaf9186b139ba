//! The node's CCP state (`ROUTING=ccp`): its one [`Speaker`] (see
//! [`crate::ccp`] for the protocol and how a speaker is driven) and what
//! wakes the task that drives it ([`crate::server`]'s CCP driver).
//!
//! - Link up / down come from `Node::set_link` and `Node::clear_link`
//!   (after BTP auth, before the link's first packet is read, on either
//!   runtime: the dialer and the BTP server start a link paused and open it
//!   once it is registered, [`crate::link::Link::start_paused`], so a
//!   peer's first route control never finds its link unknown here).
//! - `peer.route.*` Prepares are answered on the packet path
//!   (`CcpState::answer`), never forwarded.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::Utc;

use crate::ccp::{self, Millis, PeerLink, RoutingTableId, Speaker, SpeakerConfig};
use crate::config::{Config, Relation};
use crate::packet::Prepare;
use crate::reply::{Fulfilled, Rejected, Verdict};

use super::peer::PeerSlot;

/// The node's CCP state: the speaker and what wakes its driver.
#[derive(Debug)]
pub struct CcpState {
    speaker: Mutex<Speaker>,
    wake: tokio::sync::Notify,
    started: Instant,
}

impl CcpState {
    /// A speaker for `config` with a fresh random table id and secret.
    pub(super) fn new(config: &Config) -> Arc<CcpState> {
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
        Arc::new(CcpState {
            speaker: Mutex::new(speaker),
            wake: tokio::sync::Notify::new(),
            started: Instant::now(),
        })
    }

    /// Milliseconds since the speaker was made (the speaker's clock).
    pub fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }

    /// Wakes the driver: something it should act on has changed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`CcpState::wake`] is called (at most one wake is kept).
    pub async fn woken(&self) {
        self.wake.notified().await
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
