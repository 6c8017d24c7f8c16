//! Property tests of the frame decoder: arbitrary bytes, truncations and bit flips of valid
//! frames give an error or a message — never a panic, never an unbounded allocation. The CI
//! bound is proptest's default case count; `PROPTEST_CASES` raises it.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use proptest::prelude::*;
use siso_shared::wire::*;

#[path = "wire_golden.rs"]
#[allow(dead_code)]
mod golden;

fn valid_frames() -> Vec<Vec<u8>> {
    golden::samples()
        .into_iter()
        .map(|(_, m)| encode(&m).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame(&bytes);
        let _ = decode_body(&bytes);
        let _ = siso_shared::oprf::wire::decode_request(&bytes);
        let _ = siso_shared::oprf::wire::decode_reply(&bytes);
    }

    #[test]
    fn mutated_key_service_requests_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        use siso_shared::oprf::wire::{decode_request, encode, Evaluate, KeyRequest};
        let frame = encode(&KeyRequest::Evaluate {
            version: 1,
            body: Evaluate { epoch: 2026, set: vec![1, 2], blinded: vec![siso_shared::oprf::Element([9; 32]); 3] },
        })
        .unwrap();
        let mut body = frame[4..].to_vec();
        for (pos, val) in flips {
            let n = body.len();
            body[pos % n] ^= val;
        }
        let _ = decode_request(&body);
        let _ = decode_request(&body[..cut % (body.len() + 1)]);
    }

    #[test]
    fn mutated_frames_never_panic(idx in 0usize..12, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let frames = valid_frames();
        let mut f = frames[idx % frames.len()].clone();
        for (pos, val) in flips {
            let n = f.len();
            f[pos % n] ^= val;
        }
        let _ = decode_frame(&f);
        let _ = decode_body(&f[4.min(f.len())..]);
        let c = cut % (f.len() + 1);
        let _ = decode_frame(&f[..c]);
    }

    #[test]
    fn huge_inner_lengths_are_refused(idx in 0usize..12, pos in any::<usize>()) {
        // Write 0xFF.. over 8 bytes somewhere in the body: any length field it hits announces
        // an enormous container, which must be refused without allocating it.
        let frames = valid_frames();
        let mut f = frames[idx % frames.len()].clone();
        let body_len = f.len() - 4;
        if body_len >= 8 {
            let p = 4 + pos % (body_len - 7);
            f[p..p + 8].copy_from_slice(&[0xff; 8]);
            let _ = decode_frame(&f);
        }
    }
}

#[test]
fn every_sample_round_trips() {
    for (name, m) in golden::samples() {
        let f = encode(&m).unwrap();
        let (back, used) = decode_frame(&f).unwrap().unwrap();
        assert_eq!(used, f.len(), "{name}");
        assert_eq!(back, m, "{name}");
    }
}

proptest! {
    /// The tail of a `SubmitBatch` body is the encoding of its last three fields: what the hub
    /// stores without encoding the records again.
    #[test]
    fn submit_batch_tail_is_the_encoding_of_its_last_fields(
        member in prop_oneof![Just("054039"), Just("ets-caritas-perugia"), Just("055032")],
        snapshot in any::<bool>(),
        n in 0usize..5,
        persons in 0usize..4,
        removes in 0usize..3,
        seed in any::<u8>(),
    ) {
        let fp = |i: usize| siso_shared::Fingerprint([seed.wrapping_add(i as u8); 32]);
        let b = SubmitBatch {
            member: member.parse().unwrap(),
            epoch: 2026,
            batch_id: BatchId([seed; 16]),
            scheme: siso_shared::wire::Scheme::SharedKey,
            snapshot,
            add: (0..n)
                .map(|i| HouseholdRecord {
                    key: fp(100 + i),
                    persons: (0..persons).map(|p| fp(p + i)).collect(),
                    interventions: vec![],
                    flags: RecordFlags { latent_need: i % 2 == 0, non_resident: false },
                })
                .collect(),
            remove: (0..removes).map(fp).collect(),
        };
        let body = encode_value(&Message::SubmitBatch(b.clone())).unwrap();
        let tail = submit_batch_tail(&body, &b).unwrap();
        let want = encode_value(&(b.snapshot, b.add.clone(), b.remove.clone())).unwrap();
        prop_assert_eq!(tail, want.as_slice());
        // Another batch's body does not pass for this one's.
        let mut other = b.clone();
        other.epoch = 2025;
        prop_assert!(submit_batch_tail(&body, &other).is_none());
    }
}
