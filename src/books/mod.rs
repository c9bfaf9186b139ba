//! `ilp-connector books`: reads every node of a running network and checks
//! that the books balance, link by link.
//!
//! Each node's `GET /health` lists its links, each with a `balance` object
//! (amounts are decimal strings of `i128`, positive = the peer owes us; see
//! [`crate::report`]). A link A-B has two ends: A's entry for peer B and B's
//! entry for peer A, matched by the `nodeId` each node reports and the `id`
//! of each link (a link's id is the other node's `NODE_ID`). Once nothing is
//! pending or settling on either end, A's `committed` for B plus B's
//! `committed` for A is zero, and what A paid B (`settledOut`) is what B
//! received from A (`settledIn`), both ways; [`Books`] says for which links
//! it is not.
//!
//! # Layout, bottom to top
//! - `error`: what can go wrong, every error naming the node (and the link).
//! - `parse`: one node's report, its links and their balances ([`parse_health`];
//!   pure: a missing or malformed `balance` is an error naming the node and
//!   the link).
//! - `ledger`: the links matched end to end ([`Books::reconcile`]), the
//!   links with one end only, the links to what is no listed node (children
//!   such as `sender`), and the judgement ([`Outcome`]); pure.
//! - `render`: [`Outcome::render_text`] and [`Outcome::to_json`].
//! - here: [`BooksSettings`] -> [`BooksConfig`] (the node list, the
//!   dashboard's `name=http://host:port` entries, parsed by
//!   [`crate::dashboard::parse_nodes`]; the timeout of each request; the
//!   wait for quiet; whether a node may be missing) and [`check`]: every
//!   node read at once, each within its timeout, again until quiet when
//!   asked.

mod error;
#[cfg(test)]
mod fixtures;
mod ledger;
mod parse;
mod render;

pub use error::{AmountError, BalanceError, BooksError, NodeError};
pub use ledger::{Absent, Books, EXIT_NOT_BALANCED, Missing, Outcome, Pair, Single};
pub use parse::{Amount, Balance, LinkEnd, NodeBooks, parse_balance, parse_health};
pub use render::{JsonOutcome, JsonPair, JsonSingle};

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use tokio::time::Instant;

use crate::config::{ConfigError, in_range};
use crate::dashboard::{NodeTarget, parse_nodes};
use crate::http::client::{self, ProbeError};
use crate::report::HEALTH_PATH;

/// The option of the node list, named in its errors.
pub const NODES_VAR: &str = "BOOKS_NODES";
/// Default time a node has to answer `/health`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Shortest request timeout accepted, in milliseconds.
pub const MIN_TIMEOUT_MS: u64 = 50;
/// Longest request timeout accepted, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest wait for quiet books accepted, in seconds.
pub const MAX_WAIT_QUIET_SECONDS: u64 = 3_600;
/// Time between two rounds of reads while waiting for quiet books.
pub const QUIET_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The settings of `books` as given (by its flags, see `crate::cli::books`),
/// unchecked; [`BooksSettings::into_config`] checks them.
#[derive(Debug, Clone)]
pub struct BooksSettings {
    /// `BOOKS_NODES`: `name=http://host:health_port` entries.
    pub nodes: Vec<String>,
    /// `BOOKS_TIMEOUT_MS`: time each node has to answer.
    pub timeout_ms: u64,
    /// `BOOKS_WAIT_QUIET`: poll up to this many seconds for quiet books.
    pub wait_quiet_seconds: Option<u64>,
    /// `BOOKS_ALLOW_MISSING`: a node that does not answer is reported, not an error.
    pub allow_missing: bool,
}

/// The settings of `books`, checked.
#[derive(Debug, Clone)]
pub struct BooksConfig {
    /// The nodes, in the order given (the order of the output).
    pub nodes: Vec<NodeTarget>,
    /// Time each node has to answer `/health`.
    pub timeout: Duration,
    /// Poll up to this long until no link has anything pending or settling.
    pub wait_quiet: Option<Duration>,
    /// Whether a node that does not answer is reported instead of failing.
    pub allow_missing: bool,
}

impl BooksSettings {
    /// Checks the settings; errors name the option to fix.
    pub fn into_config(self) -> Result<BooksConfig, ConfigError> {
        let nodes = parse_nodes(NODES_VAR, &self.nodes)?;
        let timeout_ms = in_range(
            "BOOKS_TIMEOUT_MS",
            self.timeout_ms,
            MIN_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
            " milliseconds",
        )?;
        let wait_quiet = self
            .wait_quiet_seconds
            .map(|s| in_range("BOOKS_WAIT_QUIET", s, 0, MAX_WAIT_QUIET_SECONDS, " seconds"))
            .transpose()?
            .map(Duration::from_secs);
        Ok(BooksConfig {
            nodes,
            timeout: Duration::from_millis(timeout_ms),
            wait_quiet,
            allow_missing: self.allow_missing,
        })
    }
}

/// Reads one node's `/health` within `timeout`.
pub async fn read_node(target: &NodeTarget, timeout: Duration) -> Result<NodeBooks, NodeError> {
    let (status, body) = client::exchange(
        &target.health,
        Method::GET,
        HEALTH_PATH,
        None,
        Bytes::new(),
        timeout,
    )
    .await
    .map_err(|source| {
        let (node, addr) = (target.name.clone(), target.health.clone());
        match source {
            // The client's own message would name its default timeout.
            ProbeError::Timeout(_) => NodeError::TimedOut {
                node,
                addr,
                timeout,
            },
            source => NodeError::NoAnswer { node, addr, source },
        }
    })?;
    // 503 is the report of an unhealthy node (a link down): still its books.
    if status != 200 && status != 503 {
        return Err(NodeError::Status {
            node: target.name.clone(),
            addr: target.health.clone(),
            status,
        });
    }
    parse_health(&target.name, &body)
}

/// One round: every node read at once, the links matched. A node that does
/// not answer is an error unless `allow_missing`; every error of the round
/// is returned.
pub async fn read_books(config: &BooksConfig) -> Result<Books, BooksError> {
    let reads = config.nodes.iter().map(|t| read_node(t, config.timeout));
    let results = futures_util::future::join_all(reads).await;
    let (mut nodes, mut missing, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(n) => nodes.push(n),
            Err(NodeError::NoAnswer { node, source, .. }) if config.allow_missing => {
                missing.push(Missing {
                    node,
                    error: source.to_string(),
                });
            }
            Err(NodeError::TimedOut { node, timeout, .. }) if config.allow_missing => {
                missing.push(Missing {
                    node,
                    error: format!("no answer within {timeout:?}"),
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(BooksError(errors));
    }
    Books::reconcile(&nodes, missing)
}

/// Reads the books; with [`BooksConfig::wait_quiet`], again every
/// [`QUIET_POLL_INTERVAL`] until no link has anything pending or settling,
/// or the wait runs out (then the last round is judged, and the outcome says
/// the wait ran out).
pub async fn check(config: &BooksConfig) -> Result<Outcome, BooksError> {
    let deadline = config.wait_quiet.map(|w| Instant::now() + w);
    loop {
        let books = read_books(config).await?;
        let Some(deadline) = deadline else {
            return Ok(Outcome {
                books,
                quiet_timed_out: None,
            });
        };
        if books.not_quiet().is_empty() {
            return Ok(Outcome {
                books,
                quiet_timed_out: None,
            });
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Outcome {
                books,
                quiet_timed_out: config.wait_quiet,
            });
        }
        tokio::time::sleep(QUIET_POLL_INTERVAL.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{balance, health, node, quiet};
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn both_ends_that_sum_to_zero_balance() {
        let nodes = [
            node("a", &[("b", "peer", quiet("-1200"))]),
            node(
                "b",
                &[("a", "peer", quiet("1200")), ("c", "peer", quiet("0"))],
            ),
            node("c", &[("b", "peer", quiet("0"))]),
        ];
        let books = Books::reconcile(&nodes, vec![]).unwrap();
        let names: Vec<String> = books.pairs.iter().map(Pair::name).collect();
        assert_eq!(names, ["a - b", "b - c"]);
        assert_eq!(books.pairs[0].a_for_b.committed, Amount(-1200));
        assert_eq!(books.pairs[0].b_for_a.committed, Amount(1200));
        assert_eq!(books.pairs[0].sum(), Some(0));
        assert!(books.one_end.is_empty() && books.outside.is_empty());
        let outcome = Outcome {
            books,
            quiet_timed_out: None,
        };
        assert_eq!(outcome.exit_code(), 0);
        let text = outcome.render_text();
        assert!(text.contains("Books balance: 2 link(s)"), "{text}");
        let row = text.lines().find(|l| l.starts_with("a - b")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[3..7], ["-1200", "1200", "0", "0/0"], "{row}");
        let j: Value = serde_json::from_str(&outcome.to_json()).unwrap();
        assert_eq!(j["ok"], true);
        assert_eq!(j["links"][0]["sum"], "0");
        assert_eq!(j["links"][0]["aForB"]["committed"], "-1200");
        assert_eq!(j["links"][0]["aForB"]["settledOut"], "3400");
    }

    #[test]
    fn a_sum_off_zero_is_named_with_its_amount() {
        let nodes = [
            node("a", &[("b", "peer", quiet("-1200"))]),
            node("b", &[("a", "peer", quiet("1207"))]),
        ];
        let outcome = Outcome {
            books: Books::reconcile(&nodes, vec![]).unwrap(),
            quiet_timed_out: None,
        };
        assert_eq!(outcome.exit_code(), EXIT_NOT_BALANCED);
        let text = outcome.render_text();
        assert!(
            text.contains("a - b: sums to 7, not 0 (a for b: -1200, b for a: 1207)"),
            "{text}"
        );
        let j: Value = serde_json::from_str(&outcome.to_json()).unwrap();
        assert_eq!(j["unbalanced"], json!(["a - b"]));
        assert_eq!(j["links"][0]["sum"], "7");
        assert_eq!(j["balanced"], false);
    }

    #[test]
    fn amounts_beyond_i64_are_exact_and_an_overflowing_sum_does_not_balance() {
        let big = "170141183460469231731687303715884105727"; // i128::MAX
        let nodes = [
            node("a", &[("b", "peer", quiet(big))]),
            node(
                "b",
                &[(
                    "a",
                    "peer",
                    quiet("-170141183460469231731687303715884105727"),
                )],
            ),
        ];
        let books = Books::reconcile(&nodes, vec![]).unwrap();
        assert_eq!(books.pairs[0].sum(), Some(0));
        // One unit off at 2^63 scale is still seen (an f64 would lose it).
        let nodes = [
            node("a", &[("b", "peer", quiet("9007199254740993"))]),
            node("b", &[("a", "peer", quiet("-9007199254740992"))]),
        ];
        let books = Books::reconcile(&nodes, vec![]).unwrap();
        assert_eq!(books.pairs[0].sum(), Some(1));
        let nodes = [
            node("a", &[("b", "peer", quiet(big))]),
            node("b", &[("a", "peer", quiet("1"))]),
        ];
        let outcome = Outcome {
            books: Books::reconcile(&nodes, vec![]).unwrap(),
            quiet_timed_out: None,
        };
        assert_eq!(outcome.books.pairs[0].sum(), None);
        assert_eq!(outcome.exit_code(), EXIT_NOT_BALANCED);
        assert!(outcome.render_text().contains("overflows i128"));
    }

    #[test]
    fn one_end_missing_and_no_link_back_are_listed_apart() {
        let nodes = [
            node(
                "a",
                &[("b", "peer", quiet("5")), ("c", "peer", quiet("-3"))],
            ),
            node("b", &[]),
        ];
        let missing = vec![Missing {
            node: "c".into(),
            error: "connection refused".into(),
        }];
        let books = Books::reconcile(&nodes, missing).unwrap();
        assert!(books.pairs.is_empty());
        assert_eq!(books.one_end.len(), 2);
        assert_eq!(books.one_end[0].0.name(), "a - b");
        assert_eq!(books.one_end[0].1, Absent::NoLinkBack);
        assert_eq!(books.one_end[1].0.name(), "a - c");
        assert_eq!(books.one_end[1].1, Absent::NoAnswer);
        let outcome = Outcome {
            books,
            quiet_timed_out: None,
        };
        // Not judged: nothing with both ends is off.
        assert_eq!(outcome.exit_code(), 0);
        let text = outcome.render_text();
        assert!(text.contains("a - b: b reports no link to a;"), "{text}");
        assert!(text.contains("a - c: c did not answer;"), "{text}");
        assert!(text.contains("c: connection refused"), "{text}");
        let j: Value = serde_json::from_str(&outcome.to_json()).unwrap();
        assert_eq!(j["oneEnd"][1]["reason"], "c did not answer");
        assert_eq!(j["missing"][0]["node"], "c");
    }

    #[test]
    fn child_links_are_outside_and_count_for_quiet() {
        let nodes = [
            node(
                "a",
                &[
                    ("b", "peer", quiet("0")),
                    ("sender", "child", balance("40", "10", "0", Value::Null)),
                ],
            ),
            node("b", &[("a", "peer", quiet("0"))]),
        ];
        let books = Books::reconcile(&nodes, vec![]).unwrap();
        assert_eq!(books.pairs.len(), 1);
        assert_eq!(books.outside.len(), 1);
        assert_eq!(books.outside[0].name(), "a - sender");
        assert_eq!(books.outside[0].end.relation, "child");
        assert_eq!(books.not_quiet(), ["a - sender"]);
        let text = Outcome {
            books,
            quiet_timed_out: None,
        }
        .render_text();
        assert!(
            text.contains("a - sender (child): committed 40, pending in/out 10/0"),
            "{text}"
        );
        assert!(text.contains("Not quiet"), "{text}");
    }

    #[test]
    fn pending_and_settling_make_a_link_not_quiet_and_a_timed_out_wait_fails() {
        let nodes = [
            node("a", &[("b", "peer", balance("0", "0", "5", Value::Null))]),
            node("b", &[("a", "peer", balance("0", "0", "0", json!("1200")))]),
        ];
        let books = Books::reconcile(&nodes, vec![]).unwrap();
        assert!(!books.pairs[0].is_quiet());
        assert_eq!(books.pairs[0].b_for_a.settling, Some(Amount(1200)));
        let outcome = Outcome {
            books,
            quiet_timed_out: Some(Duration::from_secs(3)),
        };
        assert_eq!(outcome.exit_code(), EXIT_NOT_BALANCED);
        let text = outcome.render_text();
        assert!(text.contains("NOT QUIET after 3s: a - b"), "{text}");
        let row = text.lines().find(|l| l.starts_with("a - b")).unwrap();
        assert!(row.contains("0/5") && row.contains("-/1200"), "{row}");
        let j: Value = serde_json::from_str(&outcome.to_json()).unwrap();
        assert_eq!(j["quietTimedOut"], true);
    }

    #[test]
    fn settled_totals_that_disagree_do_not_balance_though_the_sum_is_zero() {
        let mut paid = quiet("0");
        paid["settledOut"] = json!("5000");
        let nodes = [
            node("a", &[("b", "peer", paid)]),
            node("b", &[("a", "peer", quiet("0"))]),
        ];
        let outcome = Outcome {
            books: Books::reconcile(&nodes, vec![]).unwrap(),
            quiet_timed_out: None,
        };
        assert_eq!(outcome.books.pairs[0].sum(), Some(0));
        assert!(!outcome.books.pairs[0].settled_agree());
        assert_eq!(outcome.exit_code(), EXIT_NOT_BALANCED);
        let text = outcome.render_text();
        assert!(
            text.contains(
                "a - b: settled totals disagree: a paid b 5000, b received 3400; \
                 b paid a 3400, a received 3400"
            ),
            "{text}"
        );
        assert!(!text.contains("sums to"), "{text}");
        let j: Value = serde_json::from_str(&outcome.to_json()).unwrap();
        assert_eq!(j["links"][0]["settledAgree"], false);
        assert_eq!(j["links"][0]["sum"], "0");
    }

    #[test]
    fn two_nodes_with_one_node_id_are_an_error() {
        let same = [
            node("a", &[]),
            parse_health("a2", &health("a", &[])).unwrap(),
        ];
        let e = Books::reconcile(&same, vec![]).unwrap_err();
        assert_eq!(e.to_string(), "nodes a and a2 both report the node id a");
    }

    #[test]
    fn settings_are_checked_and_name_their_option() {
        let settings = |nodes: &[&str]| BooksSettings {
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            wait_quiet_seconds: Some(5),
            allow_missing: false,
        };
        let c = settings(&["a=127.0.0.1:8080", "b=http://127.0.0.1:8081"])
            .into_config()
            .unwrap();
        assert_eq!(c.nodes[0].health, "127.0.0.1:8080");
        assert_eq!(c.nodes[1].health, "127.0.0.1:8081");
        assert_eq!(c.wait_quiet, Some(Duration::from_secs(5)));
        assert_eq!(settings(&[]).into_config().unwrap_err().variable, NODES_VAR);
        let e = settings(&["a=x:1", "a=x:2"]).into_config().unwrap_err();
        assert_eq!(e.variable, NODES_VAR);
        assert!(e.message.contains("listed twice"), "{e}");
        let mut s = settings(&["a=x:1"]);
        s.timeout_ms = 0;
        assert_eq!(s.into_config().unwrap_err().variable, "BOOKS_TIMEOUT_MS");
        let mut s = settings(&["a=x:1"]);
        s.wait_quiet_seconds = Some(MAX_WAIT_QUIET_SECONDS + 1);
        assert_eq!(s.into_config().unwrap_err().variable, "BOOKS_WAIT_QUIET");
    }
}
