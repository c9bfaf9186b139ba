//! A small HTTP/1 client for the nodes' health ports: one connection per
//! request, a deadline on the whole exchange, a cap on the answer's size.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::config::Secret;

/// Deadline of one request to a node (connect, send, read the whole answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(900);
/// Largest answer read from a node.
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request got no answer. Carries no secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens, or the connection broke.
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    /// No whole answer in time.
    #[error("no answer from {0} within {REQUEST_TIMEOUT:?}")]
    Timeout(String),
}

/// Sends one request to `authority` (`host:port`) and reads the answer.
pub async fn request(
    authority: &str,
    method: Method,
    path: &str,
    token: Option<&Secret>,
    body: Option<Bytes>,
) -> Result<Answer, ClientError> {
    let unreachable =
        |e: &dyn std::fmt::Display| ClientError::Unreachable(authority.to_string(), e.to_string());
    let fut = async {
        let tcp = tokio::net::TcpStream::connect(authority)
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
            .header("host", authority);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {}", t.expose()));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| unreachable(&e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .map_err(|_| ClientError::Timeout(authority.to_string()))?
}
