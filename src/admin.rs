//! The admin API on the health port, for test networks: list links with
//! their routes, counters and faults, hold a link down, bring it up, add latency and loss to it,
//! clear every fault; set a link's limits, settle it now, record a
//! settlement made outside (`amountDiff`, as the JS admin's `POST
//! /balance`), refuse the peer's settlements. Off unless `ADMIN_TOKEN` (or `ADMIN_TOKEN_FILE`) is
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

use crate::config::BalanceLimits;
use crate::config::Relation;
use crate::fault::{Fault, LossMode, MAX_DOWN_SECONDS, MAX_FAULT_LATENCY_MS};
use crate::node::stats::LinkTotals;
use crate::node::{Node, PeerSlot};
use crate::report::{BalanceReport, balance_report};
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
    /// The link's books.
    balance: BalanceReport,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DownBody {
    seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    loss: Option<f64>,
    loss_mode: Option<LossMode>,
    /// Refuse incoming settlements as a stock JS peer does; alone in a body
    /// it leaves latency and loss as they are.
    settlement_refused: Option<bool>,
}

impl FaultBody {
    fn sets_quality(&self) -> bool {
        self.latency_ms.is_some()
            || self.jitter_ms.is_some()
            || self.loss.is_some()
            || self.loss_mode.is_some()
            || self.settlement_refused.is_none()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BalanceBody {
    amount_diff: Option<serde_json::Value>,
}

/// An amount in a JSON body: an integer, or a decimal string (128-bit).
fn amount(field: &str, v: &serde_json::Value) -> Result<i128, String> {
    let parsed = match v {
        serde_json::Value::String(s) => s.trim().parse::<i128>().ok(),
        serde_json::Value::Number(n) => n.as_i64().map(i128::from),
        _ => None,
    };
    parsed.ok_or_else(|| format!("{field}: an integer, or a string of digits"))
}

/// The limits `body` gives: each field present sets its limit (null
/// removes the bound), an absent one keeps `current`'s.
fn limits_from(body: &[u8], current: BalanceLimits) -> Result<BalanceLimits, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let mut limits = current;
    for (key, v) in &map {
        let value = if v.is_null() {
            None
        } else {
            Some(amount(key, v)?)
        };
        match key.as_str() {
            "minimum" => limits.minimum = value,
            "maximum" => limits.maximum = value,
            "settleThreshold" => limits.settle_threshold = value,
            "settleTo" => limits.settle_to = value.unwrap_or(0),
            _ => {
                return Err(format!(
                    "unknown field {key:?}; expected minimum, maximum, settleThreshold, settleTo"
                ));
            }
        }
    }
    limits
        .validate()
        .map_err(|e| format!("{}: {e}", e.field().js_name()))?;
    Ok(limits)
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
            balance: balance_report(s),
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
                    if b.sets_quality() {
                        let loss = b.loss.unwrap_or(0.0);
                        let (latency, jitter) =
                            (b.latency_ms.unwrap_or(0), b.jitter_ms.unwrap_or(0));
                        if !(0.0..=1.0).contains(&loss) {
                            return error(StatusCode::BAD_REQUEST, "loss: a share from 0 to 1");
                        }
                        if latency > MAX_FAULT_LATENCY_MS || jitter > MAX_FAULT_LATENCY_MS {
                            return error(
                                StatusCode::BAD_REQUEST,
                                &format!(
                                    "latency_ms and jitter_ms: at most {MAX_FAULT_LATENCY_MS}"
                                ),
                            );
                        }
                        slot.fault.set_quality(
                            latency,
                            jitter,
                            loss,
                            b.loss_mode.unwrap_or_default(),
                        );
                    }
                    if let Some(refused) = b.settlement_refused {
                        slot.fault.set_settlement_refused(refused);
                    }
                }
                "limits" => {
                    let current = slot.account.snapshot().limits;
                    let limits = match limits_from(&body, current) {
                        Ok(l) => l,
                        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
                    };
                    if let Err(e) = slot.account.set_limits(limits) {
                        return error(StatusCode::BAD_REQUEST, &e.to_string());
                    }
                    info!(event = "link_limits_changed", peerId = %slot.id, limits = ?limits, "link limits changed (admin API)");
                    return links(node);
                }
                "settle" => {
                    if let Err(e) = slot.account.request_settlement() {
                        return error(StatusCode::CONFLICT, &e.to_string());
                    }
                    info!(event = "settlement_requested", peerId = %slot.id, "settlement requested (admin API)");
                    return links(node);
                }
                "balance" => {
                    let b: BalanceBody = match parse(&body) {
                        Ok(b) => b,
                        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
                    };
                    let Some(v) = b.amount_diff else {
                        return error(StatusCode::BAD_REQUEST, "amountDiff: required");
                    };
                    let diff = match amount("amountDiff", &v) {
                        Ok(d) => d,
                        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
                    };
                    if let Err(e) = slot.account.adjust(&slot.id, diff, node.journal()) {
                        return error(StatusCode::CONFLICT, &e.to_string());
                    }
                    info!(event = "settlement_recorded", peerId = %slot.id, amountDiff = %diff, "a settlement made outside recorded (admin API)");
                    return links(node);
                }
                _ => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "unknown action; use down, up, fault, limits, settle or balance",
                    );
                }
            }
            logged(&slot);
            links(node)
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "unknown admin request; try GET /admin/links, POST /admin/links/<id>/{down,up,fault,limits,settle,balance}, DELETE /admin/faults",
        ),
    }
}
