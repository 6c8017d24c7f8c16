//! TLS for the hub's QUIC endpoint: TLS 1.3 only, the ring provider, ALPN `siso/1`, client
//! certificates required and verified against the regional CA with its CRL
//! ([`siso_server::tls::server_tls`]).
//!
//! **Invariant:** a client without a certificate, with another CA's, an expired or a revoked
//! certificate, or without ALPN `siso/1` never completes the handshake.

pub use siso_server::tls::{load_certs, load_crls, load_key, provider, TlsError};

use crate::config::HubConfig;

/// Builds the QUIC server configuration from the hub configuration (CA, CRL, certificate, key,
/// limits). Called at start and on SIGHUP.
pub fn server_config(cfg: &HubConfig) -> Result<quinn::ServerConfig, TlsError> {
    siso_server::tls::quic_server_config(
        &cfg.ca_dir,
        &cfg.cert,
        &cfg.key,
        siso_shared::wire::ALPN,
        cfg.limits.max_streams_per_connection,
        cfg.limits.idle_timeout_secs,
    )
}
