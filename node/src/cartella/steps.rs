//! The steps of a case after the desk's request — assignment, taking in charge, assessment of
//! need, personalised plan, monitoring, closure — and the follow-up of an overlap notice.
//!
//! **Invariant:** a case in charge always has its [`PresaInCarico`] under the same key, with the
//! same holder, start and (once closed) end, so that the assessment and the sync see it.

use std::collections::BTreeMap;

use super::fields::{only, parse_date, place, text, time_of_day};
use super::{CartellaError, Desk, FieldError, Livello, Operator};
use crate::accounts::{self, OperatorRole};
use crate::import::{natural_key, AppRow};
use crate::model::*;
use crate::store::{cf_key, Kind, Store, Tx, APP_ID_LEN};

/// A step of a case, by the name its URL uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `assegnazione` (`operatore`, `data`): the manager assigns or reassigns the case.
    Assegnazione,
    /// `presa` (`data`): a social worker takes an unassigned request in charge.
    Presa,
    /// `valutazione` (`data`, `testo`): the assessment of need.
    Valutazione,
    /// `progetto` (`data`, `obiettivi`, `data_revisione`): the personalised plan.
    Progetto,
    /// `monitoraggio` (`data`, `note`, `prossima_revisione`): a review.
    Monitoraggio,
    /// `chiusura` (`data`, `motivo`, `note`): the manager closes the case.
    Chiusura,
    /// `appuntamento` (`data`, today or later; `ora`, `luogo`, `note`): an appointment.
    Appuntamento,
}

impl Step {
    /// From the URL's name.
    pub fn parse(s: &str) -> Option<Step> {
        Some(match s {
            "assegnazione" => Step::Assegnazione,
            "presa" => Step::Presa,
            "valutazione" => Step::Valutazione,
            "progetto" => Step::Progetto,
            "monitoraggio" => Step::Monitoraggio,
            "chiusura" => Step::Chiusura,
            "appuntamento" => Step::Appuntamento,
            _ => return None,
        })
    }

    /// The fields it takes.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Step::Assegnazione => &["operatore", "data"],
            Step::Presa => &["data"],
            Step::Valutazione => &["data", "testo"],
            Step::Progetto => &["data", "obiettivi", "data_revisione"],
            Step::Monitoraggio => &["data", "note", "prossima_revisione"],
            Step::Chiusura => &["data", "motivo", "note"],
            Step::Appuntamento => &["data", "ora", "luogo", "note"],
        }
    }

    fn label(self) -> &'static str {
        match self {
            Step::Assegnazione => "assegnazione",
            Step::Presa => "presa in carico",
            Step::Valutazione => "valutazione del bisogno",
            Step::Progetto => "progetto personalizzato",
            Step::Monitoraggio => "monitoraggio",
            Step::Chiusura => "chiusura",
            Step::Appuntamento => "appuntamento",
        }
    }
}

/// A step checked and computed, not yet written ([`Desk::prepare_step`]).
#[derive(Debug)]
pub struct PreparedStep {
    tx: Tx,
    person: String,
    detail: String,
}

/// `user` must be an enabled social worker's account; a social worker may name only themselves.
pub(super) fn check_assignee(
    store: &Store,
    op: &Operator,
    user: &str,
) -> Result<(), CartellaError> {
    if op.role == OperatorRole::AssistenteSociale && user != op.user {
        return Err(CartellaError::Role(
            "un assistente sociale prende in carico solo per sé: l'assegnazione ad altri spetta al responsabile",
        ));
    }
    let ok = accounts::get(store, user)
        .map_err(|e| CartellaError::Conflict(e.to_string()))?
        .is_some_and(|a| a.role == OperatorRole::AssistenteSociale && !a.disabled);
    if ok {
        Ok(())
    } else {
        Err(CartellaError::field(
            "operatore",
            "Nessun assistente sociale attivo con questo nome utente.",
        ))
    }
}

impl Desk<'_> {
    /// A case written in the app, by id: its person and the case.
    pub fn case(&self, id: &str) -> Result<(Person, [u8; APP_ID_LEN], Caso), CartellaError> {
        let missing = || CartellaError::NotFound("caso inesistente");
        let id = super::parse_id(id).ok_or_else(missing)?;
        let rec = super::app_record(self.store, &id)?
            .filter(|r| r.kind == AppKind::Caso)
            .ok_or_else(missing)?;
        let caso = self
            .store
            .get::<Caso>(Kind::Caso, &cf_key(&rec.cf, &id))?
            .ok_or_else(missing)?;
        let person = self
            .store
            .get::<Person>(Kind::Person, rec.cf.as_bytes())?
            .ok_or_else(missing)?;
        Ok((person, id, caso))
    }

    /// Applies a step of a case; the person's id.
    pub fn step(
        &self,
        op: &Operator,
        case_id: &str,
        step: Step,
        fields: &BTreeMap<String, String>,
    ) -> Result<String, CartellaError> {
        let prepared = self.prepare_step(op, case_id, step, fields)?;
        self.apply_step(op, prepared)
    }

    /// Applies a prepared step: written only if the case is still as it was read
    /// (otherwise [`StoreError::Changed`](crate::store::StoreError::Changed), nothing written);
    /// the person's id.
    pub fn apply_step(&self, op: &Operator, p: PreparedStep) -> Result<String, CartellaError> {
        self.commit(op, p.tx, vec![p.person.clone()], p.detail)?;
        Ok(p.person)
    }

    /// Checks and computes a step of a case from the case as it is now, writing nothing (the
    /// first half of [`Desk::step`]).
    pub fn prepare_step(
        &self,
        op: &Operator,
        case_id: &str,
        step: Step,
        fields: &BTreeMap<String, String>,
    ) -> Result<PreparedStep, CartellaError> {
        use OperatorRole as R;
        let manager_only = matches!(step, Step::Assegnazione | Step::Chiusura);
        let allowed = match op.role {
            R::Responsabile => step != Step::Presa,
            R::AssistenteSociale => !manager_only,
            _ => false,
        };
        if !allowed {
            return Err(CartellaError::Role(match step {
                Step::Assegnazione => "assegnare i casi spetta al responsabile del servizio",
                Step::Chiusura => "chiudere i casi spetta al responsabile del servizio",
                Step::Presa => "prende in carico un assistente sociale (il responsabile assegna)",
                _ => "il ruolo non consente di aggiornare i casi",
            }));
        }
        only(fields, step.columns())?;
        let (person, id, mut caso) = self.case(case_id)?;
        let as_read = caso.clone();
        let today = self.today();
        let mine = caso.assegnatario.as_deref() == Some(op.user.as_str());
        if op.role == R::AssistenteSociale && step != Step::Presa && !mine {
            let pid = self.ids.id_hex(&person.cf);
            self.note(
                op,
                crate::audit::Action::AccessoNegato,
                vec![pid],
                "caso di altro operatore",
            )?;
            return Err(CartellaError::Denied);
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let data = parse_date(fields, "data", Some(today), &mut errors);
        match step {
            Step::Appuntamento if data.is_some_and(|d| d < today) => {
                errors.push(FieldError::new(
                    "data",
                    "Un appuntamento si fissa da oggi in poi.",
                ));
            }
            Step::Appuntamento => {}
            _ if data.is_some_and(|d| d > today) => {
                errors.push(FieldError::new("data", "La data è nel futuro."));
            }
            _ => {}
        }
        let conflict = |m: &str| Err(CartellaError::Conflict(m.to_owned()));
        match (step, caso.stato) {
            (_, StatoCaso::Chiuso) => return conflict("il caso è chiuso"),
            (Step::Presa, StatoCaso::InCarico) => {
                return conflict("il caso è già in carico a un operatore")
            }
            (
                Step::Valutazione | Step::Progetto | Step::Monitoraggio | Step::Appuntamento,
                StatoCaso::Richiesta,
            ) => return conflict("il caso non è ancora stato preso in carico"),
            _ => {}
        }
        let who = op.user.clone();
        match step {
            Step::Assegnazione | Step::Presa => {
                let holder = match step {
                    Step::Presa => op.user.clone(),
                    _ => fields
                        .get("operatore")
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default(),
                };
                if errors.is_empty() {
                    check_assignee(self.store, op, &holder)?;
                }
                if caso.stato == StatoCaso::Richiesta {
                    caso.inizio = data;
                    caso.stato = StatoCaso::InCarico;
                }
                caso.assegnatario = Some(holder);
            }
            Step::Valutazione => {
                let testo = text(fields, "testo", true, &mut errors);
                if let Some(data) = data {
                    caso.valutazione = Some(Nota {
                        data,
                        testo,
                        autore: who,
                    });
                }
            }
            Step::Progetto => {
                let obiettivi = text(fields, "obiettivi", true, &mut errors);
                let rev = parse_date(fields, "data_revisione", None, &mut errors);
                if let (Some(d), Some(r)) = (data, rev) {
                    if r < d {
                        errors.push(FieldError::new(
                            "data_revisione",
                            "La revisione non può precedere la data del progetto.",
                        ));
                    }
                    caso.progetto = Some(Progetto {
                        data: d,
                        obiettivi,
                        revisione: r,
                        autore: who,
                    });
                }
            }
            Step::Monitoraggio => {
                let note = text(fields, "note", true, &mut errors);
                let next = match fields.get("prossima_revisione").map(|s| s.trim()) {
                    None | Some("") => None,
                    Some(_) => parse_date(fields, "prossima_revisione", None, &mut errors),
                };
                if let (Some(d), Some(n)) = (data, next) {
                    if n < d {
                        errors.push(FieldError::new(
                            "prossima_revisione",
                            "La prossima revisione non può precedere la data del monitoraggio.",
                        ));
                    }
                }
                if let Some(d) = data {
                    caso.monitoraggi.push(Monitoraggio {
                        nota: Nota {
                            data: d,
                            testo: note,
                            autore: who,
                        },
                        prossima_revisione: next,
                    });
                }
            }
            Step::Appuntamento => {
                let ora = time_of_day(fields, "ora", &mut errors);
                let luogo = place(fields, "luogo", &mut errors);
                let note = text(fields, "note", false, &mut errors);
                if let Some(data) = data {
                    caso.appuntamenti.push(Appuntamento {
                        data,
                        ora,
                        luogo,
                        note,
                        autore: who,
                    });
                }
            }
            Step::Chiusura => {
                let motivo = MotivoChiusura::parse(fields.get("motivo").map_or("", |s| s.as_str()));
                if motivo.is_none() {
                    errors.push(FieldError::new(
                        "motivo",
                        format!(
                            "Indicare il motivo della chiusura: {}.",
                            MotivoChiusura::ALL.map(MotivoChiusura::code).join(", ")
                        ),
                    ));
                }
                let note = text(fields, "note", false, &mut errors);
                if let (Some(d), Some(i)) = (data, caso.inizio) {
                    if d < i {
                        errors.push(FieldError::new(
                            "data",
                            "La chiusura non può precedere la presa in carico.",
                        ));
                    }
                }
                if let (Some(data), Some(motivo)) = (data, motivo) {
                    caso.chiusura = Some(Chiusura {
                        data,
                        motivo,
                        note,
                        autore: who,
                    });
                    caso.stato = StatoCaso::Chiuso;
                }
            }
        }
        if !errors.is_empty() {
            return Err(CartellaError::Invalid(errors));
        }
        let key = cf_key(&person.cf, &id);
        let mut tx = Tx::default();
        // Another operator's step in between (two workers taking the same request): 409.
        tx.expect(Kind::Caso, &key, Some(&as_read))?;
        tx.put(Kind::Caso, &key, &caso)?;
        if let (Some(inizio), Some(holder)) = (caso.inizio, &caso.assegnatario) {
            let presa = PresaInCarico {
                inizio,
                fine: caso.chiusura.as_ref().map(|c| c.data),
                operatore: holder.clone(),
                area: caso.area,
            };
            if let Some(mut rec) = super::app_record(self.store, &id)? {
                rec.natural = Some(natural_key(&AppRow::Presa(person.clone(), presa.clone()))?);
                tx.put(Kind::AppRecord, &id, &rec)?;
            }
            tx.put(Kind::PresaInCarico, &key, &presa)?;
        }
        Ok(PreparedStep {
            tx,
            person: self.ids.id_hex(&person.cf),
            detail: format!("caso {}: {}", hex::encode(id), step.label()),
        })
    }

    /// Records what was done about the overlap notice of a household (its key, 64 hex
    /// digits): `esito` (compatibile, intervento_rivisto, segnalato_al_responsabile) and
    /// `note`; the ids of the household's members.
    pub fn follow_up(
        &self,
        op: &Operator,
        household_key: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, CartellaError> {
        if !matches!(
            op.role,
            OperatorRole::Responsabile | OperatorRole::AssistenteSociale
        ) {
            return Err(CartellaError::Role(
                "le segnalazioni si verificano dal responsabile o dall'assistente sociale del caso",
            ));
        }
        only(fields, &["esito", "note"])?;
        let missing = || CartellaError::NotFound("segnalazione inesistente");
        let key: [u8; 32] = hex::decode(household_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(missing)?;
        let notice = self
            .store
            .get::<StoredNotice>(Kind::Notice, &key)?
            .ok_or_else(missing)?;
        let members = members_of(self.store, &notice.household)?;
        let cases = super::cases_of(self.store, &members, self.today())?;
        let ids: Vec<String> = members.iter().map(|cf| self.ids.id_hex(cf)).collect();
        match super::level(op, &cases) {
            Ok(Livello::Completa) => {}
            Err(CartellaError::Denied) | Ok(_) => {
                self.note(
                    op,
                    crate::audit::Action::AccessoNegato,
                    ids,
                    "segnalazione di altro operatore",
                )?;
                return Err(CartellaError::Denied);
            }
            Err(e) => return Err(e),
        }
        let mut errors = Vec::new();
        let esito = EsitoVerifica::parse(fields.get("esito").map_or("", |s| s.as_str()));
        if esito.is_none() {
            errors.push(FieldError::new(
                "esito",
                format!(
                    "Esito sconosciuto. Valori ammessi: {}.",
                    EsitoVerifica::ALL.map(EsitoVerifica::code).join(", ")
                ),
            ));
        }
        let note = text(fields, "note", false, &mut errors);
        let Some(esito) = esito.filter(|_| errors.is_empty()) else {
            return Err(CartellaError::Invalid(errors));
        };
        let as_read: Option<Vec<Verifica>> = self.store.get(Kind::Verifica, &key)?;
        let mut list = as_read.clone().unwrap_or_default();
        list.push(Verifica {
            esito,
            note,
            autore: op.user.clone(),
            data: self.today(),
        });
        let mut tx = Tx::default();
        tx.expect(Kind::Verifica, &key, as_read.as_ref())?;
        tx.put(Kind::Verifica, &key, &list)?;
        self.commit(
            op,
            tx,
            ids.clone(),
            format!("verifica segnalazione: {}", esito.code()),
        )?;
        Ok(ids)
    }
}

/// The members of a local household id (`F:<family>` or `NR:<cf>`).
pub(crate) fn members_of(store: &Store, household: &str) -> Result<Vec<String>, CartellaError> {
    if let Some(fid) = household.strip_prefix("F:") {
        if let Some(f) = store.get::<Family>(Kind::Family, fid.as_bytes())? {
            return Ok(f.members);
        }
        return Ok(Vec::new());
    }
    Ok(household
        .strip_prefix("NR:")
        .map(|cf| vec![cf.to_owned()])
        .unwrap_or_default())
}
