//! Caseloads: `GET /carico` and `GET /api/v1/carico` (the session user's open cases with the
//! next review and last activity, and the desk's unassigned requests), `GET /servizio` and
//! `GET /api/v1/servizio` (the manager's view: cases per operator, overdue reviews, unassigned
//! requests, overlap notices open and resolved). Every list is recorded in the audit trail.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use super::auth::{ApiSession, PageSession};
use super::card_page::{area_label, data};
use super::desk::{api_refusal, page_refusal, with_desk};
use super::pages::{html, layout};
use super::WebState;
use crate::cartella::caseload::Riga;

fn area(code: &str) -> &'static str {
    code.parse().map(area_label).unwrap_or("—")
}

fn rows_table(caption: &str, rows: &[Riga], review: bool) -> Markup {
    html! {
        table class="table" {
            caption { (caption) }
            thead { tr {
                th scope="col" { "Persona" } th scope="col" { "Area" }
                @if review { th scope="col" { "Prossima revisione" } th scope="col" { "Ultima attività" } }
                @else { th scope="col" { "Richiesta del" } }
            } }
            tbody { @for r in rows { tr {
                td { a href={"/persone/" (r.caso.persona)} { (r.cognome) " " (r.nome) } }
                td { (area(&r.caso.area)) }
                @if review {
                    td { (r.caso.prossima_revisione.map(data).unwrap_or_else(|| "da fissare".into()))
                         @if r.caso.revisione_scaduta { " " strong class="badge badge-danger" { "scaduta" } } }
                    td { (r.ultima_attivita.map(data).unwrap_or_else(|| "—".into())) }
                } @else {
                    td { (r.caso.richiesta.map(data).unwrap_or_else(|| "—".into())) }
                }
            } } }
        }
    }
}

/// `GET /carico`.
pub(super) async fn page(State(s): State<WebState>, PageSession(c): PageSession) -> Response {
    match with_desk(&s, &c, |d, op, _| d.caseload(op)).await {
        Ok(k) => html(layout(
            &s.member_label(),
            "Carico di lavoro",
            Some(&c.session),
            html! {
                @if k.revisioni_scadute > 0 {
                    div class="alert alert-danger" role="status" { (k.revisioni_scadute) " casi con la revisione scaduta." }
                }
                @if k.casi.is_empty() { p { "Nessun caso in carico." } } @else { (rows_table("I miei casi aperti", &k.casi, true)) }
                @if c.session.role != "sportello" {
                    h2 { "Richieste da assegnare" }
                    @if k.richieste.is_empty() { p { "Nessuna richiesta in attesa." } } @else { (rows_table("Richieste dello sportello in attesa di presa in carico", &k.richieste, false)) }
                }
            },
        )),
        Err(e) => page_refusal(&s, &c, &e),
    }
}

/// `GET /api/v1/carico` → `{"utente", "casi": […], "richieste": […], "revisioni_scadute"}`.
pub(super) async fn api(State(s): State<WebState>, ApiSession(c): ApiSession) -> Response {
    match with_desk(&s, &c, |d, op, _| d.caseload(op)).await {
        Ok(k) => Json(k).into_response(),
        Err(e) => api_refusal(&e),
    }
}

/// `GET /servizio` (responsabile).
pub(super) async fn service_page(
    State(s): State<WebState>,
    PageSession(c): PageSession,
) -> Response {
    match with_desk(&s, &c, |d, op, _| d.service(op)).await {
        Ok(v) => html(layout(
            &s.member_label(),
            "Quadro del servizio",
            Some(&c.session),
            html! {
                table class="table" {
                    caption { "Casi aperti per operatore" }
                    thead { tr { th scope="col" { "Operatore" } th scope="col" { "Casi aperti" } th scope="col" { "Revisioni scadute" } } }
                    tbody { @for (op, n) in &v.per_operatore { tr { td { (op) } td { (n.aperti) } td { (n.revisioni_scadute) } } } }
                }
                h2 { "Richieste da assegnare" }
                @if v.richieste.is_empty() { p { "Nessuna richiesta in attesa." } } @else { (rows_table("Richieste in attesa", &v.richieste, false)) }
                h2 { "Segnalazioni della Regione" }
                dl class="facts" {
                    dt { "Da verificare" } dd { (v.segnalazioni_aperte) }
                    dt { "Verificate" } dd { (v.segnalazioni_risolte) }
                }
            },
        )),
        Err(e) => page_refusal(&s, &c, &e),
    }
}

/// `GET /api/v1/servizio` (responsabile) → `{"per_operatore": {USER: {"aperti",
/// "revisioni_scadute"}}, "richieste": […], "segnalazioni_aperte", "segnalazioni_risolte"}`.
pub(super) async fn service_api(State(s): State<WebState>, ApiSession(c): ApiSession) -> Response {
    match with_desk(&s, &c, |d, op, _| d.service(op)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_refusal(&e),
    }
}
