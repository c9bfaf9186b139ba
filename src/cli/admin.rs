//! `ilp-connector admin`: its flags and subcommands, turned into an
//! [`AdminCommand`], and the run that prints the node's answer.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{RuntimeArgs, config_error, value_enum};
use crate::admin_client::{self, AdminCommand, AdminError};
use crate::config;
use crate::fault::{LossMode, MAX_DOWN_SECONDS, MAX_FAULT_LATENCY_MS};

value_enum!(LossMode {
    Reject => "reject": "Answered T01 at once",
    Drop => "drop": "Not sent; answered R00 at its expiry",
});

/// Flags of `admin`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// host:port of the node's health port, where the admin API is served
    /// [default: 127.0.0.1:$HEALTH_PORT].
    #[arg(long, env = "ADMIN_ADDR")]
    pub addr: Option<String>,
    /// The health port when --addr is not given.
    #[arg(long, env = "HEALTH_PORT", default_value_t = config::DEFAULT_HEALTH_PORT)]
    pub port: u16,
    /// File holding the admin token (else the token is read from ADMIN_TOKEN).
    #[arg(long, env = admin_client::TOKEN_FILE_VAR)]
    pub token_file: Option<PathBuf>,
    /// Print the node's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminSubcommand,
}

/// What `admin` does: its subcommands.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum AdminSubcommand {
    /// List the links, whether each is up, and their faults.
    Links,
    /// Show the routing table (prefix, next hop, origin, path); no token needed.
    Routes,
    /// Hold a link down: closed now, neither redialed nor accepted.
    LinkDown {
        /// Peer id of the link.
        peer: String,
        /// Bring it back by itself after this many seconds [default: held
        /// until `link-up`].
        #[arg(long = "for", value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=MAX_DOWN_SECONDS))]
        seconds: Option<u64>,
    },
    /// End a hold-down: the link is redialed (or accepted) again.
    LinkUp {
        /// Peer id of the link.
        peer: String,
    },
    /// Add latency and loss to the Prepares forwarded onto a link (all zero clears them).
    Fault {
        /// Peer id of the link.
        peer: String,
        /// Fixed delay, in milliseconds.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_FAULT_LATENCY_MS))]
        latency_ms: u64,
        /// Random extra delay, up to this many milliseconds.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_FAULT_LATENCY_MS))]
        jitter_ms: u64,
        /// Share of Prepares lost, 0 to 1.
        #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
        loss: f64,
        /// What a lost Prepare gets: reject (T01 at once) or drop (R00 at its expiry).
        #[arg(long, value_enum, default_value_t = LossMode::Reject)]
        loss_mode: LossMode,
    },
    /// Clear every fault of every link.
    Clear,
}

impl From<AdminSubcommand> for AdminCommand {
    fn from(c: AdminSubcommand) -> Self {
        match c {
            AdminSubcommand::Links => AdminCommand::Links,
            AdminSubcommand::Routes => AdminCommand::Routes,
            AdminSubcommand::LinkDown { peer, seconds } => AdminCommand::LinkDown { peer, seconds },
            AdminSubcommand::LinkUp { peer } => AdminCommand::LinkUp { peer },
            AdminSubcommand::Fault {
                peer,
                latency_ms,
                jitter_ms,
                loss,
                loss_mode,
            } => AdminCommand::Fault {
                peer,
                latency_ms,
                jitter_ms,
                loss,
                loss_mode,
            },
            AdminSubcommand::Clear => AdminCommand::Clear,
        }
    }
}

/// A `--loss` that is not a share.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    /// Not a number.
    #[error(transparent)]
    NotANumber(#[from] std::num::ParseFloatError),
    /// Outside 0 to 1.
    #[error("a share from 0 to 1")]
    OutOfRange,
}

/// Parses a share from 0 to 1 (`--loss`).
pub fn parse_share(s: &str) -> Result<f64, ShareError> {
    let v: f64 = s.parse()?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ShareError::OutOfRange)
    }
}

/// Runs `admin`: prints the node's answer; exit 1 if the node refused or
/// could not be reached, 2 on a usage error (e.g. no token).
pub fn run(args: AdminArgs, rt: &RuntimeArgs) -> ExitCode {
    let token = match admin_client::token(args.token_file.as_deref(), std::env::vars()) {
        Ok(t) => t,
        Err(e) => return config_error(&e),
    };
    let addr = args
        .addr
        .unwrap_or_else(|| format!("127.0.0.1:{}", args.port));
    let command = AdminCommand::from(args.command);
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(admin_client::run(&addr, &command, token.as_ref())) {
        Ok(answer) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&answer).expect("JSON serializes")
                );
            } else {
                print!("{}", admin_client::render_text(&command, &answer));
            }
            ExitCode::SUCCESS
        }
        Err(AdminError::Config(e)) => config_error(&e),
        Err(e) => {
            eprintln!("ilp-connector admin: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
