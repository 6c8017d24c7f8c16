//! Oblivious fingerprints: RFC 9497 VOPRF (ristretto255-SHA512) with a 2-of-3 threshold key.
//!
//! A node blinds each codice fiscale, asks two key services (`siso-keyd`) to evaluate the blinded
//! elements with their key shares, verifies each service's batch proof against that service's
//! public verification key, adds the two evaluations (the services already weighted their shares
//! with the Lagrange coefficient of the pair, at zero) and unblinds: the result is the PRF of the
//! whole epoch key, which no party holds. The person fingerprint is that output through BLAKE3
//! `derive_key` ([`crate::fingerprint::person_of_oprf`]).
//!
//! - [`suite`]: the RFC's primitives (hash to group, blind, evaluate with a batch proof, verify,
//!   finalise).
//! - [`threshold`]: Shamir shares of an epoch key, Lagrange coefficients, the public
//!   verification keys, one service's evaluation and the node's combination ([`Pending`]).
//! - [`wire`]: the key service's protocol (ALPN `siso-oprf/1`), one request per stream.
//!
//! **Invariant:** a key share never prints (redacted `Debug`) and is not `Serialize`; the key
//! service sees only blinded elements, uniformly random and independent of the input.

pub mod suite;
pub mod threshold;
pub mod wire;

#[cfg(test)]
mod tests;

use curve25519_dalek::scalar::Scalar;
use serde::{Deserialize, Serialize};

pub use threshold::{
    deal_random, evaluate_share, evaluate_share_random, lagrange_at_zero, KeyShare, Pending,
    ShareFailure, ShareKey, VerificationKeys,
};

/// A serialised ristretto255 group element (32 bytes, RFC 9496 encoding).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Element(pub [u8; 32]);

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({}…)", hex::encode(&self.0[..4]))
    }
}

/// A DLEQ proof: the challenge `c` and response `s`, little-endian scalars (RFC 9497 §2.2).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Challenge.
    pub c: [u8; 32],
    /// Response.
    pub s: [u8; 32],
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proof({}…)", hex::encode(&self.c[..4]))
    }
}

impl Proof {
    /// From the two scalars.
    pub fn from_scalars(c: &Scalar, s: &Scalar) -> Proof {
        Proof {
            c: c.to_bytes(),
            s: s.to_bytes(),
        }
    }

    /// The two scalars, if both are canonical encodings.
    pub fn scalars(&self) -> Option<(Scalar, Scalar)> {
        let c = Option::<Scalar>::from(Scalar::from_canonical_bytes(self.c))?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(self.s))?;
        Some((c, s))
    }

    /// The 64-byte form `c || s` of the RFC's test vectors.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&self.c);
        b[32..].copy_from_slice(&self.s);
        b
    }
}

/// OPRF errors (no I/O in them: the key service and the node wrap them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OprfError {
    /// Element `i` of a batch is not a valid non-identity ristretto255 encoding.
    #[error("element {0} of the batch is not a valid group element")]
    BadElement(usize),
    /// A batch proof does not verify.
    #[error("the batch proof does not verify")]
    BadProof,
    /// Lists of a batch have different lengths.
    #[error("the lists of a batch have different lengths")]
    BatchMismatch,
    /// More than 65,535 elements in one batch (the RFC's composite index is 16 bits).
    #[error("batch larger than 65535 elements")]
    BatchTooLarge,
    /// A share set or share index that cannot be used.
    #[error("key shares: {0}")]
    Shares(String),
    /// Something else malformed.
    #[error("{0}")]
    Malformed(String),
}
