//! The handle of a started node and the graceful stop sequence.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use crate::link::Link;
use crate::node::Node;

/// Longest time a graceful shutdown waits for in-flight packets.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A started node: its state, and the means to wait for it and stop it.
#[derive(Debug)]
pub struct NodeHandle {
    pub(super) node: Arc<Node>,
    pub(super) health_addr: SocketAddr,
    pub(super) tasks: TaskTracker,
    pub(super) span: tracing::Span,
}

impl NodeHandle {
    /// The node's shared state.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Where the BTP server listens.
    pub fn btp_addr(&self) -> SocketAddr {
        self.node.btp_addr()
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
        node.begin_stop();
        let slots = node.peer_slots();
        let links: Vec<Arc<Link>> = slots.iter().filter_map(|s| s.link()).collect();
        node.end_tasks();
        if tokio::time::timeout(SHUTDOWN_GRACE, node.wait_idle())
            .await
            .is_err()
        {
            warn!(
                inflight = node.inflight(),
                "shutdown grace period over with packets still in flight"
            );
        }
        for slot in &slots {
            if let Some(late) = slot.take_link() {
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
        node.close_books();
        info!(event = "connector_stopped", "connector stopped");
    }
}
