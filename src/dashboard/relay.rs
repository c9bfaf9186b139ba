//! Admin actions from the page (`POST /api/admin/<node>/links/...`, `DELETE
//! /api/admin/<node>/faults`), relayed to that node's admin API with the
//! dashboard's token; the node is polled again at once so the page shows the
//! effect. [`LINK_ACTIONS`] are the link actions relayed, and
//! [`check_body`] what their bodies may hold before they leave the
//! dashboard (the node checks them again).

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tracing::info;

use super::books;
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

/// The actions on a link the page may relay (`POST
/// /admin/links/<id>/<action>` on the node).
pub(super) const LINK_ACTIONS: [&str; 5] = ["down", "up", "fault", "limits", "settle"];

/// The keys of a `limits` body, as the node's admin API names them.
pub(super) const LIMIT_KEYS: [&str; 4] = ["minimum", "maximum", "settleThreshold", "settleTo"];

/// Why a body from the page is not relayed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum BodyError {
    /// A key the action does not take.
    #[error("{action}: unknown field `{key}`; it takes {takes}")]
    UnknownField {
        /// The action.
        action: &'static str,
        /// The key, cut to a few characters.
        key: String,
        /// What it takes.
        takes: &'static str,
    },
    /// A limit that is neither null nor an integer.
    #[error(
        "limits: `{key}` must be null (no bound) or an integer as a string of digits, at most {} characters",
        books::MAX_AMOUNT_CHARS
    )]
    NotAnAmount {
        /// The key.
        key: &'static str,
    },
    /// `settlement_refused` not a boolean.
    #[error("fault: `settlement_refused` must be true or false")]
    NotABool,
}

/// Checks the body of link action `action` (one of [`LINK_ACTIONS`]):
/// `limits` takes only [`LIMIT_KEYS`], each null or an amount; `settle`
/// takes nothing; `fault`'s `settlement_refused`, when given, is a boolean.
/// The other fields of `down`, `up` and `fault` are the node's to check.
pub(super) fn check_body(action: &str, body: &Value) -> Result<(), BodyError> {
    let Some(o) = body.as_object() else {
        return Ok(()); // read_json gives only objects
    };
    let unknown = |action, takes, key: &str| BodyError::UnknownField {
        action,
        key: key.chars().take(32).collect(),
        takes,
    };
    match action {
        "limits" => {
            for (key, v) in o {
                let Some(key) = LIMIT_KEYS.iter().find(|k| **k == key.as_str()) else {
                    return Err(unknown(
                        "limits",
                        "minimum, maximum, settleThreshold, settleTo",
                        key,
                    ));
                };
                if !v.is_null() && books::amount(v).is_none() {
                    return Err(BodyError::NotAnAmount { key });
                }
            }
        }
        "settle" => {
            if let Some(key) = o.keys().next() {
                return Err(unknown("settle", "no fields", key));
            }
        }
        "fault" if o.get("settlement_refused").is_some_and(|v| !v.is_boolean()) => {
            return Err(BodyError::NotABool);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_settle_and_the_settlement_fault_are_checked_before_relaying() {
        let ok = [
            ("limits", json!({"minimum": "-1000", "maximum": null})),
            (
                "limits",
                json!({"settleThreshold": "-100", "settleTo": "0"}),
            ),
            ("limits", json!({"maximum": 5000})),
            ("limits", json!({})),
            ("settle", json!({})),
            (
                "fault",
                json!({"settlement_refused": true, "latency_ms": 0}),
            ),
            ("fault", json!({"latency_ms": 200})),
            ("down", json!({"seconds": 30})),
        ];
        for (action, body) in ok {
            assert_eq!(check_body(action, &body), Ok(()), "{action} {body}");
        }
        let e = check_body("limits", &json!({"min": "1"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `min`"), "{e}");
        assert!(e.to_string().contains("settleThreshold"), "{e}");
        for bad in [
            json!("1.5"),
            json!(1.5),
            json!("12a"),
            json!(true),
            json!([]),
        ] {
            let e = check_body("limits", &json!({ "maximum": bad })).unwrap_err();
            assert_eq!(e, BodyError::NotAnAmount { key: "maximum" }, "{bad}");
        }
        let long = "9".repeat(books::MAX_AMOUNT_CHARS + 1);
        assert!(check_body("limits", &json!({ "settleTo": long })).is_err());
        let e = check_body("settle", &json!({"amount": "5"})).unwrap_err();
        assert!(
            e.to_string().contains("settle: unknown field `amount`"),
            "{e}"
        );
        let e = check_body("fault", &json!({"settlement_refused": "yes"})).unwrap_err();
        assert_eq!(e, BodyError::NotABool);
        let key = "k".repeat(1000);
        let e = check_body("limits", &json!({ key: null })).unwrap_err();
        assert!(e.to_string().len() < 200, "the key is cut: {e}");
    }
}
