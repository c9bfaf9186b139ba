//! Sample `/health` bodies for the tests of `books`.

use serde_json::{Value, json};

use super::parse::{NodeBooks, parse_health};

/// A balance object as a node writes it.
pub(super) fn balance(
    committed: &str,
    pending_in: &str,
    pending_out: &str,
    settling: Value,
) -> Value {
    json!({
        "committed": committed,
        "pendingIncoming": pending_in,
        "pendingOutgoing": pending_out,
        "settling": settling,
        "settledOut": "3400",
        "settledIn": "3400",
        "settlement": "idle",
        "settlements": {"sent": 3, "accepted": 2, "refused": 1, "received": 2},
        "limits": {"minimum": null, "maximum": "1000000", "settleThreshold": "-100000", "settleTo": "0"}
    })
}

pub(super) fn quiet(committed: &str) -> Value {
    balance(committed, "0", "0", Value::Null)
}

/// A health report of `id` with `links` (peer id, relation, balance).
pub(super) fn health(id: &str, links: &[(&str, &str, Value)]) -> Vec<u8> {
    let links: Vec<Value> = links
        .iter()
        .map(|(peer, relation, b)| {
            json!({"id": peer, "relation": relation, "direction": "outbound",
                   "connected": true, "since": "2026-01-01T00:00:00.000Z",
                   "pendingRequests": 0, "fault": null, "balance": b})
        })
        .collect();
    serde_json::to_vec(&json!({
        "status": "healthy", "nodeId": id, "ilpAddress": format!("g.{id}"),
        "btpServerPort": 3000, "uptimeSeconds": 1.5, "version": "0.1.0",
        "books": "memory", "links": links
    }))
    .unwrap()
}

pub(super) fn node(id: &str, links: &[(&str, &str, Value)]) -> NodeBooks {
    parse_health(id, &health(id, links)).unwrap()
}
