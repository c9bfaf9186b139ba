//! Sends from the page (`POST /api/send`): packets from one dashboard node's
//! sender account to another's test receiver, through [`crate::send`],
//! bounded in count, concurrency and sends at once; the result is kept for
//! the page ([`super::state::SendRecord`]) and published.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use super::response::{Body, error_response, json_response};
use super::shared::{MAX_CONCURRENT_SENDS, Shared};
use super::state::{self, SendRecord};
use crate::send::{self, SendSettings};

/// Most packets one send from the page.
pub const MAX_SEND_COUNT: u64 = 10_000;
/// Most packets in flight in one send.
pub const MAX_SEND_CONCURRENCY: usize = 256;
/// Packets in flight in a send when the page does not say.
pub const DEFAULT_SEND_CONCURRENCY: usize = 32;
/// Expiry of packets sent from the page.
pub const SEND_EXPIRY_MS: u64 = 10_000;

/// What the page asks to send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    from: String,
    to: String,
    #[serde(default = "one")]
    count: u64,
    concurrency: Option<usize>,
    #[serde(default = "one")]
    amount: u64,
}

fn one() -> u64 {
    1
}

/// Runs the send `body` asks for and answers its summary (or why not).
pub(super) async fn send_from_page(shared: &Shared, body: Value) -> Response<Body> {
    let r: SendRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, format!("bad send request: {e}")),
    };
    let Some(secret) = &shared.config.sender_secret else {
        return error_response(
            StatusCode::CONFLICT,
            "sending is off: give the dashboard DASHBOARD_SENDER_SECRET",
        );
    };
    if r.count == 0 || r.count > MAX_SEND_COUNT {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("count must be 1..={MAX_SEND_COUNT}"),
        );
    }
    let concurrency = r
        .concurrency
        .unwrap_or(DEFAULT_SEND_CONCURRENCY)
        .min(r.count as usize);
    if concurrency == 0 || concurrency > MAX_SEND_CONCURRENCY {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("concurrency must be 1..={MAX_SEND_CONCURRENCY}"),
        );
    }
    let (Some(from), Some(to)) = (shared.node_index(&r.from), shared.node_index(&r.to)) else {
        return error_response(StatusCode::NOT_FOUND, "from and to must be dashboard nodes");
    };
    let (url, destination) = {
        let f = shared.nodes[from].lock().expect("node state lock");
        let t = shared.nodes[to].lock().expect("node state lock");
        let dest = t
            .health
            .as_ref()
            .map(|h| format!("{}.receiver", h.ilp_address));
        (f.btp_url(), dest)
    };
    let Some(url) = url else {
        return error_response(
            StatusCode::CONFLICT,
            format!(
                "{}'s BTP URL is unknown: it has not answered yet (or set DASHBOARD_BTP_URLS)",
                r.from
            ),
        );
    };
    let Some(destination) = destination else {
        return error_response(
            StatusCode::CONFLICT,
            format!("{}'s ILP address is unknown: it has not answered yet", r.to),
        );
    };
    let Ok(_permit) = shared.send_permits.try_acquire() else {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{MAX_CONCURRENT_SENDS} sends are running; wait for one to finish"),
        );
    };
    let mut args = SendSettings::new(
        &url,
        &shared.config.sender_username,
        secret.expose(),
        &destination,
    );
    args.receiver_secret = shared.config.receiver_secret.clone();
    args.count = r.count;
    args.concurrency = concurrency;
    args.amount = r.amount;
    args.expiry_ms = SEND_EXPIRY_MS;
    let result = send::run(&args).await;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (record, response) = match result {
        Ok(summary) => {
            info!(from = %crate::logging::shown(&r.from), to = %crate::logging::shown(&r.to), sent = summary.sent, fulfilled = summary.fulfilled, "send from the page");
            let v = json!({ "ok": true, "summary": summary });
            (
                SendRecord {
                    at,
                    from: r.from,
                    to: r.to,
                    count: r.count,
                    summary: Some(summary),
                    error: None,
                },
                json_response(StatusCode::OK, &v),
            )
        }
        Err(e) => {
            let message = e.to_string();
            (
                SendRecord {
                    at,
                    from: r.from,
                    to: r.to,
                    count: r.count,
                    summary: None,
                    error: Some(message.clone()),
                },
                json_response(StatusCode::OK, &json!({ "ok": false, "error": message })),
            )
        }
    };
    {
        let mut sends = shared.sends.lock().expect("sends lock");
        sends.push_front(record);
        sends.truncate(state::MAX_SENDS);
    }
    shared.publish();
    response
}
