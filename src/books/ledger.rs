//! The books of every node matched link by link ([`Books::reconcile`]):
//! the links with both ends and their sums, the links with one end only,
//! the links to peers that are no listed node; and the judgement of a run
//! ([`Outcome`]). Pure.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::error::{BooksError, NodeError};
use super::parse::{Balance, LinkEnd, NodeBooks};

/// Exit code when the books do not balance, are not quiet in time, or a
/// node could not be read.
pub const EXIT_NOT_BALANCED: u8 = 1;

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

    /// What A paid B is what B received from A, and the other way.
    pub fn settled_agree(&self) -> bool {
        self.a_for_b.settled_out == self.b_for_a.settled_in
            && self.a_for_b.settled_in == self.b_for_a.settled_out
    }

    /// The two ends sum to zero exactly, and their settled totals agree.
    pub fn balances(&self) -> bool {
        self.sum() == Some(0) && self.settled_agree()
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
}
