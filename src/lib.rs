//! # ilp-connector
//!
//! An Interledger (ILPv4) connector: one node of a network whose links are BTP
//! (RFC 23) over WebSocket.
//!
//! # Layout
//! - [`address`], [`oer`], [`packet`]: ILP addresses and packets (RFC 27, RFC 30). Pure.
//! - [`btp`]: BTP frames (RFC 23). Pure.
//! - [`ildcp`]: ILDCP (RFC 31) requests and responses. Pure.
//! - [`condition`]: SHA-256 conditions and STREAM-style fulfillments.
//! - [`routing`]: the routing table (longest prefix on segment boundaries). Pure.
//! - [`transport`]: WebSocket accept and dial with BTP auth.
//! - [`link`]: one authenticated link: request matching, batched writes, keepalive.
//! - [`forward`]: the forwarding core.
//! - [`node`]: wiring: server, dialers that never give up, health, shutdown.
//! - [`health`]: the HTTP health report and its probe.
//! - [`send`]: the `send` client.
//! - [`dashboard`]: the network page (`ilp-connector dashboard`).
//! - [`config`], [`logging`], [`cli`]: configuration, JSON logs, subcommands.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod btp;
pub mod cli;
pub mod condition;
pub mod config;
pub mod dashboard;
pub mod forward;
pub mod health;
pub mod ildcp;
pub mod link;
pub mod logging;
pub mod node;
pub mod oer;
pub mod packet;
pub mod routing;
pub mod send;
pub mod transport;
