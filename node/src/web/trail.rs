//! `GET /api/v1/audit?persona=ID`: who did what with a person's data, for the service's
//! `responsabile` (the data subject's right of access, GDPR art. 15). Reading it is itself
//! recorded.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{api_error, audit, ApiSession};
use super::{on_store, WebState};
use crate::audit::{self, Action};

/// The query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TrailParams {
    #[serde(default)]
    persona: Option<String>,
}

/// `GET /api/v1/audit?persona=ID` → `{"rows": [{"seq", "quando", "utente", "ruolo", "azione",
/// "dettaglio", "indirizzo"}…]}`, oldest first; 400 without `persona`, 401 without a session,
/// 403 for every role but `responsabile`.
pub(super) async fn api(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Query(TrailParams { persona }): Query<TrailParams>,
) -> Response {
    if c.session.role != "responsabile" {
        return api_error(
            StatusCode::FORBIDDEN,
            "solo il responsabile del servizio consulta il registro degli accessi",
        );
    }
    let Some(id) = persona.filter(|p| !p.trim().is_empty()) else {
        return api_error(StatusCode::BAD_REQUEST, "parametro persona mancante");
    };
    let wanted = id.clone();
    let found = on_store(&s, "audit reading", move |i| {
        audit::for_person(&i.store, &wanted)
    })
    .await;
    let Some(records) = found else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno");
    };
    let (user, role) = (&c.session.user, &c.session.role);
    if !audit(&s, user, role, Action::LetturaAudit, &[id], "", c.addr) {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno");
    }
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            let when = OffsetDateTime::from_unix_timestamp(r.time)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok());
            json!({
                "seq": r.seq,
                "quando": when,
                "utente": r.user,
                "ruolo": r.role,
                "azione": r.action,
                "dettaglio": r.detail,
                "indirizzo": r.addr,
            })
        })
        .collect();
    Json(json!({ "rows": rows })).into_response()
}
