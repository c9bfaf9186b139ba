//! The store candidates for the durable books, measured on this disk
//! (BENCHMARKS.md, "Durable books: store choice").
//!
//! What the connector asks of its store: group commits of N dirty links (one
//! row per link: an i128 balance and the settlement fields, 73 bytes), each
//! commit durable (fsync) before the packets it carries are fulfilled
//! upstream; and a fast open after a kill -9. For each candidate (redb,
//! SQLite through rusqlite in WAL mode with `synchronous=FULL`, fjall with
//! its journal synced on every batch):
//!
//! - 10,000 links written once, then for N = 1, 16, 256, 4096: commits of N
//!   rows for `--seconds` each: commits/s, p50/p99 commit latency and the
//!   packets/s ceiling N x commits/s (commits/s = 1 / mean latency; each commit carries the packets that
//!   arrived while the previous one ran, one dirty link per packet: the worst
//!   case, since packets of one link coalesce to one row);
//! - the files' size after that;
//! - open + read of all 10,000 rows, after a clean close and after the
//!   process writing them was killed with SIGKILL mid-loop (this program
//!   re-invoked as a child with `--child ENGINE DIR`).
//!
//!
//! Then the connector's own journal (`ilp_connector::accounts::journal`) on
//! SQLite, as the packet path drives it: C operations kept waiting for
//! durability at all times (C = 1, 64, 256: the packets in flight), spread
//! over 3 links (a chain) or 10,000: operations/s, p50/p99 from record to
//! continuation, and operations per commit.
//!
//! ```sh
//! cargo run --release --example store_bench -- --seconds 3
//! ```
use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// One link's row: balance i128, settled out u128, settled in u128, an
/// in-flight flag, the in-flight settlement's id (16 bytes) and amount (u64).
const ROW_LEN: usize = 16 + 16 + 16 + 1 + 16 + 8;
/// Links in the book.
const LINKS: usize = 10_000;
/// Rows per commit measured.
const BATCHES: [usize; 4] = [1, 16, 256, 4096];
/// Commits per point at most (the time budget usually ends it first).
const MAX_COMMITS: usize = 50_000;
/// Rows per commit of the child that is killed.
const CHILD_BATCH: usize = 256;
/// Commits the child makes before it says it is running.
const CHILD_READY_AFTER: usize = 50;
/// Kill and reopen cycles per candidate.
const KILL_CYCLES: usize = 3;

type Row = (String, [u8; ROW_LEN]);

trait Candidate {
    fn commit(&mut self, rows: &[Row]) -> BenchResult<()>;
    /// Reads every row; returns how many.
    fn load(&self) -> BenchResult<usize>;
}

fn open(engine: &str, dir: &Path) -> BenchResult<Box<dyn Candidate>> {
    std::fs::create_dir_all(dir)?;
    Ok(match engine {
        "redb" => Box::new(Redb::open(dir)?),
        "sqlite" => Box::new(Sqlite::open(dir)?),
        "fjall" => Box::new(Fjall::open(dir)?),
        other => return Err(format!("unknown engine {other}").into()),
    })
}

struct Redb {
    db: redb::Database,
}

const REDB_LINKS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("links");

impl Redb {
    fn open(dir: &Path) -> BenchResult<Self> {
        let db = redb::Database::create(dir.join("books.redb"))?;
        Ok(Redb { db })
    }
}

impl Candidate for Redb {
    fn commit(&mut self, rows: &[Row]) -> BenchResult<()> {
        // Durability::Immediate (the default): fsync before commit returns.
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(REDB_LINKS)?;
            for (key, row) in rows {
                table.insert(key.as_str(), row.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn load(&self) -> BenchResult<usize> {
        use redb::ReadableTable;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REDB_LINKS)?;
        let mut n = 0;
        for entry in table.iter()? {
            let (key, row) = entry?;
            n += usize::from(!key.value().is_empty() && row.value().len() == ROW_LEN);
        }
        Ok(n)
    }
}

struct Sqlite {
    conn: rusqlite::Connection,
}

impl Sqlite {
    fn open(dir: &Path) -> BenchResult<Self> {
        let conn = rusqlite::Connection::open(dir.join("books.sqlite"))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode}").into());
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
        if synchronous != 2 {
            return Err(format!("synchronous is {synchronous}, not FULL (2)").into());
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS links (peer TEXT PRIMARY KEY, row BLOB NOT NULL) WITHOUT ROWID",
        )?;
        Ok(Sqlite { conn })
    }
}

impl Candidate for Sqlite {
    fn commit(&mut self, rows: &[Row]) -> BenchResult<()> {
        let txn = self.conn.transaction()?;
        {
            let mut insert = txn.prepare_cached(
                "INSERT INTO links (peer, row) VALUES (?1, ?2) \
                 ON CONFLICT (peer) DO UPDATE SET row = excluded.row",
            )?;
            for (key, row) in rows {
                insert.execute(rusqlite::params![key, &row[..]])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn load(&self) -> BenchResult<usize> {
        let mut select = self.conn.prepare("SELECT peer, row FROM links")?;
        let mut rows = select.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let row: Vec<u8> = r.get(1)?;
            n += usize::from(!key.is_empty() && row.len() == ROW_LEN);
        }
        Ok(n)
    }
}

struct Fjall {
    keyspace: fjall::Keyspace,
    links: fjall::PartitionHandle,
}

impl Fjall {
    fn open(dir: &Path) -> BenchResult<Self> {
        let keyspace = fjall::Config::new(dir.join("books.fjall")).open()?;
        let links = keyspace.open_partition("links", fjall::PartitionCreateOptions::default())?;
        Ok(Fjall { keyspace, links })
    }
}

impl Candidate for Fjall {
    fn commit(&mut self, rows: &[Row]) -> BenchResult<()> {
        let mut batch = self
            .keyspace
            .batch()
            .durability(Some(fjall::PersistMode::SyncData));
        for (key, row) in rows {
            batch.insert(&self.links, key.as_str(), &row[..]);
        }
        batch.commit()?;
        Ok(())
    }

    fn load(&self) -> BenchResult<usize> {
        let mut n = 0;
        for kv in self.links.iter() {
            let (key, row) = kv?;
            n += usize::from(!key.is_empty() && row.len() == ROW_LEN);
        }
        Ok(n)
    }
}

fn key(link: usize) -> String {
    format!("peer-{link:05}")
}

fn row(balance: i128) -> [u8; ROW_LEN] {
    let mut row = [0u8; ROW_LEN];
    row[..16].copy_from_slice(&balance.to_be_bytes());
    row[16..32].copy_from_slice(&(balance.unsigned_abs() / 3).to_be_bytes());
    row
}

/// The rows of commit number `i` of `n` links each: a window sliding over
/// the book, so every commit rewrites rows that exist, each with a balance
/// it never had before.
fn batch(i: usize, n: usize) -> Vec<Row> {
    (0..n)
        .map(|j| {
            let link = (i * n + j) % LINKS;
            (key(link), row((i * n + j) as i128 - 1_000))
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn dir_size(dir: &Path) -> BenchResult<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Opens and reads every row; returns the time and checks the count.
fn timed_open_load(engine: &str, dir: &Path) -> BenchResult<Duration> {
    let start = Instant::now();
    let store = open(engine, dir)?;
    let n = store.load()?;
    let took = start.elapsed();
    if n != LINKS {
        return Err(format!("{engine}: {n} rows read back, {LINKS} written").into());
    }
    Ok(took)
}

fn bench(engine: &str, root: &Path, seconds: f64) -> BenchResult<()> {
    let dir = root.join(engine);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut store = open(engine, &dir)?;
    let start = Instant::now();
    let all: Vec<Row> = (0..LINKS).map(|l| (key(l), row(0))).collect();
    store.commit(&all)?;
    println!(
        "{engine}: {LINKS} links written in one commit: {:.1} ms",
        ms(start.elapsed())
    );
    let budget = Duration::from_secs_f64(seconds);
    for &n in &BATCHES {
        let mut latencies = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget && latencies.len() < MAX_COMMITS {
            // Every commit changes every row it writes (SQLite skips a
            // rewrite of identical bytes), built outside the timed part.
            let rows = batch(latencies.len(), n);
            let t = Instant::now();
            store.commit(&rows)?;
            latencies.push(t.elapsed());
        }
        let busy: Duration = latencies.iter().sum();
        latencies.sort();
        let commits = latencies.len() as f64 / busy.as_secs_f64();
        println!(
            "{engine}: N={n:>4}: {} commits, {commits:>8.0} commits/s, p50 {:.3} ms, p99 {:.3} ms, \
             ceiling {:>9.0} packets/s",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            commits * n as f64,
        );
    }
    drop(store);
    println!(
        "{engine}: files after the run: {:.2} MB",
        dir_size(&dir)? as f64 / 1e6
    );
    let mut clean: Vec<Duration> = (0..5)
        .map(|_| timed_open_load(engine, &dir))
        .collect::<BenchResult<_>>()?;
    clean.sort();
    println!(
        "{engine}: open + read {LINKS} links after a clean close: median {:.1} ms",
        ms(clean[clean.len() / 2])
    );
    let exe = std::env::current_exe()?;
    let mut killed = Vec::new();
    for _ in 0..KILL_CYCLES {
        let mut child = Command::new(&exe)
            .args(["--child", engine])
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("{engine} child said {line:?}").into());
        }
        // std's kill sends SIGKILL on Unix.
        child.kill()?;
        child.wait()?;
        killed.push(timed_open_load(engine, &dir)?);
    }
    killed.sort();
    println!(
        "{engine}: open + read {LINKS} links after SIGKILL mid-loop: {} ms (each of {KILL_CYCLES} cycles)",
        killed
            .iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{engine}: files after the kills: {:.2} MB",
        dir_size(&dir)? as f64 / 1e6
    );
    Ok(())
}

/// The disk's own floor: appends of 4 KiB, each followed by fdatasync.
fn disk_floor(root: &Path, seconds: f64) -> BenchResult<()> {
    std::fs::create_dir_all(root)?;
    let path = root.join("floor");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs_f64(seconds) && latencies.len() < MAX_COMMITS {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latencies.push(t.elapsed());
    }
    latencies.sort();
    println!(
        "disk: append 4 KiB + fdatasync: {} times, p50 {:.3} ms, p99 {:.3} ms",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The journal with `window` operations always waiting, over `links` peers.
fn journal_point(root: &Path, links: usize, window: usize, seconds: f64) -> BenchResult<()> {
    use ilp_connector::accounts::store::Store;
    use std::sync::{Arc, mpsc};
    let dir = root.join("journal");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let (_, journal) = Store::open(&dir)?.start()?;
    let peers: Vec<Arc<str>> = (0..links).map(|l| Arc::from(key(l).as_str())).collect();
    let (tx, rx) = mpsc::channel::<Duration>();
    let mut latencies = Vec::new();
    let mut outstanding = 0;
    let commits_before = journal.commits();
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let mut op = 0usize;
    while start.elapsed() < budget {
        while outstanding < window {
            let done = tx.clone();
            let t = Instant::now();
            journal.set_balance(
                &peers[op % links],
                op as i128,
                Box::new(move |result| {
                    if result.is_ok() {
                        let _ = done.send(t.elapsed());
                    }
                }),
            )?;
            op += 1;
            outstanding += 1;
        }
        latencies.push(rx.recv()?);
        outstanding -= 1;
    }
    let elapsed = start.elapsed();
    let commits = journal.commits() - commits_before;
    journal.close();
    latencies.sort();
    println!(
        "journal: {links:>5} links, {window:>3} waiting: {:>7.0} ops/s, p50 {:.3} ms, p99 {:.3} ms, \
         {:.1} ops per commit",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        op as f64 / commits.max(1) as f64,
    );
    Ok(())
}

/// The child: commits batches forever; says "ready" once it is mid-loop.
fn child(engine: &str, dir: &Path) -> BenchResult<()> {
    let mut store = open(engine, dir)?;
    let mut out = std::io::stdout();
    for i in 0.. {
        store.commit(&batch(i, CHILD_BATCH))?;
        if i == CHILD_READY_AFTER {
            writeln!(out, "ready")?;
            out.flush()?;
        }
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let engine = args.get(1).ok_or("--child ENGINE DIR")?;
        let dir = args.get(2).ok_or("--child ENGINE DIR")?;
        return child(engine, Path::new(dir));
    }
    let mut seconds = 3.0;
    let mut root = std::env::temp_dir().join("ilp-store-bench");
    let mut engines = vec!["redb".to_string(), "sqlite".into(), "fjall".into()];
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => seconds = it.next().ok_or("--seconds S")?.parse()?,
            "--dir" => root = PathBuf::from(it.next().ok_or("--dir DIR")?),
            "--engines" => {
                engines = it
                    .next()
                    .ok_or("--engines a,b")?
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: store_bench [--seconds S] [--dir DIR] \
                     [--engines redb,sqlite,fjall]"
                )
                .into());
            }
        }
    }
    println!("data under {} ({seconds} s per point)", root.display());
    disk_floor(&root, seconds)?;
    for engine in &engines {
        bench(engine, &root, seconds)?;
    }
    for links in [3, LINKS] {
        for window in [1, 64, 256] {
            journal_point(&root, links, window, seconds)?;
        }
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
