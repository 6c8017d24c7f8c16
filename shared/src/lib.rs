//! `siso-shared`: what the node and the hub must agree on — domain vocabulary, the codice
//! fiscale, the Comuni of Umbria, member identities, pseudonymous fingerprints and the wire
//! protocol.
//!
//! **Invariant:** this crate does no I/O: no sockets, no files, no async runtime, no storage.
//! `.ci/run` fails if `cargo tree -p siso-shared -e normal` lists tokio, quinn, sled or any
//! socket or filesystem crate. Reference data is compiled in with `include_str!`.

pub mod belfiore;
pub mod cf;
pub mod comuni;
pub mod fingerprint;
pub mod identity;
pub mod oprf;
pub mod vocab;
pub mod wire;

pub use cf::{CfError, CodiceFiscale, Sex};
pub use fingerprint::{EpochKey, Fingerprint, FingerprintSecret};
pub use identity::{IdentityError, MemberId};
pub use vocab::{AgeBand, AreaBisogno, HouseholdType, Role, TipoIntervento};

/// The software version of every siso binary.
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
