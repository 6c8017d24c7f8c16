//! Caseloads: a social worker's open cases with the next review and the last activity, the
//! unassigned requests from the desk, and the manager's view of the whole service (open cases
//! and overdue reviews per operator, unassigned requests, overlap notices open and resolved).

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

use super::card::{case_view, CasoView};
use super::{CartellaError, CaseRow, Desk, Operator, Origine};
use crate::accounts::OperatorRole;
use crate::audit::Action;
use crate::model::*;
use crate::store::{Kind, Store, StoreError, APP_ID_LEN};

/// A case in a list, with its person's name and the household's last activity.
#[derive(Debug, Clone, Serialize)]
pub struct Riga {
    /// The case.
    #[serde(flatten)]
    pub caso: CasoView,
    /// Surname.
    pub cognome: String,
    /// Name.
    pub nome: String,
    /// The latest activity of the diary.
    pub ultima_attivita: Option<Date>,
}

/// A social worker's caseload (`GET /api/v1/carico`).
#[derive(Debug, Clone, Serialize)]
pub struct Carico {
    /// The operator.
    pub utente: String,
    /// Their open cases, next review first.
    pub casi: Vec<Riga>,
    /// Requests from the desk nobody holds yet (social workers and the manager).
    pub richieste: Vec<Riga>,
    /// Their open cases whose review is past.
    pub revisioni_scadute: usize,
}

/// One operator's load in the manager's view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerOperatore {
    /// Open cases.
    pub aperti: usize,
    /// Of which with a past review date.
    pub revisioni_scadute: usize,
}

/// The manager's view of the service (`GET /api/v1/servizio`).
#[derive(Debug, Clone, Serialize)]
pub struct Servizio {
    /// Open cases per operator.
    pub per_operatore: BTreeMap<String, PerOperatore>,
    /// Unassigned requests.
    pub richieste: Vec<Riga>,
    /// Overlap notices with no settling follow-up.
    pub segnalazioni_aperte: usize,
    /// Overlap notices settled by a follow-up.
    pub segnalazioni_risolte: usize,
}

/// Every case of the node: written in the app, and imported prese in carico.
fn all_cases(store: &Store, today: Date) -> Result<Vec<CaseRow>, StoreError> {
    let mut out = Vec::new();
    store.for_each::<Caso>(Kind::Caso, b"", |k, caso| {
        let (cf, suffix) = super::split_key(k);
        out.push(CaseRow {
            cf,
            caso,
            origine: Origine::App {
                id: hex::encode(suffix),
                autore: String::new(),
            },
        });
    })?;
    let mut imported = Vec::new();
    store.for_each::<PresaInCarico>(Kind::PresaInCarico, b"", |k, p| {
        let (cf, suffix) = super::split_key(k);
        if suffix.len() != APP_ID_LEN && p.fine.is_none_or(|f| f >= today) {
            imported.push(cf);
        }
    })?;
    imported.sort();
    imported.dedup();
    for c in super::cases_of(store, &imported, today)? {
        if c.origine == Origine::Importazione && c.caso.aperto() {
            out.push(c);
        }
    }
    Ok(out)
}

/// Counts of overlap notices: (open, resolved).
pub fn notice_counts(store: &Store) -> Result<(usize, usize), StoreError> {
    let (mut open, mut resolved) = (0, 0);
    for k in store.keys(Kind::Notice)? {
        let v: Vec<Verifica> = store.get(Kind::Verifica, &k)?.unwrap_or_default();
        if v.last().is_some_and(|v| v.esito.resolves()) {
            resolved += 1;
        } else {
            open += 1;
        }
    }
    Ok((open, resolved))
}

impl Desk<'_> {
    fn riga(&self, c: &CaseRow, today: Date) -> Result<Riga, StoreError> {
        let p: Option<Person> = self.store.get(Kind::Person, c.cf.as_bytes())?;
        let members = match &p {
            Some(p) => crate::household::of_person(self.store, p)?.members,
            None => vec![c.cf.clone()],
        };
        // The diary is the household's: the latest activity with any member.
        let mut last: Option<Date> = None;
        for cf in &members {
            self.store
                .for_each::<Attivita>(Kind::Attivita, cf.as_bytes(), |_, a| {
                    last = last.max(Some(a.data));
                })?;
        }
        let (cognome, nome) = p.map(|p| (p.cognome, p.nome)).unwrap_or_default();
        Ok(Riga {
            caso: case_view(self, c, false, today),
            cognome,
            nome,
            ultima_attivita: last,
        })
    }

    fn requests(&self, cases: &[CaseRow], today: Date) -> Result<Vec<Riga>, StoreError> {
        let mut out: Vec<Riga> = cases
            .iter()
            .filter(|c| c.caso.stato == StatoCaso::Richiesta)
            .map(|c| self.riga(c, today))
            .collect::<Result<_, _>>()?;
        out.sort_by_key(|r| r.caso.richiesta);
        Ok(out)
    }

    fn listed(&self, op: &Operator, rows: &[&Riga], what: &str) -> Result<(), StoreError> {
        let ids: Vec<String> = rows.iter().map(|r| r.caso.persona.clone()).collect();
        self.note(op, Action::LetturaCarico, ids, what)
    }

    /// The caseload of `op` (audited: the persons listed).
    pub fn caseload(&self, op: &Operator) -> Result<Carico, CartellaError> {
        if matches!(
            op.role,
            OperatorRole::Amministratore | OperatorRole::OperatoreEts
        ) {
            return Err(CartellaError::Role("il ruolo non ha un carico di casi"));
        }
        let today = self.today();
        let cases = all_cases(self.store, today)?;
        let mut casi: Vec<Riga> = cases
            .iter()
            .filter(|c| {
                c.caso.stato == StatoCaso::InCarico
                    && c.caso.assegnatario.as_deref() == Some(op.user.as_str())
            })
            .map(|c| self.riga(c, today))
            .collect::<Result<_, _>>()?;
        casi.sort_by_key(|r| {
            (
                r.caso.prossima_revisione.is_none(),
                r.caso.prossima_revisione,
            )
        });
        let richieste = match op.role {
            OperatorRole::AssistenteSociale | OperatorRole::Responsabile => {
                self.requests(&cases, today)?
            }
            _ => Vec::new(),
        };
        let rows: Vec<&Riga> = casi.iter().chain(&richieste).collect();
        self.listed(op, &rows, "carico di lavoro")?;
        Ok(Carico {
            utente: op.user.clone(),
            revisioni_scadute: casi.iter().filter(|r| r.caso.revisione_scaduta).count(),
            casi,
            richieste,
        })
    }

    /// The manager's view of the service.
    pub fn service(&self, op: &Operator) -> Result<Servizio, CartellaError> {
        if op.role != OperatorRole::Responsabile {
            return Err(CartellaError::Role(
                "la visione d'insieme del servizio spetta al responsabile",
            ));
        }
        let today = self.today();
        let cases = all_cases(self.store, today)?;
        let mut per_operatore: BTreeMap<String, PerOperatore> = BTreeMap::new();
        for c in cases.iter().filter(|c| c.caso.stato == StatoCaso::InCarico) {
            let e = per_operatore
                .entry(c.caso.assegnatario.clone().unwrap_or_default())
                .or_default();
            e.aperti += 1;
            e.revisioni_scadute +=
                usize::from(c.caso.prossima_revisione().is_some_and(|n| n < today));
        }
        let richieste = self.requests(&cases, today)?;
        let (segnalazioni_aperte, segnalazioni_risolte) = notice_counts(self.store)?;
        self.listed(
            op,
            &richieste.iter().collect::<Vec<_>>(),
            "quadro del servizio",
        )?;
        Ok(Servizio {
            per_operatore,
            richieste,
            segnalazioni_aperte,
            segnalazioni_risolte,
        })
    }
}
