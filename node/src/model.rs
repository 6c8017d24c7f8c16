//! What the node keeps about people and their support: registry facts imported from the
//! municipal systems and the social-service records. All of it is personal data and stays here.
//! Amounts are euro cents; shares are hundredths of a percent.

use serde::{Deserialize, Serialize};
use siso_shared::wire::OverlapNotice;
use siso_shared::{AreaBisogno, Sex, TipoIntervento};
use time::{Date, Month};

/// A person known to the node (from the anagrafe, or from a record about a non-resident).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Normalised codice fiscale.
    pub cf: String,
    /// Surname.
    pub cognome: String,
    /// Given name.
    pub nome: String,
    /// Sex.
    pub sesso: Sex,
    /// Birth date.
    pub data_nascita: Date,
    /// Birthplace code.
    pub luogo_nascita: String,
    /// Family id in the anagrafe (`None` for non-residents).
    pub famiglia: Option<String>,
    /// Relation to the family's reference person (free text; `IS` marks the reference person).
    pub rapporto: String,
    /// Address (resident persons).
    pub indirizzo: String,
    /// In the anagrafe of this Comune.
    pub resident: bool,
}

/// A family of the anagrafe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// Family id.
    pub id: String,
    /// Members' codici fiscali.
    pub members: Vec<String>,
    /// The reference person (`IS`, or the oldest member).
    pub reference: String,
}

/// Health and disability facts (anagrafe sanitaria).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanitaria {
    /// Civil invalidity, percent.
    pub invalidita: u8,
    /// Recognised under law 104/1992.
    pub legge_104: bool,
    /// Not self-sufficient.
    pub non_autosufficiente: bool,
}

/// Declared income of a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reddito {
    /// Tax year.
    pub anno: u16,
    /// Total income, cents.
    pub importo: i64,
}

/// A property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Immobile {
    /// Cadastral category (e.g. `A/2`).
    pub categoria: String,
    /// Cadastral rent, cents.
    pub rendita: i64,
    /// Share owned, hundredths of a percent (10000 = 100%).
    pub quota: u32,
    /// Main home.
    pub abitazione_principale: bool,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locazione {
    /// Role (tenant, landlord: free text, e.g. `conduttore`).
    pub ruolo: String,
    /// Yearly rent, cents.
    pub canone: i64,
    /// Start.
    pub inizio: Date,
    /// End.
    pub fine: Option<Date>,
    /// Rent arrears.
    pub morosita: bool,
}

/// A local tax position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tributo {
    /// Tax (e.g. `TARI`, `IMU`).
    pub tributo: String,
    /// Year.
    pub anno: u16,
    /// Due, cents.
    pub dovuto: i64,
    /// Paid, cents.
    pub versato: i64,
}

/// An access to a reception desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accesso {
    /// Day.
    pub data: Date,
    /// Area of need.
    pub area: AreaBisogno,
    /// Outcome (free text).
    pub esito: String,
}

/// A person taken in charge by a social worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresaInCarico {
    /// Start.
    pub inizio: Date,
    /// End.
    pub fine: Option<Date>,
    /// The social worker.
    pub operatore: String,
    /// Area of need.
    pub area: AreaBisogno,
}

/// An intervention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intervento {
    /// Kind.
    pub tipo: TipoIntervento,
    /// Area of need.
    pub area: AreaBisogno,
    /// Start.
    pub inizio: Date,
    /// End.
    pub fine: Option<Date>,
    /// Amount, cents (0 when not economic).
    pub importo: i64,
}

/// True if a period touches the year `epoch`.
pub fn in_epoch(start: Date, end: Option<Date>, epoch: u16) -> bool {
    let y = i32::from(epoch);
    start.year() <= y && end.is_none_or(|e| e.year() >= y)
}

/// Age in whole years on `day`.
pub fn age_on(born: Date, day: Date) -> u32 {
    let mut a = day.year() - born.year();
    if (day.month() as u8, day.day()) < (born.month() as u8, born.day()) {
        a -= 1;
    }
    a.max(0) as u32
}

/// The reference date of an epoch: 31 December, or `today` if earlier.
pub fn reference_date(epoch: u16, today: Date) -> Date {
    let end = Date::from_calendar_date(i32::from(epoch), Month::December, 31).unwrap_or(today);
    end.min(today)
}

/// An overlap notice from the hub as stored, with the local household it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotice {
    /// Local household id.
    pub household: String,
    /// The hub's notice.
    pub notice: OverlapNotice,
}

/// The kinds of records an operator writes in the web app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// An access ([`Accesso`], under `A`).
    Accesso,
    /// A case ([`Caso`] under `X`; once in charge also a [`PresaInCarico`] under `C`).
    Caso,
    /// An intervention ([`Intervento`], under `V`).
    Intervento,
    /// An activity of the diary ([`Attivita`], under `D`).
    Attivita,
}

/// Who wrote a record in the app, and where it lives (the `W` entry of every app record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// What it is.
    pub kind: AppKind,
    /// The person it is about (its key is `cf ‖ id`).
    pub cf: String,
    /// The operator's user name.
    pub author: String,
    /// Unix time of writing, seconds.
    pub created: i64,
    /// The natural key an import of the same kind would give this row (see `import`), so that a
    /// later import never duplicates it.
    pub natural: Option<[u8; 8]>,
}

/// Kinds of activity in a case's diary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TipoAttivita {
    /// An interview.
    Colloquio,
    /// A home visit.
    VisitaDomiciliare,
    /// A phone call.
    Telefonata,
    /// A team meeting.
    RiunioneEquipe,
    /// Anything else.
    Altro,
}

impl TipoAttivita {
    /// Every kind.
    pub const ALL: [TipoAttivita; 5] = [
        TipoAttivita::Colloquio,
        TipoAttivita::VisitaDomiciliare,
        TipoAttivita::Telefonata,
        TipoAttivita::RiunioneEquipe,
        TipoAttivita::Altro,
    ];

    /// The code (API, forms).
    pub fn code(self) -> &'static str {
        match self {
            TipoAttivita::Colloquio => "colloquio",
            TipoAttivita::VisitaDomiciliare => "visita_domiciliare",
            TipoAttivita::Telefonata => "telefonata",
            TipoAttivita::RiunioneEquipe => "riunione_equipe",
            TipoAttivita::Altro => "altro",
        }
    }

    /// The Italian label.
    pub fn label(self) -> &'static str {
        match self {
            TipoAttivita::Colloquio => "Colloquio",
            TipoAttivita::VisitaDomiciliare => "Visita domiciliare",
            TipoAttivita::Telefonata => "Telefonata",
            TipoAttivita::RiunioneEquipe => "Riunione d'équipe",
            TipoAttivita::Altro => "Altro",
        }
    }

    /// From its code.
    pub fn parse(s: &str) -> Option<TipoAttivita> {
        Self::ALL.into_iter().find(|t| t.code() == s.trim())
    }
}

/// An activity of the diary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attivita {
    /// Day.
    pub data: Date,
    /// Kind.
    pub tipo: TipoAttivita,
    /// Minutes.
    pub durata_minuti: u32,
    /// Notes.
    pub note: String,
    /// Time of day (`HH:MM`), if given.
    pub ora: Option<String>,
    /// Where (free text: "domicilio", "sede", …).
    pub luogo: String,
    /// The case it belongs to (app id, 32 hex digits), if given.
    pub caso: Option<String>,
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatoCaso {
    /// Asked for at the desk; nobody holds it yet.
    Richiesta,
    /// Held by a social worker.
    InCarico,
    /// Closed.
    Chiuso,
}

/// A dated text by an operator (assessment of need, monitoring note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nota {
    /// Day.
    pub data: Date,
    /// Text.
    pub testo: String,
    /// The operator.
    pub autore: String,
}

/// The personalised plan (*progetto personalizzato*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progetto {
    /// Day it was agreed.
    pub data: Date,
    /// Goals.
    pub obiettivi: String,
    /// When it is to be reviewed.
    pub revisione: Date,
    /// The operator.
    pub autore: String,
}

/// A monitoring entry: what was seen, and the next review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitoraggio {
    /// The note.
    pub nota: Nota,
    /// Next review.
    pub prossima_revisione: Option<Date>,
}

/// Why a case was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MotivoChiusura {
    /// Goals reached.
    ObiettiviRaggiunti,
    /// Moved to another service or Comune.
    Trasferimento,
    /// The person withdrew.
    Rinuncia,
    /// Death.
    Decesso,
    /// Other (see the note).
    Altro,
}

impl MotivoChiusura {
    /// Every reason.
    pub const ALL: [MotivoChiusura; 5] = [
        MotivoChiusura::ObiettiviRaggiunti,
        MotivoChiusura::Trasferimento,
        MotivoChiusura::Rinuncia,
        MotivoChiusura::Decesso,
        MotivoChiusura::Altro,
    ];

    /// The code (API, forms).
    pub fn code(self) -> &'static str {
        match self {
            MotivoChiusura::ObiettiviRaggiunti => "obiettivi_raggiunti",
            MotivoChiusura::Trasferimento => "trasferimento",
            MotivoChiusura::Rinuncia => "rinuncia",
            MotivoChiusura::Decesso => "decesso",
            MotivoChiusura::Altro => "altro",
        }
    }

    /// The Italian label.
    pub fn label(self) -> &'static str {
        match self {
            MotivoChiusura::ObiettiviRaggiunti => "Obiettivi raggiunti",
            MotivoChiusura::Trasferimento => "Trasferimento ad altro servizio o Comune",
            MotivoChiusura::Rinuncia => "Rinuncia della persona",
            MotivoChiusura::Decesso => "Decesso",
            MotivoChiusura::Altro => "Altro motivo",
        }
    }

    /// From its code.
    pub fn parse(s: &str) -> Option<MotivoChiusura> {
        Self::ALL.into_iter().find(|t| t.code() == s.trim())
    }
}

/// A closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chiusura {
    /// Day.
    pub data: Date,
    /// Reason.
    pub motivo: MotivoChiusura,
    /// Note.
    pub note: String,
    /// The operator.
    pub autore: String,
}

/// A case of the *cartella sociale*, from the desk's request to its closure. While in charge
/// (and after) the node also holds a [`PresaInCarico`] under the same key, which the assessment,
/// the aggregates and the sync read like an imported one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caso {
    /// Area of need.
    pub area: AreaBisogno,
    /// Where it stands.
    pub stato: StatoCaso,
    /// The day it was asked for (at the desk), if it was.
    pub richiesta: Option<Date>,
    /// The social worker holding it.
    pub assegnatario: Option<String>,
    /// The day it was taken in charge.
    pub inizio: Option<Date>,
    /// Assessment of need.
    pub valutazione: Option<Nota>,
    /// The personalised plan.
    pub progetto: Option<Progetto>,
    /// Monitoring, oldest first.
    pub monitoraggi: Vec<Monitoraggio>,
    /// The closure.
    pub chiusura: Option<Chiusura>,
    /// Appointments, in the order they were made.
    pub appuntamenti: Vec<Appuntamento>,
}

/// An appointment with the person (an interview, a home visit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appuntamento {
    /// Day.
    pub data: Date,
    /// Time (`HH:MM`), if fixed.
    pub ora: Option<String>,
    /// Where.
    pub luogo: String,
    /// Notes.
    pub note: String,
    /// Who made it.
    pub autore: String,
}

impl Caso {
    /// The next review: the latest monitoring's, else the plan's.
    pub fn prossima_revisione(&self) -> Option<Date> {
        self.monitoraggi
            .iter()
            .rev()
            .find_map(|m| m.prossima_revisione)
            .or_else(|| self.progetto.as_ref().map(|p| p.revisione))
    }

    /// The first appointment on or after `day`.
    pub fn prossimo_appuntamento(&self, day: Date) -> Option<&Appuntamento> {
        self.appuntamenti
            .iter()
            .filter(|a| a.data >= day)
            .min_by(|a, b| (a.data, &a.ora).cmp(&(b.data, &b.ora)))
    }

    /// Open (asked for or in charge).
    pub fn aperto(&self) -> bool {
        self.stato != StatoCaso::Chiuso
    }
}

/// What an operator did about an overlap notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EsitoVerifica {
    /// Checked: the two supports are compatible.
    Compatibile,
    /// The intervention was revised.
    InterventoRivisto,
    /// Reported to the manager.
    SegnalatoAlResponsabile,
}

impl EsitoVerifica {
    /// Every outcome.
    pub const ALL: [EsitoVerifica; 3] = [
        EsitoVerifica::Compatibile,
        EsitoVerifica::InterventoRivisto,
        EsitoVerifica::SegnalatoAlResponsabile,
    ];

    /// The code (API, forms).
    pub fn code(self) -> &'static str {
        match self {
            EsitoVerifica::Compatibile => "compatibile",
            EsitoVerifica::InterventoRivisto => "intervento_rivisto",
            EsitoVerifica::SegnalatoAlResponsabile => "segnalato_al_responsabile",
        }
    }

    /// The Italian label.
    pub fn label(self) -> &'static str {
        match self {
            EsitoVerifica::Compatibile => "Verificato: interventi compatibili",
            EsitoVerifica::InterventoRivisto => "Verificato: intervento rivisto",
            EsitoVerifica::SegnalatoAlResponsabile => "Segnalato al responsabile",
        }
    }

    /// From its code.
    pub fn parse(s: &str) -> Option<EsitoVerifica> {
        Self::ALL.into_iter().find(|t| t.code() == s.trim())
    }

    /// Settles the notice (a report to the manager leaves it open).
    pub fn resolves(self) -> bool {
        self != EsitoVerifica::SegnalatoAlResponsabile
    }
}

/// The follow-up of an overlap notice (`G`, by household key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifica {
    /// Outcome.
    pub esito: EsitoVerifica,
    /// Note.
    pub note: String,
    /// The operator.
    pub autore: String,
    /// Day.
    pub data: Date,
}

/// An erased person's tombstone (`siso-node erase`): no codice fiscale, no name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTombstone {
    /// Unix time of the erasure, seconds.
    pub time: i64,
    /// Who erased (the administrator named on the command line).
    pub by: String,
    /// The hub has acknowledged a snapshot without the person's fingerprints.
    pub withdrawn: bool,
}
