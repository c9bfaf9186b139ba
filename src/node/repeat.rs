//! Tells whether a warning is the first of its kind in a while, so a peer
//! retrying with a wrong secret every second, or a full pool, does not fill
//! the logs: one warning per key per [`AUTH_FAILURE_LOG_INTERVAL`], repeats
//! at debug. Bounded whatever peers send.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long repeats of an auth failure (same key: see `RepeatKey`) are
/// logged at debug instead of warn.
pub const AUTH_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Most keys whose last warning is remembered; past it, new keys share one
/// (so at most this many plus one warnings per interval, whatever is sent).
pub const AUTH_FAILURE_LOG_KEYS: usize = 1_024;

/// What the auth-failure repeat filter is keyed by: never a string the peer
/// chose, so a stranger varying its username cannot make each attempt a
/// first (and a warning).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RepeatKey {
    /// Every unknown username shares one key.
    UnknownUsername,
    /// A configured peer's id (a set the configuration bounds).
    Peer(String),
    /// Failures before auth, by source address (IPv6 by its /64, which one
    /// host usually holds whole).
    Source(IpAddr),
    /// A limit of the node's own (the variable's name), e.g. a full pool.
    Limit(&'static str),
    /// Every new key once the filter is full.
    Overflow,
}

impl RepeatKey {
    /// The key of failures from `ip` (IPv6 by its /64).
    pub fn source(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Source(ip),
            IpAddr::V6(v6) => {
                let masked = u128::from(v6) & !((1u128 << 64) - 1);
                Self::Source(IpAddr::V6(masked.into()))
            }
        }
    }
}

/// Tells whether something is happening for the first time in
/// [`AUTH_FAILURE_LOG_INTERVAL`], so a peer retrying with a wrong secret every
/// second does not fill the logs. Bounded: expired keys are forgotten when
/// full, and while still full every new key counts as [`RepeatKey::Overflow`].
#[derive(Debug, Default)]
pub struct RepeatFilter(Mutex<HashMap<RepeatKey, Instant>>);

impl RepeatFilter {
    /// Whether `key` was not seen in the last [`AUTH_FAILURE_LOG_INTERVAL`];
    /// records it as seen now.
    pub fn first_in_a_while(&self, key: RepeatKey) -> bool {
        // A panic while holding this lock is impossible (no code here can
        // panic); a poisoned lock would still hold a usable map.
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let recent = |last: &Instant| now.duration_since(*last) < AUTH_FAILURE_LOG_INTERVAL;
        let mut key = key;
        if !seen.contains_key(&key) && seen.len() >= AUTH_FAILURE_LOG_KEYS {
            seen.retain(|_, last| recent(last));
            if seen.len() >= AUTH_FAILURE_LOG_KEYS {
                key = RepeatKey::Overflow;
            }
        }
        if seen.get(&key).is_some_and(recent) {
            return false;
        }
        seen.insert(key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_filtered_per_key_and_the_filter_stays_bounded() {
        let f = RepeatFilter::default();
        let peer = |s: &str| RepeatKey::Peer(s.into());
        assert!(f.first_in_a_while(peer("connector-b")));
        assert!(!f.first_in_a_while(peer("connector-b")));
        assert!(f.first_in_a_while(peer("connector-c")));
        assert!(f.first_in_a_while(RepeatKey::UnknownUsername));
        assert!(!f.first_in_a_while(RepeatKey::UnknownUsername));
        let mut firsts = 0;
        for i in 0..AUTH_FAILURE_LOG_KEYS * 2 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i as u32));
            firsts += usize::from(f.first_in_a_while(RepeatKey::source(ip)));
        }
        assert!(f.0.lock().unwrap().len() <= AUTH_FAILURE_LOG_KEYS + 1);
        // Once full, every new address shares the overflow key: one warning.
        assert!(firsts <= AUTH_FAILURE_LOG_KEYS + 1, "{firsts}");
        assert!(!f.first_in_a_while(peer("connector-d")));
    }

    #[test]
    fn an_ipv6_host_is_one_source_whatever_its_interface_id() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(RepeatKey::source(a), RepeatKey::source(b));
        assert_ne!(RepeatKey::source(a), RepeatKey::source(c));
    }
}
