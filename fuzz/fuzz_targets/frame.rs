//! Fuzz target: the frame decoder must return an error on bad bytes, never panic or allocate
//! without bound. Run: `cargo +nightly fuzz run frame -- -max_total_time=60` in `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siso_shared::wire;

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode_frame(data);
    if let Ok(msg) = wire::decode_body(data) {
        // Whatever decodes must re-encode and decode to itself.
        let frame = wire::encode(&msg).expect("a decoded message re-encodes");
        let (back, _) = wire::decode_frame(&frame).expect("re-decodes").expect("whole frame");
        assert_eq!(back, msg);
    }
});
