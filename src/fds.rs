//! The file-descriptor budget. At start the node raises its soft
//! `RLIMIT_NOFILE` to the hard limit ([`raise_nofile`]), then fits its three
//! socket pools (authenticated links, sockets waiting for auth, health
//! connections) into what it got ([`fit`]): a pool left at its default is
//! lowered to fit, a configured one that cannot fit is a configuration error
//! naming its variable. Without this, the defaults (over 5,000 sockets) could
//! exceed a 1,024-fd soft limit and `accept` would fail with EMFILE instead.

use crate::config::{
    ConfigError, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEALTH_CONNECTIONS,
    DEFAULT_MAX_UNAUTHENTICATED, Limits, NodeSettings,
};

/// Descriptors kept out of the socket pools: stdio, the two listeners, the
/// runtime's epoll and wake-up fds, log files, DNS lookups, headroom.
pub const RESERVED_FDS: u64 = 64;

/// The process's `RLIMIT_NOFILE`, before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// Soft limit the process started with.
    pub before: u64,
    /// Soft limit now.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (where the hard limit is
/// finite and the kernel allows it; else the soft limit stays as it was).
pub fn raise_nofile() -> std::io::Result<NoFile> {
    use rlimit::Resource;
    let (before, hard) = rlimit::getrlimit(Resource::NOFILE)?;
    if before < hard {
        // Refused where the hard limit is above what the kernel allows
        // (e.g. infinite): then the node makes do with the soft limit.
        let _ = rlimit::setrlimit(Resource::NOFILE, hard, hard);
    }
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE)?;
    Ok(NoFile { before, soft, hard })
}

/// Which socket limits were configured (the others may be lowered to fit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Configured {
    /// `MAX_CONNECTIONS` was set.
    pub max_connections: bool,
    /// `MAX_UNAUTHENTICATED` was set.
    pub max_unauthenticated: bool,
    /// `MAX_UNAUTHENTICATED_PER_IP` was set.
    pub max_unauthenticated_per_ip: bool,
    /// `MAX_HEALTH_CONNECTIONS` was set.
    pub max_health_connections: bool,
}

impl Configured {
    /// What `args` sets (read before they become a `Config`).
    pub fn from_args(args: &NodeSettings) -> Self {
        Self {
            max_connections: args.max_connections.is_some(),
            max_unauthenticated: args.max_unauthenticated.is_some(),
            max_unauthenticated_per_ip: args.max_unauthenticated_per_ip.is_some(),
            max_health_connections: args.max_health_connections.is_some(),
        }
    }
}

/// Sockets the pools may hold: the soft limit less [`RESERVED_FDS`] and one
/// socket per peer this node dials.
pub fn socket_budget(soft: u64, outbound_peers: usize) -> u64 {
    soft.saturating_sub(RESERVED_FDS)
        .saturating_sub(outbound_peers as u64)
}

/// Fits the pools of `limits` into `budget` sockets (see [`socket_budget`]).
pub fn fit(limits: &mut Limits, configured: Configured, budget: u64) -> Result<(), ConfigError> {
    let too_many = |variable: &str, wanted: u64| ConfigError {
        variable: variable.into(),
        message: format!(
            "{wanted} sockets (with the other configured pools) do not fit the file-descriptor limit, which leaves {budget} for MAX_CONNECTIONS + MAX_UNAUTHENTICATED + MAX_HEALTH_CONNECTIONS; lower it, or raise the hard limit (ulimit -Hn, docker --ulimit nofile=)"
        ),
    };
    let pools: [(&str, bool, &mut usize, usize); 3] = [
        (
            "MAX_CONNECTIONS",
            configured.max_connections,
            &mut limits.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        ),
        (
            "MAX_UNAUTHENTICATED",
            configured.max_unauthenticated,
            &mut limits.max_unauthenticated,
            DEFAULT_MAX_UNAUTHENTICATED,
        ),
        (
            "MAX_HEALTH_CONNECTIONS",
            configured.max_health_connections,
            &mut limits.max_health_connections,
            DEFAULT_MAX_HEALTH_CONNECTIONS,
        ),
    ];
    let mut fixed: u64 = 0;
    for (var, set, value, _) in &pools {
        if *set {
            fixed = fixed.saturating_add(**value as u64);
            if fixed > budget {
                return Err(too_many(var, fixed));
            }
        }
    }
    let left = budget - fixed;
    let wanted: u64 = pools.iter().filter(|p| !p.1).map(|p| p.3 as u64).sum();
    let unset = pools.iter().filter(|p| !p.1).count() as u64;
    if wanted > left {
        if left < unset {
            let var = pools
                .iter()
                .find(|p| !p.1)
                .map_or("MAX_CONNECTIONS", |p| p.0);
            return Err(too_many(var, fixed + unset));
        }
        // Each default shrinks in proportion, to at least 1.
        for (_, set, value, default) in pools {
            if !set {
                *value = ((default as u64 * left / wanted).max(1)) as usize;
            }
        }
    }
    if !configured.max_unauthenticated_per_ip {
        limits.max_unauthenticated_per_ip = limits
            .max_unauthenticated_per_ip
            .min(limits.max_unauthenticated);
    } else if limits.max_unauthenticated_per_ip > limits.max_unauthenticated {
        return Err(ConfigError {
            variable: "MAX_UNAUTHENTICATED_PER_IP".into(),
            message: format!(
                "must be at most MAX_UNAUTHENTICATED ({}, lowered to fit the file-descriptor limit)",
                limits.max_unauthenticated
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(l: &Limits) -> u64 {
        (l.max_connections + l.max_unauthenticated + l.max_health_connections) as u64
    }

    #[test]
    fn defaults_that_fit_are_kept() {
        let mut l = Limits::default();
        fit(&mut l, Configured::default(), 1_000_000).unwrap();
        assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(l.max_unauthenticated, DEFAULT_MAX_UNAUTHENTICATED);
    }

    #[test]
    fn defaults_shrink_to_fit_a_small_limit() {
        let mut l = Limits::default();
        let budget = socket_budget(1_024, 3);
        fit(&mut l, Configured::default(), budget).unwrap();
        assert!(total(&l) <= budget, "{l:?}");
        assert!(l.max_connections > l.max_unauthenticated, "{l:?}");
        assert!(l.max_unauthenticated_per_ip <= l.max_unauthenticated);
        assert!(l.max_health_connections >= 1);
    }

    #[test]
    fn a_configured_limit_beyond_the_budget_names_its_variable() {
        let mut l = Limits {
            max_connections: 100_000,
            ..Limits::default()
        };
        let set = Configured {
            max_connections: true,
            ..Configured::default()
        };
        let e = fit(&mut l, set, 1_000).unwrap_err();
        assert_eq!(e.variable, "MAX_CONNECTIONS");
        let mut l = Limits {
            max_unauthenticated: 900,
            ..Limits::default()
        };
        let set = Configured {
            max_unauthenticated: true,
            ..Configured::default()
        };
        fit(&mut l, set, 1_000).unwrap();
        assert_eq!(l.max_unauthenticated, 900);
        assert!(total(&l) <= 1_000, "{l:?}");
        let e = fit(&mut l, set, 901).unwrap_err();
        assert_eq!(e.variable, "MAX_CONNECTIONS");
    }
}
