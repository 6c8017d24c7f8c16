//! Writing the cartella: `POST /api/v1/accessi`, `/prese-in-carico`, `/interventi`,
//! `/attivita` (JSON, `X-CSRF-Token`, optional `Idempotency-Key`), the steps of a case
//! (`POST /api/v1/casi/{id}/{step}`), the follow-up of an overlap notice, and the same from the
//! card's forms (url-encoded, with the `csrf` field; a redirection back to the card).
//! Authorisation, validation and the audit entry are the cartella's (`crate::cartella`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde_json::{json, Value};

use super::auth::{api_error, ApiWrite, Current, PageSession};
use super::{card, pages, WebState};
use crate::accounts::OperatorRole;
use crate::cartella::{CartellaError, Desk, FieldError, Operator, RecordKind, Step, Written};

/// A concurrent change got there first.
const CHANGED: &str =
    "il dato è stato modificato da un altro operatore nel frattempo: ricaricare e riprovare";

/// The operator of a session.
pub(super) fn operator(c: &Current) -> Option<Operator> {
    let role = OperatorRole::ALL
        .into_iter()
        .find(|r| r.as_str() == c.session.role)?;
    Some(Operator {
        user: c.session.user.clone(),
        role,
        addr: c.addr.to_string(),
    })
}

/// Runs a cartella function on the blocking pool with a [`Desk`] over the node's store.
pub(super) async fn with_desk<T: Send + 'static>(
    s: &WebState,
    c: &Current,
    f: impl FnOnce(&Desk<'_>, &Operator, &super::Inner) -> Result<T, CartellaError> + Send + 'static,
) -> Result<T, CartellaError> {
    let op = operator(c).ok_or(CartellaError::Role("ruolo sconosciuto"))?;
    let inner = s.0.clone();
    let now = s.0.clock.now();
    tokio::task::spawn_blocking(move || {
        let desk = Desk {
            store: &inner.store,
            trail: &inner.audit,
            ids: &inner.ids,
            now,
        };
        f(&desk, &op, &inner)
    })
    .await
    .unwrap_or_else(|e| {
        Err(CartellaError::Store(crate::store::StoreError::Task(
            e.to_string(),
        )))
    })
}

/// A refusal as the API answers it: 400 with the fields, 403, 404, 409, 500.
pub(super) fn api_refusal(e: &CartellaError) -> Response {
    match e {
        CartellaError::Invalid(fields) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "errore": "dati non validi: nulla è stato registrato", "campi": fields })),
        )
            .into_response(),
        CartellaError::Role(m) => api_error(StatusCode::FORBIDDEN, m),
        CartellaError::Denied => api_error(
            StatusCode::FORBIDDEN,
            "la persona è seguita da un altro operatore: accesso non consentito (registrato)",
        ),
        CartellaError::NotFound(m) => api_error(StatusCode::NOT_FOUND, m),
        CartellaError::Conflict(m) => api_error(StatusCode::CONFLICT, m),
        CartellaError::Store(crate::store::StoreError::Changed) => {
            api_error(StatusCode::CONFLICT, CHANGED)
        }
        CartellaError::Store(_) | CartellaError::Random => {
            tracing::error!(error = %e, "web: cartella failed");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "errore interno: nulla è stato registrato",
            )
        }
    }
}

/// A refusal as a page.
pub(super) fn page_refusal(s: &WebState, c: &Current, e: &CartellaError) -> Response {
    let (status, title, text) = match e {
        CartellaError::Invalid(_) => (StatusCode::BAD_REQUEST, "Dati non validi", e.to_string()),
        CartellaError::Role(m) => (StatusCode::FORBIDDEN, "Operazione non consentita", (*m).to_owned()),
        CartellaError::Denied => (
            StatusCode::FORBIDDEN,
            "Accesso non consentito",
            "La persona è seguita da un altro operatore. Il tentativo di accesso è stato registrato."
                .to_owned(),
        ),
        CartellaError::NotFound(m) => (StatusCode::NOT_FOUND, "Non trovato", (*m).to_owned()),
        CartellaError::Conflict(m) => (StatusCode::CONFLICT, "Operazione non possibile", m.clone()),
        CartellaError::Store(crate::store::StoreError::Changed) => (
            StatusCode::CONFLICT,
            "Operazione non possibile",
            CHANGED.to_owned(),
        ),
        CartellaError::Store(_) | CartellaError::Random => {
            tracing::error!(error = %e, "web: cartella failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Errore",
                "Errore interno: nulla è stato registrato. Riprovare fra qualche istante.".to_owned(),
            )
        }
    };
    let page = pages::message_for(&s.member_label(), &c.session, title, &text);
    (status, pages::html(page)).into_response()
}

/// A JSON body as fields: an object of strings (numbers and `null` accepted).
fn body_fields(body: &[u8]) -> Result<BTreeMap<String, String>, CartellaError> {
    let bad = |m: &str| CartellaError::Invalid(vec![FieldError::new("", m)]);
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| bad("corpo non valido: atteso un oggetto JSON"))?;
    let Value::Object(map) = v else {
        return Err(bad("corpo non valido: atteso un oggetto JSON"));
    };
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                out.insert(k, s);
            }
            Value::Number(n) => {
                out.insert(k, n.to_string());
            }
            Value::Null => {
                out.insert(k, String::new());
            }
            _ => errors.push(FieldError::new(&k, "atteso un testo o un numero")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CartellaError::Invalid(errors))
    }
}

/// Adds a person the app wrote to the search index.
fn index_new(inner: &super::Inner, w: &Written) {
    if w.new_person {
        let mut ix = inner.persons.write().unwrap_or_else(|p| p.into_inner());
        ix.insert(&w.person);
    }
}

async fn api_write(
    s: WebState,
    c: Current,
    kind: RecordKind,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut fields = match body_fields(&body) {
        Ok(f) => f,
        Err(e) => return api_refusal(&e),
    };
    let idem = headers.get("idempotency-key").map(|v| {
        v.to_str()
            .map(str::to_owned)
            .unwrap_or_else(|_| "\u{0}".into())
    });
    let r = with_desk(&s, &c, move |d, op, inner| {
        // A person may be named by id instead of code (the phone app keeps no codes).
        if let Some(id) = fields.remove("persona") {
            if fields.contains_key("codice_fiscale") {
                return Err(CartellaError::Invalid(vec![FieldError::new(
                    "persona",
                    "indicare la persona o il codice fiscale, non entrambi",
                )]));
            }
            let p = {
                let ix = inner.persons.read().unwrap_or_else(|p| p.into_inner());
                ix.by_id(d.store, &id)?
            };
            let p = p.ok_or_else(|| {
                CartellaError::Invalid(vec![FieldError::new("persona", "Persona inesistente.")])
            })?;
            fields.insert("codice_fiscale".into(), p.cf);
        }
        let w = d.write(op, kind, fields, idem.as_deref())?;
        index_new(inner, &w);
        Ok(w)
    })
    .await;
    match r {
        Ok(w) => {
            let status = if w.repeated {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (
                status,
                Json(json!({ "id": w.id, "persona": s.0.ids.id_hex(&w.person.cf) })),
            )
                .into_response()
        }
        Err(e) => api_refusal(&e),
    }
}

/// `POST /api/v1/accessi` → 201 `{"id", "persona"}`.
pub(super) async fn api_accesso(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Response {
    api_write(s, c, RecordKind::Accesso, h, b).await
}

/// `POST /api/v1/prese-in-carico` → 201 `{"id", "persona"}` (the case's id).
pub(super) async fn api_presa(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Response {
    api_write(s, c, RecordKind::PresaInCarico, h, b).await
}

/// `POST /api/v1/interventi` → 201 `{"id", "persona"}`.
pub(super) async fn api_intervento(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Response {
    api_write(s, c, RecordKind::Intervento, h, b).await
}

/// `POST /api/v1/attivita` → 201 `{"id", "persona"}`.
pub(super) async fn api_attivita(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Response {
    api_write(s, c, RecordKind::Attivita, h, b).await
}

/// `POST /api/v1/casi/{id}/{step}` → 200 `{"id", "persona"}`.
pub(super) async fn api_step(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    Path((id, step)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(step) = Step::parse(&step) else {
        return api_error(StatusCode::NOT_FOUND, "passo del caso sconosciuto");
    };
    let fields = match body_fields(&body) {
        Ok(f) => f,
        Err(e) => return api_refusal(&e),
    };
    let case = id.clone();
    match with_desk(&s, &c, move |d, op, _| d.step(op, &case, step, &fields)).await {
        Ok(persona) => Json(json!({ "id": id, "persona": persona })).into_response(),
        Err(e) => api_refusal(&e),
    }
}

/// `POST /api/v1/segnalazioni/{key}/verifica` with `{"esito", "note"}` → 200.
pub(super) async fn api_follow_up(
    State(s): State<WebState>,
    ApiWrite(c): ApiWrite,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let fields = match body_fields(&body) {
        Ok(f) => f,
        Err(e) => return api_refusal(&e),
    };
    match with_desk(&s, &c, move |d, op, _| d.follow_up(op, &key, &fields)).await {
        Ok(persone) => Json(json!({ "persone": persone })).into_response(),
        Err(e) => api_refusal(&e),
    }
}

/// A form's fields without its CSRF token, or the refusal page.
fn form_fields(
    s: &WebState,
    c: &Current,
    mut f: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Box<Response>> {
    let token = f.remove("csrf").unwrap_or_default();
    if !c.session.csrf_ok(&token) {
        let page = pages::message(
            &s.member_label(),
            "Richiesta non valida",
            "La richiesta non porta il codice di sicurezza della sessione (CSRF). Ricaricare la pagina e riprovare.",
        );
        return Err(Box::new(
            (StatusCode::FORBIDDEN, pages::html(page)).into_response(),
        ));
    }
    Ok(f)
}

/// After a form: back to the card, or the card again with the errors.
async fn after_form(
    s: &WebState,
    c: &Current,
    person: &str,
    r: Result<(), CartellaError>,
    form: &str,
) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/persone/{person}#{form}")).into_response(),
        Err(CartellaError::Invalid(errors)) => {
            card::render(
                s,
                c,
                person,
                Some((form.to_owned(), errors)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => page_refusal(s, c, &e),
    }
}

/// `POST /persone/{id}/{accessi|prese-in-carico|interventi|attivita}`: a record from the card.
pub(super) async fn record_form(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Path((id, record)): Path<(String, String)>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let kind = match record.as_str() {
        "accessi" => RecordKind::Accesso,
        "prese-in-carico" => RecordKind::PresaInCarico,
        "interventi" => RecordKind::Intervento,
        "attivita" => RecordKind::Attivita,
        _ => return super::auth::not_found(State(s), axum::http::Uri::from_static("/")).await,
    };
    let mut fields = match form_fields(&s, &c, f) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    // Empty optional fields of a form are absent, not empty values.
    fields.retain(|_, v| !v.trim().is_empty());
    let person = id.clone();
    let r = with_desk(&s, &c, move |d, op, inner| {
        let p = {
            let ix = inner.persons.read().unwrap_or_else(|p| p.into_inner());
            ix.by_id(d.store, &person)?
        };
        let p = p.ok_or(CartellaError::NotFound("persona inesistente"))?;
        fields.insert("codice_fiscale".into(), p.cf.clone());
        let w = d.write(op, kind, fields, None)?;
        index_new(inner, &w);
        Ok(())
    })
    .await;
    after_form(&s, &c, &id, r, &record).await
}

/// `POST /casi/{id}/{step}`: a step of a case from the card.
pub(super) async fn step_form(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let Some(st) = Step::parse(&step) else {
        return super::auth::not_found(State(s), axum::http::Uri::from_static("/")).await;
    };
    let mut fields = match form_fields(&s, &c, f) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    fields.retain(|_, v| !v.trim().is_empty());
    let case = id.clone();
    let r = with_desk(&s, &c, move |d, op, _| {
        let (p, _, _) = d.case(&case)?;
        let pid = d.ids.id_hex(&p.cf);
        Ok((pid, d.step(op, &case, st, &fields)))
    })
    .await;
    match r {
        Ok((pid, r)) => after_form(&s, &c, &pid, r.map(|_| ()), &format!("caso-{id}")).await,
        Err(e) => page_refusal(&s, &c, &e),
    }
}

/// `POST /segnalazioni/{key}/verifica`: the follow-up of a notice from the card.
pub(super) async fn follow_up_form(
    State(s): State<WebState>,
    PageSession(c): PageSession,
    Path(key): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let mut fields = match form_fields(&s, &c, f) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let back: String = fields
        .remove("persona")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let r = with_desk(&s, &c, move |d, op, _| d.follow_up(op, &key, &fields)).await;
    after_form(&s, &c, &back, r.map(|_| ()), "segnalazioni").await
}
