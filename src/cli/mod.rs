//! The command line: the binary's subcommands and flags (clap; every option
//! with its environment variable), and what each subcommand does, so that
//! `main.rs` stays thin. This is the one layer that knows clap: it builds the
//! plain settings of the layers below ([`crate::config::NodeSettings`],
//! [`crate::send::SendSettings`], [`crate::admin_client::AdminCommand`],
//! [`crate::dashboard::DashboardSettings`], [`crate::books::BooksSettings`]), binds the listeners and builds
//! the runtime.
//!
//! - [`node`]: the node's flags and `run` (the default subcommand);
//! - [`send`], [`admin`], [`dashboard`], [`books`]: those subcommands;
//! - [`runtime`]: the runtime choice (`RUNTIME`, `WORKER_THREADS`);
//! - here: the subcommands, the log flags, `health`, listening and signals.

pub mod admin;
pub mod books;
pub mod dashboard;
pub mod node;
pub mod runtime;
pub mod send;

pub use runtime::{DEFAULT_RUNTIME, MAX_WORKER_THREADS, RuntimeArgs, RuntimeKind};

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing::error;

use crate::config;
use crate::http::client;
use crate::logging::LogFormat;

/// Exit code for bad configuration or usage.
pub const EXIT_CONFIG: u8 = 2;

/// `clap::ValueEnum` for a plain enum of a lower layer, which knows no clap:
/// each variant with its name on the command line and its `--help` line.
macro_rules! value_enum {
    ($ty:ident { $($variant:ident => $name:literal: $help:literal),+ $(,)? }) => {
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($ty::$variant),+]
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(match self {
                    $($ty::$variant => clap::builder::PossibleValue::new($name).help($help)),+
                })
            }
        }
    };
}
use value_enum;

value_enum!(LogFormat {
    Auto => "auto": "JSON when stdout is not a terminal, text when it is",
    Json => "json": "One JSON object per line",
    Text => "text": "Human-readable text",
});

/// An Interledger (ILPv4) connector node speaking BTP.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    node: node::NodeArgs,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    log_format: LogFormat,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (the default when no command is given).
    Run(Box<node::NodeArgs>),
    /// Send packets through a node as a child account and check the replies.
    Send(Box<send::SendArgs>),
    /// Probe a node's health endpoint: exit 0 when healthy, 1 when not.
    Health {
        /// host:port of the health endpoint [default: 127.0.0.1:$HEALTH_PORT].
        #[arg(long, env = "HEALTH_ADDR")]
        addr: Option<String>,
        /// The health port when --addr is not given.
        #[arg(long, env = "HEALTH_PORT", default_value_t = config::DEFAULT_HEALTH_PORT)]
        port: u16,
        /// Print the report.
        #[arg(long)]
        verbose: bool,
    },
    /// Steer a node's links through its admin API (ADMIN_TOKEN): list them,
    /// hold one down, bring it up, add faults, clear them; show its routes.
    Admin(Box<admin::AdminArgs>),
    /// Serve the live network page for a set of nodes (see docs/DASHBOARD.md).
    Dashboard(Box<dashboard::DashboardArgs>),
    /// Read every node's books and check that each link's two ends sum to
    /// zero: exit 0 when they do, 1 when not.
    Books(Box<books::BooksArgs>),
}

/// Parses the process's arguments and runs the subcommand they name.
pub fn main() -> ExitCode {
    Cli::parse().run()
}

impl Cli {
    /// Runs the subcommand (a node when none is named).
    pub fn run(self) -> ExitCode {
        let (level, format, rt) = (&self.log_level, self.log_format, &self.runtime);
        match self.command {
            None => node::run(self.node, rt, level, format),
            Some(Command::Run(args)) => node::run(*args, rt, level, format),
            Some(Command::Send(args)) => send::run(*args, rt),
            Some(Command::Health {
                addr,
                port,
                verbose,
            }) => run_health(
                addr.unwrap_or_else(|| format!("127.0.0.1:{port}")),
                verbose,
                rt,
            ),
            Some(Command::Admin(args)) => admin::run(*args, rt),
            Some(Command::Dashboard(args)) => dashboard::run(*args, level, format, rt),
            Some(Command::Books(args)) => books::run(*args, rt),
        }
    }
}

/// Reports a configuration or usage error; the exit code is [`EXIT_CONFIG`].
fn config_error(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("ilp-connector: configuration error: {message}");
    ExitCode::from(EXIT_CONFIG)
}

/// A listener that could not be bound, with the variable that chose its port.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: cannot listen on {address}: {source}")]
pub struct ListenError {
    /// The variable of the port (`BTP_SERVER_PORT`, `HEALTH_PORT`, ...).
    pub variable: &'static str,
    /// The address tried.
    pub address: SocketAddr,
    /// Why the bind failed.
    #[source]
    pub source: std::io::Error,
}

/// Binds `bind:port`; a failure names `variable`.
pub async fn listen(
    variable: &'static str,
    bind: IpAddr,
    port: u16,
) -> Result<TcpListener, ListenError> {
    let address = SocketAddr::new(bind, port);
    TcpListener::bind(address)
        .await
        .map_err(|source| ListenError {
            variable,
            address,
            source,
        })
}

/// Waits for SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        },
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops this process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Probes the health endpoint; exit 0 when healthy.
pub fn run_health(addr: String, verbose: bool, rt: &RuntimeArgs) -> ExitCode {
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(client::probe(&addr)) {
        Ok((status, body)) => {
            if verbose {
                println!("{body}");
            }
            if status == 200 {
                ExitCode::SUCCESS
            } else {
                eprintln!("unhealthy (HTTP {status}): {body}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
