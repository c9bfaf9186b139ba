//! The BTP server side: the accept loop, BTP auth of each inbound socket
//! against the configured peers, and the life of an inbound link.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{Node, PeerSlot};
use crate::config::Relation;
use crate::forward::PeerHandler;
use crate::link::{Direction, Link};
use crate::transport::{self, FIRST_REQUEST_ID};

/// Pause after a failed `accept` (e.g. out of file descriptors).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How long repeats of an auth failure (same username, or same address before
/// auth) are logged at debug instead of warn.
pub const AUTH_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Most usernames and addresses whose last warning is remembered.
pub const AUTH_FAILURE_LOG_KEYS: usize = 1_024;

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
    /// The link is held down here (admin API or the test hook): refused at
    /// auth, so the dialer backs off instead of seeing a link that closes
    /// at once (and redialing every few milliseconds).
    #[error("{}", crate::transport::HELD_DOWN_REFUSAL)]
    HeldDown,
}

/// Tells whether something is happening for the first time in
/// [`AUTH_FAILURE_LOG_INTERVAL`], so a peer retrying with a wrong secret every
/// second does not fill the logs. Bounded: forgets everything when full.
/// Keyed by what strangers send, so it keeps the default (SipHash) hasher.
#[derive(Debug, Default)]
pub(super) struct RepeatFilter(Mutex<HashMap<String, Instant>>);

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
        if slot.held_down.load(std::sync::atomic::Ordering::SeqCst) || slot.fault.held_down() {
            return Err(AuthRefusal::HeldDown);
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
        Err(transport::AcceptError::Refused { username, reason })
            if reason == AuthRefusal::HeldDown.to_string() =>
        {
            debug!(event = "btp_link_held_down", peerId = %username.escape_debug(), remote = %remote, "BTP link held down; refused");
            return;
        }
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
        Link::start_paused(
            ws,
            slot.id.clone(),
            Direction::Inbound,
            FIRST_REQUEST_ID,
            PeerHandler::new(&node, &slot),
        )
    };
    async {
        node.set_link(&slot, link.clone());
        link.open();
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
        assert!(f.first_in_a_while("connector-b"));
        assert!(!f.first_in_a_while("connector-b"));
        assert!(f.first_in_a_while("connector-c"));
        for i in 0..AUTH_FAILURE_LOG_KEYS * 2 {
            f.first_in_a_while(&format!("k{i}"));
        }
        assert!(f.0.lock().unwrap().len() <= AUTH_FAILURE_LOG_KEYS);
    }
}
