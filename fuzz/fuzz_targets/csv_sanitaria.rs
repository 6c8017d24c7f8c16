//! Fuzz target: the `sanitaria` CSV import driver never panics and a failed import writes nothing.
//! Run: `cargo +nightly fuzz run csv_sanitaria -- -max_total_time=60` in `fuzz/`.
#![no_main]

#[path = "../src/csv_driver.rs"]
mod csv_driver;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    csv_driver::run(siso_node::import::ImportKind::Sanitaria, data);
});
