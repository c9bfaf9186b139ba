//! What can go wrong reading a node's books: an amount, a `balance`
//! object, a node (every error names it), a round of reads.

use std::fmt;
use std::time::Duration;

use crate::http::client::ProbeError;
use crate::report::HEALTH_PATH;

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
    /// No answer: refused, reset, not HTTP.
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
    /// No answer within the timeout (`BOOKS_TIMEOUT_MS`).
    #[error("node {node} ({addr}) did not answer within {timeout:?} (BOOKS_TIMEOUT_MS)")]
    TimedOut {
        /// Its name.
        node: String,
        /// `host:port` asked.
        addr: String,
        /// The time it had.
        timeout: Duration,
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
