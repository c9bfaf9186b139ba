//! The logs stay bounded whatever peers send, and a log sink that stops
//! draining never stalls forwarding; every node a real process of the built
//! binary on loopback. Lines starting `FIGURE` are quoted in RELIABILITY.md.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::procs::{BIN, Cluster, NodeProc, Scratch, free_port};
use common::*;
use futures_util::{SinkExt, StreamExt};
use ilp_connector::btp::{self, Frame, ProtocolData};
use ilp_connector::logging::{MAX_LOG_LINE_LEN, MAX_LOGGED_PEER_STRING_LEN};
use ilp_connector::send::{self, SendSettings};
use rand::RngExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const ATTEMPTS: usize = 1_000;
/// Sockets making hostile attempts at once.
const HOSTILE_CONCURRENCY: usize = 16;
const WITHIN: Duration = Duration::from_secs(30);

/// One of three hostile usernames: long random text with control and
/// direction-changing characters, binary (not UTF-8, so not even auth), or
/// short random text.
fn text(rng: &mut impl RngExt, lens: std::ops::Range<usize>) -> String {
    let len = rng.random_range(lens);
    (0..len)
        .map(|_| match rng.random_range(0..6) {
            0 => char::from(rng.random_range(0u8..0x20)),
            1 => '\u{202e}',
            2 => '\u{1b}',
            3 => rng.random_range('\u{a0}'..'\u{2000}'),
            _ => char::from(rng.random_range(b'a'..=b'z')),
        })
        .collect()
}

fn hostile_auth(rng: &mut impl RngExt, i: usize) -> Frame {
    let username = match i % 3 {
        0 => ProtocolData::text(btp::PROTOCOL_AUTH_USERNAME, &text(rng, 1_000..16_000)),
        1 => {
            let bytes: Vec<u8> = (0..rng.random_range(100..8_000))
                .map(|_| rng.random())
                .chain([0xff, 0xfe])
                .collect();
            ProtocolData::octets(btp::PROTOCOL_AUTH_USERNAME, Bytes::from(bytes))
        }
        _ => ProtocolData::text(btp::PROTOCOL_AUTH_USERNAME, &text(rng, 1..64)),
    };
    Frame::Message {
        request_id: 1,
        protocol_data: vec![
            ProtocolData::octets(btp::PROTOCOL_AUTH, Bytes::new()),
            username,
            ProtocolData::text(btp::PROTOCOL_AUTH_TOKEN, "guess"),
        ],
    }
}

/// One hostile attempt: connect, send the auth, wait for the node's answer
/// or close.
async fn attempt(url: &str, frame: Frame) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the WebSocket handshake succeeds");
    ws.send(Message::Binary(frame.encode())).await.unwrap();
    let answered = tokio::time::timeout(WITHIN, async {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Binary(_) | Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "the node neither answered nor closed");
}

fn node(dir: &Path, id: &str, level: &str) -> NodeProc {
    let mut n = NodeProc::new(dir, id, &[("LOG_LEVEL", level.into())]);
    n.set("RECEIVER_SECRET", RECEIVER_SECRET);
    n.set("BTP_PEER_SENDER_SECRET", SENDER_SECRET);
    n.set("BTP_PEER_SENDER_RELATION", "child");
    n
}

fn log_len(n: &NodeProc) -> usize {
    std::fs::metadata(&n.log).map_or(0, |m| m.len() as usize)
}

/// 1,000 hostile auth attempts (random long, binary and control-character
/// usernames) against a node logging at `info` and one at `debug`: at info
/// the repeat filter keeps it to a few lines; at debug every attempt is a
/// line, but no line is longer than the bound and no username is quoted
/// past its bound or with a control character. Authenticated packets are
/// fulfilled meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hostile_auth_attempts_keep_the_log_bounded() {
    let dir = Scratch::new("log-hostile");
    let mut net = Cluster::start(|| {
        vec![
            node(&dir.0, "quiet", "info"),
            node(&dir.0, "chatty", "debug"),
        ]
    })
    .await;
    let mut figures = Vec::new();
    for id in ["quiet", "chatty"] {
        let n = net.node(id);
        let url = n.url();
        let before = log_len(n);
        let started = Instant::now();
        let frames: Vec<Frame> = {
            let mut rng = rand::rng();
            (0..ATTEMPTS).map(|i| hostile_auth(&mut rng, i)).collect()
        };
        let queue = Arc::new(Mutex::new(frames));
        let mut workers = Vec::new();
        for _ in 0..HOSTILE_CONCURRENCY {
            let (queue, url) = (queue.clone(), url.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let Some(frame) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    attempt(&url, frame).await;
                }
            }));
        }
        // Authenticated traffic meanwhile.
        let mut args = SendSettings::new(&url, SENDER, SENDER_SECRET, &format!("g.{id}.receiver"));
        args.receiver_secret = Some(RECEIVER_SECRET.into());
        args.count = 200;
        args.concurrency = 4;
        let summary = send::run(&args).await.expect("the sender connects");
        for w in workers {
            w.await.unwrap();
        }
        let took = started.elapsed();
        assert_eq!(
            summary.fulfilled, 200,
            "authenticated packets during the attempts: {summary:?}"
        );
        // The node's own log lines for the attempts are written by now: its
        // health answers after them, and the log is flushed as it goes.
        let deadline = Instant::now() + WITHIN;
        let wanted = if id == "quiet" { 1 } else { ATTEMPTS };
        let text = loop {
            let text = n.log_text();
            let seen = text[before.min(text.len())..]
                .matches("btp_auth_failed")
                .count();
            if seen >= wanted || Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let new = &text[before.min(text.len())..];
        let (mut lines, mut longest, mut auth_lines) = (0, 0, 0);
        for line in new.lines() {
            lines += 1;
            longest = longest.max(line.len() + 1);
            assert!(
                line.len() < MAX_LOG_LINE_LEN,
                "{id}: a line of {} bytes",
                line.len()
            );
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {line}"));
            if v["event"] == "btp_auth_failed" {
                auth_lines += 1;
                if let Some(user) = v["peerId"].as_str() {
                    assert!(
                        user.len() <= MAX_LOGGED_PEER_STRING_LEN,
                        "{id}: username of {} bytes quoted",
                        user.len()
                    );
                    assert!(
                        !user.chars().any(|c| c.is_control() || c == '\u{202e}'),
                        "{id}: raw control character in {user:?}"
                    );
                }
            }
        }
        let bytes = new.len();
        let per_thousand = bytes * 1_000 / ATTEMPTS;
        if id == "quiet" {
            // The repeat filter: one warning for all unknown usernames, one
            // for the source address (binary usernames are not auth at all).
            assert!(
                auth_lines <= 4,
                "quiet: {auth_lines} auth-failure lines for {ATTEMPTS} attempts:\n{new}"
            );
            assert!(
                per_thousand <= 8 * 1024,
                "quiet: {per_thousand} log bytes per 1,000 attempts"
            );
        } else {
            assert!(
                auth_lines >= ATTEMPTS,
                "chatty: only {auth_lines} auth-failure lines"
            );
            assert!(
                per_thousand <= 1_000 * 1024,
                "chatty: {per_thousand} log bytes per 1,000 attempts"
            );
        }
        figures.push(format!(
            "{id} (LOG_LEVEL={}): {bytes} log bytes in {lines} lines per {ATTEMPTS} attempts ({auth_lines} auth-failure lines, longest line {longest} B) in {took:.1?}; 200/200 fulfilled meanwhile",
            if id == "quiet" { "info" } else { "debug" }
        ));
    }
    println!("FIGURE log-hostile: {}", figures.join("; "));
}

/// A node whose stdout is a pipe, read only when `drain` is called.
struct PipedNode {
    child: Child,
    btp_port: u16,
    health_port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PipedNode {
    fn spawn(id: &str, dir: &Path) -> PipedNode {
        let (btp_port, health_port) = (free_port(), free_port());
        let stderr = std::fs::File::create(dir.join(format!("{id}.stderr"))).unwrap();
        let child = Command::new(BIN)
            .env_clear()
            .env("NODE_ID", id)
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("BTP_SERVER_PORT", btp_port.to_string())
            .env("HEALTH_PORT", health_port.to_string())
            .env("LOG_FORMAT", "json")
            // Every packet answered is a debug line.
            .env("LOG_LEVEL", "debug")
            .env("RECEIVER_SECRET", RECEIVER_SECRET)
            .env("BTP_PEER_SENDER_SECRET", SENDER_SECRET)
            .env("BTP_PEER_SENDER_RELATION", "child")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn the node binary");
        PipedNode {
            child,
            btp_port,
            health_port,
            lines: Arc::default(),
        }
    }

    fn health_addr(&self) -> String {
        format!("127.0.0.1:{}", self.health_port)
    }

    async fn metric(&self, name: &str) -> Option<u64> {
        let (_, body) = ilp_connector::http::client::probe_path(&self.health_addr(), "/metrics")
            .await
            .ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    }

    /// Starts reading stdout, from now on, into `lines`.
    fn drain(&mut self) {
        let out = self.child.stdout.take().expect("stdout not yet drained");
        let lines = self.lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                lines.lock().unwrap().push(line);
            }
        });
    }

    fn find(&self, event: &str) -> Option<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == event)
    }
}

impl Drop for PipedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stdout is a pipe nobody reads: once it and the node's log queue are full,
/// lines are dropped, and packets are still all fulfilled. When the pipe is
/// read again the node logs how many lines it dropped; SIGTERM still exits 0
/// with the last lines written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_sink_that_stops_draining_does_not_stall_forwarding() {
    let dir = Scratch::new("log-stall");
    let mut node = PipedNode::spawn("stall", &dir.0);
    let deadline = Instant::now() + WITHIN;
    while ilp_connector::http::client::probe(&node.health_addr())
        .await
        .is_err()
    {
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!(
                "the node exited with {status}: {}",
                std::fs::read_to_string(dir.path("stall.stderr")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the node did not serve health");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("ws://127.0.0.1:{}", node.btp_port);
    let link = send::connect_client(&url, SENDER, SENDER_SECRET)
        .await
        .expect("the sender connects");
    let mut args = SendSettings::new(&url, SENDER, SENDER_SECRET, "g.stall.receiver");
    args.receiver_secret = Some(RECEIVER_SECRET.into());
    args.count = 10_000;
    args.concurrency = 32;
    // Batches until lines are being dropped (the pipe and the queue are full).
    let started = Instant::now();
    let (mut sent, mut dropped) = (0u64, 0u64);
    while dropped == 0 || sent < 20_000 {
        assert!(sent < 400_000, "no log line dropped after {sent} packets");
        let summary = send::run_on(link.clone(), &args).await.expect("send runs");
        assert_eq!(
            summary.fulfilled, args.count,
            "with stdout not drained: {summary:?}"
        );
        sent += args.count;
        dropped = node
            .metric("ilp_log_lines_dropped_total")
            .await
            .expect("metrics answer");
    }
    let stalled_for = started.elapsed();
    let pps = sent as f64 / stalled_for.as_secs_f64();
    // Drain: the report comes once the queue is empty.
    let drain_started = Instant::now();
    node.drain();
    let deadline = Instant::now() + WITHIN;
    let report = loop {
        if let Some(v) = node.find("log_lines_dropped") {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no log_lines_dropped line after draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovered_in = drain_started.elapsed();
    let reported = report["dropped"].as_u64().expect("a dropped count");
    assert!(
        reported > 0 && reported <= dropped.max(reported),
        "{report}"
    );
    assert!(report["total"].as_u64().unwrap() >= reported, "{report}");
    // Forwarding goes on after the sink is back.
    args.count = 1_000;
    let summary = send::run_on(link.clone(), &args).await.expect("send runs");
    assert_eq!(summary.fulfilled, 1_000, "after draining: {summary:?}");
    link.close();
    // SIGTERM: exit 0, and the last line was written (the guard flushed).
    let status = Command::new("kill")
        .args(["-s", "TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + WITHIN;
    let exit = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit}");
    let deadline = Instant::now() + WITHIN;
    while node.find("connector_stopped").is_none() {
        assert!(
            Instant::now() < deadline,
            "connector_stopped was not written before exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "FIGURE log-stall: {sent} packets all fulfilled in {stalled_for:.1?} ({pps:.0}/s) with stdout not read; {dropped} lines dropped (ilp_log_lines_dropped_total), reported ({reported} dropped) {recovered_in:.1?} after reading resumed; 1000/1000 fulfilled after; SIGTERM exit 0 with connector_stopped written"
    );
}
