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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod btp;
pub mod condition;
pub mod ildcp;
pub mod oer;
pub mod packet;
