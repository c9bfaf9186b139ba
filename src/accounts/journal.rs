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
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
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
    pub fn set_balance(&self, peer: &Arc<str>, balance: i128, then: Then) -> Result<(), StoreError> {
        self.record(then, |inner| {
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
            let row = *row_mut(inner, peer);
            let mut next = row;
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
            let row = row_mut(inner, peer);
            if row.in_flight.is_some() {
                return Err(StoreError::SettlementInFlight {
                    peer: Arc::clone(peer),
                });
            }
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
            let row = row_mut(inner, peer);
            let Some(in_flight) = row.in_flight.filter(|f| f.id == id) else {
                return Err(StoreError::NotInFlight {
                    peer: Arc::clone(peer),
                    id: hex(&id),
                });
            };
            let settled_out = match outcome {
                SettlementOutcome::Accepted => row
                    .settled_out
                    .checked_add(u128::from(in_flight.amount))
                    .ok_or_else(|| StoreError::Overflow {
                        peer: Arc::clone(peer),
                    })?,
                SettlementOutcome::Refused => row.settled_out,
            };
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
            let row = *row_mut(inner, peer);
            let settled_in = row
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
        if let Some(thread) = thread {
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
        {
            let mut inner = self.shared.inner.lock().expect("journal lock");
            if inner.closing {
                return Err(StoreError::Closed);
            }
            if inner.queue.len() >= MAX_QUEUED {
                return Err(StoreError::QueueFull(MAX_QUEUED));
            }
            change(&mut inner)?;
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
            (batch, std::mem::take(&mut inner.queue))
        };
        let result = if batch.is_empty() {
            Ok(())
        } else {
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
