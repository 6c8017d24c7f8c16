//! Who did what with a person's data, for the service's `responsabile` (the data subject's
//! right of access, GDPR art. 15): `GET /api/v1/audit?persona=ID` (JSON), `GET /registro?
//! persona=ID` (a page) and `GET /api/v1/audit/esportazione?persona=ID` (a CSV file to hand
//! over). Reading or exporting it is itself recorded.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{api_error, audit, ApiSession, Current, PageSession};
use super::pages::{self, layout};
use super::{on_store, WebState};
use crate::audit::{self, Action};
use crate::store::AuditRecord;

/// The query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TrailParams {
    #[serde(default)]
    persona: Option<String>,
}

/// One entry as shown and exported.
#[derive(Debug, Serialize)]
struct Row {
    seq: u64,
    quando: Option<String>,
    utente: String,
    ruolo: String,
    azione: String,
    dettaglio: String,
    indirizzo: String,
}

fn row(r: &AuditRecord) -> Row {
    Row {
        seq: r.seq,
        quando: OffsetDateTime::from_unix_timestamp(r.time)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok()),
        utente: r.user.clone(),
        ruolo: r.role.clone(),
        azione: r.action.clone(),
        dettaglio: r.detail.clone(),
        indirizzo: r.addr.clone(),
    }
}

/// The entries about `persona`, for a `responsabile`, the reading recorded; else the status and
/// message of the refusal.
async fn read(
    s: &WebState,
    c: &Current,
    persona: Option<String>,
    action: Action,
) -> Result<(String, Vec<Row>), (StatusCode, &'static str)> {
    if c.session.role != "responsabile" {
        return Err((
            StatusCode::FORBIDDEN,
            "solo il responsabile del servizio consulta il registro degli accessi",
        ));
    }
    let Some(id) = persona.filter(|p| !p.trim().is_empty()) else {
        return Err((StatusCode::BAD_REQUEST, "parametro persona mancante"));
    };
    let wanted = id.clone();
    let records = on_store(s, "audit reading", move |i| {
        audit::for_person(&i.store, &wanted)
    })
    .await
    .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "errore interno"))?;
    let (user, role) = (&c.session.user, &c.session.role);
    if !audit(s, user, role, action, std::slice::from_ref(&id), "", c.addr) {
        return Err((StatusCode::INTERNAL_SERVER_ERROR, "errore interno"));
    }
    Ok((id, records.iter().map(row).collect()))
}

/// `GET /api/v1/audit?persona=ID` → `{"rows": [{"seq", "quando", "utente", "ruolo", "azione",
/// "dettaglio", "indirizzo"}…]}`, oldest first; 400 without `persona`, 401 without a session,
/// 403 for every role but `responsabile`.
pub(super) async fn api(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Query(p): Query<TrailParams>,
) -> Response {
    match read(&s, &c, p.persona, Action::LetturaAudit).await {
        Ok((_, rows)) => Json(json!({ "rows": rows })).into_response(),
        Err((status, m)) => api_error(status, m),
    }
}

/// `GET /api/v1/audit/esportazione?persona=ID`: the same entries as a CSV file (`;`-separated,
/// UTF-8, a header row), as an attachment.
pub(super) async fn export(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Query(p): Query<TrailParams>,
) -> Response {
    let (id, rows) = match read(&s, &c, p.persona, Action::EsportazioneAudit).await {
        Ok(x) => x,
        Err((status, m)) => return api_error(status, m),
    };
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    for r in &rows {
        if w.serialize(r).is_err() {
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno");
        }
    }
    let Ok(body) = w.into_inner() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno");
    };
    let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"registro-accessi-{id}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /registro?persona=ID`: the entries as a page, with the export link.
pub(super) async fn page(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Query(p): Query<TrailParams>,
) -> Response {
    let (id, rows) = match read(&s, &c, p.persona, Action::LetturaAudit).await {
        Ok(x) => x,
        Err((status, m)) => {
            let page = pages::message(&s.member_label(), "Registro degli accessi", m);
            return (status, pages::html(page)).into_response();
        }
    };
    pages::html(layout(
        &s.member_label(),
        "Registro degli accessi ai dati",
        Some(&c.session),
        html! {
            p { a href={"/persone/" (id)} { "Torna alla scheda" } " · "
                a href={"/api/v1/audit/esportazione?persona=" (id)} download { "Scarica il registro (CSV)" } }
            table class="table" {
                caption { "Chi ha letto o modificato i dati della persona, dal più vecchio" }
                thead { tr { th scope="col" { "Quando" } th scope="col" { "Operatore" } th scope="col" { "Ruolo" } th scope="col" { "Azione" } th scope="col" { "Dettaglio" } th scope="col" { "Indirizzo" } } }
                tbody { @for r in &rows { tr {
                    td { (r.quando.as_deref().unwrap_or("")) } td { (r.utente) } td { (r.ruolo) }
                    td { (r.azione) } td { (r.dettaglio) } td { (r.indirizzo) }
                } } }
            }
        },
    ))
}
