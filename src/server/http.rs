//! The node's HTTP port (`HEALTH_PORT`): `/health` and `/routes`
//! ([`crate::report`]), `/metrics` ([`crate::metrics`]) and `/admin/*`
//! ([`crate::admin`]), at most `MAX_HEALTH_CONNECTIONS` connections at once,
//! on the shared HTTP/1 loop ([`crate::http::server`]).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::http;
use crate::node::Node;
use crate::node::repeat::RepeatKey;
use crate::report::{self, HEALTH_PATH, ROUTES_PATH};

/// How long one connection to the HTTP port may stay open.
pub const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn respond(node: &Node, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    if req.method() != Method::GET {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"use GET"}"#.into(),
        );
    }
    match req.uri().path() {
        "/" | HEALTH_PATH => {
            let r = report::report(node);
            let status = if r.status == "healthy" {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(
                status,
                serde_json::to_string(&r).expect("report serializes"),
            )
        }
        ROUTES_PATH => json(
            StatusCode::OK,
            serde_json::to_string(&report::routes_report(node)).expect("report serializes"),
        ),
        crate::metrics::METRICS_PATH => Response::builder()
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Full::new(Bytes::from(crate::metrics::render(node))))
            .expect("static response parts are valid"),
        _ => json(
            StatusCode::NOT_FOUND,
            format!(r#"{{"error":"not found; try {HEALTH_PATH} or {ROUTES_PATH}"}}"#),
        ),
    }
}

/// Serves the health endpoint (and [`crate::admin`] under its prefix) until
/// the node stops, on the shared loop ([`crate::http::server::serve`]).
/// At most `MAX_HEALTH_CONNECTIONS` connections are served at once; more
/// are closed as they are accepted.
pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    let settings = http::server::Settings {
        name: "health",
        refused_event: "health_connection_refused",
        max_connections: node.config().limits.max_health_connections,
        limit_variable: "MAX_HEALTH_CONNECTIONS",
        connection_timeout: Some(CONNECTION_TIMEOUT),
        header_read_timeout: None,
        drain_on_stop: None,
    };
    let shutdown = node.shutdown().clone();
    let repeats = node.clone();
    let first_warning =
        move || repeats.first_in_a_while(RepeatKey::Limit("MAX_HEALTH_CONNECTIONS"));
    http::server::serve(listener, settings, shutdown, first_warning, move |req| {
        let node = node.clone();
        async move {
            if req.uri().path().starts_with(crate::admin::ADMIN_PREFIX) {
                crate::admin::handle(&node, req).await
            } else {
                respond(&node, &req)
            }
        }
    })
    .await
}
