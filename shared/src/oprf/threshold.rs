//! Threshold evaluation: Shamir shares of an epoch's OPRF key, evaluated by separate services
//! and combined by the node (Lagrange interpolation in the exponent).
//!
//! The dealer draws the epoch key `k` and a random polynomial `f` of degree `t − 1` with
//! `f(0) = k`; service `i` holds `k_i = f(i)` and everyone may know `P_i = k_i · G` (the
//! verification keys) and `P = k · G`. For a request naming the set `S` of services asked, service
//! `i ∈ S` evaluates with `λ_i · k_i`, where `λ_i` is the Lagrange coefficient of `i` at zero over
//! `S`, and proves the evaluation against `λ_i · P_i`; the node checks each proof and adds the
//! evaluations: `Σ λ_i k_i · M = k · M`. Weighting at the service saves the node two scalar
//! multiplications per element and binds each answer to the set it was asked for.

use std::fmt;

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::suite;
use super::wire::{Evaluate, Evaluated};
use super::{Element, OprfError};

/// One service's share of an epoch key. Redacted in `Debug`, not `Serialize`, zeroed on drop.
pub struct KeyShare {
    epoch: u16,
    index: u8,
    key: Scalar,
}

impl Drop for KeyShare {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyShare {{ epoch: {}, index: {}, key: <redacted> }}",
            self.epoch, self.index
        )
    }
}

impl KeyShare {
    /// A share from its scalar (canonical little-endian bytes).
    pub fn from_bytes(epoch: u16, index: u8, bytes: [u8; 32]) -> Result<KeyShare, OprfError> {
        let key = Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes))
            .ok_or_else(|| OprfError::Shares("share key is not a canonical scalar".into()))?;
        if index == 0 || key == Scalar::ZERO {
            return Err(OprfError::Shares(
                "share index and key must not be zero".into(),
            ));
        }
        Ok(KeyShare { epoch, index, key })
    }

    /// The scalar's bytes, for the dealer writing the share file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The epoch.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// The share's index (the polynomial's argument, 1..=n).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The share's verification key `k_i · G`.
    pub fn public(&self) -> [u8; 32] {
        (&self.key * RISTRETTO_BASEPOINT_TABLE)
            .compress()
            .to_bytes()
    }
}

/// Splits `key` into `shares` Shamir shares with threshold `coefficients.len() + 1`. The caller
/// draws the key and the coefficients from the system's random generator and drops them after.
pub fn deal(
    epoch: u16,
    key: &Scalar,
    coefficients: &[Scalar],
    shares: u8,
) -> Result<Vec<KeyShare>, OprfError> {
    let threshold = coefficients.len() + 1;
    if threshold < 2 || threshold > usize::from(shares) {
        return Err(OprfError::Shares(format!(
            "threshold {threshold} must be at least 2 and at most the number of shares ({shares})"
        )));
    }
    (1..=shares)
        .map(|i| {
            // Horner: f(i) = k + a1·i + a2·i² + …
            let x = Scalar::from(i);
            let mut y = Scalar::ZERO;
            for a in coefficients.iter().rev() {
                y = (y + a) * x;
            }
            let key = y + key;
            if key == Scalar::ZERO {
                return Err(OprfError::Shares(
                    "a share came out zero: deal again".into(),
                ));
            }
            Ok(KeyShare {
                epoch,
                index: i,
                key,
            })
        })
        .collect()
}

/// Deals a fresh epoch key: draws the key and the polynomial from `random` (64 bytes each, the
/// system's generator), splits it, and returns the shares with their verification keys. The key
/// and the coefficients are zeroed before returning: only the shares remain.
pub fn deal_random(
    epoch: u16,
    shares: u8,
    threshold: u8,
    random: &mut dyn FnMut(&mut [u8; 64]),
) -> Result<(Vec<KeyShare>, VerificationKeys), OprfError> {
    let mut draw = || {
        let mut b = [0u8; 64];
        random(&mut b);
        let s = suite::scalar_from_random(&b);
        b.zeroize();
        s
    };
    let mut key = draw()?;
    let mut coefficients = (1..threshold.max(1))
        .map(|_| draw())
        .collect::<Result<Vec<Scalar>, _>>()?;
    let dealt = deal(epoch, &key, &coefficients, shares);
    let group = public_of(&key);
    key.zeroize();
    coefficients.zeroize();
    let dealt = dealt?;
    let keys = VerificationKeys::of(epoch, threshold, &group, &dealt);
    keys.check()?;
    Ok((dealt, keys))
}

/// [`evaluate_share`] with the proof's nonce drawn from `random` (the key service).
pub fn evaluate_share_random(
    share: &KeyShare,
    request: &Evaluate,
    random: &mut dyn FnMut(&mut [u8; 64]),
) -> Result<Evaluated, OprfError> {
    let mut b = [0u8; 64];
    random(&mut b);
    let r = suite::scalar_from_random(&b);
    b.zeroize();
    evaluate_share(share, request, r?)
}

/// The Lagrange coefficient of `i` at zero over the set `set` of distinct non-zero indices.
pub fn lagrange_at_zero(i: u8, set: &[u8]) -> Result<Scalar, OprfError> {
    check_set(set)?;
    if !set.contains(&i) {
        return Err(OprfError::Shares(format!(
            "share {i} is not in the set {set:?}"
        )));
    }
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for &j in set.iter().filter(|&&j| j != i) {
        num *= Scalar::from(j);
        den *= Scalar::from(j) - Scalar::from(i);
    }
    Ok(num * den.invert())
}

fn check_set(set: &[u8]) -> Result<(), OprfError> {
    let mut s = set.to_vec();
    s.sort_unstable();
    s.dedup();
    if s.len() != set.len() || s.contains(&0) || s.is_empty() {
        return Err(OprfError::Shares(format!(
            "share set {set:?} must list distinct non-zero indices"
        )));
    }
    Ok(())
}

/// One service's answer to an evaluation request (the key service calls this).
pub fn evaluate_share(
    share: &KeyShare,
    request: &Evaluate,
    proof_random: Scalar,
) -> Result<Evaluated, OprfError> {
    let lambda = lagrange_at_zero(share.index, &request.set)?;
    let key = lambda * share.key;
    let public = (&key * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
    let blinded = suite::decode_elements(&request.blinded)?;
    let (evaluated, proof) =
        suite::blind_evaluate(&key, &public, &blinded, &request.blinded, proof_random)?;
    Ok(Evaluated {
        share: share.index,
        evaluated,
        proof,
    })
}

/// The public verification keys of an epoch, written by the dealer and configured on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationKeys {
    /// The epoch.
    pub epoch: u16,
    /// Shares needed.
    pub threshold: u8,
    /// The whole key's public key `k · G`, hex.
    pub group_key: String,
    /// Each share's `k_i · G`, hex, by index.
    pub shares: Vec<ShareKey>,
}

/// One share's verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareKey {
    /// The share index.
    pub index: u8,
    /// `k_i · G`, hex.
    pub key: String,
}

fn point_of_hex(what: &str, h: &str) -> Result<RistrettoPoint, OprfError> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(h.trim(), &mut b)
        .map_err(|_| OprfError::Shares(format!("{what}: not 64 hexadecimal characters")))?;
    suite::decode_element(&Element(b))
        .ok_or_else(|| OprfError::Shares(format!("{what}: not a valid group element")))
}

impl VerificationKeys {
    /// Builds the keys of a dealt epoch.
    pub fn of(epoch: u16, threshold: u8, group: &RistrettoPoint, shares: &[KeyShare]) -> Self {
        VerificationKeys {
            epoch,
            threshold,
            group_key: hex::encode(group.compress().as_bytes()),
            shares: shares
                .iter()
                .map(|s| ShareKey {
                    index: s.index,
                    key: hex::encode(s.public()),
                })
                .collect(),
        }
    }

    /// The verification key of share `i`.
    pub fn share(&self, i: u8) -> Result<RistrettoPoint, OprfError> {
        let s = self
            .shares
            .iter()
            .find(|s| s.index == i)
            .ok_or_else(|| OprfError::Shares(format!("no verification key for share {i}")))?;
        point_of_hex(&format!("verification key of share {i}"), &s.key)
    }

    /// Checks the keys are well formed and consistent: every set of `threshold` shares
    /// interpolates to the group key (a dealer's slip, or keys of another epoch, show here).
    pub fn check(&self) -> Result<(), OprfError> {
        let group = point_of_hex("group key", &self.group_key)?;
        let t = usize::from(self.threshold);
        let indices: Vec<u8> = self.shares.iter().map(|s| s.index).collect();
        check_set(&indices)?;
        if t < 2 || t > indices.len() {
            return Err(OprfError::Shares(format!(
                "threshold {t} with {} shares",
                indices.len()
            )));
        }
        for set in subsets(&indices, t) {
            let mut sum = RistrettoPoint::default();
            for &i in &set {
                sum += lagrange_at_zero(i, &set)? * self.share(i)?;
            }
            if sum != group {
                return Err(OprfError::Shares(format!(
                    "shares {set:?} do not interpolate to the group key"
                )));
            }
        }
        Ok(())
    }
}

fn subsets(items: &[u8], k: usize) -> Vec<Vec<u8>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (n, &first) in items.iter().enumerate() {
        for mut rest in subsets(&items[n + 1..], k - 1) {
            rest.insert(0, first);
            out.push(rest);
        }
    }
    out
}

/// Why one service's answer was refused by the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key service share {share}: {reason}")]
pub struct ShareFailure {
    /// The share (service) index.
    pub share: u8,
    /// What was wrong.
    pub reason: OprfError,
}

/// A node's batch in flight: the inputs, their blinds and blinded elements.
pub struct Pending {
    inputs: Vec<Vec<u8>>,
    blinds: Vec<Scalar>,
    blinded: Vec<RistrettoPoint>,
    blinded_enc: Vec<Element>,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pending {{ {} inputs: <redacted> }}", self.inputs.len())
    }
}

impl Pending {
    /// Blinds `inputs`; `random` fills 64 bytes per blind (the system's generator).
    pub fn blind(
        inputs: Vec<Vec<u8>>,
        random: &mut dyn FnMut(&mut [u8; 64]),
    ) -> Result<Pending, OprfError> {
        if inputs.len() > usize::from(u16::MAX) {
            return Err(OprfError::BatchTooLarge);
        }
        let mut blinds = Vec::with_capacity(inputs.len());
        for _ in &inputs {
            let mut b = [0u8; 64];
            random(&mut b);
            blinds.push(suite::scalar_from_random(&b)?);
            b.zeroize();
        }
        Self::with_blinds(inputs, blinds)
    }

    /// Blinds with given blinds (the test vectors).
    pub fn with_blinds(inputs: Vec<Vec<u8>>, blinds: Vec<Scalar>) -> Result<Pending, OprfError> {
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let (blinded, blinded_enc) = suite::blind_points(&refs, &blinds)?;
        Ok(Pending {
            inputs,
            blinds,
            blinded,
            blinded_enc,
        })
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The request to send to each service of `set`.
    pub fn request(&self, epoch: u16, set: &[u8]) -> Evaluate {
        Evaluate {
            epoch,
            set: set.to_vec(),
            blinded: self.blinded_enc.clone(),
        }
    }

    /// Verifies every answer (one per service of the set) and combines them: the PRF outputs,
    /// in input order. A wrong or missing answer is named by its share index.
    pub fn finish(
        self,
        keys: &VerificationKeys,
        set: &[u8],
        answers: &[Evaluated],
    ) -> Result<Vec<[u8; 64]>, ShareFailure> {
        let fail = |share: u8, reason: OprfError| ShareFailure { share, reason };
        let mut combined: Option<Vec<RistrettoPoint>> = None;
        for &i in set {
            let a = answers
                .iter()
                .find(|a| a.share == i)
                .ok_or_else(|| fail(i, OprfError::Shares("no answer".into())))?;
            let lambda = lagrange_at_zero(i, set).map_err(|e| fail(i, e))?;
            let public = lambda * keys.share(i).map_err(|e| fail(i, e))?;
            let z = suite::verify(
                &public,
                &self.blinded,
                &self.blinded_enc,
                &a.evaluated,
                &a.proof,
            )
            .map_err(|e| fail(i, e))?;
            combined = Some(match combined {
                None => z,
                Some(acc) => acc.into_iter().zip(z).map(|(x, y)| x + y).collect(),
            });
        }
        let combined = combined.ok_or_else(|| fail(0, OprfError::Shares("empty set".into())))?;
        let refs: Vec<&[u8]> = self.inputs.iter().map(Vec::as_slice).collect();
        suite::finalize(&refs, &self.blinds, &combined).map_err(|e| fail(0, e))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.blinds.zeroize();
        self.inputs.zeroize();
    }
}

/// `k · G` for a whole key (the dealer and tests).
pub fn public_of(key: &Scalar) -> RistrettoPoint {
    key * RISTRETTO_BASEPOINT_POINT
}

/// Decodes a 32-byte encoding as a group element.
pub fn point(bytes: [u8; 32]) -> Option<RistrettoPoint> {
    CompressedRistretto(bytes).decompress()
}
