//! ILP packets (and ILDCP, which rides in them): whatever decodes re-encodes
//! to the same bytes, and decodes again to the same value.
#![no_main]

use bytes::Bytes;
use ilp_connector::ildcp::IldcpResponse;
use ilp_connector::packet::{Fulfill, Packet, Prepare, Reject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(packet) = Packet::decode(bytes.clone()) {
        let encoded = packet.encode();
        assert_eq!(&encoded[..], data, "decode then encode changed the bytes");
        assert_eq!(Packet::decode(encoded).unwrap(), packet);
    }
    // The typed decoders agree with the dispatching one.
    if let Ok(p) = Prepare::decode(bytes.clone()) {
        assert_eq!(&p.encode()[..], data);
    }
    if let Ok(f) = Fulfill::decode(bytes.clone()) {
        assert_eq!(&f.encode()[..], data);
        let _ = IldcpResponse::decode(f.data);
    }
    if let Ok(r) = Reject::decode(bytes.clone()) {
        assert_eq!(&r.encode()[..], data);
        let _ = r.message_lossy();
    }
    // ILDCP response data on its own.
    if let Ok(r) = IldcpResponse::decode(bytes) {
        assert_eq!(&r.encode()[..], data, "ILDCP response round trip");
    }
});
