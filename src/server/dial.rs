//! The client side: a dialer per outbound peer that never gives up, with its
//! own [`Backoff`], logging each kind of failure once until it changes.

use std::sync::Arc;

use tracing::{debug, warn};

use super::backoff::Backoff;
use crate::link::Direction;
use crate::logging;
use crate::node::{Node, PeerSlot};
use crate::transport::{self, ConnectError};

/// Kinds of dial failure, so each is logged once rather than once per retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// Not reachable (yet): connection refused, reset or timed out.
    Unreachable,
    /// The peer refused our credentials.
    Refused,
    /// The peer answered auth with something else.
    Protocol,
}

impl From<&ConnectError> for FailureKind {
    fn from(e: &ConnectError) -> Self {
        match e {
            ConnectError::Connect(_) | ConnectError::Timeout(_) => FailureKind::Unreachable,
            ConnectError::Refused(_) => FailureKind::Refused,
            ConnectError::Protocol(_) | ConnectError::UnexpectedReply { .. } => {
                FailureKind::Protocol
            }
        }
    }
}

/// Dials `slot`'s peer, keeps the link up while it lasts, and redials after
/// it drops, until the node stops.
pub(super) async fn dial_loop(node: Arc<Node>, slot: Arc<PeerSlot>) {
    let url = slot
        .config
        .url
        .clone()
        .expect("only outbound peers are dialed");
    let mut backoff = Backoff::default();
    let mut last_failure: Option<FailureKind> = None;
    loop {
        tokio::select! {
            _ = node.shutdown().cancelled() => return,
            _ = slot.fault.released() => {}
        }
        let dialed = tokio::select! {
            _ = node.shutdown().cancelled() => return,
            r = transport::connect(&url, &node.config().node_id, slot.config.secret.expose()) => r,
        };
        match dialed {
            Ok(ws) => {
                let link = super::start_link(&node, &slot, ws, Direction::Outbound);
                node.set_link(&slot, link.clone());
                link.open();
                last_failure = None;
                let up_since = tokio::time::Instant::now();
                tokio::select! {
                    _ = link.closed() => {}
                    _ = node.shutdown().cancelled() => return,
                }
                backoff.link_dropped_after(up_since.elapsed());
                if node.clear_link(&slot, &link) && !node.is_stopping() {
                    warn!(event = "btp_connection_lost", peerId = %slot.id, direction = "outbound", url = %url, "BTP connection lost; reconnecting");
                }
            }
            Err(e) => {
                let kind = FailureKind::from(&e);
                if last_failure != Some(kind) {
                    warn!(event = "btp_connect_failed", peerId = %slot.id, url = %url, error = %logging::error_text(&e), hint = e.hint(), "BTP link not up; retrying until it is");
                    last_failure = Some(kind);
                } else {
                    debug!(peerId = %slot.id, error = %logging::error_text(&e), "BTP dial failed again");
                }
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = node.shutdown().cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
