//! A person's card (*scheda*), as much as the operator's [`Livello`] allows: the household from
//! the anagrafe, the assessment of the household (indicator, eligibility and critical flags by
//! the rule that raised them), accesses, cases with their plan and reviews, interventions, the
//! activity diary, and the hub's overlap notices in plain words with their follow-up.
//!
//! **Invariant:** the desk's card ([`Livello::Essenziale`]) holds no income, property, health or
//! assessment data, and only the open cases with who holds them.

use serde::Serialize;
use time::Date;

use super::{CartellaError, CaseRow, Desk, Livello, Operator, Origine};
use crate::assess::{assess_household, HouseholdAssessment};
use crate::audit::Action;
use crate::model::*;
use crate::rules::Rules;
use crate::store::{Kind, Store, StoreError};

/// A member of the household.
#[derive(Debug, Clone, Serialize)]
pub struct Componente {
    /// Person id.
    pub id: String,
    /// Surname.
    pub cognome: String,
    /// Name.
    pub nome: String,
    /// Relation to the reference person.
    pub rapporto: String,
    /// Age today.
    pub eta: u32,
}

/// A case as the card shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CasoView {
    /// App id (absent for imported cases, which the app does not change).
    pub id: Option<String>,
    /// The person's id.
    pub persona: String,
    /// Area of need.
    pub area: String,
    /// `richiesta`, `in_carico`, `chiuso`.
    pub stato: &'static str,
    /// Who holds it.
    pub assegnatario: Option<String>,
    /// Asked for on.
    pub richiesta: Option<Date>,
    /// In charge since.
    pub inizio: Option<Date>,
    /// Next review.
    pub prossima_revisione: Option<Date>,
    /// The review date is past.
    pub revisione_scaduta: bool,
    /// The next appointment (today or later).
    pub prossimo_appuntamento: Option<Appuntamento>,
    /// Where it came from.
    #[serde(flatten)]
    pub origine: Origine,
    /// The whole case (full card only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dettaglio: Option<Caso>,
}

/// A record of the household (access, intervention, activity).
#[derive(Debug, Clone, Serialize)]
pub struct Voce<T> {
    /// The person's id.
    pub persona: String,
    /// The record.
    #[serde(flatten)]
    pub record: T,
    /// Where it came from.
    #[serde(flatten)]
    pub origine: Origine,
}

/// An overlap notice in words an operator understands, and what was done about it.
#[derive(Debug, Clone, Serialize)]
pub struct Segnalazione {
    /// The notice's key (for the follow-up).
    pub chiave: String,
    /// What the hub says, in plain Italian.
    pub testo: Vec<String>,
    /// Follow-ups, oldest first.
    pub verifiche: Vec<Verifica>,
    /// Settled by a follow-up.
    pub risolta: bool,
}

/// The card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// Person id.
    pub id: String,
    /// What the operator may see.
    pub livello: Livello,
    /// Codice fiscale.
    pub codice_fiscale: String,
    /// Surname.
    pub cognome: String,
    /// Name.
    pub nome: String,
    /// Birth date.
    pub data_nascita: Date,
    /// Age today.
    pub eta: u32,
    /// In this Comune's anagrafe.
    pub residente: bool,
    /// Address (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indirizzo: Option<String>,
    /// Anagrafe family id.
    pub id_famiglia: Option<String>,
    /// The household (not on third-sector nodes).
    pub famiglia: Vec<Componente>,
    /// Cases (the desk sees only open ones).
    pub casi: Vec<CasoView>,
    /// Accesses of the household.
    pub accessi: Vec<Voce<Accesso>>,
    /// Interventions of the household (full card, third sector).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interventi: Option<Vec<Voce<Intervento>>>,
    /// The activity diary (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attivita: Option<Vec<Voce<Attivita>>>,
    /// Incomes of the household's members by year, euro cents (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redditi: Option<Vec<(String, Reddito)>>,
    /// Health facts of the members (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitaria: Option<Vec<(String, Sanitaria)>>,
    /// The assessment of the household (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valutazione: Option<HouseholdAssessment>,
    /// The hub's overlap notices (full card).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segnalazioni: Option<Vec<Segnalazione>>,
}

/// The stato's code.
pub fn stato_code(s: StatoCaso) -> &'static str {
    match s {
        StatoCaso::Richiesta => "richiesta",
        StatoCaso::InCarico => "in_carico",
        StatoCaso::Chiuso => "chiuso",
    }
}

/// A case row as shown, with its review state on `today`.
pub fn case_view(d: &Desk<'_>, c: &CaseRow, full: bool, today: Date) -> CasoView {
    let next = c.caso.prossima_revisione();
    CasoView {
        id: c.id().map(str::to_owned),
        persona: d.ids.id_hex(&c.cf),
        area: c.caso.area.as_str().to_owned(),
        stato: stato_code(c.caso.stato),
        assegnatario: c.caso.assegnatario.clone(),
        richiesta: c.caso.richiesta,
        inizio: c.caso.inizio,
        prossima_revisione: next,
        revisione_scaduta: c.caso.aperto() && next.is_some_and(|n| n < today),
        prossimo_appuntamento: c
            .caso
            .aperto()
            .then(|| c.caso.prossimo_appuntamento(today).cloned())
            .flatten(),
        origine: c.origine.clone(),
        dettaglio: full.then(|| c.caso.clone()),
    }
}

fn records<T: serde::de::DeserializeOwned>(
    d: &Desk<'_>,
    kind: Kind,
    members: &[String],
) -> Result<Vec<Voce<T>>, StoreError> {
    let mut out = Vec::new();
    for cf in members {
        for (k, record) in d.store.scan::<T>(kind, cf.as_bytes())? {
            let (cf, suffix) = super::split_key(&k);
            out.push(Voce {
                persona: d.ids.id_hex(&cf),
                record,
                origine: super::origin_of(d.store, suffix)?,
            });
        }
    }
    Ok(out)
}

fn per_member<T: serde::de::DeserializeOwned>(
    d: &Desk<'_>,
    kind: Kind,
    members: &[String],
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    for cf in members {
        for (_, v) in d.store.scan(kind, cf.as_bytes())? {
            out.push((d.ids.id_hex(cf), v));
        }
    }
    Ok(out)
}

/// The words of a notice: never more than the protocol told the node.
pub fn notice_words(n: &siso_shared::wire::OverlapNotice) -> Vec<String> {
    let mut out = Vec::new();
    if n.double_economic_support {
        out.push(
            "Questo nucleo riceve un sostegno economico anche da un altro ente nello stesso periodo."
                .to_owned(),
        );
    }
    if n.others_count > 0 && !n.double_economic_support {
        out.push(format!(
            "Questo nucleo è seguito anche da {} altr{} ent{}.",
            n.others_count,
            if n.others_count == 1 { "o" } else { "i" },
            if n.others_count == 1 { "e" } else { "i" },
        ));
    }
    for o in &n.others {
        let kinds: Vec<&str> = o.kinds.iter().map(|k| k.as_str()).collect();
        out.push(format!(
            "{}: {}.",
            o.member,
            if kinds.is_empty() {
                "nessun intervento indicato".to_owned()
            } else {
                kinds.join(", ")
            }
        ));
    }
    if n.unsupported_need {
        out.push(
            "Il nucleo risulta in condizione di bisogno e nessun ente lo sostiene.".to_owned(),
        );
    }
    out
}

/// The overlap notices of a household, with their follow-up.
pub fn notices_of(store: &Store, household: &str) -> Result<Vec<Segnalazione>, StoreError> {
    let mut out = Vec::new();
    for (k, n) in store.scan::<StoredNotice>(Kind::Notice, b"")? {
        if n.household != household {
            continue;
        }
        let verifiche: Vec<Verifica> = store.get(Kind::Verifica, &k)?.unwrap_or_default();
        out.push(Segnalazione {
            chiave: hex::encode(&k),
            testo: notice_words(&n.notice),
            risolta: verifiche.last().is_some_and(|v| v.esito.resolves()),
            verifiche,
        });
    }
    Ok(out)
}

impl Desk<'_> {
    /// The card of `person` for `op`, recorded in the audit trail before it is returned (a
    /// refusal too).
    pub fn card(
        &self,
        op: &Operator,
        person: &Person,
        rules: &Rules,
    ) -> Result<Card, CartellaError> {
        let (hh, cases, lvl) = self.open(op, person)?;
        let today = self.today();
        let full = lvl == Livello::Completa;
        let mut famiglia = Vec::new();
        if lvl != Livello::Ets {
            for cf in &hh.members {
                if let Some(p) = self.store.get::<Person>(Kind::Person, cf.as_bytes())? {
                    famiglia.push(Componente {
                        id: self.ids.id_hex(cf),
                        eta: age_on(p.data_nascita, today),
                        cognome: p.cognome,
                        nome: p.nome,
                        rapporto: p.rapporto,
                    });
                }
            }
        }
        let casi = cases
            .iter()
            .filter(|c| full || (lvl == Livello::Essenziale && c.caso.aperto()))
            .map(|c| case_view(self, c, full, today))
            .collect();
        let members = &hh.members;
        let card = Card {
            id: self.ids.id_hex(&person.cf),
            livello: lvl,
            codice_fiscale: person.cf.clone(),
            cognome: person.cognome.clone(),
            nome: person.nome.clone(),
            data_nascita: person.data_nascita,
            eta: age_on(person.data_nascita, today),
            residente: person.resident,
            indirizzo: full.then(|| person.indirizzo.clone()),
            id_famiglia: person.famiglia.clone(),
            famiglia,
            casi,
            accessi: records(self, Kind::Accesso, members)?,
            interventi: (full || lvl == Livello::Ets)
                .then(|| records(self, Kind::Intervento, members))
                .transpose()?,
            attivita: full
                .then(|| records(self, Kind::Attivita, members))
                .transpose()?,
            redditi: full
                .then(|| per_member(self, Kind::Reddito, members))
                .transpose()?,
            sanitaria: full
                .then(|| per_member(self, Kind::Sanitaria, members))
                .transpose()?,
            valutazione: full
                .then(|| assess_household(self.store, rules, today.year() as u16, today, &hh))
                .transpose()?,
            segnalazioni: full.then(|| notices_of(self.store, &hh.id)).transpose()?,
        };
        let ids: Vec<String> = std::iter::once(card.id.clone())
            .chain(
                card.famiglia
                    .iter()
                    .map(|c| c.id.clone())
                    .filter(|i| *i != card.id),
            )
            .collect();
        let detail = match lvl {
            Livello::Completa => "scheda completa",
            Livello::Essenziale => "scheda essenziale",
            Livello::Ets => "scheda terzo settore",
        };
        self.note(op, Action::LetturaScheda, ids, detail)?;
        Ok(card)
    }
}
