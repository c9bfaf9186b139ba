//! Codec micro-benchmarks: ILP Prepare/Fulfill/Reject and BTP frames, encode
//! and decode, with packets of the size the end-to-end benchmark sends
//! (`ilp-connector send` defaults: 32 bytes of data to `g.connector-c.receiver`).
//! Also the per-packet crypto of the test receiver and of every hop.
//!
//! `cargo bench --bench codec` (scripts/bench.sh runs it with short timings).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ilp_connector::address::Address;
use ilp_connector::btp::{self, Frame, TYPE_MESSAGE};
use ilp_connector::condition::{FulfillmentKey, sha256};
use ilp_connector::packet::{ErrorCode, Fulfill, Prepare, Reject};

fn prepare() -> Prepare {
    let key = FulfillmentKey::from_secret(b"receiver-secret");
    let data = Bytes::from(vec![0x5a; 32]);
    Prepare {
        amount: 1,
        expires_at: Utc::now() + TimeDelta::seconds(30),
        execution_condition: key.condition(&data),
        destination: Address::new("g.connector-c.receiver").unwrap(),
        data,
    }
}

fn fulfill() -> Fulfill {
    Fulfill {
        fulfillment: [7; 32],
        data: Bytes::new(),
    }
}

fn reject() -> Reject {
    Reject {
        code: ErrorCode::F02_UNREACHABLE,
        triggered_by: Some(Address::new("g.connector-b").unwrap()),
        message: Bytes::from_static(b"no route to destination"),
        data: Bytes::new(),
    }
}

fn packets(c: &mut Criterion) {
    let mut g = c.benchmark_group("ilp");
    let (p, f, r) = (prepare(), fulfill(), reject());
    let (pb, fb, rb) = (p.encode(), f.encode(), r.encode());
    g.bench_function("prepare_encode", |b| b.iter(|| black_box(&p).encode()));
    g.bench_function("prepare_decode", |b| {
        b.iter(|| Prepare::decode(black_box(&pb).clone()).unwrap())
    });
    g.bench_function("fulfill_encode", |b| b.iter(|| black_box(&f).encode()));
    g.bench_function("fulfill_decode", |b| {
        b.iter(|| Fulfill::decode(black_box(&fb).clone()).unwrap())
    });
    g.bench_function("reject_encode", |b| b.iter(|| black_box(&r).encode()));
    g.bench_function("reject_decode", |b| {
        b.iter(|| Reject::decode(black_box(&rb).clone()).unwrap())
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("btp");
    let ilp = prepare().encode();
    let frame = Frame::ilp_message(42, ilp.clone());
    let wire = frame.encode();
    g.bench_function("frame_encode", |b| b.iter(|| black_box(&frame).encode()));
    g.bench_function("frame_decode", |b| {
        b.iter(|| Frame::decode(black_box(&wire).clone()).unwrap())
    });
    g.bench_function("encode_ilp", |b| {
        b.iter(|| btp::encode_ilp(TYPE_MESSAGE, black_box(42), black_box(&ilp)))
    });
    g.bench_function("decode_ilp", |b| {
        b.iter(|| btp::decode_ilp(black_box(&wire)).unwrap())
    });
    g.finish();
}

fn crypto(c: &mut Criterion) {
    let mut g = c.benchmark_group("condition");
    let key = FulfillmentKey::from_secret(b"receiver-secret");
    let data = [0x5a; 32];
    let fulfillment = key.fulfillment(&data);
    g.bench_function("receiver_fulfillment_hmac", |b| {
        b.iter(|| key.fulfillment(black_box(&data)))
    });
    g.bench_function("hop_check_sha256", |b| {
        b.iter(|| sha256(black_box(&fulfillment)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = packets, frames, crypto
}
criterion_main!(benches);
