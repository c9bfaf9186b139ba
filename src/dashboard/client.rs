//! The dashboard's requests to the nodes' health ports, over the shared
//! client ([`crate::http::client::exchange`]: one connection per request, a deadline
//! on the whole exchange, a cap on the answer's size), with the dashboard's
//! own deadline and an error that carries no secret.

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use crate::config::Secret;
use crate::http::client::{self as http_client, ProbeError};

/// Deadline of one request to a node (connect, send, read the whole answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(900);

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

/// Sends one request to `authority` (`host:port`) and reads the answer
/// ([`http_client::exchange`], within [`REQUEST_TIMEOUT`]).
pub async fn request(
    authority: &str,
    method: Method,
    path: &str,
    token: Option<&Secret>,
    body: Option<Bytes>,
) -> Result<Answer, ClientError> {
    let bearer = token.map(Secret::expose);
    let body = body.unwrap_or_default();
    match http_client::exchange(authority, method, path, bearer, body, REQUEST_TIMEOUT).await {
        Ok((status, body)) => Ok(Answer { status, body }),
        Err(ProbeError::Timeout(a)) => Err(ClientError::Timeout(a)),
        Err(ProbeError::Unreachable(a, e)) => Err(ClientError::Unreachable(a, e)),
        Err(ProbeError::Invalid(e)) => Err(ClientError::Unreachable(authority.to_string(), e)),
    }
}
