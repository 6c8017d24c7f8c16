//! The hub's HTTP server: `/healthz`, `/metrics` and `/api/public/summary` (open); the
//! statistics API, the operational overlap list and the dashboard for the analysts' shared
//! token and for named accounts (`auth`, `crate::accounts`), each query scoped to what the
//! caller's role may read and written to the message log.
//!
//! **Invariant:** an `ufficio_di_piano` account reads Comune-level figures of its own zona only;
//! every other zona at zona level. A refusal is a 403 and a line of the message log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::accounts::{HubRole, Principal};
use crate::release::Release;
use crate::service::Hub;

pub mod auth;

use auth::{Auth, Caller, SESSION_COOKIE, TOKEN_COOKIE};

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The service.
    pub hub: Arc<Hub>,
    /// Who may ask.
    pub auth: Arc<Auth>,
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
        .route("/api/supply-demand", get(supply_demand))
        .route("/api/supply-demand.csv", get(supply_demand))
        .route("/api/supply-demand.xlsx", get(supply_demand))
        .route("/", get(dashboard))
        .route("/piano", get(plan_page))
        .route("/login", get(login_link).post(login_form))
        .route("/logout", axum::routing::post(logout))
        .route("/static/hub.css", get(css))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            siso_server::web::SecurityHeaders::default(),
            siso_server::web::security_headers,
        ))
}

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
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

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn unauthorised() -> Box<Response> {
    Box::new(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"siso-hub\"")],
            Json(json!({"error": "missing, wrong, revoked or expired token"})),
        )
            .into_response(),
    )
}

fn authorised(s: &HttpState, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    s.auth.identify(headers, now()).ok_or_else(|| {
        tracing::warn!("HTTP request refused: no valid token or session");
        unauthorised()
    })
}

/// Writes one query to the message log (caller, what was asked, rows served, outcome; the
/// query string hashed) and makes it durable.
async fn audit(s: &HttpState, who: &Principal, uri: &Uri, rows: u64, outcome: &'static str) {
    let kind = format!("http {}", uri.path());
    let query = uri.query().unwrap_or("");
    s.hub
        .record_http(&who.log_name(), &kind, rows, outcome, query.as_bytes());
    if let Err(e) = s.hub.store().flush().await {
        tracing::error!(error = %e, "message log flush failed");
    }
}

fn forbidden(msg: &str) -> Response {
    (StatusCode::FORBIDDEN, Json(json!({ "error": msg }))).into_response()
}

/// Narrows a request to what the caller may read: an `ufficio_di_piano` reads Comune-level
/// rows of its own zona only (asking for another zona's is refused).
fn scope(p: &Principal, r: &mut crate::stats::Request) -> Result<(), &'static str> {
    use siso_shared::wire::Level;
    if p.role == HubRole::UfficioDiPiano && r.query.level == Level::Comune {
        match (r.zona, p.zona) {
            (Some(asked), Some(own)) if asked != own => {
                return Err("this account reads Comune-level figures of its own zona only")
            }
            (_, own) => r.zona = own,
        }
    }
    Ok(())
}

/// Query of `/api/overlaps`.
#[derive(Debug, Deserialize)]
pub struct EpochQuery {
    /// The epoch (year).
    pub epoch: u16,
}

async fn overlaps(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    q: Result<Query<EpochQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let caller = match authorised(&s, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if caller.principal.role != HubRole::Regione {
        audit(&s, &caller.principal, &uri, 0, "forbidden").await;
        return forbidden("the overlap list is for the Region's analysts");
    }
    let Ok(Query(q)) = q else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "query parameter epoch=YEAR is required"})),
        )
            .into_response();
    };
    let sum = s.hub.summary(q.epoch);
    audit(&s, &caller.principal, &uri, sum.pairs.len() as u64, "ok").await;
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
    /// A zona sociale (1–12): only its rows.
    pub zona: Option<u8>,
    /// `/api/supply-demand`: `area_bisogno` (default) or `istat`.
    pub classification: Option<String>,
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
    if let Some(z) = p.zona {
        if siso_shared::comuni::zona(z).is_none() {
            return Err(boxed_bad_request("zona must be 1 to 12"));
        }
    }
    Ok(crate::stats::Request {
        zona: p.zona,
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

/// Narrows a request to what the caller may read and finds the release it is served from; a
/// refusal (403) or the lack of a release (503) is written to the message log.
async fn scoped_release(
    s: &HttpState,
    who: &Principal,
    uri: &Uri,
    r: &mut crate::stats::Request,
) -> Result<Arc<Release>, Box<Response>> {
    if let Err(msg) = scope(who, r) {
        audit(s, who, uri, 0, "forbidden").await;
        return Err(Box::new(forbidden(msg)));
    }
    match release_or_503(s, r.query.epoch, r.query.month) {
        Ok(rel) => Ok(rel),
        Err(e) => {
            audit(s, who, uri, 0, "unavailable").await;
            Err(e)
        }
    }
}

/// `/api/stats` (JSON) and `/api/stats.csv`: authorises, parses the query, and renders it from
/// the latest release of its period in the format the path names.
async fn stats(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    let caller = match authorised(&s, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let who = &caller.principal;
    let mut r = match parse_request(&p) {
        Ok(r) => r,
        Err(e) => {
            audit(&s, who, &uri, 0, "bad_request").await;
            return *e;
        }
    };
    let rel = match scoped_release(&s, who, &uri, &mut r).await {
        Ok(rel) => rel,
        Err(e) => return *e,
    };
    let served = crate::stats::rows(&rel.cube, &r).len() as u64;
    audit(&s, who, &uri, served, "ok").await;
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

/// `/api/supply-demand` (JSON) and `/api/supply-demand.csv` (Italian CSV): supply against
/// demand per unit and area (`crate::plan`), scoped like `/api/stats`.
async fn supply_demand(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    use crate::plan::{self, Classification};
    let caller = match authorised(&s, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let who = &caller.principal;
    let classification = match p.classification.as_deref() {
        None | Some("") | Some("area_bisogno") => Classification::Siso,
        Some("istat") => Classification::Istat,
        Some(_) => return bad_request("classification must be area_bisogno or istat"),
    };
    // The area is checked against the classification, not parsed as ours.
    let area = p.area.clone().filter(|a| !a.is_empty());
    let mut r = match parse_request(&StatsParams {
        area: None,
        by: None,
        ..p
    }) {
        Ok(r) => r,
        Err(e) => {
            audit(&s, who, &uri, 0, "bad_request").await;
            return *e;
        }
    };
    if let Some(a) = &area {
        if !plan::is_area(classification, a) {
            audit(&s, who, &uri, 0, "bad_request").await;
            return bad_request("area is not an area of the classification (or totale)");
        }
    }
    let xlsx = uri.path().ends_with(".xlsx");
    if xlsx {
        // The workbook holds a sheet of Comuni: scoped as Comune level.
        r.query.level = siso_shared::wire::Level::Comune;
    }
    let rel = match scoped_release(&s, who, &uri, &mut r).await {
        Ok(rel) => rel,
        Err(e) => return *e,
    };
    let previous = s.hub.release_for(r.query.epoch - 1, r.query.month);
    if xlsx {
        return match plan::workbook(&rel, previous.as_deref(), r.query.epoch, r.zona) {
            Ok(bytes) => {
                audit(&s, who, &uri, 1, "ok").await;
                (
                    [
                        (
                            header::CONTENT_TYPE,
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                                .to_owned(),
                        ),
                        (
                            header::CONTENT_DISPOSITION,
                            format!(
                                "attachment; filename=\"piano-di-zona-{}{}.xlsx\"",
                                r.query.epoch,
                                r.zona.map(|z| format!("-zona-{z}")).unwrap_or_default()
                            ),
                        ),
                        release_header(&rel),
                    ],
                    bytes,
                )
                    .into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "spreadsheet not written");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "the spreadsheet could not be written"})),
                )
                    .into_response()
            }
        };
    }
    let q = plan::Request {
        epoch: r.query.epoch,
        level: r.query.level,
        month: r.query.month,
        area,
        zona: r.zona,
        classification,
    };
    let rows = plan::rows(&rel, previous.as_deref(), &q).len() as u64;
    audit(&s, who, &uri, rows, "ok").await;
    if uri.path().ends_with(".csv") {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"domanda-offerta-{}.csv\"", q.epoch),
                ),
                release_header(&rel),
            ],
            plan::to_csv(&rel, previous.as_deref(), &q),
        )
            .into_response()
    } else {
        (
            [release_header(&rel)],
            Json(plan::to_json(&rel, previous.as_deref(), &q)),
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

/// The log-in page: a named account's user name and password, or the analysts' token.
fn login_page(status: StatusCode, error: Option<&str>, next: &str) -> Response {
    let esc = crate::dashboard::esc;
    let mut html = String::from("<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>siso — Accesso</title><link rel=\"stylesheet\" href=\"/static/hub.css\"></head><body><main class=\"login\"><h1>siso — Cruscotto regionale</h1>");
    if let Some(e) = error {
        html.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)));
    }
    html.push_str(&format!("<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{n}\"><label for=\"username\">Nome utente</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required><label for=\"password\">Password</label><input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required><button type=\"submit\">Accedi</button></form><details><summary>Accesso con il token degli analisti regionali</summary><form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{n}\"><label for=\"token\">Token</label><input id=\"token\" type=\"password\" name=\"token\" autocomplete=\"off\"><button type=\"submit\">Accedi con il token</button></form></details></main></body></html>", n = esc(next)));
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::dashboard::CSS,
    )
        .into_response()
}

async fn dashboard(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    let Some(caller) = s.auth.identify(&headers, now()) else {
        return login_page(StatusCode::UNAUTHORIZED, None, "/");
    };
    let who = &caller.principal;
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
    let viewer = crate::dashboard::Viewer {
        name: &who.username,
        role: who.role.as_str(),
        zona: who.zona,
        csrf: caller.session.as_ref().map(|x| x.csrf.as_str()),
    };
    match s.hub.release_for(r.query.epoch, None) {
        Some(rel) => {
            audit(&s, who, &uri, 1, "ok").await;
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                    release_header(&rel),
                ],
                crate::dashboard::render(&rel, r.query.epoch, r.area, &epochs, &viewer),
            )
                .into_response()
        }
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

/// `/piano[?epoch=YEAR&zona=N]`: the *Piano di zona* page of a zona (an `ufficio_di_piano`'s own
/// by default; another's is 403), or the Region's overview.
async fn plan_page(
    State(s): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Response {
    let Some(caller) = s.auth.identify(&headers, now()) else {
        let next = uri
            .path_and_query()
            .map_or("/piano", |x| x.as_str())
            .to_owned();
        return login_page(StatusCode::UNAUTHORIZED, None, &next);
    };
    let who = &caller.principal;
    let r = match parse_request(&StatsParams {
        level: None,
        by: None,
        area: None,
        month: None,
        ..p
    }) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let zona = match (who.role, r.zona, who.zona) {
        (HubRole::UfficioDiPiano, Some(asked), Some(own)) if asked != own => {
            audit(&s, who, &uri, 0, "forbidden").await;
            return forbidden("this account reads its own zona only");
        }
        (HubRole::UfficioDiPiano, _, own) => own,
        (HubRole::Regione, asked, _) => asked,
    };
    let Some(rel) = s.hub.release_for(r.query.epoch, None) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::RETRY_AFTER, "5"),
            ],
            crate::dashboard::unreleased(r.query.epoch, &[r.query.epoch]),
        )
            .into_response();
    };
    let previous = s.hub.release_for(r.query.epoch - 1, None);
    let viewer = crate::dashboard::Viewer {
        name: &who.username,
        role: who.role.as_str(),
        zona: who.zona,
        csrf: caller.session.as_ref().map(|x| x.csrf.as_str()),
    };
    audit(&s, who, &uri, 1, "ok").await;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            release_header(&rel),
        ],
        crate::dashboard::plan_page(&rel, previous.as_deref(), r.query.epoch, zona, &viewer),
    )
        .into_response()
}

/// The log-in form's body: a user name and password, or the analysts' token.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The analysts' token (or an API token).
    pub token: Option<String>,
    /// A named account's user name.
    pub username: Option<String>,
    /// Its password (redacted in `Debug` by never being printed: the struct is not logged).
    pub password: Option<String>,
    /// Where to go next (a path on this server).
    pub next: Option<String>,
}

fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/")
}

fn redirect_with_cookie(cookie: String, next: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, next.to_owned()),
        ],
    )
        .into_response()
}

async fn login(s: &HttpState, peer: SocketAddr, f: &LoginForm) -> Response {
    let next = safe_next(f.next.as_deref());
    if let (Some(u), Some(pw)) = (f.username.as_deref(), f.password.as_deref()) {
        let u = u.trim();
        return match s.auth.log_in(u, pw, peer.ip(), now()) {
            Ok((token, p)) => {
                audit(s, &p, &Uri::from_static("/login"), 0, "ok").await;
                redirect_with_cookie(
                    format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
                    next,
                )
            }
            Err(msg) => {
                tracing::warn!(%peer, "hub log-in refused");
                login_page(StatusCode::UNAUTHORIZED, Some(msg), next)
            }
        };
    }
    let token = f.token.as_deref().unwrap_or("").trim();
    match s.auth.by_token(token) {
        Some(_) => redirect_with_cookie(
            format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
            next,
        ),
        None => login_page(
            StatusCode::UNAUTHORIZED,
            (!token.is_empty()).then_some("Token non valido o revocato."),
            next,
        ),
    }
}

async fn login_form(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    login(&s, peer, &f).await
}

/// `GET /login?token=…&next=/…`: a one-step login for scripted and headless clients; without a
/// token, the log-in page.
async fn login_link(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(f): Query<LoginForm>,
) -> Response {
    if f.token.is_none() {
        return login_page(StatusCode::OK, None, safe_next(f.next.as_deref()));
    }
    // A password never travels in a URL.
    let f = LoginForm {
        username: None,
        password: None,
        ..f
    };
    login(&s, peer, &f).await
}

/// The log-out form's body.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// The session's CSRF token.
    pub csrf: String,
}

async fn logout(
    State(s): State<HttpState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LogoutForm>,
) -> Response {
    let Some(token) = auth::cookie(&headers, SESSION_COOKIE) else {
        return login_page(StatusCode::OK, None, "/");
    };
    match s.auth.sessions.touch(token, now()) {
        Some(session) if session.csrf_ok(&f.csrf) => {
            s.auth.sessions.end(token);
            (
                StatusCode::SEE_OTHER,
                [
                    (
                        header::SET_COOKIE,
                        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
                    ),
                    (header::LOCATION, "/login".to_owned()),
                ],
            )
                .into_response()
        }
        Some(_) => forbidden("CSRF token missing or wrong"),
        None => login_page(StatusCode::OK, None, "/"),
    }
}
