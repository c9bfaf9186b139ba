//! The pollers: one task per node, so a slow node never delays the others.
//! Each round asks `/health`, then (when the node has them) `/metrics`,
//! `/routes` and the admin API's links, and writes what came back into the
//! node's [`NodeState`](super::state::NodeState); an endpoint a node lacks
//! is asked for again only every [`PROBE_AGAIN`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;
use tracing::{debug, info, warn};

use super::NodeTarget;
use super::client::{self, ClientError};
use super::scrape::NodeMetrics;
use super::shared::Shared;
use super::state::{Capability, Health, Routing};

/// How often an endpoint a node lacked is asked for again.
pub const PROBE_AGAIN: Duration = Duration::from_secs(5);

/// When each optional endpoint may next be asked for, after it was missing.
struct Probes {
    metrics: Instant,
    routes: Instant,
    admin: Instant,
}

impl Probes {
    fn now() -> Self {
        let t = Instant::now();
        Self {
            metrics: t,
            routes: t,
            admin: t,
        }
    }
}

/// Polls node `i` every poll interval (or when woken) until the dashboard stops.
pub(super) async fn poll_loop(shared: Arc<Shared>, i: usize) {
    let mut tick = tokio::time::interval(shared.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let target = shared.config.nodes[i].clone();
    let mut probes = Probes::now();
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = shared.wake[i].notified() => {}
        }
        poll_node(&shared, i, &target, &mut probes).await;
    }
}

/// `GET path` on the node's health port.
fn get<'a>(
    target: &'a NodeTarget,
    path: &'a str,
    token: Option<&'a crate::config::Secret>,
) -> impl Future<Output = Result<client::Answer, ClientError>> + 'a {
    client::request(&target.health, Method::GET, path, token, None)
}

/// One poll round of one node.
async fn poll_node(shared: &Shared, i: usize, target: &NodeTarget, probes: &mut Probes) {
    let node = &shared.nodes[i];
    let health = match get(target, crate::report::HEALTH_PATH, None).await {
        Ok(a) if a.status == 200 || a.status == 503 => serde_json::from_slice::<Health>(&a.body)
            .map_err(|e| format!("{}: /health is not a health report: {e}", target.health)),
        Ok(a) => Err(format!(
            "{}: /health answered HTTP {}",
            target.health, a.status
        )),
        Err(e) => Err(e.to_string()),
    };
    let health = match health {
        Ok(h) => h,
        Err(e) => {
            let mut n = node.lock().expect("node state lock");
            if n.reachable != Some(false) {
                warn!(node = %target.name, error = %e, "node not answering");
            }
            n.health_failed(e);
            // Ask for everything again once it is back: it may be a new build.
            *probes = Probes::now();
            return;
        }
    };
    {
        let mut n = node.lock().expect("node state lock");
        if n.reachable != Some(true) {
            info!(node = %target.name, "node answering");
        }
        n.health_ok(health);
    }
    let now = Instant::now();
    let token = shared.config.admin_token.as_ref();
    let want_metrics = now >= probes.metrics;
    let want_routes = now >= probes.routes;
    let want_admin = token.is_some() && now >= probes.admin;
    let (metrics, routes, admin) = tokio::join!(
        async {
            if want_metrics {
                Some(get(target, "/metrics", None).await)
            } else {
                None
            }
        },
        async {
            if want_routes {
                Some(get(target, "/routes", token).await)
            } else {
                None
            }
        },
        async {
            if want_admin {
                Some(get(target, "/admin/links", token).await)
            } else {
                None
            }
        },
    );
    let later = now + PROBE_AGAIN;
    let mut routes_from_admin = false;
    {
        let mut n = node.lock().expect("node state lock");
        match metrics {
            Some(Ok(a)) if a.ok() => {
                n.metrics_ok(Instant::now(), NodeMetrics::from_text(&a.text()))
            }
            Some(Ok(a)) => {
                n.polled.metrics =
                    Capability::no(format!("no /metrics on this node yet (HTTP {})", a.status));
                n.scrape = None;
                probes.metrics = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "metrics poll failed"),
            None => {}
        }
        match admin {
            Some(Ok(a)) if a.ok() => {
                n.polled.admin = Capability::yes();
                let answer = serde_json::from_slice::<Value>(&a.body).ok();
                let links = answer
                    .as_ref()
                    .and_then(|v| v.get("links"))
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                n.admin_links_ok(links);
            }
            Some(Ok(a)) if a.status == 401 || a.status == 403 => {
                n.polled.admin = Capability::no(format!(
                    "the node refused the dashboard's admin token (HTTP {}); check DASHBOARD_ADMIN_TOKEN against its ADMIN_TOKEN",
                    a.status
                ));
                probes.admin = later;
            }
            Some(Ok(a)) => {
                n.polled.admin = Capability::no(format!(
                    "no admin API on this node (HTTP {}); it needs ADMIN_TOKEN",
                    a.status
                ));
                n.admin_gone();
                probes.admin = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "admin poll failed"),
            None if token.is_none() => {
                n.polled.admin =
                    Capability::no("the dashboard has no admin token (DASHBOARD_ADMIN_TOKEN)")
            }
            None => {}
        }
        match routes {
            Some(Ok(a)) if a.ok() => {
                let table = serde_json::from_slice::<Value>(&a.body)
                    .ok()
                    .as_ref()
                    .and_then(Routing::from_json);
                n.polled.routes = if table.is_some() {
                    Capability::yes()
                } else {
                    Capability::no("/routes answered something else than a routing table")
                };
                n.polled.routing = table;
            }
            Some(Ok(_)) if n.polled.admin.available => routes_from_admin = true,
            Some(Ok(a)) => {
                n.polled.routes = Capability::no(format!(
                    "this node does not show its routing table yet (no /routes, HTTP {})",
                    a.status
                ));
                n.polled.routing = None;
                probes.routes = later;
            }
            Some(Err(e)) => debug!(node = %target.name, error = %e, "routes poll failed"),
            None => {}
        }
    }
    if routes_from_admin {
        let a = get(target, "/admin/routes", token).await;
        let mut n = node.lock().expect("node state lock");
        let table = a
            .ok()
            .filter(client::Answer::ok)
            .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
            .as_ref()
            .and_then(Routing::from_json);
        n.polled.routes = if table.is_some() {
            Capability::yes()
        } else {
            probes.routes = later;
            Capability::no("this node does not show its routing table (no /routes)")
        };
        n.polled.routing = table;
    }
}
