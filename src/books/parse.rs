//! One node's `GET /health`, read for its books: the `nodeId`, each link's
//! id and relation, and its `balance` (decimal strings of `i128`, never
//! floats). Pure; a missing or malformed `balance` is an error naming the
//! node, the link and the field.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{AmountError, BalanceError, NodeError};
use crate::config::validate_node_id;
use crate::logging::shown;

/// An amount of a balance: an `i128`, written as a decimal string in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(pub i128);

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// One end's balance with one peer (the fields of `links[].balance` this
/// command reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// Committed balance; positive = the peer owes this node.
    pub committed: Amount,
    /// Prepares from the peer admitted, not yet answered.
    pub pending_incoming: Amount,
    /// Prepares to the peer reserved, not yet answered.
    pub pending_outgoing: Amount,
    /// A settlement sent, not yet answered.
    pub settling: Option<Amount>,
    /// Total this node paid the peer.
    pub settled_out: Amount,
    /// Total the peer paid this node.
    pub settled_in: Amount,
}

impl Balance {
    /// Nothing pending either way and no settlement in flight.
    pub fn is_quiet(&self) -> bool {
        self.pending_incoming.0 == 0 && self.pending_outgoing.0 == 0 && self.settling.is_none()
    }
}

/// One link as one node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnd {
    /// The peer's id (for a link between two nodes: the other's `NODE_ID`).
    pub peer: String,
    /// `peer` or `child`, as reported (empty when absent).
    pub relation: String,
    /// This end's balance with that peer.
    pub balance: Balance,
}

/// One node's report: its id and its links' balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBooks {
    /// The name given in `BOOKS_NODES`.
    pub name: String,
    /// The `nodeId` it reports.
    pub node_id: String,
    /// Its links, in its order.
    pub links: Vec<LinkEnd>,
}

/// The part of `/health` read here; anything else is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHealth {
    node_id: String,
    links: Vec<RawLink>,
}

#[derive(Deserialize)]
struct RawLink {
    id: String,
    #[serde(default)]
    relation: Option<String>,
    #[serde(default)]
    balance: Option<Value>,
}

/// Reads one amount of a `balance` object.
fn amount(object: &Map<String, Value>, field: &'static str) -> Result<Amount, BalanceError> {
    let problem = |problem| BalanceError::Field { field, problem };
    match object.get(field) {
        None => Err(problem(AmountError::Missing)),
        Some(Value::String(s)) => s.parse::<i128>().map(Amount).map_err(|source| {
            problem(AmountError::NotAnInteger {
                shown: shown(s).to_string(),
                source,
            })
        }),
        Some(_) => Err(problem(AmountError::NotAString)),
    }
}

/// Reads a link's `balance` object (see the module docs).
pub fn parse_balance(value: Option<&Value>) -> Result<Balance, BalanceError> {
    let object = match value {
        None | Some(Value::Null) => return Err(BalanceError::Missing),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(BalanceError::NotAnObject),
    };
    let settling = match object.get("settling") {
        None => {
            return Err(BalanceError::Field {
                field: "settling",
                problem: AmountError::Missing,
            });
        }
        Some(Value::Null) => None,
        Some(_) => Some(amount(object, "settling")?),
    };
    Ok(Balance {
        committed: amount(object, "committed")?,
        pending_incoming: amount(object, "pendingIncoming")?,
        pending_outgoing: amount(object, "pendingOutgoing")?,
        settling,
        settled_out: amount(object, "settledOut")?,
        settled_in: amount(object, "settledIn")?,
    })
}

/// Reads the health report `body` of the node named `name`.
pub fn parse_health(name: &str, body: &[u8]) -> Result<NodeBooks, NodeError> {
    let raw: RawHealth = serde_json::from_slice(body).map_err(|source| NodeError::Report {
        node: name.to_string(),
        source,
    })?;
    let bad_id = |what, id: &str| NodeError::BadId {
        node: name.to_string(),
        what,
        shown: shown(id).to_string(),
    };
    validate_node_id("nodeId", &raw.node_id).map_err(|_| bad_id("nodeId", &raw.node_id))?;
    let mut links: Vec<LinkEnd> = Vec::with_capacity(raw.links.len());
    for link in raw.links {
        validate_node_id("id", &link.id).map_err(|_| bad_id("link id", &link.id))?;
        if links.iter().any(|l| l.peer == link.id) {
            return Err(NodeError::LinkTwice {
                node: name.to_string(),
                link: link.id,
            });
        }
        let balance =
            parse_balance(link.balance.as_ref()).map_err(|problem| NodeError::Balance {
                node: name.to_string(),
                link: link.id.clone(),
                problem,
            })?;
        links.push(LinkEnd {
            peer: link.id,
            // Shown in the output: escaped and cut like any string a node sends.
            relation: shown(link.relation.unwrap_or_default()).to_string(),
            balance,
        });
    }
    Ok(NodeBooks {
        name: name.to_string(),
        node_id: raw.node_id,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{health, quiet};
    use super::*;
    use serde_json::json;

    #[test]
    fn malformed_balances_name_the_node_the_link_and_the_field() {
        let cases: [(Value, &str); 6] = [
            (Value::Null, "no `balance` object"),
            (json!("12"), "not a JSON object"),
            (json!({"committed": "1"}), "`balance.settling`: missing"),
            (
                {
                    let mut b = quiet("0");
                    b["committed"] = json!(12);
                    b
                },
                "`balance.committed`: not a decimal string",
            ),
            (quiet("1.5"), "`balance.committed`: `1.5` is not an integer"),
            (
                quiet("170141183460469231731687303715884105728"),
                "fits in i128",
            ),
        ];
        for (b, want) in cases {
            let e = parse_health("node-a", &health("a", &[("b", "peer", b)])).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("node node-a, link b: "), "{text}");
            assert!(text.contains(want), "{text} lacks {want}");
        }
        let no_balance = br#"{"nodeId": "a", "links": [{"id": "b"}]}"#;
        let e = parse_health("a", no_balance).unwrap_err();
        assert!(
            matches!(
                e,
                NodeError::Balance {
                    problem: BalanceError::Missing,
                    ..
                }
            ),
            "{e}"
        );
        let settling = quiet("0");
        let mut bad = settling.clone();
        bad["settling"] = json!("x");
        let e = parse_health("a", &health("a", &[("b", "peer", bad)])).unwrap_err();
        assert!(e.to_string().contains("`balance.settling`"), "{e}");
    }

    #[test]
    fn malformed_reports_are_errors_naming_the_node() {
        let e = parse_health("a", b"not json").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("node a: /health is not a health report"),
            "{e}"
        );
        let e = parse_health("a", br#"{"links": []}"#).unwrap_err();
        assert!(e.to_string().contains("nodeId"), "{e}");
        let e = parse_health("a", br#"{"nodeId": "A\u001b[31m", "links": []}"#).unwrap_err();
        assert!(matches!(e, NodeError::BadId { what: "nodeId", .. }), "{e}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        let twice = health("a", &[("b", "peer", quiet("0")), ("b", "peer", quiet("0"))]);
        let e = parse_health("a", &twice).unwrap_err();
        assert!(matches!(e, NodeError::LinkTwice { .. }), "{e}");
    }
}
