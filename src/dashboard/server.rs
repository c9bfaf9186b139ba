//! The dashboard's tasks: one poller per node (so a slow node never delays
//! the others), a publisher that turns the nodes' state into a snapshot after
//! every poll round, and the HTTP server of the page and its API.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::client::{self, ClientError};
use super::metrics::NodeMetrics;
use super::state::{self, Capability, Fault, Health, NodeState, Routing, SendRecord, Snapshot};
use super::{DashboardConfig, NodeTarget};
use crate::send::{self, SendSettings};

/// Longest gap between two server-sent events.
pub const SSE_MAX_GAP: Duration = Duration::from_secs(1);
/// How often an endpoint a node lacked is asked for again.
pub const PROBE_AGAIN: Duration = Duration::from_secs(5);
/// Most connections to the page at once; more are closed as accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most packets one send from the page.
pub const MAX_SEND_COUNT: u64 = 10_000;
/// Most packets in flight in one send.
pub const MAX_SEND_CONCURRENCY: usize = 256;
/// Packets in flight in a send when the page does not say.
pub const DEFAULT_SEND_CONCURRENCY: usize = 32;
/// Expiry of packets sent from the page.
pub const SEND_EXPIRY_MS: u64 = 10_000;
/// Sends running at once.
pub const MAX_CONCURRENT_SENDS: usize = 4;
/// Pause after a failed accept.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

type Body = UnsyncBoxBody<Bytes, Infallible>;

struct Shared {
    config: DashboardConfig,
    nodes: Vec<Mutex<NodeState>>,
    wake: Vec<Notify>,
    sends: Mutex<VecDeque<SendRecord>>,
    send_permits: Semaphore,
    updates: watch::Sender<Arc<String>>,
    shutdown: CancellationToken,
}

impl Shared {
    fn snapshot(&self) -> Snapshot {
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

    fn publish(&self) {
        let json = serde_json::to_string(&self.snapshot()).expect("snapshot serializes");
        self.updates.send_replace(Arc::new(json));
    }

    fn node_index(&self, name: &str) -> Option<usize> {
        self.config.nodes.iter().position(|n| n.name == name)
    }
}

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
    let shared = Arc::new(Shared {
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
    });
    shared.publish();
    let tasks = TaskTracker::new();
    for i in 0..shared.nodes.len() {
        tasks.spawn(poll_loop(shared.clone(), i));
    }
    tasks.spawn(publish_loop(shared.clone()));
    tasks.spawn(accept_loop(shared.clone(), listener, tasks.clone()));
    info!(%addr, nodes = shared.nodes.len(), "dashboard serving");
    Ok(DashboardHandle {
        addr,
        shutdown: shared.shutdown.clone(),
        tasks,
    })
}

// ---------------------------------------------------------------- polling

/// When each optional endpoint may next be asked for, after it was missing.
struct Probes {
    metrics: Instant,
    routes: Instant,
    admin: Instant,
}

impl Probes {
    fn now() -> Self {
        let t = Instant::now();
        Self {
            metrics: t,
            routes: t,
            admin: t,
        }
    }
}

async fn poll_loop(shared: Arc<Shared>, i: usize) {
    let mut tick = tokio::time::interval(shared.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let target = shared.config.nodes[i].clone();
    let mut probes = Probes::now();
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = shared.wake[i].notified() => {}
        }
        poll_node(&shared, i, &target, &mut probes).await;
    }
}

fn get<'a>(
    target: &'a NodeTarget,
    path: &'a str,
    token: Option<&'a crate::config::Secret>,
) -> impl Future<Output = Result<client::Answer, ClientError>> + 'a {
    client::request(&target.health, Method::GET, path, token, None)
}

async fn poll_node(shared: &Shared, i: usize, target: &NodeTarget, probes: &mut Probes) {
    let node = &shared.nodes[i];
    let health = match get(target, crate::report::HEALTH_PATH, None).await {
        Ok(a) if a.status == 200 || a.status == 503 => serde_json::from_slice::<Health>(&a.body)
            .map_err(|e| format!("{}: /health is not a health report: {e}", target.health)),
        Ok(a) => Err(format!(
            "{}: /health answered HTTP {}",
            target.health, a.status
        )),
        Err(e) => Err(e.to_string()),
    };
    let health = match health {
        Ok(h) => h,
        Err(e) => {
            let mut n = node.lock().expect("node state lock");
            if n.reachable != Some(false) {
                warn!(node = %target.name, error = %e, "node not answering");
            }
            n.health_failed(e);
            // Ask for everything again once it is back: it may be a new build.
            *probes = Probes::now();
            return;
        }
    };
    {
        let mut n = node.lock().expect("node state lock");
        if n.reachable != Some(true) {
            info!(node = %target.name, "node answering");
        }
        n.health_ok(health);
    }
    let now = Instant::now();
    let token = shared.config.admin_token.as_ref();
    let want_metrics = now >= probes.metrics;
    let want_routes = now >= probes.routes;
    let want_admin = token.is_some() && now >= probes.admin;
    let (metrics, routes, admin) = tokio::join!(
        async {
            if want_metrics {
                Some(get(target, "/metrics", None).await)
            } else {
                None
            }
        },
        async {
            if want_routes {
                Some(get(target, "/routes", token).await)
            } else {
                None
            }
        },
        async {
            if want_admin {
                Some(get(target, "/admin/links", token).await)
            } else {
                None
            }
        },
    );
    let later = now + PROBE_AGAIN;
    let mut routes_from_admin = false;
    {
        let mut n = node.lock().expect("node state lock");
        match metrics {
            Some(Ok(a)) if a.ok() => {
                n.metrics_ok(Instant::now(), NodeMetrics::from_text(&a.text()))
            }
            Some(Ok(a)) => {
                n.metrics_cap =
                    Capability::no(format!("no /metrics on this node yet (HTTP {})", a.status));
                n.metrics = None;
                probes.metrics = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "metrics poll failed"),
            None => {}
        }
        match admin {
            Some(Ok(a)) if a.ok() => {
                n.admin_cap = Capability::yes();
                n.admin_faults = serde_json::from_slice::<Value>(&a.body)
                    .ok()
                    .and_then(|v| v.get("links").and_then(Value::as_array).cloned())
                    .unwrap_or_default()
                    .iter()
                    .take(state::MAX_LINKS)
                    .filter_map(|l| {
                        let id = l.get("id")?.as_str()?.to_string();
                        Some((id, Fault::from_json(l.get("fault")?)?))
                    })
                    .collect();
            }
            Some(Ok(a)) if a.status == 401 || a.status == 403 => {
                n.admin_cap = Capability::no(format!(
                    "the node refused the dashboard's admin token (HTTP {}); check DASHBOARD_ADMIN_TOKEN against its ADMIN_TOKEN",
                    a.status
                ));
                probes.admin = later;
            }
            Some(Ok(a)) => {
                n.admin_cap = Capability::no(format!(
                    "no admin API on this node (HTTP {}); it needs ADMIN_TOKEN",
                    a.status
                ));
                n.admin_faults.clear();
                probes.admin = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "admin poll failed"),
            None if token.is_none() => {
                n.admin_cap =
                    Capability::no("the dashboard has no admin token (DASHBOARD_ADMIN_TOKEN)")
            }
            None => {}
        }
        match routes {
            Some(Ok(a)) if a.ok() => {
                let table = serde_json::from_slice::<Value>(&a.body)
                    .ok()
                    .as_ref()
                    .and_then(Routing::from_json);
                n.routes_cap = if table.is_some() {
                    Capability::yes()
                } else {
                    Capability::no("/routes answered something else than a routing table")
                };
                n.routing = table;
            }
            Some(Ok(_)) if n.admin_cap.available => routes_from_admin = true,
            Some(Ok(a)) => {
                n.routes_cap = Capability::no(format!(
                    "this node does not show its routing table yet (no /routes, HTTP {})",
                    a.status
                ));
                n.routing = None;
                probes.routes = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "routes poll failed"),
            None => {}
        }
    }
    if routes_from_admin {
        let a = get(target, "/admin/routes", token).await;
        let mut n = node.lock().expect("node state lock");
        let table = a
            .ok()
            .filter(client::Answer::ok)
            .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
            .as_ref()
            .and_then(Routing::from_json);
        n.routes_cap = if table.is_some() {
            Capability::yes()
        } else {
            probes.routes = later;
            Capability::no("this node does not show its routing table (no /routes)")
        };
        n.routing = table;
    }
}

async fn publish_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => shared.publish(),
        }
    }
}

// ---------------------------------------------------------------- serving

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tasks: TaskTracker) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    error!(error = %e, "accepting a dashboard connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(%peer, "too many dashboard connections; closing");
            continue;
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let svc_shared = shared.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = svc_shared.clone();
                async move { Ok::<_, Infallible>(route(shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => if let Err(e) = r { debug!(error = %e, "dashboard connection error") },
                _ = shared.shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(body.into()).boxed_unsync())
        .expect("static response parts are valid")
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    full(status, "application/json", v.to_string())
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({ "error": message.into() }))
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, [""] | ["index.html"]) => {
            full(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML)
        }
        (&Method::GET, ["assets", "app.css"]) => {
            full(StatusCode::OK, "text/css; charset=utf-8", APP_CSS)
        }
        (&Method::GET, ["assets", "app.js"]) => {
            full(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS)
        }
        (&Method::GET, ["assets", "favicon.svg"] | ["favicon.ico"]) => {
            full(StatusCode::OK, "image/svg+xml", FAVICON_SVG)
        }
        (&Method::GET, ["api", "state"]) => full(
            StatusCode::OK,
            "application/json",
            serde_json::to_string(&shared.snapshot()).expect("snapshot serializes"),
        ),
        (&Method::GET, ["api", "events"]) => events(&shared),
        (&Method::GET, ["health"]) => dashboard_health(&shared),
        (&Method::POST, ["api", "send"]) => match read_json(req).await {
            Ok(body) => send_from_page(&shared, body).await,
            Err(r) => r,
        },
        (&Method::POST, ["api", "admin", node, "links", link, action])
            if matches!(*action, "down" | "up" | "fault") =>
        {
            let (node, path) = (node.to_string(), format!("/admin/links/{link}/{action}"));
            if !is_id(&node) || !is_id(link) {
                return error_response(StatusCode::BAD_REQUEST, "bad node or link id");
            }
            match read_json(req).await {
                Ok(body) => relay(&shared, &node, Method::POST, &path, Some(body)).await,
                Err(r) => r,
            }
        }
        (&Method::DELETE, ["api", "admin", node, "faults"]) if is_id(node) => {
            relay(&shared, node, Method::DELETE, "/admin/faults", None).await
        }
        (_, ["api", ..]) => error_response(StatusCode::NOT_FOUND, format!("no {method} {path}")),
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; the network page is at /",
        ),
    }
}

/// `GET /health`: 200 while the page is served (a container health check,
/// `ilp-connector health --addr 127.0.0.1:<DASHBOARD_PORT>`), whatever the
/// nodes do: a node that is down is what the page is for, not a reason to
/// restart it. The body says how many nodes answer.
fn dashboard_health(shared: &Shared) -> Response<Body> {
    let snap = shared.snapshot();
    let answering = snap
        .nodes
        .iter()
        .filter(|n| matches!(n.state, "up" | "unhealthy"))
        .count();
    json_response(
        StatusCode::OK,
        &json!({
            "status": "serving",
            "nodes": snap.nodes.len(),
            "nodesAnswering": answering,
            "nodesUp": snap.nodes.iter().filter(|n| n.state == "up").count(),
        }),
    )
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Reads a JSON request body (empty is `{}`); refuses other content types.
async fn read_json(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        ));
    }
    let body = Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|_| {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_REQUEST_BYTES} bytes"),
            )
        })?
        .to_bytes();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "body must be a JSON object",
        ));
    }
    Ok(v)
}

fn events(shared: &Shared) -> Response<Body> {
    let rx = shared.updates.subscribe();
    let stop = shared.shutdown.clone();
    let stream =
        futures_util::stream::unfold((rx, true, stop), |(mut rx, first, stop)| async move {
            if !first {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    r = rx.changed() => if r.is_err() { return None },
                    _ = tokio::time::sleep(SSE_MAX_GAP) => {}
                }
            }
            let json = rx.borrow_and_update().clone();
            let mut text = String::with_capacity(json.len() + 32);
            if first {
                text.push_str("retry: 1000\n\n");
            }
            text.push_str("event: state\ndata: ");
            text.push_str(&json);
            text.push_str("\n\n");
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(text))),
                (rx, false, stop),
            ))
        });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())))
        .expect("static response parts are valid")
}

/// What the page asks to send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    from: String,
    to: String,
    #[serde(default = "one")]
    count: u64,
    concurrency: Option<usize>,
    #[serde(default = "one")]
    amount: u64,
}

fn one() -> u64 {
    1
}

async fn send_from_page(shared: &Shared, body: Value) -> Response<Body> {
    let r: SendRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, format!("bad send request: {e}")),
    };
    let Some(secret) = &shared.config.sender_secret else {
        return error_response(
            StatusCode::CONFLICT,
            "sending is off: give the dashboard DASHBOARD_SENDER_SECRET",
        );
    };
    if r.count == 0 || r.count > MAX_SEND_COUNT {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("count must be 1..={MAX_SEND_COUNT}"),
        );
    }
    let concurrency = r
        .concurrency
        .unwrap_or(DEFAULT_SEND_CONCURRENCY)
        .min(r.count as usize);
    if concurrency == 0 || concurrency > MAX_SEND_CONCURRENCY {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("concurrency must be 1..={MAX_SEND_CONCURRENCY}"),
        );
    }
    let (Some(from), Some(to)) = (shared.node_index(&r.from), shared.node_index(&r.to)) else {
        return error_response(StatusCode::NOT_FOUND, "from and to must be dashboard nodes");
    };
    let (url, destination) = {
        let f = shared.nodes[from].lock().expect("node state lock");
        let t = shared.nodes[to].lock().expect("node state lock");
        let dest = t
            .health
            .as_ref()
            .map(|h| format!("{}.receiver", h.ilp_address));
        (f.btp_url(), dest)
    };
    let Some(url) = url else {
        return error_response(
            StatusCode::CONFLICT,
            format!(
                "{}'s BTP URL is unknown: it has not answered yet (or set DASHBOARD_BTP_URLS)",
                r.from
            ),
        );
    };
    let Some(destination) = destination else {
        return error_response(
            StatusCode::CONFLICT,
            format!("{}'s ILP address is unknown: it has not answered yet", r.to),
        );
    };
    let Ok(_permit) = shared.send_permits.try_acquire() else {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{MAX_CONCURRENT_SENDS} sends are running; wait for one to finish"),
        );
    };
    let mut args = SendSettings::new(
        &url,
        &shared.config.sender_username,
        secret.expose(),
        &destination,
    );
    args.receiver_secret = shared.config.receiver_secret.clone();
    args.count = r.count;
    args.concurrency = concurrency;
    args.amount = r.amount;
    args.expiry_ms = SEND_EXPIRY_MS;
    let result = send::run(&args).await;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (record, response) = match result {
        Ok(summary) => {
            info!(from = %crate::logging::shown(&r.from), to = %crate::logging::shown(&r.to), sent = summary.sent, fulfilled = summary.fulfilled, "send from the page");
            let v = json!({ "ok": true, "summary": summary });
            (
                SendRecord {
                    at,
                    from: r.from,
                    to: r.to,
                    count: r.count,
                    summary: Some(summary),
                    error: None,
                },
                json_response(StatusCode::OK, &v),
            )
        }
        Err(e) => {
            let message = e.to_string();
            (
                SendRecord {
                    at,
                    from: r.from,
                    to: r.to,
                    count: r.count,
                    summary: None,
                    error: Some(message.clone()),
                },
                json_response(StatusCode::OK, &json!({ "ok": false, "error": message })),
            )
        }
    };
    {
        let mut sends = shared.sends.lock().expect("sends lock");
        sends.push_front(record);
        sends.truncate(state::MAX_SENDS);
    }
    shared.publish();
    response
}

async fn relay(
    shared: &Shared,
    node: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response<Body> {
    let Some(i) = shared.node_index(node) else {
        return error_response(StatusCode::NOT_FOUND, format!("no node {node}"));
    };
    let Some(token) = &shared.config.admin_token else {
        return error_response(
            StatusCode::CONFLICT,
            "the dashboard has no admin token (DASHBOARD_ADMIN_TOKEN)",
        );
    };
    let target = &shared.config.nodes[i];
    let body = body.map(|b| Bytes::from(b.to_string()));
    let answer = client::request(&target.health, method.clone(), path, Some(token), body).await;
    shared.wake[i].notify_one();
    match answer {
        Ok(a) => {
            info!(node, %method, path, status = a.status, "admin action relayed");
            let node_body =
                serde_json::from_slice::<Value>(&a.body).unwrap_or(Value::String(a.text()));
            json_response(
                StatusCode::OK,
                &json!({ "ok": a.ok(), "node": node, "status": a.status, "body": node_body }),
            )
        }
        Err(e) => json_response(
            StatusCode::OK,
            &json!({ "ok": false, "node": node, "error": e.to_string() }),
        ),
    }
}
