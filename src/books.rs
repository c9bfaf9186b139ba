//! `ilp-connector books`: reads every node of a running network and checks
//! that the books balance, link by link.
//!
//! Each node's `GET /health` lists its links, each with a `balance` object
//! (amounts are decimal strings of `i128`, positive = the peer owes us; see
//! [`crate::report`]). A link A-B has two ends: A's entry for peer B and B's
//! entry for peer A, matched by the `nodeId` each node reports and the `id`
//! of each link (a link's id is the other node's `NODE_ID`). Once nothing is
//! pending or settling on either end, A's `committed` for B plus B's
//! `committed` for A is zero; [`Books`] says for which links it is not.
//!
//! - [`BooksSettings`] -> [`BooksConfig`]: the node list (the dashboard's
//!   `name=http://host:port` entries, parsed by
//!   [`crate::dashboard::parse_nodes`]), the timeout of each request, the
//!   wait for quiet, whether a node may be missing.
//! - [`parse_health`]: one node's report, its links and their balances
//!   (pure; a missing or malformed `balance` is an error naming the node
//!   and the link).
//! - [`Books::reconcile`]: the links matched end to end, the links with one
//!   end only, the links to what is not a listed node (children such as
//!   `sender`), pure.
//! - [`check`]: fetches every node (at once, each within its timeout),
//!   polls until quiet when asked, and gives the [`Outcome`];
//!   [`Outcome::render_text`] and [`Outcome::to_json`] print it.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::config::{ConfigError, in_range, validate_node_id};
use crate::dashboard::{NodeTarget, parse_nodes};
use crate::http::client::{self, ProbeError};
use crate::logging::shown;
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
/// Exit code when the books do not balance, are not quiet in time, or a
/// node could not be read.
pub const EXIT_NOT_BALANCED: u8 = 1;

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

/// What is wrong with one amount of a `balance` object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The field is absent.
    #[error("missing")]
    Missing,
    /// The field is not a JSON string (amounts are decimal strings).
    #[error("not a decimal string")]
    NotAString,
    /// The string is no `i128`.
    #[error("`{shown}` is not an integer that fits in i128: {source}")]
    NotAnInteger {
        /// The string, escaped and cut.
        shown: String,
        /// Why it does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
}

/// What is wrong with a link's `balance`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// No `balance` (or `null`): the node does not report its books.
    #[error("no `balance` object (does this node report its books?)")]
    Missing,
    /// `balance` is not an object.
    #[error("`balance` is not a JSON object")]
    NotAnObject,
    /// One of its amounts.
    #[error("`balance.{field}`: {problem}")]
    Field {
        /// The JSON key.
        field: &'static str,
        /// What is wrong with it.
        #[source]
        problem: AmountError,
    },
}

/// Why a node's books could not be read. Every variant names the node (the
/// name given in `BOOKS_NODES`).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No answer: refused, reset, or not within the timeout.
    #[error("node {node} ({addr}) did not answer: {source}")]
    NoAnswer {
        /// Its name.
        node: String,
        /// `host:port` tried.
        addr: String,
        /// What the client saw.
        #[source]
        source: ProbeError,
    },
    /// An HTTP status that is neither 200 nor 503 (a health report).
    #[error("node {node} ({addr}) answered HTTP {status} to {HEALTH_PATH}, not a health report")]
    Status {
        /// Its name.
        node: String,
        /// `host:port` asked.
        addr: String,
        /// The status.
        status: u16,
    },
    /// The body is not a health report (`nodeId`, `links[].id`).
    #[error("node {node}: {HEALTH_PATH} is not a health report: {source}")]
    Report {
        /// Its name.
        node: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A node id or link id that is no valid id.
    #[error("node {node}: {what} `{shown}` is not a valid node id")]
    BadId {
        /// Its name.
        node: String,
        /// `nodeId` or `link id`.
        what: &'static str,
        /// The id, escaped and cut.
        shown: String,
    },
    /// One link listed twice in one report.
    #[error("node {node} lists link {link} twice")]
    LinkTwice {
        /// Its name.
        node: String,
        /// The link's id.
        link: String,
    },
    /// A link's balance is missing or malformed.
    #[error("node {node}, link {link}: {problem}")]
    Balance {
        /// Its name.
        node: String,
        /// The link's id.
        link: String,
        /// What is wrong.
        #[source]
        problem: BalanceError,
    },
    /// Two listed nodes report the same `nodeId`.
    #[error("nodes {first} and {second} both report the node id {id}")]
    SameId {
        /// The first node's name.
        first: String,
        /// The second's.
        second: String,
        /// The id.
        id: String,
    },
}

/// Every error of one round of reads (at least one), in node order.
#[derive(Debug, thiserror::Error)]
pub struct BooksError(pub Vec<NodeError>);

impl fmt::Display for BooksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
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

/// A link whose two ends were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The node listed first (its `nodeId`).
    pub a: String,
    /// The other node.
    pub b: String,
    /// A's balance with B.
    pub a_for_b: Balance,
    /// B's balance with A.
    pub b_for_a: Balance,
}

impl Pair {
    /// `a - b`.
    pub fn name(&self) -> String {
        format!("{} - {}", self.a, self.b)
    }

    /// A's committed for B plus B's committed for A (`None`: past `i128`).
    pub fn sum(&self) -> Option<i128> {
        self.a_for_b
            .committed
            .0
            .checked_add(self.b_for_a.committed.0)
    }

    /// The two ends sum to zero exactly.
    pub fn balances(&self) -> bool {
        self.sum() == Some(0)
    }

    /// Nothing pending or settling on either end.
    pub fn is_quiet(&self) -> bool {
        self.a_for_b.is_quiet() && self.b_for_a.is_quiet()
    }
}

/// Why a link between two listed nodes has only one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absent {
    /// The peer is a listed node that did not answer (`--allow-missing`).
    NoAnswer,
    /// The peer answered but lists no link to this node.
    NoLinkBack,
}

/// A link seen from one end only, or to a peer that is no listed node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Single {
    /// The node that reports it (its `nodeId`).
    pub node: String,
    /// The link as it reports it.
    pub end: LinkEnd,
}

impl Single {
    /// `node - peer`.
    pub fn name(&self) -> String {
        format!("{} - {}", self.node, self.end.peer)
    }
}

/// A node that did not answer (`--allow-missing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// Its name.
    pub node: String,
    /// Why, as the client saw it.
    pub error: String,
}

/// The books of every node, matched link by link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Books {
    /// Links with both ends read, in node order.
    pub pairs: Vec<Pair>,
    /// Links between listed nodes with one end only, and why.
    pub one_end: Vec<(Single, Absent)>,
    /// Links to peers that are no listed node (children such as `sender`).
    pub outside: Vec<Single>,
    /// Listed nodes that did not answer.
    pub missing: Vec<Missing>,
}

impl Books {
    /// Matches the links of `nodes` (the nodes that answered, in the order
    /// given) end to end; `missing` are the listed nodes that did not answer.
    /// A peer id that is a missing node's name is that node's link.
    pub fn reconcile(nodes: &[NodeBooks], missing: Vec<Missing>) -> Result<Books, BooksError> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut errors = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if let Some(&first) = index.get(n.node_id.as_str()) {
                errors.push(NodeError::SameId {
                    first: nodes[first].name.clone(),
                    second: n.name.clone(),
                    id: n.node_id.clone(),
                });
            } else {
                index.insert(&n.node_id, i);
            }
        }
        if !errors.is_empty() {
            return Err(BooksError(errors));
        }
        let back = |j: usize, to: &str| nodes[j].links.iter().find(|l| l.peer == to);
        let mut books = Books::default();
        for (i, n) in nodes.iter().enumerate() {
            for end in &n.links {
                let single = || Single {
                    node: n.node_id.clone(),
                    end: end.clone(),
                };
                match index.get(end.peer.as_str()) {
                    Some(&j) if j != i => match back(j, &n.node_id) {
                        // Each pair once, from the end listed first.
                        Some(other) if i < j => books.pairs.push(Pair {
                            a: n.node_id.clone(),
                            b: nodes[j].node_id.clone(),
                            a_for_b: end.balance.clone(),
                            b_for_a: other.balance.clone(),
                        }),
                        Some(_) => {}
                        None => books.one_end.push((single(), Absent::NoLinkBack)),
                    },
                    _ if missing.iter().any(|m| m.node == end.peer) => {
                        books.one_end.push((single(), Absent::NoAnswer));
                    }
                    _ => books.outside.push(single()),
                }
            }
        }
        books.missing = missing;
        Ok(books)
    }

    /// The pairs whose ends do not sum to zero.
    pub fn unbalanced(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().filter(|p| !p.balances())
    }

    /// The names of the links (every one seen, of either kind) with
    /// something pending or settling.
    pub fn not_quiet(&self) -> Vec<String> {
        let pairs = self.pairs.iter().filter(|p| !p.is_quiet()).map(Pair::name);
        let singles = self
            .one_end
            .iter()
            .map(|(s, _)| s)
            .chain(&self.outside)
            .filter(|s| !s.end.balance.is_quiet())
            .map(Single::name);
        pairs.chain(singles).collect()
    }
}

/// What one run found: the books of its last round, and whether a wait for
/// quiet ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The books read last.
    pub books: Books,
    /// `Some(wait)` when `--wait-quiet` was given and the books were not
    /// quiet within it.
    pub quiet_timed_out: Option<Duration>,
}

impl Outcome {
    /// Every link with both ends sums to zero, and a wait for quiet (if any)
    /// did not run out.
    pub fn is_good(&self) -> bool {
        self.books.unbalanced().next().is_none() && self.quiet_timed_out.is_none()
    }

    /// The exit code: 0 when [`Outcome::is_good`], else [`EXIT_NOT_BALANCED`].
    pub fn exit_code(&self) -> u8 {
        if self.is_good() { 0 } else { EXIT_NOT_BALANCED }
    }

    /// The outcome as pretty JSON, keys in the order of [`JsonOutcome`]
    /// (amounts as decimal strings, as the nodes write them).
    pub fn to_json(&self) -> String {
        let b = &self.books;
        let not_quiet = b.not_quiet();
        let outcome = JsonOutcome {
            ok: self.is_good(),
            balanced: b.unbalanced().next().is_none(),
            quiet: not_quiet.is_empty(),
            quiet_timed_out: self.quiet_timed_out.is_some(),
            unbalanced: b.unbalanced().map(Pair::name).collect(),
            not_quiet,
            links: b
                .pairs
                .iter()
                .map(|p| JsonPair {
                    link: p.name(),
                    a: &p.a,
                    b: &p.b,
                    sum: p.sum().map(Amount),
                    balanced: p.balances(),
                    quiet: p.is_quiet(),
                    a_for_b: &p.a_for_b,
                    b_for_a: &p.b_for_a,
                })
                .collect(),
            one_end: b
                .one_end
                .iter()
                .map(|(s, why)| JsonSingle::of(s, Some(absent_reason(s, why))))
                .collect(),
            outside: b.outside.iter().map(|s| JsonSingle::of(s, None)).collect(),
            missing: &b.missing,
        };
        serde_json::to_string_pretty(&outcome).expect("derived Serialize with string keys")
    }

    /// The outcome as text: the table of links with both ends, the links
    /// apart, the nodes missing, and the verdict.
    pub fn render_text(&self) -> String {
        let b = &self.books;
        let mut out = String::new();
        if b.pairs.is_empty() {
            out.push_str("No link has both ends among the nodes.\n");
        } else {
            let header = [
                "LINK",
                "A FOR B",
                "B FOR A",
                "SUM",
                "PENDING A IN/OUT",
                "PENDING B IN/OUT",
                "SETTLING A/B",
                "SETTLED A OUT/IN",
                "SETTLED B OUT/IN",
            ];
            let rows: Vec<Vec<String>> = b
                .pairs
                .iter()
                .map(|p| {
                    let (x, y) = (&p.a_for_b, &p.b_for_a);
                    vec![
                        p.name(),
                        x.committed.to_string(),
                        y.committed.to_string(),
                        sum_text(p.sum()),
                        pending(x),
                        pending(y),
                        format!("{}/{}", settling(x), settling(y)),
                        settled(x),
                        settled(y),
                    ]
                })
                .collect();
            out.push_str(&table(&header, &rows, &[1, 2, 3]));
        }
        if !b.one_end.is_empty() {
            out.push_str("\nOne end only (not judged):\n");
            for (s, why) in &b.one_end {
                out.push_str(&format!(
                    "  {}: {}; {}\n",
                    s.name(),
                    absent_reason(s, why),
                    end_text(s)
                ));
            }
        }
        if !b.outside.is_empty() {
            out.push_str("\nTo peers that are no listed node (not judged):\n");
            for s in &b.outside {
                let relation = if s.end.relation.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.end.relation)
                };
                out.push_str(&format!("  {}{relation}: {}\n", s.name(), end_text(s)));
            }
        }
        if !b.missing.is_empty() {
            out.push_str("\nNodes that did not answer (allowed):\n");
            for m in &b.missing {
                out.push_str(&format!("  {}: {}\n", m.node, m.error));
            }
        }
        out.push('\n');
        let not_quiet = b.not_quiet();
        if let Some(wait) = self.quiet_timed_out {
            out.push_str(&format!(
                "NOT QUIET after {wait:?}: {}\n",
                not_quiet.join(", ")
            ));
        } else if !not_quiet.is_empty() {
            out.push_str(&format!(
                "Not quiet (pending or settling), sums may still move: {}\n",
                not_quiet.join(", ")
            ));
        }
        let unbalanced: Vec<&Pair> = b.unbalanced().collect();
        if unbalanced.is_empty() {
            out.push_str(&format!(
                "Books balance: {} link(s) with both ends, every sum zero.\n",
                b.pairs.len()
            ));
        } else {
            out.push_str(&format!(
                "BOOKS DO NOT BALANCE: {} of {} link(s):\n",
                unbalanced.len(),
                b.pairs.len()
            ));
            for p in unbalanced {
                out.push_str(&format!(
                    "  {}: {} ({} for {}: {}, {} for {}: {})\n",
                    p.name(),
                    match p.sum() {
                        Some(s) => format!("sums to {s}, not 0"),
                        None => "the sum overflows i128".to_string(),
                    },
                    p.a,
                    p.b,
                    p.a_for_b.committed,
                    p.b,
                    p.a,
                    p.b_for_a.committed
                ));
            }
        }
        out
    }
}

/// The JSON of an [`Outcome`] (`books --json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonOutcome<'a> {
    /// [`Outcome::is_good`]: the exit code is 0.
    pub ok: bool,
    /// Every link with both ends sums to zero.
    pub balanced: bool,
    /// No link has anything pending or settling.
    pub quiet: bool,
    /// `--wait-quiet` ran out.
    pub quiet_timed_out: bool,
    /// The links whose ends do not sum to zero (`a - b`).
    pub unbalanced: Vec<String>,
    /// The links with something pending or settling.
    pub not_quiet: Vec<String>,
    /// The links with both ends.
    pub links: Vec<JsonPair<'a>>,
    /// The links between listed nodes with one end only.
    pub one_end: Vec<JsonSingle<'a>>,
    /// The links to peers that are no listed node.
    pub outside: Vec<JsonSingle<'a>>,
    /// The nodes that did not answer (`--allow-missing`).
    pub missing: &'a [Missing],
}

/// A link with both ends, in [`JsonOutcome`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonPair<'a> {
    /// `a - b`.
    pub link: String,
    /// The node listed first.
    pub a: &'a str,
    /// The other.
    pub b: &'a str,
    /// A's committed for B plus B's for A; `null` past `i128`.
    pub sum: Option<Amount>,
    /// The sum is zero.
    pub balanced: bool,
    /// Nothing pending or settling on either end.
    pub quiet: bool,
    /// A's balance with B.
    pub a_for_b: &'a Balance,
    /// B's balance with A.
    pub b_for_a: &'a Balance,
}

/// A link seen from one end, in [`JsonOutcome`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonSingle<'a> {
    /// `node - peer`.
    pub link: String,
    /// The node that reports it.
    pub node: &'a str,
    /// Its peer.
    pub peer: &'a str,
    /// `peer` or `child`, as reported.
    pub relation: &'a str,
    /// Why the other end is absent (links between listed nodes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its balance.
    pub balance: &'a Balance,
}

impl<'a> JsonSingle<'a> {
    fn of(s: &'a Single, reason: Option<String>) -> Self {
        Self {
            link: s.name(),
            node: &s.node,
            peer: &s.end.peer,
            relation: &s.end.relation,
            reason,
            balance: &s.end.balance,
        }
    }
}

fn absent_reason(s: &Single, why: &Absent) -> String {
    match why {
        Absent::NoAnswer => format!("{} did not answer", s.end.peer),
        Absent::NoLinkBack => format!("{} reports no link to {}", s.end.peer, s.node),
    }
}

fn sum_text(sum: Option<i128>) -> String {
    sum.map_or_else(|| "overflow".to_string(), |s| s.to_string())
}

fn pending(b: &Balance) -> String {
    format!("{}/{}", b.pending_incoming, b.pending_outgoing)
}

fn settling(b: &Balance) -> String {
    b.settling
        .map_or_else(|| "-".to_string(), |s| s.to_string())
}

fn settled(b: &Balance) -> String {
    format!("{}/{}", b.settled_out, b.settled_in)
}

fn end_text(s: &Single) -> String {
    let b = &s.end.balance;
    format!(
        "committed {}, pending in/out {}, settling {}, settled out/in {}",
        b.committed,
        pending(b),
        settling(b),
        settled(b)
    )
}

/// A plain-text table: columns as wide as their widest cell, two spaces
/// apart; the columns in `right` aligned right (numbers).
fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if right.contains(&i) {
                s.push_str(&format!("{cell:>w$}"));
            } else {
                s.push_str(&format!("{cell:<w$}"));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
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
    .map_err(|source| NodeError::NoAnswer {
        node: target.name.clone(),
        addr: target.health.clone(),
        source,
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
    use super::*;
    use serde_json::json;

    /// A balance object as a node writes it.
    fn balance(committed: &str, pending_in: &str, pending_out: &str, settling: Value) -> Value {
        json!({
            "committed": committed,
            "pendingIncoming": pending_in,
            "pendingOutgoing": pending_out,
            "settling": settling,
            "settledOut": "3400",
            "settledIn": "0",
            "settlement": "idle",
            "settlements": {"sent": 3, "accepted": 2, "refused": 1, "received": 2},
            "limits": {"minimum": null, "maximum": "1000000", "settleThreshold": "-100000", "settleTo": "0"}
        })
    }

    fn quiet(committed: &str) -> Value {
        balance(committed, "0", "0", Value::Null)
    }

    /// A health report of `id` with `links` (peer id, relation, balance).
    fn health(id: &str, links: &[(&str, &str, Value)]) -> Vec<u8> {
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

    fn node(id: &str, links: &[(&str, &str, Value)]) -> NodeBooks {
        parse_health(id, &health(id, links)).unwrap()
    }

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
