//! One authenticated BTP link over a WebSocket: request/response matching,
//! batched writes, keepalive. Knows nothing of routing.
//!
//! A request is registered as pending *before* its frame is queued, so a fast
//! reply can never arrive unmatched (interledger-rs loses such replies).
//!
//! A request is answered exactly once: by the reply (on the reader task), by
//! its deadline (on the link's sweeper task), or by the link closing. The
//! answer is either sent to a waiting task or handed to a callback, which lets
//! the forwarding core relay a reply without a task, channel or timer per
//! packet.
//!
//! # Transfers (settlements)
//! A BTP Transfer (RFC 23 type 7) is a request like a Message: an outgoing
//! one ([`Link::send_transfer`]) takes an id from the same counter and waits
//! in the same pending map, bounded by its deadline like every request; its
//! answer is `Ok(())` for any Response, the peer's BTP Error, or
//! [`LinkError::Timeout`] / [`LinkError::Closed`]. An incoming one goes to
//! [`Handler::on_transfer`] with a [`TransferReply`] to answer it with, now
//! or later; at most [`MAX_UNANSWERED_TRANSFERS`] are held unanswered per
//! link, more are refused with `T00` at once, so a peer cannot make the node
//! hold its Transfers without bound. A malformed Transfer is answered
//! `F00` like any malformed frame.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, warn};

use crate::btp::{self, Frame};

/// Interval between WebSocket pings on an idle or busy link.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
/// A link that receives nothing (not even a pong) for this long is closed,
/// noticed at the next keepalive check (so after 6 to 8 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Keepalive checks per [`IDLE_TIMEOUT`].
pub const IDLE_TICKS: u32 = 3;
/// Most frames written before one flush.
pub const WRITE_BATCH: usize = 128;
/// How long a closing link waits to send its WebSocket Close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes of frames queued for writing on one link, unless the node is
/// configured otherwise (`MAX_QUEUED_BYTES_PER_LINK`): a peer that stops
/// reading while it keeps sending would otherwise grow them without bound
/// (a cap on frames let 65,536 frames of 64 KiB, 4 GiB, pile up). Past it
/// the link is closed.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Most pings a peer may send per keepalive check (`IDLE_TIMEOUT /
/// IDLE_TICKS`, 2 s) after auth; one more closes the link. A peer pings
/// once per [`PING_INTERVAL`]; each ping costs the node a pong.
pub const MAX_PINGS_PER_TICK: u32 = 64;
/// Longest a [`Link::request`] waits when its timeout is too long to add to
/// the clock (a day: callers ask for seconds).
pub const LONGEST_REQUEST_WAIT: Duration = Duration::from_secs(86_400);
/// Longest the deadline sweeper sleeps when nothing is pending.
pub const SWEEP_IDLE: Duration = Duration::from_secs(1);
/// Most incoming Transfers a link holds unanswered (handed to
/// [`Handler::on_transfer`], their [`TransferReply`] not yet used or
/// dropped); one more is refused with BTP `T00`. A peer of ours has at most
/// one settlement in flight per link.
pub const MAX_UNANSWERED_TRANSFERS: usize = 8;
/// What the default [`Handler::on_transfer`] answers (BTP `F00`).
pub const TRANSFERS_NOT_ACCEPTED: &str = "this link does not accept settlements";
/// What a Transfer past [`MAX_UNANSWERED_TRANSFERS`] is answered (BTP `T00`).
pub const TOO_MANY_TRANSFERS: &str = "too many transfers waiting for an answer on this link";

/// Which side opened the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// We dialed the peer.
    Outbound,
    /// The peer dialed us.
    Inbound,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        })
    }
}

/// Why a request over a link got no ILP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The link closed before a reply came.
    #[error("link closed")]
    Closed,
    /// No reply within the deadline.
    #[error("no reply in time")]
    Timeout,
    /// The peer answered with a BTP Error.
    #[error("peer answered with BTP error {code} {name}: {message}")]
    Btp {
        /// BTP error code.
        code: String,
        /// BTP error name.
        name: String,
        /// The error's data, as text.
        message: String,
    },
    /// The peer answered with a Response that carried no ILP packet.
    #[error("peer's response carried no ILP packet")]
    EmptyResponse,
}

/// What a link does with the requests its peer sends.
pub trait Handler: Send + Sync + 'static {
    /// Called for each incoming ILP packet; answer later with [`Link::respond`].
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, ilp: Bytes);

    /// Called for each incoming BTP Transfer (a settlement from the peer);
    /// answer it, now or later, through `transfer.reply`. Runs on the link's
    /// reader task: quick, never blocking.
    ///
    /// The default refuses: BTP Error `F00 NotAcceptedError`
    /// [`TRANSFERS_NOT_ACCEPTED`], and nothing is counted. (Before Transfers
    /// reached the handler, a link answered each with an empty Response, as
    /// if accepted.) A handler that keeps balances overrides it.
    fn on_transfer(self: Arc<Self>, link: &Arc<Link>, transfer: IncomingTransfer) {
        let _ = link;
        transfer
            .reply
            .refuse("F00", "NotAcceptedError", TRANSFERS_NOT_ACCEPTED);
    }
}

/// A Transfer the peer sent, as [`Handler::on_transfer`] gets it.
#[derive(Debug)]
pub struct IncomingTransfer {
    /// The amount, in the link's units.
    pub amount: u64,
    /// Its entries (see [`btp::SettlementId::find`] for the settlement id).
    pub protocol_data: Vec<btp::ProtocolData>,
    /// How to answer it.
    pub reply: TransferReply,
}

/// The one answer to an incoming Transfer: [`TransferReply::accept`] (an
/// empty BTP Response) or [`TransferReply::refuse`] (a BTP Error). Dropped
/// unused, it sends nothing (the peer's request times out, so it may retry
/// with the same settlement id) and frees its place among the
/// [`MAX_UNANSWERED_TRANSFERS`]. On a closed link the answer is dropped.
pub struct TransferReply {
    link: Arc<Link>,
    request_id: u32,
}

impl std::fmt::Debug for TransferReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferReply")
            .field("peer_id", &self.link.peer_id)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl TransferReply {
    /// The BTP request id of the Transfer.
    pub fn request_id(&self) -> u32 {
        self.request_id
    }

    /// Accepts: an empty BTP Response.
    pub fn accept(self) {
        self.link
            .send_frame(&Frame::empty_response(self.request_id));
    }

    /// Refuses: a BTP Error with `code` (3 ASCII characters, e.g. `F00`),
    /// `name` and `message` as its data.
    pub fn refuse(self, code: &str, name: &str, message: &str) {
        self.link
            .send_frame(&Frame::error(self.request_id, code, name, message));
    }
}

impl Drop for TransferReply {
    fn drop(&mut self) {
        self.link
            .unanswered_transfers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A continuation given the answer to a request (the reply, or why there is
/// none) and when it was learned (the clock read that decided whether the
/// reply was in time, so the caller needs no read of its own).
pub type OnReply = Box<dyn FnOnce(Result<Bytes, LinkError>, Instant) + Send>;

/// A continuation given the answer to a Transfer: `Ok(())` for a BTP
/// Response (whatever its entries), else why not, and when it was learned.
pub type OnTransferReply = Box<dyn FnOnce(Result<(), LinkError>, Instant) + Send>;

/// Who gets the answer to a pending request.
enum Waiter {
    Task(oneshot::Sender<Result<Bytes, LinkError>>),
    Callback(OnReply),
    Transfer(OnTransferReply),
}

impl Waiter {
    fn complete(self, answer: Result<Bytes, LinkError>, at: Instant) {
        match self {
            Waiter::Task(tx) => {
                let _ = tx.send(answer);
            }
            Waiter::Callback(f) => f(answer, at),
            Waiter::Transfer(f) => f(
                match answer {
                    // Any Response accepts a Transfer; one with no ILP packet
                    // (the usual one) reaches here as `EmptyResponse`.
                    Ok(_) | Err(LinkError::EmptyResponse) => Ok(()),
                    Err(e) => Err(e),
                },
                at,
            ),
        }
    }
}

struct Entry {
    waiter: Waiter,
    deadline: Instant,
}

#[derive(Default)]
struct Pending {
    /// Keyed by our own request ids, so a fast non-keyed hash is safe.
    entries: FxHashMap<u32, Entry>,
    /// When the sweeper will next look; a request due earlier wakes it.
    sweep_at: Option<Instant>,
}

/// A live, authenticated BTP link.
pub struct Link {
    peer_id: Arc<str>,
    direction: Direction,
    outgoing: mpsc::UnboundedSender<Message>,
    pending: Mutex<Pending>,
    sweep: Notify,
    next_request_id: AtomicU32,
    closed: CancellationToken,
    /// Set by [`Link::close`] before it drains the pending requests; read on
    /// the packet path instead of the token, which takes a lock.
    is_closed: AtomicBool,
    /// Bytes of frames queued for the writer and not yet handed to the socket.
    queued: Arc<AtomicUsize>,
    /// Most bytes `queued` may reach; past it the link is closed.
    max_queued_bytes: usize,
    written: CancellationToken,
    unmatched: AtomicU64,
    /// Incoming Transfers handed to the handler and not yet answered.
    unanswered_transfers: AtomicUsize,
    /// Cancelled by [`Link::open`]: until then the reader reads nothing, so
    /// the owner can register the link before its first request is handled.
    reading: CancellationToken,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer_id", &self.peer_id)
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Starts the reader and writer tasks of an authenticated WebSocket and
    /// returns the link. `next_request_id` is the first id this side uses.
    /// At most [`DEFAULT_MAX_QUEUED_BYTES`] are queued for writing.
    pub fn start<S>(
        ws: WebSocketStream<S>,
        peer_id: Arc<str>,
        direction: Direction,
        next_request_id: u32,
        handler: Arc<dyn Handler>,
    ) -> Arc<Link>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let link = Self::start_paused(
            ws,
            peer_id,
            direction,
            next_request_id,
            handler,
            DEFAULT_MAX_QUEUED_BYTES,
        );
        link.open();
        link
    }

    /// As [`Link::start`], but with at most `max_queued_bytes` queued for
    /// writing, and nothing the peer sends is read (so no request reaches
    /// `handler`) until [`Link::open`]; sending works at once. The node
    /// registers a link (its routes, CCP's link-up) before opening it, so on
    /// a multi-thread runtime a peer's first packet cannot overtake the
    /// registration.
    pub fn start_paused<S>(
        ws: WebSocketStream<S>,
        peer_id: Arc<str>,
        direction: Direction,
        next_request_id: u32,
        handler: Arc<dyn Handler>,
        max_queued_bytes: usize,
    ) -> Arc<Link>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            peer_id,
            direction,
            outgoing: tx,
            pending: Mutex::new(Pending::default()),
            sweep: Notify::new(),
            next_request_id: AtomicU32::new(next_request_id),
            closed: CancellationToken::new(),
            is_closed: AtomicBool::new(false),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued_bytes,
            written: CancellationToken::new(),
            unmatched: AtomicU64::new(0),
            unanswered_transfers: AtomicUsize::new(0),
            reading: CancellationToken::new(),
        });
        let (sink, stream) = ws.split();
        let span = tracing::Span::current();
        tokio::spawn(
            write_loop(
                sink,
                rx,
                link.closed.clone(),
                link.written.clone(),
                link.queued.clone(),
            )
            .instrument(span.clone()),
        );
        tokio::spawn(sweep_loop(link.clone()).instrument(span.clone()));
        tokio::spawn(read_loop(stream, link.clone(), handler).instrument(span));
        link
    }

    /// Lets the reader of a link made by [`Link::start_paused`] start.
    pub fn open(&self) {
        self.reading.cancel();
    }

    /// The peer's id.
    pub fn peer_id(&self) -> &Arc<str> {
        &self.peer_id
    }

    /// Which side dialed.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether the link has closed.
    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::SeqCst)
    }

    /// Resolves when the link has closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Resolves when the writer has finished: after a close, the frames queued
    /// before it (answers, most of all) have been written, or
    /// [`CLOSE_TIMEOUT`] has passed, and the Close frame is sent.
    pub async fn written(&self) {
        self.written.cancelled().await
    }

    /// Closes the link; pending requests fail with [`LinkError::Closed`].
    /// Frames already queued (e.g. answers) are still written, within
    /// [`CLOSE_TIMEOUT`].
    pub fn close(&self) {
        self.is_closed.store(true, Ordering::SeqCst);
        self.closed.cancel();
        self.fail_pending();
    }

    /// Sends an ILP packet and waits up to `timeout` for the peer's reply.
    pub async fn request(&self, ilp: &[u8], timeout: Duration) -> Result<Bytes, LinkError> {
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + LONGEST_REQUEST_WAIT);
        self.send_request(ilp, None, deadline, Waiter::Task(tx));
        rx.await.unwrap_or(Err(LinkError::Closed))
    }

    /// Sends an ILP packet; `on_reply` gets the reply, or [`LinkError::Timeout`]
    /// at `deadline`, or [`LinkError::Closed`], exactly once. It runs on the
    /// task that learns the answer, so it must be quick and must not block.
    pub fn request_with(&self, ilp: &[u8], deadline: Instant, on_reply: OnReply) {
        self.send_request(ilp, None, deadline, Waiter::Callback(on_reply));
    }

    /// [`Link::request_with`] for `ilp` with `patch` written over its bytes
    /// from offset `at`, in the one copy into the outgoing frame (a
    /// forwarded Prepare with its new expiry).
    pub fn request_patched(
        &self,
        ilp: &[u8],
        at: usize,
        patch: &[u8],
        deadline: Instant,
        on_reply: OnReply,
    ) {
        self.send_request(ilp, Some((at, patch)), deadline, Waiter::Callback(on_reply));
    }

    /// Sends a BTP Transfer of `amount` with `protocol_data` (a settlement:
    /// see [`btp::SettlementId`]); `on_reply` gets `Ok(())` on the peer's
    /// Response, [`LinkError::Btp`] on its Error (a stock ilp-plugin-btp
    /// answers `F00`, name `Error`, data
    /// `{"message":"No sendMoney functionality is included in this module"}`),
    /// else [`LinkError::Timeout`] at `deadline` or [`LinkError::Closed`],
    /// exactly once, on the task that learns it (quick, never blocking).
    pub fn send_transfer(
        &self,
        amount: u64,
        protocol_data: Vec<btp::ProtocolData>,
        deadline: Instant,
        on_reply: OnTransferReply,
    ) {
        self.send_request_with(deadline, Waiter::Transfer(on_reply), |id| {
            Frame::transfer(id, amount, protocol_data).encode()
        });
    }

    /// [`Link::send_transfer`], waiting up to `timeout` for the answer.
    pub async fn transfer(
        &self,
        amount: u64,
        protocol_data: Vec<btp::ProtocolData>,
        timeout: Duration,
    ) -> Result<(), LinkError> {
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + LONGEST_REQUEST_WAIT);
        self.send_transfer(
            amount,
            protocol_data,
            deadline,
            Box::new(move |answer, _| {
                let _ = tx.send(answer);
            }),
        );
        rx.await.unwrap_or(Err(LinkError::Closed))
    }

    fn send_request(
        &self,
        ilp: &[u8],
        patch: Option<(usize, &[u8])>,
        deadline: Instant,
        waiter: Waiter,
    ) {
        self.send_request_with(deadline, waiter, |id| match patch {
            None => btp::encode_ilp(btp::TYPE_MESSAGE, id, ilp),
            Some((at, bytes)) => btp::encode_ilp_patched(btp::TYPE_MESSAGE, id, ilp, at, bytes),
        });
    }

    /// Registers a request under a new id, then queues the frame `encode`
    /// makes for that id.
    #[inline(always)]
    fn send_request_with(
        &self,
        deadline: Instant,
        waiter: Waiter,
        encode: impl FnOnce(u32) -> Bytes,
    ) {
        let id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let wake_sweeper = {
            let mut p = self.pending.lock().expect("pending lock");
            p.entries.insert(id, Entry { waiter, deadline });
            let earlier = p.sweep_at.is_none_or(|at| deadline < at);
            if earlier {
                p.sweep_at = Some(deadline);
            }
            earlier
        };
        if wake_sweeper {
            self.sweep.notify_one();
        }
        // The closing side cancels first and drains after, so either it sees
        // this entry or this check sees the cancellation.
        if self.is_closed() {
            self.fail(id, LinkError::Closed);
            return;
        }
        if !self.queue(encode(id)) {
            self.fail(id, LinkError::Closed);
        }
    }

    /// Hands a frame to the writer; false when the link is closed, or is
    /// closed now because its peer has stopped reading.
    fn queue(&self, frame: Bytes) -> bool {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > self.max_queued_bytes {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            if !self.is_closed() {
                warn!(
                    event = "link_write_queue_full",
                    peerId = %self.peer_id,
                    queuedBytes = before,
                    limit = self.max_queued_bytes,
                    "the peer is not reading what this node writes (MAX_QUEUED_BYTES_PER_LINK reached); closing the link"
                );
                self.close();
            }
            return false;
        }
        if self.outgoing.send(Message::Binary(frame)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Bytes queued for writing and not yet handed to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Answers every pending request with [`LinkError::Closed`] now, leaving
    /// the link open (a shutdown does this before closing, so the answers
    /// can still be written on the other links).
    pub fn fail_pending_requests(&self) {
        self.fail_pending();
    }

    /// Answers pending request `id` with `error`, unless someone already did.
    fn fail(&self, id: u32, error: LinkError) {
        let entry = self
            .pending
            .lock()
            .expect("pending lock")
            .entries
            .remove(&id);
        if let Some(e) = entry {
            e.waiter.complete(Err(error), Instant::now());
        }
    }

    /// Answers the peer's request `request_id` with an ILP packet.
    pub fn respond(&self, request_id: u32, ilp: &[u8]) {
        // A closed link drops the answer; the peer fails the request itself.
        self.queue(btp::encode_ilp(btp::TYPE_RESPONSE, request_id, ilp));
    }

    /// Sends a BTP frame as it is.
    pub fn send_frame(&self, frame: &Frame) {
        self.queue(frame.encode());
    }

    fn complete(&self, request_id: u32, reply: Result<Bytes, LinkError>) {
        let entry = self
            .pending
            .lock()
            .expect("pending lock")
            .entries
            .remove(&request_id);
        match entry {
            Some(e) => {
                let now = Instant::now();
                if now >= e.deadline {
                    // Arrived after its deadline but before the sweeper ran: too late.
                    self.unmatched.fetch_add(1, Ordering::Relaxed);
                    debug!(request_id, "reply after the request's deadline dropped");
                    e.waiter.complete(Err(LinkError::Timeout), now);
                } else {
                    e.waiter.complete(reply, now);
                }
            }
            None => {
                self.unmatched.fetch_add(1, Ordering::Relaxed);
                debug!(request_id, "reply to an unknown or expired request dropped");
            }
        }
    }

    fn fail_pending(&self) {
        let drained: Vec<Entry> = {
            let mut p = self.pending.lock().expect("pending lock");
            p.entries.drain().map(|(_, e)| e).collect()
        };
        let now = Instant::now();
        for e in drained {
            e.waiter.complete(Err(LinkError::Closed), now);
        }
    }

    /// Replies (Response or Error frames) received whose request id matched no
    /// pending request: late replies to expired requests, or duplicates.
    pub fn unmatched_replies(&self) -> u64 {
        self.unmatched.load(Ordering::Relaxed)
    }

    /// Number of requests waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        self.pending.lock().expect("pending lock").entries.len()
    }

    /// Incoming Transfers handed to the handler and not answered yet.
    pub fn unanswered_transfers(&self) -> usize {
        self.unanswered_transfers.load(Ordering::Relaxed)
    }
}

/// Answers requests whose deadline has passed with [`LinkError::Timeout`].
/// Sleeps until the earliest deadline; a request due earlier wakes it.
async fn sweep_loop(link: Arc<Link>) {
    loop {
        let now = Instant::now();
        let (expired, wake_at) = {
            let mut p = link.pending.lock().expect("pending lock");
            let expired: Vec<Entry> = p
                .entries
                .extract_if(|_, e| e.deadline <= now)
                .map(|(_, e)| e)
                .collect();
            let earliest = p.entries.values().map(|e| e.deadline).min();
            let wake_at = earliest.unwrap_or(now + SWEEP_IDLE);
            p.sweep_at = Some(wake_at);
            (expired, wake_at)
        };
        for e in expired {
            e.waiter.complete(Err(LinkError::Timeout), now);
        }
        tokio::select! {
            biased;
            _ = link.closed.cancelled() => return,
            _ = link.sweep.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

async fn write_loop<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    closed: CancellationToken,
    written: CancellationToken,
    queued: Arc<AtomicUsize>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let cancelled = closed.cancelled();
    tokio::pin!(cancelled);
    let writing = async {
        loop {
            tokio::select! {
                biased;
                _ = &mut cancelled => return Ok(()),
                msg = rx.recv() => {
                    let Some(msg) = msg else { return Ok(()) };
                    queued.fetch_sub(msg.len(), Ordering::Relaxed);
                    // No yield before the batch: the writer, woken by the
                    // first frame queued, runs only once the task that queued
                    // it (a reader answering or forwarding what it read) has
                    // nothing more ready, so the frames of that read are
                    // already queued. A yield here only made the scheduler
                    // poll the I/O driver once more per batch (an extra
                    // `epoll_wait`: c=1 8 syscalls per packet instead of 6).
                    sink.feed(msg).await?;
                    let mut n = 1;
                    while n < WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(m) => {
                                queued.fetch_sub(m.len(), Ordering::Relaxed);
                                sink.feed(m).await?;
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    sink.flush().await?;
                }
                _ = ping.tick() => sink.send(Message::Ping(Bytes::new())).await?,
            }
        }
    };
    // A write the peer never drains would hold the writer (and everything
    // queued) forever: once the link is closed it has CLOSE_TIMEOUT to end.
    let stalled = async {
        closed.cancelled().await;
        tokio::time::sleep(CLOSE_TIMEOUT).await;
    };
    let result: Result<(), tokio_tungstenite::tungstenite::Error> = tokio::select! {
        biased;
        r = writing => r,
        _ = stalled => Err(tokio_tungstenite::tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the peer did not take a write within CLOSE_TIMEOUT of the close",
        ))),
    };
    let failed = result.is_err();
    if let Err(e) = result {
        debug!(error = %e, "link write failed");
    }
    closed.cancel();
    // Answers queued before the close still go out (a graceful shutdown
    // answers what is in flight, then closes), unless the socket is broken.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if !failed {
            rx.close();
            while let Some(m) = rx.recv().await {
                if sink.feed(m).await.is_err() {
                    return;
                }
            }
            let _ = sink.flush().await;
        }
        let _ = sink.close().await;
    })
    .await;
    written.cancel();
}

async fn read_loop<S>(
    mut stream: futures_util::stream::SplitStream<WebSocketStream<S>>,
    link: Arc<Link>,
    handler: Arc<dyn Handler>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::select! {
        _ = link.reading.cancelled() => {}
        _ = link.closed.cancelled() => {
            debug!("link closed before it was opened");
            link.close();
            return;
        }
    }
    // Keepalive without a clock read per message: every tick, look whether
    // anything arrived since the last one. Silence for IDLE_TICKS ticks in a
    // row (IDLE_TIMEOUT, give or take a tick) closes the link.
    let mut idle = tokio::time::interval(IDLE_TIMEOUT / IDLE_TICKS);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    idle.reset();
    let mut received = false;
    let mut silent_ticks = 0;
    let mut pings = 0u32;
    let cancelled = link.closed.cancelled();
    tokio::pin!(cancelled);
    let reason: String = loop {
        // A local close is seen by its flag while frames keep coming; the
        // token's future (whose poll takes a lock) is polled only when the
        // stream has nothing ready.
        if link.is_closed() {
            break "closed locally".into();
        }
        let next = tokio::select! {
            biased;
            next = stream.next() => next,
            _ = &mut cancelled => break "closed locally".into(),
            _ = idle.tick() => {
                silent_ticks = if std::mem::take(&mut received) { 0 } else { silent_ticks + 1 };
                pings = 0;
                if silent_ticks >= IDLE_TICKS {
                    break format!("nothing received for {IDLE_TIMEOUT:?} (keepalive)");
                }
                continue;
            }
        };
        received = true;
        let msg = match next {
            None => break "connection closed by peer".into(),
            Some(Err(e)) => {
                if let tokio_tungstenite::tungstenite::Error::Capacity(_) = e {
                    // The frame's remaining bytes cannot be skipped: say why,
                    // then close (the writer sends this before the Close).
                    link.send_frame(&Frame::not_accepted(
                        0,
                        &format!("{e}; BTP frames are at most {} bytes", btp::MAX_FRAME_LEN),
                    ));
                }
                break format!("connection error: {e}");
            }
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Binary(data) => on_frame(&link, &handler, data),
            Message::Text(_) => link.send_frame(&Frame::not_accepted(
                0,
                "BTP frames must be binary WebSocket messages",
            )),
            Message::Close(_) => break "peer sent close".into(),
            Message::Ping(_) => {
                pings += 1;
                if pings > MAX_PINGS_PER_TICK {
                    warn!(
                        event = "link_ping_flood",
                        peerId = %link.peer_id,
                        limit = MAX_PINGS_PER_TICK,
                        "the peer sends pings faster than a keepalive needs; closing the link"
                    );
                    break format!(
                        "more than {MAX_PINGS_PER_TICK} pings in {:?}",
                        IDLE_TIMEOUT / IDLE_TICKS
                    );
                }
            }
            Message::Pong(_) | Message::Frame(_) => {}
        }
    };
    debug!(reason = %crate::logging::error_text(&reason), "link reader stopped");
    link.close();
}

fn on_frame(link: &Arc<Link>, handler: &Arc<dyn Handler>, data: Bytes) {
    // Fast path: a Message or Response with just an `ilp` entry (what every
    // BTP implementation sends for packets), without allocating.
    match btp::decode_ilp(&data) {
        Some((btp::TYPE_MESSAGE, request_id, ilp)) => {
            return handler.clone().on_request(link, request_id, ilp);
        }
        Some((btp::TYPE_RESPONSE, request_id, ilp)) => {
            return link.complete(request_id, Ok(ilp));
        }
        _ => {}
    }
    let frame = match Frame::decode(data.clone()) {
        Ok(f) => f,
        Err(e) => {
            let request_id = data
                .get(1..5)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            debug!(error = %crate::logging::error_text(&e), "malformed BTP frame");
            link.send_frame(&Frame::not_accepted(
                request_id,
                &format!("malformed BTP frame: {e}"),
            ));
            return;
        }
    };
    match frame {
        Frame::Message { request_id, .. } => match frame.ilp_data() {
            Some(ilp) => handler.clone().on_request(link, request_id, ilp.clone()),
            None => link.send_frame(&Frame::empty_response(request_id)),
        },
        Frame::Transfer {
            request_id,
            amount,
            protocol_data,
        } => on_transfer(link, handler, request_id, amount, protocol_data),
        Frame::Response { request_id, .. } => {
            let reply = frame.ilp_data().cloned().ok_or(LinkError::EmptyResponse);
            link.complete(request_id, reply);
        }
        Frame::Error {
            request_id,
            code,
            name,
            data,
            ..
        } => link.complete(
            request_id,
            Err(LinkError::Btp {
                code,
                name,
                message: String::from_utf8_lossy(&data).into_owned(),
            }),
        ),
    }
}

/// Hands a Transfer to the handler, unless too many are unanswered.
fn on_transfer(
    link: &Arc<Link>,
    handler: &Arc<dyn Handler>,
    request_id: u32,
    amount: u64,
    protocol_data: Vec<btp::ProtocolData>,
) {
    let held = link.unanswered_transfers.fetch_add(1, Ordering::Relaxed);
    if held >= MAX_UNANSWERED_TRANSFERS {
        link.unanswered_transfers.fetch_sub(1, Ordering::Relaxed);
        debug!(
            request_id,
            limit = MAX_UNANSWERED_TRANSFERS,
            "transfer refused: too many unanswered"
        );
        link.send_frame(&Frame::error(
            request_id,
            "T00",
            "UnreachableError",
            TOO_MANY_TRANSFERS,
        ));
        return;
    }
    // From here the count is the reply's: its drop takes it back.
    let reply = TransferReply {
        link: link.clone(),
        request_id,
    };
    handler.clone().on_transfer(
        link,
        IncomingTransfer {
            amount,
            protocol_data,
            reply,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    struct Silent;
    impl Handler for Silent {
        fn on_request(self: Arc<Self>, _: &Arc<Link>, _: u32, _: Bytes) {}
    }

    /// Answers queued just before a close (a graceful shutdown answers its
    /// in-flight packets, then closes every link) still reach the peer. The
    /// writer used to stop at the close and drop them.
    #[tokio::test]
    async fn answers_queued_before_close_are_written() {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let config = Some(crate::transport::ws_config());
        let ws = WebSocketStream::from_raw_socket(ours, Role::Server, config).await;
        let mut peer = WebSocketStream::from_raw_socket(theirs, Role::Client, config).await;
        let link = Link::start(ws, Arc::from("p"), Direction::Inbound, 2, Arc::new(Silent));
        for id in 0..100 {
            link.respond(id, b"answer");
        }
        link.close();
        let mut answers = 0;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), peer.next()).await
        {
            if let Message::Binary(b) = m {
                let (kind, id, ilp) = btp::decode_ilp(&b).expect("an ILP response");
                assert_eq!(
                    (kind, id, &ilp[..]),
                    (btp::TYPE_RESPONSE, answers, &b"answer"[..])
                );
                answers += 1;
            }
        }
        assert_eq!(answers, 100);
        link.written().await;
    }

    /// A reply whose request id matches nothing pending is counted.
    #[tokio::test]
    async fn unmatched_replies_are_counted() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let config = Some(crate::transport::ws_config());
        let ws = WebSocketStream::from_raw_socket(ours, Role::Client, config).await;
        let mut peer = WebSocketStream::from_raw_socket(theirs, Role::Server, config).await;
        let link = Link::start(ws, Arc::from("p"), Direction::Outbound, 2, Arc::new(Silent));
        let request = {
            let link = link.clone();
            tokio::spawn(async move { link.request(b"x", Duration::from_secs(5)).await })
        };
        let frame = loop {
            match peer.next().await.unwrap().unwrap() {
                Message::Binary(b) => break b,
                _ => continue,
            }
        };
        let (_, id, _) = btp::decode_ilp(&frame).unwrap();
        // Answered twice, and once more to an id never used.
        for reply_id in [id, id, 999] {
            peer.send(Message::Binary(btp::encode_ilp(
                btp::TYPE_RESPONSE,
                reply_id,
                b"r",
            )))
            .await
            .unwrap();
        }
        assert_eq!(&request.await.unwrap().unwrap()[..], b"r");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while link.unmatched_replies() < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(link.unmatched_replies(), 2);
        link.close();
    }

    /// A paused link reads nothing until opened: a request the peer sent
    /// before the owner registered the link reaches the handler only after
    /// `open`, even on a multi-thread runtime whose reader could otherwise
    /// run at once on another worker (CCP's first route control used to
    /// race the node's link-up this way and get F00).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_link_handles_nothing_until_opened() {
        struct Seen {
            registered: Arc<AtomicBool>,
            tx: mpsc::UnboundedSender<bool>,
        }
        impl Handler for Seen {
            fn on_request(self: Arc<Self>, _: &Arc<Link>, _: u32, _: Bytes) {
                let _ = self.tx.send(self.registered.load(Ordering::SeqCst));
            }
        }
        for _ in 0..20 {
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let config = Some(crate::transport::ws_config());
            let ws = WebSocketStream::from_raw_socket(ours, Role::Server, config).await;
            let mut peer = WebSocketStream::from_raw_socket(theirs, Role::Client, config).await;
            // The peer's request is on the wire before the link exists.
            peer.send(Message::Binary(btp::encode_ilp(btp::TYPE_MESSAGE, 7, b"x")))
                .await
                .unwrap();
            let registered = Arc::new(AtomicBool::new(false));
            let (tx, mut rx) = mpsc::unbounded_channel();
            let handler = Arc::new(Seen {
                registered: registered.clone(),
                tx,
            });
            let link = Link::start_paused(
                ws,
                Arc::from("p"),
                Direction::Inbound,
                2,
                handler,
                DEFAULT_MAX_QUEUED_BYTES,
            );
            // Registration takes a while: a round trip through the writer.
            link.respond(1, b"hello");
            loop {
                if let Message::Binary(_) = peer.next().await.unwrap().unwrap() {
                    break;
                }
            }
            registered.store(true, Ordering::SeqCst);
            link.open();
            let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("the request reaches the handler once opened");
            assert_eq!(seen, Some(true), "handled before the link was registered");
            link.close();
        }
    }
}
