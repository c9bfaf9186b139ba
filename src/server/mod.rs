//! The server wing: wires a [`Node`]'s state to the world and runs it.
//! [`start`] builds the state from a [`Config`] on listeners the caller bound
//! and starts the BTP server ([`accept`]), a dialer per outbound link
//! (`dial`, with [`backoff`]), the CCP driver (`ccp`), the HTTP port of
//! `/health`, `/routes`, `/metrics` and `/admin` ([`http`]), a settler per
//! link ([`settle`]) and the allocator's purges; [`stop`] holds the handle and the graceful stop.
//! Packets take the forwarding path ([`crate::forward`]), whose handler each
//! link gets here.

pub mod accept;
pub mod backoff;
mod ccp;
mod dial;
pub mod http;
pub mod settle;
pub mod stop;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

use crate::accounts::journal::Journal;
use crate::accounts::store::{Books, Store, StoreError};
use crate::config::{Config, ConfigError};
use crate::forward::PeerHandler;
use crate::link::{Direction, Link};
use crate::node::{Node, PeerSlot};
use crate::transport::FIRST_REQUEST_ID;

pub use backoff::{MAX_RECONNECT_BACKOFF, MIN_RECONNECT_BACKOFF};
pub use stop::{NodeHandle, SHUTDOWN_GRACE};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid (names the variable to fix).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The books under `DATA_DIR` cannot be opened (the error names the path).
    #[error(transparent)]
    Books(#[from] StoreError),
    /// A listener given to [`start`] has no local address.
    #[error("cannot read the address of the {listener} listener: {source}")]
    Listener {
        /// `BTP` or `health`.
        listener: &'static str,
        /// The error of `local_addr`.
        #[source]
        source: std::io::Error,
    },
}

fn local_addr(listener: &TcpListener, name: &'static str) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Listener {
            listener: name,
            source,
        })
}

/// Starts the link of `slot` on an authenticated socket, paused: the caller
/// registers it ([`Node::set_link`]) and then opens it, so its first packet
/// finds it known.
fn start_link<S>(
    node: &Arc<Node>,
    slot: &Arc<PeerSlot>,
    ws: WebSocketStream<S>,
    direction: Direction,
) -> Arc<Link>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Link::start_paused(
        ws,
        slot.id.clone(),
        direction,
        FIRST_REQUEST_ID,
        PeerHandler::new(node, slot),
        node.config().limits.max_queued_bytes_per_link,
    )
}

/// The books under `DATA_DIR` and their writer, or `None` (in memory),
/// saying which at start.
fn open_books(config: &Config) -> Result<Option<(Books, Journal)>, StartError> {
    let Some(dir) = &config.data_dir else {
        warn!(
            event = "books_in_memory",
            "DATA_DIR is unset: balances and settlements are kept in memory only, start at zero and are lost at a restart"
        );
        return Ok(None);
    };
    let store = Store::open(dir)?;
    let path = store.path().display().to_string();
    let (books, journal) = store.start()?;
    info!(
        event = "books_opened",
        path = %path,
        links = books.peers.len(),
        "durable books opened (a Fulfill is relayed only once its balance change is on disk)"
    );
    Ok(Some((books, journal)))
}

/// Starts a node on listeners the caller has bound (tests bind `127.0.0.1:0`).
pub fn start(
    config: Config,
    btp: TcpListener,
    health: TcpListener,
) -> Result<NodeHandle, StartError> {
    let btp_addr = local_addr(&btp, "BTP")?;
    let health_addr = local_addr(&health, "health")?;
    let span = info_span!("node", nodeId = %config.node_id);
    let _enter = span.enter();
    config.validate()?;
    let books = open_books(&config)?;
    let node = Node::new(config, btp_addr, books)?;
    let config = node.config();

    let tasks = TaskTracker::new();
    // At most MAX_CONNECTIONS_LIMIT (validated by Node::new), far below
    // Semaphore::MAX_PERMITS, so this cannot panic.
    let connections = Arc::new(Semaphore::new(config.limits.max_connections));
    tasks.spawn(accept::accept_loop(node.clone(), btp, connections).in_current_span());
    tasks.spawn(http::serve(node.clone(), health).in_current_span());
    tasks.spawn(crate::memory::collect_periodically(node.shutdown().clone()));
    if let Some(r) = node.ccp() {
        ccp::log_start(config);
        tasks.spawn(ccp::drive(node.clone(), r.clone()).in_current_span());
    }
    for slot in node.peer_slots() {
        let span = info_span!("link", peerId = %slot.id);
        tasks.spawn(settle::settle_loop(node.clone(), slot.clone()).instrument(span.clone()));
        if slot.direction() == Direction::Outbound {
            tasks.spawn(dial::dial_loop(node.clone(), slot).instrument(span));
        }
    }
    info!(
        event = "connector_started",
        nodeId = %config.node_id,
        ilpAddress = %config.ilp_address,
        btpServerPort = btp_addr.port(),
        healthPort = health_addr.port(),
        peers = config.peers.len(),
        routes = node.routes().len(),
        receiver = node.receiver().is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "connector_started"
    );
    drop(_enter);
    Ok(NodeHandle {
        span,
        node,
        health_addr,
        tasks,
    })
}
