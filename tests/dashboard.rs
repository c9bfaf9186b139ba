//! The dashboard against nodes in one process on loopback: its state and API
//! over a real mesh, and the optional node endpoints (metrics, admin) through a
//! stand-in node that serves them as docs/DASHBOARD.md says.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use ilp_connector::config::Secret;
use ilp_connector::dashboard::{self, DashboardConfig, client};
use serde_json::{Value, json};

async fn api(addr: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let a = client::request(
        addr,
        method,
        path,
        None,
        body.map(|b| Bytes::from(b.to_string())),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{path}: {}", a.text());
    serde_json::from_slice(&a.body).unwrap()
}

/// Polls /api/state until `cond` holds; returns that state.
async fn wait_state(addr: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let s = api(addr, Method::GET, "/api/state", None).await;
            if cond(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("dashboard state: {what} not within 10 s"))
}

fn edge_states(s: &Value) -> Vec<(String, String)> {
    s["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_mesh_shows_up_sends_from_the_page_and_a_stopped_node_goes_down() {
    let mut net = Net::start(Spec::mesh(3)).await;
    let mut config = DashboardConfig::new(
        net.nodes
            .iter()
            .map(|(id, n)| (id.clone(), n.health_addr().to_string())),
    );
    config.sender_secret = Some(Secret::new(SENDER_SECRET));
    config.receiver_secret = Some(Secret::new(RECEIVER_SECRET));
    config.admin_token = Some(Secret::new("admin-token"));
    config.poll_interval = Duration::from_millis(100);
    let d = dashboard::start(config, loopback().await).unwrap();
    let addr = d.addr().to_string();

    let s = wait_state(&addr, "3 nodes with /metrics, 3 links up", |s| {
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["state"] == "up" && n["metrics"]["available"] == true)
            && edge_states(s).len() == 3
            && edge_states(s).iter().all(|(_, st)| st == "up")
    })
    .await;
    assert_eq!(
        edge_states(&s).into_iter().map(|e| e.0).collect::<Vec<_>>(),
        ["node-a|node-b", "node-a|node-c", "node-b|node-c"]
    );
    let a = &s["nodes"][0];
    assert_eq!(a["ilpAddress"], "g.node-a");
    assert_eq!(a["btpUrl"], net.url("node-a"));
    assert_eq!(a["metrics"]["available"], true, "the nodes serve /metrics");
    assert_eq!(a["admin"]["available"], false);
    assert!(
        a["admin"]["note"]
            .as_str()
            .unwrap()
            .contains("no admin API")
    );
    assert_eq!(s["send"]["available"], true);
    // The container health check (`ilp-connector health --addr`) reads this.
    let (status, body) = ilp_connector::http::client::probe(&addr).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&h["status"], &h["nodes"], &h["nodesUp"]),
        (&json!("serving"), &json!(3), &json!(3)),
        "{h}"
    );

    let r = api(
        &addr,
        Method::POST,
        "/api/send",
        Some(json!({"from": "node-a", "to": "node-c", "count": 7})),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["summary"]["fulfilled"], 7, "{r}");
    let s = api(&addr, Method::GET, "/api/state", None).await;
    assert_eq!(s["sends"][0]["summary"]["fulfilled"], 7);
    assert_eq!(s["sends"][0]["to"], "node-c");

    // An admin action on a node without the admin API: relayed, refused.
    let r = api(
        &addr,
        Method::POST,
        "/api/admin/node-a/links/node-b/down",
        Some(json!({})),
    )
    .await;
    // Today's node answers 405 to a POST on its health port (404 to GETs).
    assert_eq!(r["ok"], false, "{r}");
    assert!(matches!(r["status"].as_u64(), Some(404 | 405)), "{r}");

    // A malformed send is a 400 naming the problem.
    let bad = client::request(
        &addr,
        Method::POST,
        "/api/send",
        None,
        Some(Bytes::from(r#"{"from":"node-a","to":"node-c","count":0}"#)),
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("count must be"), "{}", bad.text());

    net.stop("node-c").await;
    let s = wait_state(&addr, "node-c and its links down", |s| {
        s["nodes"][2]["state"] == "down"
            && edge_states(s)
                .iter()
                .all(|(id, st)| (st == "down") == id.contains("node-c"))
    })
    .await;
    assert!(s["edges"][1]["reason"].as_str().unwrap().contains("node-c"));
    // A node down does not make the page unhealthy.
    let (status, body) = ilp_connector::http::client::probe(&addr).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&h["nodes"], &h["nodesAnswering"]),
        (&json!(3), &json!(2)),
        "{h}"
    );
    let r = api(
        &addr,
        Method::POST,
        "/api/send",
        Some(json!({"from": "node-a", "to": "node-c", "count": 1})),
    )
    .await;
    assert_eq!(r["summary"]["rejected"]["T01"], 1, "{r}");

    // (Coming back is checked by the browser tier: an in-process restart
    // gets a new health port.)
    d.shutdown().await;
    net.shutdown().await;
}

/// A stand-in node with every optional endpoint: its packet counter grows by
/// 50 at each scrape, one link is slowed, admin calls are recorded with
/// their bodies; its link has books (as docs/DASHBOARD.md says), and a
/// settle call pays 1200 (its paid total and accepted count grow).
#[derive(Default)]
struct FakeNode {
    scrapes: AtomicU64,
    settled: AtomicU64,
    admin_calls: Mutex<Vec<(String, String, Option<String>)>>,
}

impl FakeNode {
    /// The link's books: owing 1200 until settled, then even.
    fn balance(&self) -> Value {
        let settled = self.settled.load(Ordering::SeqCst);
        json!({"committed": if settled > 0 { "0" } else { "-1200" },
            "pendingIncoming": "0", "pendingOutgoing": "5", "settling": null,
            "settledOut": (1200 * settled).to_string(), "settledIn": "0",
            "settlement": "settlement refused by peer",
            "settlements": {"sent": settled + 1, "accepted": settled, "refused": 1, "received": 0},
            "limits": {"minimum": null, "maximum": "1000000",
                       "settleThreshold": "-100000", "settleTo": "0"}})
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        auth: Option<String>,
        body: String,
    ) -> (u16, String) {
        match path {
            "/health" => (
                200,
                json!({"status": "healthy", "nodeId": "fake", "ilpAddress": "g.fake",
                "btpServerPort": 1, "uptimeSeconds": 1.0, "version": "x", "books": "durable",
                "links": [{"id": "other", "relation": "peer", "direction": "inbound",
                           "connected": true, "since": "2026-01-01T00:00:00Z", "pendingRequests": 2,
                           "balance": self.balance()}]})
                .to_string(),
            ),
            "/metrics" => {
                let n = 50 * self.scrapes.fetch_add(1, Ordering::SeqCst);
                (
                    200,
                    format!(
                        "ilp_packets_total{{link=\"other\",direction=\"incoming\",outcome=\"fulfilled\"}} {n}\n\
                         ilp_packets_total{{link=\"other\",direction=\"incoming\",outcome=\"rejected\",code=\"T04\"}} {}\n\
                         ilp_in_flight{{link=\"other\"}} 9\n",
                        n / 50
                    ),
                )
            }
            "/routes" => (
                200,
                json!({"epoch": 3, "routes": [{"prefix": "g.other", "nextHop": "other", "path": ["other"]}]})
                    .to_string(),
            ),
            p if p.starts_with("/admin/") => {
                if auth.as_deref() != Some("Bearer tok") {
                    return (401, "{}".into());
                }
                if p == "/admin/links/other/settle" {
                    self.settled.fetch_add(1, Ordering::SeqCst);
                }
                self.admin_calls.lock().unwrap().push((
                    method.to_string(),
                    p.to_string(),
                    (!body.is_empty()).then_some(body),
                ));
                (
                    200,
                    json!({"links": [{"id": "other", "connected": true,
                        "fault": {"latency_ms": 200, "jitter_ms": 50},
                        "balance": self.balance()}]})
                    .to_string(),
                )
            }
            _ => (404, "{}".into()),
        }
    }
}

/// A dashboard polling one fake node every 100 ms, with the admin token
/// `tok`: the fake (to set up and inspect) and the dashboard.
async fn dashboard_on_fake() -> (Arc<FakeNode>, dashboard::DashboardHandle) {
    let fake = Arc::new(FakeNode::default());
    let fake_addr = serve_fake(fake.clone()).await;
    let mut config = DashboardConfig::new([("fake".to_string(), fake_addr)]);
    config.poll_interval = Duration::from_millis(100);
    config.admin_token = Some(Secret::new("tok"));
    let d = dashboard::start(config, loopback().await).unwrap();
    (fake, d)
}

async fn serve_fake(fake: Arc<FakeNode>) -> String {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let fake = fake.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let auth = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string());
                    let fake = fake.clone();
                    async move {
                        let (method, path) = (req.method().clone(), req.uri().path().to_string());
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let body = String::from_utf8_lossy(&body).into_owned();
                        let (status, body) = fake.answer(&method, &path, auth, body);
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn metrics_routes_and_admin_are_used_when_a_node_has_them() {
    let (fake, d) = dashboard_on_fake().await;
    let addr = d.addr().to_string();
    let s = wait_state(&addr, "a packet rate, routes and admin", |s| {
        let n = &s["nodes"][0];
        n["packetRate"].as_f64().is_some_and(|r| r > 0.0)
            && n["routes"]["available"] == true
            && n["admin"]["available"] == true
    })
    .await;
    let n = &s["nodes"][0];
    // 50 packets per scrape, a scrape per 100 ms: some hundreds per second.
    let rate = n["packetRate"].as_f64().unwrap();
    assert!((100.0..=1000.0).contains(&rate), "{rate}");
    assert_eq!(
        n["inFlight"], 9.0,
        "ilp_in_flight wins over pendingRequests"
    );
    assert_eq!(n["routing"]["epoch"], 3);
    assert_eq!(n["routing"]["routes"][0]["path"][0], "other");
    assert_eq!(n["links"][0]["fault"]["latencyMs"], 200.0);
    assert!(n["rejects"]["T04"].as_u64().unwrap() >= 1, "{n}");

    let r = api(
        &addr,
        Method::POST,
        "/api/admin/fake/links/other/fault",
        Some(json!({"latency_ms": 100, "jitter_ms": 0, "loss": 0.5, "loss_mode": "drop"})),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let r = api(&addr, Method::DELETE, "/api/admin/fake/faults", None).await;
    assert_eq!(r["ok"], true, "{r}");
    let calls = fake.admin_calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|(m, p, b)| m == "POST"
            && p == "/admin/links/other/fault"
            && b.as_deref()
                .is_some_and(|b| b.contains("\"loss_mode\":\"drop\""))),
        "{calls:?}"
    );
    assert!(calls.contains(&("DELETE".into(), "/admin/faults".into(), None)));
    d.shutdown().await;
}

/// The books of a node that reports them: in the snapshot as the node said
/// (amounts as strings), the page's limits, settle and settlement-refused
/// actions relayed with their bodies, a bad limit refused before it leaves
/// the dashboard, and the settlement the node then reports listed.
#[tokio::test]
async fn books_are_shown_and_limits_settle_and_the_settlement_fault_are_relayed() {
    let (fake, d) = dashboard_on_fake().await;
    let addr = d.addr().to_string();
    let s = wait_state(&addr, "the link's books and the admin API", |s| {
        s["nodes"][0]["links"][0]["balance"].is_object()
            && s["nodes"][0]["admin"]["available"] == true
    })
    .await;
    let n = &s["nodes"][0];
    assert_eq!(n["books"], "durable");
    let b = &n["links"][0]["balance"];
    assert_eq!(b["committed"], "-1200");
    assert_eq!(b["pendingOutgoing"], "5");
    assert_eq!(b["settlement"], "settlement refused by peer");
    assert_eq!(b["settlements"]["refused"], 1);
    assert_eq!(b["limits"]["maximum"], "1000000");
    assert_eq!(b["limits"]["minimum"], Value::Null);
    assert_eq!(s["settlements"], json!([]), "nothing settled yet");

    let post = |action: &str, body: Value| {
        let addr = addr.clone();
        let path = format!("/api/admin/fake/links/other/{action}");
        async move { api(&addr, Method::POST, &path, Some(body)).await }
    };
    let limits = json!({"minimum": "-5000", "maximum": null,
        "settleThreshold": "-1000", "settleTo": "0"});
    let r = post("limits", limits.clone()).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = post("fault", json!({"settlement_refused": true})).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = post("settle", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    let calls = fake.admin_calls.lock().unwrap().clone();
    let sent = |path: &str| {
        calls
            .iter()
            .find(|(m, p, _)| m == "POST" && p == path)
            .and_then(|(_, _, b)| b.as_deref())
            .map(|b| serde_json::from_str::<Value>(b).unwrap())
    };
    assert_eq!(sent("/admin/links/other/limits"), Some(limits), "{calls:?}");
    assert_eq!(
        sent("/admin/links/other/fault"),
        Some(json!({"settlement_refused": true}))
    );
    assert_eq!(sent("/admin/links/other/settle"), Some(json!({})));

    // A limit that is not an integer, or a field the node does not take:
    // 400 naming it, and nothing relayed.
    let posts = || {
        fake.admin_calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m == "POST")
            .count()
    };
    let before = posts();
    for (action, body, says) in [
        ("limits", r#"{"maximum":"1.5"}"#, "`maximum` must be null"),
        ("limits", r#"{"max":"1"}"#, "unknown field `max`"),
        ("settle", r#"{"amount":"1"}"#, "unknown field `amount`"),
        ("fault", r#"{"settlement_refused":"yes"}"#, "true or false"),
    ] {
        let a = client::request(
            &addr,
            Method::POST,
            &format!("/api/admin/fake/links/other/{action}"),
            None,
            Some(Bytes::from(body)),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 400, "{action} {body}: {}", a.text());
        assert!(a.text().contains(says), "{}", a.text());
    }
    let unknown = client::request(
        &addr,
        Method::POST,
        "/api/admin/fake/links/other/balance",
        None,
        Some(Bytes::from("{}")),
    )
    .await
    .unwrap();
    assert_eq!(
        unknown.status, 404,
        "an action not in the list is not relayed"
    );
    assert_eq!(posts(), before, "nothing relayed");

    // The settlement the node reports after the settle: listed, with its
    // amount, and the link's balance even.
    let s = wait_state(&addr, "the settlement listed", |s| {
        s["settlements"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let e = &s["settlements"][0];
    assert_eq!(
        (&e["node"], &e["link"], &e["kind"], &e["amount"]),
        (
            &json!("fake"),
            &json!("other"),
            &json!("paid"),
            &json!("1200")
        ),
        "{e}"
    );
    assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    assert_eq!(s["nodes"][0]["links"][0]["balance"]["committed"], "0");
    assert_eq!(
        s["settlements"].as_array().unwrap().len(),
        1,
        "counted once"
    );
    d.shutdown().await;
}

/// The Compose renders publish the page on docker/deployment.json's
/// `ports.dashboard`, which must be the binary's own default.
#[test]
fn the_default_port_is_the_deployment_constant() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/deployment.json"),
    )
    .unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        d["ports"]["dashboard"].as_u64(),
        Some(u64::from(dashboard::DEFAULT_PORT))
    );
}

/// `ilp-connector dashboard` with these variables (nothing else set).
fn dashboard_with(vars: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ilp-connector"))
        .env_clear()
        .envs(vars.iter().copied())
        .arg("dashboard")
        .output()
        .expect("run the binary")
}

/// Every dashboard setting out of its range, through the binary: exit code
/// 2 and one line naming the variable, as the node's settings do
/// (`tests/config.rs`), before anything is bound or polled.
#[test]
fn the_dashboard_exits_2_naming_the_variable_for_every_out_of_range_value() {
    let dir = std::env::temp_dir().join(format!("ilp-dashboard-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let long_secret = dir.join("long");
    std::fs::write(
        &long_secret,
        "s".repeat(ilp_connector::config::MAX_SECRET_FILE_LEN + 1),
    )
    .unwrap();
    let long_secret = long_secret.to_str().unwrap().to_string();
    let many_nodes: String = (0..=dashboard::MAX_NODES)
        .map(|i| format!("n{i}=http://127.0.0.1:{}", 1000 + i))
        .collect::<Vec<_>>()
        .join(",");
    let many_urls: String = (0..=dashboard::MAX_NODES)
        .map(|_| "a=ws://127.0.0.1:3000".to_string())
        .collect::<Vec<_>>()
        .join(",");
    let long_name = format!("{}=http://127.0.0.1:1", "n".repeat(65));
    const ONE: &str = "a=http://127.0.0.1:1";
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "DASHBOARD_POLL_INTERVAL_MS",
            vec![("DASHBOARD_POLL_INTERVAL_MS", "0")],
        ),
        (
            "DASHBOARD_POLL_INTERVAL_MS",
            vec![("DASHBOARD_POLL_INTERVAL_MS", "99")],
        ),
        (
            "DASHBOARD_POLL_INTERVAL_MS",
            vec![("DASHBOARD_POLL_INTERVAL_MS", "1001")],
        ),
        (
            "DASHBOARD_POLL_INTERVAL_MS",
            vec![("DASHBOARD_POLL_INTERVAL_MS", "18446744073709551615")],
        ),
        (
            "DASHBOARD_POLL_INTERVAL_MS",
            vec![("DASHBOARD_POLL_INTERVAL_MS", "-1")],
        ),
        ("DASHBOARD_PORT", vec![("DASHBOARD_PORT", "65536")]),
        ("DASHBOARD_PORT", vec![("DASHBOARD_PORT", "-1")]),
        (
            "DASHBOARD_BIND_ADDRESS",
            vec![("DASHBOARD_BIND_ADDRESS", "300.0.0.1")],
        ),
        ("DASHBOARD_NODES", vec![("DASHBOARD_NODES", ",")]),
        ("DASHBOARD_NODES", vec![("DASHBOARD_NODES", &many_nodes)]),
        ("DASHBOARD_NODES", vec![("DASHBOARD_NODES", &long_name)]),
        (
            "DASHBOARD_BTP_URLS",
            vec![("DASHBOARD_BTP_URLS", &many_urls)],
        ),
        (
            "DASHBOARD_BTP_URLS",
            vec![(
                "DASHBOARD_BTP_URLS",
                "a=ws://127.0.0.1:3000,a=ws://127.0.0.1:3001",
            )],
        ),
        (
            "DASHBOARD_SENDER_USERNAME",
            vec![("DASHBOARD_SENDER_USERNAME", "")],
        ),
        (
            "DASHBOARD_SENDER_USERNAME",
            vec![("DASHBOARD_SENDER_USERNAME", "Sender")],
        ),
        (
            "DASHBOARD_SENDER_SECRET_FILE",
            vec![("DASHBOARD_SENDER_SECRET_FILE", &long_secret)],
        ),
        // A device with no end is cut at the same bound, not read forever.
        (
            "DASHBOARD_ADMIN_TOKEN_FILE",
            vec![("DASHBOARD_ADMIN_TOKEN_FILE", "/dev/zero")],
        ),
    ];
    for (var, env) in &cases {
        let mut env = env.clone();
        if !env.iter().any(|(k, _)| *k == "DASHBOARD_NODES") {
            env.push(("DASHBOARD_NODES", ONE));
        }
        let out = dashboard_with(&env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.len() < 2_048, "{var}: {} bytes", stderr.len());
    }
    // Those the dashboard checks itself say so in one line, as the node's do.
    let out = dashboard_with(&[
        ("DASHBOARD_NODES", ONE),
        ("DASHBOARD_POLL_INTERVAL_MS", "0"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "ilp-connector: configuration error: DASHBOARD_POLL_INTERVAL_MS: `0` is out of range; use 100 to 1000 milliseconds"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "FIGURE dashboardconfig: {} out-of-range dashboard settings, each exit 2 naming its variable",
        cases.len()
    );
}

/// A configuration built in code gets the same checks from `start`: a zero
/// poll interval would panic the poller's timer.
#[tokio::test]
async fn start_refuses_a_configuration_out_of_range() {
    let mut config = DashboardConfig::new([("a".to_string(), "127.0.0.1:1".to_string())]);
    config.poll_interval = Duration::ZERO;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = dashboard::start(config, listener).err().expect("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("DASHBOARD_POLL_INTERVAL_MS"), "{e}");
}
