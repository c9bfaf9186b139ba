//! `ilp-connector admin`: a client of a node's admin API ([`crate::admin`])
//! and its routing report, for operators and for test networks whose image
//! has no shell or curl: list the links, hold one down (for a while or until
//! brought up), bring it up, add latency and loss, clear every fault, show
//! the routing table.
//!
//! The token comes from `ADMIN_TOKEN` (environment only, never a flag, so it
//! stays out of `ps` and shell history) or from the file `--token-file`
//! (`ADMIN_TOKEN_FILE`) names; `routes` needs none.

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;

use crate::config::{self, ConfigError, Secret};
use crate::fault::LossMode;
use crate::http::client::{self, ProbeError};
use crate::report::ROUTES_PATH;

/// The environment variable holding the admin token.
pub const TOKEN_VAR: &str = "ADMIN_TOKEN";
/// The environment variable (and `--token-file`) naming a file with the token.
pub const TOKEN_FILE_VAR: &str = "ADMIN_TOKEN_FILE";

/// What `admin` does (built from its subcommands by `crate::cli::admin`),
/// each the request [`AdminCommand::request`] names.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminCommand {
    /// `GET /admin/links`: each link, up or down, with its faults.
    Links,
    /// `GET /routes`: the routing table (no token).
    Routes,
    /// `POST /admin/links/<peer>/down`.
    LinkDown {
        /// The link's peer id.
        peer: String,
        /// Up again by itself after this many seconds; `None`: down until [`AdminCommand::LinkUp`].
        seconds: Option<u64>,
    },
    /// `POST /admin/links/<peer>/up`.
    LinkUp {
        /// The link's peer id.
        peer: String,
    },
    /// `POST /admin/links/<peer>/fault`: these faults on the Prepares
    /// forwarded onto the link (all zero: none).
    Fault {
        /// The link's peer id.
        peer: String,
        /// Fixed delay (ms).
        latency_ms: u64,
        /// Random extra delay, at most this (ms).
        jitter_ms: u64,
        /// Share lost, 0 to 1.
        loss: f64,
        /// What a lost Prepare gets.
        loss_mode: LossMode,
    },
    /// `DELETE /admin/faults`: no faults left on any link.
    Clear,
}

/// One HTTP request to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// JSON body (empty for none).
    pub body: String,
    /// Whether it goes to the admin API (and so needs the token).
    pub needs_token: bool,
}

/// Why `admin` failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad usage or configuration (exit 2).
    #[error("{}: {}", .0.variable, .0.message)]
    Config(ConfigError),
    /// The node could not be reached.
    #[error(transparent)]
    Unreachable(#[from] ProbeError),
    /// The node answered with an error.
    #[error("HTTP {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The node's error message (or its body).
        message: String,
    },
}

impl AdminCommand {
    /// The request this command makes; a peer id that is not a valid id is a usage error.
    pub fn request(&self) -> Result<AdminRequest, ConfigError> {
        let admin = |method: Method, path: String, body: String| AdminRequest {
            method,
            path,
            body,
            needs_token: true,
        };
        let link = |peer: &str, action: &str| -> Result<String, ConfigError> {
            config::validate_node_id("<peer>", peer)?;
            Ok(format!(
                "{}links/{peer}/{action}",
                crate::admin::ADMIN_PREFIX
            ))
        };
        Ok(match self {
            AdminCommand::Links => admin(
                Method::GET,
                format!("{}links", crate::admin::ADMIN_PREFIX),
                String::new(),
            ),
            AdminCommand::Routes => AdminRequest {
                method: Method::GET,
                path: ROUTES_PATH.into(),
                body: String::new(),
                needs_token: false,
            },
            AdminCommand::LinkDown { peer, seconds } => admin(
                Method::POST,
                link(peer, "down")?,
                match seconds {
                    Some(s) => serde_json::json!({ "seconds": s }).to_string(),
                    None => String::new(),
                },
            ),
            AdminCommand::LinkUp { peer } => admin(Method::POST, link(peer, "up")?, String::new()),
            AdminCommand::Fault {
                peer,
                latency_ms,
                jitter_ms,
                loss,
                loss_mode,
            } => admin(
                Method::POST,
                link(peer, "fault")?,
                serde_json::json!({
                    "latency_ms": latency_ms,
                    "jitter_ms": jitter_ms,
                    "loss": loss,
                    "loss_mode": loss_mode,
                })
                .to_string(),
            ),
            AdminCommand::Clear => admin(
                Method::DELETE,
                format!("{}faults", crate::admin::ADMIN_PREFIX),
                String::new(),
            ),
        })
    }
}

/// The token: `ADMIN_TOKEN` from `env` or the file `token_file` names, never both.
pub fn token(
    token_file: Option<&std::path::Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Option<Secret>, ConfigError> {
    let value = env
        .into_iter()
        .find(|(k, _)| k == TOKEN_VAR)
        .map(|(_, v)| v);
    config::secret_from(TOKEN_VAR, value.as_deref(), TOKEN_FILE_VAR, token_file)
}

/// Runs `command` against `addr`; returns the node's JSON answer.
pub async fn run(
    addr: &str,
    command: &AdminCommand,
    token: Option<&Secret>,
) -> Result<Value, AdminError> {
    let req = command.request().map_err(AdminError::Config)?;
    let bearer = match (req.needs_token, token) {
        (false, _) => None,
        (true, Some(t)) => Some(t.expose()),
        (true, None) => {
            return Err(AdminError::Config(ConfigError {
                variable: TOKEN_VAR.into(),
                message: format!(
                    "the admin API needs its token: set {TOKEN_VAR} or {TOKEN_FILE_VAR} (--token-file)"
                ),
            }));
        }
    };
    let (status, body) =
        client::request(addr, req.method, &req.path, bearer, Bytes::from(req.body)).await?;
    let value: Option<Value> = serde_json::from_str(&body).ok();
    if !(200..300).contains(&status) {
        let message = value
            .as_ref()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or(body);
        return Err(AdminError::Refused { status, message });
    }
    value.ok_or_else(|| AdminError::Refused {
        status,
        message: format!("the answer is not JSON: {body}"),
    })
}

/// The answer as text: one line per link or route.
pub fn render_text(command: &AdminCommand, answer: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    if *command == AdminCommand::Routes {
        out.push_str(&format!(
            "routing {}{}\n",
            s(&answer["routing"]),
            match (answer["routingTableId"].as_str(), answer["epoch"].as_u64()) {
                (Some(id), Some(e)) => format!(", table {id}, epoch {e}"),
                _ => String::new(),
            }
        ));
        for r in answer["routes"].as_array().into_iter().flatten() {
            let path: Vec<String> = r["path"].as_array().into_iter().flatten().map(s).collect();
            out.push_str(&format!(
                "{} -> {} ({}){}\n",
                s(&r["prefix"]),
                s(&r["nextHop"]),
                s(&r["origin"]),
                if path.is_empty() {
                    String::new()
                } else {
                    format!(" path {}", path.join(" "))
                }
            ));
        }
        return out;
    }
    for l in answer["links"].as_array().into_iter().flatten() {
        let state = if l["connected"] == Value::Bool(true) {
            "up"
        } else {
            "down"
        };
        let mut faults = Vec::new();
        let f = &l["fault"];
        if f["down"] == Value::Bool(true) {
            faults.push(match f["down_until"].as_str() {
                Some(t) => format!("held down until {t}"),
                None => "held down".into(),
            });
        }
        if f["latency_ms"].as_u64().is_some_and(|v| v > 0)
            || f["jitter_ms"].as_u64().is_some_and(|v| v > 0)
        {
            faults.push(format!(
                "latency {} ms + up to {} ms",
                f["latency_ms"], f["jitter_ms"]
            ));
        }
        if f["loss"].as_f64().is_some_and(|v| v > 0.0) {
            faults.push(format!("loss {} ({})", f["loss"], s(&f["loss_mode"])));
        }
        out.push_str(&format!("{} {state}", s(&l["id"])));
        if !faults.is_empty() {
            out.push_str(&format!(": {}", faults.join(", ")));
        }
        out.push('\n');
    }
    out
}
