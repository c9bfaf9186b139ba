//! Admin actions from the page (`POST /api/admin/<node>/links/...`, `DELETE
//! /api/admin/<node>/faults`), relayed to that node's admin API with the
//! dashboard's token; the node is polled again at once so the page shows the
//! effect.

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tracing::info;

use super::client;
use super::response::{Body, error_response, json_response};
use super::shared::Shared;

/// Sends `method path` (with `body`) to `node`'s admin API and answers
/// `{"ok", "node", "status", "body"}`, or `{"ok": false, "error"}`.
pub(super) async fn relay(
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
