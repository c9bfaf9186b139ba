//! The group-commit journal: the one writer of the books.
//!
//! The packet path records each change with a continuation and goes on; it
//! never waits. A dedicated OS thread owns the store's connection: it takes
//! everything recorded since its last commit, writes the latest row of each
//! peer changed (so a thousand packets of one link write one row), commits
//! durably (fsync), then runs every continuation of that batch with the
//! result. While it writes, new changes gather for the next batch, so the
//! batch grows with the load and the cost per packet falls.
//!
//! The journal keeps the latest row of every peer in memory (the mirror:
//! bounded by the number of peers) and a set of the peers changed since the
//! last commit. A failed commit (disk full) loses nothing from the mirror:
//! its peers are marked changed again and written by the next commit, with
//! whatever newer values they have by then. Its continuations get the error
//! (the packet path then rejects instead of fulfilling upstream), and the
//! failure is logged once until a commit succeeds again.
//!
//! Refusals (the queue full, the journal closed, a settlement rule broken)
//! are the operation's return value, and then nothing is recorded and the
//! continuation is dropped unrun: it never runs on the caller's thread, so a
//! caller may hold its own locks while it records.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::store::{
    Batch, Books, InFlight, RECEIVED_IDS_KEPT, Row, SettlementId, Store, StoreError,
};

/// The operations queued at most (each one continuation, usually one
/// packet's). The queue is bounded by the packets in flight already; this
/// is the hard limit past which an operation is refused with
/// [`StoreError::QueueFull`] (not recorded; the packet is rejected), so a
/// stalled disk never makes the node block or grow without bound.
pub const MAX_QUEUED: usize = 65_536;

/// What runs once an operation is durable (`Ok`) or its commit failed.
/// It runs on the journal's thread: keep it short (hand a reply to a
/// link's writer, wake a task).
pub type Then = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// How a settlement we sent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementOutcome {
    /// The peer accepted it: the amount is added to `settled_out`.
    Accepted,
    /// The peer refused it (a stock JS peer answers F00): nothing was paid.
    Refused,
}

/// Whether an incoming settlement was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// First seen: recorded with the balance given; apply it.
    New,
    /// Already applied (a retry): nothing recorded, the balance given was
    /// ignored; the continuation still runs after the next commit, so the
    /// answer to the retry waits until the first is durable.
    Duplicate,
}

/// The last incoming settlement ids of one peer.
#[derive(Default)]
struct ReceivedIds {
    order: VecDeque<SettlementId>,
    set: HashSet<SettlementId>,
    last_seq: i64,
}

impl ReceivedIds {
    fn record(&mut self, id: SettlementId) -> i64 {
        self.order.push_back(id);
        self.set.insert(id);
        if self.order.len() > RECEIVED_IDS_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.last_seq += 1;
        self.last_seq
    }
}

#[derive(Default)]
struct Inner {
    /// The latest row of every peer.
    rows: HashMap<Arc<str>, Row>,
    received: HashMap<Arc<str>, ReceivedIds>,
    /// Peers changed since the last batch was taken.
    dirty: HashSet<Arc<str>>,
    /// Incoming ids to write: peer, sequence number, id.
    new_received: Vec<(Arc<str>, i64, SettlementId)>,
    /// The continuations of the next batch.
    queue: Vec<Then>,
    closing: bool,
    /// A page limit for the next commit (tests: a full disk).
    #[cfg(test)]
    page_limit: Option<i64>,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Commits made (durable or failed), for metrics and tests.
    commits: AtomicU64,
}

/// The writer of the books (see the module doc). Shared by reference (e.g.
/// in an `Arc`); [`Journal::close`] or drop flushes and stops its thread.
pub struct Journal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Store {
    /// Loads the books and starts the journal that writes them from now
    /// on, on a thread of its own (`books-journal`).
    pub fn start(self) -> Result<(Books, Journal), StoreError> {
        let loaded = self.load_all()?;
        let mut inner = Inner::default();
        for (peer, books) in &loaded.books.peers {
            inner.rows.insert(
                Arc::clone(peer),
                Row {
                    balance: books.balance,
                    settled_out: books.settled_out,
                    settled_in: books.settled_in,
                    in_flight: books.in_flight,
                },
            );
            let ids = ReceivedIds {
                order: books.received.clone(),
                set: books.received.iter().copied().collect(),
                last_seq: loaded.last_seq.get(peer).copied().unwrap_or(0),
            };
            inner.received.insert(Arc::clone(peer), ids);
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            wake: Condvar::new(),
            commits: AtomicU64::new(0),
        });
        let writer = Arc::clone(&shared);
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("books-journal".into())
            .spawn(move || run(self, &writer))
            .map_err(|source| StoreError::Thread { path, source })?;
        Ok((
            loaded.books,
            Journal {
                shared,
                thread: Mutex::new(Some(thread)),
            },
        ))
    }
}

impl Journal {
    /// Records `peer`'s balance; `then` runs once it is durable.
    pub fn set_balance(
        &self,
        peer: &Arc<str>,
        balance: i128,
        then: Then,
    ) -> Result<(), StoreError> {
        self.record(then, |inner| {
            row_mut(inner, peer).balance = balance;
            Ok(())
        })
    }

    /// [`Journal::set_balance`] for a caller that must answer whatever
    /// happens: when refused, the error and `then` (unrun) come back, so the
    /// caller can run it with the error on its own thread once its locks
    /// are let go.
    pub fn set_balance_or_return(
        &self,
        peer: &Arc<str>,
        balance: i128,
        then: Then,
    ) -> Result<(), (StoreError, Then)> {
        self.record_or_return(then, |inner| {
            row_mut(inner, peer).balance = balance;
            Ok(())
        })
    }

    /// Records a settlement made outside the connector (the admin API):
    /// `amount_diff > 0` is money we paid the peer (added to
    /// `settled_out`), `< 0` money it paid us (to `settled_in`); the
    /// balance becomes `balance_after`.
    pub fn admin_adjustment(
        &self,
        peer: &Arc<str>,
        amount_diff: i128,
        balance_after: i128,
        then: Then,
    ) -> Result<(), StoreError> {
        self.record(then, |inner| {
            let mut next = row(inner, peer);
            let magnitude = amount_diff.unsigned_abs();
            let total = if amount_diff >= 0 {
                &mut next.settled_out
            } else {
                &mut next.settled_in
            };
            *total = total
                .checked_add(magnitude)
                .ok_or_else(|| StoreError::Overflow {
                    peer: Arc::clone(peer),
                })?;
            next.balance = balance_after;
            *row_mut(inner, peer) = next;
            Ok(())
        })
    }

    /// Records our settlement `id` of `amount` to `peer` as in flight, the
    /// balance becoming `balance_after`, before it is sent. Refused with
    /// [`StoreError::SettlementInFlight`] while another is in flight.
    pub fn settlement_started(
        &self,
        peer: &Arc<str>,
        id: SettlementId,
        amount: u64,
        balance_after: i128,
        then: Then,
    ) -> Result<(), StoreError> {
        self.record(then, |inner| {
            if row(inner, peer).in_flight.is_some() {
                return Err(StoreError::SettlementInFlight {
                    peer: Arc::clone(peer),
                });
            }
            let row = row_mut(inner, peer);
            row.in_flight = Some(InFlight { id, amount });
            row.balance = balance_after;
            Ok(())
        })
    }

    /// Records the end of our settlement `id` to `peer`: none in flight
    /// from now on, `settled_out` raised by its amount if accepted, the
    /// balance becoming `balance_after` (the caller restores it on a
    /// refusal). Refused with [`StoreError::NotInFlight`] for another id.
    pub fn settlement_finished(
        &self,
        peer: &Arc<str>,
        id: SettlementId,
        outcome: SettlementOutcome,
        balance_after: i128,
        then: Then,
    ) -> Result<(), StoreError> {
        self.record(then, |inner| {
            let current = row(inner, peer);
            let Some(in_flight) = current.in_flight.filter(|f| f.id == id) else {
                return Err(StoreError::NotInFlight {
                    peer: Arc::clone(peer),
                    id: hex(&id),
                });
            };
            let settled_out = match outcome {
                SettlementOutcome::Accepted => current
                    .settled_out
                    .checked_add(u128::from(in_flight.amount))
                    .ok_or_else(|| StoreError::Overflow {
                        peer: Arc::clone(peer),
                    })?,
                SettlementOutcome::Refused => current.settled_out,
            };
            let row = row_mut(inner, peer);
            row.settled_out = settled_out;
            row.in_flight = None;
            row.balance = balance_after;
            Ok(())
        })
    }

    /// Records `peer`'s settlement `id` of `amount` to us, the balance
    /// becoming `balance_after`, unless that id was already applied: the
    /// check and the record are one step under the journal's lock, so a
    /// retry counts once. The caller applies `balance_after` to its own
    /// state only on [`Received::New`] (hold the peer's lock across the
    /// call). `then` runs after the commit that makes it durable (for a
    /// duplicate: the next commit, which follows the first's).
    pub fn settlement_received(
        &self,
        peer: &Arc<str>,
        id: SettlementId,
        amount: u64,
        balance_after: i128,
        then: Then,
    ) -> Result<Received, StoreError> {
        let mut received = Received::New;
        self.record(then, |inner| {
            let ids = inner.received.entry(Arc::clone(peer)).or_default();
            if ids.set.contains(&id) {
                received = Received::Duplicate;
                return Ok(());
            }
            let settled_in = row(inner, peer)
                .settled_in
                .checked_add(u128::from(amount))
                .ok_or_else(|| StoreError::Overflow {
                    peer: Arc::clone(peer),
                })?;
            let ids = inner.received.entry(Arc::clone(peer)).or_default();
            let seq = ids.record(id);
            inner.new_received.push((Arc::clone(peer), seq, id));
            let row = row_mut(inner, peer);
            row.settled_in = settled_in;
            row.balance = balance_after;
            Ok(())
        })?;
        Ok(received)
    }

    /// The commits written so far (each one transaction and fsync, durable
    /// or failed): operations recorded divided by this is the batch size.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Limits the file to `pages` from the next commit on (a full disk).
    #[cfg(test)]
    fn limit_pages(&self, pages: i64) {
        self.shared.inner.lock().expect("journal lock").page_limit = Some(pages);
    }

    /// Flushes what is queued (its continuations run) and stops the thread.
    /// Later operations are refused with [`StoreError::Closed`]. Called by
    /// drop too; a second call does nothing.
    pub fn close(&self) {
        {
            let mut inner = self.shared.inner.lock().expect("journal lock");
            inner.closing = true;
        }
        self.shared.wake.notify_one();
        let thread = self.thread.lock().expect("journal thread lock").take();
        // Dropped by a continuation (on the journal's own thread): the
        // thread ends by itself once this batch is answered.
        let own_thread = thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id());
        if let Some(thread) = thread.filter(|_| !own_thread) {
            // The thread only ends by returning (release builds abort on
            // panic), so join has nothing to report.
            let _ = thread.join();
        }
    }

    /// Applies `change` to the mirror and queues `then`, or refuses.
    fn record(
        &self,
        then: Then,
        change: impl FnOnce(&mut Inner) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.record_or_return(then, change).map_err(|(e, _)| e)
    }

    /// [`Journal::record`], handing `then` back unrun when refused.
    fn record_or_return(
        &self,
        then: Then,
        change: impl FnOnce(&mut Inner) -> Result<(), StoreError>,
    ) -> Result<(), (StoreError, Then)> {
        {
            let mut inner = self.shared.inner.lock().expect("journal lock");
            if inner.closing {
                return Err((StoreError::Closed, then));
            }
            if inner.queue.len() >= MAX_QUEUED {
                return Err((StoreError::QueueFull(MAX_QUEUED), then));
            }
            if let Err(e) = change(&mut inner) {
                return Err((e, then));
            }
            inner.queue.push(then);
        }
        self.shared.wake.notify_one();
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The mirror row of `peer` (all zero for a peer never written).
fn row(inner: &Inner, peer: &Arc<str>) -> Row {
    inner.rows.get(peer).copied().unwrap_or_default()
}

/// The mirror row of `peer`, marked changed.
fn row_mut<'a>(inner: &'a mut Inner, peer: &Arc<str>) -> &'a mut Row {
    if !inner.dirty.contains(peer) {
        inner.dirty.insert(Arc::clone(peer));
    }
    inner.rows.entry(Arc::clone(peer)).or_default()
}

fn hex(id: &SettlementId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The journal's thread: batch, write, fsync, answer; until closed and
/// drained.
fn run(mut store: Store, shared: &Shared) {
    // After a failed commit its peers are dirty again, but the next attempt
    // waits for a new operation (or the close): no busy retry on a full disk.
    let mut failing = false;
    loop {
        let (batch, continuations) = {
            let mut inner = shared.inner.lock().expect("journal lock");
            loop {
                let work = !inner.queue.is_empty() || (!inner.dirty.is_empty() && !failing);
                if work {
                    break;
                }
                if inner.closing {
                    if inner.dirty.is_empty() {
                        return;
                    }
                    // Closing with a failed batch: one last attempt.
                    break;
                }
                inner = shared.wake.wait(inner).expect("journal lock");
            }
            let inner = &mut *inner;
            let rows = inner
                .dirty
                .drain()
                .map(|peer| {
                    let row = inner.rows.get(&peer).copied().unwrap_or_default();
                    (peer, row)
                })
                .collect();
            let batch = Batch {
                rows,
                received: std::mem::take(&mut inner.new_received),
            };
            #[cfg(test)]
            if let Some(pages) = inner.page_limit.take() {
                store.limit_pages(pages);
            }
            (batch, std::mem::take(&mut inner.queue))
        };
        let result = if batch.is_empty() {
            Ok(())
        } else {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            store.write(&batch).map_err(Arc::new)
        };
        let last_attempt = match &result {
            Ok(()) => {
                if failing {
                    tracing::info!(path = %store.path.display(), "books written again");
                    failing = false;
                }
                false
            }
            Err(error) => {
                if !failing {
                    tracing::error!(
                        path = %store.path.display(),
                        %error,
                        "books cannot be written: the changes waiting for it are refused until a commit succeeds"
                    );
                }
                let mut inner = shared.inner.lock().expect("journal lock");
                let closing = inner.closing && failing && inner.queue.is_empty();
                failing = true;
                for (peer, _) in &batch.rows {
                    inner.dirty.insert(Arc::clone(peer));
                }
                let newer = std::mem::replace(&mut inner.new_received, batch.received);
                inner.new_received.extend(newer);
                closing
            }
        };
        answer(continuations, &result, &store);
        if last_attempt {
            // Closing, and the retry failed too: what stays unwritten is
            // only what no continuation was told was durable.
            return;
        }
    }
}

fn answer(continuations: Vec<Then>, result: &Result<(), Arc<rusqlite::Error>>, store: &Store) {
    for then in continuations {
        then(match result {
            Ok(()) => Ok(()),
            Err(source) => Err(StoreError::Io {
                path: store.path.clone(),
                source: Arc::clone(source),
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::store::{PeerBooks, TempDir};
    use std::sync::mpsc;

    fn peer(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    /// A continuation that sends its result down `tx`.
    fn report(tx: &mpsc::Sender<Result<(), StoreError>>) -> Then {
        let tx = tx.clone();
        Box::new(move |result| {
            let _ = tx.send(result);
        })
    }

    fn start(dir: &TempDir) -> (Books, Journal) {
        Store::open(&dir.0).expect("open").start().expect("start")
    }

    fn reload(dir: &TempDir) -> Books {
        Store::open(&dir.0).expect("reopen").load().expect("load")
    }

    /// Holds the journal's thread inside a continuation until `release`
    /// is dropped or sent to; returns once the thread is held.
    fn hold(journal: &Journal, who: &Arc<str>) -> mpsc::Sender<()> {
        let (release, wait) = mpsc::channel::<()>();
        let (held, is_held) = mpsc::channel();
        journal
            .set_balance(
                who,
                0,
                Box::new(move |result| {
                    result.expect("hold commit");
                    held.send(()).expect("held");
                    let _ = wait.recv();
                }),
            )
            .expect("hold");
        is_held.recv().expect("thread held");
        release
    }

    #[test]
    fn changes_are_read_back_after_reopen() {
        let dir = TempDir::new("readback");
        let (books, journal) = start(&dir);
        assert!(books.peers.is_empty());
        let (tx, rx) = mpsc::channel();
        let (alice, bob) = (peer("alice"), peer("bob"));
        journal.set_balance(&alice, -5, report(&tx)).expect("set");
        journal
            .set_balance(&bob, i128::MAX, report(&tx))
            .expect("set");
        journal
            .admin_adjustment(&alice, 7, 2, report(&tx))
            .expect("adjust");
        journal
            .admin_adjustment(&bob, -9, i128::MAX - 9, report(&tx))
            .expect("adjust");
        journal
            .settlement_started(&alice, [1; 16], 40, 42, report(&tx))
            .expect("start");
        for _ in 0..5 {
            rx.recv().expect("continuation").expect("durable");
        }
        journal.close();
        let books = reload(&dir);
        let expected_alice = PeerBooks {
            balance: 42,
            settled_out: 7,
            settled_in: 0,
            in_flight: Some(InFlight {
                id: [1; 16],
                amount: 40,
            }),
            received: VecDeque::new(),
        };
        assert_eq!(books.peers[&alice], expected_alice);
        let b = &books.peers[&bob];
        assert_eq!(
            (b.balance, b.settled_out, b.settled_in),
            (i128::MAX - 9, 0, 9)
        );
        assert_eq!(b.in_flight, None);
    }

    #[test]
    fn operations_queued_during_a_commit_share_the_next_one_and_coalesce() {
        let dir = TempDir::new("coalesce");
        let (_, journal) = start(&dir);
        let (alice, bob) = (peer("alice"), peer("bob"));
        let release = hold(&journal, &alice);
        let before = journal.commits();
        let (tx, rx) = mpsc::channel();
        for value in 1..=1000 {
            journal
                .set_balance(&alice, value, report(&tx))
                .expect("set");
            journal.set_balance(&bob, -value, report(&tx)).expect("set");
        }
        drop(release);
        for _ in 0..2000 {
            rx.recv().expect("continuation").expect("durable");
        }
        assert_eq!(journal.commits(), before + 1, "one commit for the 2000");
        journal.close();
        let books = reload(&dir);
        assert_eq!(books.peers[&alice].balance, 1000);
        assert_eq!(books.peers[&bob].balance, -1000);
    }

    #[test]
    fn a_settlement_id_counts_once_across_retries_and_restarts() {
        let dir = TempDir::new("dedupe");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        let carol = peer("carol");
        let first = journal
            .settlement_received(&carol, [7; 16], 100, -100, report(&tx))
            .expect("receive");
        let retry = journal
            .settlement_received(&carol, [7; 16], 100, -200, report(&tx))
            .expect("retry");
        assert_eq!((first, retry), (Received::New, Received::Duplicate));
        for _ in 0..2 {
            rx.recv().expect("continuation").expect("durable");
        }
        journal.close();
        let books = reload(&dir);
        let c = &books.peers[&carol];
        assert_eq!((c.balance, c.settled_in), (-100, 100));
        assert_eq!(c.received, VecDeque::from([[7; 16]]));
        // After a restart the id is still known.
        let (_, journal) = start(&dir);
        let again = journal
            .settlement_received(&carol, [7; 16], 100, -200, report(&tx))
            .expect("after restart");
        assert_eq!(again, Received::Duplicate);
        rx.recv().expect("continuation").expect("durable");
        journal.close();
        assert_eq!(reload(&dir).peers[&carol].settled_in, 100);
    }

    #[test]
    fn only_the_last_received_ids_are_kept() {
        let dir = TempDir::new("kept");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        let dave = peer("dave");
        let id = |n: usize| -> SettlementId {
            let mut id = [0; 16];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            id
        };
        let total = RECEIVED_IDS_KEPT + 10;
        for n in 0..total {
            let r = journal
                .settlement_received(&dave, id(n), 1, -(n as i128 + 1), report(&tx))
                .expect("receive");
            assert_eq!(r, Received::New);
        }
        for _ in 0..total {
            rx.recv().expect("continuation").expect("durable");
        }
        journal.close();
        let books = reload(&dir);
        let d = &books.peers[&dave];
        assert_eq!(d.settled_in, total as u128);
        let kept: Vec<SettlementId> = (10..total).map(id).collect();
        assert_eq!(Vec::from(d.received.clone()), kept);
        let rows: i64 = rusqlite::Connection::open(dir.0.join(crate::accounts::store::FILE_NAME))
            .expect("raw")
            .query_row("SELECT count(*) FROM received", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, RECEIVED_IDS_KEPT as i64);
    }

    #[test]
    fn settlements_out_keep_one_in_flight_and_count_when_accepted() {
        let dir = TempDir::new("out");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        let erin = peer("erin");
        journal
            .settlement_started(&erin, [1; 16], 50, 0, report(&tx))
            .expect("start");
        let err = journal
            .settlement_started(&erin, [2; 16], 50, 50, report(&tx))
            .expect_err("second in flight");
        assert!(
            matches!(err, StoreError::SettlementInFlight { .. }),
            "{err:?}"
        );
        let err = journal
            .settlement_finished(&erin, [2; 16], SettlementOutcome::Accepted, 0, report(&tx))
            .expect_err("not the one in flight");
        assert!(matches!(err, StoreError::NotInFlight { .. }), "{err:?}");
        journal
            .settlement_finished(&erin, [1; 16], SettlementOutcome::Refused, -50, report(&tx))
            .expect("refused");
        journal
            .settlement_started(&erin, [3; 16], 50, 0, report(&tx))
            .expect("start again");
        journal
            .settlement_finished(&erin, [3; 16], SettlementOutcome::Accepted, 0, report(&tx))
            .expect("accepted");
        for _ in 0..4 {
            rx.recv().expect("continuation").expect("durable");
        }
        assert!(rx.try_recv().is_err(), "refused operations never run");
        journal.close();
        let e = &reload(&dir).peers[&erin];
        assert_eq!((e.balance, e.settled_out, e.in_flight), (0, 50, None));
    }

    #[test]
    fn a_full_disk_is_reported_to_each_continuation_and_written_later() {
        let dir = TempDir::new("full");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        journal.limit_pages(1);
        let peers: Vec<Arc<str>> = (0..500).map(|n| peer(&format!("peer-{n:040}"))).collect();
        for (n, p) in peers.iter().enumerate() {
            journal.set_balance(p, n as i128, report(&tx)).expect("set");
        }
        let mut failed = 0;
        for _ in 0..peers.len() {
            if let Err(err) = rx.recv().expect("continuation") {
                match &err {
                    StoreError::Io { source, .. } => assert_eq!(
                        source.sqlite_error_code(),
                        Some(rusqlite::ErrorCode::DiskFull),
                        "{err}"
                    ),
                    other => panic!("{other:?}"),
                }
                assert!(err.to_string().contains("DATA_DIR"), "{err}");
                failed += 1;
            }
        }
        assert!(failed > 0, "the page limit made a commit fail");
        // Room again: the next commit writes every row, also the failed ones.
        journal.limit_pages(1 << 30);
        let last = peer("last");
        journal.set_balance(&last, 1, report(&tx)).expect("set");
        rx.recv().expect("continuation").expect("durable now");
        journal.close();
        let books = reload(&dir);
        for (n, p) in peers.iter().enumerate() {
            assert_eq!(books.peers[p].balance, n as i128, "{p}");
        }
        assert_eq!(books.peers[&last].balance, 1);
    }

    #[test]
    fn a_settlement_whose_commit_failed_is_written_by_the_next_and_still_counts_once() {
        let dir = TempDir::new("retry");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        let hana = peer("hana");
        // One batch that cannot fit: many new rows and the settlement.
        let release = hold(&journal, &hana);
        journal.limit_pages(1);
        let fillers: Vec<Arc<str>> = (0..500).map(|n| peer(&format!("filler-{n:040}"))).collect();
        for p in &fillers {
            journal.set_balance(p, 1, report(&tx)).expect("set");
        }
        let first = journal
            .settlement_received(&hana, [9; 16], 30, -30, report(&tx))
            .expect("receive");
        assert_eq!(first, Received::New);
        drop(release);
        for _ in 0..=fillers.len() {
            let result = rx.recv().expect("continuation");
            assert!(result.is_err(), "the batch failed as a whole");
        }
        // The peer retries (its answer was an error): a duplicate, which is
        // answered after the next commit, the one that writes the first.
        journal.limit_pages(1 << 30);
        let retry = journal
            .settlement_received(&hana, [9; 16], 30, -60, report(&tx))
            .expect("retry");
        assert_eq!(retry, Received::Duplicate);
        rx.recv().expect("continuation").expect("durable now");
        journal.close();
        let h = &reload(&dir).peers[&hana];
        assert_eq!((h.balance, h.settled_in), (-30, 30));
        assert_eq!(h.received, VecDeque::from([[9; 16]]));
    }

    #[test]
    fn past_the_queue_limit_operations_are_refused_not_queued() {
        let dir = TempDir::new("bound");
        let (_, journal) = start(&dir);
        let frank = peer("frank");
        let release = hold(&journal, &frank);
        let ran = Arc::new(AtomicU64::new(0));
        for n in 0..MAX_QUEUED {
            let ran = Arc::clone(&ran);
            journal
                .set_balance(
                    &frank,
                    n as i128,
                    Box::new(move |result| {
                        result.expect("durable");
                        ran.fetch_add(1, Ordering::Relaxed);
                    }),
                )
                .expect("under the limit");
        }
        let err = journal
            .set_balance(&frank, -1, Box::new(|_| panic!("a refused operation ran")))
            .expect_err("over the limit");
        assert!(matches!(err, StoreError::QueueFull(MAX_QUEUED)), "{err:?}");
        drop(release);
        journal.close();
        assert_eq!(ran.load(Ordering::Relaxed), MAX_QUEUED as u64);
        assert_eq!(reload(&dir).peers[&frank].balance, MAX_QUEUED as i128 - 1);
    }

    #[test]
    fn close_flushes_what_is_queued_and_refuses_what_follows() {
        let dir = TempDir::new("close");
        let (_, journal) = start(&dir);
        let (tx, rx) = mpsc::channel();
        let gina = peer("gina");
        for value in 0..100 {
            journal.set_balance(&gina, value, report(&tx)).expect("set");
        }
        journal.close();
        for _ in 0..100 {
            rx.try_recv()
                .expect("ran before close returned")
                .expect("durable");
        }
        let err = journal
            .set_balance(&gina, 1, report(&tx))
            .expect_err("closed");
        assert!(matches!(err, StoreError::Closed), "{err:?}");
        drop(journal);
        assert_eq!(reload(&dir).peers[&gina].balance, 99);
    }
}
