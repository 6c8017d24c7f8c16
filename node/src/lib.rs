//! `siso-node`: the service a Comune (or an accredited third-sector entity) runs on its own
//! premises. See docs/ARCHITECTURE.md for the codemap.
//!
//! **Invariant:** personal data (codici fiscali, names, addresses) stays on the node; only
//! fingerprints and aggregates leave it.

pub mod accounts;
pub mod aggregates;
pub mod assess;
pub mod audit;
pub mod backup;
pub mod cartella;
pub mod check_cf;
pub mod client;
pub mod config;
pub mod devices;
pub mod household;
pub mod import;
pub mod model;
pub mod oprf;
pub mod persons;
pub mod report;
pub mod retention;
pub mod rules;
pub mod serve;
pub mod store;
pub mod sync;
pub mod web;
