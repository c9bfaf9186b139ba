//! `ilp-connector`: run a node (the default), `send` packets, probe `health`,
//! steer links through the `admin` API, or serve the network page (`dashboard`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ilp_connector::logging::LogFormat;
use ilp_connector::{admin_client, cli, config, dashboard, send};

// mimalloc instead of glibc malloc: each forwarded packet allocates a task
// (a 128-byte-aligned cell, glibc's slow `memalign` path), a oneshot, frames;
// under glibc these took a fifth of a node's CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An Interledger (ILPv4) connector node speaking BTP.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    node: config::NodeArgs,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    log_format: LogFormat,
    #[command(flatten)]
    runtime: cli::RuntimeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (the default when no command is given).
    Run(Box<config::NodeArgs>),
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
    Admin(Box<admin_client::AdminArgs>),
    /// Serve the live network page for a set of nodes (see docs/DASHBOARD.md).
    Dashboard(Box<dashboard::DashboardArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => cli::run_node(cli.node, &cli.runtime, &cli.log_level, cli.log_format),
        Some(Command::Run(node)) => {
            cli::run_node(*node, &cli.runtime, &cli.log_level, cli.log_format)
        }
        Some(Command::Send(args)) => cli::run_send(*args, &cli.runtime),
        Some(Command::Health {
            addr,
            port,
            verbose,
        }) => cli::run_health(
            addr.unwrap_or_else(|| format!("127.0.0.1:{port}")),
            verbose,
            &cli.runtime,
        ),
        Some(Command::Admin(args)) => cli::run_admin(*args, &cli.runtime),
        Some(Command::Dashboard(args)) => {
            cli::run_dashboard(*args, &cli.log_level, cli.log_format, &cli.runtime)
        }
    }
}
