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
/// `CA_DIR/ca.pem` with `CA_DIR/crl.pem`, TLS 1.3 only, no early data, the one ALPN given.
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
        .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.max_early_data_size = 0;
    Ok(tls)
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
