//! The HTTP/1.1 client of a node's HTTP port (`/health`, `/routes`,
//! `/metrics`, `/admin/*`), for the CLI's probes
//! (`ilp-connector health`), [`crate::admin_client`] and the dashboard alike:
//! one connection per request, a deadline on the whole exchange (connect,
//! send, read), at most [`MAX_ANSWER_BYTES`] of answer, so a slow or hostile
//! server can hold neither the caller nor its memory.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::report::HEALTH_PATH;

/// How long [`probe`] waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer a client of the health port reads ([`exchange`]).
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Could not connect or talk HTTP.
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    /// No answer in time.
    #[error("no answer from {0} within {PROBE_TIMEOUT:?}")]
    Timeout(String),
    /// The request could not be built (e.g. a token that is no valid header value).
    #[error("cannot build the request: {0}")]
    Invalid(String),
}

/// Fetches the health report at `host:port`; returns the HTTP status and body.
pub async fn probe(addr: &str) -> Result<(u16, String), ProbeError> {
    probe_path(addr, HEALTH_PATH).await
}

/// Fetches `path` (e.g. [`crate::report::ROUTES_PATH`]) at `host:port`; returns the HTTP
/// status and body.
pub async fn probe_path(addr: &str, path: &str) -> Result<(u16, String), ProbeError> {
    request(addr, Method::GET, path, None, Bytes::new()).await
}

/// One HTTP/1.1 request to `host:port` (the health port: `/health`,
/// `/routes`, `/admin/*`), with `Authorization: Bearer <bearer>` when given
/// and a JSON `body`; returns the HTTP status and body, within
/// [`PROBE_TIMEOUT`].
pub async fn request(
    addr: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Bytes,
) -> Result<(u16, String), ProbeError> {
    let (status, body) = exchange(addr, method, path, bearer, body, PROBE_TIMEOUT).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The HTTP/1.1 client of the health port, for the CLI's probes and the
/// dashboard alike: one connection per request, `timeout` on the whole
/// exchange (connect, send, read), at most [`MAX_ANSWER_BYTES`] of answer.
pub async fn exchange(
    addr: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes), ProbeError> {
    let unreachable =
        |e: &dyn std::fmt::Display| ProbeError::Unreachable(addr.to_string(), e.to_string());
    let fut = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr);
        if let Some(token) = bearer {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ProbeError::Invalid(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ProbeError::Timeout(addr.to_string()))?
}
