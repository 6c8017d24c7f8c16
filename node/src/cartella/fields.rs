//! Submitted fields: the Italian, field-level messages of a refusal, and the fields of the
//! records that have no import format (activities, the steps of a case).

use std::collections::BTreeMap;

use serde::Serialize;
use siso_shared::{AreaBisogno, CodiceFiscale, TipoIntervento};
use time::Date;

use super::CartellaError;
use crate::model::{Attivita, TipoAttivita};

/// One refused field, with a message an operator understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (column name).
    pub campo: String,
    /// What is wrong, in Italian.
    pub messaggio: String,
}

impl FieldError {
    /// A refusal of `campo`.
    pub fn new(campo: &str, messaggio: impl Into<String>) -> FieldError {
        FieldError {
            campo: campo.to_owned(),
            messaggio: messaggio.into(),
        }
    }
}

/// Most characters of a free text (notes, goals).
pub const TEXT_MAX: usize = 4000;

fn codes<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|v| code(*v)).collect::<Vec<_>>().join(", ")
}

/// The import validation's (column, reason) pairs in Italian, one per field.
pub(super) fn italian(errors: &[(String, String)]) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::new();
    for (col, reason) in errors {
        if out.iter().any(|e| &e.campo == col) {
            continue;
        }
        let empty = reason == "empty" || reason.starts_with("\"\"");
        let m = match col.as_str() {
            "codice_fiscale" if empty || reason.starts_with("wrong length: 0") => {
                "Indicare il codice fiscale.".to_owned()
            }
            "codice_fiscale" if reason.starts_with("wrong length") => {
                "Il codice fiscale deve avere 16 caratteri.".to_owned()
            }
            "codice_fiscale" if reason.starts_with("wrong check character") => {
                "Il carattere di controllo non corrisponde: verificare il codice fiscale."
                    .to_owned()
            }
            "codice_fiscale" if reason.starts_with("encodes") => {
                "Il codice fiscale non corrisponde ai dati anagrafici indicati.".to_owned()
            }
            "codice_fiscale" => "Codice fiscale non valido.".to_owned(),
            "data_fine" if reason.starts_with("before") => {
                "La data di fine precede la data di inizio.".to_owned()
            }
            "data" | "data_inizio" | "data_fine" | "data_nascita" if empty => {
                "Indicare la data.".to_owned()
            }
            "data" | "data_inizio" | "data_fine" | "data_nascita" => {
                "Data non valida: scrivere AAAA-MM-GG oppure GG/MM/AAAA.".to_owned()
            }
            "area_bisogno" => format!(
                "Area di bisogno sconosciuta. Valori ammessi: {}.",
                codes(AreaBisogno::ALL, AreaBisogno::as_str)
            ),
            "tipo_intervento" => format!(
                "Tipo di intervento sconosciuto. Valori ammessi: {}.",
                codes(TipoIntervento::ALL, TipoIntervento::as_str)
            ),
            "importo" => "Importo non valido: scrivere ad esempio 300,00.".to_owned(),
            "operatore" => "Indicare l'operatore che prende in carico.".to_owned(),
            "sesso" => "Sesso non valido: M o F.".to_owned(),
            _ if empty => "Campo obbligatorio.".to_owned(),
            _ => "Valore non valido.".to_owned(),
        };
        out.push(FieldError::new(col, m));
    }
    out
}

/// A required date (`YYYY-MM-DD` or `DD/MM/YYYY`); `today` when absent and `default_today`.
pub fn parse_date(
    fields: &BTreeMap<String, String>,
    col: &str,
    default_today: Option<Date>,
    errors: &mut Vec<FieldError>,
) -> Option<Date> {
    let raw = fields.get(col).map(|s| s.trim()).unwrap_or("");
    if raw.is_empty() {
        if default_today.is_none() {
            errors.push(FieldError::new(col, "Indicare la data."));
        }
        return default_today;
    }
    let d = crate::import::parse_date(raw);
    if d.is_none() {
        errors.push(FieldError::new(
            col,
            "Data non valida: scrivere AAAA-MM-GG oppure GG/MM/AAAA.",
        ));
    }
    d
}

/// A free text of at most [`TEXT_MAX`] characters (required if `required`).
pub(super) fn text(
    fields: &BTreeMap<String, String>,
    col: &str,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    let t = fields.get(col).map(|s| s.trim()).unwrap_or("").to_owned();
    if required && t.is_empty() {
        errors.push(FieldError::new(col, "Campo obbligatorio."));
    } else if t.chars().count() > TEXT_MAX {
        errors.push(FieldError::new(
            col,
            format!("Testo troppo lungo: al massimo {TEXT_MAX} caratteri."),
        ));
    }
    t
}

/// Only these fields may be submitted.
pub(super) fn only(
    fields: &BTreeMap<String, String>,
    allowed: &[&str],
) -> Result<(), CartellaError> {
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(k, "campo non previsto"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(CartellaError::Invalid(unknown))
    }
}

/// An optional time of day, `HH:MM`.
pub(super) fn time_of_day(
    fields: &BTreeMap<String, String>,
    col: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let t = fields
        .get(col)
        .map(|s| s.trim())
        .filter(|t| !t.is_empty())?;
    let ok = t.len() == 5
        && t.as_bytes()[2] == b':'
        && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && t[3..].parse::<u8>().is_ok_and(|m| m < 60);
    if !ok {
        errors.push(FieldError::new(
            col,
            "Ora non valida: scrivere HH:MM, ad esempio 09:30.",
        ));
    }
    Some(t.to_owned())
}

/// A place, at most 200 characters.
pub(super) fn place(
    fields: &BTreeMap<String, String>,
    col: &str,
    errors: &mut Vec<FieldError>,
) -> String {
    let l = text(fields, col, false, errors);
    if l.chars().count() > 200 {
        errors.push(FieldError::new(
            col,
            "Luogo troppo lungo: al massimo 200 caratteri.",
        ));
    }
    l
}

/// An activity of the diary: `codice_fiscale`, `data`, `tipo_attivita`, `durata_minuti`
/// (1–1440), `note`, and optionally `ora` (`HH:MM`), `luogo`, `caso` (a case id; checked
/// against the store by the caller).
pub(super) fn attivita(
    fields: &BTreeMap<String, String>,
    today: Date,
) -> Result<(CodiceFiscale, Attivita), CartellaError> {
    let mut errors = Vec::new();
    let raw_cf = fields.get("codice_fiscale").map(|s| s.trim()).unwrap_or("");
    let cf = match CodiceFiscale::parse(raw_cf, today) {
        Ok(cf) => Some(cf),
        Err(e) => {
            errors.extend(italian(&[("codice_fiscale".into(), e.to_string())]));
            None
        }
    };
    let data = parse_date(fields, "data", None, &mut errors);
    if data.is_some_and(|d| d > today) {
        errors.push(FieldError::new("data", "La data è nel futuro."));
    }
    let tipo = TipoAttivita::parse(fields.get("tipo_attivita").map_or("", |s| s.as_str()));
    if tipo.is_none() {
        errors.push(FieldError::new(
            "tipo_attivita",
            format!(
                "Tipo di attività sconosciuto. Valori ammessi: {}.",
                codes(&TipoAttivita::ALL, TipoAttivita::code)
            ),
        ));
    }
    let durata = fields
        .get("durata_minuti")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|m| (1..=1440).contains(m));
    if durata.is_none() {
        errors.push(FieldError::new(
            "durata_minuti",
            "Durata non valida: un numero di minuti da 1 a 1440.",
        ));
    }
    let note = text(fields, "note", false, &mut errors);
    let ora = time_of_day(fields, "ora", &mut errors);
    let luogo = place(fields, "luogo", &mut errors);
    let caso = match fields.get("caso").map(|s| s.trim()) {
        None | Some("") => None,
        Some(c) => {
            if super::parse_id(c).is_none() {
                errors.push(FieldError::new("caso", "Caso inesistente."));
            }
            Some(c.to_ascii_lowercase())
        }
    };
    match (cf, data, tipo, durata) {
        (Some(cf), Some(data), Some(tipo), Some(durata_minuti)) if errors.is_empty() => Ok((
            cf,
            Attivita {
                data,
                tipo,
                durata_minuti,
                note,
                ora,
                luogo,
                caso,
            },
        )),
        _ => Err(CartellaError::Invalid(errors)),
    }
}
