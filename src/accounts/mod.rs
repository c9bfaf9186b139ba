//! Money per link: what a peer owes us and what we owe it.
//!
//! - [`balance`]: the balance rules of one link (credit limits, pending
//!   packets both ways, settlement), pure and synchronous: no I/O, no clock,
//!   no locks. The owner of a link's balance holds it behind its own lock and
//!   makes it durable.
//! - [`store`]: the durable books under `DATA_DIR` (SQLite, WAL,
//!   `synchronous=FULL`; chosen by measurement, BENCHMARKS.md "Durable books:
//!   store choice").
//! - [`journal`]: their one writer, a thread that groups the changes of many
//!   packets into one synced commit and then runs each packet's continuation.

pub mod balance;
pub mod journal;
pub mod store;
