//! `siso-tests`: the end-to-end test harness (a PKI, a hub and nodes on loopback) and the
//! end-to-end tests in `tests/`.

pub mod cartella_bench;
pub mod demo;
pub mod harness;
pub mod keyd;
pub mod loadgen;
pub mod oprf_bench;
pub mod overlap_bench;
pub mod synth;
