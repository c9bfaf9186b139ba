//! Conditions and fulfillments: SHA-256 and the STREAM-style HMAC derivation
//! (RFC 29) used by the built-in test receiver and `ilp-connector send`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The string STREAM (RFC 29) mixes into the shared secret to get the HMAC key
/// from which fulfillments are derived.
pub const FULFILLMENT_GENERATION_STRING: &[u8] = b"ilp_stream_fulfillment";

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The condition a fulfillment satisfies: SHA-256(fulfillment).
pub fn condition_of(fulfillment: &[u8; 32]) -> [u8; 32] {
    sha256(fulfillment)
}

/// A receiver's fulfillment key, derived from its secret as STREAM derives it:
/// HMAC-SHA256(secret, "ilp_stream_fulfillment"). Kept as an HMAC already
/// keyed with it, so each fulfillment hashes only the packet data.
#[derive(Clone)]
pub struct FulfillmentKey(Hmac<Sha256>);

impl FulfillmentKey {
    /// Derives the key from a shared secret.
    pub fn from_secret(secret: &[u8]) -> Self {
        let key = hmac_sha256(secret, FULFILLMENT_GENERATION_STRING);
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes keys of any length"),
        )
    }

    /// The fulfillment of a packet carrying `data`: HMAC-SHA256(key, data).
    pub fn fulfillment(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The condition of a packet carrying `data`.
    pub fn condition(&self, data: &[u8]) -> [u8; 32] {
        condition_of(&self.fulfillment(data))
    }
}

impl std::fmt::Debug for FulfillmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FulfillmentKey(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_zero_fulfillment_is_the_ildcp_condition() {
        // RFC 31: the ILDCP condition is SHA-256 of 32 zero bytes.
        assert_eq!(
            hex::encode(condition_of(&[0u8; 32])),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn fulfillment_is_hmac_of_data_under_the_stream_key() {
        let key = hmac_sha256(b"secret", FULFILLMENT_GENERATION_STRING);
        let f = FulfillmentKey::from_secret(b"secret");
        assert_eq!(f.fulfillment(b"data"), hmac_sha256(&key, b"data"));
        assert_eq!(f.fulfillment(b"data"), f.fulfillment(b"data"));
    }

    #[test]
    fn condition_matches_fulfillment_and_differs_by_data() {
        let key = FulfillmentKey::from_secret(b"secret");
        let f = key.fulfillment(b"one");
        assert_eq!(key.condition(b"one"), sha256(&f));
        assert_ne!(key.condition(b"one"), key.condition(b"two"));
        assert_eq!(format!("{key:?}"), "FulfillmentKey(<hidden>)");
    }
}
