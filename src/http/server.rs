//! The one HTTP/1 server loop, run by the node's health port and by the
//! dashboard: accept until cancelled; at most [`Settings::max_connections`]
//! connections at once (one over it is closed as it is accepted, with a
//! warning that names the limit's variable, repeats at debug as the caller's
//! filter says); a pause after a failed accept; bounds on each connection's
//! time; and the caller's handler for every request. What is served is the
//! caller's: this loop knows no path.

use std::convert::Infallible;
use std::future::{Future, pending};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, warn};

/// Pause after a failed accept (out of file descriptors, say), so the loop
/// does not spin on an error that lasts.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How one server treats its connections.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the logs call its connections (`health`, `dashboard`), as in
    /// "accepting a health connection failed".
    pub name: &'static str,
    /// The `event` field of the log line of a refused connection
    /// (`health_connection_refused`).
    pub refused_event: &'static str,
    /// Most connections served at once; one more is closed as it is
    /// accepted. At most `Semaphore::MAX_PERMITS` (callers validate it).
    pub max_connections: usize,
    /// What sets `max_connections` (its variable), named in the refusal.
    pub limit_variable: &'static str,
    /// Longest a connection may stay open, or `None` where answers are
    /// long-lived (server-sent events).
    pub connection_timeout: Option<Duration>,
    /// Time a client has to send its request headers, or `None`.
    pub header_read_timeout: Option<Duration>,
    /// At the stop: `Some(grace)` asks each open connection to finish its
    /// request and close, gives it `grace` to, and [`serve`] returns once
    /// all have ended; `None` leaves them to end on their own (within
    /// `connection_timeout`) and returns at once.
    pub drain_on_stop: Option<Duration>,
}

/// Serves `handler` on `listener` until `shutdown` is cancelled.
///
/// A connection over the limit is closed as it is accepted and logged with
/// [`Settings::refused_event`]: at warn when `first_warning()` says it is the
/// first in a minute (the message says repeats are at debug for a minute;
/// pass `|| false` to log every refusal at debug), else at debug.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
    first_warning: impl Fn() -> bool,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let settings = Arc::new(settings);
    let open = Arc::new(Semaphore::new(settings.max_connections));
    let connections = TaskTracker::new();
    loop {
        let (tcp, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    error!(error = %e, "accepting a {} connection failed", settings.name);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let (event, name, variable) = (
                settings.refused_event,
                settings.name,
                settings.limit_variable,
            );
            let limit = settings.max_connections;
            if first_warning() {
                warn!(event, remote = %remote, limit, "too many {name} connections ({variable}); closing the new one (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event, remote = %remote, limit, "too many {name} connections ({variable})");
            }
            drop(tcp);
            continue;
        };
        connections.spawn(
            connection(
                tcp,
                permit,
                settings.clone(),
                shutdown.clone(),
                handler.clone(),
            )
            .in_current_span(),
        );
    }
    if settings.drain_on_stop.is_some() {
        connections.close();
        connections.wait().await;
    }
}

/// Serves one connection within the bounds of `settings`.
async fn connection<H, F, B>(
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
    settings: Arc<Settings>,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let answer = handler(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    if let Some(t) = settings.header_read_timeout {
        builder.timer(TokioTimer::new()).header_read_timeout(t);
    }
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let deadline = async {
        match settings.connection_timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => pending().await,
        }
    };
    let stop = async {
        match settings.drain_on_stop {
            Some(grace) => {
                shutdown.cancelled().await;
                grace
            }
            None => pending().await,
        }
    };
    let name = settings.name;
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r { debug!(error = %e, "{name} connection error") },
        _ = deadline => debug!("{name} connection timed out"),
        grace = stop => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}
