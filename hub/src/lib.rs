//! `siso-hub`: the Region's hub. Receives pseudonymous household records and aggregates from
//! member nodes over mutual-TLS QUIC, detects overlaps, and serves analysts over HTTP.
//!
//! **Invariant:** the hub never receives or stores a codice fiscale, a name or an address, and
//! never reads the fingerprint secret.
//!
//! Entry point for binaries and tests: [`start`] binds both servers (port 0 works) and returns
//! their addresses; cancelling the token shuts them down.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod config;
pub mod dashboard;
pub mod disclosure;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod overlap;
pub mod plan;
pub mod release;
pub mod server;
pub mod service;
pub mod stats;
pub mod store;
pub mod tls;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::HubConfig;
use crate::service::{Clock, Hub};

/// Startup errors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// TLS material problem.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Store problem.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Service startup problem.
    #[error(transparent)]
    Hub(#[from] service::HubError),
    /// The accounts file is unreadable or invalid.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// Socket or file problem.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Maps an I/O error to [`StartError::Io`] saying what failed.
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// A running hub.
#[derive(Debug)]
pub struct Running {
    /// The QUIC endpoint's address.
    pub quic_addr: SocketAddr,
    /// The HTTP server's address.
    pub http_addr: SocketAddr,
    /// The service.
    pub hub: Arc<Hub>,
    /// The QUIC endpoint (to swap TLS configuration on SIGHUP).
    pub endpoint: quinn::Endpoint,
    /// Completes when both servers have stopped and the store is flushed.
    pub done: tokio::task::JoinHandle<()>,
}

/// Cuts a release of every epoch with new data once ingest has been quiet for `quiet`, until
/// `shutdown`. A refused release leaves the previous one published (and is logged).
async fn auto_release(hub: Arc<Hub>, quiet: std::time::Duration, shutdown: CancellationToken) {
    let period = quiet.clamp(
        std::time::Duration::from_millis(20),
        std::time::Duration::from_millis(250),
    );
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for epoch in hub.take_quiet(quiet) {
            let h = hub.clone();
            let p = release::Period { epoch, month: None };
            match tokio::task::spawn_blocking(move || h.cut_release(p)).await {
                Ok(Ok(_)) => {}
                Ok(Err(service::HubError::Release(
                    e @ (release::ReleaseError::Unchanged(_) | release::ReleaseError::Empty(_)),
                ))) => tracing::debug!(%p, reason = %e, "no new release"),
                Ok(Err(e)) => tracing::error!(%p, error = %e, "release not cut"),
                Err(e) => tracing::error!(%p, error = %e, "release task failed"),
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// Checks the message log's chain now and then every `minutes` (0: once), until `shutdown`.
async fn check_chain(hub: Arc<Hub>, minutes: u64, shutdown: CancellationToken) {
    loop {
        let h = hub.clone();
        match tokio::task::spawn_blocking(move || h.check_chain()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "message log chain not checked"),
            Err(e) => tracing::error!(error = %e, "message log chain check failed"),
        }
        if minutes == 0 {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(minutes * 60)) => {}
        }
    }
}

/// Logs the hub's certificate, CA and CRL expiring soon and keeps their dates for `/metrics`
/// (at start and on SIGHUP).
pub fn record_expiries(hub: &Hub, cfg: &HubConfig) {
    let list = siso_server::tls::warn_expiring(
        &cfg.cert,
        &cfg.ca_dir.join("ca.pem"),
        Some(&cfg.ca_dir.join("crl.pem")),
        time::OffsetDateTime::now_utc(),
    );
    *hub.metrics
        .expiries
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = list;
}

/// Opens the store, binds the QUIC endpoint and the HTTP server, and serves until `shutdown`.
pub async fn start(
    cfg: &HubConfig,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    cfg.check()?;
    let token = std::fs::read_to_string(&cfg.analyst_token_file)
        .map_err(io(format!("reading {}", cfg.analyst_token_file.display())))?;
    let store = store::Store::open(&cfg.store_dir(), store::OpenMode::Existing)?;
    let hub = Arc::new(Hub::open(store, cfg.access.clone(), cfg.stats.k, clock)?);
    let server_config = tls::server_config(cfg)?;
    record_expiries(&hub, cfg);
    let endpoint = quinn::Endpoint::server(server_config, cfg.listen)
        .map_err(io(format!("binding QUIC endpoint on {}", cfg.listen)))?;
    let quic_addr = endpoint.local_addr().map_err(io("QUIC endpoint address"))?;
    let listener = tokio::net::TcpListener::bind(cfg.http)
        .await
        .map_err(io(format!("binding HTTP server on {}", cfg.http)))?;
    let http_addr = listener.local_addr().map_err(io("HTTP server address"))?;
    let accounts = accounts::AccountsFile::open(&cfg.data_dir)?;
    let state = http::HttpState {
        hub: hub.clone(),
        auth: Arc::new(http::auth::Auth {
            analyst_hash: blake3::hash(token.trim().as_bytes()),
            accounts: Arc::new(accounts),
            sessions: siso_server::web::Sessions::new(Default::default()),
            throttle: siso_server::web::LoginThrottle::new(Default::default()),
        }),
    };
    let quic = tokio::spawn(server::run(
        endpoint.clone(),
        hub.clone(),
        cfg.limits.clone(),
        shutdown.clone(),
    ));
    let web = tokio::spawn(http::run(listener, state, shutdown.clone()));
    let admin = tokio::spawn(siso_server::admin::serve(
        siso_server::admin::socket_path(&cfg.data_dir),
        {
            let hub = hub.clone();
            siso_server::admin::backup_handler(move |out| hub.store().dump(out))
        },
        shutdown.clone(),
    ));
    let chain = tokio::spawn(check_chain(
        hub.clone(),
        cfg.audit_check_minutes,
        shutdown.clone(),
    ));
    let releases = (cfg.stats.release_quiet_ms > 0).then(|| {
        tokio::spawn(auto_release(
            hub.clone(),
            std::time::Duration::from_millis(cfg.stats.release_quiet_ms),
            shutdown.clone(),
        ))
    });
    if releases.is_some() {
        hub.mark_all_changed()?;
    }
    tracing::info!(%quic_addr, %http_addr, "hub serving");
    let done = tokio::spawn(async move {
        let _ = quic.await;
        let _ = chain.await;
        if let Some(r) = releases {
            // A release being cut is finished and stored before the store is closed.
            let _ = r.await;
        }
        match admin.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "admin socket failed"),
            Err(e) => tracing::warn!(error = %e, "admin socket task failed"),
            Ok(Ok(())) => {}
        }
        tracing::debug!("waiting for the HTTP server");
        match web.await {
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
            Ok(Ok(())) => {}
        }
    });
    Ok(Running {
        quic_addr,
        http_addr,
        hub,
        endpoint,
        done,
    })
}
