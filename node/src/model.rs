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
