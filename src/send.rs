//! `ilp-connector send`: a BTP client that connects to a node as a child,
//! sends Prepares, checks every Fulfill against its condition, and reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use crate::address::{Address, AddressError};
use crate::condition::{FulfillmentKey, sha256};
use crate::config::{ConfigError, DEFAULT_BTP_PORT, Secret, secret_from};
use crate::ildcp::{self, IldcpResponse};
use crate::link::{Direction, Handler, Link, LinkError};
use crate::packet::{self, ErrorCode, Fulfill, Prepare, Reject};
use crate::transport::{self, FIRST_REQUEST_ID};

/// Extra time the client waits past a packet's expiry before giving up on it
/// (the node answers R00 itself at expiry).
pub const REPLY_GRACE: Duration = Duration::from_secs(2);
/// Packets whose results are listed one by one (beyond it, only the summary).
pub const MAX_LISTED_PACKETS: u64 = 20;
/// Most packets in flight at once.
pub const MAX_CONCURRENCY: usize = 65_536;
/// Results room reserved up front (more grows as needed).
pub const RESULTS_PREALLOCATED: usize = 1 << 20;
/// Longest `--expiry-ms` accepted (one hour, as the node's MAX_HOLD_TIME_MS).
pub const MAX_EXPIRY_MS: u64 = crate::config::MAX_TIMING_MS;

/// Default BTP username of `send`: the child account `sender`.
pub const DEFAULT_USERNAME: &str = "sender";
/// Default amount of each packet.
pub const DEFAULT_AMOUNT: u64 = 1;
/// Default expiry of each packet, in milliseconds from when it is sent.
pub const DEFAULT_EXPIRY_MS: u64 = 30_000;
/// Default number of packets.
pub const DEFAULT_COUNT: u64 = 1;
/// Default packets in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 1;
/// Default bytes of random data in each packet.
pub const DEFAULT_DATA_SIZE: usize = 32;

/// The node `send` goes through by default: this host's BTP server on its
/// default port ([`DEFAULT_BTP_PORT`]).
pub fn default_url() -> String {
    format!("ws://127.0.0.1:{DEFAULT_BTP_PORT}")
}

/// What `send` does (from its flags, see `crate::cli::send`, or built in
/// code); secrets may still be files ([`SendSettings::with_secrets`]).
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// WebSocket URL of the node to send through.
    pub url: String,
    /// BTP username: the child account's id on that node.
    pub username: String,
    /// BTP secret of that account.
    pub secret: Option<Secret>,
    /// File holding the BTP secret.
    pub secret_file: Option<PathBuf>,
    /// Destination ILP address.
    pub destination: String,
    /// Amount of each packet.
    pub amount: u64,
    /// Expiry of each packet, in milliseconds from when it is sent.
    pub expiry_ms: u64,
    /// Number of packets.
    pub count: u64,
    /// Packets in flight at once.
    pub concurrency: usize,
    /// Bytes of random data in each packet.
    pub data_size: usize,
    /// The receiver's secret: conditions are derived from it and the data, so
    /// the node's test receiver can fulfil. Without it conditions are random.
    pub receiver_secret: Option<Secret>,
    /// File holding the receiver's secret.
    pub receiver_secret_file: Option<PathBuf>,
}

impl SendSettings {
    /// Options for `count` packets to `destination` through `url`.
    pub fn new(url: &str, username: &str, secret: &str, destination: &str) -> Self {
        Self {
            url: url.into(),
            username: username.into(),
            secret: Some(secret.into()),
            secret_file: None,
            destination: destination.into(),
            amount: DEFAULT_AMOUNT,
            expiry_ms: DEFAULT_EXPIRY_MS,
            count: DEFAULT_COUNT,
            concurrency: DEFAULT_CONCURRENCY,
            data_size: DEFAULT_DATA_SIZE,
            receiver_secret: None,
            receiver_secret_file: None,
        }
    }

    /// These options with each secret read from its value or its file
    /// (never both); the BTP secret is required.
    pub fn with_secrets(&self) -> Result<SendSettings, SendError> {
        let pick = |value: &Option<Secret>, var: &str, file: &Option<PathBuf>, file_var: &str| {
            secret_from(
                var,
                value.as_ref().map(Secret::expose),
                file_var,
                file.as_deref(),
            )
        };
        let secret = pick(&self.secret, "ILP_SEND_SECRET", &self.secret_file, "ILP_SEND_SECRET_FILE")?
            .ok_or_else(|| {
                ConfigError::new(
                    "ILP_SEND_SECRET",
                    "is required: set ILP_SEND_SECRET or ILP_SEND_SECRET_FILE (or --secret / --secret-file) to the account's BTP secret",
                )
            })?;
        let receiver = pick(
            &self.receiver_secret,
            "RECEIVER_SECRET",
            &self.receiver_secret_file,
            "RECEIVER_SECRET_FILE",
        )?;
        Ok(SendSettings {
            secret: Some(secret),
            secret_file: None,
            receiver_secret: receiver,
            receiver_secret_file: None,
            ..self.clone()
        })
    }
}

/// What happened to one packet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum PacketResult {
    /// Fulfilled, and SHA-256(fulfillment) matched the condition.
    Fulfilled,
    /// Rejected.
    #[serde(rename_all = "camelCase")]
    Rejected {
        /// Error code.
        code: String,
        /// Who rejected.
        triggered_by: String,
        /// Message.
        message: String,
    },
    /// A Fulfill whose fulfillment did not match the condition.
    InvalidFulfillment,
    /// No valid reply (link closed, timed out, garbage).
    Failed {
        /// Why.
        error: String,
    },
}

/// One packet's result and latency.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PacketReport {
    /// 0-based index.
    pub index: u64,
    /// Result.
    #[serde(flatten)]
    pub result: PacketResult,
    /// Milliseconds from send to reply.
    pub latency_ms: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// The summary of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The address the node gave this client over ILDCP, if it answered.
    pub client_address: Option<String>,
    /// Destination.
    pub destination: String,
    /// Packets sent.
    pub sent: u64,
    /// Fulfilled and verified.
    pub fulfilled: u64,
    /// Rejected, by code.
    pub rejected: BTreeMap<String, u64>,
    /// Fulfills that did not match their condition.
    pub invalid_fulfillments: u64,
    /// Packets with no valid reply.
    pub failed: u64,
    /// Latency of all replies.
    pub latency_ms: Latency,
    /// Wall time of the run.
    pub elapsed_seconds: f64,
    /// Fulfilled packets per second.
    pub packets_per_second: f64,
    /// The first packets' results, one by one.
    pub packets: Vec<PacketReport>,
}

impl Summary {
    /// Whether every packet was fulfilled and verified.
    pub fn all_fulfilled(&self) -> bool {
        self.fulfilled == self.sent
    }
}

/// Why `send` could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A secret or the URL is wrong (names its variable or flag).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--destination` is not an ILP address.
    #[error("--destination: {0}")]
    Destination(#[source] AddressError),
    /// `--concurrency` out of range.
    #[error("--concurrency must be 1..={MAX_CONCURRENCY}")]
    Concurrency,
    /// `--expiry-ms` out of range.
    #[error("--expiry-ms must be 1..={MAX_EXPIRY_MS}")]
    Expiry,
    /// `--data-size` over what a packet may carry.
    #[error("--data-size must be at most {}", packet::MAX_DATA_LEN)]
    DataSize,
    /// Could not connect or authenticate.
    #[error("cannot connect to {url} as {username}: {source}")]
    Connect {
        /// URL.
        url: String,
        /// Username.
        username: String,
        /// Cause.
        source: transport::ConnectError,
    },
}

/// A client rejects whatever the node sends it.
struct RejectAll;

impl SendError {
    /// Whether the settings are at fault (a usage error), not the node or the network.
    pub fn is_usage(&self) -> bool {
        !matches!(self, SendError::Connect { .. })
    }
}

/// Why the ILDCP query got no address.
#[derive(Debug, thiserror::Error)]
pub enum IldcpQueryError {
    /// No reply on the link.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The reply (or the ILDCP response in it) does not parse.
    #[error(transparent)]
    Parse(#[from] packet::ParseError),
    /// The node rejected the query.
    #[error("{code} {message}")]
    Rejected {
        /// Its code.
        code: ErrorCode,
        /// Its message (lossy UTF-8).
        message: String,
    },
    /// The reply is neither a Fulfill nor a Reject.
    #[error("not an ILP reply")]
    NotAReply,
}

impl Handler for RejectAll {
    fn on_request(self: Arc<Self>, link: &Arc<Link>, request_id: u32, _ilp: Bytes) {
        let reject = Reject {
            code: ErrorCode::F02_UNREACHABLE,
            triggered_by: None,
            message: Bytes::from_static(b"this client does not receive packets"),
            data: Bytes::new(),
        };
        link.respond(request_id, &reject.encode());
    }
}

/// Connects to a node as a client and returns the link.
pub async fn connect_client(
    url: &str,
    username: &str,
    secret: &str,
) -> Result<Arc<Link>, SendError> {
    let parsed = crate::config::parse_peer_url("--url", url)?;
    let ws = transport::connect(&parsed, username, secret)
        .await
        .map_err(|source| SendError::Connect {
            url: url.to_string(),
            username: username.to_string(),
            source,
        })?;
    Ok(Link::start(
        ws,
        Arc::from("node"),
        Direction::Outbound,
        FIRST_REQUEST_ID,
        Arc::new(RejectAll),
    ))
}

/// Asks the node for this client's address (ILDCP).
pub async fn ildcp_query(link: &Link) -> Result<IldcpResponse, IldcpQueryError> {
    let request = ildcp::request(Utc::now() + TimeDelta::seconds(30));
    let reply = link
        .request(&request.encode(), Duration::from_secs(30))
        .await?;
    match packet::packet_type(&reply) {
        Some(packet::TYPE_FULFILL) => Ok(IldcpResponse::decode(Fulfill::decode(reply)?.data)?),
        Some(packet::TYPE_REJECT) => {
            let r = Reject::decode(reply)?;
            Err(IldcpQueryError::Rejected {
                code: r.code,
                message: r.message_lossy(),
            })
        }
        _ => Err(IldcpQueryError::NotAReply),
    }
}

/// One run's state, shared by the continuations of the packets in flight:
/// each reply is judged on the task that reads it, and the next packet is
/// sent from there in its place (no task, channel or timer per packet).
struct Run {
    link: Arc<Link>,
    args: SendSettings,
    destination: Address,
    key: Option<FulfillmentKey>,
    timeout: Duration,
    /// Index of the next packet to send (past `args.count`: none left).
    next: AtomicU64,
    /// Packets sent and not yet answered, plus one held by [`run_on`]
    /// while it starts the first ones; the answer that takes it to zero
    /// ends the run.
    in_flight: AtomicUsize,
    /// Set by the first answer that found the link closed: nothing more is sent.
    closed: AtomicBool,
    results: Mutex<Vec<(u64, PacketResult, Duration)>>,
    finished: Notify,
}

impl Run {
    /// Sends the next packet, if any is left and the link is open.
    fn launch(self: &Arc<Self>) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if index >= self.args.count {
            return;
        }
        let mut data = vec![0u8; self.args.data_size];
        rand::fill(&mut data[..]);
        let condition = match &self.key {
            Some(k) => k.condition(&data),
            None => sha256(&rand::random::<[u8; 32]>()),
        };
        let prepare = Prepare {
            amount: self.args.amount,
            // expiry_ms is 1..=MAX_EXPIRY_MS (run_on checks): no overflow.
            expires_at: Utc::now()
                + TimeDelta::milliseconds(self.args.expiry_ms.min(MAX_EXPIRY_MS) as i64),
            execution_condition: condition,
            destination: self.destination.clone(),
            data: Bytes::from(data),
        };
        let sent = Instant::now();
        let deadline = tokio::time::Instant::from_std(sent)
            .checked_add(self.timeout)
            .unwrap_or_else(|| tokio::time::Instant::from_std(sent) + LONGEST_WAIT);
        // Counted before the request: a closed link answers at once, inside it.
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let run = self.clone();
        self.link.request_with(
            &prepare.encode(),
            deadline,
            Box::new(move |answer, at| run.answered(index, &condition, sent, answer, at)),
        );
    }

    /// Records packet `index`'s answer and sends the next packet in its place.
    fn answered(
        self: &Arc<Self>,
        index: u64,
        condition: &[u8; 32],
        sent: Instant,
        answer: Result<Bytes, LinkError>,
        at: tokio::time::Instant,
    ) {
        let latency = at.into_std().saturating_duration_since(sent);
        if matches!(answer, Err(LinkError::Closed)) {
            self.closed.store(true, Ordering::Relaxed);
        }
        let result = judge(answer, condition);
        self.results
            .lock()
            .expect("results lock")
            .push((index, result, latency));
        // The replacement is counted before this packet is let go, so the
        // count reaches zero only when nothing was left to send.
        self.launch();
        self.release();
    }

    /// Ends one packet's (or the starter's) share of the run.
    fn release(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finished.notify_one();
        }
    }
}

/// Longest a packet's reply is waited for when its timeout does not fit the clock.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The result of one packet from its answer: a Fulfill counts only if
/// SHA-256 of its fulfillment is the condition sent.
fn judge(answer: Result<Bytes, LinkError>, condition: &[u8; 32]) -> PacketResult {
    let reply = match answer {
        Ok(r) => r,
        Err(
            e @ (LinkError::Closed
            | LinkError::Timeout
            | LinkError::Btp { .. }
            | LinkError::EmptyResponse),
        ) => {
            return PacketResult::Failed {
                error: e.to_string(),
            };
        }
    };
    match packet::packet_type(&reply) {
        Some(packet::TYPE_FULFILL) => match packet::FulfillRef::decode(&reply) {
            Ok(f) if sha256(f.fulfillment) == *condition => PacketResult::Fulfilled,
            Ok(_) => PacketResult::InvalidFulfillment,
            Err(e) => PacketResult::Failed {
                error: format!("invalid Fulfill: {e}"),
            },
        },
        Some(packet::TYPE_REJECT) => match Reject::decode(reply) {
            Ok(r) => PacketResult::Rejected {
                code: r.code.to_string(),
                triggered_by: r
                    .triggered_by
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                message: r.message_lossy(),
            },
            Err(e) => PacketResult::Failed {
                error: format!("invalid Reject: {e}"),
            },
        },
        _ => PacketResult::Failed {
            error: "reply is not an ILP Fulfill or Reject".into(),
        },
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Runs `send` over an already connected link.
pub async fn run_on(link: Arc<Link>, args: &SendSettings) -> Result<Summary, SendError> {
    let destination = Address::new(args.destination.as_str()).map_err(SendError::Destination)?;
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        return Err(SendError::Concurrency);
    }
    if args.expiry_ms == 0 || args.expiry_ms > MAX_EXPIRY_MS {
        return Err(SendError::Expiry);
    }
    if args.data_size > packet::MAX_DATA_LEN {
        return Err(SendError::DataSize);
    }
    let client_address = ildcp_query(&link)
        .await
        .ok()
        .map(|r| r.client_address.to_string());
    let key = args
        .receiver_secret
        .as_ref()
        .map(|s| FulfillmentKey::from_secret(s.expose().as_bytes()));
    let run = Arc::new(Run {
        link,
        args: args.clone(),
        destination: destination.clone(),
        key,
        timeout: Duration::from_millis(args.expiry_ms) + REPLY_GRACE,
        next: AtomicU64::new(0),
        in_flight: AtomicUsize::new(1),
        closed: AtomicBool::new(false),
        results: Mutex::new(Vec::with_capacity(
            usize::try_from(args.count)
                .map_or(RESULTS_PREALLOCATED, |n| n.min(RESULTS_PREALLOCATED)),
        )),
        finished: Notify::new(),
    });
    let started = Instant::now();
    let workers = args.concurrency.min(args.count.max(1) as usize);
    for _ in 0..workers {
        run.launch();
    }
    run.release();
    run.finished.notified().await;
    let mut results = std::mem::take(&mut *run.results.lock().expect("results lock"));
    // A closed link ends the run early: the packets not sent fail as they
    // would have, had they been sent.
    let unsent = run.next.load(Ordering::Relaxed).min(args.count);
    if unsent < args.count {
        let error = LinkError::Closed.to_string();
        results.extend((unsent..args.count).map(|index| {
            let result = PacketResult::Failed {
                error: error.clone(),
            };
            (index, result, Duration::ZERO)
        }));
    }
    let elapsed = started.elapsed();
    results.sort_by_key(|r| r.0);
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.2).collect();
    latencies.sort();
    let mut summary = Summary {
        client_address,
        destination: destination.to_string(),
        sent: results.len() as u64,
        fulfilled: 0,
        rejected: BTreeMap::new(),
        invalid_fulfillments: 0,
        failed: 0,
        latency_ms: Latency {
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            max: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        },
        elapsed_seconds: elapsed.as_secs_f64(),
        packets_per_second: 0.0,
        packets: Vec::new(),
    };
    for (index, result, latency) in results {
        match &result {
            PacketResult::Fulfilled => summary.fulfilled += 1,
            PacketResult::Rejected { code, .. } => {
                *summary.rejected.entry(code.clone()).or_default() += 1
            }
            PacketResult::InvalidFulfillment => summary.invalid_fulfillments += 1,
            PacketResult::Failed { .. } => summary.failed += 1,
        }
        if index < MAX_LISTED_PACKETS {
            summary.packets.push(PacketReport {
                index,
                result,
                latency_ms: latency.as_secs_f64() * 1000.0,
            });
        }
    }
    summary.packets_per_second = summary.fulfilled as f64 / elapsed.as_secs_f64().max(1e-9);
    Ok(summary)
}

/// Connects, sends, disconnects.
pub async fn run(args: &SendSettings) -> Result<Summary, SendError> {
    let args = &args.with_secrets()?;
    let secret = args.secret.as_ref().map(Secret::expose).unwrap_or_default();
    let link = connect_client(&args.url, &args.username, secret).await?;
    let summary = run_on(link.clone(), args).await;
    link.close();
    summary
}

/// The summary as text for a terminal.
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    for p in &s.packets {
        let line = match &p.result {
            PacketResult::Fulfilled => "fulfilled".to_string(),
            PacketResult::Rejected {
                code,
                triggered_by,
                message,
            } => {
                format!("rejected {code} by {triggered_by}: {message}")
            }
            PacketResult::InvalidFulfillment => {
                "INVALID fulfillment (does not match the condition)".into()
            }
            PacketResult::Failed { error } => format!("failed: {error}"),
        };
        out.push_str(&format!(
            "packet {:>3}: {line} ({:.2} ms)\n",
            p.index, p.latency_ms
        ));
    }
    let rejected: Vec<String> = s.rejected.iter().map(|(c, n)| format!("{c}={n}")).collect();
    out.push_str(&format!(
        "sent {} to {}: fulfilled {}, rejected {} [{}], invalid fulfillments {}, failed {}\n",
        s.sent,
        s.destination,
        s.fulfilled,
        s.rejected.values().sum::<u64>(),
        rejected.join(" "),
        s.invalid_fulfillments,
        s.failed
    ));
    out.push_str(&format!(
        "latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.0} packets/s over {:.3} s\n",
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.latency_ms.max,
        s.packets_per_second,
        s.elapsed_seconds
    ));
    if let Some(a) = &s.client_address {
        out.push_str(&format!("client address (ILDCP): {a}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btp;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    const RECEIVER: &str = "receiver-secret";

    /// A client link and the node's end of it, in memory.
    async fn linked() -> (Arc<Link>, WebSocketStream<tokio::io::DuplexStream>) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let config = Some(transport::ws_config());
        let ws = WebSocketStream::from_raw_socket(ours, Role::Client, config).await;
        let node = WebSocketStream::from_raw_socket(theirs, Role::Server, config).await;
        let link = Link::start(
            ws,
            Arc::from("node"),
            Direction::Outbound,
            FIRST_REQUEST_ID,
            Arc::new(RejectAll),
        );
        (link, node)
    }

    fn args(count: u64, concurrency: usize) -> SendSettings {
        let mut a = SendSettings::new("ws://unused", "sender", "s", "g.node.receiver");
        a.count = count;
        a.concurrency = concurrency;
        a.receiver_secret = Some(RECEIVER.into());
        a
    }

    /// What the node answers to the `n`-th Prepare (0-based, ILDCP not
    /// counted): a Fulfill for most, a Reject for every 7th, a wrong
    /// fulfillment for every 11th.
    fn answer(n: u64, prepare: &packet::PrepareRef<'_>, key: &FulfillmentKey) -> Bytes {
        if n % 7 == 3 {
            return Reject {
                code: ErrorCode::F02_UNREACHABLE,
                triggered_by: None,
                message: Bytes::from_static(b"no"),
                data: Bytes::new(),
            }
            .encode();
        }
        let fulfillment = if n % 11 == 5 {
            [0u8; 32]
        } else {
            key.fulfillment(prepare.data)
        };
        Fulfill {
            fulfillment,
            data: Bytes::new(),
        }
        .encode()
    }

    /// Answers Prepares (replies out of order, in batches) until `stop_after`
    /// of them, then closes the connection.
    async fn node(mut ws: WebSocketStream<tokio::io::DuplexStream>, stop_after: u64) {
        let key = FulfillmentKey::from_secret(RECEIVER.as_bytes());
        let mut n = 0;
        let mut batch = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            let Message::Binary(frame) = m else { continue };
            let Some((btp::TYPE_MESSAGE, id, ilp)) = btp::decode_ilp(&frame) else {
                continue;
            };
            let prepare = packet::PrepareRef::decode(&ilp).expect("a valid Prepare");
            if prepare.destination.starts_with("peer.config") {
                let reply = answer(3, &prepare, &key);
                let frame = btp::encode_ilp(btp::TYPE_RESPONSE, id, &reply);
                ws.send(Message::Binary(frame)).await.unwrap();
                continue;
            }
            if n == stop_after {
                break;
            }
            batch.push((id, answer(n, &prepare, &key)));
            n += 1;
            if batch.len() == 3 {
                for (id, reply) in batch.drain(..).rev() {
                    let frame = btp::encode_ilp(btp::TYPE_RESPONSE, id, &reply);
                    ws.send(Message::Binary(frame)).await.unwrap();
                }
            }
        }
        let _ = ws.close(None).await;
    }

    /// Every packet gets one result, judged by its own condition, however
    /// the replies are ordered; the first ones are listed in order.
    #[tokio::test]
    async fn each_packet_is_judged_once_against_its_own_condition() {
        let (link, ws) = linked().await;
        let count = 300;
        let peer = tokio::spawn(node(ws, count));
        let s = run_on(link.clone(), &args(count, 9)).await.unwrap();
        link.close();
        peer.await.unwrap();
        let rejected = (0..count).filter(|n| n % 7 == 3).count() as u64;
        let invalid = (0..count).filter(|n| n % 7 != 3 && n % 11 == 5).count() as u64;
        assert_eq!(s.sent, count);
        assert_eq!(s.rejected.get("F02").copied(), Some(rejected));
        assert_eq!(s.invalid_fulfillments, invalid);
        assert_eq!(s.fulfilled, count - rejected - invalid);
        assert_eq!(s.failed, 0);
        let listed: Vec<u64> = s.packets.iter().map(|p| p.index).collect();
        assert_eq!(listed, (0..MAX_LISTED_PACKETS).collect::<Vec<_>>());
    }

    /// A link that closes mid-run fails the packets in flight and those not
    /// yet sent, each once, and the run ends (no packet is retried on a
    /// closed link, and a long run does not recurse through them).
    #[tokio::test]
    async fn a_closed_link_fails_the_rest_of_the_run() {
        let (link, ws) = linked().await;
        let count = 200_000;
        let answered = 30;
        let peer = tokio::spawn(node(ws, answered));
        let s = run_on(link.clone(), &args(count, 16)).await.unwrap();
        peer.await.unwrap();
        assert_eq!(s.sent, count);
        assert_eq!(
            s.fulfilled + s.rejected.values().sum::<u64>() + s.invalid_fulfillments,
            answered
        );
        assert_eq!(s.failed, count - answered);
    }
}
