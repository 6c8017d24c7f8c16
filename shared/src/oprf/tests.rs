//! RFC 9497 Appendix A.1.2 vectors (VOPRF, ristretto255-SHA512), interoperability with the
//! `voprf` crate, and the threshold properties: any two of three shares give the whole key's
//! output, and a wrong share answer is detected and named.

use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;

use super::suite;
use super::threshold::{deal, public_of};
use super::*;

fn h<const N: usize>(s: &str) -> [u8; N] {
    let mut b = [0u8; N];
    hex::decode_to_slice(s, &mut b).expect("hex");
    b
}

fn scalar(s: &str) -> Scalar {
    Option::from(Scalar::from_canonical_bytes(h::<32>(s))).expect("canonical")
}

const SK: &str = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909";
const PK: &str = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e";
const BLIND1: &str = "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706";
const BLIND2: &str = "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e";
const OUT1: &str = "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7da4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c";
const OUT2: &str = "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6";

struct Vector {
    inputs: Vec<Vec<u8>>,
    blinds: Vec<&'static str>,
    blinded: Vec<&'static str>,
    evaluated: Vec<&'static str>,
    proof: &'static str,
    proof_random: &'static str,
    outputs: Vec<&'static str>,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            inputs: vec![vec![0x00]],
            blinds: vec![BLIND1],
            blinded: vec!["863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945"],
            evaluated: vec!["aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"],
            proof: "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd066d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
            proof_random: "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e",
            outputs: vec![OUT1],
        },
        Vector {
            inputs: vec![vec![0x5a; 17]],
            blinds: vec![BLIND1],
            blinded: vec!["cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c"],
            evaluated: vec!["60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468"],
            proof: "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
            proof_random: "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e",
            outputs: vec![OUT2],
        },
        Vector {
            inputs: vec![vec![0x00], vec![0x5a; 17]],
            blinds: vec![BLIND1, BLIND2],
            blinded: vec![
                "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
                "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654",
            ],
            evaluated: vec![
                "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
                "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a",
            ],
            proof: "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08",
            proof_random: "419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c",
            outputs: vec![OUT1, OUT2],
        },
    ]
}

#[test]
fn rfc9497_key_derivation() {
    let sk = suite::derive_key(&[0xa3; 32], b"test key").expect("derive");
    assert_eq!(hex::encode(sk.to_bytes()), SK);
    assert_eq!(hex::encode(public_of(&sk).compress().as_bytes()), PK);
}

#[test]
fn rfc9497_appendix_a_1_2_vectors() {
    let sk = scalar(SK);
    let pk = h::<32>(PK);
    for (n, v) in vectors().into_iter().enumerate() {
        let blinds: Vec<Scalar> = v.blinds.iter().map(|b| scalar(b)).collect();
        let refs: Vec<&[u8]> = v.inputs.iter().map(Vec::as_slice).collect();
        let blinded = suite::blind(&refs, &blinds).expect("blind");
        let want: Vec<Element> = v.blinded.iter().map(|b| Element(h(b))).collect();
        assert_eq!(blinded, want, "vector {n}: blinded elements");
        let points = suite::decode_elements(&blinded).expect("decode");
        let (evaluated, proof) =
            suite::blind_evaluate(&sk, &pk, &points, &blinded, scalar(v.proof_random))
                .expect("evaluate");
        let want: Vec<Element> = v.evaluated.iter().map(|b| Element(h(b))).collect();
        assert_eq!(evaluated, want, "vector {n}: evaluated elements");
        assert_eq!(hex::encode(proof.to_bytes()), v.proof, "vector {n}: proof");
        let pk_point = suite::decode_element(&Element(pk)).expect("pk");
        let z = suite::verify(&pk_point, &points, &blinded, &evaluated, &proof).expect("verify");
        let outputs = suite::finalize(&refs, &blinds, &z).expect("finalize");
        let got: Vec<String> = outputs.iter().map(hex::encode).collect();
        assert_eq!(got, v.outputs, "vector {n}: outputs");
    }
}

#[test]
fn proofs_bind_the_key_and_the_elements() {
    let sk = scalar(SK);
    let pk = h::<32>(PK);
    let v = &vectors()[2];
    let blinded: Vec<Element> = v.blinded.iter().map(|b| Element(h(b))).collect();
    let points = suite::decode_elements(&blinded).expect("decode");
    let (evaluated, proof) =
        suite::blind_evaluate(&sk, &pk, &points, &blinded, scalar(v.proof_random)).expect("eval");
    let pk_point = suite::decode_element(&Element(pk)).expect("pk");
    // Another key's public key.
    let other = public_of(&(sk + Scalar::ONE));
    assert_eq!(
        suite::verify(&other, &points, &blinded, &evaluated, &proof),
        Err(OprfError::BadProof)
    );
    // Swapped evaluations.
    let swapped = vec![evaluated[1], evaluated[0]];
    assert_eq!(
        suite::verify(&pk_point, &points, &blinded, &swapped, &proof),
        Err(OprfError::BadProof)
    );
    // A non-canonical proof scalar, an invalid element, the identity.
    let mut bad = proof;
    bad.s = [0xff; 32];
    assert_eq!(
        suite::verify(&pk_point, &points, &blinded, &evaluated, &bad),
        Err(OprfError::BadProof)
    );
    let junk = vec![evaluated[0], Element([0xff; 32])];
    assert_eq!(
        suite::verify(&pk_point, &points, &blinded, &junk, &proof),
        Err(OprfError::BadElement(1))
    );
    assert_eq!(suite::decode_element(&Element([0; 32])), None);
}

#[test]
fn same_outputs_as_the_voprf_crate() {
    use voprf::{Ristretto255, VoprfServer};
    let server = VoprfServer::<Ristretto255>::new_with_key(&h::<32>(SK)).expect("server");
    for input in [&b"RSSMRA80A01H501U"[..], b"", b"x", &[0u8; 300]] {
        let want = server.evaluate(input).expect("voprf evaluate");
        let mut random = counter_random(input.len() as u8);
        let p = Pending::blind(vec![input.to_vec()], &mut random).expect("blind");
        let keys = whole_key_as_shares(&scalar(SK));
        let answers = answers_of(&keys.0, &p, &[1, 2]);
        let got = p.finish(&keys.1, &[1, 2], &answers).expect("finish");
        assert_eq!(got[0].as_slice(), want.as_slice());
    }
}

fn counter_random(seed: u8) -> impl FnMut(&mut [u8; 64]) {
    let mut n = 0u64;
    move |b: &mut [u8; 64]| {
        n += 1;
        let d = blake3::hash(&[&[seed][..], &n.to_le_bytes()].concat());
        b[..32].copy_from_slice(d.as_bytes());
        b[32..].copy_from_slice(blake3::hash(d.as_bytes()).as_bytes());
    }
}

/// Deals `key` into 3 shares, threshold 2, with a fixed polynomial.
fn whole_key_as_shares(key: &Scalar) -> (Vec<KeyShare>, VerificationKeys) {
    shares_with(key, &Scalar::from(7u8))
}

fn shares_with(key: &Scalar, a1: &Scalar) -> (Vec<KeyShare>, VerificationKeys) {
    let shares = deal(2026, key, &[*a1], 3).expect("deal");
    let vk = VerificationKeys::of(2026, 2, &public_of(key), &shares);
    vk.check().expect("consistent");
    (shares, vk)
}

fn answers_of(shares: &[KeyShare], p: &Pending, set: &[u8]) -> Vec<wire::Evaluated> {
    set.iter()
        .map(|&i| {
            let s = shares.iter().find(|s| s.index() == i).expect("share");
            evaluate_share(s, &p.request(2026, set), Scalar::from(99u8)).expect("eval")
        })
        .collect()
}

fn whole_key_output(key: &Scalar, input: &[u8]) -> [u8; 64] {
    let blind = Scalar::from(3u8);
    let be = suite::blind(&[input], &[blind]).expect("blind");
    let bp = suite::decode_elements(&be).expect("decode");
    let pk = public_of(key);
    let (ev, proof) =
        suite::blind_evaluate(key, pk.compress().as_bytes(), &bp, &be, Scalar::ONE).expect("e");
    let z = suite::verify(&pk, &bp, &be, &ev, &proof).expect("verify");
    suite::finalize(&[input], &[blind], &z).expect("finalize")[0]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_two_of_three_shares_give_the_whole_keys_output(
        k in any::<[u8; 32]>(), a in any::<[u8; 32]>(), seed in any::<u8>(),
        inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 1..6),
    ) {
        let key = Scalar::from_bytes_mod_order(k);
        let a1 = Scalar::from_bytes_mod_order(a);
        prop_assume!(key != Scalar::ZERO);
        let Ok((shares, vk)) = std::panic::catch_unwind(|| shares_with(&key, &a1)) else {
            return Err(TestCaseError::reject("a zero share"));
        };
        let want: Vec<[u8; 64]> = inputs.iter().map(|i| whole_key_output(&key, i)).collect();
        for set in [[1u8, 2], [1, 3], [2, 3], [3, 1]] {
            let p = Pending::blind(inputs.clone(), &mut counter_random(seed)).expect("blind");
            let answers = answers_of(&shares, &p, &set);
            let got = p.finish(&vk, &set, &answers).expect("finish");
            prop_assert_eq!(&got, &want);
        }
        // One share alone is not the key.
        let p = Pending::blind(inputs.clone(), &mut counter_random(seed)).expect("blind");
        let answers = answers_of(&shares, &p, &[1]);
        prop_assert!(p.finish(&vk, &[1], &answers).map(|o| o != want).unwrap_or(true));
    }
}

#[test]
fn a_wrong_share_answer_is_detected_and_named() {
    let (shares, vk) = whole_key_as_shares(&scalar(SK));
    let inputs = vec![b"RSSMRA80A01H501U".to_vec(), b"VRDLGU70B02G478X".to_vec()];
    // Service 3 answers with another key (as if it served a different key to some members).
    let rogue = deal(2026, &Scalar::from(5u8), &[Scalar::from(9u8)], 3).expect("deal");
    let p = Pending::blind(inputs.clone(), &mut counter_random(1)).expect("blind");
    let mut answers = answers_of(&shares, &p, &[1, 3]);
    answers[1] = answers_of(&rogue, &p, &[1, 3]).remove(1);
    let err = p.finish(&vk, &[1, 3], &answers).expect_err("refused");
    assert_eq!(err.share, 3);
    assert_eq!(err.reason, OprfError::BadProof);
    assert!(err.to_string().contains("share 3"), "{err}");
    // A service that evaluates with its raw share (ignoring the set) is caught as well.
    let p = Pending::blind(inputs.clone(), &mut counter_random(2)).expect("blind");
    let mut answers = answers_of(&shares, &p, &[1, 2]);
    answers[0] = answers_of(&shares, &p, &[1, 3]).remove(0);
    assert_eq!(
        p.finish(&vk, &[1, 2], &answers).expect_err("refused").share,
        1
    );
    // A missing answer.
    let p = Pending::blind(inputs, &mut counter_random(3)).expect("blind");
    let answers = answers_of(&shares, &p, &[1, 2]);
    assert_eq!(
        p.finish(&vk, &[1, 2], &answers[..1])
            .expect_err("refused")
            .share,
        2
    );
}

#[test]
fn verification_keys_must_interpolate() {
    let (shares, mut vk) = whole_key_as_shares(&scalar(SK));
    assert!(vk.check().is_ok());
    vk.shares[2].key = hex::encode(public_of(&Scalar::from(4u8)).compress().as_bytes());
    assert!(matches!(vk.check(), Err(OprfError::Shares(m)) if m.contains("interpolate")));
    assert!(format!("{:?}", shares[0]).contains("<redacted>"));
    assert_eq!(
        KeyShare::from_bytes(2026, 1, shares[0].to_bytes())
            .expect("roundtrip")
            .public(),
        shares[0].public()
    );
    assert!(KeyShare::from_bytes(2026, 1, [0xff; 32]).is_err());
    assert!(lagrange_at_zero(1, &[1, 1]).is_err());
    assert!(lagrange_at_zero(4, &[1, 2]).is_err());
}
