//! Starts and stops a dashboard: the state its tasks share (`Shared`), one
//! poller per node ([`super::poll`]), the publisher ([`super::publish`]), and
//! the HTTP server of the page ([`super::router`]) on the shared loop
//! ([`crate::http::server`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::DashboardConfig;
use super::poll::poll_loop;
use super::publish::publish_loop;
use super::router::route;
use super::shared::Shared;
use crate::http;

/// Most connections to the page at once; more are closed as accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an open connection has to finish its request when the dashboard stops.
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// A running dashboard.
pub struct DashboardHandle {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl DashboardHandle {
    /// Where the page is.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops polling and serving; waits for the tasks to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts the pollers and serves the page on `listener`. A configuration
/// out of range ([`DashboardConfig::validate`]) is an `InvalidInput` error
/// naming the variable.
pub fn start(config: DashboardConfig, listener: TcpListener) -> std::io::Result<DashboardHandle> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config));
    shared.publish();
    let tasks = TaskTracker::new();
    for i in 0..shared.nodes.len() {
        tasks.spawn(poll_loop(shared.clone(), i));
    }
    tasks.spawn(publish_loop(shared.clone()));
    let settings = http::server::Settings {
        name: "dashboard",
        refused_event: "dashboard_connection_refused",
        max_connections: MAX_CONNECTIONS,
        limit_variable: "dashboard::server::MAX_CONNECTIONS",
        // Server-sent events stay open for as long as the page does.
        connection_timeout: None,
        header_read_timeout: Some(HEADER_READ_TIMEOUT),
        drain_on_stop: Some(DRAIN_GRACE),
    };
    let router = shared.clone();
    tasks.spawn(http::server::serve(
        listener,
        settings,
        shared.shutdown.clone(),
        // Refusals are logged at debug only: a page left open in many tabs
        // is no attack worth a warning.
        || false,
        move |req| route(router.clone(), req),
    ));
    info!(%addr, nodes = shared.nodes.len(), "dashboard serving");
    Ok(DashboardHandle {
        addr,
        shutdown: shared.shutdown.clone(),
        tasks,
    })
}
