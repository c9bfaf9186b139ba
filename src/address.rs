//! ILP addresses (RFC 15): validated strings such as `g.connector-a.receiver`.

/// Most characters an address may have.
pub const MAX_ADDRESS_LEN: usize = 1023;

/// A valid ILP address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}
