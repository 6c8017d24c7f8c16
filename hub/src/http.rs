//! The hub's HTTP server: `/healthz`, `/metrics` (open), and the region analysts' API behind the
//! bearer token (`/api/overlaps`). Later issues add the dashboard and statistics here.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::service::Hub;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    /// The service.
    pub hub: Arc<Hub>,
    /// BLAKE3 of the analysts' bearer token (compared in constant time).
    pub token_hash: blake3::Hash,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpState { token_hash: <redacted> }")
    }
}

/// The router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/overlaps", get(overlaps))
        .with_state(state)
}

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(s): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.hub.metrics.render(s.hub.records()),
    )
        .into_response()
}

fn authorised(s: &HttpState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if blake3::hash(t.as_bytes()) == s.token_hash => Ok(()),
        _ => Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"siso-hub\"")],
            Json(json!({"error": "missing or wrong bearer token"})),
        )
            .into_response()
            .into()),
    }
}

/// Query of `/api/overlaps`.
#[derive(Debug, Deserialize)]
pub struct EpochQuery {
    /// The epoch (year).
    pub epoch: u16,
}

async fn overlaps(
    State(s): State<HttpState>,
    headers: HeaderMap,
    q: Result<Query<EpochQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authorised(&s, &headers) {
        return *r;
    }
    let Ok(Query(q)) = q else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "query parameter epoch=YEAR is required"})),
        )
            .into_response();
    };
    let sum = s.hub.summary(q.epoch);
    let pairs: Vec<_> = sum
        .pairs
        .iter()
        .map(|(a, b, n)| json!({"a": a.to_string(), "b": b.to_string(), "households": n}))
        .collect();
    let by_zona: Vec<_> = sum
        .by_zona
        .iter()
        .map(|(z, u, d)| json!({"zona": z, "unsupported_need": u, "double_economic_support": d}))
        .collect();
    Json(json!({
        "epoch": q.epoch,
        "pairs": pairs,
        "double_economic_support": sum.double_economic_support,
        "unsupported_need": sum.unsupported_need,
        "by_zona": by_zona,
        "records": sum.records,
        "supported_records": sum.supported_records,
        "supported_distinct": sum.supported_distinct,
    }))
    .into_response()
}
