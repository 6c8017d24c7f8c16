//! The cartella sociale: what operators write in the web app — accesses, cases (the desk's
//! request, taking in charge, assessment of need, personalised plan, monitoring, closure),
//! interventions, the activity diary, the follow-up of the hub's overlap notices — and who may
//! read what.
//!
//! Accesses, cases and interventions are validated exactly as import rows
//! (`import::validate_app`) and stored in the same kinds under `cf ‖ random id`, so the
//! assessment, the aggregates and the sync read them like imported ones, and no import can
//! overwrite them (`import::commit`). Every record has a `W` entry saying who wrote it. Every
//! write lands with its audit entry in one atomic step (`AuditTrail::record_with`).
//!
//! **Invariant:** every card read and every write is authorised here, on the server, from the
//! operator's role and the cases they hold ([`level`]); a refusal of someone else's case is
//! recorded in the audit trail.

pub mod card;
pub mod caseload;
mod fields;
pub mod rendiconto;
mod steps;

use std::collections::BTreeMap;

use serde::Serialize;
use siso_shared::CodiceFiscale;
use time::{Date, OffsetDateTime};

use crate::accounts::OperatorRole;
use crate::audit::{Action, AuditTrail};
use crate::household::{self, LocalHousehold};
use crate::import::{self, natural_key, AppRow, ImportKind};
use crate::model::*;
use crate::persons::IdKey;
use crate::store::{cf_key, AuditRecord, Kind, Store, StoreError, Tx, APP_ID_LEN};

pub use fields::{parse_date, FieldError};
pub use steps::{PreparedStep, Step};

/// The operator acting: from their session.
#[derive(Debug, Clone)]
pub struct Operator {
    /// User name.
    pub user: String,
    /// Role.
    pub role: OperatorRole,
    /// Client address (for the audit trail).
    pub addr: String,
}

/// How much of a person's data an operator may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Livello {
    /// Everything the node holds (responsabile; a social worker on their own cases).
    Completa,
    /// The desk's card: household composition, accesses, open cases and who holds them; no
    /// incomes, no health data, no assessment.
    Essenziale,
    /// A third-sector operator: the person, and the entity's own accesses and interventions.
    Ets,
}

/// Errors of the cartella.
#[derive(Debug, thiserror::Error)]
pub enum CartellaError {
    /// The submitted fields are not valid (every error, by field).
    #[error("dati non validi")]
    Invalid(Vec<FieldError>),
    /// The operator's role may not do this.
    #[error("{0}")]
    Role(&'static str),
    /// The person's case is held by another operator (recorded in the audit trail).
    #[error("la persona è seguita da un altro operatore")]
    Denied,
    /// No such person, case or notice.
    #[error("{0}")]
    NotFound(&'static str),
    /// The request does not fit the record's state (e.g. closing a closed case).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system random source failed.
    #[error("no randomness available for a record id")]
    Random,
}

impl CartellaError {
    fn field(campo: &str, messaggio: impl Into<String>) -> CartellaError {
        CartellaError::Invalid(vec![FieldError::new(campo, messaggio)])
    }
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fonte", rename_all = "snake_case")]
pub enum Origine {
    /// An import of the municipal systems.
    Importazione,
    /// Written in the app.
    App {
        /// Its id.
        id: String,
        /// Who wrote it.
        autore: String,
    },
}

/// A case of a household, from the app or imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// The person.
    pub cf: String,
    /// The case (imported prese in carico shown as cases in charge or closed).
    pub caso: Caso,
    /// Where it came from.
    pub origine: Origine,
}

impl CaseRow {
    /// The app id, for cases written in the app.
    pub fn id(&self) -> Option<&str> {
        match &self.origine {
            Origine::App { id, .. } => Some(id),
            Origine::Importazione => None,
        }
    }
}

/// A new random record id.
fn new_id() -> Result<[u8; APP_ID_LEN], CartellaError> {
    let mut id = [0u8; APP_ID_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| CartellaError::Random)?;
    Ok(id)
}

/// A record id from its 32 hex digits.
pub fn parse_id(s: &str) -> Option<[u8; APP_ID_LEN]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The codice fiscale of a store key `cf ‖ suffix`, and the suffix.
fn split_key(k: &[u8]) -> (String, &[u8]) {
    let n = 16.min(k.len());
    (String::from_utf8_lossy(&k[..n]).into_owned(), &k[n..])
}

/// Who wrote an app record (`None` for an id the app did not write).
fn app_record(store: &Store, id: &[u8]) -> Result<Option<AppRecord>, StoreError> {
    store.get(Kind::AppRecord, id)
}

/// Where a record under `cf ‖ suffix` came from.
pub(crate) fn origin_of(store: &Store, suffix: &[u8]) -> Result<Origine, StoreError> {
    if suffix.len() != APP_ID_LEN {
        return Ok(Origine::Importazione);
    }
    Ok(Origine::App {
        id: hex::encode(suffix),
        autore: app_record(store, suffix)?
            .map(|r| r.author)
            .unwrap_or_default(),
    })
}

/// Every case of the household's members: written in the app (`X`) and imported (`C` rows
/// with a row-hash suffix), as they stand on `today`.
pub fn cases_of(
    store: &Store,
    members: &[String],
    today: Date,
) -> Result<Vec<CaseRow>, StoreError> {
    let mut out = Vec::new();
    for cf in members {
        for (k, caso) in store.scan::<Caso>(Kind::Caso, cf.as_bytes())? {
            let (cf, suffix) = split_key(&k);
            let origine = origin_of(store, suffix)?;
            out.push(CaseRow { cf, caso, origine });
        }
        for (k, p) in store.scan::<PresaInCarico>(Kind::PresaInCarico, cf.as_bytes())? {
            let (cf, suffix) = split_key(&k);
            if suffix.len() == APP_ID_LEN {
                continue; // the mirror of an app case, listed above
            }
            let open = p.fine.is_none_or(|f| f >= today);
            out.push(CaseRow {
                cf,
                caso: Caso {
                    area: p.area,
                    stato: if open {
                        StatoCaso::InCarico
                    } else {
                        StatoCaso::Chiuso
                    },
                    richiesta: None,
                    assegnatario: Some(p.operatore),
                    inizio: Some(p.inizio),
                    valutazione: None,
                    progetto: None,
                    monitoraggi: Vec::new(),
                    appuntamenti: Vec::new(),
                    chiusura: None,
                },
                origine: Origine::Importazione,
            });
        }
    }
    Ok(out)
}

/// What `op` may see of a household with these cases: a `responsabile` everything, a social
/// worker everything of a household where they hold (or held) a case, the desk's card where
/// nobody else holds one, and nothing ([`CartellaError::Denied`]) where another social worker
/// does; the desk its card; a third-sector operator the entity's records;
/// an `amministratore` nothing.
pub fn level(op: &Operator, cases: &[CaseRow]) -> Result<Livello, CartellaError> {
    match op.role {
        OperatorRole::Responsabile => Ok(Livello::Completa),
        OperatorRole::Sportello => Ok(Livello::Essenziale),
        OperatorRole::OperatoreEts => Ok(Livello::Ets),
        OperatorRole::Amministratore => Err(CartellaError::Role(
            "il ruolo di amministratore non consulta i dati delle persone",
        )),
        OperatorRole::AssistenteSociale => {
            let mine = |c: &CaseRow| c.caso.assegnatario.as_deref() == Some(op.user.as_str());
            if cases.iter().any(mine) {
                Ok(Livello::Completa)
            } else if cases
                .iter()
                .any(|c| c.caso.stato == StatoCaso::InCarico && c.caso.assegnatario.is_some())
            {
                Err(CartellaError::Denied)
            } else {
                Ok(Livello::Essenziale)
            }
        }
    }
}

/// The records the app writes through [`Desk::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// `POST /api/v1/accessi`.
    Accesso,
    /// `POST /api/v1/prese-in-carico`.
    PresaInCarico,
    /// `POST /api/v1/interventi`.
    Intervento,
    /// `POST /api/v1/attivita`.
    Attivita,
}

impl RecordKind {
    /// The import kind whose columns and validation it shares.
    fn import_kind(self) -> Option<ImportKind> {
        match self {
            RecordKind::Accesso => Some(ImportKind::Accessi),
            RecordKind::PresaInCarico => Some(ImportKind::PreseInCarico),
            RecordKind::Intervento => Some(ImportKind::Interventi),
            RecordKind::Attivita => None,
        }
    }

    /// The fields it takes.
    pub fn columns(self) -> Vec<&'static str> {
        match self.import_kind() {
            Some(k) => k.required().iter().chain(k.optional()).copied().collect(),
            None => vec![
                "codice_fiscale",
                "data",
                "tipo_attivita",
                "durata_minuti",
                "note",
                "ora",
                "luogo",
                "caso",
            ],
        }
    }

    /// As the audit trail names it.
    fn label(self) -> &'static str {
        match self {
            RecordKind::Accesso => "accesso",
            RecordKind::PresaInCarico => "presa in carico",
            RecordKind::Intervento => "intervento",
            RecordKind::Attivita => "attività",
        }
    }
}

/// What a write did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The record's id (32 hex digits).
    pub id: String,
    /// The person it is about.
    pub person: Person,
    /// True if the person was new to the node (the caller adds them to its search index).
    pub new_person: bool,
    /// True if an earlier request with the same idempotency key had written it.
    pub repeated: bool,
}

/// An esito that asks for a social worker: the desk's access becomes an unassigned case.
pub fn asks_for_case(esito: &str) -> bool {
    crate::persons::fold(esito).starts_with("richiesta di presa in carico")
}

/// Most characters of an idempotency key.
const IDEMPOTENCY_MAX: usize = 100;

/// The operators' desk over a node's store: reads and writes of the cartella, each one
/// authorised and audited.
#[derive(Debug, Clone, Copy)]
pub struct Desk<'a> {
    /// The store.
    pub store: &'a Store,
    /// The audit trail.
    pub trail: &'a AuditTrail,
    /// The person id key.
    pub ids: &'a IdKey,
    /// Now.
    pub now: OffsetDateTime,
}

impl Desk<'_> {
    /// Today.
    pub fn today(&self) -> Date {
        self.now.date()
    }

    fn audit_record(
        &self,
        op: &Operator,
        action: Action,
        persons: Vec<String>,
        detail: String,
    ) -> AuditRecord {
        AuditRecord {
            seq: 0,
            time: self.now.unix_timestamp(),
            user: op.user.clone(),
            role: op.role.as_str().to_owned(),
            action: action.as_str().to_owned(),
            persons,
            detail,
            addr: op.addr.clone(),
            prev: [0; 32],
        }
    }

    /// Records an event that writes nothing else (a read, a refusal).
    pub fn note(
        &self,
        op: &Operator,
        action: Action,
        persons: Vec<String>,
        detail: impl Into<String>,
    ) -> Result<(), StoreError> {
        let rec = self.audit_record(op, action, persons, detail.into());
        self.trail.record(self.store, rec).map(|_| ())
    }

    /// Applies `tx` with its audit entry.
    fn commit(
        &self,
        op: &Operator,
        tx: Tx,
        persons: Vec<String>,
        detail: String,
    ) -> Result<(), StoreError> {
        let rec = self.audit_record(op, Action::Registrazione, persons, detail);
        self.trail.record_with(self.store, &tx, rec).map(|_| ())
    }

    /// The household and cases of a person, and what `op` may see of them; a refusal of
    /// another worker's case is recorded before it is returned.
    pub fn open(
        &self,
        op: &Operator,
        person: &Person,
    ) -> Result<(LocalHousehold, Vec<CaseRow>, Livello), CartellaError> {
        let hh = household::of_person(self.store, person)?;
        let cases = cases_of(self.store, &hh.members, self.today())?;
        match level(op, &cases) {
            Err(CartellaError::Denied) => {
                let id = self.ids.id_hex(&person.cf);
                self.note(
                    op,
                    Action::AccessoNegato,
                    vec![id],
                    "caso di altro operatore",
                )?;
                Err(CartellaError::Denied)
            }
            other => Ok((hh, cases, other?)),
        }
    }

    /// The id a request with this idempotency key already created, if any.
    fn repeated(&self, op: &Operator, key: Option<&str>) -> Result<Option<Written>, CartellaError> {
        let Some(key) = key else { return Ok(None) };
        if key.is_empty()
            || key.chars().count() > IDEMPOTENCY_MAX
            || key.chars().any(|c| c.is_control())
        {
            return Err(CartellaError::field(
                "Idempotency-Key",
                format!("chiave di idempotenza non valida (da 1 a {IDEMPOTENCY_MAX} caratteri stampabili)"),
            ));
        }
        let Some(id) = self
            .store
            .get::<[u8; APP_ID_LEN]>(Kind::Idempotency, &idempotency_key(op, key))?
        else {
            return Ok(None);
        };
        let rec = app_record(self.store, &id)?
            .ok_or_else(|| StoreError::Corrupt("idempotency key without its record".into()))?;
        let person = self
            .store
            .get::<Person>(Kind::Person, rec.cf.as_bytes())?
            .ok_or_else(|| StoreError::Corrupt("app record without its person".into()))?;
        Ok(Some(Written {
            id: hex::encode(id),
            person,
            new_person: false,
            repeated: true,
        }))
    }

    /// Writes a record submitted by `op` (fields by column name, values as in the CSV files),
    /// with an optional idempotency key: validated as an import row, authorised, stored with
    /// its author and audited in one step. Nothing is written on any error.
    pub fn write(
        &self,
        op: &Operator,
        kind: RecordKind,
        mut fields: BTreeMap<String, String>,
        idempotency: Option<&str>,
    ) -> Result<Written, CartellaError> {
        use OperatorRole as R;
        let allowed = match kind {
            RecordKind::Accesso => {
                matches!(
                    op.role,
                    R::Sportello | R::AssistenteSociale | R::Responsabile | R::OperatoreEts
                )
            }
            RecordKind::PresaInCarico => matches!(op.role, R::AssistenteSociale | R::Responsabile),
            RecordKind::Intervento => {
                matches!(
                    op.role,
                    R::AssistenteSociale | R::Responsabile | R::OperatoreEts
                )
            }
            RecordKind::Attivita => matches!(op.role, R::AssistenteSociale | R::Responsabile),
        };
        if !allowed {
            return Err(CartellaError::Role(
                "il ruolo non consente di registrare questo dato",
            ));
        }
        let columns = kind.columns();
        let unknown: Vec<FieldError> = fields
            .keys()
            .filter(|k| !columns.contains(&k.as_str()))
            .map(|k| FieldError::new(k, "campo non previsto"))
            .collect();
        if !unknown.is_empty() {
            return Err(CartellaError::Invalid(unknown));
        }
        if let Some(w) = self.repeated(op, idempotency)? {
            return Ok(w);
        }
        if kind == RecordKind::PresaInCarico {
            let op_field = fields.entry("operatore".into()).or_default();
            if op_field.trim().is_empty() && op.role == R::AssistenteSociale {
                op_field.clone_from(&op.user);
            }
        }
        // Import columns left out of a JSON body are empty cells, as in a CSV file.
        if kind != RecordKind::Attivita {
            for c in &columns {
                fields.entry((*c).to_owned()).or_default();
            }
        }
        let today = self.today();
        let parsed = match kind.import_kind() {
            Some(k) => Parsed::Row(
                import::validate_app(k, &fields, today)
                    .map_err(|e| CartellaError::Invalid(fields::italian(&e)))?,
            ),
            None => {
                let (cf, a) = fields::attivita(&fields, today)?;
                Parsed::Attivita(cf, a)
            }
        };
        let subject = parsed.person();
        let (person, new_person) = match self
            .store
            .get::<Person>(Kind::Person, subject.cf.as_bytes())?
        {
            Some(p) => (p, false),
            None if kind == RecordKind::Accesso || kind == RecordKind::Intervento => {
                (subject, true)
            }
            None => {
                return Err(CartellaError::field(
                    "codice_fiscale",
                    "persona non presente nella cartella: registrare prima un accesso",
                ))
            }
        };
        // Authorisation on the household's cases.
        let (_, cases, lvl) = self.open(op, &person)?;
        let needs_full = matches!(kind, RecordKind::Intervento | RecordKind::Attivita)
            && op.role == R::AssistenteSociale;
        if needs_full && lvl != Livello::Completa {
            return Err(CartellaError::Role(
                "interventi e attività si registrano sui casi assegnati: prendere prima in carico la persona",
            ));
        }
        let id = new_id()?;
        let mut tx = Tx::default();
        if new_person {
            tx.put(Kind::Person, person.cf.as_bytes(), &person)?;
        }
        let key = cf_key(&person.cf, &id);
        let mut natural = None;
        let mut detail = format!("{} {}", kind.label(), hex::encode(id));
        let app_kind = match &parsed {
            Parsed::Row(row) => {
                natural = Some(natural_key(row)?);
                match row {
                    AppRow::Accesso(_, v) => {
                        tx.put(Kind::Accesso, &key, v)?;
                        if asks_for_case(&v.esito) {
                            self.request_case(&mut tx, op, &person, v, &cases)?;
                            detail.push_str(" con richiesta di presa in carico");
                        }
                        AppKind::Accesso
                    }
                    AppRow::Presa(_, v) => {
                        steps::check_assignee(self.store, op, &v.operatore)?;
                        if v.fine.is_some() {
                            return Err(CartellaError::field(
                                "data_fine",
                                "una nuova presa in carico è aperta: la chiusura si registra sul caso",
                            ));
                        }
                        tx.put(Kind::PresaInCarico, &key, v)?;
                        let caso = Caso {
                            area: v.area,
                            stato: StatoCaso::InCarico,
                            richiesta: None,
                            assegnatario: Some(v.operatore.clone()),
                            inizio: Some(v.inizio),
                            valutazione: None,
                            progetto: None,
                            monitoraggi: Vec::new(),
                            appuntamenti: Vec::new(),
                            chiusura: None,
                        };
                        tx.put(Kind::Caso, &key, &caso)?;
                        AppKind::Caso
                    }
                    AppRow::Intervento(_, v) => {
                        tx.put(Kind::Intervento, &key, v)?;
                        AppKind::Intervento
                    }
                }
            }
            Parsed::Attivita(_, a) => {
                if let Some(c) = &a.caso {
                    let caso = self.linked_case(op, &cases, c)?;
                    // Closed meanwhile (a report sent late from a phone): refused, not lost.
                    tx.expect(
                        Kind::Caso,
                        &cf_key(&caso.cf, &parse_id(c).unwrap_or_default()),
                        Some(&caso.caso),
                    )?;
                }
                tx.put(Kind::Attivita, &key, a)?;
                AppKind::Attivita
            }
        };
        tx.put(
            Kind::AppRecord,
            &id,
            &AppRecord {
                kind: app_kind,
                cf: person.cf.clone(),
                author: op.user.clone(),
                created: self.now.unix_timestamp(),
                natural,
            },
        )?;
        if let Some(k) = idempotency {
            let key = idempotency_key(op, k);
            tx.expect::<[u8; APP_ID_LEN]>(Kind::Idempotency, &key, None)?;
            tx.put(Kind::Idempotency, &key, &id)?;
        }
        match self.commit(op, tx, vec![self.ids.id_hex(&person.cf)], detail) {
            Ok(()) => {}
            // The same key, sent twice at once: the first one wrote; this is its repetition.
            Err(StoreError::Changed) if idempotency.is_some() => {
                if let Some(w) = self.repeated(op, idempotency)? {
                    return Ok(w);
                }
                return Err(StoreError::Changed.into());
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Written {
            id: hex::encode(id),
            person,
            new_person,
            repeated: false,
        })
    }

    /// The case an activity names: one of the household's cases written in the app, open, and
    /// held by `op` (or `op` is the manager).
    fn linked_case<'c>(
        &self,
        op: &Operator,
        cases: &'c [CaseRow],
        id: &str,
    ) -> Result<&'c CaseRow, CartellaError> {
        let c = cases.iter().find(|c| c.id() == Some(id)).ok_or_else(|| {
            CartellaError::field(
                "caso",
                "Il caso indicato non è della persona o del suo nucleo.",
            )
        })?;
        match c.caso.stato {
            StatoCaso::Chiuso => {
                return Err(CartellaError::Conflict(
                    "il caso è stato chiuso: l'attività non può esservi collegata".into(),
                ))
            }
            StatoCaso::Richiesta => {
                return Err(CartellaError::Conflict(
                    "il caso non è ancora stato preso in carico".into(),
                ))
            }
            StatoCaso::InCarico => {}
        }
        let mine = c.caso.assegnatario.as_deref() == Some(op.user.as_str());
        if !mine && op.role != OperatorRole::Responsabile {
            return Err(CartellaError::Denied);
        }
        Ok(c)
    }

    /// The unassigned case an access asks for (none if the person already has an open one in
    /// the same area).
    fn request_case(
        &self,
        tx: &mut Tx,
        op: &Operator,
        person: &Person,
        a: &Accesso,
        cases: &[CaseRow],
    ) -> Result<(), CartellaError> {
        let open = cases
            .iter()
            .any(|c| c.cf == person.cf && c.caso.area == a.area && c.caso.aperto());
        if open {
            return Ok(());
        }
        let id = new_id()?;
        let caso = Caso {
            area: a.area,
            stato: StatoCaso::Richiesta,
            richiesta: Some(a.data),
            assegnatario: None,
            inizio: None,
            valutazione: None,
            progetto: None,
            monitoraggi: Vec::new(),
            appuntamenti: Vec::new(),
            chiusura: None,
        };
        tx.put(Kind::Caso, &cf_key(&person.cf, &id), &caso)?;
        tx.put(
            Kind::AppRecord,
            &id,
            &AppRecord {
                kind: AppKind::Caso,
                cf: person.cf.clone(),
                author: op.user.clone(),
                created: self.now.unix_timestamp(),
                natural: None,
            },
        )?;
        Ok(())
    }
}

fn idempotency_key(op: &Operator, key: &str) -> Vec<u8> {
    let mut k = op.user.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// A validated submission.
enum Parsed {
    Row(AppRow),
    Attivita(CodiceFiscale, Attivita),
}

impl Parsed {
    /// The person it names, as the submission describes them.
    fn person(&self) -> Person {
        match self {
            Parsed::Row(AppRow::Accesso(p, _) | AppRow::Presa(p, _) | AppRow::Intervento(p, _)) => {
                p.clone()
            }
            Parsed::Attivita(cf, _) => Person {
                cf: cf.as_str().to_owned(),
                cognome: String::new(),
                nome: String::new(),
                sesso: cf.sex(),
                data_nascita: cf.birth_date(),
                luogo_nascita: cf.birthplace_code(),
                famiglia: None,
                rapporto: String::new(),
                indirizzo: String::new(),
                resident: false,
            },
        }
    }
}
