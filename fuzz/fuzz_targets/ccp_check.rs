//! The checks of the `ccp` fuzz target, as a plain function (also run by
//! tests/ccp.rs): whatever decodes re-encodes to the same bytes and decodes
//! again to the same value; a speaker fed whatever decodes never panics,
//! sends only updates that decode, and routes nothing through a link that
//! is down.

use bytes::Bytes;
use ilp_connector::address::Address;
use ilp_connector::ccp::codec::{self, CcpRequest, ControlRequest, UpdateRequest};
use ilp_connector::ccp::{PeerLink, Relation, RoutingTableId, Speaker, SpeakerConfig};
use ilp_connector::packet::Prepare;

/// Panics if any property fails for `data`; returns whether it decoded as a
/// control or an update payload.
pub fn check(data: &[u8]) -> bool {
    let control = ControlRequest::decode(data);
    if let Ok(c) = &control {
        assert_eq!(&c.encode()[..], data, "control round trip");
        assert_eq!(&ControlRequest::decode(&c.encode()).unwrap(), c);
    }
    let update = UpdateRequest::decode(data);
    if let Ok(u) = &update {
        let enc = u.encode();
        assert_eq!(&enc[..], data, "update round trip");
        assert_eq!(enc.len(), u.encoded_len());
        assert_eq!(&UpdateRequest::decode(&enc).unwrap(), u);
    }
    // The same bytes as a whole Prepare.
    if let Ok(p) = Prepare::decode(Bytes::copy_from_slice(data)) {
        let _ = codec::parse_request(&p, p.expires_at);
    }
    // Feed what decoded to a speaker with two peers.
    let requests: Vec<CcpRequest> = control
        .into_iter()
        .map(CcpRequest::Control)
        .chain(update.into_iter().map(CcpRequest::Update))
        .collect();
    if requests.is_empty() {
        return false;
    }
    let own = Address::new("g.fuzz").unwrap();
    let mut s = Speaker::new(SpeakerConfig::new(own, RoutingTableId([1; 16]), [2; 32]));
    s.link_up("x", PeerLink::new(Relation::Peer), 0);
    s.link_up("y", PeerLink::new(Relation::Peer), 0);
    // y asks for our routes, so what we learn from x is sent to it.
    let sync = ControlRequest {
        mode: ilp_connector::ccp::Mode::Sync,
        last_known_routing_table_id: RoutingTableId::UNKNOWN,
        last_known_epoch: 0,
        features: Vec::new(),
    };
    s.handle_request("y", CcpRequest::Control(sync), 0)
        .expect("a control from a peer is accepted");
    for (i, r) in requests.into_iter().enumerate() {
        let _ = s.handle_request(if i % 2 == 0 { "x" } else { "y" }, r.clone(), 1);
        let _ = s.handle_request("y", r, 2);
    }
    s.tick(100_000);
    s.link_down("x", 100_001);
    for a in s.take_actions() {
        if let ilp_connector::ccp::Action::Send {
            request: CcpRequest::Update(u),
            ..
        } = a
        {
            assert!(u.encoded_len() <= ilp_connector::ccp::MAX_UPDATE_DATA_LEN);
            assert_eq!(UpdateRequest::decode(&u.encode()).unwrap(), u);
        }
    }
    for (prefix, e) in s.forwarding_table() {
        assert!(!prefix.is_empty());
        if let ilp_connector::ccp::NextHop::Peer(p) = &e.next_hop {
            assert_ne!(&**p, "x", "routes through a peer that is down");
        }
    }
    true
}
