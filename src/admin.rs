//! The admin API on the health port, for test networks: list links with
//! their routes, counters and faults, hold a link down, bring it up, add latency and loss to it,
//! clear every fault. Off unless `ADMIN_TOKEN` (or `ADMIN_TOKEN_FILE`) is
//! set: then `/admin/*` answers 404. Each request carries
//! `Authorization: Bearer <token>`, compared in constant time (401 if not).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tracing::info;

use crate::config::Relation;
use crate::fault::{Fault, LossMode, MAX_DOWN_SECONDS, MAX_FAULT_LATENCY_MS};
use crate::node::stats::LinkTotals;
use crate::node::{Node, PeerSlot};
use crate::route_table::NextHop;

/// Every admin path starts with this.
pub const ADMIN_PREFIX: &str = "/admin/";
/// Largest request body accepted, in bytes.
pub const MAX_ADMIN_BODY: usize = 4096;

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "error": message }).to_string())
}

fn authorized(node: &Node, req: &Request<Incoming>) -> Option<bool> {
    let token = node.config().admin_token.as_ref()?;
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Some(bool::from(
        given.as_bytes().ct_eq(token.expose().as_bytes()),
    ))
}

#[derive(Serialize)]
struct LinkView {
    id: String,
    /// `peer` or `child`.
    relation: &'static str,
    connected: bool,
    /// Prepares from this link being handled now.
    in_flight: usize,
    /// Prefixes of the routing table whose next hop is this link, sorted.
    routes: Vec<String>,
    /// The link's counters (the same as its `/metrics` series).
    counters: LinkTotals,
    fault: Option<Fault>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DownBody {
    seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
    #[serde(default)]
    loss: f64,
    #[serde(default)]
    loss_mode: LossMode,
}

fn links(node: &Node) -> Response<Full<Bytes>> {
    let table = node.routes();
    let mut routes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (prefix, hop) in table.entries() {
        if let NextHop::Peer(slot) = hop {
            routes
                .entry(&*slot.id)
                .or_default()
                .push(prefix.to_string());
        }
    }
    let links: Vec<LinkView> = node
        .peer_slots()
        .iter()
        .map(|s| LinkView {
            id: s.id.to_string(),
            relation: match s.config.relation {
                Relation::Peer => "peer",
                Relation::Child => "child",
            },
            connected: s.link().is_some(),
            in_flight: s.inflight(),
            routes: routes.remove(&*s.id).unwrap_or_default(),
            counters: s.stats.totals(),
            fault: s.fault.snapshot(),
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({ "links": links }).to_string(),
    )
}

/// A request body that is not the JSON expected.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON body: {0}")]
struct BodyError(#[source] serde_json::Error);

/// The JSON `body`; an empty (or blank) body is `T::default()`.
fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(BodyError)
}

fn logged(slot: &PeerSlot) {
    info!(event = "link_fault_changed", peerId = %slot.id, fault = ?slot.fault.snapshot(), "link fault changed (admin API)");
}

/// Answers one `/admin/*` request.
pub async fn handle(node: &Arc<Node>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match authorized(node, &req) {
        None => {
            return error(
                StatusCode::NOT_FOUND,
                "the admin API is off (set ADMIN_TOKEN)",
            );
        }
        Some(false) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>)",
            );
        }
        Some(true) => {}
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body over {MAX_ADMIN_BODY} bytes or unreadable"),
            );
        }
    };
    let parts: Vec<&str> = path.trim_start_matches(ADMIN_PREFIX).split('/').collect();
    match (&method, parts.as_slice()) {
        (&Method::GET, ["links"]) => links(node),
        (&Method::DELETE, ["faults"]) => {
            for s in node.peer_slots() {
                s.fault.clear();
            }
            info!(
                event = "link_faults_cleared",
                "every link fault cleared (admin API)"
            );
            links(node)
        }
        (&Method::POST, ["links", id, action]) => {
            let Some(slot) = node.peer_slots().into_iter().find(|s| &*s.id == *id) else {
                return error(StatusCode::NOT_FOUND, &format!("no link with id {id:?}"));
            };
            match *action {
                "down" => {
                    let b: DownBody = match parse(&body) {
                        Ok(b) => b,
                        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
                    };
                    if b.seconds.is_some_and(|s| s > MAX_DOWN_SECONDS) {
                        return error(
                            StatusCode::BAD_REQUEST,
                            &format!("seconds: at most {MAX_DOWN_SECONDS}"),
                        );
                    }
                    slot.fault.down(b.seconds);
                    if let Some(link) = slot.link() {
                        link.close();
                    }
                }
                "up" => slot.fault.up(),
                "fault" => {
                    let b: FaultBody = match serde_json::from_slice(&body) {
                        Ok(b) => b,
                        Err(e) => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                &format!("invalid JSON body: {e}"),
                            );
                        }
                    };
                    if !(0.0..=1.0).contains(&b.loss) {
                        return error(StatusCode::BAD_REQUEST, "loss: a share from 0 to 1");
                    }
                    if b.latency_ms > MAX_FAULT_LATENCY_MS || b.jitter_ms > MAX_FAULT_LATENCY_MS {
                        return error(
                            StatusCode::BAD_REQUEST,
                            &format!("latency_ms and jitter_ms: at most {MAX_FAULT_LATENCY_MS}"),
                        );
                    }
                    slot.fault
                        .set_quality(b.latency_ms, b.jitter_ms, b.loss, b.loss_mode);
                }
                _ => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "unknown action; use down, up or fault",
                    );
                }
            }
            logged(&slot);
            links(node)
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "unknown admin request; try GET /admin/links, POST /admin/links/<id>/{down,up,fault}, DELETE /admin/faults",
        ),
    }
}
