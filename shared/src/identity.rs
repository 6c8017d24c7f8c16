//! Member identities: the SAN URI in a member's certificate and the member id derived from it.
//!
//! | role    | SAN URI                      | member id        |
//! |---------|------------------------------|------------------|
//! | comune  | `urn:siso:comune:<ISTAT>`    | `<ISTAT>`        |
//! | ets     | `urn:siso:ets:<slug>`        | `ets-<slug>`     |
//! | region  | `urn:siso:region:<slug>`     | `region-<slug>`  |
//! | asl     | `urn:siso:asl:<slug>`        | `asl-<slug>`     |
//!
//! An ISTAT code is six ASCII digits; a slug is `[a-z0-9][a-z0-9-]{0,62}`. This is the one parser
//! the node, the hub and the PKI tool use.
//!
//! **Invariant:** the hub takes a member's identity only from its certificate, never from a
//! message body.

use std::fmt;
use std::str::FromStr;

use crate::vocab::Role;

/// URI prefix of every member identity.
pub const URI_PREFIX: &str = "urn:siso:";

/// A malformed identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The URI does not start with `urn:siso:<role>:`.
    #[error("not a siso identity URI: {0:?} (expected urn:siso:comune|ets|region|asl:<id>)")]
    NotSisoUri(String),
    /// A Comune id that is not six digits.
    #[error("bad ISTAT code {0:?}: expected six digits")]
    BadIstat(String),
    /// A slug outside `[a-z0-9][a-z0-9-]{{0,62}}`.
    #[error("bad slug {0:?}: expected [a-z0-9][a-z0-9-]{{0,62}}")]
    BadSlug(String),
    /// A member id that is none of `<ISTAT>`, `ets-<slug>`, `region-<slug>`.
    #[error("bad member id {0:?}: expected <ISTAT code>, ets-<slug>, region-<slug> or asl-<slug>")]
    BadMemberId(String),
}

/// The identity of a member of the federation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum MemberId {
    /// A Comune, by six-digit ISTAT code.
    Comune(String),
    /// A third-sector entity, by slug.
    Ets(String),
    /// A Region analyst identity, by slug.
    Region(String),
    /// A health authority (USL/ASL), by slug.
    Asl(String),
}

fn check_istat(s: &str) -> Result<(), IdentityError> {
    if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdentityError::BadIstat(s.to_owned()))
    }
}

/// Validates a slug: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn check_slug(s: &str) -> Result<(), IdentityError> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(IdentityError::BadSlug(s.to_owned()))
    }
}

impl MemberId {
    /// Builds a Comune identity from an ISTAT code.
    pub fn comune(istat: &str) -> Result<Self, IdentityError> {
        check_istat(istat)?;
        Ok(MemberId::Comune(istat.to_owned()))
    }

    /// Builds a third-sector identity from a slug.
    pub fn ets(slug: &str) -> Result<Self, IdentityError> {
        check_slug(slug)?;
        Ok(MemberId::Ets(slug.to_owned()))
    }

    /// Builds a Region identity from a slug.
    pub fn region(slug: &str) -> Result<Self, IdentityError> {
        check_slug(slug)?;
        Ok(MemberId::Region(slug.to_owned()))
    }

    /// Builds a health authority's identity from a slug.
    pub fn asl(slug: &str) -> Result<Self, IdentityError> {
        check_slug(slug)?;
        Ok(MemberId::Asl(slug.to_owned()))
    }

    /// Parses the SAN URI of a certificate.
    pub fn from_uri(uri: &str) -> Result<Self, IdentityError> {
        let rest = uri
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| IdentityError::NotSisoUri(uri.to_owned()))?;
        let (role, id) = rest
            .split_once(':')
            .ok_or_else(|| IdentityError::NotSisoUri(uri.to_owned()))?;
        match role {
            "comune" => MemberId::comune(id),
            "ets" => MemberId::ets(id),
            "region" => MemberId::region(id),
            "asl" => MemberId::asl(id),
            _ => Err(IdentityError::NotSisoUri(uri.to_owned())),
        }
    }

    /// The SAN URI for a certificate.
    pub fn to_uri(&self) -> String {
        match self {
            MemberId::Comune(c) => format!("{URI_PREFIX}comune:{c}"),
            MemberId::Ets(s) => format!("{URI_PREFIX}ets:{s}"),
            MemberId::Region(s) => format!("{URI_PREFIX}region:{s}"),
            MemberId::Asl(s) => format!("{URI_PREFIX}asl:{s}"),
        }
    }

    /// The member's role.
    pub fn role(&self) -> Role {
        match self {
            MemberId::Comune(_) => Role::Comune,
            MemberId::Ets(_) => Role::Ets,
            MemberId::Region(_) => Role::Region,
            MemberId::Asl(_) => Role::Asl,
        }
    }

    /// The zona sociale of a Comune of Umbria; `None` for other members and unknown codes.
    pub fn zona(&self) -> Option<u8> {
        match self {
            MemberId::Comune(c) => crate::comuni::by_istat(c).map(|c| c.zona),
            _ => None,
        }
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberId::Comune(c) => f.write_str(c),
            MemberId::Ets(s) => write!(f, "ets-{s}"),
            MemberId::Asl(s) => write!(f, "asl-{s}"),
            MemberId::Region(s) => write!(f, "region-{s}"),
        }
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({self})")
    }
}

impl FromStr for MemberId {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        if let Some(slug) = s.strip_prefix("ets-") {
            MemberId::ets(slug)
        } else if let Some(slug) = s.strip_prefix("region-") {
            MemberId::region(slug)
        } else if let Some(slug) = s.strip_prefix("asl-") {
            MemberId::asl(slug)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            MemberId::comune(s)
        } else {
            Err(IdentityError::BadMemberId(s.to_owned()))
        }
    }
}

impl From<MemberId> for String {
    fn from(m: MemberId) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for MemberId {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, IdentityError> {
        s.parse()
    }
}

/// Why a certificate carries no usable identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertIdentityError {
    /// The bytes are not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotCertificate(String),
    /// No `urn:siso:` SAN URI.
    #[error("certificate carries no urn:siso: identity")]
    Missing,
    /// More than one `urn:siso:` SAN URI.
    #[error("certificate carries more than one urn:siso: identity")]
    Ambiguous,
    /// A malformed identity URI.
    #[error(transparent)]
    Malformed(#[from] IdentityError),
}

/// Reads the member identity from a DER certificate: exactly one `urn:siso:` SAN URI. The one
/// function the hub (on every connection) and the node (at `init`) use.
pub fn member_of_cert_der(der: &[u8]) -> Result<MemberId, CertIdentityError> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| CertIdentityError::NotCertificate(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertIdentityError::NotCertificate(e.to_string()))?
        .ok_or(CertIdentityError::Missing)?;
    let mut found = None;
    for name in &san.value.general_names {
        if let GeneralName::URI(u) = name {
            if u.starts_with(URI_PREFIX) {
                if found.is_some() {
                    return Err(CertIdentityError::Ambiguous);
                }
                found = Some(MemberId::from_uri(u)?);
            }
        }
    }
    found.ok_or(CertIdentityError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_ids() {
        let c = MemberId::from_uri("urn:siso:comune:054039").unwrap();
        assert_eq!(c.to_string(), "054039");
        assert_eq!(c.role(), Role::Comune);
        assert_eq!(c.zona(), Some(2));
        let e = MemberId::from_uri("urn:siso:ets:caritas-perugia").unwrap();
        assert_eq!(e.to_string(), "ets-caritas-perugia");
        assert_eq!(e.to_uri(), "urn:siso:ets:caritas-perugia");
        assert_eq!("ets-caritas-perugia".parse::<MemberId>().unwrap(), e);
        let r: MemberId = "region-umbria".parse().unwrap();
        assert_eq!(r.role(), Role::Region);
        assert_eq!(MemberId::from_uri(&r.to_uri()).unwrap(), r);
        let a: MemberId = "asl-usl-umbria-1".parse().unwrap();
        assert_eq!(a.role(), Role::Asl);
        assert_eq!(a.to_uri(), "urn:siso:asl:usl-umbria-1");
        assert_eq!(MemberId::from_uri(&a.to_uri()).unwrap(), a);
        assert_eq!(a.zona(), None);
        assert!(MemberId::ets("a").is_ok());
        assert!(MemberId::ets(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn malformed() {
        for bad in [
            "urn:siso:comune:54039",
            "urn:siso:comune:05403a",
            "urn:siso:ets:",
            "urn:siso:ets:-x",
            "urn:siso:ets:Caritas",
            "urn:siso:ets:a_b",
            "urn:siso:mayor:x",
            "urn:other:comune:054039",
            "urn:siso:comune",
        ] {
            assert!(MemberId::from_uri(bad).is_err(), "{bad}");
        }
        assert!(MemberId::ets(&"a".repeat(64)).is_err());
        for bad in ["", "ets-", "foo", "region-UP", "05403", "asl-", "asl-Usl"] {
            assert!(bad.parse::<MemberId>().is_err(), "{bad}");
        }
    }
}
