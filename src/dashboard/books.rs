//! The books of a link as the page shows them: the `balance` object a node
//! reports per link (in `/health` and `GET /admin/links`, see the module
//! contract), read leniently, and the settlements seen happen between two
//! polls. Pure.
//!
//! Amounts stay decimal strings on their way to the page (the JS reads them
//! with `BigInt`); they are parsed here only as `i128`, to check them and to
//! take differences and sums, never as floating point. A `balance` that is
//! missing, or whose `committed` is not an integer, is no balance: the page
//! shows nothing for that link, and the rest of the report is read as before.

use std::collections::VecDeque;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// Most characters of an amount: an `i128` has at most 39 digits and a sign.
pub const MAX_AMOUNT_CHARS: usize = 40;
/// Most characters of a link's settlement state shown (`"settlement refused
/// by peer"` is 27); a longer one is cut.
pub const MAX_STATE_CHARS: usize = 64;
/// Settlements one node remembers for the page.
pub const MAX_SETTLEMENTS: usize = 20;

/// Reads an amount: a string of an optional `-` and digits, or a JSON
/// integer; `None` for anything else. Returned in canonical form.
pub fn amount(v: &Value) -> Option<i128> {
    match v {
        Value::String(s) if s.len() <= MAX_AMOUNT_CHARS => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn amount_of(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(amount).map(|a| a.to_string())
}

fn count_of(o: Option<&Map<String, Value>>, key: &str) -> u64 {
    o.and_then(|o| o.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// A link's credit limits; `None` is unbounded (or, for the settle
/// threshold, no settlement).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Lowest balance allowed (we owe the peer at most `-minimum`).
    pub minimum: Option<String>,
    /// Highest balance allowed (the peer owes us at most this).
    pub maximum: Option<String>,
    /// Settle when the balance falls below this.
    pub settle_threshold: Option<String>,
    /// The balance a settlement brings it back to.
    pub settle_to: Option<String>,
}

/// Settlements of a link, counted by the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Settlements {
    /// Sent to the peer.
    pub sent: u64,
    /// Of those, accepted.
    pub accepted: u64,
    /// Of those, refused.
    pub refused: u64,
    /// Received from the peer.
    pub received: u64,
}

/// A link's books as its node reports them (positive: the peer owes us).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// The balance of answered packets and settlements.
    pub committed: String,
    /// Prepares from the peer admitted, not answered yet.
    pub pending_incoming: Option<String>,
    /// Prepares to the peer reserved, not answered yet.
    pub pending_outgoing: Option<String>,
    /// A settlement sent and not answered yet.
    pub settling: Option<String>,
    /// Total paid to the peer.
    pub settled_out: Option<String>,
    /// Total the peer paid.
    pub settled_in: Option<String>,
    /// `idle`, `in flight`, `settlement refused by peer`, `link down`.
    pub settlement: Option<String>,
    /// Settlement counts.
    pub settlements: Settlements,
    /// The limits.
    pub limits: Limits,
}

impl Balance {
    /// Reads a `balance` object; `None` when it is null, not an object, or
    /// has no integer `committed`. Other fields that are not what the
    /// contract says are left out, one by one.
    pub fn from_json(v: &Value) -> Option<Balance> {
        let o = v.as_object()?;
        let committed = amount_of(o, "committed")?;
        let counts = o.get("settlements").and_then(Value::as_object);
        let limits = o.get("limits").and_then(Value::as_object);
        let limit = |camel: &str, snake: &str| {
            limits.and_then(|l| amount_of(l, camel).or_else(|| amount_of(l, snake)))
        };
        Some(Balance {
            committed,
            pending_incoming: amount_of(o, "pendingIncoming"),
            pending_outgoing: amount_of(o, "pendingOutgoing"),
            settling: amount_of(o, "settling"),
            settled_out: amount_of(o, "settledOut"),
            settled_in: amount_of(o, "settledIn"),
            settlement: o
                .get("settlement")
                .and_then(Value::as_str)
                .map(|s| s.chars().take(MAX_STATE_CHARS).collect()),
            settlements: Settlements {
                sent: count_of(counts, "sent"),
                accepted: count_of(counts, "accepted"),
                refused: count_of(counts, "refused"),
                received: count_of(counts, "received"),
            },
            limits: Limits {
                minimum: limit("minimum", "minimum"),
                maximum: limit("maximum", "maximum"),
                settle_threshold: limit("settleThreshold", "settle_threshold"),
                settle_to: limit("settleTo", "settle_to"),
            },
        })
    }

    fn value(s: &Option<String>) -> i128 {
        s.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// `committed` as a number (it was checked when read).
    pub fn committed_value(&self) -> i128 {
        self.committed.parse().unwrap_or(0)
    }

    /// Nothing pending either way and no settlement in flight: the state in
    /// which the two ends of a link sum to zero.
    pub fn is_quiet(&self) -> bool {
        Self::value(&self.pending_incoming) == 0
            && Self::value(&self.pending_outgoing) == 0
            && self.settling.is_none()
    }
}

/// The sum of the two ends' `committed`, as a decimal string (`None` if it
/// overflows an `i128`, which no real link reaches).
pub fn sum(a: &Balance, b: &Balance) -> Option<String> {
    a.committed_value()
        .checked_add(b.committed_value())
        .map(|s| s.to_string())
}

/// What a settlement seen was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SettlementKind {
    /// The node paid its peer and the peer accepted.
    Paid,
    /// The node's paid total grew with no accepted settlement: a
    /// settlement recorded through the admin API.
    Recorded,
    /// The peer refused a settlement the node sent.
    Refused,
    /// The peer paid the node.
    Received,
}

/// A settlement seen between two polls of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementEvent {
    /// When the poll saw it (RFC 3339).
    pub at: String,
    /// The node that reported it.
    pub node: String,
    /// Its link (the peer's id).
    pub link: String,
    /// What it was.
    pub kind: SettlementKind,
    /// How much moved (for a refusal: the amount that was in flight, when
    /// the node still said).
    pub amount: Option<String>,
    /// How many settlements that poll saw (their amounts summed).
    pub count: u64,
}

/// The counters of a link at the last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    settled_out: i128,
    settled_in: i128,
    counts: Settlements,
    settling: Option<i128>,
}

impl Seen {
    /// The counters of `b`.
    pub fn of(b: &Balance) -> Self {
        Self {
            settled_out: Balance::value(&b.settled_out),
            settled_in: Balance::value(&b.settled_in),
            counts: b.settlements,
            settling: b.settling.as_deref().and_then(|s| s.parse().ok()),
        }
    }
}

/// The settlements that happened between `before` and `now` on `node`'s
/// `link`, seen `at`. A counter that went down (the node restarted with
/// books in memory) is a new start: nothing is reported for it.
pub fn settlements_between(
    node: &str,
    link: &str,
    before: &Seen,
    now: &Seen,
    at: DateTime<Utc>,
) -> Vec<SettlementEvent> {
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let event = |kind, amount: Option<i128>, count: u64| SettlementEvent {
        at: at.clone(),
        node: node.to_string(),
        link: link.to_string(),
        kind,
        amount: amount.map(|a| a.to_string()),
        count,
    };
    let grew = |a: u64, b: u64| b.saturating_sub(a);
    let (b, n) = (&before.counts, &now.counts);
    let restarted = now.settled_out < before.settled_out
        || now.settled_in < before.settled_in
        || n.sent < b.sent
        || n.accepted < b.accepted
        || n.refused < b.refused
        || n.received < b.received;
    if restarted {
        return Vec::new();
    }
    let mut out = Vec::new();
    let paid = now.settled_out - before.settled_out;
    if paid > 0 {
        let accepted = grew(b.accepted, n.accepted);
        let kind = if accepted > 0 {
            SettlementKind::Paid
        } else {
            SettlementKind::Recorded
        };
        out.push(event(kind, Some(paid), accepted.max(1)));
    }
    let refused = grew(b.refused, n.refused);
    if refused > 0 {
        out.push(event(
            SettlementKind::Refused,
            before.settling.or(now.settling),
            refused,
        ));
    }
    let received = now.settled_in - before.settled_in;
    if received > 0 {
        out.push(event(
            SettlementKind::Received,
            Some(received),
            grew(b.received, n.received).max(1),
        ));
    }
    out
}

/// Adds `events` to a node's list, newest first, at most
/// [`MAX_SETTLEMENTS`].
pub fn remember(list: &mut VecDeque<SettlementEvent>, events: Vec<SettlementEvent>) {
    for e in events {
        list.push_front(e);
    }
    list.truncate(MAX_SETTLEMENTS);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn balance(v: Value) -> Balance {
        Balance::from_json(&v).expect("a balance")
    }

    #[test]
    fn a_balance_is_read_as_the_contract_says_and_amounts_stay_exact() {
        let b = balance(json!({
            "committed": "-170141183460469231731687303715884105728",
            "pendingIncoming": "0", "pendingOutgoing": "5", "settling": null,
            "settledOut": "3400", "settledIn": "0",
            "settlement": "settlement refused by peer",
            "settlements": {"sent": 3, "accepted": 2, "refused": 1, "received": 2},
            "limits": {"minimum": null, "maximum": "1000000",
                       "settleThreshold": "-100000", "settleTo": "0"}
        }));
        assert_eq!(b.committed, i128::MIN.to_string(), "no f64 rounding");
        assert_eq!(b.pending_outgoing.as_deref(), Some("5"));
        assert_eq!(b.settling, None);
        assert_eq!(b.settlement.as_deref(), Some("settlement refused by peer"));
        assert_eq!(b.settlements.refused, 1);
        assert_eq!(
            b.limits,
            Limits {
                minimum: None,
                maximum: Some("1000000".into()),
                settle_threshold: Some("-100000".into()),
                settle_to: Some("0".into()),
            }
        );
        assert!(!b.is_quiet(), "5 pending outgoing");
        let j = serde_json::to_value(&b).unwrap();
        assert_eq!(j["limits"]["settleThreshold"], "-100000");
        assert_eq!(j["pendingOutgoing"], "5");
    }

    #[test]
    fn what_is_not_an_amount_is_left_out_and_no_committed_is_no_balance() {
        for bad in [
            json!(null),
            json!("x"),
            json!({}),
            json!({"committed": "1.5"}),
            json!({"committed": 1.5}),
            json!({"committed": "--1"}),
            json!({"committed": "-"}),
            json!({"committed": "1e3"}),
            json!({"committed": " 1"}),
            json!({"committed": "9".repeat(MAX_AMOUNT_CHARS + 1)}),
            json!({"committed": "9".repeat(39) + "9"}),
        ] {
            assert_eq!(Balance::from_json(&bad), None, "{bad}");
        }
        let b = balance(json!({"committed": 12, "pendingIncoming": "abc",
            "settlement": "s".repeat(500), "settlements": {"sent": -1},
            "limits": {"maximum": "0x10", "settle_to": "7"}}));
        assert_eq!(b.committed, "12");
        assert_eq!(b.pending_incoming, None);
        assert_eq!(b.settlement.unwrap().len(), MAX_STATE_CHARS);
        assert_eq!(b.settlements.sent, 0);
        assert_eq!(b.limits.maximum, None);
        assert_eq!(b.limits.settle_to.as_deref(), Some("7"));
        assert_eq!(amount(&json!("-007")), Some(-7), "canonical form");
    }

    fn seen(out: i128, inn: i128, counts: [u64; 4], settling: Option<i128>) -> Seen {
        Seen {
            settled_out: out,
            settled_in: inn,
            counts: Settlements {
                sent: counts[0],
                accepted: counts[1],
                refused: counts[2],
                received: counts[3],
            },
            settling,
        }
    }

    #[test]
    fn settlements_come_from_the_counters_growing_between_two_polls() {
        let at = Utc::now();
        let kinds = |before: Seen, now: Seen| -> Vec<(SettlementKind, Option<String>, u64)> {
            settlements_between("a", "b", &before, &now, at)
                .into_iter()
                .map(|e| (e.kind, e.amount, e.count))
                .collect()
        };
        let start = seen(100, 0, [1, 1, 0, 0], None);
        assert_eq!(kinds(start, start), [], "nothing moved");
        assert_eq!(
            kinds(start, seen(1300, 0, [2, 2, 0, 0], None)),
            [(SettlementKind::Paid, Some("1200".into()), 1)]
        );
        assert_eq!(
            kinds(start, seen(600, 0, [1, 1, 0, 0], None)),
            [(SettlementKind::Recorded, Some("500".into()), 1)],
            "paid total up, no settlement accepted: an admin record"
        );
        assert_eq!(
            kinds(
                seen(100, 0, [2, 1, 0, 0], Some(800)),
                seen(100, 0, [2, 1, 1, 0], None)
            ),
            [(SettlementKind::Refused, Some("800".into()), 1)]
        );
        assert_eq!(
            kinds(start, seen(100, 40, [1, 1, 0, 2], None)),
            [(SettlementKind::Received, Some("40".into()), 2)]
        );
        assert_eq!(
            kinds(start, seen(0, 0, [0, 0, 0, 0], None)),
            [],
            "a restart is a new start"
        );
        let e = &settlements_between("a", "b", &start, &seen(101, 0, [2, 2, 0, 0], None), at)[0];
        assert_eq!((e.node.as_str(), e.link.as_str()), ("a", "b"));
        assert!(e.at.ends_with('Z'), "{}", e.at);
    }

    #[test]
    fn a_node_remembers_a_bounded_list_newest_first() {
        let at = Utc::now();
        let mut list = VecDeque::new();
        for i in 0..(MAX_SETTLEMENTS as i128 + 5) {
            let events = settlements_between(
                "a",
                "b",
                &seen(0, 0, [0; 4], None),
                &seen(i + 1, 0, [0; 4], None),
                at,
            );
            remember(&mut list, events);
        }
        assert_eq!(list.len(), MAX_SETTLEMENTS);
        let newest = (MAX_SETTLEMENTS + 5).to_string();
        assert_eq!(list[0].amount.as_deref(), Some(newest.as_str()));
        assert_eq!(list[MAX_SETTLEMENTS - 1].amount.as_deref(), Some("6"));
        let sum_ab = sum(
            &balance(json!({"committed": "-1200"})),
            &balance(json!({"committed": "1200"})),
        );
        assert_eq!(sum_ab.as_deref(), Some("0"));
        let max = balance(json!({"committed": i128::MAX.to_string()}));
        assert_eq!(sum(&max, &max), None, "overflow is no sum");
    }
}
