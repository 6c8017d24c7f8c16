//! The shared test harness lives in the end-to-end crate; the hub's own integration tests
//! include the same file.

#[path = "../../../tests/src/harness.rs"]
mod harness;
pub use harness::*;
