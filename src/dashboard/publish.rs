//! The publisher: a snapshot of every node's state after each poll round
//! (into the dashboard's shared watch channel), and to each open page as
//! server-sent events (`GET /api/events`), at least every [`SSE_MAX_GAP`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};

use super::response::Body;
use super::shared::Shared;

/// Longest gap between two server-sent events.
pub const SSE_MAX_GAP: Duration = Duration::from_secs(1);

/// Publishes a snapshot every poll interval until the dashboard stops.
pub(super) async fn publish_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => shared.publish(),
        }
    }
}

/// `GET /api/events`: the last snapshot now, then each new one (or the same
/// again after [`SSE_MAX_GAP`]), until the dashboard stops.
pub(super) fn events(shared: &Shared) -> Response<Body> {
    let rx = shared.updates.subscribe();
    let stop = shared.shutdown.clone();
    let stream =
        futures_util::stream::unfold((rx, true, stop), |(mut rx, first, stop)| async move {
            if !first {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    r = rx.changed() => if r.is_err() { return None },
                    _ = tokio::time::sleep(SSE_MAX_GAP) => {}
                }
            }
            let json = rx.borrow_and_update().clone();
            let mut text = String::with_capacity(json.len() + 32);
            if first {
                text.push_str("retry: 1000\n\n");
            }
            text.push_str("event: state\ndata: ");
            text.push_str(&json);
            text.push_str("\n\n");
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(text))),
                (rx, false, stop),
            ))
        });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())))
        .expect("static response parts are valid")
}
