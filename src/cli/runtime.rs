//! The runtime choice (`RUNTIME`, `WORKER_THREADS`), shared by every subcommand.

use std::process::ExitCode;

/// Which tokio scheduler runs a process (`RUNTIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Every task on the one thread that started the node: no cross-thread
    /// wake-ups, the least CPU per packet (see BENCHMARKS.md, runtime table).
    /// Suits a network of many nodes on one machine.
    CurrentThread,
    /// Tokio's work-stealing scheduler with `WORKER_THREADS` workers (default:
    /// one per core): one node alone on a machine can use every core.
    MultiThread,
}

/// How the process's tokio runtime is built (clap; shared by every subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Tokio scheduler: current-thread (one thread, least CPU per packet) or
    /// multi-thread (`WORKER_THREADS` workers).
    #[arg(long, env = "RUNTIME", value_enum, default_value_t = DEFAULT_RUNTIME, global = true)]
    pub runtime: RuntimeKind,
    /// Worker threads of the multi-thread runtime [default: one per core].
    #[arg(long, env = "WORKER_THREADS", global = true, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKER_THREADS))]
    pub worker_threads: Option<u16>,
}

/// The scheduler chosen by the benchmark's runtime table (BENCHMARKS.md).
pub const DEFAULT_RUNTIME: RuntimeKind = RuntimeKind::CurrentThread;
/// Most worker threads accepted for `WORKER_THREADS`.
pub const MAX_WORKER_THREADS: i64 = 1_024;

impl RuntimeArgs {
    /// Builds the runtime these arguments describe.
    pub fn build(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.runtime {
            RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            RuntimeKind::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                if let Some(n) = self.worker_threads {
                    b.worker_threads(usize::from(n));
                }
                b
            }
        };
        builder.enable_all().build()
    }

    /// [`RuntimeArgs::build`] for a subcommand: a failure is reported, and
    /// is the exit code.
    pub(crate) fn start(&self) -> Result<tokio::runtime::Runtime, ExitCode> {
        self.build().map_err(|e| {
            eprintln!("ilp-connector: cannot start the tokio runtime: {e}");
            ExitCode::FAILURE
        })
    }
}
