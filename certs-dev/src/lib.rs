//! `siso-certs`: the development PKI of a siso federation.
//!
//! Makes a regional CA, the hub's server certificate, one client certificate per member with its
//! identity as a SAN URI (`urn:siso:comune:<ISTAT>`, `urn:siso:ets:<slug>`,
//! `urn:siso:region:<slug>`), the fingerprint secret of the nodes, and a CRL. In production the
//! Region's own CA signs members' CSRs (`sign-csr`): a member's private key never leaves its
//! premises.
//!
//! **Invariant:** private keys and the fingerprint secret are written with mode 0600, and an
//! existing CA is never overwritten without `--force`.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};
use siso_shared::{FingerprintSecret, MemberId};
use time::{Duration, OffsetDateTime};

/// Errors of the PKI tool.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate error: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A CA exists where `init` would write one.
    #[error("a CA already exists in {0}; pass --force to replace it (every certificate it issued becomes useless)")]
    CaExists(PathBuf),
    /// A bad member id or identity.
    #[error(transparent)]
    Identity(#[from] siso_shared::IdentityError),
    /// An unknown Comune code.
    #[error("{0} is not the ISTAT code of a Comune of Umbria")]
    UnknownComune(String),
    /// A serial number that is not hexadecimal.
    #[error("bad serial number {0:?}: expected hexadecimal, colons allowed")]
    BadSerial(String),
    /// A serial number this CA did not issue.
    #[error("serial {0} was not issued by this CA (see ca/issued.txt); pass --force to revoke it anyway")]
    UnknownSerial(String),
    /// The random generator failed.
    #[error("system random generator failed")]
    Random,
    /// A CSR whose requested identity contradicts `--member`.
    #[error("the CSR asks for identity {requested} but --member is {member}")]
    CsrMismatch {
        /// What the CSR's SAN URI says.
        requested: String,
        /// What the operator said.
        member: String,
    },
    /// A certificate `renew` cannot read an identity from.
    #[error("cannot renew: {0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, CertsError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertsError + '_ {
    move |source| CertsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a file atomically (temporary file, then rename), with `mode`.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(io_err(path))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CertsError::Random)?;
    Ok(b)
}

/// A random positive 16-byte serial number (first byte 0x01–0x7f).
fn new_serial() -> Result<SerialNumber> {
    let mut b: [u8; 16] = random_bytes()?;
    b[0] = (b[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&b))
}

/// Upper-case hex of a serial, as `openssl x509 -serial` prints it.
pub fn serial_hex(s: &SerialNumber) -> String {
    s.to_bytes().iter().map(|b| format!("{b:02X}")).collect()
}

/// Normalises a serial given by an operator: colons and a `serial=` prefix dropped, upper case,
/// leading zero bytes removed.
pub fn normalise_serial(s: &str) -> Result<String> {
    let t = s.trim();
    let t = t.strip_prefix("serial=").unwrap_or(t);
    let hexits: String = t.chars().filter(|&c| c != ':').collect();
    if hexits.is_empty() || !hexits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CertsError::BadSerial(s.to_owned()));
    }
    let padded = if !hexits.len().is_multiple_of(2) {
        format!("0{hexits}")
    } else {
        hexits
    };
    let up = padded.to_ascii_uppercase();
    let mut trimmed = up.as_str();
    while trimmed.len() > 2 && trimmed.starts_with("00") {
        trimmed = &trimmed[2..];
    }
    Ok(trimmed.to_owned())
}

/// The layout of a PKI directory written by `init`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The output directory.
    pub root: PathBuf,
}

impl Layout {
    /// The CA directory (`ca.pem`, `ca.key`, `issued.txt`, `revoked.txt`, `crl.pem`).
    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }
    /// The hub's certificate directory.
    pub fn hub_dir(&self) -> PathBuf {
        self.root.join("hub")
    }
    /// A member's certificate directory.
    pub fn member_dir(&self, m: &MemberId) -> PathBuf {
        self.root.join("members").join(m.to_string())
    }
    /// A key service's certificate directory.
    pub fn keyd_dir(&self, name: &str) -> PathBuf {
        self.root.join("keyd").join(name)
    }
    /// The fingerprint secret of the shared-key scheme (written only when asked for).
    pub fn fingerprint_key(&self) -> PathBuf {
        self.root.join("fingerprint.key")
    }
}

/// A loaded CA: its certificate and signing key.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "siso federation");
    d.push(DnType::CommonName, cn);
    d
}

impl Ca {
    /// Creates a new CA in `dir` (`ca.pem`, `ca.key`), valid from `now` for `days`.
    pub fn create(dir: &Path, now: OffsetDateTime, days: i64, force: bool) -> Result<Ca> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        if !force && (cert_path.exists() || key_path.exists()) {
            return Err(CertsError::CaExists(dir.to_owned()));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn("siso regional CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = now - Duration::minutes(5);
        p.not_after = now + Duration::days(days);
        p.serial_number = Some(new_serial()?);
        let cert = p.self_signed(&key)?;
        write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
        if force {
            for f in ["issued.txt", "revoked.txt", "crl.pem"] {
                let _ = fs::remove_file(dir.join(f));
            }
        }
        Ok(Ca {
            dir: dir.to_owned(),
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Loads the CA in `dir`.
    pub fn load(dir: &Path) -> Result<Ca> {
        let cert_pem = read(&dir.join("ca.pem"))?;
        let key = KeyPair::from_pem(&read(&dir.join("ca.key"))?)?;
        Ok(Ca {
            dir: dir.to_owned(),
            cert_pem,
            key,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>> {
        Ok(Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?)
    }

    /// Appends `serial, subject, expiry` lines to `issued.txt` in one write and syncs it.
    fn record_issued(&self, issued: &[(&str, &str, OffsetDateTime)]) -> Result<()> {
        let path = self.dir.join("issued.txt");
        let mut text = String::new();
        for (serial, subject, not_after) in issued {
            text.push_str(&format!("{serial}\t{subject}\t{}\n", not_after.date()));
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(text.as_bytes()).map_err(io_err(&path))?;
        f.sync_all().map_err(io_err(&path))
    }

    /// Issues the hub's server certificate (SAN DNS `hub_name`, 127.0.0.1, ::1; serverAuth).
    pub fn issue_hub(&self, hub_name: &str, now: OffsetDateTime, days: i64) -> Result<Issued> {
        let mut p = CertificateParams::new(vec![hub_name.to_owned()])?;
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        p.distinguished_name = dn(hub_name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        self.sign(p, &key, hub_name, now, now + Duration::days(days))
            .map(|(cert_pem, serial)| Issued {
                cert_pem,
                key_pem: Some(key.serialize_pem()),
                serial,
            })
    }

    /// Issues a key service's server certificate: SAN DNS `name`, 127.0.0.1, ::1 and the URI
    /// `urn:siso:keyd:<name>` (a role no member has, so the hub refuses it as a client);
    /// serverAuth only.
    pub fn issue_keyd(&self, name: &str, now: OffsetDateTime, days: i64) -> Result<Issued> {
        siso_shared::identity::check_slug(name)?;
        let mut p = CertificateParams::new(vec![name.to_owned()])?;
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        p.subject_alt_names.push(SanType::URI(
            format!("{}keyd:{name}", siso_shared::identity::URI_PREFIX).try_into()?,
        ));
        p.distinguished_name = dn(name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        self.sign(p, &key, name, now, now + Duration::days(days))
            .map(|(cert_pem, serial)| Issued {
                cert_pem,
                key_pem: Some(key.serialize_pem()),
                serial,
            })
    }

    /// Issues a member's client certificate valid between the two instants (tests use a past
    /// window to make an expired certificate).
    pub fn issue_member_window(
        &self,
        member: &MemberId,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let (cert_pem, serial) = self.sign(
            member_params(member)?,
            &key,
            &member.to_string(),
            not_before,
            not_after,
        )?;
        Ok(Issued {
            cert_pem,
            key_pem: Some(key.serialize_pem()),
            serial,
        })
    }

    /// Issues a member's client certificate valid from `now` for `days`.
    pub fn issue_member(
        &self,
        member: &MemberId,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<Issued> {
        self.issue_member_window(
            member,
            now - Duration::minutes(5),
            now + Duration::days(days),
        )
    }

    /// Signs a member's CSR. The identity comes from `member`, never from the CSR; a CSR that
    /// asks for a different siso identity is refused.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        member: &MemberId,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<Issued> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        for san in &csr.params.subject_alt_names {
            if let SanType::URI(uri) = san {
                let requested = uri.as_str();
                if requested.starts_with(siso_shared::identity::URI_PREFIX)
                    && requested != member.to_uri()
                {
                    return Err(CertsError::CsrMismatch {
                        requested: requested.to_owned(),
                        member: member.to_string(),
                    });
                }
            }
        }
        let (cert_pem, serial) = self.sign(
            member_params(member)?,
            &csr.public_key,
            &member.to_string(),
            now - Duration::minutes(5),
            now + Duration::days(days),
        )?;
        Ok(Issued {
            cert_pem,
            key_pem: None,
            serial,
        })
    }

    fn sign(
        &self,
        p: CertificateParams,
        public: &impl rcgen::PublicKeyData,
        subject: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(String, String)> {
        let (pem, serial) = Self::sign_with(&self.issuer()?, p, public, not_before, not_after)?;
        self.record_issued(&[(serial.as_str(), subject, not_after)])?;
        Ok((pem, serial))
    }

    /// Signs without recording the serial (the caller records it).
    fn sign_with(
        issuer: &Issuer<'_, &KeyPair>,
        mut p: CertificateParams,
        public: &impl rcgen::PublicKeyData,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(String, String)> {
        let serial = new_serial()?;
        let serial_str = serial_hex(&serial);
        p.serial_number = Some(serial);
        p.not_before = not_before;
        p.not_after = not_after;
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(public, issuer)?;
        Ok((cert.pem(), serial_str))
    }

    /// Issues client certificates to many members at once, valid from `now` for `days`: as
    /// [`Ca::issue_member`] each, with `issued.txt` appended and synced once for all of them
    /// (a load test or a regional roll-out of thousands of members).
    pub fn issue_members(
        &self,
        members: &[MemberId],
        now: OffsetDateTime,
        days: i64,
    ) -> Result<Vec<Issued>> {
        let issuer = self.issuer()?;
        let (not_before, not_after) = (now - Duration::minutes(5), now + Duration::days(days));
        let mut out = Vec::with_capacity(members.len());
        let mut names = Vec::with_capacity(members.len());
        for member in members {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let (cert_pem, serial) =
                Self::sign_with(&issuer, member_params(member)?, &key, not_before, not_after)?;
            names.push(member.to_string());
            out.push(Issued {
                cert_pem,
                key_pem: Some(key.serialize_pem()),
                serial,
            });
        }
        let lines: Vec<(&str, &str, OffsetDateTime)> = out
            .iter()
            .zip(&names)
            .map(|(i, n)| (i.serial.as_str(), n.as_str(), not_after))
            .collect();
        self.record_issued(&lines)?;
        Ok(out)
    }

    /// The serials issued so far, with their subjects (from `issued.txt`).
    pub fn issued(&self) -> Result<Vec<(String, String)>> {
        let path = self.dir.join("issued.txt");
        if !path.exists() {
            return Ok(Vec::new());
        }
        Ok(read(&path)?
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?.to_owned(), f.next()?.to_owned()))
            })
            .collect())
    }

    /// Revokes a serial and rewrites `crl.pem` (valid for `crl_days`). Returns the subject the
    /// serial was issued to, if known.
    pub fn revoke(
        &self,
        serial: &str,
        now: OffsetDateTime,
        crl_days: i64,
        force: bool,
    ) -> Result<Option<String>> {
        let serial = normalise_serial(serial)?;
        let subject = self
            .issued()?
            .into_iter()
            .find(|(s, _)| *s == serial)
            .map(|(_, subj)| subj);
        if subject.is_none() && !force {
            return Err(CertsError::UnknownSerial(serial));
        }
        let path = self.dir.join("revoked.txt");
        let mut revoked = if path.exists() {
            read(&path)?
        } else {
            String::new()
        };
        if !revoked
            .lines()
            .any(|l| l.split('\t').next() == Some(&serial))
        {
            revoked.push_str(&format!("{serial}\t{}\n", now.unix_timestamp()));
            write_file(&path, revoked.as_bytes(), 0o644)?;
        }
        self.write_crl(now, crl_days)?;
        Ok(subject)
    }

    /// Writes `crl.pem` from `revoked.txt`.
    pub fn write_crl(&self, now: OffsetDateTime, crl_days: i64) -> Result<()> {
        let path = self.dir.join("revoked.txt");
        let text = if path.exists() {
            read(&path)?
        } else {
            String::new()
        };
        let mut revoked_certs = Vec::new();
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(s), Some(t)) = (f.next(), f.next()) else {
                continue;
            };
            let bytes = hex_to_bytes(s).ok_or_else(|| CertsError::BadSerial(s.to_owned()))?;
            let when = t
                .parse::<i64>()
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .unwrap_or(now);
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: when,
                reason_code: Some(RevocationReason::Unspecified),
                invalidity_date: None,
            });
        }
        let crl_number = now.unix_timestamp().max(1) as u64;
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(crl_days),
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer()?)?;
        write_file(&self.dir.join("crl.pem"), crl.pem()?.as_bytes(), 0o644)
    }
}

fn hex_to_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn member_params(member: &MemberId) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&member.to_string());
    p.subject_alt_names = vec![SanType::URI(member.to_uri().try_into()?)];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

/// A certificate just issued.
pub struct Issued {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PEM (absent for a signed CSR).
    pub key_pem: Option<String>,
    /// Serial, upper-case hex.
    pub serial: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("serial", &self.serial)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Issued {
    /// Writes `key.pem` (0600), then `cert.pem` (0644), into `dir`, each atomically: a reader
    /// between the two sees the new key with the old certificate, which fails the handshake
    /// (and a second renewal fixes), never a half-written file.
    pub fn write_to_key_first(&self, dir: &Path) -> Result<()> {
        if let Some(k) = &self.key_pem {
            write_file(&dir.join("key.pem"), k.as_bytes(), 0o600)?;
        }
        write_file(&dir.join("cert.pem"), self.cert_pem.as_bytes(), 0o644)
    }

    /// Writes `cert.pem` (0644) and `key.pem` (0600) into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        write_file(&dir.join("cert.pem"), self.cert_pem.as_bytes(), 0o644)?;
        if let Some(k) = &self.key_pem {
            write_file(&dir.join("key.pem"), k.as_bytes(), 0o600)?;
        }
        Ok(())
    }
}

/// Makes a member's key and CSR on its own premises (the production path).
pub fn make_csr(member: &MemberId) -> Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let csr = member_params(member)?.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.pem()?))
}

/// Options of `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Comuni (ISTAT codes) to issue certificates for.
    pub comuni: Vec<String>,
    /// Third-sector slugs.
    pub ets: Vec<String>,
    /// Health authorities' slugs (USL/ASL).
    pub asl: Vec<String>,
    /// Region analyst slugs.
    pub region: Vec<String>,
    /// DNS name in the hub's certificate.
    pub hub_name: String,
    /// Key services to certify (names, also their DNS names).
    pub keyd: Vec<String>,
    /// Also write a fingerprint secret for the shared-key scheme (tests and small pilots).
    pub shared_key: bool,
    /// Validity of member certificates, days.
    pub member_days: i64,
    /// Validity of the hub certificate, days.
    pub hub_days: i64,
    /// Validity of the CA, days.
    pub ca_days: i64,
    /// Replace an existing CA.
    pub force: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            comuni: siso_shared::comuni::all()
                .iter()
                .map(|c| c.istat.clone())
                .collect(),
            ets: vec!["caritas-perugia".into(), "banco-alimentare-umbria".into()],
            asl: vec!["usl-umbria-1".into(), "usl-umbria-2".into()],
            region: vec!["umbria".into()],
            hub_name: "localhost".into(),
            keyd: vec!["keyd-1".into(), "keyd-2".into(), "keyd-3".into()],
            shared_key: false,
            member_days: 365,
            hub_days: 730,
            ca_days: 3650,
            force: false,
        }
    }
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The layout.
    pub layout: Layout,
    /// Members with their certificate serials.
    pub members: Vec<(MemberId, String)>,
    /// The hub certificate's serial.
    pub hub_serial: String,
}

/// Builds a whole development PKI under `out`.
pub fn init(out: &Path, opts: &InitOptions, now: OffsetDateTime) -> Result<InitReport> {
    let layout = Layout {
        root: out.to_owned(),
    };
    let mut members = Vec::new();
    for c in &opts.comuni {
        let m = MemberId::comune(c)?;
        if siso_shared::comuni::by_istat(c).is_none() {
            return Err(CertsError::UnknownComune(c.clone()));
        }
        members.push(m);
    }
    for s in &opts.ets {
        members.push(MemberId::ets(s)?);
    }
    for s in &opts.asl {
        members.push(MemberId::asl(s)?);
    }
    for s in &opts.region {
        members.push(MemberId::region(s)?);
    }
    let ca = Ca::create(&layout.ca_dir(), now, opts.ca_days, opts.force)?;
    let hub = ca.issue_hub(&opts.hub_name, now, opts.hub_days)?;
    hub.write_to(&layout.hub_dir())?;
    let mut report = Vec::new();
    for m in members {
        let issued = ca.issue_member(&m, now, opts.member_days)?;
        issued.write_to(&layout.member_dir(&m))?;
        report.push((m, issued.serial));
    }
    for name in &opts.keyd {
        ca.issue_keyd(name, now, opts.hub_days)?
            .write_to(&layout.keyd_dir(name))?;
    }
    if opts.shared_key {
        let secret = FingerprintSecret::from_bytes(random_bytes()?);
        write_file(
            &layout.fingerprint_key(),
            format!("{}\n", secret.to_hex()).as_bytes(),
            0o600,
        )?;
    }
    Ok(InitReport {
        layout,
        members: report,
        hub_serial: hub.serial,
    })
}

/// Reads the member identity (SAN URI) of a PEM certificate.
pub fn member_of_cert_pem(pem: &str) -> std::result::Result<MemberId, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    siso_shared::identity::member_of_cert_der(&p.contents).map_err(|e| e.to_string())
}

/// What `renew` did.
#[derive(Debug, Clone)]
pub struct Renewed {
    /// Whose certificate: a member id, `keyd:NAME` or `hub:NAME`.
    pub subject: String,
    /// The old certificate's serial (revoke it once the new one is in use).
    pub old_serial: String,
    /// The new certificate's serial.
    pub new_serial: String,
}

/// The identity a certificate carries, as `renew` re-issues it.
enum Subject {
    Member(MemberId),
    Keyd(String),
    Hub(String),
}

fn subject_of(pem: &str) -> Result<(Subject, String)> {
    let bad = |m: String| CertsError::Invalid(m);
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&p.contents)
        .map_err(|e| bad(format!("not a certificate: {e}")))?;
    let serial = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    if let Ok(m) = siso_shared::identity::member_of_cert_der(&p.contents) {
        return Ok((Subject::Member(m), serial));
    }
    let mut dns = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::URI(u) => {
                    if let Some(name) = u.strip_prefix("urn:siso:keyd:") {
                        return Ok((Subject::Keyd(name.to_owned()), serial));
                    }
                }
                x509_parser::extensions::GeneralName::DNSName(d) if dns.is_none() => {
                    dns = Some((*d).to_owned());
                }
                _ => {}
            }
        }
    }
    dns.map(|d| (Subject::Hub(d), serial))
        .ok_or_else(|| bad("a certificate with no siso identity and no DNS name".into()))
}

/// Renews the certificate in `dir` (`cert.pem`, `key.pem`): a new key and a certificate for the
/// same identity (member, key service or hub) valid for `days`, written over the old files (each
/// atomically: the key first, then the certificate). The development path; in production a
/// member makes its key and CSR on its premises (`csr`) and the Region signs it (`sign-csr`).
pub fn renew(ca: &Ca, dir: &Path, now: OffsetDateTime, days: i64) -> Result<Renewed> {
    let old = read(&dir.join("cert.pem"))?;
    let (subject, old_serial) = subject_of(&old)?;
    let (issued, name) = match &subject {
        Subject::Member(m) => (ca.issue_member(m, now, days)?, m.to_string()),
        Subject::Keyd(n) => (ca.issue_keyd(n, now, days)?, format!("keyd:{n}")),
        Subject::Hub(n) => (ca.issue_hub(n, now, days)?, format!("hub:{n}")),
    };
    issued.write_to_key_first(dir)?;
    Ok(Renewed {
        subject: name,
        old_serial,
        new_serial: issued.serial,
    })
}
