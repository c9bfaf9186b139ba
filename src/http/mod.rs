//! HTTP/1, both ways, in one room: [`server`] is the one accept loop that the
//! node's HTTP port ([`crate::server::http::serve`]) and the dashboard
//! ([`crate::dashboard::start`]) run their services on; [`client`] is the
//! client of a node's health port (the CLI's probes, [`crate::admin_client`],
//! the dashboard's pollers). The server knows no path: what is served is its
//! callers'; the client knows one, the health report's
//! ([`crate::report::HEALTH_PATH`], which [`client::probe`] asks for).

pub mod client;
pub mod server;
