//! RFC 9497 VOPRF (mode 0x01), ciphersuite ristretto255-SHA512, on curve25519-dalek.
//!
//! Written against the RFC's text (§2 primitives, §2.2 DLEQ proofs, §3.3.2 VOPRF protocol,
//! §4.1 the ciphersuite, RFC 9380 §5.3.1 `expand_message_xmd`) and checked against its
//! Appendix A.1.2 test vectors and against the `voprf` crate (tests in `oprf/tests.rs`). The
//! `voprf` crate is not used directly because threshold evaluation needs what it does not
//! expose: evaluation with a Lagrange-weighted key share, proof verification without
//! finalisation, and combination of two shares' evaluations before unblinding.
//!
//! Batch work is batched: proofs use one multiscalar multiplication per composite, point
//! encodings are computed with ristretto's batched double-and-compress (the scalar is halved
//! first, so the doubled point is the wanted one), and blinds are inverted in one batch.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use super::{Element, OprfError, Proof};

/// `contextString` of VOPRF mode with ristretto255-SHA512 (RFC 9497 §3.1).
pub const CONTEXT: &[u8] = b"OPRFV1-\x01-ristretto255-SHA512";

const ELEM_LEN: [u8; 2] = 32u16.to_be_bytes();
const HASH_LEN: [u8; 2] = 64u16.to_be_bytes();

/// RFC 9380 §5.3.1 `expand_message_xmd` with SHA-512 for 64 output bytes (one block: `ell` = 1).
/// `dst` is given in parts that are concatenated (at most 255 bytes in all).
fn expand_xmd_64(msg: &[&[u8]], dst: &[&[u8]]) -> [u8; 64] {
    let dst_len: usize = dst.iter().map(|d| d.len()).sum();
    debug_assert!(dst_len <= 255);
    let dst_len = [dst_len as u8];
    let mut h = Sha512::new();
    h.update([0u8; 128]); // Z_pad: one SHA-512 block
    for m in msg {
        h.update(m);
    }
    h.update(64u16.to_be_bytes()); // l_i_b_str
    h.update([0u8]);
    for d in dst {
        h.update(d);
    }
    h.update(dst_len);
    let b0 = h.finalize();
    let mut h = Sha512::new();
    h.update(b0);
    h.update([1u8]);
    for d in dst {
        h.update(d);
    }
    h.update(dst_len);
    let mut out = [0u8; 64];
    out.copy_from_slice(&h.finalize());
    out
}

/// `HashToScalar` with the given domain-separation tag (in parts).
pub(crate) fn hash_to_scalar(msg: &[&[u8]], dst: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&expand_xmd_64(msg, dst))
}

/// `HashToScalar` with the default tag `"HashToScalar-" || contextString`.
fn hash_to_scalar_default(msg: &[&[u8]]) -> Scalar {
    hash_to_scalar(msg, &[b"HashToScalar-", CONTEXT])
}

/// `HashToGroup`: hash_to_ristretto255 with tag `"HashToGroup-" || contextString`.
pub fn hash_to_group(input: &[u8]) -> RistrettoPoint {
    RistrettoPoint::from_uniform_bytes(&expand_xmd_64(&[input], &[b"HashToGroup-", CONTEXT]))
}

/// `DeriveKeyPair(seed, info)` (RFC 9497 §3.2.1): used by the test vectors; real keys are drawn
/// from the system's random generator by the dealer.
pub fn derive_key(seed: &[u8; 32], info: &[u8]) -> Result<Scalar, OprfError> {
    let info_len = u16::try_from(info.len())
        .map_err(|_| OprfError::Malformed("key info longer than 65535 bytes".into()))?
        .to_be_bytes();
    for counter in 0u8..=255 {
        let k = hash_to_scalar(
            &[seed, &info_len, info, &[counter]],
            &[b"DeriveKeyPair", CONTEXT],
        );
        if k != Scalar::ZERO {
            return Ok(k);
        }
    }
    Err(OprfError::Malformed("DeriveKeyPair found no key".into()))
}

/// A scalar from 64 uniformly random bytes (never zero in practice; zero is refused).
pub fn scalar_from_random(bytes: &[u8; 64]) -> Result<Scalar, OprfError> {
    let s = Scalar::from_bytes_mod_order_wide(bytes);
    if s == Scalar::ZERO {
        return Err(OprfError::Malformed("zero scalar from random bytes".into()));
    }
    Ok(s)
}

/// `DeserializeElement`: a canonical ristretto255 encoding that is not the identity.
pub fn decode_element(e: &Element) -> Option<RistrettoPoint> {
    let p = CompressedRistretto(e.0).decompress()?;
    (!p.is_identity()).then_some(p)
}

/// Decodes every element or names the first bad one.
pub fn decode_elements(es: &[Element]) -> Result<Vec<RistrettoPoint>, OprfError> {
    es.iter()
        .enumerate()
        .map(|(i, e)| decode_element(e).ok_or(OprfError::BadElement(i)))
        .collect()
}

/// `scalar * p` for every point, encoded: halves the scalar, then encodes the doubled points
/// in one batch (ristretto's batched double-and-compress is ~6x cheaper than encoding each).
fn mul_and_encode(
    scalars: impl Iterator<Item = Scalar>,
    points: &[RistrettoPoint],
) -> Vec<Element> {
    let half = Scalar::from(2u8).invert();
    let halves: Vec<RistrettoPoint> = scalars.zip(points).map(|(s, p)| (s * half) * p).collect();
    RistrettoPoint::double_and_compress_batch(&halves)
        .into_iter()
        .map(|c| Element(c.to_bytes()))
        .collect()
}

/// `Blind` for a batch (RFC 9497 §3.3.1): `r · HashToGroup(input)` with the given blinds.
pub fn blind(inputs: &[&[u8]], blinds: &[Scalar]) -> Result<Vec<Element>, OprfError> {
    blind_points(inputs, blinds).map(|(_, e)| e)
}

/// [`blind`], returning the blinded points with their encodings (no decoding needed after).
pub fn blind_points(
    inputs: &[&[u8]],
    blinds: &[Scalar],
) -> Result<(Vec<RistrettoPoint>, Vec<Element>), OprfError> {
    if inputs.len() != blinds.len() {
        return Err(OprfError::BatchMismatch);
    }
    let half = Scalar::from(2u8).invert();
    let halves: Vec<RistrettoPoint> = inputs
        .iter()
        .zip(blinds)
        .map(|(i, r)| (r * half) * hash_to_group(i))
        .collect();
    let enc = RistrettoPoint::double_and_compress_batch(&halves)
        .into_iter()
        .map(|c| Element(c.to_bytes()))
        .collect();
    Ok((halves.into_iter().map(|h| h + h).collect(), enc))
}

/// The composite seed of §2.2.1 for public key `b`.
fn composite_seed(b: &[u8; 32]) -> [u8; 64] {
    let seed_dst_len = ((b"Seed-".len() + CONTEXT.len()) as u16).to_be_bytes();
    let mut h = Sha512::new();
    h.update(ELEM_LEN);
    h.update(b);
    h.update(seed_dst_len);
    h.update(b"Seed-");
    h.update(CONTEXT);
    let mut out = [0u8; 64];
    out.copy_from_slice(&h.finalize());
    out
}

/// The composite weights `d_i` of §2.2.1.
fn composite_weights(
    b: &[u8; 32],
    cs: &[Element],
    ds: &[Element],
) -> Result<Vec<Scalar>, OprfError> {
    let seed = composite_seed(b);
    cs.iter()
        .zip(ds)
        .enumerate()
        .map(|(i, (c, d))| {
            let i = u16::try_from(i).map_err(|_| OprfError::BatchTooLarge)?;
            Ok(hash_to_scalar_default(&[
                &HASH_LEN,
                &seed,
                &i.to_be_bytes(),
                &ELEM_LEN,
                &c.0,
                &ELEM_LEN,
                &d.0,
                b"Composite",
            ]))
        })
        .collect()
}

fn challenge(
    b: &[u8; 32],
    m: &RistrettoPoint,
    z: &RistrettoPoint,
    t2: &RistrettoPoint,
    t3: &RistrettoPoint,
) -> Scalar {
    hash_to_scalar_default(&[
        &ELEM_LEN,
        b,
        &ELEM_LEN,
        m.compress().as_bytes(),
        &ELEM_LEN,
        z.compress().as_bytes(),
        &ELEM_LEN,
        t2.compress().as_bytes(),
        &ELEM_LEN,
        t3.compress().as_bytes(),
        b"Challenge",
    ])
}

/// The server's side (`BlindEvaluate`, §3.3.2) for a batch, with one proof: evaluates every
/// blinded element with `key` and proves `DLEQ(G, key·G, M_i, Z_i)`. `public` is `key · G`
/// (encoded), `proof_random` the proof's nonce (fresh random; fixed only by the test vectors).
pub fn blind_evaluate(
    key: &Scalar,
    public: &[u8; 32],
    blinded: &[RistrettoPoint],
    blinded_enc: &[Element],
    proof_random: Scalar,
) -> Result<(Vec<Element>, Proof), OprfError> {
    if blinded.len() != blinded_enc.len() {
        return Err(OprfError::BatchMismatch);
    }
    if blinded.len() > usize::from(u16::MAX) {
        return Err(OprfError::BatchTooLarge);
    }
    let evaluated = mul_and_encode(std::iter::repeat(*key), blinded);
    let d = composite_weights(public, blinded_enc, &evaluated)?;
    let m = RistrettoPoint::vartime_multiscalar_mul(&d, blinded);
    let z = key * m;
    let t2 = proof_random * RISTRETTO_BASEPOINT_POINT;
    let t3 = proof_random * m;
    let c = challenge(public, &m, &z, &t2, &t3);
    let s = proof_random - c * key;
    Ok((evaluated, Proof::from_scalars(&c, &s)))
}

/// `VerifyProof` (§2.2.2) for a batch: checks that `evaluated` are `blinded` times the
/// discrete log of `public`. Returns the decoded evaluated elements.
pub fn verify(
    public: &RistrettoPoint,
    blinded: &[RistrettoPoint],
    blinded_enc: &[Element],
    evaluated_enc: &[Element],
    proof: &Proof,
) -> Result<Vec<RistrettoPoint>, OprfError> {
    if blinded.len() != evaluated_enc.len() || blinded.len() != blinded_enc.len() {
        return Err(OprfError::BatchMismatch);
    }
    let evaluated = decode_elements(evaluated_enc)?;
    let (c, s) = proof.scalars().ok_or(OprfError::BadProof)?;
    let b = public.compress().to_bytes();
    let d = composite_weights(&b, blinded_enc, evaluated_enc)?;
    let m = RistrettoPoint::vartime_multiscalar_mul(&d, blinded);
    let z = RistrettoPoint::vartime_multiscalar_mul(&d, &evaluated);
    let t2 = RistrettoPoint::vartime_multiscalar_mul([s, c], [RISTRETTO_BASEPOINT_POINT, *public]);
    let t3 = RistrettoPoint::vartime_multiscalar_mul([s, c], [m, z]);
    if challenge(&b, &m, &z, &t2, &t3) != c {
        return Err(OprfError::BadProof);
    }
    Ok(evaluated)
}

/// `Finalize` (§3.3.2) for a batch: unblinds each evaluated element with its blind and hashes
/// it with the input.
pub fn finalize(
    inputs: &[&[u8]],
    blinds: &[Scalar],
    evaluated: &[RistrettoPoint],
) -> Result<Vec<[u8; 64]>, OprfError> {
    if inputs.len() != blinds.len() || inputs.len() != evaluated.len() {
        return Err(OprfError::BatchMismatch);
    }
    let mut inverses = blinds.to_vec();
    Scalar::batch_invert(&mut inverses);
    let unblinded = mul_and_encode(inverses.into_iter(), evaluated);
    inputs
        .iter()
        .zip(&unblinded)
        .map(|(input, n)| {
            let len = u16::try_from(input.len())
                .map_err(|_| OprfError::Malformed("input longer than 65535 bytes".into()))?;
            let mut h = Sha512::new();
            h.update(len.to_be_bytes());
            h.update(input);
            h.update(ELEM_LEN);
            h.update(n.0);
            h.update(b"Finalize");
            let mut out = [0u8; 64];
            out.copy_from_slice(&h.finalize());
            Ok(out)
        })
        .collect()
}
