//! `ilp-connector books` against small HTTP servers on 127.0.0.1:0 that
//! serve canned `/health` bodies: the whole command (flags, reads, matching,
//! output, exit codes) run as the binary, and the wait for quiet through the
//! library.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ilp_connector::books::{self, BooksConfig};
use ilp_connector::dashboard::NodeTarget;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Most bytes of a request the canned server reads.
const MAX_REQUEST: usize = 16 * 1024;

/// A server answering every request with `(status, bodies[n])`, `n` the
/// request's number (the last body once they run out); counts requests.
struct Canned {
    addr: String,
    requests: Arc<AtomicUsize>,
}

async fn canned(status: u16, bodies: Vec<String>) -> Canned {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let body = bodies[n.min(bodies.len() - 1)].clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                assert!(request.starts_with(b"GET /health "), "asked for /health");
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    Canned { addr, requests }
}

/// A balance object; `pending_out` and `settling` make it not quiet.
fn balance(committed: &str, pending_out: &str, settling: Value) -> Value {
    json!({
        "committed": committed, "pendingIncoming": "0", "pendingOutgoing": pending_out,
        "settling": settling, "settledOut": "3400", "settledIn": "3400",
        "settlement": "idle",
        "settlements": {"sent": 3, "accepted": 2, "refused": 1, "received": 2},
        "limits": {"minimum": null, "maximum": "1000000", "settleThreshold": "-100000", "settleTo": "0"}
    })
}

fn quiet(committed: &str) -> Value {
    balance(committed, "0", Value::Null)
}

/// `/health` of `id` with `links` (peer id, relation, balance).
fn health(id: &str, links: &[(&str, &str, Value)]) -> String {
    let links: Vec<Value> = links
        .iter()
        .map(|(peer, relation, b)| {
            json!({"id": peer, "relation": relation, "direction": "outbound", "connected": true,
                   "since": "2026-01-01T00:00:00.000Z", "pendingRequests": 0, "fault": null,
                   "balance": b})
        })
        .collect();
    json!({"status": "healthy", "nodeId": id, "ilpAddress": format!("g.{id}"),
           "btpServerPort": 3000, "uptimeSeconds": 2.0, "version": "0.1.0", "books": "memory",
           "links": links})
    .to_string()
}

async fn serve(body: String) -> Canned {
    canned(200, vec![body]).await
}

/// The line network a - b - c, each with a child `sender`, whose a - b
/// ends sum to `ab_sum`.
async fn line(ab_sum: i128) -> [Canned; 3] {
    let b_for_a = (1200 + ab_sum).to_string();
    [
        serve(health(
            "a",
            &[
                ("b", "peer", quiet("-1200")),
                ("sender", "child", quiet("25")),
            ],
        ))
        .await,
        serve(health(
            "b",
            &[("a", "peer", quiet(&b_for_a)), ("c", "peer", quiet("-40"))],
        ))
        .await,
        serve(health("c", &[("b", "peer", quiet("40"))])).await,
    ]
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn books_cmd(args: &[String], env: &[(&str, String)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ilp-connector"));
    cmd.arg("books").args(args);
    for var in [
        "BOOKS_NODES",
        "BOOKS_WAIT_QUIET",
        "BOOKS_ALLOW_MISSING",
        "BOOKS_TIMEOUT_MS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run ilp-connector books");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `--node name=addr` for each node.
fn node_args(nodes: &[(&str, &str)]) -> Vec<String> {
    nodes
        .iter()
        .flat_map(|(name, addr)| ["--node".to_string(), format!("{name}={addr}")])
        .collect()
}

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn balanced_books_exit_zero_with_the_table_and_the_json() {
    let [a, b, c] = line(0).await;
    let args = node_args(&[("a", &a.addr), ("b", &b.addr), ("c", &c.addr)]);
    let run = books_cmd(&args, &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let header = run.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("LINK") && header.contains("SUM"),
        "{header}"
    );
    let row = |name: &str| {
        let line = run.stdout.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("a - b")[3..6], ["-1200", "1200", "0"]);
    assert_eq!(row("b - c")[3..6], ["-40", "40", "0"]);
    assert!(
        run.stdout.contains("a - sender (child): committed 25"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Books balance: 2 link(s)"),
        "{}",
        run.stdout
    );

    // The same through BOOKS_NODES (the dashboard's comma list, http:// form).
    let list = format!(
        "a=http://{},b=http://{},c=http://{}",
        a.addr, b.addr, c.addr
    );
    let run = books_cmd(&["--json".into()], &[("BOOKS_NODES", list)]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let j: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(j["ok"], true);
    assert_eq!(j["links"][0]["link"], "a - b");
    assert_eq!(j["links"][0]["bForA"]["committed"], "1200");
    assert_eq!(j["links"][1]["sum"], "0");
    assert_eq!(j["outside"][0]["peer"], "sender");
    assert_eq!(j["outside"][0]["relation"], "child");
}

#[tokio::test]
async fn a_link_off_zero_exits_one_and_says_by_how_much() {
    let [a, b, c] = line(-7).await;
    let args = node_args(&[("a", &a.addr), ("b", &b.addr), ("c", &c.addr)]);
    let run = books_cmd(&args, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("a - b: sums to -7, not 0 (a for b: -1200, b for a: 1193)"),
        "{}",
        run.stdout
    );
    let run = books_cmd(&with(args, &["--json"]), &[]).await;
    assert_eq!(run.code, Some(1));
    let j: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(j["unbalanced"], json!(["a - b"]));
    assert_eq!(j["links"][0]["sum"], "-7");
}

#[tokio::test]
async fn a_node_that_does_not_answer_fails_unless_allowed() {
    let a = serve(health(
        "a",
        &[("b", "peer", quiet("0")), ("c", "peer", quiet("9"))],
    ))
    .await;
    let b = serve(health("b", &[("a", "peer", quiet("0"))])).await;
    // A port nothing listens on any more: refused at once.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap().to_string();
    drop(gone);
    let args = node_args(&[("a", &a.addr), ("b", &b.addr), ("c", &gone_addr)]);

    let run = books_cmd(&args, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("node c ({gone_addr}) did not answer")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let run = books_cmd(&with(args, &["--allow-missing"]), &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("a - c: c did not answer;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Nodes that did not answer (allowed):"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Books balance: 1 link(s)"),
        "{}",
        run.stdout
    );
}

/// A server that accepts and never answers.
async fn silent() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    addr
}

#[tokio::test]
async fn a_node_silent_past_the_timeout_is_named_with_the_timeout() {
    let a = serve(health("a", &[("b", "peer", quiet("0"))])).await;
    let b = silent().await;
    let args = with(
        node_args(&[("a", &a.addr), ("b", &b)]),
        &["--timeout-ms", "100"],
    );
    let run = books_cmd(&args, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "node b ({b}) did not answer within 100ms (BOOKS_TIMEOUT_MS)"
        )),
        "{}",
        run.stderr
    );
    let run = books_cmd(&args, &[("BOOKS_ALLOW_MISSING", "true".into())]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("b: no answer within 100ms"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn malformed_or_missing_balances_and_odd_answers_are_errors_naming_the_node() {
    let mut bad = quiet("0");
    bad["committed"] = json!(-1200.0);
    let a = serve(health("a", &[("b", "peer", bad)])).await;
    let b = serve(health("b", &[("a", "peer", Value::Null)])).await;
    let args = node_args(&[("node-a", &a.addr), ("node-b", &b.addr)]);
    let run = books_cmd(&args, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    // Every node's error, not only the first.
    assert!(
        run.stderr
            .contains("node node-a, link b: `balance.committed`: not a decimal string"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("node node-b, link a: no `balance` object"),
        "{}",
        run.stderr
    );

    // 503 is an unhealthy node's report (still read); 404 is no report.
    let unhealthy = canned(503, vec![health("a", &[("b", "peer", quiet("3"))])]).await;
    let b = serve(health("b", &[("a", "peer", quiet("-3"))])).await;
    let run = books_cmd(&node_args(&[("a", &unhealthy.addr), ("b", &b.addr)]), &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let not_found = canned(404, vec!["{}".into()]).await;
    let run = books_cmd(&node_args(&[("a", &not_found.addr)]), &[]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("answered HTTP 404"), "{}", run.stderr);
}

#[tokio::test]
async fn usage_errors_exit_two_and_name_the_option() {
    let run = books_cmd(&[], &[]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let run = books_cmd(&[], &[("BOOKS_NODES", "a=ws://127.0.0.1:1".into())]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("BOOKS_NODES"), "{}", run.stderr);
    let run = books_cmd(
        &node_args(&[("a", "127.0.0.1:1"), ("a", "127.0.0.1:2")]),
        &[],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("listed twice"), "{}", run.stderr);
    let run = books_cmd(
        &with(
            node_args(&[("a", "127.0.0.1:1")]),
            &["--wait-quiet", "99999"],
        ),
        &[],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let run = books_cmd(&["--help".into()], &[]).await;
    assert_eq!(run.code, Some(0));
    for needle in [
        "--node",
        "--wait-quiet",
        "--allow-missing",
        "--json",
        "Exit status",
    ] {
        assert!(run.stdout.contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test]
async fn wait_quiet_reads_again_until_nothing_is_pending() {
    // a's first two answers have 5 pending and a settlement in flight.
    let a = canned(
        200,
        vec![
            health("a", &[("b", "peer", balance("-1195", "5", json!("100")))]),
            health("a", &[("b", "peer", balance("-1195", "5", Value::Null))]),
            health("a", &[("b", "peer", quiet("-1200"))]),
        ],
    )
    .await;
    let b = serve(health("b", &[("a", "peer", quiet("1200"))])).await;
    let args = node_args(&[("a", &a.addr), ("b", &b.addr)]);
    let run = books_cmd(&with(args, &["--wait-quiet", "30"]), &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert_eq!(a.requests.load(Ordering::SeqCst), 3);
    assert!(!run.stdout.contains("Not quiet"), "{}", run.stdout);
}

#[tokio::test]
async fn a_wait_for_quiet_that_runs_out_judges_the_last_read_and_fails() {
    let a = serve(health(
        "a",
        &[("b", "peer", balance("-1195", "5", Value::Null))],
    ))
    .await;
    let b = serve(health("b", &[("a", "peer", quiet("1200"))])).await;
    let wait = Duration::from_millis(300);
    let config = BooksConfig {
        nodes: [("a", &a.addr), ("b", &b.addr)]
            .into_iter()
            .map(|(name, addr)| NodeTarget {
                name: name.into(),
                health: addr.clone(),
                btp_url: None,
            })
            .collect(),
        timeout: Duration::from_secs(2),
        wait_quiet: Some(wait),
        allow_missing: false,
    };
    let outcome = books::check(&config).await.unwrap();
    assert_eq!(outcome.quiet_timed_out, Some(wait));
    assert!(a.requests.load(Ordering::SeqCst) >= 2, "read again");
    assert_eq!(outcome.books.not_quiet(), ["a - b"]);
    assert_eq!(outcome.exit_code(), books::EXIT_NOT_BALANCED);
    let text = outcome.render_text();
    assert!(text.contains("NOT QUIET after 300ms: a - b"), "{text}");
    assert!(text.contains("a - b: sums to 5, not 0"), "{text}");
}
