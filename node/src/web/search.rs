//! Person search, for every role that works with persons (not `amministratore`, who reads no
//! case data): `GET /persone?q=` (a page) and `GET /api/v1/persone?q=` (JSON). The query is
//! never logged: it may be a codice fiscale or a name.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::{api_error, audit, ApiSession, Current, PageSession};
use super::{on_store, pages, WebState};
use crate::audit::Action;
use crate::persons::PersonRow;

/// The query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchParams {
    #[serde(default)]
    q: Option<String>,
}

/// Why a search was not run.
enum Refused {
    /// The role reads no persons' data.
    Role,
    /// The store failed.
    Internal,
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Role => StatusCode::FORBIDDEN,
            Refused::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Refused::Role => "Accesso non consentito",
            Refused::Internal => "Errore",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refused::Role => "Il ruolo di amministratore non consulta i dati delle persone.",
            Refused::Internal => "Errore interno: riprovare fra qualche istante.",
        }
    }
}

/// Searches for a session that may (every role but `amministratore`).
async fn run_search(s: &WebState, c: &Current, q: String) -> Result<Vec<PersonRow>, Refused> {
    if c.session.role == "amministratore" {
        return Err(Refused::Role);
    }
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let rows = on_store(s, "person search", move |i| {
        let index = i.persons.read().unwrap_or_else(|p| p.into_inner());
        index.search(&i.store, &q)
    })
    .await
    .ok_or(Refused::Internal)?;
    // Who saw whom: recorded before anything is shown (never the query itself).
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let detail = format!("{} risultati", rows.len());
    let (user, role) = (&c.session.user, &c.session.role);
    if !audit(s, user, role, Action::Ricerca, &ids, &detail, c.addr) {
        return Err(Refused::Internal);
    }
    Ok(rows)
}

/// `GET /api/v1/persone?q=TEXT` → `{"rows": [{"id", "codice_fiscale", "cognome", "nome",
/// "id_famiglia"}…]}`; 400 without `q`, 401 without a session, 403 for `amministratore`.
pub(super) async fn api(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Query(SearchParams { q }): Query<SearchParams>,
) -> Response {
    let blank = q.as_deref().is_none_or(|q| q.trim().is_empty());
    if blank && c.session.role != "amministratore" {
        return api_error(StatusCode::BAD_REQUEST, "parametro q mancante");
    }
    match run_search(&s, &c, q.unwrap_or_default()).await {
        Ok(rows) => Json(json!({ "rows": rows })).into_response(),
        Err(e) => api_error(e.status(), e.message()),
    }
}

/// `GET /persone?q=TEXT`: the search form and its results.
pub(super) async fn page(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Query(p): Query<SearchParams>,
) -> Response {
    let q = p.q.unwrap_or_default();
    // An empty query shows the form only (and still checks the role).
    let rows = match run_search(&s, &c, q.clone()).await {
        Ok(_) if q.trim().is_empty() => None,
        Ok(rows) => Some(rows),
        Err(e) => {
            let page = pages::message(&s.member_label(), e.title(), e.message());
            return (e.status(), pages::html(page)).into_response();
        }
    };
    pages::html(pages::search(
        &s.member_label(),
        &c.session,
        &q,
        rows.as_deref(),
    ))
}
