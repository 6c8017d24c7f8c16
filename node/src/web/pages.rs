//! The pages, server-rendered with maud (compile-time templates; every value escaped): the
//! look and words of Italian public-administration services (Designers Italia: a slim header
//! with the Region, the institution's name, a skip link, plain Italian), accessible without
//! script — labels on every field, a visible focus, landmarks.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use siso_server::web::Session;

use crate::persons::{self, PersonRow};

/// A page as a response (`no-store` comes from the security headers).
pub(super) fn html(m: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// An amount in euro cents as Italians write it: `1.234,56 €`.
pub(super) fn money(cents: i64) -> String {
    let neg = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let int = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{neg}{grouped},{:02} €", c % 100)
}

/// The Italian name of a role.
pub(super) fn role_label(role: &str) -> &'static str {
    match role {
        "sportello" => "Sportello (segretariato sociale)",
        "assistente_sociale" => "Assistente sociale",
        "responsabile" => "Responsabile del servizio",
        "amministratore" => "Amministratore",
        "operatore_ets" => "Operatore del terzo settore",
        _ => "Operatore",
    }
}

/// The page frame: header with the Region and the institution, the operator, main, footer.
pub(super) fn layout(member: &str, title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — siso, " (member) }
                link rel="stylesheet" href="/static/siso.css";
            }
            body {
                a class="skiplink" href="#contenuto" { "Vai al contenuto principale" }
                header class="it-header" {
                    div class="it-header-slim" {
                        div class="wrap" { "Regione Umbria · siso, sistema informativo dei servizi sociali" }
                    }
                    div class="it-header-center" {
                        div class="wrap" {
                            p class="it-brand" { (member) }
                            @if let Some(s) = session {
                                nav class="it-user" aria-label="Utente" {
                                    span { (s.user) " · " (role_label(&s.role)) }
                                    form method="post" action="/esci" {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        button type="submit" class="btn-link" { "Esci" }
                                    }
                                }
                            }
                        }
                    }
                }
                main id="contenuto" class="wrap" {
                    h1 { (title) }
                    (body)
                }
                footer class="it-footer" {
                    div class="wrap" {
                        "I dati personali trattati in siso restano presso l'ente che li raccoglie."
                    }
                }
            }
        }
    }
}

/// The log-in page, with the user name kept and an error message after a refusal.
pub(super) fn login(member: &str, username: &str, error: Option<&str>) -> Markup {
    layout(
        member,
        "Accesso",
        None,
        html! {
            p { "Accedere con le credenziali fornite dall'amministratore del sistema." }
            @if let Some(e) = error {
                div class="alert alert-danger" role="alert" id="errore-accesso" { (e) }
            }
            form method="post" action="/accesso" class="form" {
                div class="field" {
                    label for="username" { "Nome utente" }
                    input id="username" name="username" type="text" value=(username)
                        autocomplete="username" autocapitalize="none" spellcheck="false"
                        required;
                }
                div class="field" {
                    label for="password" { "Password" }
                    input id="password" name="password" type="password"
                        autocomplete="current-password" required;
                }
                button type="submit" class="btn btn-primary" { "Accedi" }
            }
        },
    )
}

/// The home page of a logged-in operator.
pub(super) fn home(member: &str, s: &Session) -> Markup {
    layout(
        member,
        "Cartella sociale",
        Some(s),
        html! {
            p { "Benvenuta o benvenuto, " strong { (s.user) } "." }
            dl class="facts" {
                dt { "Ruolo" } dd { (role_label(&s.role)) }
                dt { "Ente" } dd { (member) }
            }
            @if s.role != "amministratore" {
                nav aria-label="Funzioni" {
                    ul class="menu" {
                        li { a href="/persone" { "Ricerca persone" } }
                        @if matches!(s.role.as_str(), "assistente_sociale" | "responsabile" | "sportello") {
                            li { a href="/carico" { "Carico di lavoro e richieste" } }
                        }
                        @if s.role == "responsabile" {
                            li { a href="/servizio" { "Quadro del servizio" } }
                        }
                        @if matches!(s.role.as_str(), "responsabile" | "operatore_ets") {
                            li { a href="/rendiconto" { "Rendiconto mensile" } }
                        }
                        @if matches!(s.role.as_str(), "assistente_sociale" | "responsabile" | "operatore_ets") {
                            li { a href="/app/" { "App per il telefono" } }
                        }
                    }
                }
            }
        },
    )
}

/// The person search: the form, and the results when there was a query.
pub(super) fn search(member: &str, s: &Session, q: &str, rows: Option<&[PersonRow]>) -> Markup {
    layout(
        member,
        "Ricerca persone",
        Some(s),
        html! {
            form method="get" action="/persone" class="form" role="search" {
                div class="field" {
                    label for="q" { "Codice fiscale, cognome e nome, o numero di famiglia" }
                    input id="q" name="q" type="search" value=(q) autocomplete="off"
                        spellcheck="false" required;
                }
                button type="submit" class="btn btn-primary" { "Cerca" }
            }
            @if let Some(rows) = rows {
                @if rows.is_empty() {
                    p role="status" { "Nessuna persona trovata." }
                } @else {
                    p role="status" { (rows.len()) " persone trovate" @if rows.len() == persons::MAX_ROWS { " (le prime " (persons::MAX_ROWS) ": precisare la ricerca)" } "." }
                    table class="table" {
                        caption class="sr-only" { "Persone trovate" }
                        thead { tr { th scope="col" { "Cognome" } th scope="col" { "Nome" } th scope="col" { "Codice fiscale" } th scope="col" { "Famiglia" } } }
                        tbody {
                            @for r in rows {
                                tr data-id=(r.id) {
                                    td { a href={"/persone/" (r.id)} { (r.cognome) } } td { (r.nome) } td { (r.codice_fiscale) }
                                    td { (r.id_famiglia.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A page with a title and one message (errors, not found).
pub(super) fn message(member: &str, title: &str, text: &str) -> Markup {
    layout(member, title, None, html! { p { (text) } })
}

/// A message to a logged-in operator (a refusal): with the header's log-out and a way home.
pub(super) fn message_for(member: &str, s: &Session, title: &str, text: &str) -> Markup {
    layout(
        member,
        title,
        Some(s),
        html! { p { (text) } p { a href="/" { "Torna alla pagina iniziale" } } },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_is_written_the_italian_way() {
        assert_eq!(super::money(123_456), "1.234,56 €");
        assert_eq!(super::money(30_000), "300,00 €");
        assert_eq!(super::money(5), "0,05 €");
        assert_eq!(super::money(-100_000_000), "-1.000.000,00 €");
    }
}
