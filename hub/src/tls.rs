//! TLS for the hub's QUIC endpoint: TLS 1.3 only, the ring provider, ALPN `siso/1`, client
//! certificates required and verified against the regional CA with its CRL.
//!
//! **Invariant:** a client without a certificate, with another CA's, an expired or a revoked
//! certificate, or without ALPN `siso/1` never completes the handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::config::HubConfig;

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

/// Builds the QUIC server configuration from the hub configuration (CA, CRL, certificate, key,
/// limits). Called at start and on SIGHUP.
pub fn server_config(cfg: &HubConfig) -> Result<quinn::ServerConfig, TlsError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    let ca_path = cfg.ca_dir.join("ca.pem");
    for c in load_certs(&ca_path)? {
        roots.add(c).map_err(|e| pem_err(&ca_path, e))?;
    }
    let crls = load_crls(&cfg.ca_dir)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&cfg.cert)?, load_key(&cfg.key)?)?;
    tls.alpn_protocols = vec![siso_shared::wire::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(
            cfg.limits.max_streams_per_connection,
        ))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(cfg.limits.idle_timeout_secs.max(1)))
                .map_err(|e| TlsError::Quic(e.to_string()))?,
        ));
    server.transport_config(Arc::new(transport));
    Ok(server)
}
