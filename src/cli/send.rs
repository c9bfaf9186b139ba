//! `ilp-connector send`: its flags, turned into [`SendSettings`], and the
//! run that prints the summary.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{RuntimeArgs, config_error};
use crate::config::Secret;
use crate::send::{self, SendSettings};

/// Flags of `send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// WebSocket URL of the node to send through.
    #[arg(long, env = "ILP_SEND_URL", default_value_t = send::default_url())]
    pub url: String,
    /// BTP username: the child account's id on that node.
    #[arg(long, env = "ILP_SEND_USERNAME", default_value = send::DEFAULT_USERNAME)]
    pub username: String,
    /// BTP secret of that account (prefer the environment or
    /// --secret-file: a flag's value shows in the process list).
    #[arg(long, env = "ILP_SEND_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
    /// File holding the BTP secret.
    #[arg(long, env = "ILP_SEND_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Destination ILP address, e.g. g.connector-c.receiver.
    #[arg(long)]
    pub destination: String,
    /// Amount of each packet.
    #[arg(long, default_value_t = send::DEFAULT_AMOUNT)]
    pub amount: u64,
    /// Expiry of each packet, in milliseconds from when it is sent.
    #[arg(long, default_value_t = send::DEFAULT_EXPIRY_MS, value_parser = clap::value_parser!(u64).range(1..=send::MAX_EXPIRY_MS))]
    pub expiry_ms: u64,
    /// Number of packets.
    #[arg(long, default_value_t = send::DEFAULT_COUNT, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Packets in flight at once.
    #[arg(long, default_value_t = send::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Bytes of random data in each packet.
    #[arg(long, default_value_t = send::DEFAULT_DATA_SIZE)]
    pub data_size: usize,
    /// The receiver's secret: conditions are derived from it and the data, so
    /// the node's test receiver can fulfil. Without it conditions are random.
    /// Prefer the environment or --receiver-secret-file.
    #[arg(long, env = "RECEIVER_SECRET", hide_env_values = true)]
    pub receiver_secret: Option<Secret>,
    /// File holding the receiver's secret.
    #[arg(long, env = "RECEIVER_SECRET_FILE")]
    pub receiver_secret_file: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl SendArgs {
    /// The settings these flags give (`--json` is how [`run`] prints).
    pub fn into_settings(self) -> SendSettings {
        SendSettings {
            url: self.url,
            username: self.username,
            secret: self.secret,
            secret_file: self.secret_file,
            destination: self.destination,
            amount: self.amount,
            expiry_ms: self.expiry_ms,
            count: self.count,
            concurrency: self.concurrency,
            data_size: self.data_size,
            receiver_secret: self.receiver_secret,
            receiver_secret_file: self.receiver_secret_file,
        }
    }
}

/// Runs `send`; exit 1 if any packet was not fulfilled.
pub fn run(args: SendArgs, rt: &RuntimeArgs) -> ExitCode {
    let json = args.json;
    let settings = args.into_settings();
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(send::run(&settings)) {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    // Derived Serialize, string keys only: cannot fail.
                    serde_json::to_string_pretty(&summary).expect("summary serializes")
                );
            } else {
                print!("{}", send::render_text(&summary));
            }
            if summary.all_fulfilled() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) if e.is_usage() => config_error(&e),
        Err(e) => {
            eprintln!("ilp-connector send: {e}");
            ExitCode::FAILURE
        }
    }
}
