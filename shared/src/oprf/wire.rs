//! The key service's protocol, `siso-oprf/1`: one request per bidirectional QUIC stream, framed
//! and encoded exactly as the hub's protocol ([`crate::wire::codec`]: `u32` length, bincode with
//! the one set of options), with its own message types. Errors reuse [`WireError`].
//!
//! **Invariant:** requests carry only blinded elements, an epoch and the set of shares asked;
//! nothing in them depends on a codice fiscale except through a uniformly random blind.

use serde::{Deserialize, Serialize};

use super::{Element, Proof};
use crate::wire::{decode_value, encode_frame_of, CodecError, WireError, EPOCHS, MAX_FRAME};

/// ALPN of the key service.
pub const ALPN: &[u8] = b"siso-oprf/1";
/// Version of the key service's protocol, carried in every request.
pub const OPRF_PROTOCOL_VERSION: u16 = 1;
/// Most elements in one request (the RFC's composite index is 16 bits; 2 MiB of elements).
pub const MAX_BATCH: usize = 65_535;

/// A request to a key service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRequest {
    /// Evaluate blinded elements with this service's share.
    Evaluate {
        /// The client's protocol version.
        version: u16,
        /// What to evaluate.
        body: Evaluate,
    },
    /// The caller's budget for an epoch.
    Budget {
        /// The client's protocol version.
        version: u16,
        /// The epoch.
        epoch: u16,
    },
}

/// Blinded elements to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluate {
    /// The epoch whose key share to use.
    pub epoch: u16,
    /// The share indices the node asks (this service's among them): the Lagrange set.
    pub set: Vec<u8>,
    /// The blinded elements.
    pub blinded: Vec<Element>,
}

/// A service's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyReply {
    /// The evaluations, in request order, with one batch proof.
    Evaluated(Evaluated),
    /// The caller's budget.
    Budget(Budget),
    /// Refused or failed.
    Error(WireError),
}

/// One service's evaluations of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluated {
    /// The share that evaluated (the service's index).
    pub share: u8,
    /// `λ_i k_i · M` for every blinded element `M`.
    pub evaluated: Vec<Element>,
    /// The batch DLEQ proof against `λ_i · P_i`.
    pub proof: Proof,
}

/// A member's budget for an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The epoch.
    pub epoch: u16,
    /// Evaluations spent.
    pub used: u64,
    /// Evaluations allowed.
    pub limit: u64,
    /// Evaluations allowed per minute.
    pub per_minute: u64,
}

impl KeyRequest {
    /// Semantic checks beyond decoding.
    pub fn validate(&self) -> Result<(), String> {
        let (version, epoch) = match self {
            KeyRequest::Evaluate { version, body } => {
                if body.blinded.is_empty() || body.blinded.len() > MAX_BATCH {
                    return Err(format!("a batch must hold 1 to {MAX_BATCH} elements"));
                }
                if body.set.is_empty() || body.set.len() > 16 {
                    return Err("the share set must name 1 to 16 shares".into());
                }
                (*version, body.epoch)
            }
            KeyRequest::Budget { version, epoch } => (*version, *epoch),
        };
        if version != OPRF_PROTOCOL_VERSION {
            return Err(format!(
                "key service protocol version {version} not supported (this side speaks {OPRF_PROTOCOL_VERSION})"
            ));
        }
        if !EPOCHS.contains(&epoch) {
            return Err(format!("epoch {epoch} out of range"));
        }
        Ok(())
    }
}

/// Encodes a request or reply as a frame.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, CodecError> {
    encode_frame_of(v)
}

/// Decodes a request body (without its header) and validates it.
pub fn decode_request(body: &[u8]) -> Result<KeyRequest, CodecError> {
    check_len(body)?;
    let r: KeyRequest = decode_value(body)?;
    r.validate().map_err(CodecError::Malformed)?;
    Ok(r)
}

/// Decodes a reply body (without its header).
pub fn decode_reply(body: &[u8]) -> Result<KeyReply, CodecError> {
    check_len(body)?;
    decode_value(body)
}

fn check_len(body: &[u8]) -> Result<(), CodecError> {
    if body.len() > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    Ok(())
}
