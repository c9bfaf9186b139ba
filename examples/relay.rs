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
        "usage:\n  relay relay  --port P --upstream ws://host:port\n  relay echo   --port P\n  relay client --url ws://host:port --count N --concurrency C [--data-size 32] [--json]\n  every mode: [--runtime current|multi] [--workers N]"
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
            _ => usage(),
        }
    }
    o
}

fn main() {
    let o = parse();
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
