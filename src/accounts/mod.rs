//! Money per link: what a peer owes us and what we owe it.
//!
//! - [`balance`]: the balance rules of one link (credit limits, pending
//!   packets both ways, settlement), pure and synchronous: no I/O, no clock,
//!   no locks. The owner of a link's balance holds it behind its own lock and
//!   makes it durable.

pub mod balance;
