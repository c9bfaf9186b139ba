//! ILDCP, the Interledger Dynamic Configuration Protocol (RFC 31): how a child
//! learns its ILP address and asset from its parent.
//!
//! The request is a Prepare to [`ILDCP_DESTINATION`] for amount 0 with
//! condition [`peer_protocol_condition`] and empty data. The answer is a
//! Fulfill with fulfillment [`PEER_PROTOCOL_FULFILLMENT`] whose data is
//! [`IldcpResponse::encode`]: var-octet client address, u8 asset scale,
//! var-octet asset code (UTF-8).

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::address::Address;
use crate::condition::sha256;
use crate::oer::{self, Reader};
use crate::packet::{Fulfill, ParseError, Prepare};

/// Destination of ILDCP requests.
pub const ILDCP_DESTINATION: &str = "peer.config";

/// Fulfillment of peer protocol requests: 32 zero bytes.
pub const PEER_PROTOCOL_FULFILLMENT: [u8; 32] = [0; 32];

/// The condition of peer protocol requests: SHA-256 of
/// [`PEER_PROTOCOL_FULFILLMENT`]
/// (`66687aad...0d5f2925`).
pub fn peer_protocol_condition() -> [u8; 32] {
    sha256(&PEER_PROTOCOL_FULFILLMENT)
}

/// What a parent tells its child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IldcpResponse {
    /// The child's ILP address.
    pub client_address: Address,
    /// Asset scale of the link (e.g. 9).
    pub asset_scale: u8,
    /// Asset code of the link (e.g. `XRP`).
    pub asset_code: String,
}

impl IldcpResponse {
    /// The Fulfill data: var-octet address, u8 scale, var-octet asset code.
    pub fn encode(&self) -> Bytes {
        let len = oer::var_octets_len(self.client_address.len())
            + 1
            + oer::var_octets_len(self.asset_code.len());
        let mut buf = BytesMut::with_capacity(len);
        oer::write_var_octets(&mut buf, self.client_address.as_bytes());
        buf.put_u8(self.asset_scale);
        oer::write_var_octets(&mut buf, self.asset_code.as_bytes());
        buf.freeze()
    }

    /// Parses the Fulfill data strictly: canonical lengths, a valid address,
    /// a UTF-8 asset code, no trailing bytes.
    pub fn decode(data: Bytes) -> Result<Self, ParseError> {
        let mut r = Reader::from_bytes(&data);
        let raw = r.read_var_octets("clientAddress")?;
        let client_address = Address::from_ascii(raw).map_err(|e| ParseError::Invalid {
            field: "clientAddress",
            reason: e.to_string(),
        })?;
        let asset_scale = r.read_u8("assetScale")?;
        let asset_code = std::str::from_utf8(r.read_var_octets("assetCode")?)
            .map_err(|_| ParseError::Invalid {
                field: "assetCode",
                reason: "not UTF-8".into(),
            })?
            .to_owned();
        r.finish("assetCode")?;
        Ok(IldcpResponse {
            client_address,
            asset_scale,
            asset_code,
        })
    }

    /// Parses the response carried by a Fulfill, checking that its
    /// fulfillment is [`PEER_PROTOCOL_FULFILLMENT`].
    pub fn from_fulfill(fulfill: &Fulfill) -> Result<Self, ParseError> {
        if fulfill.fulfillment != PEER_PROTOCOL_FULFILLMENT {
            return Err(ParseError::Invalid {
                field: "fulfillment",
                reason: "not the peer protocol fulfillment (32 zero bytes)".into(),
            });
        }
        IldcpResponse::decode(fulfill.data.clone())
    }
}

/// An ILDCP request expiring at `expires_at` (the JS client uses now + 60 s).
pub fn request(expires_at: DateTime<Utc>) -> Prepare {
    Prepare {
        amount: 0,
        expires_at,
        execution_condition: peer_protocol_condition(),
        destination: Address::new(ILDCP_DESTINATION).expect("peer.config is a valid address"),
        data: Bytes::new(),
    }
}

/// Whether `p` is an ILDCP request: destination [`ILDCP_DESTINATION`] and
/// condition [`peer_protocol_condition`] (what the JS server checks; amount
/// and data are not looked at, expiry is the caller's business).
pub fn is_request(p: &Prepare) -> bool {
    p.destination.as_str() == ILDCP_DESTINATION
        && p.execution_condition == peer_protocol_condition()
}

/// The Fulfill answering an ILDCP request with `resp`.
pub fn response_fulfill(resp: &IldcpResponse) -> Fulfill {
    Fulfill {
        fulfillment: PEER_PROTOCOL_FULFILLMENT,
        data: resp.encode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oer::OerError;

    // Vectors from interledgerjs/interledgerjs
    // packages/ilp-protocol-ildcp/test/index.spec.ts.
    const REQUEST_HEX: &str = "0c460000000000000000323031353036313630303031303030303066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f29250b706565722e636f6e66696700";
    const RESPONSE_HEX: &str = "0d350000000000000000000000000000000000000000000000000000000000000000140e6578616d706c652e636c69656e740d0358414d";

    fn example() -> IldcpResponse {
        IldcpResponse {
            client_address: Address::new("example.client").unwrap(),
            asset_scale: 13,
            asset_code: "XAM".into(),
        }
    }

    #[test]
    fn request_matches_js() {
        let at = DateTime::from_timestamp_millis(1_434_412_860_000).unwrap();
        let p = request(at);
        assert_eq!(hex::encode(p.encode()), REQUEST_HEX);
        let back = Prepare::decode(hex::decode(REQUEST_HEX).unwrap().into()).unwrap();
        assert!(is_request(&back));
        assert_eq!(back, p);
    }

    #[test]
    fn response_matches_js() {
        let f = response_fulfill(&example());
        assert_eq!(hex::encode(f.encode()), RESPONSE_HEX);
        let back = Fulfill::decode(hex::decode(RESPONSE_HEX).unwrap().into()).unwrap();
        assert_eq!(IldcpResponse::from_fulfill(&back).unwrap(), example());
    }

    #[test]
    fn rejects_wrong_requests_and_responses() {
        let at = DateTime::from_timestamp_millis(0).unwrap();
        let mut p = request(at);
        p.destination = Address::new("peer.bonfig").unwrap();
        assert!(!is_request(&p));
        let mut p = request(at);
        p.execution_condition[0] ^= 1;
        assert!(!is_request(&p));

        let mut f = response_fulfill(&example());
        f.fulfillment[16] = 0x10;
        assert!(IldcpResponse::from_fulfill(&f).is_err());

        let good = example().encode();
        for i in 0..good.len() {
            assert!(IldcpResponse::decode(good.slice(..i)).is_err(), "{i}");
        }
        let mut v = good.to_vec();
        v.push(0);
        assert_eq!(
            IldcpResponse::decode(v.into()).unwrap_err(),
            ParseError::Oer(OerError::TrailingBytes("assetCode"))
        );
        assert!(IldcpResponse::decode(Bytes::from_static(b"\x04g.a!\x09\x03XRP")).is_err());
        assert!(IldcpResponse::decode(Bytes::from_static(b"\x00\x09\x03XRP")).is_err());
        assert!(IldcpResponse::decode(Bytes::from_static(b"\x03g.a\x09\x01\xff")).is_err());
    }

    #[test]
    fn condition_constant() {
        assert_eq!(
            hex::encode(peer_protocol_condition()),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }
}
