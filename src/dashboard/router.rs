//! The router of the page and its API: which method and path go to which
//! answer (the page's files, the snapshot, the events, sends, admin relays,
//! the dashboard's own `/health`), and the checks on what a request carries
//! (ids, JSON bodies of at most [`MAX_REQUEST_BYTES`]).

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::page_send::send_from_page;
use super::publish::events;
use super::relay::{LINK_ACTIONS, check_body, relay};
use super::response::{Body, error_response, full, json_response};
use super::shared::Shared;

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// Answers one request to the dashboard.
pub(super) async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
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
            if LINK_ACTIONS.contains(action) =>
        {
            let (node, path) = (node.to_string(), format!("/admin/links/{link}/{action}"));
            if !is_id(&node) || !is_id(link) {
                return error_response(StatusCode::BAD_REQUEST, "bad node or link id");
            }
            let action = action.to_string();
            match read_json(req).await {
                Ok(body) => match check_body(&action, &body) {
                    Ok(()) => relay(&shared, &node, Method::POST, &path, Some(body)).await,
                    Err(e) => error_response(StatusCode::BAD_REQUEST, e.to_string()),
                },
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

/// Whether `s` can be a node or link id (so it can go into a node's path).
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
