//! Pseudonymous fingerprints, in two schemes ([`crate::wire::Scheme`]).
//!
//! - `oprf` (the default): the person fingerprint is an RFC 9497 VOPRF output under an epoch key
//!   that no single party holds ([`crate::oprf`]), through BLAKE3 `derive_key`
//!   ([`person_of_oprf`]); household keys hash the member fingerprints with no secret.
//! - `shared-key` (tests and small pilots only): the rest of this paragraph.
//!
//! A 32-byte regional secret, held by the nodes only, derives one key per epoch (a year), so the
//! hub can link records within an epoch and nothing across epochs. A person fingerprint is the
//! keyed hash of the normalised code as given (omocodic letters kept); a household key is the
//! keyed hash of the household's sorted person fingerprints.
//!
//! **Invariant:** the fingerprint secret and the epoch keys never print (redacted `Debug`) and
//! are not `Serialize`: they cannot end up in a message, a log line or the hub.

use std::fmt;

use crate::cf::CodiceFiscale;

/// The protocol version named in the shared-key scheme's key context: 1, where the scheme was
/// defined (later protocol versions keep its fingerprints unchanged).
const SHARED_KEY_PROTOCOL: u16 = 1;

/// Domain-separation prefix of person fingerprints.
const PERSON_DOMAIN: &[u8] = b"siso/person/v1\0";
/// Domain-separation prefix of household keys.
const HOUSEHOLD_DOMAIN: &[u8] = b"siso/household/v1\0";

/// Errors reading a fingerprint secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not 64 hexadecimal characters.
    #[error(
        "fingerprint secret must be 64 hexadecimal characters (32 bytes), found {0} characters"
    )]
    BadLength(usize),
    /// A character that is not hexadecimal.
    #[error("fingerprint secret is not hexadecimal")]
    NotHex,
    /// All zero bytes: certainly not a generated secret.
    #[error("fingerprint secret is all zeros")]
    AllZero,
}

/// The regional fingerprint secret (32 bytes). Held by nodes only.
#[derive(Clone)]
pub struct FingerprintSecret([u8; 32]);

impl fmt::Debug for FingerprintSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintSecret(<redacted>)")
    }
}

impl FingerprintSecret {
    /// Wraps raw bytes (from a random generator).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        FingerprintSecret(bytes)
    }

    /// Parses the hex file format: 64 hex digits, surrounding white space ignored.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let t = text.trim();
        if t.len() != 64 {
            return Err(SecretError::BadLength(t.chars().count()));
        }
        let mut b = [0u8; 32];
        hex::decode_to_slice(t, &mut b).map_err(|_| SecretError::NotHex)?;
        if b.iter().all(|&x| x == 0) {
            return Err(SecretError::AllZero);
        }
        Ok(FingerprintSecret(b))
    }

    /// The hex file format (for the PKI tool that writes it).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Derives the key of one epoch.
    pub fn epoch_key(&self, epoch: u16) -> EpochKey {
        let context = format!(
            "siso regional social information system, person fingerprint key, protocol {SHARED_KEY_PROTOCOL}, epoch {epoch}"
        );
        EpochKey {
            epoch,
            key: blake3::derive_key(&context, &self.0),
        }
    }
}

/// The fingerprint key of one epoch.
#[derive(Clone)]
pub struct EpochKey {
    epoch: u16,
    key: [u8; 32],
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochKey {{ epoch: {}, key: <redacted> }}", self.epoch)
    }
}

impl EpochKey {
    /// The epoch this key belongs to.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Fingerprint of one person, from the normalised code as given.
    pub fn person(&self, cf: &CodiceFiscale) -> Fingerprint {
        let mut buf = [0u8; 32];
        buf[..PERSON_DOMAIN.len()].copy_from_slice(PERSON_DOMAIN);
        buf[PERSON_DOMAIN.len()..PERSON_DOMAIN.len() + 16].copy_from_slice(cf.as_bytes());
        Fingerprint(*blake3::keyed_hash(&self.key, &buf[..PERSON_DOMAIN.len() + 16]).as_bytes())
    }

    /// Household key: keyed hash of the sorted, de-duplicated member fingerprints.
    pub fn household(&self, members: &[Fingerprint]) -> Fingerprint {
        let mut sorted: Vec<&Fingerprint> = members.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(HOUSEHOLD_DOMAIN);
        for f in sorted {
            h.update(&f.0);
        }
        Fingerprint(*h.finalize().as_bytes())
    }
}

/// BLAKE3 `derive_key` context of person fingerprints of the `oprf` scheme.
pub const PERSON_V2_CONTEXT: &str = "siso/person/v2";
/// BLAKE3 `derive_key` context of household keys of the `oprf` scheme.
pub const HOUSEHOLD_V2_CONTEXT: &str = "siso/household/v2";

/// The OPRF's input for a person: the normalised code as given (omocodic letters kept).
pub fn oprf_input(cf: &CodiceFiscale) -> Vec<u8> {
    cf.as_bytes().to_vec()
}

/// A person fingerprint of the `oprf` scheme: the VOPRF output through BLAKE3 `derive_key`.
pub fn person_of_oprf(output: &[u8; 64]) -> Fingerprint {
    Fingerprint(blake3::derive_key(PERSON_V2_CONTEXT, output))
}

/// A household key of the `oprf` scheme: no secret, a hash of the sorted, de-duplicated member
/// fingerprints (which only the key services' evaluation could produce).
pub fn household_of_persons(members: &[Fingerprint]) -> Fingerprint {
    let mut sorted: Vec<&Fingerprint> = members.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut h = blake3::Hasher::new_derive_key(HOUSEHOLD_V2_CONTEXT);
    for f in sorted {
        h.update(&f.0);
    }
    Fingerprint(*h.finalize().as_bytes())
}

/// A 32-byte pseudonym. `Debug` and `Display` show an 8-hex-digit prefix only.
///
/// Serde: in binary formats the 32 bytes go as four big-endian `u64` words, which under the
/// protocol's options (big-endian, fixed-width integers: `wire::codec`) are the same 32 bytes in
/// the same order as a `[u8; 32]`, decoded in four steps instead of thirty-two (decoding
/// fingerprints one byte at a time was a tenth of the hub's bulk ingest). Human-readable formats
/// keep the plain array. A test pins the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        if s.is_human_readable() {
            return s.serialize_newtype_struct("Fingerprint", &self.0);
        }
        let mut t = s.serialize_tuple(4)?;
        for c in self.0.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            t.serialize_element(&u64::from_be_bytes(w))?;
        }
        t.end()
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Words;
        impl<'de> serde::de::Visitor<'de> for Words {
            type Value = Fingerprint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte fingerprint")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Fingerprint, A::Error> {
                let mut b = [0u8; 32];
                for (i, c) in b.chunks_exact_mut(8).enumerate() {
                    let w: u64 = a
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                    c.copy_from_slice(&w.to_be_bytes());
                }
                Ok(Fingerprint(b))
            }
        }
        #[derive(serde::Deserialize)]
        #[serde(rename = "Fingerprint")]
        struct Plain([u8; 32]);
        if d.is_human_readable() {
            return Plain::deserialize(d).map(|p| Fingerprint(p.0));
        }
        d.deserialize_tuple(4, Words)
    }
}

impl Fingerprint {
    /// The full hex form (for stores and tests; never for logs).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the full hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).ok()?;
        Some(Fingerprint(b))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn wire_bytes_are_the_32_bytes_in_order_and_json_is_the_plain_array() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 7 + 1) as u8;
        }
        let f = Fingerprint(b);
        let enc = crate::wire::encode_value(&f).unwrap();
        assert_eq!(enc, b.to_vec());
        assert_eq!(crate::wire::decode_value::<Fingerprint>(&enc).unwrap(), f);
        // Too short: an error, not a panic.
        assert!(crate::wire::decode_value::<Fingerprint>(&enc[..31]).is_err());
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, serde_json::to_string(&b).unwrap());
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), f);
    }

    fn cf(s: &str) -> CodiceFiscale {
        CodiceFiscale::parse(s, date!(2026 - 11 - 29)).unwrap()
    }

    fn secret() -> FingerprintSecret {
        FingerprintSecret::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn person_fingerprints() {
        let k = secret().epoch_key(2026);
        let a = k.person(&cf("RSSMRA80A01H501U"));
        assert_eq!(a, k.person(&cf(" rssmra80a01h501u ")));
        // Omocodic codes are different people.
        assert_ne!(a, k.person(&cf("RSSMRA80A01H50MM")));
        // Epochs do not link.
        assert_ne!(a, secret().epoch_key(2027).person(&cf("RSSMRA80A01H501U")));
        // Another secret does not link.
        let other = FingerprintSecret::from_hex(&"cd".repeat(32)).unwrap();
        assert_ne!(a, other.epoch_key(2026).person(&cf("RSSMRA80A01H501U")));
        // Not a plain hash of the code.
        assert_ne!(a.0, *blake3::hash(b"RSSMRA80A01H501U").as_bytes());
    }

    #[test]
    fn golden_fingerprint() {
        // Pins the derivation: changing the context, domain or layout is a protocol change.
        let k = secret().epoch_key(2026);
        assert_eq!(k.person(&cf("RSSMRA80A01H501U")).to_hex(), GOLDEN_PERSON);
    }

    // Cross-checked with the Python `blake3` package (derive_key_context, then keyed hash).
    const GOLDEN_PERSON: &str = "31cd9cf52bf715941374edc7824a5e422edfb5de5324d9045a808a30879e1b39";

    #[test]
    fn household_keys() {
        let k = secret().epoch_key(2026);
        let a = k.person(&cf("RSSMRA80A01H501U"));
        let b = k.person(&cf("RSSMRA80A41A475H"));
        assert_eq!(k.household(&[a, b]), k.household(&[b, a]));
        assert_eq!(k.household(&[a, b]), k.household(&[b, a, a]));
        assert_ne!(k.household(&[a, b]), k.household(&[a]));
        assert_ne!(k.household(&[a]), a);
    }

    #[test]
    fn secrets() {
        let s = secret();
        assert!(!format!("{s:?}").contains("ab"));
        assert!(!format!("{:?}", s.epoch_key(2026)).contains("ab"));
        assert_eq!(
            FingerprintSecret::from_hex(&s.to_hex()).unwrap().to_hex(),
            s.to_hex()
        );
        assert_eq!(
            FingerprintSecret::from_hex("abc").unwrap_err(),
            SecretError::BadLength(3)
        );
        assert_eq!(
            FingerprintSecret::from_hex(&"zz".repeat(32)).unwrap_err(),
            SecretError::NotHex
        );
        assert_eq!(
            FingerprintSecret::from_hex(&"00".repeat(32)).unwrap_err(),
            SecretError::AllZero
        );
        let f = Fingerprint([0x12; 32]);
        assert_eq!(format!("{f}"), "12121212…");
        assert_eq!(format!("{f:?}"), "Fingerprint(12121212…)");
    }
}
