//! Fuzz target: the key service's request and reply decoders, and a service's evaluation of
//! whatever decodes, must return errors on bad bytes and never panic. Run: `cargo +nightly fuzz
//! run oprf_frame -- -max_total_time=60` in `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siso_shared::oprf::wire::{decode_reply, decode_request, encode, KeyRequest};
use siso_shared::oprf::{deal_random, evaluate_share_random};

fuzz_target!(|data: &[u8]| {
    let _ = decode_reply(data);
    if let Ok(req) = decode_request(data) {
        // Whatever decodes re-encodes to the same bytes.
        let frame = encode(&req).expect("a decoded request re-encodes");
        assert_eq!(&frame[4..], data);
        if let KeyRequest::Evaluate { body, .. } = req {
            let mut n = 0u8;
            let mut random = |b: &mut [u8; 64]| {
                n = n.wrapping_add(1);
                b.fill(n | 1);
            };
            let (shares, _) = deal_random(2026, 3, 2, &mut random).expect("deal");
            let _ = evaluate_share_random(&shares[0], &body, &mut random);
        }
    }
});
