//! The monthly report (*rendicontazione*) of the service: per operator, per area of need and in
//! total — activities by type with their minutes, accessi by esito, cases opened and closed,
//! interventions started by type with their amounts. Records written in the app count for
//! their author; imported ones for `importazione` (imported prese in carico for their
//! `operatore`). Counts and sums only; reading it is recorded in the audit trail.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::{Date, Month};

use super::{CartellaError, Desk, Operator};
use crate::accounts::OperatorRole;
use crate::audit::Action;
use crate::model::*;
use crate::store::{Kind, APP_ID_LEN};

/// Who an imported record counts for.
pub const IMPORTED: &str = "importazione";

/// An activity's area when it names no case.
pub const NO_AREA: &str = "non_indicata";

/// A count with minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tempo {
    /// How many.
    pub numero: u64,
    /// Minutes in all.
    pub minuti: u64,
}

/// A count with an amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Spesa {
    /// How many.
    pub numero: u64,
    /// Euro cents in all.
    pub importo: i64,
}

/// The figures of one operator, one area or the whole service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Voci {
    /// Activities by type.
    pub attivita: BTreeMap<String, Tempo>,
    /// Accessi by esito (as written, trimmed and in lower case).
    pub accessi: BTreeMap<String, u64>,
    /// Cases taken in charge in the month.
    pub casi_aperti: u64,
    /// Cases closed in the month.
    pub casi_chiusi: u64,
    /// Interventions started in the month, by type.
    pub interventi: BTreeMap<String, Spesa>,
}

impl Voci {
    /// Minutes of activity in all.
    pub fn minuti(&self) -> u64 {
        self.attivita.values().map(|t| t.minuti).sum()
    }
}

/// The report of a month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendiconto {
    /// `YYYY-MM`.
    pub mese: String,
    /// Per operator (user name, or `importazione`).
    pub per_operatore: BTreeMap<String, Voci>,
    /// Per area of need (or `non_indicata` for activities without a case).
    pub per_area: BTreeMap<String, Voci>,
    /// The whole service.
    pub totale: Voci,
}

/// `YYYY-MM` as (first day, last day).
pub fn month_of(s: &str) -> Option<(Date, Date)> {
    let (y, m) = s.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let y: i32 = y.parse().ok()?;
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let first = Date::from_calendar_date(y, month, 1).ok()?;
    let last = Date::from_calendar_date(y, month, month.length(y)).ok()?;
    Some((first, last))
}

impl Rendiconto {
    fn add(&mut self, who: &str, area: &str, f: impl Fn(&mut Voci)) {
        f(self.per_operatore.entry(who.to_owned()).or_default());
        f(self.per_area.entry(area.to_owned()).or_default());
        f(&mut self.totale);
    }
}

impl Desk<'_> {
    /// The report of month `mese` (`YYYY-MM`) for a `responsabile` (or, on a third-sector node,
    /// its operator).
    pub fn rendiconto(&self, op: &Operator, mese: &str) -> Result<Rendiconto, CartellaError> {
        if !matches!(
            op.role,
            OperatorRole::Responsabile | OperatorRole::OperatoreEts
        ) {
            return Err(CartellaError::Role(
                "il rendiconto mensile spetta al responsabile del servizio",
            ));
        }
        let (first, last) = month_of(mese).ok_or_else(|| {
            CartellaError::field(
                "mese",
                "Mese non valido: scrivere AAAA-MM, ad esempio 2026-11.",
            )
        })?;
        let within = |d: Date| d >= first && d <= last;
        let store = self.store;
        let mut authors: HashMap<Vec<u8>, String> = HashMap::new();
        store.for_each::<AppRecord>(Kind::AppRecord, b"", |k, r| {
            authors.insert(k.to_vec(), r.author);
        })?;
        let who = |suffix: &[u8]| -> String {
            if suffix.len() == APP_ID_LEN {
                authors.get(suffix).cloned().unwrap_or_default()
            } else {
                IMPORTED.to_owned()
            }
        };
        let mut case_area: HashMap<String, String> = HashMap::new();
        let mut out = Rendiconto {
            mese: format!("{:04}-{:02}", first.year(), first.month() as u8),
            ..Rendiconto::default()
        };
        store.for_each::<Caso>(Kind::Caso, b"", |k, c| {
            let (_, suffix) = super::split_key(k);
            case_area.insert(hex::encode(suffix), c.area.as_str().to_owned());
            let holder = c.assegnatario.clone().unwrap_or_default();
            if c.inizio.is_some_and(within) {
                out.add(&holder, c.area.as_str(), |v| v.casi_aperti += 1);
            }
            if c.chiusura.as_ref().is_some_and(|x| within(x.data)) {
                out.add(&holder, c.area.as_str(), |v| v.casi_chiusi += 1);
            }
        })?;
        store.for_each::<PresaInCarico>(Kind::PresaInCarico, b"", |k, p| {
            let (_, suffix) = super::split_key(k);
            if suffix.len() == APP_ID_LEN {
                return; // an app case, counted above
            }
            if within(p.inizio) {
                out.add(&p.operatore, p.area.as_str(), |v| v.casi_aperti += 1);
            }
            if p.fine.is_some_and(within) {
                out.add(&p.operatore, p.area.as_str(), |v| v.casi_chiusi += 1);
            }
        })?;
        store.for_each::<Accesso>(Kind::Accesso, b"", |k, a| {
            if within(a.data) {
                let (_, suffix) = super::split_key(k);
                let esito = a.esito.trim().to_lowercase();
                out.add(&who(suffix), a.area.as_str(), |v| {
                    *v.accessi.entry(esito.clone()).or_default() += 1
                });
            }
        })?;
        store.for_each::<Intervento>(Kind::Intervento, b"", |k, i| {
            if within(i.inizio) {
                let (_, suffix) = super::split_key(k);
                out.add(&who(suffix), i.area.as_str(), |v| {
                    let e = v.interventi.entry(i.tipo.as_str().to_owned()).or_default();
                    e.numero += 1;
                    e.importo += i.importo;
                });
            }
        })?;
        store.for_each::<Attivita>(Kind::Attivita, b"", |k, a| {
            if within(a.data) {
                let (_, suffix) = super::split_key(k);
                let area = a
                    .caso
                    .as_ref()
                    .and_then(|c| case_area.get(c))
                    .cloned()
                    .unwrap_or_else(|| NO_AREA.to_owned());
                out.add(&who(suffix), &area, |v| {
                    let e = v.attivita.entry(a.tipo.code().to_owned()).or_default();
                    e.numero += 1;
                    e.minuti += u64::from(a.durata_minuti);
                });
            }
        })?;
        self.note(
            op,
            Action::LetturaCarico,
            Vec::new(),
            format!("rendiconto {}", out.mese),
        )?;
        Ok(out)
    }
}

/// An amount in cents with a decimal comma (`1234,50`).
fn euro(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!(
        "{sign}{},{:02}",
        cents.unsigned_abs() / 100,
        cents.unsigned_abs() % 100
    )
}

/// Hours with a decimal comma and two decimals (`1,25`).
fn hours(minutes: u64) -> String {
    let hundredths = (minutes * 100 + 30) / 60;
    format!("{},{:02}", hundredths / 100, hundredths % 100)
}

/// The report as an Italian CSV: UTF-8 with a byte-order mark, `;`, decimal comma; one row per
/// figure: `sezione;chiave;voce;dettaglio;numero;minuti;ore;importo_euro`.
pub fn to_csv(r: &Rendiconto) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record([
        "mese",
        "sezione",
        "chiave",
        "voce",
        "dettaglio",
        "numero",
        "minuti",
        "ore",
        "importo_euro",
    ])?;
    let section = |w: &mut csv::Writer<Vec<u8>>, name: &str, key: &str, v: &Voci| {
        let mut rows: Vec<[String; 9]> = Vec::new();
        let row = |voce: &str, det: &str, n: u64, min: Option<u64>, eur: Option<i64>| {
            [
                r.mese.clone(),
                name.to_owned(),
                key.to_owned(),
                voce.to_owned(),
                det.to_owned(),
                n.to_string(),
                min.map(|m| m.to_string()).unwrap_or_default(),
                min.map(hours).unwrap_or_default(),
                eur.map(euro).unwrap_or_default(),
            ]
        };
        for (t, x) in &v.attivita {
            rows.push(row("attivita", t, x.numero, Some(x.minuti), None));
        }
        for (e, n) in &v.accessi {
            rows.push(row("accessi", e, *n, None, None));
        }
        rows.push(row("casi_aperti", "", v.casi_aperti, None, None));
        rows.push(row("casi_chiusi", "", v.casi_chiusi, None, None));
        for (t, x) in &v.interventi {
            rows.push(row("interventi", t, x.numero, None, Some(x.importo)));
        }
        for r in rows {
            w.write_record(&r)?;
        }
        Ok::<(), csv::Error>(())
    };
    for (k, v) in &r.per_operatore {
        section(&mut w, "operatore", k, v)?;
    }
    for (k, v) in &r.per_area {
        section(&mut w, "area", k, v)?;
    }
    section(&mut w, "totale", "", &r.totale)?;
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_hours_and_euros() {
        assert_eq!(
            month_of("2026-02").map(|(a, b)| (a.to_string(), b.to_string())),
            Some(("2026-02-01".into(), "2026-02-28".into()))
        );
        assert!(
            month_of("2026-13").is_none() && month_of("26-01").is_none() && month_of("").is_none()
        );
        assert_eq!(hours(65), "1,08");
        assert_eq!(hours(90), "1,50");
        assert_eq!(euro(30_000), "300,00");
        assert_eq!(euro(-5), "-0,05");
    }
}
