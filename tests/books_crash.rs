//! The books survive kill -9: a child process (this test binary re-invoked
//! with `BOOKS_CRASH_CHILD_DIR` set) records balances through the journal in
//! a loop and prints each value once its continuation reported it durable;
//! it is killed with SIGKILL after a random number of those lines, several
//! times. After each kill the reopened books hold, for every peer, at least
//! the last value printed as durable (and at most what was in flight
//! beyond it), and every incoming settlement id printed as durable.
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};

use ilp_connector::accounts::journal::Received;
use ilp_connector::accounts::store::{SettlementId, Store};

/// Set in the child: the books' directory.
const CHILD_ENV: &str = "BOOKS_CRASH_CHILD_DIR";
/// Peers the child writes.
const PEERS: usize = 8;
/// Operations the child has waiting for durability at most (as packets in
/// flight): the books may be ahead of the printed values by no more.
const WINDOW: usize = 512;
/// One operation in this many is an incoming settlement.
const SETTLEMENT_EVERY: u64 = 37;
/// Kill cycles.
const CYCLES: usize = 8;
/// The durable lines after which a kill comes, at most.
const MAX_LINES_BEFORE_KILL: u64 = 4_000;

fn hex(id: &SettlementId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The child: never returns; killed by the parent.
fn child(dir: &Path) -> ! {
    let (books, journal) = Store::open(dir)
        .expect("child: open")
        .start()
        .expect("child: start");
    let peers: Vec<Arc<str>> = (0..PEERS)
        .map(|n| Arc::from(format!("peer-{n}").as_str()))
        .collect();
    let mut values: Vec<i128> = peers
        .iter()
        .map(|p| books.peers.get(p).map_or(0, |b| b.balance))
        .collect();
    // Ids continue from the number of settlements recorded so far.
    let mut next_id: u64 = books
        .peers
        .values()
        .map(|b| u64::try_from(b.settled_in).expect("small"))
        .sum();
    // On a line of its own: libtest has printed "test NAME ... " unended.
    println!("\nready");
    let (tx, rx) = mpsc::channel::<()>();
    let mut outstanding = 0usize;
    for op in 0u64.. {
        let i = usize::try_from(op % PEERS as u64).expect("small");
        let peer = &peers[i];
        values[i] += 1;
        let value = values[i];
        let name = Arc::clone(peer);
        let done = tx.clone();
        if op % SETTLEMENT_EVERY == 0 {
            next_id += 1;
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&next_id.to_be_bytes());
            let then = Box::new(move |result: Result<(), _>| {
                result.expect("child: durable");
                println!("durable {name} {value} {}", hex(&id));
                let _ = done.send(());
            });
            let received = journal
                .settlement_received(peer, id, 1, value, then)
                .expect("child: recorded");
            assert_eq!(received, Received::New);
        } else {
            let then = Box::new(move |result: Result<(), _>| {
                result.expect("child: durable");
                println!("durable {name} {value}");
                let _ = done.send(());
            });
            journal
                .set_balance(peer, value, then)
                .expect("child: recorded");
        }
        outstanding += 1;
        while outstanding >= WINDOW {
            rx.recv().expect("child: continuation");
            outstanding -= 1;
        }
    }
    unreachable!("the loop has no end")
}

/// The child's entry point (the parent runs it with `--ignored`).
#[test]
#[ignore = "the child process of books_survive_kill_9, which runs it"]
fn books_crash_child_process() {
    let dir = std::env::var_os(CHILD_ENV).expect("run by books_survive_kill_9");
    child(Path::new(&dir));
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn books_survive_kill_9() {
    let dir = TempDir(std::env::temp_dir().join(format!("ilp-books-crash-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    // The last value printed as durable per peer, and the last id.
    let mut last: HashMap<String, i128> = HashMap::new();
    let mut last_id: HashMap<String, String> = HashMap::new();
    let exe = std::env::current_exe().expect("test binary");
    let mut kills = Vec::new();
    for cycle in 0..CYCLES {
        let kill_after = rand::random::<u64>() % MAX_LINES_BEFORE_KILL + 1;
        let mut child = Command::new(&exe)
            .args([
                "books_crash_child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir.0)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("piped");
        let mut ready = false;
        let mut lines = 0u64;
        let mut killed = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("child output");
            if line == "ready" {
                ready = true;
                continue;
            }
            let Some(rest) = line.strip_prefix("durable ") else {
                continue; // the test harness's own lines
            };
            let mut fields = rest.split(' ');
            let peer = fields.next().expect("peer").to_string();
            let value: i128 = fields.next().expect("value").parse().expect("number");
            if let Some(id) = fields.next() {
                last_id.insert(peer.clone(), id.to_string());
            }
            let seen = last.entry(peer.clone()).or_insert(value);
            assert!(value >= *seen, "{peer}: durable {value} after {seen}");
            *seen = value;
            lines += 1;
            if lines == kill_after && !killed {
                // std's kill is SIGKILL on Unix. Lines already in the pipe
                // are read on to its end: they were printed as durable.
                child.kill().expect("kill");
                killed = true;
            }
        }
        let status = child.wait().expect("wait");
        assert!(
            ready,
            "cycle {cycle}: the child never said ready ({status})"
        );
        assert!(killed, "cycle {cycle}: the child ended by itself: {status}");
        assert_eq!(status.signal(), Some(9), "cycle {cycle}: {status}");
        kills.push(lines);

        let books = Store::open(&dir.0)
            .expect("reopen after kill")
            .load()
            .expect("load after kill");
        for (peer, &value) in &last {
            let stored = books.peers.get(peer.as_str()).map_or(0, |b| b.balance);
            assert!(
                stored >= value,
                "cycle {cycle}: {peer} printed {value} as durable, the books hold {stored}"
            );
            assert!(
                stored <= value + WINDOW as i128,
                "cycle {cycle}: {peer} holds {stored}, past what was in flight after {value}"
            );
        }
        for (peer, id) in &last_id {
            let known = books.peers[peer.as_str()]
                .received
                .iter()
                .any(|r| hex(r) == *id);
            assert!(
                known,
                "cycle {cycle}: {peer}'s settlement {id} was durable, not kept"
            );
        }
    }
    assert_eq!(last.len(), PEERS);
    println!("durable lines before each kill: {kills:?}");
}
