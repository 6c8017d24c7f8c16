//! The hub's HTTP server: `/healthz`, `/metrics` (open), and the region analysts' API behind the
//! bearer token (`/api/overlaps`). Later issues add the dashboard and statistics here.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::release::Release;
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
        .route("/api/stats", get(stats))
        .route("/api/stats.csv", get(stats))
        .route("/api/public/summary", get(public_summary))
        .route("/", get(dashboard))
        .route("/login", get(login_link).post(login_form))
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
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("siso_token="))
        .next();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .or(cookie);
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
        "overlap_groups": sum.overlap_groups,
    }))
    .into_response()
}

/// Query of `/api/stats` and of the dashboard.
#[derive(Debug, Deserialize)]
pub struct StatsParams {
    /// Epoch.
    pub epoch: Option<u16>,
    /// `region`, `zona` or `comune`.
    pub level: Option<String>,
    /// A dimension.
    pub by: Option<String>,
    /// A month 1–12.
    pub month: Option<u8>,
    /// An area of need (dashboard filter).
    pub area: Option<String>,
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

fn boxed_bad_request(msg: &str) -> Box<Response> {
    Box::new(bad_request(msg))
}

fn current_epoch() -> u16 {
    time::OffsetDateTime::now_utc().year() as u16
}

fn parse_request(p: &StatsParams) -> Result<crate::stats::Request, Box<Response>> {
    use siso_shared::wire::Level;
    let level = match p.level.as_deref().unwrap_or("region") {
        "region" => Level::Region,
        "zona" => Level::Zona,
        "comune" => Level::Comune,
        _ => return Err(boxed_bad_request("level must be region, zona or comune")),
    };
    let by = match p.by.as_deref() {
        None | Some("") => None,
        Some(b) => Some(crate::stats::parse_dimension(b).ok_or_else(|| {
            boxed_bad_request(
                "by must be area_bisogno, tipo_intervento, age_band or household_type",
            )
        })?),
    };
    if let Some(m) = p.month {
        if !(1..=12).contains(&m) {
            return Err(boxed_bad_request("month must be 1 to 12"));
        }
    }
    let area = match p.area.as_deref() {
        None | Some("") => None,
        Some(a) => Some(
            a.parse::<siso_shared::AreaBisogno>()
                .map_err(|e| boxed_bad_request(&e.to_string()))?,
        ),
    };
    let epoch = p.epoch.unwrap_or_else(current_epoch);
    if !siso_shared::wire::EPOCHS.contains(&epoch) {
        return Err(boxed_bad_request("epoch out of range"));
    }
    Ok(crate::stats::Request {
        query: siso_shared::wire::StatsQuery {
            epoch,
            level,
            by,
            month: p.month,
        },
        area,
    })
}

/// The release a request is served from, or 503 naming why there is none.
fn release_or_503(
    s: &HttpState,
    epoch: u16,
    month: Option<u8>,
) -> Result<Arc<Release>, Box<Response>> {
    s.hub.release_for(epoch, month).ok_or_else(|| {
        Box::new(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                Json(json!({
                    "error": format!("no statistics released for {epoch} yet; retry later")
                })),
            )
                .into_response(),
        )
    })
}

/// The header naming the release a response was cut from: `id`, period and digest.
fn release_header(r: &Release) -> (header::HeaderName, String) {
    (
        header::HeaderName::from_static("siso-release"),
        format!(
            "{}; period={}; digest={}",
            r.meta.id,
            r.meta.period,
            r.meta.digest_hex()
        ),
    )
}

/// `/api/stats` (JSON) and `/api/stats.csv`: authorises, parses the query, and renders it from
/// the latest release of its period in the format the path names.
async fn stats(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    if let Err(r) = authorised(&s, &headers) {
        return *r;
    }
    let r = match parse_request(&p) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let rel = match release_or_503(&s, r.query.epoch, r.query.month) {
        Ok(c) => c,
        Err(e) => return *e,
    };
    if uri.path().ends_with(".csv") {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                release_header(&rel),
            ],
            crate::stats::to_csv(&rel.cube, &r),
        )
            .into_response()
    } else {
        (
            [release_header(&rel)],
            Json(crate::release::to_json(&rel, &r)),
        )
            .into_response()
    }
}

async fn public_summary(State(s): State<HttpState>, Query(p): Query<StatsParams>) -> Response {
    let epoch = p.epoch.unwrap_or_else(current_epoch);
    if !siso_shared::wire::EPOCHS.contains(&epoch) {
        return bad_request("epoch out of range");
    }
    let r = crate::stats::Request::total(epoch, siso_shared::wire::Level::Region);
    match release_or_503(&s, epoch, None) {
        Ok(rel) => (
            [release_header(&rel)],
            Json(crate::release::to_json(&rel, &r)),
        )
            .into_response(),
        Err(e) => *e,
    }
}

const LOGIN_PAGE: &str = "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>siso — Accesso</title></head><body style=\"font-family:system-ui,sans-serif;max-width:30em;margin:3em auto\"><h1>siso — Cruscotto regionale</h1><p>Inserire il token degli analisti regionali.</p><form method=\"post\" action=\"/login\"><input type=\"password\" name=\"token\" autocomplete=\"off\" size=\"40\"> <button type=\"submit\">Accedi</button></form></body></html>";

async fn dashboard(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    if authorised(&s, &headers).is_err() {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            LOGIN_PAGE,
        )
            .into_response();
    }
    let r = match parse_request(&p) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let epochs: Vec<u16> = {
        let mut e: Vec<u16> = s.hub.with_state(|st| st.epochs.keys().copied().collect());
        if !e.contains(&r.query.epoch) {
            e.push(r.query.epoch);
        }
        e.sort_unstable();
        e
    };
    match s.hub.release_for(r.query.epoch, None) {
        Some(rel) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                release_header(&rel),
            ],
            crate::dashboard::render(&rel, r.query.epoch, r.area, &epochs),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::RETRY_AFTER, "5"),
            ],
            crate::dashboard::unreleased(r.query.epoch, &epochs),
        )
            .into_response(),
    }
}

/// The login form's body.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The analysts' token.
    pub token: String,
    /// Where to go next (a path on this server).
    pub next: Option<String>,
}

fn login(s: &HttpState, f: &LoginForm) -> Response {
    if blake3::hash(f.token.trim().as_bytes()) != s.token_hash {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            LOGIN_PAGE,
        )
            .into_response();
    }
    let next = f
        .next
        .as_deref()
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or("/");
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!(
                    "siso_token={}; HttpOnly; SameSite=Strict; Path=/",
                    f.token.trim()
                ),
            ),
            (header::LOCATION, next.to_owned()),
        ],
    )
        .into_response()
}

async fn login_form(State(s): State<HttpState>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    login(&s, &f)
}

/// `GET /login?token=…&next=/…`: a one-step login for scripted and headless clients.
async fn login_link(State(s): State<HttpState>, Query(f): Query<LoginForm>) -> Response {
    login(&s, &f)
}
