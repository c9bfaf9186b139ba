//! CCP, the connector-to-connector route broadcast protocol: the codec
//! ([`codec`]) and a sans-IO speaker / routing information base
//! ([`speaker`]). Pure: no I/O, no clock, no tasks.
//!
//! CCP has no RFC. Its de-facto specification is interledgerjs/interledgerjs
//! `packages/ilp-protocol-ccp` (codec) and interledgerjs/ilp-connector
//! `src/services/route-broadcaster.ts` and `src/routing/*` (behaviour), with
//! interledger/interledger-rs `crates/interledger-ccp` as a second
//! implementation; the byte vectors of both are in `tests/vectors/ccp.json`.
//!
//! # How a node drives the speaker
//!
//! One [`Speaker`] per node, owned by one task (or behind a mutex); every
//! call takes `now`, a monotonic [`Millis`] (e.g. `Instant` elapsed since the
//! node's start), and queues [`Action`]s the node takes with
//! [`Speaker::take_actions`] after each call.
//!
//! - **Start**: [`Speaker::new`] with [`SpeakerConfig`] (our address, a
//!   random [`RoutingTableId`] and routing secret per start,
//!   broadcast interval and hold-down from configuration, defaults
//!   [`DEFAULT_BROADCAST_INTERVAL`], [`DEFAULT_HOLD_DOWN`]), then
//!   [`Speaker::set_static_routes`] with `ILP_ROUTES` and the config file's
//!   routes (again whenever they change). With routing set to static, do not
//!   call `link_up` with `receive_routes`, or skip the speaker entirely.
//! - **Link authenticated** (after BTP auth, before any packet from the link
//!   is handled): [`Speaker::link_up`] with the peer id and [`PeerLink`]
//!   (relation, the per-peer send/receive switches, for a child its
//!   prefix `<our address>.<child>`). The speaker at once emits a route
//!   control (sync) to the peer if we receive from it; retries a rejected
//!   one after [`CONTROL_RETRY_MIN`], doubling up to [`CONTROL_RETRY_MAX`]
//!   (the JS connector rejects a control from a link it has not finished
//!   registering and retries its own only after 30 s).
//! - **Link closed**: [`Speaker::link_down`]. Its learned routes are dropped
//!   at once, the forwarding table moves to the best alternative (emitted as
//!   [`Action::Route`]) and withdrawals go to the other peers.
//! - **Prepare to `peer.route.control` or `peer.route.update`**
//!   ([`codec::is_ccp_destination`]): handled locally, never forwarded and
//!   never routed; answer it with [`Speaker::answer_prepare`] (decodes,
//!   checks the fixed condition, SHA-256 of 32 zero bytes, and the expiry
//!   against the wall clock, applies it) which returns the Fulfill (32 zero
//!   bytes, empty data) or the Reject (F01 malformed, F00 not a peer or not
//!   allowed, R00 expired; triggered by our address) to send back on the
//!   same link. Other `peer.*` destinations are not CCP's business.
//! - **[`Action::Send`]**: encode with [`CcpRequest::to_prepare`] (expiry
//!   wall clock + [`codec::CCP_REQUEST_EXPIRY`]), send it on the peer's link
//!   as a request, and when the reply comes call [`Speaker::sent_result`]
//!   with the action's token: `ok` for a Fulfill passing
//!   [`codec::is_valid_response`], false for a Reject, a timeout or a link
//!   that was down. At most one update and one control are in flight per
//!   peer; the next one is emitted from `sent_result`.
//! - **[`Action::Route`]**: apply to the forwarding table (prefix -> next
//!   hop, or removal). [`Speaker::forwarding_table`] and
//!   [`Speaker::lookup`] give the whole table; [`Speaker::peer_status`],
//!   [`Speaker::routing_table_id`] and [`Speaker::current_epoch`] feed a
//!   `/routes` report.
//! - **Timer**: call [`Speaker::tick`] at [`Speaker::next_wakeup`] (or on a
//!   fixed short period, e.g. every 100 ms): heartbeats every broadcast
//!   interval, route expiry after the peer's hold-down, retries.
//!
//! # Semantics
//!
//! - Our table has an id and epochs: every change of what we advertise for a
//!   prefix takes the next epoch; the log keeps one entry per prefix (its
//!   latest change, a withdrawal included), so an update from a peer's epoch
//!   is incremental and a peer with an unknown table id or an epoch ahead of
//!   ours gets everything from epoch 0. Updates are batched
//!   ([`UPDATE_BATCH_ROUTES`], [`MAX_UPDATE_DATA_LEN`]); the next batch goes
//!   as soon as the previous one is answered; a change is sent at once, a
//!   heartbeat when the broadcast interval passed.
//! - Each peer's table is tracked (id, epoch): an update applies only if its
//!   from-epoch is at most what we have; a gap is acknowledged but triggers a
//!   route control (sync, our table id and epoch) asking for a resync. A new
//!   table id marks that peer's routes stale: they keep forwarding until the
//!   peer's update reaches its current epoch, then the stale ones go.
//! - Learned routes expire after the hold-down the peer announced (bumped
//!   on every update, at least [`speaker::MIN_HOLD_DOWN`]); then we ask
//!   again with a route control.
//! - Routes are refused when their path holds our address, when their
//!   prefix is our address or under it, when the prefix is a bare scheme
//!   (`g`: a default route is only configured), or when the path is empty.
//! - Preference: static, then local (our address, children), then learned:
//!   the shortest path, then the smallest peer id. Every peer's routes are
//!   kept, so a link that drops fails over with no broadcast round.
//! - Split horizon: a prefix whose best route goes through a peer is sent
//!   to that peer as withdrawn. We advertise `[our address] + path`; the
//!   auth of a learned route is SHA-256 of the one received (as the JS
//!   connector does), of our own routes HMAC-SHA256(secret, prefix).
//!   Prefixes under our address (children) are not advertised: our address
//!   covers them. Children get no routes unless their switch says so.
//! - Memory per peer is bounded ([`MAX_ROUTES_PER_PEER`],
//!   [`MAX_LEARNED_BYTES_PER_PEER`]; excess ignored, logged once), and so is
//!   the log ([`MAX_TOMBSTONES`]: past it the table starts over with a new
//!   id).
//! - Loops: a single change (one link down or up) makes no forwarding
//!   cycle at any step of convergence (tested on a 4-ring). After several
//!   concurrent changes, while updates are still in flight, a transient
//!   cycle can form between nodes acting on each other's superseded
//!   advertisements (seen here: two nodes, and three in a harsher delivery
//!   order); a packet caught in one expires (R02/R00), or in a two-node one
//!   is refused by the forwarding core (never sent back on the link it came
//!   from). Settled states are loop-free (tested on a flapping 6-ring).
//! - As the JS connector, a parent gets no routes through our peers or
//!   parents (withdrawn instead), only ours and our children's.
//! - Not done: the JS connector's DRAGON filtering and its relation
//!   weighting of learned routes (parent < peer < child before path
//!   length); route properties are decoded and re-encoded but never acted
//!   upon.

pub mod codec;
pub mod speaker;

pub use codec::{
    CcpError, CcpRequest, ControlRequest, Mode, Route, RouteProp, RoutingTableId, UpdateRequest,
    is_ccp_destination,
};
pub use speaker::{
    Action, CONTROL_RETRY_MAX, CONTROL_RETRY_MIN, DEFAULT_BROADCAST_INTERVAL, DEFAULT_HOLD_DOWN,
    ForwardingEntry, MAX_LEARNED_BYTES_PER_PEER, MAX_ROUTES_PER_PEER, MAX_TOMBSTONES,
    MAX_UPDATE_DATA_LEN, Millis, NextHop, Origin, PeerId, PeerLink, PeerStatus, Relation, Speaker,
    SpeakerConfig, UPDATE_BATCH_ROUTES,
};
