//! Money on every link: the durable books ([`store`]) and their writer ([`journal`]).
pub mod journal;
pub mod store;
