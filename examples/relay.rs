//! Transport baseline for `scripts/bench.sh`: a WebSocket relay chain of the
//! same shape as a connector chain, with no ILP work.
//!
//! ```text
//! relay client --url ws://127.0.0.1:P_A --count N --concurrency C --json
//!    -> relay  (listen P_A, upstream ws://127.0.0.1:P_B)
//!    -> relay  (listen P_B, upstream ws://127.0.0.1:P_C)
//!    -> echo   (listen P_C)
//! ```
//!
//! Built on the same stack as the connector at its fastest settings: tokio
//! (current-thread runtime by default, `--runtime multi [--workers N]` for
//! the runtime table), the same allocator (mimalloc), tokio-tungstenite, the same WebSocket limits,
//! TCP_NODELAY, and per-socket writer tasks fed by an unbounded channel that
//! write up to [`ilp_connector::link::WRITE_BATCH`] frames per flush, as
//! `src/link.rs` does. A relay forwards each binary frame to the other side
//! unchanged; it does not parse it. The echo answers each frame with a BTP
//! Response carrying a fixed ILP Fulfill (request id copied from the frame),
//! so both directions carry the same bytes as through the connector chain.
//!
//! The client sends real-sized frames: a BTP Message carrying an ILP Prepare
//! to `g.connector-c.receiver` with 32 bytes of data (as `ilp-connector send`
//! sends by default), keeps `--concurrency` in flight, and prints the same
//! summary as `ilp-connector send --json`.
//!
//! `raw-client` is the leanest client: no runtime and no WebSocket library,
//! one blocking socket, frames written by hand. Each packet is a copy of a
//! frame masked once (its request id patched in masked form), so a packet
//! costs a copy and its share of one `write` and one `read`; the clock is
//! read once per write and once per read, not per packet. With `--username`
//! and `--secret` it authenticates first (BTP auth, as `ilp-connector send`),
//! so the same client measures a connector chain (its conditions derived
//! from `--receiver-secret` and the fixed data, once) and the relay chain
//! (whose echo answers the auth frame like any other). Replies are checked
//! by framing only: a BTP Response of the Fulfill's size with the ILP type
//! of a Fulfill; anything else is decoded to count Rejects by code.
//!
//! ```text
//! relay raw-client --url ws://127.0.0.1:P --count N --concurrency C
//!     [--username sender --secret S] [--receiver-secret R]
//!     [--destination g.connector-c.receiver] [--amount 1] [--data-size 32] [--json]
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use futures_util::{FutureExt, SinkExt, StreamExt};
use ilp_connector::address::Address;
use ilp_connector::btp::{self, TYPE_MESSAGE, TYPE_RESPONSE};
use ilp_connector::link::WRITE_BATCH;
use ilp_connector::packet::{Fulfill, Prepare};
use ilp_connector::transport::ws_config;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

// The same allocator as `ilp-connector` (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> ! {
    eprintln!(
        "usage:\n  relay relay  --port P --upstream ws://host:port\n  relay echo   --port P\n  relay client --url ws://host:port --count N --concurrency C [--data-size 32] [--json]\n  relay raw-client --url ws://host:port --count N --concurrency C [--data-size 32] [--json]\n      [--username U --secret S] [--receiver-secret R] [--destination A] [--amount 1]\n  every mode: [--runtime current|multi] [--workers N]"
    );
    std::process::exit(2)
}

struct Opts {
    mode: String,
    port: u16,
    upstream: String,
    url: String,
    count: u64,
    concurrency: usize,
    data_size: usize,
    json: bool,
    /// `current` (one thread) or `multi` (work-stealing, `workers` threads).
    runtime: String,
    workers: Option<usize>,
    /// `raw-client`: BTP auth (username, secret) before the packets.
    username: Option<String>,
    secret: Option<String>,
    /// `raw-client`: derive the condition from this receiver secret.
    receiver_secret: Option<String>,
    destination: String,
    amount: u64,
}

fn parse() -> Opts {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let mut o = Opts {
        mode,
        port: 0,
        upstream: String::new(),
        url: String::new(),
        count: 1000,
        concurrency: 1,
        data_size: 32,
        json: false,
        runtime: "current".into(),
        workers: None,
        username: None,
        secret: None,
        receiver_secret: None,
        destination: "g.connector-c.receiver".into(),
        amount: 1,
    };
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => o.port = val().parse().unwrap_or_else(|_| usage()),
            "--upstream" => o.upstream = val(),
            "--url" => o.url = val(),
            "--count" => o.count = val().parse().unwrap_or_else(|_| usage()),
            "--concurrency" => o.concurrency = val().parse().unwrap_or_else(|_| usage()),
            "--data-size" => o.data_size = val().parse().unwrap_or_else(|_| usage()),
            "--json" => o.json = true,
            "--runtime" => o.runtime = val(),
            "--workers" => o.workers = Some(val().parse().unwrap_or_else(|_| usage())),
            "--username" => o.username = Some(val()),
            "--secret" => o.secret = Some(val()),
            "--receiver-secret" => o.receiver_secret = Some(val()),
            "--destination" => o.destination = val(),
            "--amount" => o.amount = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    o
}

fn main() {
    let o = parse();
    if o.mode == "raw-client" {
        std::process::exit(raw::client(&o));
    }
    // The fastest configuration measured is the current-thread runtime (no
    // cross-thread wake-ups); `--runtime multi [--workers N]` for the table.
    let mut builder = match o.runtime.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread(),
        "multi" => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = o.workers {
                b.worker_threads(n);
            }
            b
        }
        _ => usage(),
    };
    let rt = builder.enable_all().build().expect("runtime");
    rt.block_on(async move {
        match o.mode.as_str() {
            "relay" | "echo" => serve(o).await,
            "client" => client(o).await,
            _ => usage(),
        }
    })
}

/// Writes what the channel gives, up to `WRITE_BATCH` frames per flush (as
/// `src/link.rs` `write_loop`, without the pings).
async fn write_loop<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(msg) = rx.recv().await {
        if sink.feed(msg).await.is_err() {
            return;
        }
        let mut n = 1;
        while n < WRITE_BATCH {
            match rx.try_recv() {
                Ok(m) => {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// Forwards every binary frame read from `stream` to the writer `to`.
async fn pipe<S>(
    mut stream: futures_util::stream::SplitStream<WebSocketStream<S>>,
    to: mpsc::UnboundedSender<Message>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = stream.next().await {
        if msg.is_close() {
            return;
        }
        if msg.is_binary() && to.send(msg).is_err() {
            return;
        }
    }
}

fn fulfill_bytes() -> Bytes {
    Fulfill {
        fulfillment: [7; 32],
        data: Bytes::new(),
    }
    .encode()
}

async fn serve(o: Opts) {
    let listener = TcpListener::bind(("127.0.0.1", o.port))
        .await
        .expect("bind");
    let fulfill = fulfill_bytes();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let upstream = o.upstream.clone();
        let echo = o.mode == "echo";
        let fulfill = fulfill.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config())).await
            else {
                return;
            };
            let (down_sink, mut down_stream) = ws.split();
            let (down_tx, down_rx) = mpsc::unbounded_channel();
            tokio::spawn(write_loop(down_sink, down_rx));
            if echo {
                while let Some(Ok(msg)) = down_stream.next().await {
                    if let Message::Binary(frame) = msg {
                        let id = frame
                            .get(1..5)
                            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        let reply = btp::encode_ilp(TYPE_RESPONSE, id, &fulfill);
                        if down_tx.send(Message::Binary(reply)).is_err() {
                            return;
                        }
                    }
                }
                return;
            }
            let Ok((up, _)) = tokio_tungstenite::connect_async_with_config(
                upstream.as_str(),
                Some(ws_config()),
                true,
            )
            .await
            else {
                eprintln!("relay: cannot dial {upstream}");
                return;
            };
            let (up_sink, up_stream) = up.split();
            let (up_tx, up_rx) = mpsc::unbounded_channel();
            tokio::spawn(write_loop(up_sink, up_rx));
            tokio::spawn(pipe(up_stream, down_tx));
            pipe(down_stream, up_tx).await;
        });
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

async fn client(o: Opts) {
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(o.url.as_str(), Some(ws_config()), true)
            .await
            .expect("connect");
    let (mut sink, mut stream) = ws.split();
    // A real Prepare, as `ilp-connector send` builds it.
    let prepare = Prepare {
        amount: 1,
        expires_at: Utc::now() + TimeDelta::seconds(30),
        execution_condition: [9; 32],
        destination: Address::new("g.connector-c.receiver").expect("address"),
        data: Bytes::from(vec![5u8; o.data_size]),
    }
    .encode();
    let expected_reply = btp::encode_ilp(TYPE_RESPONSE, 0, &fulfill_bytes()).len();
    let total = o.count as usize;
    let window = o.concurrency.max(1);
    let mut sent_at: Vec<Instant> = Vec::with_capacity(total);
    let mut latencies: Vec<Duration> = Vec::with_capacity(total);
    let mut failed = 0u64;
    let started = Instant::now();
    let mut sent = 0usize;
    let mut done = 0usize;
    while done < total {
        while sent - done < window && sent < total {
            let frame = btp::encode_ilp(TYPE_MESSAGE, sent as u32, &prepare);
            sent_at.push(Instant::now());
            sink.feed(Message::Binary(frame)).await.expect("send");
            sent += 1;
        }
        sink.flush().await.expect("flush");
        let mut next = Some(stream.next().await);
        while let Some(msg) = next {
            match msg {
                Some(Ok(Message::Binary(reply))) => {
                    let id = reply
                        .get(1..5)
                        .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        as usize;
                    match sent_at.get(id) {
                        Some(t) if reply.len() == expected_reply => {
                            latencies.push(t.elapsed());
                        }
                        _ => failed += 1,
                    }
                    done += 1;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection error: {e}"),
                None => panic!("connection closed with {} replies missing", total - done),
            }
            // Take the replies that are already here before writing again.
            next = stream.next().now_or_never();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let fulfilled = latencies.len() as u64;
    let summary = serde_json::json!({
        "destination": "relay-chain",
        "sent": sent,
        "fulfilled": fulfilled,
        "rejected": {},
        "invalidFulfillments": 0,
        "failed": failed,
        "latencyMs": {
            "p50": percentile(&latencies, 50.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        },
        "elapsedSeconds": elapsed,
        "packetsPerSecond": fulfilled as f64 / elapsed.max(1e-9),
        "frameBytes": btp::ilp_frame_len(prepare.len()),
        "replyBytes": expected_reply,
    });
    if o.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("json"));
    } else {
        println!("{summary}");
    }
    let _ = sink.close().await;
    if failed > 0 {
        std::process::exit(1);
    }
}

/// `raw-client` (see the module doc): blocking std I/O, WebSocket framing by
/// hand (RFC 6455: client frames masked, server frames not).
mod raw {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use chrono::{TimeDelta, Utc};
    use ilp_connector::address::Address;
    use ilp_connector::btp::{self, Frame, TYPE_MESSAGE, TYPE_RESPONSE};
    use ilp_connector::condition::FulfillmentKey;
    use ilp_connector::packet::{Prepare, Reject, TYPE_FULFILL};

    use super::{Opts, fulfill_bytes, percentile};

    /// WebSocket opcodes used here.
    const OP_BINARY: u8 = 2;
    const OP_CLOSE: u8 = 8;
    const OP_PING: u8 = 9;
    const OP_PONG: u8 = 10;
    /// How often the Prepare is encoded again with a fresh expiry.
    const REFRESH: Duration = Duration::from_secs(1);
    /// Expiry of each Prepare from when its frame was built.
    const EXPIRY: TimeDelta = TimeDelta::seconds(30);
    /// Bytes read at once.
    const READ_BUF: usize = 1 << 16;

    fn fail(msg: &str) -> ! {
        eprintln!("raw-client: {msg}");
        std::process::exit(2)
    }

    /// Appends a client frame (FIN, `opcode`) carrying `payload` masked with `mask`.
    fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
        out.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }

    /// One server frame at the start of `buf`: (opcode, payload range, frame length).
    fn parse_frame(buf: &[u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
        let (b0, b1) = (*buf.first()?, *buf.get(1)?);
        if b1 & 0x80 != 0 {
            fail("the server sent a masked frame");
        }
        let (len, head) = match b1 & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
                4,
            ),
            127 => {
                let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
                (usize::try_from(u64::from_be_bytes(b)).ok()?, 10)
            }
            n => (usize::from(n), 2),
        };
        let end = head + len;
        (buf.len() >= end).then_some((b0 & 0x0f, head..end, end))
    }

    /// The Prepare's frame for request id 0, masked with `mask`, and the
    /// offset of the request id in it.
    fn prepare_frame(
        o: &Opts,
        condition: [u8; 32],
        data: &Bytes,
        mask: [u8; 4],
    ) -> (Vec<u8>, usize) {
        let prepare = Prepare {
            amount: o.amount,
            expires_at: Utc::now() + EXPIRY,
            execution_condition: condition,
            destination: Address::new(&o.destination)
                .unwrap_or_else(|e| fail(&format!("--destination: {e}"))),
            data: data.clone(),
        }
        .encode();
        let payload = btp::encode_ilp(TYPE_MESSAGE, 0, &prepare);
        let mut frame = Vec::with_capacity(payload.len() + 14);
        push_frame(&mut frame, OP_BINARY, &payload, mask);
        // The request id is payload bytes 1..5, the payload the last bytes.
        let id_at = frame.len() - payload.len() + 1;
        (frame, id_at)
    }

    /// Writes `id` into a copy of `template` whose request id starts at `at`
    /// of a payload starting at `at - 1`: masked as the payload is.
    fn patch_id(out: &mut Vec<u8>, template: &[u8], at: usize, id: u32, mask: [u8; 4]) {
        let start = out.len();
        out.extend_from_slice(template);
        for (i, b) in id.to_be_bytes().into_iter().enumerate() {
            out[start + at + i] = b ^ mask[(i + 1) % 4];
        }
    }

    fn handshake(o: &Opts) -> TcpStream {
        let rest = o
            .url
            .strip_prefix("ws://")
            .unwrap_or_else(|| fail("--url must be ws://host:port[/path]"));
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut s = TcpStream::connect(hostport)
            .unwrap_or_else(|e| fail(&format!("connect {hostport}: {e}")));
        let _ = s.set_nodelay(true);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| fail(&format!("handshake: {e}")));
        // Read the answer byte by byte up to its blank line, so no frame
        // after it is consumed here.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => fail("the server closed during the handshake"),
            }
            if head.len() > 8192 {
                fail("handshake answer too long");
            }
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            fail(&format!(
                "handshake refused: {}",
                String::from_utf8_lossy(&head)
            ));
        }
        s
    }

    /// Reads until one binary frame arrives; returns its payload.
    fn next_binary(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<u8> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((op, range, len)) = parse_frame(buf) {
                let payload = buf[range].to_vec();
                buf.drain(..len);
                match op {
                    OP_BINARY => return payload,
                    OP_CLOSE => fail("the server closed the connection"),
                    _ => continue,
                }
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => fail("the server closed the connection"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Runs the client; returns the exit code.
    pub fn client(o: &Opts) -> i32 {
        let mask: [u8; 4] = rand::random();
        let mut s = handshake(o);
        let mut pending = Vec::new();
        if let (Some(user), Some(secret)) = (&o.username, &o.secret) {
            let mut out = Vec::new();
            push_frame(
                &mut out,
                OP_BINARY,
                &Frame::auth(0, user, secret).encode(),
                mask,
            );
            s.write_all(&out)
                .unwrap_or_else(|e| fail(&format!("auth: {e}")));
            let reply = next_binary(&mut s, &mut pending);
            if reply.first() != Some(&TYPE_RESPONSE) {
                fail("auth refused");
            }
        }
        let data = Bytes::from(vec![5u8; o.data_size]);
        let condition = o.receiver_secret.as_ref().map_or([9; 32], |r| {
            FulfillmentKey::from_secret(r.as_bytes()).condition(&data)
        });
        let reply_template = btp::encode_ilp(TYPE_RESPONSE, 0, &fulfill_bytes());
        let expected_reply = reply_template.len();
        let ilp_type_at = expected_reply - fulfill_bytes().len();

        let total = usize::try_from(o.count).unwrap_or(usize::MAX);
        let window = o.concurrency.max(1);
        let started = Instant::now();
        let since =
            |t: Instant| u32::try_from(t.duration_since(started).as_micros()).unwrap_or(u32::MAX);
        let (mut template, id_at) = prepare_frame(o, condition, &data, mask);
        let mut built = started;
        // Microseconds since `started` when each packet was written; latencies in microseconds.
        let mut sent_us: Vec<u32> = Vec::with_capacity(total);
        let mut answered = vec![false; total];
        let mut latencies: Vec<u32> = Vec::with_capacity(total);
        let mut rejected: std::collections::BTreeMap<String, u64> = Default::default();
        let mut failed = 0u64;
        let mut out: Vec<u8> = Vec::with_capacity(window * (template.len() + 8));
        let mut inbuf = vec![0u8; READ_BUF];
        // Bytes of `pending` (left over from the auth) go first.
        let mut filled = pending.len();
        inbuf[..filled].copy_from_slice(&pending);
        let (mut sent, mut done) = (0usize, 0usize);
        while done < total {
            let now = Instant::now();
            if now.duration_since(built) >= REFRESH {
                template = prepare_frame(o, condition, &data, mask).0;
                built = now;
            }
            let t = since(now);
            while sent - done < window && sent < total {
                // Request ids 1..: 0 was the auth.
                patch_id(&mut out, &template, id_at, sent as u32 + 1, mask);
                sent_us.push(t);
                sent += 1;
            }
            if !out.is_empty() {
                s.write_all(&out)
                    .unwrap_or_else(|e| fail(&format!("write: {e}")));
                out.clear();
            }
            let n = match s.read(&mut inbuf[filled..]) {
                Ok(0) => fail(&format!(
                    "the server closed with {} replies missing",
                    total - done
                )),
                Ok(n) => n,
                Err(e) => fail(&format!("read: {e}")),
            };
            filled += n;
            let t = since(Instant::now());
            let mut at = 0;
            while let Some((op, range, len)) = parse_frame(&inbuf[at..filled]) {
                let payload = &inbuf[at + range.start..at + range.end];
                match op {
                    OP_BINARY => {
                        let id = payload
                            .get(1..5)
                            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
                        let slot = id.checked_sub(1).filter(|&i| i < sent && !answered[i]);
                        match slot {
                            None => failed += 1,
                            Some(i) => {
                                answered[i] = true;
                                done += 1;
                                if payload.len() == expected_reply
                                    && payload[0] == TYPE_RESPONSE
                                    && payload[ilp_type_at] == TYPE_FULFILL
                                {
                                    latencies.push(t.saturating_sub(sent_us[i]));
                                } else {
                                    let code = btp::decode_ilp(&Bytes::copy_from_slice(payload))
                                        .and_then(|(_, _, ilp)| Reject::decode(ilp).ok())
                                        .map(|r| r.code.to_string());
                                    match code {
                                        Some(c) => *rejected.entry(c).or_default() += 1,
                                        None => failed += 1,
                                    }
                                }
                            }
                        }
                    }
                    OP_PING => push_frame(&mut out, OP_PONG, payload, mask),
                    OP_CLOSE => fail(&format!(
                        "the server closed with {} replies missing",
                        total - done
                    )),
                    _ => {}
                }
                at += len;
            }
            inbuf.copy_within(at..filled, 0);
            filled -= at;
            if filled == inbuf.len() {
                // One frame larger than the buffer: grow it.
                inbuf.resize(inbuf.len() * 2, 0);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let as_durations: Vec<Duration> = latencies
            .iter()
            .map(|&us| Duration::from_micros(u64::from(us)))
            .collect();
        let fulfilled = latencies.len() as u64;
        let summary = serde_json::json!({
            "destination": o.destination,
            "sent": sent,
            "fulfilled": fulfilled,
            "rejected": rejected,
            "invalidFulfillments": 0,
            "failed": failed,
            "latencyMs": {
                "p50": percentile(&as_durations, 50.0),
                "p99": percentile(&as_durations, 99.0),
                "max": as_durations.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            },
            "elapsedSeconds": elapsed,
            "packetsPerSecond": fulfilled as f64 / elapsed.max(1e-9),
            "frameBytes": template.len(),
            "replyBytes": expected_reply,
            "client": "raw",
        });
        let text = if o.json {
            serde_json::to_string_pretty(&summary)
        } else {
            serde_json::to_string(&summary)
        };
        println!("{}", text.expect("json"));
        let mut close = Vec::new();
        push_frame(&mut close, OP_CLOSE, &1000u16.to_be_bytes(), mask);
        let _ = s.write_all(&close);
        i32::from(fulfilled != o.count)
    }
}
