//! Running external commands in the Docker and Swarm tiers (`tests/docker.rs`,
//! `tests/swarm.rs`): any command, and the binary, on the host or in a
//! throwaway container on a network, sending packets with `send`.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

/// The secret of the child account `sender` on every node of the rendered
/// networks (nix/topology.nix, senderSecret).
pub const SENDER_SECRET: &str = "sender-secret";
/// The test receiver's secret of the rendered networks (receiverSecret).
pub const RECEIVER_SECRET: &str = "receiver-secret";

/// Runs a command, returns its output (whatever the exit status).
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Output bytes as text, invalid UTF-8 replaced.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Where `ilp-connector` runs: this build's binary on the host, or the image
/// in a throwaway container (`docker run --rm --network <network> <image>`).
pub enum Binary {
    /// The binary at this path, on the host.
    Host(String),
    /// The image, in a container on the Docker network.
    Container {
        /// The Docker network the container joins.
        network: String,
        /// The image to run.
        image: String,
    },
}

impl Binary {
    /// Runs `ilp-connector ARGS...`; its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        match self {
            Binary::Host(path) => run(path, args),
            Binary::Container { network, image } => {
                let mut all = vec!["run", "--rm", "--network", network.as_str(), image];
                all.extend_from_slice(args);
                run("docker", &all)
            }
        }
    }

    /// `ilp-connector send --json` as the child account `sender` of the node
    /// at `url`: `count` packets to `destination` (a `.receiver` address
    /// takes them with [`RECEIVER_SECRET`]), `concurrency` at a time if given
    /// (else the binary's default). Whether it exited 0, and its summary.
    pub fn send(
        &self,
        url: &str,
        destination: &str,
        count: u32,
        concurrency: Option<u32>,
    ) -> (bool, Value) {
        self.send_amount(url, destination, count, concurrency, None)
    }

    /// [`Binary::send`] with packets of `amount` (else the binary's default).
    pub fn send_amount(
        &self,
        url: &str,
        destination: &str,
        count: u32,
        concurrency: Option<u32>,
        amount: Option<u64>,
    ) -> (bool, Value) {
        let count = count.to_string();
        let concurrency = concurrency.map(|c| c.to_string());
        let amount = amount.map(|a| a.to_string());
        let mut args = vec![
            "send",
            "--url",
            url,
            "--secret",
            SENDER_SECRET,
            "--receiver-secret",
            RECEIVER_SECRET,
            "--destination",
            destination,
            "--count",
            &count,
        ];
        if let Some(c) = &concurrency {
            args.extend(["--concurrency", c]);
        }
        if let Some(a) = &amount {
            args.extend(["--amount", a]);
        }
        args.push("--json");
        self.run_json("send", &args)
    }

    /// Runs a subcommand that prints JSON (`--json` among `args`): whether
    /// it exited 0, and what it printed; panics naming `what` when it
    /// printed no JSON.
    pub fn run_json(&self, what: &str, args: &[&str]) -> (bool, Value) {
        let out = self.run(args);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{what} printed no JSON ({e}; {}):\n{}{}",
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            )
        });
        (out.status.success(), json)
    }
}
