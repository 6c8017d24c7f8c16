//! The web layer both servers share (docs/ARCHITECTURE.md): the node's operators' app and the
//! hub's named accounts use the same password hashing, sessions, CSRF tokens, log-in throttling,
//! client-address rule and security headers, written once here.
//!
//! Everything here is storage-free and clock-free: the caller passes `now` and keeps accounts in
//! its own store; sessions live in memory ([`Sessions`]), so a restart of the process ends every
//! session cleanly (operators log in again; nothing half-valid survives).
//!
//! **Invariant:** no secret (password, session token, CSRF token, password hash) appears in a
//! `Debug` output or a log line; tokens are compared through their BLAKE3 hashes, in constant
//! time.

mod addr;
mod headers;
mod password;
mod session;
mod throttle;

pub use addr::{client_addr, TrustedProxies};
pub use headers::{security_headers, SecurityHeaders};
pub use password::{hash_password, verify_password, Password, PasswordError, PasswordHash};
pub use session::{random_token, Session, SessionLimits, Sessions};
pub use throttle::{LoginThrottle, ThrottleLimits, Verdict};
