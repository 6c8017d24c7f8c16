//! Validation per kind: a CSV row's fields, by canonical column name, into a typed [`Row`] —
//! codici fiscali, dates, amounts, percentages, vocabulary codes — with every error of the row
//! collected as (column, reason), so that one pass reports them all.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use siso_shared::{AreaBisogno, CodiceFiscale, Sex, TipoIntervento};
use time::Date;

use super::{ImportKind, Profile};
use crate::model::*;

/// A parsed row.
#[derive(Debug, Clone)]
pub(crate) enum Row {
    Anagrafe(Person),
    Sanitaria(String, Sanitaria),
    Reddito(String, Reddito),
    Immobile(String, Immobile),
    Locazione(String, Locazione),
    Tributo(String, Tributo),
    Accesso(Person, Accesso),
    Presa(Person, PresaInCarico),
    Intervento(Person, Intervento),
}

impl Row {
    /// The codice fiscale the row is about.
    pub(crate) fn cf(&self) -> &str {
        match self {
            Row::Anagrafe(p) | Row::Accesso(p, _) | Row::Presa(p, _) | Row::Intervento(p, _) => {
                &p.cf
            }
            Row::Sanitaria(cf, _)
            | Row::Reddito(cf, _)
            | Row::Immobile(cf, _)
            | Row::Locazione(cf, _)
            | Row::Tributo(cf, _) => cf,
        }
    }
}

/// The fields of one row, and the errors found in them so far.
pub(crate) struct Fields<'a> {
    /// Canonical column name → position.
    pub(super) cols: &'a HashMap<String, usize>,
    /// The row's values.
    pub(super) values: Vec<String>,
    /// The file's profile (date and number formats).
    pub(super) profile: &'a Profile,
    /// Reference date for codice fiscale centuries.
    pub(super) reference: Date,
    /// (column, reason) of every error found.
    pub(super) errors: Vec<(String, String)>,
}

/// A date as the files and the app write it: `YYYY-MM-DD` or `DD/MM/YYYY`.
pub fn parse_date_str(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        (y, m, d)
    } else {
        let mut it = s.splitn(3, '-');
        (it.next()?, it.next()?, it.next()?)
    };
    if y.len() != 4 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// Parses an amount into cents: `1234.56`, `1234,56`, and with `decimal_comma` `1.234,56`.
pub fn parse_cents(s: &str, decimal_comma: bool) -> Option<i64> {
    let t = s.trim().replace([' ', '€'], "");
    if t.is_empty() {
        return None;
    }
    let normal = if decimal_comma {
        t.replace('.', "").replace(',', ".")
    } else if t.contains(',') && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t.replace(',', "")
    };
    let (neg, body) = match normal.strip_prefix('-') {
        Some(b) => (true, b.to_owned()),
        None => (false, normal),
    };
    let (int, frac) = body.split_once('.').unwrap_or((&body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
    {
        return None;
    }
    let i: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let v = i.checked_mul(100)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

impl Fields<'_> {
    fn raw(&self, col: &str) -> Option<&str> {
        self.cols
            .get(col)
            .and_then(|&i| self.values.get(i))
            .map(|s| s.trim())
    }

    fn err(&mut self, col: &str, reason: impl Into<String>) {
        self.errors.push((col.to_owned(), reason.into()));
    }

    fn text(&mut self, col: &str) -> String {
        self.raw(col).unwrap_or("").to_owned()
    }

    fn required_text(&mut self, col: &str) -> Option<String> {
        match self.raw(col) {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                self.err(col, "empty");
                None
            }
        }
    }

    fn cf(&mut self, col: &str) -> Option<CodiceFiscale> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match CodiceFiscale::parse(&raw, self.reference) {
            Ok(cf) => Some(cf),
            Err(e) => {
                self.err(col, e.to_string());
                None
            }
        }
    }

    fn date(&mut self, col: &str) -> Option<Date> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let d = parse_date_str(&raw);
        if d.is_none() {
            self.err(
                col,
                format!("{raw:?} is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
            );
        }
        d
    }

    fn opt_date(&mut self, col: &str) -> Option<Option<Date>> {
        match self.raw(col) {
            None | Some("") => Some(None),
            Some(_) => self.date(col).map(Some),
        }
    }

    fn cents(&mut self, col: &str) -> Option<i64> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let v = parse_cents(&raw, self.profile.decimal_comma);
        if v.is_none() {
            self.err(col, format!("{raw:?} is not an amount"));
        }
        v
    }

    fn boolean(&mut self, col: &str) -> Option<bool> {
        match self.raw(col).map(str::to_ascii_uppercase).as_deref() {
            Some("S") | Some("SI") | Some("SÌ") => Some(true),
            Some("N") | Some("NO") => Some(false),
            other => {
                let shown = other.unwrap_or("").to_owned();
                self.err(col, format!("{shown:?} is not S or N"));
                None
            }
        }
    }

    fn year(&mut self, col: &str) -> Option<u16> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match raw.parse::<u16>() {
            Ok(y) if (1900..=2199).contains(&y) => Some(y),
            _ => {
                self.err(col, format!("{raw:?} is not a year"));
                None
            }
        }
    }

    fn vocab<T: FromStr>(&mut self, col: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(col, e.to_string());
                None
            }
        }
    }

    fn percent(&mut self, col: &str) -> Option<u32> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match parse_cents(&raw, self.profile.decimal_comma) {
            Some(v) if (0..=10_000).contains(&v) => Some(v as u32),
            _ => {
                self.err(
                    col,
                    format!("{raw:?} is not a percentage between 0 and 100"),
                );
                None
            }
        }
    }

    /// Checks that the code's encoded sex and birth date agree with the row's.
    fn check_demographics(&mut self, cf: &CodiceFiscale, sex: Option<Sex>, born: Option<Date>) {
        if let Some(s) = sex {
            if s != cf.sex() {
                self.err(
                    "codice_fiscale",
                    format!(
                        "encodes sex {} but sesso is {}",
                        cf.sex().as_str(),
                        s.as_str()
                    ),
                );
            }
        }
        if let Some(d) = born {
            let c = cf.birth_date();
            if (d.year().rem_euclid(100), d.month(), d.day())
                != (c.year().rem_euclid(100), c.month(), c.day())
            {
                self.err(
                    "codice_fiscale",
                    format!("encodes birth date {c} but data_nascita is {d}"),
                );
            }
        }
    }

    fn sex(&mut self, col: &str) -> Option<Sex> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let s = Sex::parse(&raw);
        if s.is_none() {
            self.err(col, format!("{raw:?} is not M or F"));
        }
        s
    }

    /// A person named by a record (access, case, intervention): from the code, or for
    /// interventions without a code, computed from the demographic columns.
    fn subject(&mut self, allow_compute: bool) -> Option<Person> {
        let code = self.raw("codice_fiscale").unwrap_or("").to_owned();
        let has_demo = allow_compute
            && [
                "cognome",
                "nome",
                "sesso",
                "data_nascita",
                "codice_catastale_nascita",
            ]
            .iter()
            .all(|c| self.raw(c).is_some_and(|v| !v.is_empty()));
        if code.is_empty() && allow_compute {
            if !has_demo {
                self.err(
                    "codice_fiscale",
                    "empty, and cognome, nome, sesso, data_nascita, codice_catastale_nascita are not all given to compute it",
                );
                return None;
            }
            let (sn, gn) = (self.text("cognome"), self.text("nome"));
            let (sex, born) = (self.sex("sesso")?, self.date("data_nascita")?);
            let place = self.text("codice_catastale_nascita");
            return match CodiceFiscale::compute(&sn, &gn, sex, born, &place) {
                Ok(cf) => Some(Person {
                    cf: cf.as_str().to_owned(),
                    cognome: sn,
                    nome: gn,
                    sesso: sex,
                    data_nascita: born,
                    luogo_nascita: place.to_ascii_uppercase(),
                    famiglia: None,
                    rapporto: String::new(),
                    indirizzo: String::new(),
                    resident: false,
                }),
                Err(e) => {
                    self.err("codice_fiscale", format!("cannot be computed: {e}"));
                    None
                }
            };
        }
        let cf = self.cf("codice_fiscale")?;
        let (mut cognome, mut nome) = (String::new(), String::new());
        if has_demo {
            let sex = self.sex("sesso");
            let born = self.date("data_nascita");
            self.check_demographics(&cf, sex, born);
        }
        // Names, when given, name a person the anagrafe does not know (the web app asks for
        // them at the desk).
        if ["cognome", "nome"]
            .iter()
            .all(|c| self.raw(c).is_some_and(|v| !v.is_empty()))
        {
            cognome = self.text("cognome");
            nome = self.text("nome");
        }
        Some(Person {
            cf: cf.as_str().to_owned(),
            cognome,
            nome,
            sesso: cf.sex(),
            data_nascita: cf.birth_date(),
            luogo_nascita: cf.birthplace_code(),
            famiglia: None,
            rapporto: String::new(),
            indirizzo: String::new(),
            resident: false,
        })
    }
}

/// Validates a row of `kind`; `None` (with errors in `f`) if it is invalid.
pub(crate) fn parse_row(kind: ImportKind, f: &mut Fields<'_>) -> Option<Row> {
    Some(match kind {
        ImportKind::Anagrafe => {
            let cf = f.cf("codice_fiscale");
            let cognome = f.required_text("cognome");
            let nome = f.required_text("nome");
            let sex = f.sex("sesso");
            let born = f.date("data_nascita");
            let place = f.required_text("codice_catastale_nascita");
            let fam = f.required_text("id_famiglia");
            let rapporto = f.text("rapporto_intestatario");
            let indirizzo = f.text("indirizzo");
            let cf = cf?;
            f.check_demographics(&cf, sex, born);
            let place = place?.to_ascii_uppercase();
            if place != cf.birthplace_code() {
                f.err(
                    "codice_fiscale",
                    format!(
                        "encodes birthplace {} but codice_catastale_nascita is {place}",
                        cf.birthplace_code()
                    ),
                );
            }
            Row::Anagrafe(Person {
                cf: cf.as_str().to_owned(),
                cognome: cognome?,
                nome: nome?,
                sesso: sex?,
                data_nascita: born?,
                luogo_nascita: place,
                famiglia: Some(fam?),
                rapporto,
                indirizzo,
                resident: true,
            })
        }
        ImportKind::Sanitaria => {
            let cf = f.cf("codice_fiscale");
            let inv = f.percent("invalidita_percentuale");
            let l104 = f.boolean("legge_104");
            let na = f.boolean("non_autosufficiente");
            Row::Sanitaria(
                cf?.as_str().to_owned(),
                Sanitaria {
                    invalidita: (inv? / 100) as u8,
                    legge_104: l104?,
                    non_autosufficiente: na?,
                },
            )
        }
        ImportKind::Redditi => {
            let cf = f.cf("codice_fiscale");
            let anno = f.year("anno");
            let imp = f.cents("reddito_complessivo");
            Row::Reddito(
                cf?.as_str().to_owned(),
                Reddito {
                    anno: anno?,
                    importo: imp?,
                },
            )
        }
        ImportKind::Immobili => {
            let cf = f.cf("codice_fiscale");
            let cat = f.required_text("categoria_catastale");
            let rendita = f.cents("rendita_catastale");
            let quota = f.percent("quota_possesso");
            let main = f.boolean("abitazione_principale");
            Row::Immobile(
                cf?.as_str().to_owned(),
                Immobile {
                    categoria: cat?,
                    rendita: rendita?,
                    quota: quota?,
                    abitazione_principale: main?,
                },
            )
        }
        ImportKind::Locazioni => {
            let cf = f.cf("codice_fiscale");
            let ruolo = f.required_text("ruolo");
            let canone = f.cents("canone_annuo");
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let mor = f.boolean("morosita");
            Row::Locazione(
                cf?.as_str().to_owned(),
                Locazione {
                    ruolo: ruolo?,
                    canone: canone?,
                    inizio: inizio?,
                    fine: fine?,
                    morosita: mor?,
                },
            )
        }
        ImportKind::Tributi => {
            let cf = f.cf("codice_fiscale");
            let tributo = f.required_text("tributo");
            let anno = f.year("anno");
            let dovuto = f.cents("importo_dovuto");
            let versato = f.cents("importo_versato");
            Row::Tributo(
                cf?.as_str().to_owned(),
                Tributo {
                    tributo: tributo?.to_ascii_uppercase(),
                    anno: anno?,
                    dovuto: dovuto?,
                    versato: versato?,
                },
            )
        }
        ImportKind::Accessi => {
            let p = f.subject(true);
            let data = f.date("data");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            let esito = f.text("esito");
            Row::Accesso(
                p?,
                Accesso {
                    data: data?,
                    area: area?,
                    esito,
                },
            )
        }
        ImportKind::PreseInCarico => {
            let p = f.subject(false);
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let op = f.required_text("operatore");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            Row::Presa(
                p?,
                PresaInCarico {
                    inizio: inizio?,
                    fine: fine?,
                    operatore: op?,
                    area: area?,
                },
            )
        }
        ImportKind::Interventi => {
            let p = f.subject(true);
            let tipo = f.vocab::<TipoIntervento>("tipo_intervento");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let importo = match f.raw("importo") {
                None | Some("") => Some(0),
                Some(_) => f.cents("importo"),
            };
            if let (Some(i), Some(Some(e))) = (inizio, fine) {
                if e < i {
                    f.err("data_fine", "before data_inizio");
                }
            }
            Row::Intervento(
                p?,
                Intervento {
                    tipo: tipo?,
                    area: area?,
                    inizio: inizio?,
                    fine: fine?,
                    importo: importo?,
                },
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_cents("1234.56", false), Some(123_456));
        assert_eq!(parse_cents("1234,56", false), Some(123_456));
        assert_eq!(parse_cents("1.234,56", true), Some(123_456));
        assert_eq!(parse_cents("1234,5", true), Some(123_450));
        assert_eq!(parse_cents("12", false), Some(1200));
        assert_eq!(parse_cents("-3,10", false), Some(-310));
        assert_eq!(parse_cents("€ 1.000,00", true), Some(100_000));
        assert_eq!(parse_cents("", false), None);
        assert_eq!(parse_cents("abc", false), None);
        assert_eq!(parse_cents("1.2.3", false), None);
        assert_eq!(parse_cents("1,234", false), None);
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date_str("2026-02-28"),
            Date::from_calendar_date(2026, time::Month::February, 28).ok()
        );
        assert_eq!(
            parse_date_str("28/02/2026"),
            Date::from_calendar_date(2026, time::Month::February, 28).ok()
        );
        assert_eq!(parse_date_str("30/02/2026"), None);
        assert_eq!(parse_date_str("26-02-28"), None);
        assert_eq!(parse_date_str(""), None);
    }
}
