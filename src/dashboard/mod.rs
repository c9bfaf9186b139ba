//! `ilp-connector dashboard`: one web page that shows a whole network live
//! and acts on it, plus a small JSON + server-sent-events API behind it.
//!
//! # Layout
//! - [`client`]: the dashboard's requests to the nodes' health ports (over
//!   [`crate::http::client`]).
//! - [`scrape`]: reads the few series the page needs from a node's scraped
//!   `/metrics` (Prometheus text). Pure.
//! - [`books`]: a link's books as a node reports them (`balance`), and the
//!   settlements seen between two polls. Pure.
//! - [`state`]: what is known of each node, counter windows and rates, the
//!   snapshot the page draws (nodes, edges, rejects). Pure apart from clocks.
//! - `shared`: the state the tasks share, and the snapshot made from it.
//! - [`poll`]: one poller task per node.
//! - [`publish`]: the snapshot after each poll round, and server-sent events.
//! - [`page_send`]: sends from the page; `relay`: admin actions relayed to a node.
//! - `response`: the shapes of the answers; [`router`]: which request goes
//!   to which answer.
//! - [`server`]: start and stop: the tasks above and the HTTP server of the
//!   page on [`crate::http::server`].
//! - `assets/`: the page itself (HTML, CSS, JS, SVG), embedded with
//!   `include_str!`; nothing is fetched from elsewhere at build or run time.
//!
//! # What the dashboard reads from a node (the node-side contract)
//! All on the node's health port (`HEALTH_PORT`), plain HTTP/1.1, JSON unless
//! said otherwise. Only `/health` exists in every node; each other endpoint is
//! optional: a 404 (or no answer) means "this node does not have it", and the
//! page says so quietly next to what it would have shown.
//!
//! - `GET /health` ([`crate::report::Report`]): status, `nodeId`,
//!   `ilpAddress`, `btpServerPort`, `uptimeSeconds`, `version`, and `links[]`
//!   with `id`, `relation`, `direction`, `connected`, `since`,
//!   `pendingRequests`. Optional per link: `fault` (the same object as in
//!   `GET /admin/links`, below), shown as a faulted link; `balance`, the
//!   link's books (below). Optional top-level: `books`, `"memory"` or
//!   `"durable"`.
//! - Books, per link, in `/health` and `GET /admin/links` alike (read by
//!   [`books::Balance::from_json`]; amounts are decimal strings of `i128`s,
//!   positive when the peer owes the node): `"balance": {"committed":
//!   "-1200", "pendingIncoming": "0", "pendingOutgoing": "5", "settling":
//!   null | "1200", "settledOut": "3400", "settledIn": "0", "settlement":
//!   "idle" | "in flight" | "settlement refused by peer" | "link down",
//!   "settlements": {"sent": 3, "accepted": 2, "refused": 1, "received":
//!   2}, "limits": {"minimum": null, "maximum": "1000000",
//!   "settleThreshold": "-100000", "settleTo": "0"}}`. Without an integer
//!   `committed` the link has no books on the page.
//! - `GET /metrics`, Prometheus text format. Read, when present:
//!   - `ilp_packets_total{link, direction, outcome[, code]}` counter:
//!     `direction` is `incoming` (Prepares this node received on `link`) or
//!     `outgoing` (Prepares it sent on `link`); `outcome` is `fulfilled`,
//!     `rejected` (with `code="F02"` etc.) or `failed`. An `outcome` that is
//!     itself an ILP code (`outcome="T01"`) is read as a reject with that code.
//!     Packet rates per link are the increase of this counter per second;
//!     rejects by code are the increase of the `incoming`, rejected series.
//!   - `ilp_in_flight{link}` gauge: shown as the node's in flight (summed);
//!     without it the sum of `pendingRequests` from `/health` is shown.
//!   - `ilp_forward_latency_seconds` histogram (any labels, summed): the
//!     mean forwarding latency over the last seconds, from `_sum` / `_count`.
//!   - `ilp_link_up{link}` gauge (0/1): used when `/health` lacks the link.
//! - `GET /routes`: `{"epoch": 7, "routes": [{"prefix": "g.b", "nextHop":
//!   "b", "path": ["b"], "source": "ccp"}]}`; `epoch`, `path` and `source` may
//!   be missing (`next_hop` is accepted for `nextHop`).
//! - The admin API, under `/admin/`, only when the node was given
//!   `ADMIN_TOKEN`; every call carries `Authorization: Bearer <token>` (the
//!   dashboard's `DASHBOARD_ADMIN_TOKEN`, the same for every node). A node
//!   without it answers 404; a wrong token gets 401 or 403.
//!   - `GET /admin/links`: `{"links": [{"id": "b", "connected": true,
//!     "fault": null | {"down": true, "down_until": "<RFC 3339>" | null,
//!     "latency_ms": 200, "jitter_ms": 50, "loss": 0.3, "loss_mode":
//!     "reject" | "drop"}}]}` (camelCase keys are accepted too). The node
//!     also lists per link `relation`, `in_flight`, `routes` (the prefixes
//!     routed through it) and `counters` (`incoming`/`outgoing` with
//!     `fulfilled`, `rejected`, `rejected_by_code`; `failed`, `bytes_in`,
//!     `bytes_out`, `state_changes`, `reconnects`); the page needs none.
//!   - `POST /admin/links/<id>/down` `{"seconds": 30}` (optional: held down
//!     until `/up` without it); `POST /admin/links/<id>/up` `{}`.
//!   - `POST /admin/links/<id>/fault` `{"latency_ms": 200, "jitter_ms": 50,
//!     "loss": 0.3, "loss_mode": "reject" | "drop", "settlement_refused":
//!     false}`; all zeros clears that link's fault. `settlement_refused`
//!     (a node with books only) refuses the peer's settlements; a body
//!     without it sets it false, so the page always sends it to a node that
//!     has books and never to one without.
//!   - `POST /admin/links/<id>/limits` `{"minimum": "-1000" | null,
//!     "maximum", "settleThreshold", "settleTo"}`: a field present sets that
//!     limit (`null` removes it), absent keeps it.
//!   - `POST /admin/links/<id>/settle` `{}`: settle now (409 when nothing is
//!     owed or a settlement is in flight).
//!   - `DELETE /admin/faults`: clears every fault and hold-down on the node.
//!   - `GET /admin/routes`: as `GET /routes` (read when `/routes` is absent).
//!
//! # The dashboard's own API
//! - `GET /` the page; `GET /assets/<file>` its CSS, JS, SVG.
//! - `GET /api/state`: the current [`state::Snapshot`] as JSON.
//! - `GET /api/events`: server-sent events; `event: state` with a snapshot
//!   after every poll round and at least every [`publish::SSE_MAX_GAP`].
//! - `GET /health`: 200 while the page is served (the container health
//!   check), with `{"status": "serving", "nodes", "nodesAnswering",
//!   "nodesUp"}`; the nodes' own state never makes it fail.
//! - `POST /api/send` `{"from": "a", "to": "c", "count": 10}`: sends from
//!   `from`'s sender account to `to`'s test receiver; answers `{"ok": true,
//!   "summary": <`[`crate::send::Summary`]`>}` or `{"ok": false, "error": ...}`.
//! - `POST /api/admin/<node>/links/<id>/<down|up|fault|limits|settle>`,
//!   `DELETE /api/admin/<node>/faults`: relayed to that node's admin API
//!   with the token; answers `{"ok", "node", "status", "body"}` (the node's
//!   answer). A `limits`, `settle` or `settlement_refused` body that is not
//!   as above is a 400 naming the field, not relayed.
//!
//! Outcomes that depend on the network (a node refused, a send could not
//! connect) come back as HTTP 200 with `"ok": false`, so the browser logs no
//! failed request; 4xx is kept for malformed requests.
//!
//! POSTs must be `application/json`; the dashboard sends no CORS headers, so a
//! page from another origin cannot make a browser act through it.

pub mod books;
pub mod client;
pub mod page_send;
pub mod poll;
pub mod publish;
mod relay;
mod response;
pub mod router;
pub mod scrape;
pub mod server;
mod shared;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{
    ConfigError, MAX_NODE_ID_LEN, Secret, in_range, secret_from, validate_node_id,
};
use crate::logging::shown;

pub use server::{DashboardHandle, start};

/// Default port of the page.
pub const DEFAULT_PORT: u16 = 8000;
/// Default time between two polls of a node.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 500;
/// Shortest poll interval accepted.
pub const MIN_POLL_INTERVAL_MS: u64 = 100;
/// Longest poll interval accepted: the page must move at least every second.
pub const MAX_POLL_INTERVAL_MS: u64 = 1_000;
/// Most nodes one dashboard watches.
pub const MAX_NODES: usize = 64;
/// Default BTP username of the sender account on each node (`send`'s).
pub const DEFAULT_SENDER_USERNAME: &str = crate::send::DEFAULT_USERNAME;

/// The dashboard's settings as given (by its flags, see
/// `crate::cli::dashboard`), unchecked; [`DashboardSettings::into_config`]
/// checks them. The page's address and port are the caller's: it binds the
/// listener [`start`] takes.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// `DASHBOARD_NODES`: `name=http://host:health_port` entries.
    pub nodes: Vec<String>,
    /// `DASHBOARD_BTP_URLS`: `name=ws://host:port` entries.
    pub btp_urls: Vec<String>,
    /// `DASHBOARD_POLL_INTERVAL_MS`.
    pub poll_interval_ms: u64,
    /// `DASHBOARD_ADMIN_TOKEN`: bearer token for the nodes' admin API.
    pub admin_token: Option<String>,
    /// `DASHBOARD_ADMIN_TOKEN_FILE`.
    pub admin_token_file: Option<PathBuf>,
    /// `DASHBOARD_SENDER_USERNAME`: the sender (child) account on every node.
    pub sender_username: String,
    /// `DASHBOARD_SENDER_SECRET`: its BTP secret.
    pub sender_secret: Option<String>,
    /// `DASHBOARD_SENDER_SECRET_FILE`.
    pub sender_secret_file: Option<PathBuf>,
    /// `DASHBOARD_RECEIVER_SECRET`: the nodes' `RECEIVER_SECRET`.
    pub receiver_secret: Option<String>,
    /// `DASHBOARD_RECEIVER_SECRET_FILE`.
    pub receiver_secret_file: Option<PathBuf>,
}

/// One watched node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTarget {
    /// Name on the page (normally its NODE_ID).
    pub name: String,
    /// `host:port` of its health endpoint.
    pub health: String,
    /// Its BTP URL, when given; else derived from the health report.
    pub btp_url: Option<String>,
}

/// The dashboard's configuration, validated.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// The nodes, in the order given.
    pub nodes: Vec<NodeTarget>,
    /// Time between two polls of each node.
    pub poll_interval: Duration,
    /// The admin token, if any.
    pub admin_token: Option<Secret>,
    /// The sender account's username.
    pub sender_username: String,
    /// The sender account's secret; sending is off without it.
    pub sender_secret: Option<Secret>,
    /// The receivers' secret.
    pub receiver_secret: Option<Secret>,
}

fn err(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(variable, message)
}

/// `name=url` of a list entry of `variable`, or the error naming the
/// expected `form`.
fn split_entry<'a>(
    variable: &str,
    entry: &'a str,
    form: &str,
) -> Result<(&'a str, &'a str), ConfigError> {
    entry
        .split_once('=')
        .ok_or_else(|| err(variable, format!("`{}`: expected {form}", shown(entry))))
}

/// Parses one `name=http://host:port` entry of `DASHBOARD_NODES`.
pub fn parse_node(entry: &str) -> Result<NodeTarget, ConfigError> {
    parse_node_of("DASHBOARD_NODES", entry)
}

/// Parses one `name=http://host:port` entry (or `name=host:port`, read as
/// `http://`) of `variable`, the list option it came from, which its errors
/// name. Shared with `ilp-connector books`, which takes the same list.
pub fn parse_node_of(variable: &str, entry: &str) -> Result<NodeTarget, ConfigError> {
    let (name, url) = split_entry(variable, entry, "name=http://host:port")?;
    let name = name.trim();
    if name.is_empty()
        || name.len() > MAX_NODE_ID_LEN
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        let shown = shown(name);
        return Err(err(
            variable,
            format!("`{shown}`: a node name is 1-{MAX_NODE_ID_LEN} letters, digits and `-`"),
        ));
    }
    // Errors quote the URL cut, escaped and without what may be a password.
    let url = url.trim();
    let with_scheme;
    let url = if url.contains("://") {
        url
    } else {
        with_scheme = format!("http://{url}");
        &with_scheme
    };
    let quoted = shown(crate::config::without_credentials(url));
    let parsed = url::Url::parse(url)
        .map_err(|e| err(variable, format!("{name}: `{quoted}` is not a URL: {e}")))?;
    if parsed.scheme() != "http" {
        return Err(err(
            variable,
            format!("{name}: the health URL must start with http:// (got `{quoted}`)"),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err(variable, format!("{name}: no credentials in the URL")));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| err(variable, format!("{name}: `{quoted}` has no host")))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(NodeTarget {
        name: name.to_string(),
        health: format!("{host}:{port}"),
        btp_url: None,
    })
}

/// Parses the node list of `variable` (`DASHBOARD_NODES`, `BOOKS_NODES`):
/// blank entries skipped, 1 to [`MAX_NODES`] entries, each by
/// [`parse_node_of`], no name twice.
pub fn parse_nodes(variable: &str, entries: &[String]) -> Result<Vec<NodeTarget>, ConfigError> {
    let listed = entries.iter().filter(|e| !e.trim().is_empty());
    // Counted before anything is parsed: a list of any length costs no
    // more than MAX_NODES entries' work.
    in_range(variable, listed.clone().count(), 1, MAX_NODES, " nodes")?;
    let mut nodes: Vec<NodeTarget> = Vec::new();
    for entry in listed {
        let n = parse_node_of(variable, entry)?;
        if nodes.iter().any(|m| m.name == n.name) {
            return Err(err(variable, format!("{} is listed twice", n.name)));
        }
        nodes.push(n);
    }
    Ok(nodes)
}

impl DashboardSettings {
    /// Validates the settings (then [`DashboardConfig::validate`]).
    pub fn into_config(self) -> Result<DashboardConfig, ConfigError> {
        // Counted before anything is parsed: a list of any length costs no
        // more than MAX_NODES entries' work.
        let listed = |v: &[String]| v.iter().filter(|e| !e.trim().is_empty()).count();
        in_range(
            "DASHBOARD_BTP_URLS",
            listed(&self.btp_urls),
            0,
            MAX_NODES,
            " URLs",
        )?;
        let mut nodes = parse_nodes("DASHBOARD_NODES", &self.nodes)?;
        for entry in self.btp_urls.iter().filter(|e| !e.trim().is_empty()) {
            const OPT: &str = "DASHBOARD_BTP_URLS";
            let (name, url) = split_entry(OPT, entry, "name=ws://host:port")?;
            let name = name.trim();
            crate::config::parse_peer_url(OPT, url.trim())
                .map_err(|e| err(OPT, format!("{}: {}", shown(name), e.message)))?;
            let node = nodes
                .iter_mut()
                .find(|n| n.name == name)
                .ok_or_else(|| err(OPT, format!("{} is not in DASHBOARD_NODES", shown(name))))?;
            if node.btp_url.is_some() {
                return Err(err(OPT, format!("{name} is listed twice")));
            }
            node.btp_url = Some(url.trim().to_string());
        }
        let config = DashboardConfig {
            nodes,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            admin_token: secret_from(
                "DASHBOARD_ADMIN_TOKEN",
                self.admin_token.as_deref(),
                "DASHBOARD_ADMIN_TOKEN_FILE",
                self.admin_token_file.as_deref(),
            )?,
            sender_username: self.sender_username,
            sender_secret: secret_from(
                "DASHBOARD_SENDER_SECRET",
                self.sender_secret.as_deref(),
                "DASHBOARD_SENDER_SECRET_FILE",
                self.sender_secret_file.as_deref(),
            )?,
            receiver_secret: secret_from(
                "DASHBOARD_RECEIVER_SECRET",
                self.receiver_secret.as_deref(),
                "DASHBOARD_RECEIVER_SECRET_FILE",
                self.receiver_secret_file.as_deref(),
            )?,
        };
        config.validate()?;
        Ok(config)
    }
}

impl DashboardConfig {
    /// Checks every setting is in its range, with the same helpers and
    /// messages as the node's [`crate::config::Config::validate`]. Run by
    /// [`DashboardSettings::into_config`] and by [`start`] (a configuration built
    /// in code gets the same checks; a zero poll interval would panic the
    /// poller's timer).
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("DASHBOARD_NODES", self.nodes.len(), 1, MAX_NODES, " nodes")?;
        let ms = u64::try_from(self.poll_interval.as_millis()).unwrap_or(u64::MAX);
        in_range(
            "DASHBOARD_POLL_INTERVAL_MS",
            ms,
            MIN_POLL_INTERVAL_MS,
            MAX_POLL_INTERVAL_MS,
            " milliseconds",
        )?;
        // The sender account is a child peer of each node: its id.
        validate_node_id("DASHBOARD_SENDER_USERNAME", &self.sender_username)?;
        Ok(())
    }

    /// A configuration for these `(name, health host:port)` nodes, nothing else set.
    pub fn new(nodes: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            nodes: nodes
                .into_iter()
                .map(|(name, health)| NodeTarget {
                    name,
                    health,
                    btp_url: None,
                })
                .collect(),
            poll_interval: Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
            admin_token: None,
            sender_username: DEFAULT_SENDER_USERNAME.into(),
            sender_secret: None,
            receiver_secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_entries_parse_and_bad_ones_name_the_option() {
        let n = parse_node("connector-a=http://127.0.0.1:8080").unwrap();
        assert_eq!(n.name, "connector-a");
        assert_eq!(n.health, "127.0.0.1:8080");
        assert_eq!(parse_node("b=http://b/health").unwrap().health, "b:80");
        assert_eq!(
            parse_node("c=127.0.0.1:8082").unwrap().health,
            "127.0.0.1:8082"
        );
        let e = parse_node_of("BOOKS_NODES", "a=ws://x:1").unwrap_err();
        assert_eq!(e.variable, "BOOKS_NODES");
        for bad in [
            "connector-a",
            "=http://x:1",
            "a=ws://x:1",
            "a=http://u:p@x:1",
            "a b=http://x:1",
        ] {
            let e = parse_node(bad).unwrap_err();
            assert_eq!(e.variable, "DASHBOARD_NODES", "{bad}");
        }
    }

    fn args(nodes: &[&str]) -> DashboardSettings {
        DashboardSettings {
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            btp_urls: vec![],
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            admin_token: None,
            admin_token_file: None,
            sender_username: "sender".into(),
            sender_secret: Some("s".into()),
            sender_secret_file: None,
            receiver_secret: None,
            receiver_secret_file: None,
        }
    }

    #[test]
    fn config_checks_duplicates_btp_urls_interval_and_secret_pairs() {
        let mut a = args(&["a=http://127.0.0.1:1", "b=http://127.0.0.1:2"]);
        a.btp_urls = vec!["b=ws://127.0.0.1:3000".into()];
        let c = a.into_config().unwrap();
        assert_eq!(c.nodes[1].btp_url.as_deref(), Some("ws://127.0.0.1:3000"));
        assert_eq!(c.nodes[0].btp_url, None);
        assert!(c.sender_secret.is_some());

        let e = args(&["a=http://x:1", "a=http://x:2"])
            .into_config()
            .unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
        let mut a = args(&["a=http://x:1"]);
        a.btp_urls = vec!["c=ws://x:3000".into()];
        assert_eq!(a.into_config().unwrap_err().variable, "DASHBOARD_BTP_URLS");
        let mut a = args(&["a=http://x:1"]);
        a.poll_interval_ms = 5_000;
        assert_eq!(
            a.into_config().unwrap_err().variable,
            "DASHBOARD_POLL_INTERVAL_MS"
        );
        let mut a = args(&["a=http://x:1"]);
        a.sender_secret_file = Some("/nonexistent".into());
        let e = a.into_config().unwrap_err();
        assert_eq!(e.variable, "DASHBOARD_SENDER_SECRET");
        assert!(!e.to_string().contains("\"s\""));
    }
}
