//! The BTP server side: the accept loop, BTP auth of each inbound socket
//! against the configured peers, and the life of an inbound link.
//!
//! Sockets come from two pools: one waiting for auth (`MAX_UNAUTHENTICATED`
//! at once, `MAX_UNAUTHENTICATED_PER_IP` from one address) and one of
//! authenticated links (`MAX_CONNECTIONS`). A socket takes a link slot only
//! once its credentials are good, so sockets that never authenticate can
//! never take the slots of those that do.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::config::Relation;
use crate::http::server::ACCEPT_ERROR_PAUSE;
use crate::link::Direction;
use crate::logging;
use crate::node::repeat::RepeatKey;
use crate::node::{Node, PeerSlot};
use crate::transport;

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
    /// Good credentials, but every link slot (`MAX_CONNECTIONS`) is taken.
    #[error("no free link slot (MAX_CONNECTIONS)")]
    NoLinkSlot,
    /// The link is held down here (admin API or the test hook): refused at
    /// auth, so the dialer backs off instead of seeing a link that closes
    /// at once (and redialing every few milliseconds).
    #[error("{}", crate::transport::HELD_DOWN_REFUSAL)]
    HeldDown,
}

impl transport::Refusal for AuthRefusal {
    /// One text for every refusal of credentials; the log tells them apart.
    fn to_client(&self) -> &str {
        match self {
            AuthRefusal::NoLinkSlot => {
                "this node has no room for another link now; try again later"
            }
            // Told only once the credentials passed (the dialer's hint says why).
            AuthRefusal::HeldDown => crate::transport::HELD_DOWN_REFUSAL,
            _ => transport::AUTH_FAILED,
        }
    }
}

/// Sockets waiting for auth per remote address. Holds at most one entry per
/// waiting socket, so at most `MAX_UNAUTHENTICATED` entries.
#[derive(Debug)]
struct PerAddress {
    waiting: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

/// A waiting socket's place in [`PerAddress`], given back on drop.
struct AddressSlot {
    pool: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn enter(pool: &Arc<PerAddress>, ip: IpAddr) -> Option<AddressSlot> {
        let mut waiting = pool.waiting.lock().expect("per-address lock");
        let n = waiting.entry(ip).or_insert(0);
        if *n >= pool.limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            pool: pool.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut waiting = self.pool.waiting.lock().expect("per-address lock");
        if let Some(n) = waiting.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.ip);
            }
        }
    }
}

/// The link slot of the peer `username` proves to be with `token`, if it may
/// dial in now.
fn authenticate(node: &Node, username: &str, token: &str) -> Result<Arc<PeerSlot>, AuthRefusal> {
    let Some(slot) = node.peer(username) else {
        return Err(AuthRefusal::UnknownUsername);
    };
    if !slot.config.secret.matches(token) {
        return Err(AuthRefusal::WrongSecret);
    }
    if slot.config.url.is_some() {
        return Err(AuthRefusal::DialedByUs);
    }
    if slot.fault.held_down() {
        return Err(AuthRefusal::HeldDown);
    }
    Ok(slot.clone())
}

/// Accepts BTP connections until the node stops: at most
/// `MAX_UNAUTHENTICATED` waiting for auth (`MAX_UNAUTHENTICATED_PER_IP` per
/// address), at most `MAX_CONNECTIONS` authenticated (the permits of `links`).
pub(super) async fn accept_loop(node: Arc<Node>, listener: TcpListener, links: Arc<Semaphore>) {
    let limits = node.config().limits;
    let waiting = Arc::new(Semaphore::new(limits.max_unauthenticated));
    let per_address = Arc::new(PerAddress {
        waiting: Mutex::new(HashMap::new()),
        limit: limits.max_unauthenticated_per_ip,
    });
    loop {
        let accepted = tokio::select! {
            _ = node.shutdown().cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, remote)) => {
                let Ok(permit) = waiting.clone().try_acquire_owned() else {
                    refused(
                        &node,
                        remote,
                        "MAX_UNAUTHENTICATED",
                        limits.max_unauthenticated,
                    );
                    drop(tcp);
                    continue;
                };
                let Some(address_slot) =
                    PerAddress::enter(&per_address, remote.ip().to_canonical())
                else {
                    refused(
                        &node,
                        remote,
                        "MAX_UNAUTHENTICATED_PER_IP",
                        limits.max_unauthenticated_per_ip,
                    );
                    drop(tcp);
                    continue;
                };
                let node = node.clone();
                let links = links.clone();
                tokio::spawn(
                    async move {
                        inbound(node, tcp, remote, links, (permit, address_slot)).await;
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

/// A socket closed on accept because a pool is full: warned once a minute
/// per limit (a key no peer can vary), at debug otherwise.
fn refused(node: &Node, remote: SocketAddr, variable: &'static str, limit: usize) {
    if node.first_in_a_while(RepeatKey::Limit(variable)) {
        warn!(event = "connection_refused", remote = %remote, limit, variable, "too many sockets waiting for BTP auth; closing the new one (repeats of this are logged at debug for a minute)");
    } else {
        debug!(event = "connection_refused", remote = %remote, limit, variable, "too many sockets waiting for BTP auth; closing the new one");
    }
}

async fn inbound(
    node: Arc<Node>,
    tcp: TcpStream,
    remote: SocketAddr,
    links: Arc<Semaphore>,
    waiting: (tokio::sync::OwnedSemaphorePermit, AddressSlot),
) {
    let accepted = tokio::select! {
        _ = node.shutdown().cancelled() => return,
        r = transport::accept(tcp, node.config().limits.auth_timeout, |user, token| {
            let slot = authenticate(&node, user, token)?;
            let permit = links.clone().try_acquire_owned().map_err(|_| AuthRefusal::NoLinkSlot)?;
            Ok::<_, AuthRefusal>((slot, permit))
        }) => r,
    };
    // Authenticated or not, the socket no longer waits for auth.
    drop(waiting);
    let (ws, (slot, _link_permit)) = match accepted {
        Ok(x) => x,
        Err(transport::AcceptError::Refused {
            username,
            reason: AuthRefusal::HeldDown,
        }) => {
            debug!(event = "btp_link_held_down", peerId = %username.escape_debug(), remote = %remote, "BTP link held down; refused");
            return;
        }
        Err(transport::AcceptError::Refused { username, reason }) => {
            let key = if node.peer(&username).is_some() {
                RepeatKey::Peer(username.clone())
            } else {
                RepeatKey::UnknownUsername
            };
            let username = logging::shown(&username);
            if node.first_in_a_while(key) {
                warn!(event = "btp_auth_failed", peerId = %username, remote = %remote, reason = %reason, "BTP auth refused (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event = "btp_auth_failed", peerId = %username, remote = %remote, reason = %reason, "BTP auth refused");
            }
            return;
        }
        Err(e) => {
            let reason = logging::shown(&e);
            if node.first_in_a_while(RepeatKey::source(remote.ip())) {
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
        super::start_link(&node, &slot, ws, Direction::Inbound)
    };
    async {
        node.set_link(&slot, link.clone());
        link.open();
        tokio::select! {
            _ = link.closed() => {}
            _ = node.shutdown().cancelled() => {}
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
    fn every_refusal_of_credentials_tells_the_client_the_same() {
        use transport::Refusal;
        for r in [
            AuthRefusal::UnknownUsername,
            AuthRefusal::WrongSecret,
            AuthRefusal::DialedByUs,
        ] {
            assert_eq!(r.to_client(), transport::AUTH_FAILED);
        }
    }

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_slots_back() {
        let pool = Arc::new(PerAddress {
            waiting: Mutex::new(HashMap::new()),
            limit: 2,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = PerAddress::enter(&pool, ip).unwrap();
        let _b = PerAddress::enter(&pool, ip).unwrap();
        assert!(PerAddress::enter(&pool, ip).is_none());
        assert!(PerAddress::enter(&pool, "10.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(PerAddress::enter(&pool, ip).is_some());
        drop(_b);
        assert!(pool.waiting.lock().unwrap().is_empty());
    }
}
