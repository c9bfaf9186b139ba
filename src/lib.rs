//! # ilp-connector
//!
//! An Interledger (ILPv4) connector: one node of a network whose links are BTP
//! (RFC 23) over WebSocket.
//!
//! # Layout, bottom to top
//! Each module imports only from the ones listed before it (and the
//! standard library and crates); nothing imports upward and no files import
//! each other in a circle.
//!
//! Codecs and pure parts (no I/O):
//! - [`address`], [`oer`], [`packet`]: ILP addresses and packets (RFC 27,
//!   RFC 30). Codec errors are layered bottom-up: [`oer::OerError`] inside
//!   [`packet::ParseError`] inside [`btp::BtpError`].
//! - [`condition`]: SHA-256 conditions and STREAM-style fulfillments.
//! - [`route_table`]: the routing table (longest prefix on segment
//!   boundaries), generic over what a route leads to.
//! - [`fault`]: a link's injected faults (admin API), as state.
//! - [`logging`]: JSON logs; [`memory`]: mimalloc's due purges run once a
//!   second, so RSS falls back after an attack (the one module with
//!   `unsafe`: one FFI call).
//! - [`btp`]: BTP frames (RFC 23), the settlement id of a Transfer;
//!   [`ildcp`]: ILDCP (RFC 31); [`reply`]: the typed answer to a Prepare
//!   (`Verdict`), below both the forwarding path and the CCP answers.
//! - [`accounts`]: a link's balance and its rules (limits, settlement), pure.
//! - [`ccp`]: CCP route broadcast: codec and a sans-IO speaker (routing
//!   information base).
//!
//! Transport and links:
//! - [`link`]: one authenticated link: request matching, batched writes,
//!   keepalive, BTP Transfers both ways.
//! - [`config`]: configuration data and validation, no command-line
//!   parsing; its sources apart ([`config::env`], [`config::file`], the
//!   node's own settings in [`config::settings`], CCP settings in
//!   [`config::ccp`]).
//! - [`transport`]: WebSocket accept and dial with BTP auth; typed errors
//!   that keep their source.
//!
//! The node's state:
//! - [`node`]: the state a running node shares, and nothing else: [`node::Node`]
//!   (private fields, methods), each link's [`node::peer::PeerSlot`] with its
//!   counters ([`node::stats`]), the CCP state ([`node::ccp`]), the filter of
//!   repeated warnings ([`node::repeat`]).
//! - [`fds`]: the file-descriptor budget: the soft limit raised at start,
//!   the socket pools fitted to it.
//! - [`send`]: the `send` client: one continuation per packet (no task,
//!   channel or timer per packet).
//!
//! Over the state:
//! - [`forward`]: the path of a packet, in one place, as functions over
//!   `&Node`: admission (T05, T03), decisions (F01, F08, ILDCP, routing,
//!   expiry), the forward with the expiry rewritten in place, the reply
//!   check, the responder.
//! - [`report`]: the health and routing reports; [`metrics`]: `/metrics`,
//!   rendered from the state at scrape time; [`admin`]: the admin API.
//! - [`http`]: the one HTTP/1 server loop (the node's HTTP port, the
//!   dashboard) and the client of a node's HTTP port.
//!
//! Wiring and the programs:
//! - [`server`]: the server wing: [`server::start`] builds a node and runs
//!   it: the BTP server and auth ([`server::accept`]), dialers that never give
//!   up (with [`server::backoff`]), the CCP driver, the HTTP port
//!   ([`server::http`]), the handle and graceful stop ([`server::stop`]).
//! - [`admin_client`]: the `admin` client of the admin API.
//! - [`dashboard`]: the network page (`ilp-connector dashboard`).
//! - [`books`]: `ilp-connector books`: every node's balances read, each
//!   link's two ends matched and summed (over the dashboard's node list).
//! - [`cli`]: the command line, the one layer that knows clap: subcommands
//!   and flags ([`cli::node`], [`cli::send`], [`cli::admin`],
//!   [`cli::dashboard`], [`cli::books`]) turned into the plain settings of the layers below,
//!   the runtime choice ([`cli::runtime`]: `RUNTIME`, `WORKER_THREADS`).
//!   `main.rs` only calls [`cli::main`].
//!
//! # Panics: none reachable from configuration or input
//! Audited (issue 9): every `unwrap`/`expect` outside tests is one of
//! - a lock (`expect("... lock")`): poisoned only by a panic while held, and
//!   the code holding these locks only reads or updates fields; release
//!   builds abort on panic (`panic = "abort"`), so no poisoned lock is seen;
//! - a constant that is valid by construction (`peer.config`, static HTTP
//!   response parts, HMAC keys of any length, a `String` as `fmt::Write`,
//!   derived `Serialize` with string keys), each saying so;
//! - an invariant of the node's own wiring (`peers` built from
//!   `config.peers`; only outbound peers are dialed), each commented.
//!
//! Configured numbers are range-checked by [`config::Config::validate`]
//! (run by [`node::Node::new`], so by [`server::start`], too), so `Semaphore::new(MAX_CONNECTIONS)` and
//! the time arithmetic on timings cannot overflow; the packet path's time
//! arithmetic is checked (`checked_add`, `checked_sub_signed`) as well.
// `deny`, not `forbid`: `memory` (one FFI call, measured need) allows it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod address;
pub mod admin;
pub mod admin_client;
pub mod books;
pub mod btp;
pub mod ccp;
pub mod cli;
pub mod condition;
pub mod config;
pub mod dashboard;
pub mod fault;
pub mod fds;
pub mod forward;
pub mod http;
pub mod ildcp;
pub mod link;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod oer;
pub mod packet;
pub mod reply;
pub mod report;
pub mod route_table;
pub mod send;
pub mod server;
pub mod transport;
