//! The state of one configured link, shared by everything that handles it:
//! its configuration, its current connection, its admission limits, its
//! counters ([`super::stats`]) and faults. A route leads straight here and an
//! incoming packet's handler holds it, so the packet path never looks a peer
//! up by id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::account::Account;
use super::stats::LinkStats;
use crate::config::PeerConfig;
use crate::fault::LinkFault;
use crate::link::{Direction, Link};

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
    /// The link's counters, for `/metrics`.
    pub stats: LinkStats,
    /// The link's books: balance, limits, settlements.
    pub account: Account,
    /// Faults injected through the admin API or [`super::Node::hold_link_down`].
    pub fault: LinkFault,
}

impl PeerSlot {
    pub(super) fn new(config: PeerConfig, id: Arc<str>, total: Arc<Inflight>) -> Self {
        let account = Account::new(config.balance);
        Self {
            bucket: config
                .max_packets_per_second
                .map(|r| Mutex::new(TokenBucket::new(r))),
            config,
            id,
            link: RwLock::new(None),
            since: Mutex::new(Utc::now()),
            inflight: AtomicUsize::new(0),
            total,
            stats: LinkStats::default(),
            account,
            fault: LinkFault::default(),
        }
    }

    /// The live link, if connected.
    pub fn link(&self) -> Option<Arc<Link>> {
        self.link
            .read()
            .expect("link lock")
            .clone()
            .filter(|l| !l.is_closed())
    }

    /// Makes `link` the live link; returns the one it replaces.
    pub(super) fn replace_link(&self, link: Arc<Link>) -> Option<Arc<Link>> {
        let old = self.link.write().expect("link lock").replace(link);
        *self.since.lock().expect("since lock") = Utc::now();
        old
    }

    /// Clears the live link if it is `link`; returns whether it was.
    pub(super) fn clear_link_if(&self, link: &Arc<Link>) -> bool {
        let mut current = self.link.write().expect("link lock");
        let is_current = current.as_ref().is_some_and(|l| Arc::ptr_eq(l, link));
        if is_current {
            *current = None;
            *self.since.lock().expect("since lock") = Utc::now();
        }
        is_current
    }

    /// Takes the live link out of the slot, closed or not (the stop closes
    /// what is left).
    pub fn take_link(&self) -> Option<Arc<Link>> {
        self.link.write().expect("link lock").take()
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

    /// Takes a token from the rate bucket; false when the peer is over
    /// `MAX_PACKETS_PER_SECOND` (always true without a limit).
    pub(crate) fn within_rate(&self) -> bool {
        self.bucket
            .as_ref()
            .is_none_or(|b| b.lock().expect("bucket lock").take())
    }

    /// Counts one more packet in flight from this peer (and in the node),
    /// unless `limit` are already; pair with [`PeerSlot::end_packet`].
    pub(crate) fn begin_packet(&self, limit: usize) -> bool {
        if self.inflight.fetch_add(1, Ordering::Relaxed) >= limit {
            self.inflight.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        self.total.count.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Ends a packet counted by [`PeerSlot::begin_packet`].
    pub(crate) fn end_packet(&self) {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
        if self.total.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.total.idle.notify_waiters();
        }
    }
}

/// Packets being handled by the whole node, so a shutdown can wait for none.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    count: AtomicUsize,
    idle: Notify,
}

impl Inflight {
    /// Packets being handled now.
    pub(super) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves when no packet is being handled.
    pub(super) async fn wait_idle(&self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_second_of_burst_then_refuses() {
        let mut b = TokenBucket::new(5);
        assert_eq!((0..10).filter(|_| b.take()).count(), 5);
    }
}
