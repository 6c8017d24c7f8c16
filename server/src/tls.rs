//! TLS material for the QUIC servers (hub and key service): the ring provider, PEM loading, the
//! regional CA with its CRL as the client verifier, TLS 1.3 only.
//!
//! **Invariant:** a client without a certificate, with another CA's, an expired or a revoked
//! certificate, or without the server's ALPN never completes the handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (bad CA or CRL).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// quinn refused the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
}

fn pem_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The one crypto provider: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate found"));
    }
    Ok(certs)
}

/// Reads a private key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

/// Reads the CRLs of `CA_DIR/crl.pem`; none if the file does not exist.
pub fn load_crls(ca_dir: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let path = ca_dir.join("crl.pem");
    if !path.exists() {
        return Ok(Vec::new());
    }
    CertificateRevocationListDer::pem_file_iter(&path)
        .map_err(|e| pem_err(&path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(&path, e))
}

/// The rustls server configuration: client certificates required and verified against
/// `CA_DIR/ca.pem` with `CA_DIR/crl.pem`, TLS 1.3 only, no early data, the one ALPN given,
/// session resumption with stateless tickets under a key of this configuration's own.
pub fn server_tls(
    ca_dir: &Path,
    cert: &Path,
    key: &Path,
    alpn: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    let ca_path = ca_dir.join("ca.pem");
    for c in load_certs(&ca_path)? {
        roots.add(c).map_err(|e| pem_err(&ca_path, e))?;
    }
    let crls = load_crls(ca_dir)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        // A CRL past its next update refuses every client (fail closed): renew it in time
        // (`siso-certs crl`, then SIGHUP); `expiries` warns 7 days before.
        .enforce_revocation_expiration()
        .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.max_early_data_size = 0;
    // TLS 1.3 session resumption with stateless tickets: a client's next connection skips the
    // certificate signatures and chain verification on both sides (a national hub's reconnects
    // are mostly that). The ticket key is made here, lives only in memory and rotates every 6
    // hours (tickets last at most 12); every reload (SIGHUP: a new CRL) and restart builds a new
    // configuration and so a new key, which voids every ticket issued before it — a revoked
    // certificate cannot ride a resumed session past the reload that loads its revocation.
    // A resumed session carries the client certificate verified at its full handshake, so the
    // peer's identity is read exactly as after a full handshake. No early data (0-RTT).
    tls.ticketer = rustls::crypto::ring::Ticketer::new()?;
    tls.send_tls13_tickets = 1;
    Ok(tls)
}

/// The QUIC server configuration of a siso server: [`server_tls`] (client certificates of the
/// regional CA with its CRL, TLS 1.3, the one ALPN), at most `max_streams` concurrent request
/// streams per connection, no unidirectional streams, idle connections closed after
/// `idle_timeout_secs`. Called at start and on SIGHUP.
pub fn quic_server_config(
    ca_dir: &Path,
    cert: &Path,
    key: &Path,
    alpn: &[u8],
    max_streams: u32,
    idle_timeout_secs: u64,
) -> Result<quinn::ServerConfig, TlsError> {
    let tls = server_tls(ca_dir, cert, key, alpn)?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let idle = std::time::Duration::from_secs(idle_timeout_secs.max(1));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(max_streams))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(idle).map_err(|e| TlsError::Quic(e.to_string()))?,
        ));
    server.transport_config(Arc::new(transport));
    Ok(server)
}

/// The certificate chain a peer presented (the leaf first), if any.
pub fn peer_leaf(
    identity: Option<Box<dyn std::any::Any>>,
) -> Result<CertificateDer<'static>, String> {
    let identity = identity.ok_or("no client certificate")?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| "unexpected peer identity type")?;
    certs
        .first()
        .cloned()
        .ok_or_else(|| "empty certificate chain".into())
}

/// One dated piece of TLS material: what it is and when it stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// `certificate` (the server's or the node's own), `ca`, or `crl` (its next update).
    pub what: &'static str,
    /// When.
    pub at: time::OffsetDateTime,
}

fn pem_der(path: &Path, label: &str) -> Result<Vec<u8>, TlsError> {
    let text = std::fs::read(path).map_err(|e| pem_err(path, e))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).map_err(|e| pem_err(path, e))?;
    if pem.label != label {
        return Err(pem_err(
            path,
            format!("expected a {label}, found a {}", pem.label),
        ));
    }
    Ok(pem.contents)
}

fn asn1_time(
    path: &Path,
    t: x509_parser::time::ASN1Time,
) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| pem_err(path, e))
}

/// The expiry of `cert` and of the CA certificate `ca`, and the next update of the CRL `crl` (if
/// given and present).
pub fn expiries(cert: &Path, ca: &Path, crl: Option<&Path>) -> Result<Vec<Expiry>, TlsError> {
    let mut out = Vec::new();
    for (what, path) in [("certificate", cert), ("ca", ca)] {
        let der = pem_der(path, "CERTIFICATE")?;
        let (_, c) = x509_parser::parse_x509_certificate(&der).map_err(|e| pem_err(path, e))?;
        out.push(Expiry {
            what,
            at: asn1_time(path, c.validity().not_after)?,
        });
    }
    if let Some(path) = crl.filter(|p| p.exists()) {
        let der = pem_der(path, "X509 CRL")?;
        let (_, c) = x509_parser::parse_x509_crl(&der).map_err(|e| pem_err(path, e))?;
        if let Some(next) = c.next_update() {
            out.push(Expiry {
                what: "crl",
                at: asn1_time(path, next)?,
            });
        }
    }
    Ok(out)
}

/// Logs what expires soon: an error for what has expired, a warning for a certificate within 30
/// days or a CRL within 7. Returns the expiries (for the `siso_certificate_expiry_timestamp_seconds`
/// metric); an unreadable file is logged and left out.
pub fn warn_expiring(
    cert: &Path,
    ca: &Path,
    crl: Option<&Path>,
    now: time::OffsetDateTime,
) -> Vec<Expiry> {
    let list = match expiries(cert, ca, crl) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "certificate expiry not readable");
            return Vec::new();
        }
    };
    for e in &list {
        let days = (e.at - now).whole_days();
        let margin = if e.what == "crl" { 7 } else { 30 };
        if e.at <= now {
            tracing::error!(what = e.what, at = %e.at, "expired: renew it now (docs/operations.md)");
        } else if days < margin {
            tracing::warn!(what = e.what, at = %e.at, days, "expires soon: renew it (docs/operations.md)");
        }
    }
    list
}

/// The Prometheus lines of `siso_certificate_expiry_timestamp_seconds` for `list`.
pub fn expiry_metrics(list: &[Expiry]) -> String {
    let mut s = String::from(
        "# HELP siso_certificate_expiry_timestamp_seconds When a certificate expires or a CRL needs its next update.\n\
         # TYPE siso_certificate_expiry_timestamp_seconds gauge\n",
    );
    for e in list {
        s.push_str(&format!(
            "siso_certificate_expiry_timestamp_seconds{{what=\"{}\"}} {}\n",
            e.what,
            e.at.unix_timestamp()
        ));
    }
    s
}

#[cfg(test)]
mod tests;
