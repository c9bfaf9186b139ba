//! WebSocket transport: accepting and dialing BTP links, with RFC 23 auth.
//!
//! The server reads one auth Message (`auth`, `auth_username`, `auth_token`)
//! within the auth timeout, answers Response, or Error and closes. The client
//! sends that Message first and waits for the Response.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::btp::{self, BtpError, Frame};
use tokio_tungstenite::tungstenite::Error as WsError;

/// Time a dialer waits for the answer to its auth Message.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a dial has to open the TCP connection and WebSocket.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Request id of the auth Message; links then count up from [`FIRST_REQUEST_ID`].
pub const AUTH_REQUEST_ID: u32 = 1;
/// First request id a link uses after auth.
pub const FIRST_REQUEST_ID: u32 = 2;
/// The auth refusal sent to a peer whose link is held down on our side
/// (admin API); the dialer's hint recognises it.
pub const HELD_DOWN_REFUSAL: &str = "the link is held down on this side (admin API)";

/// Bytes read from a socket at once. tungstenite's default (128 KiB) is
/// zero-filled, so resident, for every socket from its handshake on: 1,000
/// sockets waiting for auth cost 73 MiB with it, 11 MiB with this.
pub const READ_BUFFER_SIZE: usize = 8 * 1024;

/// Bytes of written frames tungstenite collects before it writes them to
/// the socket (its default is 128 KiB).
pub const WRITE_BUFFER_SIZE: usize = 64 * 1024;
/// Most bytes tungstenite may hold for a socket that does not drain: the
/// write buffer plus the largest frame, twice. A peer that stops reading
/// then backs frames up into the link's own queue, which is bounded in bytes
/// (`MAX_QUEUED_BYTES_PER_LINK`), never into tungstenite without bound.
pub const MAX_WRITE_BUFFER_SIZE: usize = WRITE_BUFFER_SIZE + 2 * btp::MAX_FRAME_LEN;
/// Most WebSocket control frames (pings, pongs) a socket may send before its
/// BTP auth Message; one more closes it. Each ping costs the node a pong.
pub const MAX_CONTROL_FRAMES_BEFORE_AUTH: usize = 8;
/// What a client is told when its auth is refused for its credentials,
/// whichever was wrong (so no one learns which usernames exist).
pub const AUTH_FAILED: &str = "authentication failed";

/// WebSocket limits: one BTP frame per message, never more than
/// [`btp::MAX_FRAME_LEN`]; small read buffers (larger frames still fit: the
/// buffer grows to the frame being read); a bounded write buffer.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(btp::MAX_FRAME_LEN))
        .max_frame_size(Some(btp::MAX_FRAME_LEN))
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_write_buffer_size(MAX_WRITE_BUFFER_SIZE)
}

/// Why `accept`'s `authenticate` refused a socket: [`std::fmt::Display`] is
/// for the log, [`Refusal::to_client`] for the client.
pub trait Refusal: std::fmt::Display {
    /// The text sent to the client in the BTP Error.
    fn to_client(&self) -> &str {
        AUTH_FAILED
    }
}

/// Why an inbound socket did not become a link; `R` is why `accept`'s
/// `authenticate` refused the credentials.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError<R> {
    /// Handshake and auth took longer than the auth timeout.
    #[error("no BTP auth in time")]
    Timeout,
    /// The WebSocket handshake (or the answer to auth) failed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[source] WsError),
    /// No readable first message.
    #[error("first message was not BTP auth: {0}")]
    NoAuth(#[source] AuthReadError),
    /// The first message was a BTP frame but not an auth Message.
    #[error("first message was not BTP auth: {NOT_AUTH}")]
    NotAuth,
    /// More than [`MAX_CONTROL_FRAMES_BEFORE_AUTH`] pings or pongs before auth.
    #[error("more than {MAX_CONTROL_FRAMES_BEFORE_AUTH} WebSocket control frames before BTP auth")]
    ControlFlood,
    /// Credentials were refused.
    #[error("auth refused: {reason}")]
    Refused {
        /// The `auth_username` presented (as sent: escape and cut it to log it).
        username: String,
        /// Why it was refused (never the token).
        reason: R,
    },
}

/// What a server says when the first message is a frame but not auth.
const NOT_AUTH: &str = "the first message must be a BTP Message whose first entry is `auth`";

/// Why no BTP frame could be read while authenticating.
#[derive(Debug, thiserror::Error)]
pub enum AuthReadError {
    /// The peer closed the connection.
    #[error("connection closed before auth")]
    Closed,
    /// The socket or WebSocket failed.
    #[error("connection error before auth: {0}")]
    Connection(#[source] WsError),
    /// A binary message that is not a BTP frame.
    #[error("malformed BTP frame: {0}")]
    Malformed(#[source] BtpError),
    /// A text message.
    #[error("text WebSocket message; BTP frames are binary")]
    Text,
    /// More than [`MAX_CONTROL_FRAMES_BEFORE_AUTH`] control frames.
    #[error("too many WebSocket control frames before auth")]
    ControlFlood,
}

/// Why a dial did not give an authenticated link.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP or WebSocket connection failed (or sending the auth Message did).
    #[error("cannot connect: {0}")]
    Connect(#[source] WsError),
    /// The peer refused our credentials with this BTP error (`name: data`).
    #[error("peer refused auth: {0}")]
    Refused(String),
    /// The peer's answer to auth could not be read.
    #[error("bad auth reply: {0}")]
    Protocol(#[source] AuthReadError),
    /// The peer answered auth with a frame other than its Response or an Error.
    #[error(
        "bad auth reply: expected the Response to auth request {AUTH_REQUEST_ID}, got request {request_id} of another type"
    )]
    UnexpectedReply {
        /// The request id of the frame received.
        request_id: u32,
    },
    /// Timed out.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl ConnectError {
    /// What to do about it, for the operator.
    pub fn hint(&self) -> &'static str {
        match self {
            ConnectError::Refused(m) if m.contains(HELD_DOWN_REFUSAL) => {
                "the peer holds this link down (its admin API); redialing until it is released"
            }
            ConnectError::Refused(_) => {
                "check that both ends have the same secret and that the peer configures this node as an inbound peer"
            }
            _ => "the peer may not be up yet; retrying",
        }
    }
}

/// Upgrades an inbound TCP connection and runs BTP auth, all within
/// `auth_timeout`. `authenticate` gets `(username, token)` and returns who the
/// peer is, or why it is refused.
pub async fn accept<T, R: Refusal>(
    tcp: TcpStream,
    auth_timeout: Duration,
    authenticate: impl FnOnce(&str, &str) -> Result<T, R>,
) -> Result<(WebSocketStream<TcpStream>, T), AcceptError<R>> {
    // AUTH_TIMEOUT_MS is at most ten minutes (config checks); checked anyway.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(auth_timeout)
        .unwrap_or(now + crate::link::LONGEST_REQUEST_WAIT);
    let _ = tcp.set_nodelay(true);
    let mut ws = tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config())),
    )
    .await
    .map_err(|_| AcceptError::Timeout)?
    .map_err(AcceptError::Handshake)?;
    let first = match tokio::time::timeout_at(
        deadline,
        next_binary(&mut ws, MAX_CONTROL_FRAMES_BEFORE_AUTH),
    )
    .await
    {
        Err(_) => {
            refuse(&mut ws, 0, "no auth message in time").await;
            return Err(AcceptError::Timeout);
        }
        Ok(Err(AuthReadError::ControlFlood)) => {
            refuse(&mut ws, 0, &AuthReadError::ControlFlood.to_string()).await;
            return Err(AcceptError::ControlFlood);
        }
        Ok(Err(e)) => {
            refuse(&mut ws, 0, &e.to_string()).await;
            return Err(AcceptError::NoAuth(e));
        }
        Ok(Ok(frame)) => frame,
    };
    let request_id = first.request_id();
    let Some((username, token)) = first.auth_credentials() else {
        refuse(&mut ws, request_id, NOT_AUTH).await;
        return Err(AcceptError::NotAuth);
    };
    match authenticate(username, token) {
        Ok(who) => {
            ws.send(Message::Binary(Frame::empty_response(request_id).encode()))
                .await
                .map_err(AcceptError::Handshake)?;
            Ok((ws, who))
        }
        Err(reason) => {
            let username = username.to_string();
            refuse(&mut ws, request_id, reason.to_client()).await;
            Err(AcceptError::Refused { username, reason })
        }
    }
}

/// The first binary message, after at most `max_control` control frames.
async fn next_binary<S>(
    ws: &mut WebSocketStream<S>,
    max_control: usize,
) -> Result<Frame, AuthReadError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut control = 0usize;
    loop {
        match ws.next().await {
            None => return Err(AuthReadError::Closed),
            Some(Err(e)) => return Err(AuthReadError::Connection(e)),
            Some(Ok(Message::Binary(data))) => {
                return Frame::decode(data).map_err(AuthReadError::Malformed);
            }
            Some(Ok(Message::Text(_))) => return Err(AuthReadError::Text),
            Some(Ok(Message::Close(_))) => return Err(AuthReadError::Closed),
            Some(Ok(_)) => {
                control += 1;
                if control > max_control {
                    return Err(AuthReadError::ControlFlood);
                }
            }
        }
    }
}

async fn refuse<S>(ws: &mut WebSocketStream<S>, request_id: u32, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = Frame::not_accepted(request_id, reason);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = ws.send(Message::Binary(frame.encode())).await;
        let _ = ws.close(None).await;
    })
    .await;
}

/// A dialed, authenticated WebSocket.
pub type ClientStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Dials `url` and authenticates as `username` with `token`.
pub async fn connect(url: &Url, username: &str, token: &str) -> Result<ClientStream, ConnectError> {
    let (mut ws, _) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config()), true),
    )
    .await
    .map_err(|_| ConnectError::Timeout(CONNECT_TIMEOUT))?
    .map_err(ConnectError::Connect)?;
    ws.send(Message::Binary(
        Frame::auth(AUTH_REQUEST_ID, username, token).encode(),
    ))
    .await
    .map_err(ConnectError::Connect)?;
    let reply = tokio::time::timeout(
        AUTH_TIMEOUT,
        next_binary(&mut ws, MAX_CONTROL_FRAMES_BEFORE_AUTH),
    )
    .await
    .map_err(|_| ConnectError::Timeout(AUTH_TIMEOUT))?
    .map_err(ConnectError::Protocol)?;
    match reply {
        Frame::Response { request_id, .. } if request_id == AUTH_REQUEST_ID => Ok(ws),
        Frame::Error { name, data, .. } => Err(ConnectError::Refused(format!(
            "{name}: {}",
            String::from_utf8_lossy(&data)
        ))),
        other => Err(ConnectError::UnexpectedReply {
            request_id: other.request_id(),
        }),
    }
}
