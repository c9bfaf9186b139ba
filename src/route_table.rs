//! The routing table: longest-prefix match on segment boundaries. Pure.
//!
//! Generic over what a route leads to: the node keeps the next hop's own
//! state in it (`RoutingTable<Arc<PeerSlot>>`), so a lookup yields the link to
//! use with no second lookup by id; tests and tools use peer ids. A table is
//! built whole and never changed in place: the node swaps in a new one
//! (`Node::replace_routes`), so readers on the packet path take no lock.

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Where a packet goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop<P = Arc<str>> {
    /// To this peer's link.
    Peer(P),
    /// Handled by this node (its own address and everything under it that is
    /// not routed to a child).
    Local,
}

/// Maps address prefixes to next hops.
#[derive(Debug, Clone)]
pub struct RoutingTable<P = Arc<str>> {
    /// Only configuration inserts keys, so a fast non-keyed hash is safe.
    routes: FxHashMap<String, NextHop<P>>,
}

impl<P> Default for RoutingTable<P> {
    fn default() -> Self {
        Self {
            routes: FxHashMap::default(),
        }
    }
}

impl<P> RoutingTable<P> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the route for `prefix`.
    pub fn insert(&mut self, prefix: impl Into<String>, hop: NextHop<P>) {
        self.routes.insert(prefix.into(), hop);
    }

    /// The route for the longest prefix of `destination` that ends on a segment
    /// boundary (`g.a` matches `g.a` and `g.a.b`, never `g.ab`).
    pub fn lookup(&self, destination: &str) -> Option<(&str, &NextHop<P>)> {
        let mut candidate = destination;
        loop {
            if let Some((prefix, hop)) = self.routes.get_key_value(candidate) {
                return Some((prefix.as_str(), hop));
            }
            let dot = candidate.bytes().rposition(|b| b == b'.')?;
            candidate = &candidate[..dot];
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// All routes, sorted by prefix.
    pub fn entries(&self) -> Vec<(&str, &NextHop<P>)> {
        let mut v: Vec<_> = self.routes.iter().map(|(k, v)| (k.as_str(), v)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str) -> NextHop {
        NextHop::Peer(Arc::from(id))
    }

    fn table() -> RoutingTable {
        let mut t = RoutingTable::new();
        t.insert("g", peer("default"));
        t.insert("g.a", peer("a"));
        t.insert("g.a.b", peer("b"));
        t.insert("g.me", NextHop::Local);
        t
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        assert_eq!(t.lookup("g.a.b.c").unwrap(), ("g.a.b", &peer("b")));
        assert_eq!(t.lookup("g.a.b").unwrap(), ("g.a.b", &peer("b")));
        assert_eq!(t.lookup("g.a.x").unwrap(), ("g.a", &peer("a")));
        assert_eq!(
            t.lookup("g.me.receiver").unwrap(),
            ("g.me", &NextHop::Local)
        );
    }

    #[test]
    fn matches_only_on_segment_boundaries() {
        let t = table();
        // `g.ab` must not match `g.a`; it falls back to the default route.
        assert_eq!(t.lookup("g.ab").unwrap(), ("g", &peer("default")));
        assert_eq!(t.lookup("g.a.bc").unwrap(), ("g.a", &peer("a")));
    }

    #[test]
    fn no_route_is_none() {
        let t = table();
        assert_eq!(t.lookup("test.x"), None);
        assert_eq!(t.lookup("private"), None);
        assert!(RoutingTable::<Arc<str>>::new().lookup("g.a").is_none());
    }
}
