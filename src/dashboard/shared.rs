//! The state the dashboard's tasks share: the configuration, each node's
//! [`NodeState`] (written by its poller), the sends from the page, the last
//! snapshot published, and the stop. Also how a snapshot is made from it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::DashboardConfig;
use super::state::{self, Capability, NodeState, SendRecord, Snapshot};

/// Sends from the page running at once (the permits of [`Shared`]).
pub const MAX_CONCURRENT_SENDS: usize = 4;

/// What every task of one dashboard reads and writes.
pub(super) struct Shared {
    pub(super) config: DashboardConfig,
    /// One per configured node, in its order; written by its poller.
    pub(super) nodes: Vec<Mutex<NodeState>>,
    /// Wakes a node's poller before its next tick (after an admin action).
    pub(super) wake: Vec<Notify>,
    /// The last sends from the page, newest first.
    pub(super) sends: Mutex<VecDeque<SendRecord>>,
    pub(super) send_permits: Semaphore,
    /// The last snapshot published, as JSON.
    pub(super) updates: watch::Sender<Arc<String>>,
    pub(super) shutdown: CancellationToken,
}

impl Shared {
    /// Nothing polled yet, nothing published.
    pub(super) fn new(config: DashboardConfig) -> Self {
        Self {
            nodes: config
                .nodes
                .iter()
                .cloned()
                .map(|t| Mutex::new(NodeState::new(t)))
                .collect(),
            wake: config.nodes.iter().map(|_| Notify::new()).collect(),
            sends: Mutex::new(VecDeque::new()),
            send_permits: Semaphore::new(MAX_CONCURRENT_SENDS),
            updates: watch::channel(Arc::new(String::new())).0,
            shutdown: CancellationToken::new(),
            config,
        }
    }

    /// The snapshot of every node's state now.
    pub(super) fn snapshot(&self) -> Snapshot {
        let guards: Vec<_> = self
            .nodes
            .iter()
            .map(|n| n.lock().expect("node state lock"))
            .collect();
        let refs: Vec<&NodeState> = guards.iter().map(|g| &**g).collect();
        let send = match (&self.config.sender_secret, &self.config.receiver_secret) {
            (None, _) => Capability::no(
                "sending is off: give the dashboard DASHBOARD_SENDER_SECRET (the nodes' sender account)",
            ),
            (Some(_), None) => Capability::no(
                "give the dashboard DASHBOARD_RECEIVER_SECRET too, or every packet is rejected F05",
            ),
            _ => Capability::yes(),
        };
        let sends = self.sends.lock().expect("sends lock");
        state::snapshot(
            &refs,
            &sends,
            send,
            self.config.admin_token.is_some(),
            self.config.poll_interval,
        )
    }

    /// Makes a snapshot the one the page is sent next.
    pub(super) fn publish(&self) {
        let json = serde_json::to_string(&self.snapshot()).expect("snapshot serializes");
        self.updates.send_replace(Arc::new(json));
    }

    /// The index of the node named `name`.
    pub(super) fn node_index(&self, name: &str) -> Option<usize> {
        self.config.nodes.iter().position(|n| n.name == name)
    }
}
