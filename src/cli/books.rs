//! `ilp-connector books`: its flags, turned into [`BooksSettings`], and the
//! run that prints the books and gives the exit code.

use std::process::ExitCode;

use super::{RuntimeArgs, config_error};
use crate::books::{self, BooksSettings, MAX_WAIT_QUIET_SECONDS};

/// Flags of `books`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
For each link between two listed nodes, the table shows A's committed balance \
with B and B's with A (positive = the peer owes that node), their sum, the \
amounts pending (in/out) and settling on each end, and what each end settled \
(out/in). Links seen from one end only, and links to peers that are no listed \
node (children such as `sender`), are listed apart and not judged.

Exit status: 0 when every link with both ends sums to zero exactly and its \
settled totals agree (what A paid B is what B received from A, both ways); 1 \
when one does not, when --wait-quiet ran out, or when a node could not be read (did not \
answer, or a malformed report or balance); 2 on a usage or configuration error.")]
pub struct BooksArgs {
    /// A node's health port, `name=http://host:port` or `name=host:port`;
    /// repeat it, or give a comma list (the dashboard's DASHBOARD_NODES form).
    /// The name is normally the node's NODE_ID.
    #[arg(
        long = "node",
        env = "BOOKS_NODES",
        value_delimiter = ',',
        required = true,
        value_name = "NAME=HOST:PORT"
    )]
    pub nodes: Vec<String>,
    /// Print the books as JSON (amounts as decimal strings).
    #[arg(long)]
    pub json: bool,
    /// Before judging, read again until no link has anything pending or
    /// settling, for at most this many seconds (running out is exit 1).
    #[arg(long, env = "BOOKS_WAIT_QUIET", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_QUIET_SECONDS))]
    pub wait_quiet: Option<u64>,
    /// A node that does not answer is listed (its links with one end only)
    /// instead of failing the run.
    #[arg(long, env = "BOOKS_ALLOW_MISSING")]
    pub allow_missing: bool,
    /// Milliseconds each node has to answer /health.
    #[arg(long, env = "BOOKS_TIMEOUT_MS", value_name = "MS", default_value_t = books::DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
}

impl BooksArgs {
    /// The settings these flags give.
    pub fn into_settings(self) -> BooksSettings {
        BooksSettings {
            nodes: self.nodes,
            timeout_ms: self.timeout_ms,
            wait_quiet_seconds: self.wait_quiet,
            allow_missing: self.allow_missing,
        }
    }
}

/// Runs `books`: prints the books (text or JSON) on stdout; exit 0 when they
/// balance, 1 when not or a node could not be read, 2 on a usage error.
pub fn run(args: BooksArgs, rt: &RuntimeArgs) -> ExitCode {
    let json = args.json;
    let config = match args.into_settings().into_config() {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    let rt = match rt.start() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(books::check(&config)) {
        Ok(outcome) => {
            if json {
                println!("{}", outcome.to_json());
            } else {
                print!("{}", outcome.render_text());
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("ilp-connector books: {e}");
            }
            ExitCode::from(books::EXIT_NOT_BALANCED)
        }
    }
}
