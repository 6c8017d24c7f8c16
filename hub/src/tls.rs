//! TLS for the hub's QUIC endpoint: TLS 1.3 only, the ring provider, ALPN `siso/1`, client
//! certificates required and verified against the regional CA with its CRL
//! ([`siso_server::tls::server_tls`]).
//!
//! **Invariant:** a client without a certificate, with another CA's, an expired or a revoked
//! certificate, or without ALPN `siso/1` never completes the handshake.

use std::sync::Arc;
use std::time::Duration;

pub use siso_server::tls::{load_certs, load_crls, load_key, provider, TlsError};

use crate::config::HubConfig;

/// Builds the QUIC server configuration from the hub configuration (CA, CRL, certificate, key,
/// limits). Called at start and on SIGHUP.
pub fn server_config(cfg: &HubConfig) -> Result<quinn::ServerConfig, TlsError> {
    let tls =
        siso_server::tls::server_tls(&cfg.ca_dir, &cfg.cert, &cfg.key, siso_shared::wire::ALPN)?;
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
