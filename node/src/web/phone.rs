//! The operators' phone app: an installable Progressive Web App under `/app/` (shell page,
//! manifest, service worker, script, icon — all compiled in), and the device API it uses.
//!
//! The app keeps on the phone only the operator's own caseload list (names, areas, next
//! reviews) and unsent drafts, encrypted with AES-GCM under the device's key
//! (`crate::devices`), which the node hands out after log-in and the app holds in memory only.
//! Log-out, "disconnetti questo dispositivo" and a disconnection by the `responsabile` wipe
//! what the phone holds (docs/PRIVACY.md).
//!
//! - `POST /api/v1/dispositivo` `{"dispositivo": ID}` → `{"chiave": 64 hex}`; 403 once the
//!   device was disconnected.
//! - `DELETE /api/v1/dispositivo/{id}`: the session's user disconnects their device → 204.
//! - `DELETE /api/v1/utenti/{user}/dispositivi/{id}` (`responsabile`): a lost phone — the device
//!   is disconnected and every session of that user ended → 204.
//! - `GET /api/v1/utenti/{user}/dispositivi` (`responsabile`, or the user) → the devices.
//! - `GET /api/v1/luoghi?q=TEXT` → birthplaces (Italian municipalities, current and former,
//!   and foreign countries) whose name begins with TEXT, for the demographic form.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, DOCTYPE};
use serde_json::json;

use super::auth::{api_error, audit, ApiSession, ApiWrite};
use super::{on_store, WebState};
use crate::audit::Action;
use crate::devices::{self, DeviceError};

const APP_JS: &str = include_str!("static/app.js");
const SW_JS: &str = include_str!("static/sw.js");
const ICON: &str = include_str!("static/icon.svg");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            // Revalidated at every start: a new release reaches the phones.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /app/app.js`.
pub(super) async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /app/sw.js` (scope `/app/`).
pub(super) async fn sw_js() -> Response {
    asset("text/javascript; charset=utf-8", SW_JS)
}

/// `GET /app/icon.svg`.
pub(super) async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// `GET /app/manifest.webmanifest`.
pub(super) async fn manifest(State(s): State<WebState>) -> Response {
    let m = json!({
        "name": format!("siso — {}", s.member_label()),
        "short_name": "siso",
        "lang": "it",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0066cc",
        "icons": [
            { "src": "/app/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any" }
        ],
    });
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        m.to_string(),
    )
        .into_response()
}

/// `GET /app/`: the shell (no personal data: everything is filled in by the script).
pub(super) async fn shell(State(s): State<WebState>) -> Response {
    let member = s.member_label();
    let page = html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="theme-color" content="#0066cc";
                title { "siso — " (member) }
                link rel="manifest" href="/app/manifest.webmanifest";
                link rel="icon" href="/app/icon.svg";
                link rel="stylesheet" href="/static/siso.css";
                script src="/app/app.js" defer {}
            }
            body class="phone" {
                a class="skiplink" href="#contenuto" { "Vai al contenuto principale" }
                header class="it-header" {
                    div class="it-header-center" {
                        div class="wrap" {
                            p class="it-brand" { (member) }
                            nav class="it-user" aria-label="Utente" hidden id="utente" {
                                span id="nome-utente" {}
                                button type="button" class="btn-link" id="esci" { "Esci" }
                            }
                        }
                    }
                }
                main id="contenuto" class="wrap" {
                    p id="rete" class="alert" role="status" hidden {
                        "Senza rete: quanto registrato resta sul telefono, cifrato, e parte al ritorno della rete."
                    }
                    p id="stato" role="status" aria-live="polite" {}
                    section id="accesso" hidden aria-labelledby="accesso-titolo" {
                        h1 id="accesso-titolo" { "Accesso" }
                        div class="alert alert-danger" role="alert" id="errore-accesso" hidden {}
                        form id="form-accesso" class="form" {
                            div class="field" { label for="username" { "Nome utente" }
                                input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required; }
                            div class="field" { label for="password" { "Password" }
                                input id="password" name="password" type="password" autocomplete="current-password" required; }
                            button type="submit" class="btn btn-primary" { "Accedi" }
                        }
                    }
                    nav id="schede" class="tabs" aria-label="Sezioni" hidden {
                        button type="button" data-scheda="oggi" { "Oggi" }
                        button type="button" data-scheda="attivita" { "Attività" }
                        button type="button" data-scheda="intervento" { "Intervento" }
                        button type="button" data-scheda="attesa" { "In attesa " span id="conta-attesa" class="badge" { "0" } }
                    }
                    section id="oggi" class="scheda" hidden aria-labelledby="oggi-titolo" {
                        h1 id="oggi-titolo" { "I miei casi" }
                        ul id="casi" class="cards" {}
                    }
                    section id="scheda" class="scheda" hidden aria-labelledby="scheda-titolo" {
                        h1 id="scheda-titolo" { "Scheda" }
                        div id="scheda-corpo" {}
                        button type="button" class="btn" id="indietro" { "Torna ai casi" }
                    }
                    section id="attivita" class="scheda" hidden aria-labelledby="attivita-titolo" {
                        h1 id="attivita-titolo" { "Registra attività" }
                        form id="form-attivita" class="form" {
                            div class="field" { label for="att-caso" { "Caso" } select id="att-caso" name="caso" required {} }
                            div class="field" { label for="att-tipo" { "Attività" }
                                select id="att-tipo" name="tipo_attivita" required {
                                    option value="colloquio" { "Colloquio" }
                                    option value="visita_domiciliare" { "Visita domiciliare" }
                                    option value="telefonata" { "Telefonata" }
                                    option value="riunione_equipe" { "Riunione d'équipe" }
                                    option value="altro" { "Altro" }
                                } }
                            div class="field" { label for="att-data" { "Data" } input id="att-data" name="data" type="date" required; }
                            div class="field" { label for="att-ora" { "Ora" } input id="att-ora" name="ora" type="time"; }
                            div class="field" { label for="att-durata" { "Durata in minuti" } input id="att-durata" name="durata_minuti" type="number" min="1" max="1440" value="30" inputmode="numeric" required; }
                            div class="field" { label for="att-luogo" { "Luogo" } input id="att-luogo" name="luogo" type="text" placeholder="domicilio, sede, …"; }
                            div class="field" { label for="att-note" { "Note" } textarea id="att-note" name="note" rows="4" maxlength="4000" {} }
                            button type="submit" class="btn btn-primary" { "Salva" }
                        }
                    }
                    section id="intervento" class="scheda" hidden aria-labelledby="intervento-titolo" {
                        h1 id="intervento-titolo" { "Registra intervento" }
                        form id="form-intervento" class="form" {
                            div class="field" id="int-persona-campo" { label for="int-caso" { "Persona" } select id="int-caso" name="caso" required {} }
                            div id="int-ets" hidden {
                                div class="field" { label for="int-cosa" { "Cosa registrare" }
                                    select id="int-cosa" name="cosa" {
                                        option value="interventi" { "Un intervento (pacco, buono, servizio…)" }
                                        option value="accessi" { "Un accesso allo sportello dell'ente" }
                                    } }
                                p class="alert" { "Il codice fiscale è calcolato dai dati anagrafici: non può tenere conto dell'omocodia." }
                                div class="field" { label for="int-cognome" { "Cognome" } input id="int-cognome" name="cognome" type="text" autocomplete="off"; }
                                div class="field" { label for="int-nome" { "Nome" } input id="int-nome" name="nome" type="text" autocomplete="off"; }
                                div class="field" { label for="int-sesso" { "Sesso" }
                                    select id="int-sesso" name="sesso" { option value="F" { "F" } option value="M" { "M" } } }
                                div class="field" { label for="int-nascita" { "Data di nascita" } input id="int-nascita" name="data_nascita" type="date"; }
                                div class="field" { label for="int-luogo" { "Luogo di nascita (Comune o Stato estero)" }
                                    input id="int-luogo" name="luogo_nascita" type="text" list="luoghi" autocomplete="off";
                                    datalist id="luoghi" {} }
                                div class="field" { label for="int-area" { "Area di bisogno" }
                                    select id="int-area" name="area_bisogno" {
                                        @for a in siso_shared::AreaBisogno::ALL {
                                            option value=(a.as_str()) { (super::card_page::area_label(*a)) }
                                        }
                                    } }
                            }
                            div class="field" id="int-esito-campo" hidden { label for="int-esito" { "Esito dell'accesso" }
                                select id="int-esito" name="esito" {
                                    option value="informazione/orientamento" { "Informazione e orientamento" }
                                    option value="invio ad altro servizio" { "Invio ad altro servizio" }
                                    option value="richiesta di presa in carico" { "Richiesta di presa in carico" }
                                } }
                            div class="field" id="int-tipo-campo" { label for="int-tipo" { "Tipo di intervento" }
                                select id="int-tipo" name="tipo_intervento" required {
                                    @for t in siso_shared::TipoIntervento::ALL {
                                        option value=(t.as_str()) { (super::card_page::tipo_label(*t)) }
                                    }
                                } }
                            div class="field" { label for="int-data" { "Data" } input id="int-data" name="data_inizio" type="date" required; }
                            div class="field" id="int-importo-campo" { label for="int-importo" { "Importo in euro (vuoto se non economico)" } input id="int-importo" name="importo" type="text" inputmode="decimal"; }
                            button type="submit" class="btn btn-primary" { "Salva" }
                        }
                    }
                    section id="attesa" class="scheda" hidden aria-labelledby="attesa-titolo" {
                        h1 id="attesa-titolo" { "In attesa di invio" }
                        ul id="bozze" class="cards" {}
                        button type="button" class="btn btn-primary" id="invia" { "Invia ora" }
                        p { button type="button" class="btn" id="disconnetti" { "Disconnetti questo dispositivo" } }
                    }
                }
            }
        }
    };
    super::pages::html(page)
}

fn device_refusal(e: &DeviceError) -> Response {
    match e {
        DeviceError::BadId => api_error(
            StatusCode::BAD_REQUEST,
            "identificativo del dispositivo non valido",
        ),
        DeviceError::Revoked => api_error(StatusCode::FORBIDDEN, "dispositivo disconnesso"),
        DeviceError::Unknown => api_error(StatusCode::NOT_FOUND, "dispositivo sconosciuto"),
        DeviceError::Random | DeviceError::Store(_) => {
            tracing::error!(error = %e, "web: device");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno")
        }
    }
}

/// `POST /api/v1/dispositivo` with `{"dispositivo": ID}`.
pub(super) async fn device_key(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["dispositivo"].as_str().map(str::to_owned))
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "corpo non valido: atteso {\"dispositivo\": …}",
        );
    };
    let (user, now) = (c.session.user.clone(), s.0.clock.now().unix_timestamp());
    let r = on_store(&s, "device key", move |i| {
        Ok::<_, std::convert::Infallible>(devices::key(&i.store, &user, &id, now))
    })
    .await;
    match r {
        Some(Ok(k)) => Json(json!({ "chiave": hex::encode(k) })).into_response(),
        Some(Err(e)) => device_refusal(&e),
        None => api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno"),
    }
}

async fn revoke(s: &WebState, c: &super::auth::Current, user: String, id: String) -> Response {
    let (u, i) = (user.clone(), id.clone());
    let r = on_store(s, "device revocation", move |inner| {
        Ok::<_, std::convert::Infallible>(devices::revoke(&inner.store, &u, &i))
    })
    .await;
    match r {
        Some(Ok(())) => {
            if user != c.session.user {
                s.0.sessions.end_user(&user);
            }
            let detail = format!("dispositivo disconnesso: {user}");
            let (who, role) = (&c.session.user, &c.session.role);
            audit(s, who, role, Action::Registrazione, &[], &detail, c.addr);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(Err(e)) => device_refusal(&e),
        None => api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno"),
    }
}

/// `DELETE /api/v1/dispositivo/{id}`: disconnects the session user's device.
pub(super) async fn revoke_own(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    Path(id): Path<String>,
) -> Response {
    let user = c.session.user.clone();
    revoke(&s, &c, user, id).await
}

/// `DELETE /api/v1/utenti/{user}/dispositivi/{id}` (`responsabile`): a lost phone.
pub(super) async fn revoke_other(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    Path((user, id)): Path<(String, String)>,
) -> Response {
    if c.session.role != "responsabile" {
        return api_error(
            StatusCode::FORBIDDEN,
            "solo il responsabile disconnette i dispositivi altrui",
        );
    }
    revoke(&s, &c, user, id).await
}

/// `GET /api/v1/utenti/{user}/dispositivi` (`responsabile`, or the user).
pub(super) async fn list(
    State(s): State<WebState>,
    ApiSession(c): ApiSession,
    Path(user): Path<String>,
) -> Response {
    if c.session.role != "responsabile" && c.session.user != user {
        return api_error(StatusCode::FORBIDDEN, "dispositivi di un altro utente");
    }
    let r = on_store(&s, "device list", move |i| devices::list(&i.store, &user)).await;
    match r {
        Some(l) => Json(json!({ "dispositivi": l.into_iter().map(|(id, d)| json!({
            "id": id, "primo_uso": d.created, "ultimo_uso": d.last_seen, "disconnesso": d.revoked,
        })).collect::<Vec<_>>() }))
        .into_response(),
        None => api_error(StatusCode::INTERNAL_SERVER_ERROR, "errore interno"),
    }
}

/// The query of `GET /api/v1/luoghi`.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct PlaceParams {
    #[serde(default)]
    q: String,
}

/// `GET /api/v1/luoghi?q=TEXT` → `{"rows": [{"codice", "nome", "provincia", "estero",
/// "attivo"}…]}`: at most 20, current municipalities first; at least two letters.
pub(super) async fn places(
    ApiSession(_c): ApiSession,
    axum::extract::Query(p): axum::extract::Query<PlaceParams>,
) -> Response {
    let q = crate::persons::fold(&p.q);
    if q.chars().count() < 2 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "scrivere almeno due lettere del luogo",
        );
    }
    let mut rows: Vec<&siso_shared::belfiore::Birthplace> = siso_shared::belfiore::all()
        .iter()
        .filter(|b| crate::persons::fold(&b.name).starts_with(&q))
        .collect();
    rows.sort_by_key(|b| (!b.active, b.foreign, b.name.len(), b.name.clone()));
    rows.truncate(20);
    Json(json!({ "rows": rows.iter().map(|b| json!({
        "codice": b.code, "nome": b.name, "provincia": b.province, "estero": b.foreign, "attivo": b.active,
    })).collect::<Vec<_>>() }))
    .into_response()
}
