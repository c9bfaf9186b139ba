//! BTP frames: whatever decodes re-encodes to the same bytes; the one-copy
//! ILP fast path agrees with the full decoder.
#![no_main]

use bytes::Bytes;
use ilp_connector::btp::{self, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let decoded = Frame::decode(bytes.clone());
    if let Ok(frame) = &decoded {
        let encoded = frame.encode();
        assert_eq!(&encoded[..], data, "decode then encode changed the bytes");
        assert_eq!(&Frame::decode(encoded).unwrap(), frame);
        let _ = frame.auth_credentials();
    }
    if let Some((kind, request_id, ilp)) = btp::decode_ilp(&bytes) {
        let frame = decoded.expect("the fast path accepts only valid frames");
        assert_eq!(frame.frame_type(), kind);
        assert_eq!(frame.request_id(), request_id);
        assert_eq!(frame.ilp_data(), Some(&ilp));
        assert_eq!(&btp::encode_ilp(kind, request_id, &ilp)[..], data);
    }
});
