//! Logging in and out, the session cookie and the CSRF check, for the pages (forms) and the
//! JSON API alike.
//!
//! The cookie is `siso_sessione=TOKEN; Path=/; HttpOnly; SameSite=Strict` (and `Secure` over
//! HTTPS). A form carries the session's CSRF token in a hidden `csrf` field; an API request in
//! the `X-CSRF-Token` header. Log-in failures are logged with the user name and the client
//! address, never with the password.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;
use siso_server::web::{client_addr, Password, Session, Verdict};
use time::OffsetDateTime;

use super::pages;
use super::{on_store, Peer, WebState};
use crate::accounts;
use crate::audit::Action;
use crate::store::AuditRecord;

/// The session cookie's name.
pub(super) const COOKIE: &str = "siso_sessione";

/// A request's live session and its token.
pub(super) struct Current {
    pub(super) token: String,
    pub(super) session: Session,
    /// The client's address (unspecified when the connection's peer is unknown).
    pub(super) addr: IpAddr,
}

fn now(s: &WebState) -> OffsetDateTime {
    s.0.clock.now()
}

/// The session token in the request's cookies, if any.
fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The live session of a request (touching it).
pub(super) fn current(s: &WebState, headers: &HeaderMap) -> Option<Current> {
    let token = token_of(headers)?;
    let session = s.0.sessions.touch(&token, now(s))?;
    let addr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    Some(Current {
        token,
        session,
        addr,
    })
}

/// Records an event in the audit trail; false (and an error in the log) if it could not be
/// written — the caller then refuses to show what it would have recorded.
pub(super) fn audit(
    s: &WebState,
    user: &str,
    role: &str,
    action: Action,
    persons: &[String],
    detail: &str,
    addr: IpAddr,
) -> bool {
    let rec = AuditRecord {
        seq: 0,
        time: now(s).unix_timestamp(),
        user: user.to_owned(),
        role: role.to_owned(),
        action: action.as_str().to_owned(),
        persons: persons.to_vec(),
        detail: detail.to_owned(),
        addr: addr.to_string(),
        prev: [0; 32],
    };
    match s.0.audit.record(&s.0.store, rec) {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, "web: audit trail not written");
            false
        }
    }
}

/// The session of a page request; without one the extractor answers with a redirection to the
/// log-in page.
pub(super) struct PageSession(pub(super) Current);

impl FromRequestParts<WebState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Response> {
        match ApiSession::from_request_parts(parts, s).await {
            Ok(ApiSession(c)) => Ok(PageSession(c)),
            Err(_) => Err(Redirect::to("/accesso").into_response()),
        }
    }
}

/// The session of an API request; without one, 401.
pub(super) struct ApiSession(pub(super) Current);

impl FromRequestParts<WebState> for ApiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Response> {
        let mut c = current(s, &parts.headers)
            .ok_or_else(|| api_error(StatusCode::UNAUTHORIZED, "sessione assente o scaduta"))?;
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<Peer>>() {
            c.addr = client(s, *peer, &parts.headers);
        }
        Ok(ApiSession(c))
    }
}

/// The session of an API request that changes state: 401 without a session, 403 without its
/// CSRF token in `X-CSRF-Token`.
pub(super) struct ApiWrite(pub(super) Current);

impl FromRequestParts<WebState> for ApiWrite {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Response> {
        let ApiSession(c) = ApiSession::from_request_parts(parts, s).await?;
        let presented = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !c.session.csrf_ok(presented) {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "codice CSRF mancante o errato (intestazione X-CSRF-Token)",
            ));
        }
        Ok(ApiWrite(c))
    }
}

fn cookie(s: &WebState, token: &str) -> HeaderValue {
    let secure = if s.0.opts.https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("siso_sessione=; Path=/"))
}

fn clear_cookie(s: &WebState) -> HeaderValue {
    let secure = if s.0.opts.https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("siso_sessione=; Path=/; Max-Age=0"))
}

fn client(s: &WebState, peer: Peer, headers: &HeaderMap) -> IpAddr {
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_addr(peer.0.ip(), xff, &s.0.opts.proxies)
}

/// Why a log-in was refused.
enum Refusal {
    Wrong,
    Locked(OffsetDateTime),
    Limited(OffsetDateTime),
    Internal,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Wrong => StatusCode::UNAUTHORIZED,
            Refusal::Locked(_) | Refusal::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message an operator reads.
    fn message(&self) -> String {
        let at = |t: &OffsetDateTime| format!("{:02}:{:02} (UTC)", t.hour(), t.minute());
        match self {
            Refusal::Wrong => "Nome utente o password non corretti.".into(),
            Refusal::Locked(t) => format!(
                "Troppi tentativi di accesso non riusciti: l'account è bloccato fino alle {}. \
                 Per sbloccarlo prima, rivolgersi all'amministratore.",
                at(t)
            ),
            Refusal::Limited(t) => format!(
                "Troppi tentativi di accesso da questo indirizzo: riprovare dopo le {}.",
                at(t)
            ),
            Refusal::Internal => "Errore interno: riprovare fra qualche istante.".into(),
        }
    }
}

/// Checks the throttle and the password; on success a new session and its token.
async fn log_in(
    s: &WebState,
    username: &str,
    password: &str,
    addr: IpAddr,
) -> Result<(String, Session), Refusal> {
    let t = now(s);
    let refused = match s.0.throttle.check(username, addr, t) {
        Verdict::Allowed => None,
        Verdict::AccountLocked(until) => Some((Refusal::Locked(until), "account bloccato")),
        Verdict::AddressLimited(until) => {
            Some((Refusal::Limited(until), "troppi tentativi dall'indirizzo"))
        }
    };
    if let Some((r, why)) = refused {
        audit(s, username, "", Action::AccessoRifiutato, &[], why, addr);
        return Err(r);
    }
    let (user, pw) = (username.to_owned(), Password::candidate(password));
    let account = on_store(s, "log-in check", move |i| {
        accounts::authenticate(&i.store, &user, &pw)
    })
    .await
    .ok_or(Refusal::Internal)?;
    let Some(a) = account else {
        let locked = s.0.throttle.failed(username, t);
        tracing::warn!(user = username, addr = %addr, locked, "web: log-in refused");
        let why = if locked {
            "password errata; account bloccato"
        } else {
            "password errata"
        };
        audit(s, username, "", Action::AccessoRifiutato, &[], why, addr);
        return Err(if locked {
            Refusal::Locked(t + s.0.throttle_lockout())
        } else {
            Refusal::Wrong
        });
    };
    s.0.throttle.succeeded(username);
    let (token, session) =
        s.0.sessions
            .create(&a.username, a.role.as_str(), t)
            .ok_or(Refusal::Internal)?;
    tracing::info!(user = %a.username, role = %a.role, addr = %addr, "web: logged in");
    if !audit(
        s,
        &a.username,
        a.role.as_str(),
        Action::Accesso,
        &[],
        "",
        addr,
    ) {
        s.0.sessions.end(&token);
        return Err(Refusal::Internal);
    }
    Ok((token, session))
}

/// Credentials as the log-in form and the API send them.
#[derive(Deserialize)]
pub(super) struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

/// `GET /`: the home page, or the log-in page for a visitor without a session.
pub(super) async fn home(State(s): State<WebState>, PageSession(c): PageSession) -> Response {
    pages::html(pages::home(&s.member_label(), &c.session))
}

/// `GET /accesso`: the log-in form.
pub(super) async fn login_page(State(s): State<WebState>, headers: HeaderMap) -> Response {
    if current(&s, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    pages::html(pages::login(&s.member_label(), "", None))
}

/// `POST /accesso`: the log-in form submitted.
pub(super) async fn login_form(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Response {
    let addr = client(&s, peer, &headers);
    match log_in(&s, &c.username, &c.password, addr).await {
        Ok((token, _)) => {
            let mut r = Redirect::to("/").into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, cookie(&s, &token));
            r
        }
        Err(e) => {
            let page = pages::login(&s.member_label(), &c.username, Some(&e.message()));
            (e.status(), pages::html(page)).into_response()
        }
    }
}

/// The CSRF field of a form.
#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /esci`: log-out from a page.
pub(super) async fn logout_form(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !c.session.csrf_ok(&f.csrf) {
        return forbidden_page(&s);
    }
    s.0.sessions.end(&c.token);
    tracing::info!(user = %c.session.user, "web: logged out");
    let (user, role) = (&c.session.user, &c.session.role);
    audit(&s, user, role, Action::Uscita, &[], "", c.addr);
    let mut r = Redirect::to("/accesso").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie(&s));
    r
}

fn forbidden_page(s: &WebState) -> Response {
    let page = pages::message(
        &s.member_label(),
        "Richiesta non valida",
        "La richiesta non porta il codice di sicurezza della sessione (CSRF). Ricaricare la pagina e riprovare.",
    );
    (StatusCode::FORBIDDEN, pages::html(page)).into_response()
}

pub(super) fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "errore": message }))).into_response()
}

/// `POST /api/v1/sessione` with `{"username","password"}`: 200 `{"csrf","ruolo","utente"}` and
/// the session cookie; 401 on wrong credentials; 429 while locked out or rate-limited.
pub(super) async fn api_login(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(c) = serde_json::from_slice::<Credentials>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "corpo non valido: atteso {\"username\": …, \"password\": …}",
        );
    };
    let addr = client(&s, peer, &headers);
    match log_in(&s, &c.username, &c.password, addr).await {
        Ok((token, session)) => {
            let mut r = Json(json!({
                "csrf": session.csrf,
                "ruolo": session.role,
                "utente": session.user,
            }))
            .into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, cookie(&s, &token));
            r
        }
        Err(e) => api_error(e.status(), &e.message()),
    }
}

/// `GET /api/v1/sessione`: the current session (`utente`, `ruolo`, `csrf`), or 401.
pub(super) async fn api_session(ApiSession(c): ApiSession) -> Response {
    Json(json!({
        "utente": c.session.user,
        "ruolo": c.session.role,
        "csrf": c.session.csrf,
    }))
    .into_response()
}

/// `DELETE /api/v1/sessione`: log-out; 204.
pub(super) async fn api_logout(State(s): State<WebState>, ApiWrite(c): ApiWrite) -> Response {
    s.0.sessions.end(&c.token);
    tracing::info!(user = %c.session.user, "web: logged out");
    let (user, role) = (&c.session.user, &c.session.role);
    audit(&s, user, role, Action::Uscita, &[], "", c.addr);
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie(&s));
    r
}

/// Anything else: 404, as JSON under `/api/`, as a page elsewhere.
pub(super) async fn not_found(State(s): State<WebState>, uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return api_error(StatusCode::NOT_FOUND, "risorsa inesistente");
    }
    let page = pages::message(
        &s.member_label(),
        "Pagina non trovata",
        "L'indirizzo richiesto non esiste.",
    );
    (StatusCode::NOT_FOUND, pages::html(page)).into_response()
}
