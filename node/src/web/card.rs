//! A person's card: `GET /persone/{id}` (the page, with the forms the operator may use) and
//! `GET /api/v1/persone/{id}` (JSON) — only what the operator's role and cases allow
//! (`crate::cartella::card`); every read, and every refusal, is in the audit trail.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::{ApiSession, Current, PageSession};
use super::desk::{api_refusal, page_refusal, with_desk};
use super::{card_page, pages, WebState};
use crate::accounts::{self, OperatorRole};
use crate::cartella::card::Card;
use crate::cartella::{CartellaError, FieldError};

/// The card of person `id` for the session, and the social workers' user names (for the
/// manager's assignment form).
async fn load(s: &WebState, c: &Current, id: String) -> Result<(Card, Vec<String>), CartellaError> {
    with_desk(s, c, move |d, op, inner| {
        let person = {
            let ix = inner.persons.read().unwrap_or_else(|p| p.into_inner());
            ix.by_id(d.store, &id)?
        };
        let person = person.ok_or(CartellaError::NotFound("persona inesistente"))?;
        let card = d.card(op, &person, &inner.opts.rules)?;
        let workers = if op.role == OperatorRole::Responsabile {
            accounts::list(d.store)
                .map_err(|e| CartellaError::Conflict(e.to_string()))?
                .into_iter()
                .filter(|a| a.role == OperatorRole::AssistenteSociale && !a.disabled)
                .map(|a| a.username)
                .collect()
        } else {
            Vec::new()
        };
        Ok((card, workers))
    })
    .await
}

/// The card page, with the errors of a refused form (by form id).
pub(super) async fn render(
    s: &WebState,
    c: &Current,
    id: &str,
    errors: Option<(String, Vec<FieldError>)>,
    status: StatusCode,
) -> Response {
    match load(s, c, id.to_owned()).await {
        Ok((card, workers)) => {
            let today = s.0.clock.now().date();
            let m = card_page::card(
                &s.member_label(),
                &c.session,
                &card,
                &workers,
                errors.as_ref(),
                today,
            );
            (status, pages::html(m)).into_response()
        }
        Err(e) => page_refusal(s, c, &e),
    }
}

/// `GET /persone/{id}`.
pub(super) async fn page(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Path(id): Path<String>,
) -> Response {
    render(&s, &c, &id, None, StatusCode::OK).await
}

/// `GET /api/v1/persone/{id}` → the card as JSON; 403 for someone else's case (audited), 404
/// for an unknown id.
pub(super) async fn api(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Path(id): Path<String>,
) -> Response {
    match load(&s, &c, id).await {
        Ok((card, _)) => Json(card).into_response(),
        Err(e) => api_refusal(&e),
    }
}
