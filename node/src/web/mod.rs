//! The operators' web app of a node (Italian UI) and the JSON API under `/api/v1/` that its
//! scripts and the phone app use. Server-rendered HTML (maud), no script needed to work, every
//! asset compiled in; the shared security layer (`siso_server::web`) for passwords, sessions,
//! CSRF tokens, log-in throttling and headers.
//!
//! `run(listener, tls, state, shutdown)` serves on a bound listener (tests use `127.0.0.1:0`);
//! `siso-node serve` binds `[web] listen`, over HTTPS with `[web] cert` and `key`, or over plain
//! HTTP on a loopback address only.
//!
//! Sessions are held in memory: a restart of the node ends every session cleanly, and the
//! operators log in again.
//!
//! **Invariant:** every page and reply carries the security headers and `Cache-Control:
//! no-store` (static assets excepted); every state-changing request but the log-in itself
//! needs a live session and its CSRF token.

mod auth;
mod card;
mod card_page;
mod caseload;
mod desk;
mod pages;
mod phone;
mod search;
mod tls;
mod trail;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use siso_server::clock::Clock;
use siso_server::web::{
    security_headers, LoginThrottle, SecurityHeaders, SessionLimits, Sessions, ThrottleLimits,
    TrustedProxies,
};
use siso_shared::MemberId;
use tokio_util::sync::CancellationToken;

pub use tls::{server_config, Peer, TlsError, TlsListener};

use crate::audit::AuditTrail;
use crate::persons::{self, PersonError, PersonIndex};
use crate::store::Store;

/// How the web app behaves.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// This node's member id (the header names its Comune or entity).
    pub member: MemberId,
    /// Served over HTTPS (cookies `Secure`, HSTS).
    pub https: bool,
    /// Session lifetimes.
    pub sessions: SessionLimits,
    /// Log-in throttling.
    pub throttle: ThrottleLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    /// The assessment rules (the card's assessment of the household).
    pub rules: crate::rules::Rules,
}

struct Inner {
    store: Store,
    audit: AuditTrail,
    ids: persons::IdKey,
    persons: std::sync::RwLock<PersonIndex>,
    sessions: Sessions,
    throttle: LoginThrottle,
    opts: WebOptions,
    clock: Arc<dyn Clock>,
}

impl Inner {
    fn throttle_lockout(&self) -> time::Duration {
        self.opts.throttle.lockout
    }
}

/// The state every handler shares.
#[derive(Clone)]
pub struct WebState(Arc<Inner>);

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("opts", &self.0.opts)
            .field("sessions", &self.0.sessions)
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// The web app over a node's store: reads (or makes) the person id key and builds the
    /// person search index in memory.
    pub fn open(
        store: Store,
        opts: WebOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<WebState, PersonError> {
        let started = std::time::Instant::now();
        let ids = persons::id_key(&store)?;
        let index = PersonIndex::build(&store, ids.clone())?;
        tracing::info!(
            persons = index.len(),
            seconds = started.elapsed().as_secs_f64(),
            "person search index built"
        );
        let audit = AuditTrail::open(&store)?;
        Ok(WebState(Arc::new(Inner {
            store,
            audit,
            ids,
            persons: std::sync::RwLock::new(index),
            sessions: Sessions::new(opts.sessions),
            throttle: LoginThrottle::new(opts.throttle),
            opts,
            clock,
        })))
    }

    /// The name the header shows: "Comune di Perugia", or the entity's id.
    fn member_label(&self) -> String {
        match &self.0.opts.member {
            MemberId::Comune(code) => siso_shared::comuni::by_istat(code)
                .map(|c| format!("Comune di {}", c.name))
                .unwrap_or_else(|| format!("Comune {code}")),
            other => other.to_string(),
        }
    }
}

/// Runs a store function on the blocking pool (argon2id, sled reads and flushes); `None`, with
/// the error in the log, if it failed.
async fn on_store<T, E>(
    s: &WebState,
    what: &'static str,
    f: impl FnOnce(&Inner) -> Result<T, E> + Send + 'static,
) -> Option<T>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let inner = s.0.clone();
    match tokio::task::spawn_blocking(move || f(&inner)).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "web: {what} failed");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "web: {what} did not complete");
            None
        }
    }
}

/// The style sheet, compiled in.
const CSS: &str = include_str!("static/siso.css");

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// The router of the web app and its API.
pub fn router(state: WebState) -> Router {
    let headers = SecurityHeaders {
        https: state.0.opts.https,
    };
    Router::new()
        .route("/", get(auth::home))
        .route("/accesso", get(auth::login_page).post(auth::login_form))
        .route("/esci", axum::routing::post(auth::logout_form))
        .route(
            "/api/v1/sessione",
            get(auth::api_session)
                .post(auth::api_login)
                .delete(auth::api_logout),
        )
        .route("/persone", get(search::page))
        .route("/persone/{id}", get(card::page))
        .route("/persone/{id}/{record}", post(desk::record_form))
        .route("/casi/{id}/{step}", post(desk::step_form))
        .route("/segnalazioni/{key}/verifica", post(desk::follow_up_form))
        .route("/carico", get(caseload::page))
        .route("/servizio", get(caseload::service_page))
        .route("/rendiconto", get(caseload::rendiconto_page))
        .route("/registro", get(trail::page))
        .route("/api/v1/persone", get(search::api))
        .route("/api/v1/persone/{id}", get(card::api))
        .route("/api/v1/accessi", post(desk::api_accesso))
        .route("/api/v1/prese-in-carico", post(desk::api_presa))
        .route("/api/v1/interventi", post(desk::api_intervento))
        .route("/api/v1/attivita", post(desk::api_attivita))
        .route("/api/v1/casi/{id}/{step}", post(desk::api_step))
        .route(
            "/api/v1/segnalazioni/{key}/verifica",
            post(desk::api_follow_up),
        )
        .route("/api/v1/carico", get(caseload::api))
        .route("/api/v1/servizio", get(caseload::service_api))
        .route("/api/v1/rendiconto", get(caseload::rendiconto_api))
        .route("/api/v1/audit", get(trail::api))
        .route("/api/v1/audit/esportazione", get(trail::export))
        .route("/static/siso.css", get(css))
        .route(
            "/app",
            get(|| async { axum::response::Redirect::permanent("/app/") }),
        )
        .route("/app/", get(phone::shell))
        .route("/app/app.js", get(phone::app_js))
        .route("/app/sw.js", get(phone::sw_js))
        .route("/app/icon.svg", get(phone::icon))
        .route("/app/manifest.webmanifest", get(phone::manifest))
        .route("/api/v1/dispositivo", post(phone::device_key))
        .route("/api/v1/luoghi", get(phone::places))
        .route(
            "/api/v1/dispositivo/{id}",
            axum::routing::delete(phone::revoke_own),
        )
        .route("/api/v1/utenti/{user}/dispositivi", get(phone::list))
        .route(
            "/api/v1/utenti/{user}/dispositivi/{id}",
            axum::routing::delete(phone::revoke_other),
        )
        .fallback(auth::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            headers,
            security_headers,
        ))
}

/// Errors starting the web app of `serve`.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address could not be bound.
    #[error("binding the web app on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The person index or the audit trail could not be read.
    #[error(transparent)]
    Person(#[from] PersonError),
}

/// Starts the web app as `[web]` of `node.toml` says (HTTPS with `cert` and `key`, else plain
/// HTTP, which the configuration allows only on loopback) until `shutdown` is cancelled.
pub async fn start(
    cfg: &crate::config::NodeConfig,
    store: Store,
    rules: crate::rules::Rules,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, WebError> {
    let w = &cfg.web;
    let tls = match (&w.cert, &w.key) {
        (Some(c), Some(k)) => Some(server_config(c, k)?),
        _ => {
            tracing::warn!(
                listen = %w.listen,
                "web app over plain HTTP (loopback only): put it behind an HTTPS reverse proxy, or set [web] cert and key"
            );
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(w.listen)
        .await
        .map_err(|source| WebError::Bind {
            addr: w.listen,
            source,
        })?;
    let opts = WebOptions {
        member: cfg.member_id()?,
        https: tls.is_some(),
        sessions: SessionLimits {
            idle: time::Duration::minutes(i64::from(w.session_idle_minutes)),
            absolute: time::Duration::hours(i64::from(w.session_max_hours)),
            ..Default::default()
        },
        throttle: Default::default(),
        proxies: TrustedProxies(w.trusted_proxies.clone()),
        rules,
    };
    let state = WebState::open(store, opts, Arc::new(siso_server::clock::SystemClock))?;
    tracing::info!(web = %w.listen, https = tls.is_some(), "web app serving");
    Ok(tokio::spawn(run(listener, tls, state, shutdown)))
}

/// Serves the web app on `listener` (over TLS with `tls`) until `shutdown` is cancelled.
pub async fn run(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: WebState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<Peer>();
    let stop = async move { shutdown.cancelled().await };
    match tls {
        Some(cfg) => {
            axum::serve(TlsListener::new(listener, cfg)?, app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}
