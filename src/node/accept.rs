//! The BTP server side: the accept loop, BTP auth of each inbound socket
//! against the configured peers, and the life of an inbound link.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{Node, PeerSlot};
use crate::config::Relation;
use crate::forward::PeerHandler;
use crate::link::{Direction, Link};
use crate::logging;
use crate::transport::{self, FIRST_REQUEST_ID};

/// Pause after a failed `accept` (e.g. out of file descriptors).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How long repeats of an auth failure (same key: see `RepeatKey`) are
/// logged at debug instead of warn.
pub const AUTH_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Most keys whose last warning is remembered; past it, new keys share one
/// (so at most this many plus one warnings per interval, whatever is sent).
pub const AUTH_FAILURE_LOG_KEYS: usize = 1_024;

/// What the auth-failure repeat filter is keyed by: never a string the peer
/// chose, so a stranger varying its username cannot make each attempt a
/// first (and a warning).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum RepeatKey {
    /// Every unknown username shares one key.
    UnknownUsername,
    /// A configured peer's id (a set the configuration bounds).
    Peer(String),
    /// Failures before auth, by source address (IPv6 by its /64, which one
    /// host usually holds whole).
    Source(IpAddr),
    /// Every new key once the filter is full.
    Overflow,
}

impl RepeatKey {
    fn source(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Source(ip),
            IpAddr::V6(v6) => {
                let masked = u128::from(v6) & !((1u128 << 64) - 1);
                Self::Source(IpAddr::V6(masked.into()))
            }
        }
    }
}

/// Why an inbound peer's credentials were refused (sent to the peer in the
/// BTP error and logged; never quotes the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefusal {
    /// No peer of that id is configured.
    #[error("unknown username")]
    UnknownUsername,
    /// The token is not the peer's secret.
    #[error("wrong secret")]
    WrongSecret,
    /// This node dials that peer; it does not accept it.
    #[error("this node dials that peer itself and does not accept it inbound")]
    DialedByUs,
}

/// Tells whether something is happening for the first time in
/// [`AUTH_FAILURE_LOG_INTERVAL`], so a peer retrying with a wrong secret every
/// second does not fill the logs. Bounded: expired keys are forgotten when
/// full, and while still full every new key counts as [`RepeatKey::Overflow`].
#[derive(Debug, Default)]
pub(super) struct RepeatFilter(Mutex<HashMap<RepeatKey, Instant>>);

impl RepeatFilter {
    fn first_in_a_while(&self, key: RepeatKey) -> bool {
        // A panic while holding this lock is impossible (no code here can
        // panic); a poisoned lock would still hold a usable map.
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let recent = |last: &Instant| now.duration_since(*last) < AUTH_FAILURE_LOG_INTERVAL;
        let mut key = key;
        if !seen.contains_key(&key) && seen.len() >= AUTH_FAILURE_LOG_KEYS {
            seen.retain(|_, last| recent(last));
            if seen.len() >= AUTH_FAILURE_LOG_KEYS {
                key = RepeatKey::Overflow;
            }
        }
        if seen.get(&key).is_some_and(recent) {
            return false;
        }
        seen.insert(key, now);
        true
    }
}

impl Node {
    fn authenticate(&self, username: &str, token: &str) -> Result<Arc<PeerSlot>, AuthRefusal> {
        let Some(slot) = self.peers.get(username) else {
            return Err(AuthRefusal::UnknownUsername);
        };
        if !slot.config.secret.matches(token) {
            return Err(AuthRefusal::WrongSecret);
        }
        if slot.config.url.is_some() {
            return Err(AuthRefusal::DialedByUs);
        }
        Ok(slot.clone())
    }
}

/// Accepts BTP connections until the node stops, at most
/// `MAX_CONNECTIONS` at once (the permits of `connections`).
pub(super) async fn accept_loop(
    node: Arc<Node>,
    listener: TcpListener,
    connections: Arc<Semaphore>,
) {
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
            let key = if node.peers.contains_key(username.as_str()) {
                RepeatKey::Peer(username.clone())
            } else {
                RepeatKey::UnknownUsername
            };
            let username = logging::shown(&username);
            if node.auth_failures.first_in_a_while(key) {
                warn!(event = "btp_auth_failed", peerId = %username, remote = %remote, reason = %reason, "BTP auth refused (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event = "btp_auth_failed", peerId = %username, remote = %remote, reason = %reason, "BTP auth refused");
            }
            return;
        }
        Err(e) => {
            let reason = logging::shown(&e);
            if node
                .auth_failures
                .first_in_a_while(RepeatKey::source(remote.ip()))
            {
                warn!(event = "btp_auth_failed", remote = %remote, reason = %reason, "BTP connection dropped before auth (repeats from this address are logged at debug for a minute)");
            } else {
                debug!(event = "btp_auth_failed", remote = %remote, reason = %reason, "BTP connection dropped before auth");
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
            PeerHandler::new(&node, &slot),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_filtered_per_key_and_the_filter_stays_bounded() {
        let f = RepeatFilter::default();
        let peer = |s: &str| RepeatKey::Peer(s.into());
        assert!(f.first_in_a_while(peer("connector-b")));
        assert!(!f.first_in_a_while(peer("connector-b")));
        assert!(f.first_in_a_while(peer("connector-c")));
        assert!(f.first_in_a_while(RepeatKey::UnknownUsername));
        assert!(!f.first_in_a_while(RepeatKey::UnknownUsername));
        let mut firsts = 0;
        for i in 0..AUTH_FAILURE_LOG_KEYS * 2 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i as u32));
            firsts += usize::from(f.first_in_a_while(RepeatKey::source(ip)));
        }
        assert!(f.0.lock().unwrap().len() <= AUTH_FAILURE_LOG_KEYS + 1);
        // Once full, every new address shares the overflow key: one warning.
        assert!(firsts <= AUTH_FAILURE_LOG_KEYS + 1, "{firsts}");
        assert!(!f.first_in_a_while(peer("connector-d")));
    }

    #[test]
    fn an_ipv6_host_is_one_source_whatever_its_interface_id() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(RepeatKey::source(a), RepeatKey::source(b));
        assert_ne!(RepeatKey::source(a), RepeatKey::source(c));
    }
}
