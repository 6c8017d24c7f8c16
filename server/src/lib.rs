//! `siso-server`: the I/O helpers that both server processes, `siso-node` and `siso-hub`, need
//! in the same form. `siso-shared` may do no I/O, so what reads files or opens a store and is
//! common to both sides lives here, once:
//!
//! - [`chain`]: hash chains of append-only logs (the hub's message log, the node's audit trail);
//! - [`clock`]: the injectable clock;
//! - [`config`]: reading a TOML configuration file with typed errors (each side keeps its own
//!   schema, with `deny_unknown_fields`, and its own range checks);
//! - [`store`]: opening a sled database with its `meta` tree and checking the schema version
//!   (each side keeps its own trees, keys and values in its own `store.rs`).
//!
//! - [`systemd`]: readiness notifications for `Type=notify` units;
//! - [`tls`]: TLS material and the client-verifying server configuration of the QUIC servers;
//! - [`web`]: the operators' and analysts' web security layer — argon2id passwords, sessions
//!   with CSRF tokens, log-in throttling, the client-address rule behind a reverse proxy, and
//!   the security headers — which the node's web app and the hub's accounts both use.
//!
//! **Invariant:** this crate knows nothing of the node's or the hub's data: it depends on neither
//! and on no protocol type; both (and the key service) depend on it.

pub mod admin;
pub mod backup;
pub mod chain;
pub mod clock;
pub mod config;
pub mod store;
pub mod systemd;
pub mod tls;
pub mod web;
