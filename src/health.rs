//! The health endpoint: `GET /health` answers a JSON report computed at each
//! request (200 when healthy, 503 when not), and [`probe`] checks it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tracing::{Instrument, debug, error, warn};

use crate::config::Relation;
use crate::link::Direction;
use crate::node::Node;

/// Path of the health report.
pub const HEALTH_PATH: &str = "/health";
/// Path of the routing report.
pub const ROUTES_PATH: &str = "/routes";
/// How long [`probe`] waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer a client of the health port reads ([`exchange`]).
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;
/// How long one health connection may stay open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The health report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// The node id.
    pub node_id: String,
    /// The node's ILP address.
    pub ilp_address: String,
    /// The BTP server port.
    pub btp_server_port: u16,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Crate version.
    pub version: &'static str,
    /// Every configured link.
    pub links: Vec<LinkReport>,
}

/// One link in the health report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    /// Peer id.
    pub id: String,
    /// `peer` or `child`.
    pub relation: Relation,
    /// `outbound` (this node dials) or `inbound`.
    pub direction: Direction,
    /// Whether the link is up now.
    pub connected: bool,
    /// Since when it has been in that state (RFC 3339).
    pub since: String,
    /// Requests sent on it still waiting for a reply.
    pub pending_requests: usize,
    /// Faults injected through the admin API, or null.
    pub fault: Option<crate::fault::Fault>,
}

/// The report, computed now.
pub fn report(node: &Node) -> Report {
    let links = node
        .peer_slots()
        .iter()
        .map(|s| {
            let link = s.link();
            LinkReport {
                id: s.id.to_string(),
                relation: s.config.relation,
                direction: s.direction(),
                connected: link.is_some(),
                since: s
                    .since()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                pending_requests: link.map_or(0, |l| l.pending_requests()),
                fault: s.fault.snapshot(),
            }
        })
        .collect();
    Report {
        status: if node.is_healthy() {
            "healthy"
        } else {
            "unhealthy"
        },
        node_id: node.config().node_id.clone(),
        ilp_address: node.config().ilp_address.to_string(),
        btp_server_port: node.btp_addr().port(),
        uptime_seconds: (node.uptime().as_millis() as f64) / 1000.0,
        version: env!("CARGO_PKG_VERSION"),
        links,
    }
}

/// The routing report (`GET /routes`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutesReport {
    /// `ccp` or `static`.
    pub routing: crate::config::RoutingMode,
    /// Our routing table id (a UUID), with CCP.
    pub routing_table_id: Option<String>,
    /// Our table's current epoch, with CCP.
    pub epoch: Option<u32>,
    /// The live routing table, sorted by prefix.
    pub routes: Vec<RouteReport>,
    /// What CCP knows of each peer (empty for static routing).
    pub peers: Vec<CcpPeerReport>,
}

/// One route of the live table.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteReport {
    /// Address prefix.
    pub prefix: String,
    /// Peer id of the next hop, or `local`.
    pub next_hop: String,
    /// The path the next hop announced (learned routes only).
    pub path: Vec<String>,
    /// `local` (our address, children), `static` (ILP_ROUTES, the config
    /// file), `learned` (CCP) or `link` (a peer's own address).
    pub origin: &'static str,
}

/// CCP state of one peer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CcpPeerReport {
    /// Peer id.
    pub id: String,
    /// Whether its link is up.
    pub up: bool,
    /// Whether it asked for our routes (sync mode).
    pub sending: bool,
    /// The epoch of our table it has.
    pub sent_epoch: u32,
    /// Its routing table id as we know it.
    pub routing_table_id: String,
    /// The epoch of its table we have.
    pub epoch: u32,
    /// Routes we hold from it.
    pub routes: usize,
}

/// The routing report, computed now.
pub fn routes_report(node: &Node) -> RoutesReport {
    let table = node.routes();
    let routes = table
        .entries()
        .into_iter()
        .map(|(prefix, hop)| {
            let (origin, path) = crate::node::routing::origin_of(node, prefix, hop);
            RouteReport {
                prefix: prefix.to_string(),
                next_hop: match hop {
                    crate::routing::NextHop::Local => "local".into(),
                    crate::routing::NextHop::Peer(s) => s.id.to_string(),
                },
                path,
                origin,
            }
        })
        .collect();
    let (routing_table_id, epoch, peers) = match node.ccp() {
        Some(r) => {
            let sp = r.speaker();
            let peers = sp
                .peer_status()
                .into_iter()
                .map(|p| CcpPeerReport {
                    id: p.peer.to_string(),
                    up: p.up,
                    sending: p.sending,
                    sent_epoch: p.sent_epoch,
                    routing_table_id: p.routing_table_id.to_string(),
                    epoch: p.epoch,
                    routes: p.routes,
                })
                .collect();
            (
                Some(sp.routing_table_id().to_string()),
                Some(sp.current_epoch()),
                peers,
            )
        }
        None => (None, None, Vec::new()),
    };
    RoutesReport {
        routing: node.config().routing.mode,
        routing_table_id,
        epoch,
        routes,
        peers,
    }
}

fn respond(node: &Node, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    if req.method() != Method::GET {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"use GET"}"#.into(),
        );
    }
    match req.uri().path() {
        "/" | HEALTH_PATH => {
            let r = report(node);
            let status = if r.status == "healthy" {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(
                status,
                serde_json::to_string(&r).expect("report serializes"),
            )
        }
        ROUTES_PATH => json(
            StatusCode::OK,
            serde_json::to_string(&routes_report(node)).expect("report serializes"),
        ),
        crate::metrics::METRICS_PATH => Response::builder()
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Full::new(Bytes::from(crate::metrics::render(node))))
            .expect("static response parts are valid"),
        _ => json(
            StatusCode::NOT_FOUND,
            format!(r#"{{"error":"not found; try {HEALTH_PATH} or {ROUTES_PATH}"}}"#),
        ),
    }
}

/// Serves the health endpoint until the node stops.
/// At most `MAX_HEALTH_CONNECTIONS` connections are served at once; more
/// are closed as they are accepted.
pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    let limit = node.config().limits.max_health_connections;
    let open = Arc::new(tokio::sync::Semaphore::new(limit));
    loop {
        let (tcp, remote) = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    error!(error = %e, "accepting a health connection failed");
                    tokio::time::sleep(crate::node::ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if node.first_warning_in_a_while("MAX_HEALTH_CONNECTIONS") {
                warn!(event = "health_connection_refused", remote = %remote, limit, "too many health connections (MAX_HEALTH_CONNECTIONS); closing the new one (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event = "health_connection_refused", remote = %remote, limit, "too many health connections (MAX_HEALTH_CONNECTIONS)");
            }
            drop(tcp);
            continue;
        };
        let node = node.clone();
        tokio::spawn(
            async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let node = node.clone();
                    async move {
                        let resp = if req.uri().path().starts_with(crate::admin::ADMIN_PREFIX) {
                            crate::admin::handle(&node, req).await
                        } else {
                            respond(&node, &req)
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service);
                match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                    Ok(Err(e)) => debug!(error = %e, "health connection error"),
                    Err(_) => debug!("health connection timed out"),
                    Ok(Ok(())) => {}
                }
            }
            .in_current_span(),
        );
    }
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Could not connect or talk HTTP.
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    /// No answer in time.
    #[error("no answer from {0} within {PROBE_TIMEOUT:?}")]
    Timeout(String),
    /// The request could not be built (e.g. a token that is no valid header value).
    #[error("cannot build the request: {0}")]
    Invalid(String),
}

/// Fetches the health report at `host:port`; returns the HTTP status and body.
pub async fn probe(addr: &str) -> Result<(u16, String), ProbeError> {
    probe_path(addr, HEALTH_PATH).await
}

/// Fetches `path` (e.g. [`ROUTES_PATH`]) at `host:port`; returns the HTTP
/// status and body.
pub async fn probe_path(addr: &str, path: &str) -> Result<(u16, String), ProbeError> {
    request(addr, Method::GET, path, None, Bytes::new()).await
}

/// One HTTP/1.1 request to `host:port` (the health port: `/health`,
/// `/routes`, `/admin/*`), with `Authorization: Bearer <bearer>` when given
/// and a JSON `body`; returns the HTTP status and body, within
/// [`PROBE_TIMEOUT`].
pub async fn request(
    addr: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Bytes,
) -> Result<(u16, String), ProbeError> {
    let (status, body) = exchange(addr, method, path, bearer, body, PROBE_TIMEOUT).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The HTTP/1.1 client of the health port, for the CLI's probes and the
/// dashboard alike: one connection per request, `timeout` on the whole
/// exchange (connect, send, read), at most [`MAX_ANSWER_BYTES`] of answer.
pub async fn exchange(
    addr: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes), ProbeError> {
    let unreachable =
        |e: &dyn std::fmt::Display| ProbeError::Unreachable(addr.to_string(), e.to_string());
    let fut = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr);
        if let Some(token) = bearer {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ProbeError::Invalid(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ProbeError::Timeout(addr.to_string()))?
}
