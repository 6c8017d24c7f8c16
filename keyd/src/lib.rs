//! `siso-keyd`: the fingerprint key service (docs/PRIVACY.md, issue #17).
//!
//! Each instance holds one Shamir share of each epoch's OPRF key and evaluates blinded elements
//! for Comune and third-sector members over mutual-TLS QUIC (ALPN `siso-oprf/1`), within a budget
//! per member and epoch and a rate per minute. Three instances run by different custodians form
//! the 2-of-3 service; one alone learns nothing and can compute no fingerprint.
//!
//! - [`config`]: `keyd.toml`; [`shares`]: share files and the dealing ceremony;
//! - [`service`]: the protocol logic; [`server`]: QUIC; [`store`]: durable usage counts;
//! - [`metrics`]: Prometheus text on `/metrics`.

pub mod config;
pub mod metrics;
pub mod server;
pub mod service;
pub mod shares;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use siso_server::clock::Clock;
use tokio_util::sync::CancellationToken;

use crate::config::KeydConfig;
use crate::service::Keyd;

/// Startup errors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A share file.
    #[error(transparent)]
    Share(#[from] shares::ShareError),
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] siso_server::tls::TlsError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The service.
    #[error(transparent)]
    Keyd(#[from] service::KeydError),
    /// A socket.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running key service.
#[derive(Debug)]
pub struct Running {
    /// The QUIC endpoint's address.
    pub quic_addr: SocketAddr,
    /// The HTTP server's address.
    pub http_addr: SocketAddr,
    /// The service.
    pub keyd: Arc<Keyd>,
    /// The endpoint (to swap TLS configuration on SIGHUP).
    pub endpoint: quinn::Endpoint,
    /// Completes when the servers have stopped and the store is flushed.
    pub done: tokio::task::JoinHandle<()>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Logs the service's certificate, CA and CRL expiring soon and keeps their dates for
/// `/metrics` (at start and on SIGHUP).
pub fn record_expiries(keyd: &Keyd, cfg: &KeydConfig, now: time::OffsetDateTime) {
    let list = siso_server::tls::warn_expiring(
        &cfg.cert,
        &cfg.ca_dir.join("ca.pem"),
        Some(&cfg.ca_dir.join("crl.pem")),
        now,
    );
    *keyd
        .metrics
        .expiries
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = list;
}

/// Loads the shares, opens (creating if needed) the store, binds QUIC and HTTP, and serves until
/// `shutdown`.
pub async fn start(
    cfg: &KeydConfig,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    cfg.check().map_err(config::ConfigError::Invalid)?;
    let shares = cfg
        .shares
        .iter()
        .map(|p| shares::load_share(p))
        .collect::<Result<Vec<_>, _>>()?;
    let store = store::Store::open(&cfg.data_dir.join("store"), store::OpenMode::Create)?;
    let now = clock.now();
    let keyd = Arc::new(Keyd::new(shares, cfg.quota.clone(), store, clock)?);
    record_expiries(&keyd, cfg, now);
    let endpoint = quinn::Endpoint::server(server::server_config(cfg)?, cfg.listen)
        .map_err(io(format!("binding QUIC endpoint on {}", cfg.listen)))?;
    let quic_addr = endpoint.local_addr().map_err(io("QUIC endpoint address"))?;
    let listener = tokio::net::TcpListener::bind(cfg.http)
        .await
        .map_err(io(format!("binding HTTP server on {}", cfg.http)))?;
    let http_addr = listener.local_addr().map_err(io("HTTP server address"))?;
    let quic = tokio::spawn(server::run(
        endpoint.clone(),
        keyd.clone(),
        cfg.limits.clone(),
        shutdown.clone(),
    ));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(keyd.clone());
    let stop = shutdown.clone();
    let web = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    for (epoch, index) in keyd.epochs() {
        tracing::info!(epoch, share = index, "serving key share");
    }
    tracing::info!(%quic_addr, %http_addr, "key service serving");
    let done = tokio::spawn(async move {
        let _ = quic.await;
        match web.await {
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
            Ok(Ok(())) => {}
        }
    });
    Ok(Running {
        quic_addr,
        http_addr,
        keyd,
        endpoint,
        done,
    })
}

async fn metrics(State(keyd): State<Arc<Keyd>>) -> impl IntoResponse {
    let k = keyd.clone();
    let usage = tokio::task::spawn_blocking(move || k.usage_report())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        keyd.metrics.render(&usage),
    )
}
