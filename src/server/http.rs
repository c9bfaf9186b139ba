//! The node's HTTP port (`HEALTH_PORT`): `/health` and `/routes`
//! ([`crate::report`]), `/metrics` ([`crate::metrics`]) and `/admin/*`
//! ([`crate::admin`]), at most `MAX_HEALTH_CONNECTIONS` connections at once.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{Instrument, debug, error, warn};

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

/// Serves the health endpoint until the node stops.
/// At most `MAX_HEALTH_CONNECTIONS` connections are served at once; more
/// are closed as they are accepted.
pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    let limit = node.config().limits.max_health_connections;
    let open = Arc::new(tokio::sync::Semaphore::new(limit));
    loop {
        let (tcp, remote) = tokio::select! {
            _ = node.shutdown().cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    error!(error = %e, "accepting a health connection failed");
                    tokio::time::sleep(super::ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if node.first_in_a_while(RepeatKey::Limit("MAX_HEALTH_CONNECTIONS")) {
                warn!(event = "health_connection_refused", remote = %remote, limit, "too many health connections (MAX_HEALTH_CONNECTIONS); closing the new one (repeats of this are logged at debug for a minute)");
            } else {
                debug!(event = "health_connection_refused", remote = %remote, limit, "too many health connections (MAX_HEALTH_CONNECTIONS)");
            }
            drop(tcp);
            continue;
        };
        let node = node.clone();
        tokio::spawn(
            async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let node = node.clone();
                    async move {
                        let resp = if req.uri().path().starts_with(crate::admin::ADMIN_PREFIX) {
                            crate::admin::handle(&node, req).await
                        } else {
                            respond(&node, &req)
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service);
                match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                    Ok(Err(e)) => debug!(error = %e, "health connection error"),
                    Err(_) => debug!("health connection timed out"),
                    Ok(Ok(())) => {}
                }
            }
            .in_current_span(),
        );
    }
}
