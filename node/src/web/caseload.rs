//! Caseloads: `GET /carico` and `GET /api/v1/carico` (the session user's open cases with the
//! next review and last activity, and the desk's unassigned requests), `GET /servizio` and
//! `GET /api/v1/servizio` (the manager's view: cases per operator, overdue reviews, unassigned
//! requests, overlap notices open and resolved). Every list is recorded in the audit trail.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use super::auth::{ApiSession, PageSession};
use super::card_page::{area_label, data};
use super::desk::{api_refusal, page_refusal, with_desk};
use super::pages::{html, layout};
use super::WebState;
use crate::cartella::caseload::Riga;
use crate::cartella::rendiconto::{self, Rendiconto, Voci};

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

/// The month asked for.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct MonthParams {
    #[serde(default)]
    mese: Option<String>,
    #[serde(default)]
    formato: Option<String>,
}

impl MonthParams {
    /// The month, or the current one.
    fn month(&self, s: &WebState) -> String {
        self.mese
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| {
                let d = s.0.clock.now().date();
                format!("{:04}-{:02}", d.year(), d.month() as u8)
            })
    }
}

/// `GET /api/v1/rendiconto?mese=YYYY-MM[&formato=csv]` (responsabile; operatore_ets on a
/// third-sector node): the month's report as JSON, or as an Italian CSV attachment.
pub(super) async fn rendiconto_api(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Query(p): Query<MonthParams>,
) -> Response {
    let mese = p.month(&s);
    match with_desk(&s, &c, move |d, op, _| d.rendiconto(op, &mese)).await {
        Ok(r) if p.formato.as_deref() == Some("csv") => match rendiconto::to_csv(&r) {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"rendiconto-{}.csv\"", r.mese),
                    ),
                ],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "web: rendiconto CSV");
                super::auth::api_error(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "errore interno",
                )
            }
        },
        Ok(r) => Json(r).into_response(),
        Err(e) => api_refusal(&e),
    }
}

/// A horizontal bar chart of activity hours per operator (inline SVG: no script, no style).
fn chart(r: &Rendiconto) -> Markup {
    let rows: Vec<(&String, u64)> = r
        .per_operatore
        .iter()
        .map(|(k, v)| (k, v.minuti()))
        .collect();
    let max = rows.iter().map(|(_, m)| *m).max().unwrap_or(0).max(1);
    let h = 28 * rows.len() + 10;
    html! {
        svg class="chart" width="640" height=(h) viewBox={"0 0 640 " (h)} role="img"
            aria-label="Ore di attività per operatore" {
            @for (i, (who, min)) in rows.iter().enumerate() {
                @let y = 28 * i + 5;
                @let w = (400 * min / max).max(1);
                text x="0" y=(y + 16) font-size="14" fill="#1a1a1a" { (who) }
                rect x="180" y=(y) width=(w) height="20" fill="#0066cc" {}
                text x=(186 + w) y=(y + 16) font-size="14" fill="#1a1a1a" { (format!("{:.1}", *min as f64 / 60.0).replace('.', ",")) " h" }
            }
        }
    }
}

fn voci_table(caption: &str, key: &str, rows: &std::collections::BTreeMap<String, Voci>) -> Markup {
    html! {
        table class="table" {
            caption { (caption) }
            thead { tr {
                th scope="col" { (key) } th scope="col" { "Attività" } th scope="col" { "Ore" }
                th scope="col" { "Accessi" } th scope="col" { "Casi aperti" } th scope="col" { "Casi chiusi" }
                th scope="col" { "Interventi" } th scope="col" { "Importo" }
            } }
            tbody { @for (k, v) in rows { tr {
                td { (k) }
                td { (v.attivita.values().map(|t| t.numero).sum::<u64>()) }
                td { (format!("{:.2}", v.minuti() as f64 / 60.0).replace('.', ",")) }
                td { (v.accessi.values().sum::<u64>()) }
                td { (v.casi_aperti) } td { (v.casi_chiusi) }
                td { (v.interventi.values().map(|x| x.numero).sum::<u64>()) }
                td { (super::pages::money(v.interventi.values().map(|x| x.importo).sum())) }
            } } }
        }
    }
}

/// `GET /rendiconto?mese=YYYY-MM`: the month's report on screen, with its chart and the CSV.
pub(super) async fn rendiconto_page(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Query(p): Query<MonthParams>,
) -> Response {
    let mese = p.month(&s);
    let m = mese.clone();
    match with_desk(&s, &c, move |d, op, _| d.rendiconto(op, &m)).await {
        Ok(r) => html(layout(
            &s.member_label(),
            &format!("Rendiconto mensile {}", r.mese),
            Some(&c.session),
            html! {
                form method="get" action="/rendiconto" class="form" {
                    div class="field" {
                        label for="mese" { "Mese" }
                        input id="mese" name="mese" type="month" value=(r.mese) required;
                    }
                    button type="submit" class="btn btn-primary" { "Mostra" }
                }
                p { a href={"/api/v1/rendiconto?mese=" (r.mese) "&formato=csv"} download { "Scarica il rendiconto (CSV)" } }
                h2 { "Ore di attività per operatore" }
                (chart(&r))
                (voci_table("Per operatore", "Operatore", &r.per_operatore))
                (voci_table("Per area di bisogno", "Area", &r.per_area))
            },
        )),
        Err(e) => page_refusal(&s, &c, &e),
    }
}
