//! The durable books: one SQLite file under `DATA_DIR` (`books.sqlite`).
//!
//! SQLite through rusqlite (bundled, so every build has the same SQLite) in
//! WAL mode with `synchronous=FULL`: a commit returns once its WAL frames
//! are fsynced, and a file left by a kill -9 is recovered at the next open.
//! Chosen over redb and fjall by measurement (BENCHMARKS.md, "Durable books:
//! store choice"): the most rows per second in large commits, fjall's p50 in
//! small ones (about 0.1 ms, the disk's fdatasync), and an open after a
//! kill -9 in 2-3 ms with 10,000 links in a 1 MB file (fjall: 0.3-0.5 s and
//! over 100 MB).
//!
//! The file holds one row per peer (its balance, the totals settled each
//! way, the settlement in flight to it) and the ids of the last
//! [`RECEIVED_IDS_KEPT`] settlements each peer sent us. Amounts are written
//! as decimal text (SQLite's integers stop at i64; text stays readable with
//! the `sqlite3` shell), ids as 16-byte blobs. `PRAGMA application_id` marks
//! the file as ours and `PRAGMA user_version` is its schema version: a file
//! of another program or of a newer schema is refused, never rewritten.
//!
//! Writes go through [`super::journal::Journal`], which owns the connection
//! on its own thread; this module is the file's layout and its checks.
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior, params};

/// The file under `DATA_DIR` that holds the books.
pub const FILE_NAME: &str = "books.sqlite";
/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;
/// Marks the file as this program's (`PRAGMA application_id`, "ILPB").
pub const APPLICATION_ID: i64 = 0x494C_5042;
/// The incoming settlement ids kept per peer, newest last.
///
/// Why this bounds retries: a sender has at most one settlement in flight
/// per link and retries only that one, with the same id, until it has an
/// answer; it starts the next only after. So a retry is always of one of the
/// sender's latest ids, and a delayed duplicate (a frame replayed after a
/// reconnect) is at most a few settlements old. An id older than the last
/// `RECEIVED_IDS_KEPT` of that peer would need that many newer settlements
/// to have been applied and answered in between, which the one-in-flight
/// rule rules out for a retry. The memory is `16 B x RECEIVED_IDS_KEPT` per
/// peer.
pub const RECEIVED_IDS_KEPT: usize = 256;

/// A settlement id: 16 bytes chosen by the sender, the same on every retry.
pub type SettlementId = [u8; 16];

/// The books of all peers, as read at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Books {
    /// Per peer id.
    pub peers: BTreeMap<Arc<str>, PeerBooks>,
}

/// One peer's books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerBooks {
    /// Positive: the peer owes us (the JS connector's convention).
    pub balance: i128,
    /// The total we paid the peer (settlements accepted, admin adjustments).
    pub settled_out: u128,
    /// The total the peer paid us.
    pub settled_in: u128,
    /// Our settlement to the peer that has no answer yet, if any: resend it
    /// with the same id after a restart.
    pub in_flight: Option<InFlight>,
    /// The ids of the last [`RECEIVED_IDS_KEPT`] settlements the peer sent
    /// us and we applied, oldest first.
    pub received: VecDeque<SettlementId>,
}

/// A settlement we sent and have no answer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// Its id (the receiver counts a retry with this id once).
    pub id: SettlementId,
    /// Its amount.
    pub amount: u64,
}

/// What the store refuses or fails at. Each names the path to fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATA_DIR` could not be created.
    #[error("cannot create DATA_DIR {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The books file could not be opened or set up.
    #[error("cannot open the books in DATA_DIR ({path}): {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// Another process holds the books (two nodes on one `DATA_DIR`).
    #[error(
        "the books in DATA_DIR ({path}) are in use by another process; give each node its own DATA_DIR"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file is not an SQLite database, or fails its integrity check.
    #[error(
        "the books in DATA_DIR ({path}) are corrupt ({detail}); restore them from a backup or move the file away to start with empty books"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is an SQLite database of another program.
    #[error(
        "{path} in DATA_DIR is not this connector's books (application_id {found:#x}); point DATA_DIR at a directory of its own"
    )]
    NotOurs {
        /// The file.
        path: PathBuf,
        /// Its application id.
        found: i64,
    },
    /// The file was written by a newer version of the connector.
    #[error(
        "the books in DATA_DIR ({path}) have schema version {found}, newer than {supported} which this build reads; run the newer version, or restore a backup"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// This build's ([`SCHEMA_VERSION`]).
        supported: i64,
    },
    /// A read or write of the books failed (disk full, I/O error).
    #[error("books in DATA_DIR ({path}): {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Arc<rusqlite::Error>,
    },
    /// The journal's thread could not be started.
    #[error("cannot start the thread that writes the books in DATA_DIR ({path}): {source}")]
    Thread {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal's queue is full: the operation was not recorded.
    #[error("the books journal has {0} operations queued, its limit: not recorded")]
    QueueFull(usize),
    /// The journal was closed: the operation was not recorded.
    #[error("the books journal is closed: not recorded")]
    Closed,
    /// A settlement was started while another of that peer is in flight.
    #[error("a settlement to {peer} is already in flight")]
    SettlementInFlight {
        /// The peer.
        peer: Arc<str>,
    },
    /// A settlement was finished that is not the one in flight.
    #[error("settlement {id} to {peer} is not the one in flight")]
    NotInFlight {
        /// The peer.
        peer: Arc<str>,
        /// The id given, in hex.
        id: String,
    },
    /// A total would pass its integer range.
    #[error("the books of {peer} would overflow")]
    Overflow {
        /// The peer.
        peer: Arc<str>,
    },
}

/// The books file, opened and checked. [`Store::start`] hands it to a
/// [`super::journal::Journal`].
pub struct Store {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

const CREATE_SCHEMA: &str = "
CREATE TABLE peers (
    peer TEXT PRIMARY KEY NOT NULL,
    balance TEXT NOT NULL,
    settled_out TEXT NOT NULL,
    settled_in TEXT NOT NULL,
    in_flight_id BLOB,
    in_flight_amount TEXT
) WITHOUT ROWID;
CREATE TABLE received (
    peer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id BLOB NOT NULL,
    PRIMARY KEY (peer, seq)
) WITHOUT ROWID;
";

/// One peer's row as the journal writes it (its received ids apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Row {
    pub balance: i128,
    pub settled_out: u128,
    pub settled_in: u128,
    pub in_flight: Option<InFlight>,
}

/// What one commit writes.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Whole rows of the peers changed since the last commit.
    pub rows: Vec<(Arc<str>, Row)>,
    /// Incoming settlement ids to record: peer, sequence number, id.
    pub received: Vec<(Arc<str>, i64, SettlementId)>,
}

impl Batch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.received.is_empty()
    }
}

/// The books as loaded, with the last sequence number of each peer's
/// received ids (the journal numbers the next ones from there).
pub(super) struct Loaded {
    pub books: Books,
    pub last_seq: BTreeMap<Arc<str>, i64>,
}

/// Maps an SQLite error met at open to what the user has to fix.
fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: path.to_path_buf(),
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl Store {
    /// Opens the books in `dir` (`DATA_DIR`), creating the directory and
    /// the file if needed. Takes the file for this process alone (another
    /// node on the same directory gets [`StoreError::Locked`]); refuses a
    /// file of another program ([`StoreError::NotOurs`]), of a newer schema
    /// ([`StoreError::NewerSchema`]) or a corrupt one
    /// ([`StoreError::Corrupt`]). A file left by a kill -9 is recovered
    /// here (SQLite replays its WAL).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let mut store = Store { conn, path };
        store.setup().map_err(|e| match e {
            SetupError::Sqlite(source) => classify(&store.path, source),
            SetupError::Refused(e) => e,
        })?;
        Ok(store)
    }

    /// The books file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn setup(&mut self) -> Result<(), SetupError> {
        let path = self.path.clone();
        let conn = &mut self.conn;
        // No waiting on another process's lock: fail at once, named.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        // Held from the first write until close: one process per file, and
        // no shared-memory index beside the WAL.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let application_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        let fresh = application_id == 0 && version == 0 && tables == 0;
        if !fresh && application_id != APPLICATION_ID {
            return Err(SetupError::Refused(StoreError::NotOurs {
                path,
                found: application_id,
            }));
        }
        if version > SCHEMA_VERSION {
            return Err(SetupError::Refused(StoreError::NewerSchema {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            }));
        }
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SetupError::Refused(corrupt(
                &path,
                format!("journal_mode stays {mode}, not wal"),
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        if fresh {
            let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            txn.execute_batch(CREATE_SCHEMA)?;
            txn.pragma_update(None, "application_id", APPLICATION_ID)?;
            txn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            txn.commit()?;
        } else {
            let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if check != "ok" {
                return Err(SetupError::Refused(corrupt(&path, check)));
            }
            // Take the exclusive lock now, not at the first commit.
            conn.transaction_with_behavior(TransactionBehavior::Immediate)?
                .commit()?;
        }
        Ok(())
    }

    /// Reads every peer's books.
    pub fn load(&self) -> Result<Books, StoreError> {
        Ok(self.load_all()?.books)
    }

    pub(super) fn load_all(&self) -> Result<Loaded, StoreError> {
        self.read_all().map_err(|e| match e {
            SetupError::Sqlite(source) => match classify(&self.path, source) {
                StoreError::Open { path, source } => StoreError::Io {
                    path,
                    source: Arc::new(source),
                },
                other => other,
            },
            SetupError::Refused(e) => e,
        })
    }

    fn read_all(&self) -> Result<Loaded, SetupError> {
        let path = &self.path;
        let mut books = Books::default();
        let mut last_seq = BTreeMap::new();
        let mut select = self.conn.prepare(
            "SELECT peer, balance, settled_out, settled_in, in_flight_id, in_flight_amount FROM peers",
        )?;
        let mut rows = select.query([])?;
        while let Some(r) = rows.next()? {
            let peer: String = r.get(0)?;
            let field = |name: &str, text: String| -> Result<String, SetupError> {
                if text.is_empty() {
                    Err(SetupError::Refused(corrupt(
                        path,
                        format!("peer {peer}: empty {name}"),
                    )))
                } else {
                    Ok(text)
                }
            };
            let number = |name: &str, idx: usize| -> Result<String, SetupError> {
                field(name, r.get::<_, String>(idx)?)
            };
            let bad = |name: &str, text: &str| {
                SetupError::Refused(corrupt(path, format!("peer {peer}: {name} {text:?}")))
            };
            let balance = number("balance", 1)?;
            let settled_out = number("settled_out", 2)?;
            let settled_in = number("settled_in", 3)?;
            let id: Option<Vec<u8>> = r.get(4)?;
            let amount: Option<String> = r.get(5)?;
            let in_flight = match (id, amount) {
                (None, None) => None,
                (Some(id), Some(amount)) => Some(InFlight {
                    id: id
                        .as_slice()
                        .try_into()
                        .map_err(|_| bad("in_flight_id", &format!("{id:?}")))?,
                    amount: amount
                        .parse()
                        .map_err(|_| bad("in_flight_amount", &amount))?,
                }),
                _ => return Err(bad("in_flight", "half set")),
            };
            let peer_books = PeerBooks {
                balance: balance.parse().map_err(|_| bad("balance", &balance))?,
                settled_out: settled_out
                    .parse()
                    .map_err(|_| bad("settled_out", &settled_out))?,
                settled_in: settled_in
                    .parse()
                    .map_err(|_| bad("settled_in", &settled_in))?,
                in_flight,
                received: VecDeque::new(),
            };
            books.peers.insert(Arc::from(peer.as_str()), peer_books);
        }
        let mut select = self
            .conn
            .prepare("SELECT peer, seq, id FROM received ORDER BY peer, seq")?;
        let mut rows = select.query([])?;
        while let Some(r) = rows.next()? {
            let peer: String = r.get(0)?;
            let seq: i64 = r.get(1)?;
            let id: Vec<u8> = r.get(2)?;
            let id: SettlementId = id.as_slice().try_into().map_err(|_| {
                SetupError::Refused(corrupt(path, format!("peer {peer}: received id {id:?}")))
            })?;
            let peer: Arc<str> = Arc::from(peer.as_str());
            let entry = books.peers.entry(Arc::clone(&peer)).or_default();
            entry.received.push_back(id);
            if entry.received.len() > RECEIVED_IDS_KEPT {
                entry.received.pop_front();
            }
            last_seq.insert(peer, seq);
        }
        Ok(Loaded { books, last_seq })
    }

    /// Writes one batch in one transaction and returns once it is durable
    /// (the WAL fsynced). Prunes each peer's received ids to the last
    /// [`RECEIVED_IDS_KEPT`].
    pub(super) fn write(&mut self, batch: &Batch) -> Result<(), rusqlite::Error> {
        let txn = self.conn.transaction()?;
        {
            let mut upsert = txn.prepare_cached(
                "INSERT OR REPLACE INTO peers \
                 (peer, balance, settled_out, settled_in, in_flight_id, in_flight_amount) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (peer, row) in &batch.rows {
                upsert.execute(params![
                    &**peer,
                    row.balance.to_string(),
                    row.settled_out.to_string(),
                    row.settled_in.to_string(),
                    row.in_flight.map(|f| f.id.to_vec()),
                    row.in_flight.map(|f| f.amount.to_string()),
                ])?;
            }
            let mut insert = txn.prepare_cached(
                "INSERT OR REPLACE INTO received (peer, seq, id) VALUES (?1, ?2, ?3)",
            )?;
            let mut prune =
                txn.prepare_cached("DELETE FROM received WHERE peer = ?1 AND seq <= ?2")?;
            for (peer, seq, id) in &batch.received {
                insert.execute(params![&**peer, seq, &id[..]])?;
                // RECEIVED_IDS_KEPT is a small constant: the cast is exact.
                prune.execute(params![&**peer, seq - RECEIVED_IDS_KEPT as i64])?;
            }
        }
        txn.commit()
    }

    /// Lowers the file's page limit so that the next commit that grows it
    /// fails as on a full disk (SQLITE_FULL).
    #[cfg(test)]
    pub(super) fn limit_pages(&self, pages: i64) {
        self.conn
            .pragma_update(None, "max_page_count", pages)
            .expect("max_page_count");
    }
}

/// An error of [`Store::setup`] or a read: SQLite's, to be classified, or a
/// refusal already named.
enum SetupError {
    Sqlite(rusqlite::Error),
    Refused(StoreError),
}

impl From<rusqlite::Error> for SetupError {
    fn from(e: rusqlite::Error) -> Self {
        SetupError::Sqlite(e)
    }
}

/// A directory of its own under the system's temporary directory, removed
/// on drop.
#[cfg(test)]
pub(super) struct TempDir(pub PathBuf);

#[cfg(test)]
impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ilp-books-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(dir: &Path) -> Connection {
        Connection::open(dir.join(FILE_NAME)).expect("raw open")
    }

    #[test]
    fn open_creates_the_directory_and_an_empty_book() {
        let tmp = TempDir::new("create");
        let dir = tmp.0.join("a").join("b");
        let store = Store::open(&dir).expect("open");
        assert!(dir.join(FILE_NAME).is_file());
        assert_eq!(store.load().expect("load"), Books::default());
        drop(store);
        // Reopened: ours, current schema, still empty.
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(store.load().expect("load"), Books::default());
        drop(store);
        let conn = raw(&dir);
        let id: i64 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .expect("application_id");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        assert_eq!((id, version), (APPLICATION_ID, SCHEMA_VERSION));
    }

    #[test]
    fn a_directory_that_cannot_be_created_names_data_dir() {
        let tmp = TempDir::new("nodir");
        std::fs::create_dir_all(&tmp.0).expect("mkdir");
        let file = tmp.0.join("plain-file");
        std::fs::write(&file, b"x").expect("write");
        let dir = file.join("books");
        let err = Store::open(&dir).expect_err("a file is in the way");
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("DATA_DIR"), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let tmp = TempDir::new("newer");
        drop(Store::open(&tmp.0).expect("open"));
        raw(&tmp.0)
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        let err = Store::open(&tmp.0).expect_err("newer schema");
        match &err {
            StoreError::NewerSchema {
                found, supported, ..
            } => assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("DATA_DIR") && text.contains(FILE_NAME),
            "{text}"
        );
        assert!(text.contains("schema version 2"), "{text}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_as_corrupt() {
        let tmp = TempDir::new("garbage");
        std::fs::create_dir_all(&tmp.0).expect("mkdir");
        std::fs::write(tmp.0.join(FILE_NAME), vec![0x5au8; 8192]).expect("write");
        let err = Store::open(&tmp.0).expect_err("garbage");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("corrupt") && text.contains(FILE_NAME),
            "{text}"
        );
    }

    #[test]
    fn a_database_of_another_program_is_refused() {
        let tmp = TempDir::new("foreign");
        std::fs::create_dir_all(&tmp.0).expect("mkdir");
        raw(&tmp.0)
            .execute_batch("CREATE TABLE other (x INTEGER)")
            .expect("foreign table");
        let err = Store::open(&tmp.0).expect_err("foreign");
        assert!(
            matches!(err, StoreError::NotOurs { found: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_bad_amount_in_the_file_is_refused_with_the_peer_named() {
        let tmp = TempDir::new("badrow");
        drop(Store::open(&tmp.0).expect("open"));
        raw(&tmp.0)
            .execute(
                "INSERT INTO peers VALUES ('alice', '12x', '0', '0', NULL, NULL)",
                [],
            )
            .expect("insert");
        let store = Store::open(&tmp.0).expect("open");
        let err = store.load().expect_err("bad balance");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(text.contains("alice") && text.contains("balance"), "{text}");
    }

    #[test]
    fn a_second_open_of_the_same_books_is_refused() {
        let tmp = TempDir::new("locked");
        let _first = Store::open(&tmp.0).expect("open");
        let err = Store::open(&tmp.0).expect_err("held by the first");
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert!(err.to_string().contains("own DATA_DIR"), "{err}");
    }
}
