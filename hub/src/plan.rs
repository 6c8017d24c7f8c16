//! Supply against demand for the *Piani di zona* (`/api/supply-demand`): per unit (Region, zona,
//! Comune or entity) and area of need — ours, or the areas of ISTAT's survey of the Comuni's
//! social services — demand (accessi, households in need, requests waiting), supply (households
//! supported, interventions, euro spent, hours of activity), coverage, rates per 1,000
//! residents, and the same against the Region and the previous epoch. docs/indicators.md gives
//! every formula.
//!
//! **Invariant:** every figure is a published cell of a release or computed from published
//! cells only: a ratio or a sum with a withheld part is withheld (`null`).

use serde_json::{json, Map, Value};
use siso_shared::wire::{Dimension, Level};
use siso_shared::{AreaBisogno, TipoIntervento};

use crate::release::Release;
use crate::stats::{Cube, Group, Unit};

mod xlsx;

pub use xlsx::{workbook, XlsxError};

/// The essential level of social services (LEPS, Legge 178/2020 art. 1 c. 797): one social
/// worker per 5,000 residents of the ambito territoriale (the zona).
pub const LEPS_RESIDENTS_PER_SOCIAL_WORKER: f64 = 5000.0;

/// Measures the members send for the whole epoch only: `null` in a month's rows.
const EPOCH_ONLY: [&str; 4] = [
    "households_in_need",
    "waiting_requests",
    "interventions",
    "activity_minutes",
];

/// How rows are grouped by area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classification {
    /// Our `area_bisogno`.
    #[default]
    Siso,
    /// The areas of ISTAT's yearly survey of the Comuni's social services.
    Istat,
}

/// The areas of ISTAT's survey (*Indagine sugli interventi e i servizi sociali dei Comuni*)
/// and which of our areas each groups.
pub const ISTAT_AREAS: [(&str, &[AreaBisogno]); 7] = [
    ("famiglia_e_minori", &[AreaBisogno::MinoriFamiglia]),
    ("disabili", &[AreaBisogno::Disabilita]),
    ("dipendenze", &[AreaBisogno::Dipendenze]),
    ("anziani", &[AreaBisogno::Anziani]),
    ("immigrati", &[AreaBisogno::Immigrazione]),
    (
        "poverta_e_disagio_adulti",
        &[
            AreaBisogno::Poverta,
            AreaBisogno::Abitare,
            AreaBisogno::Lavoro,
            AreaBisogno::SaluteMentale,
        ],
    ),
    ("multiutenza", &[AreaBisogno::Altro]),
];

/// A supply-and-demand request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Epoch.
    pub epoch: u16,
    /// Level of the rows.
    pub level: Level,
    /// A month (1–12), or the whole epoch.
    pub month: Option<u8>,
    /// Only this area (a code of the classification), or every area and the total.
    pub area: Option<String>,
    /// Only this zona's rows (its Comuni at Comune level).
    pub zona: Option<u8>,
    /// Which areas.
    pub classification: Classification,
}

/// The areas of a classification: (code, our areas it groups); `totale` is every area.
fn areas(c: Classification) -> Vec<(String, Vec<AreaBisogno>)> {
    let mut out: Vec<(String, Vec<AreaBisogno>)> = match c {
        Classification::Siso => AreaBisogno::ALL
            .iter()
            .map(|a| (a.to_string(), vec![*a]))
            .collect(),
        Classification::Istat => ISTAT_AREAS
            .iter()
            .map(|(n, a)| ((*n).to_owned(), a.to_vec()))
            .collect(),
    };
    out.push(("totale".into(), Vec::new()));
    out
}

/// Whether `code` is an area of the classification (or `totale`).
pub fn is_area(c: Classification, code: &str) -> bool {
    areas(c).iter().any(|(n, _)| n == code)
}

/// Residents of a unit (ISTAT population of its Comuni); none for an entity.
fn residents(u: &Unit) -> Option<u64> {
    use siso_shared::comuni;
    match u {
        Unit::Member(m) => comuni::by_istat(&m.to_string()).map(|c| u64::from(c.population)),
        Unit::Zona(z) => Some(comuni::in_zona(*z).map(|c| u64::from(c.population)).sum()),
        Unit::Region => Some(
            comuni::zone()
                .iter()
                .flat_map(|z| comuni::in_zona(z.number))
                .map(|c| u64::from(c.population))
                .sum(),
        ),
    }
}

/// A cell summed over the groups of `parts` (the total if empty): `None` if absent everywhere
/// (a true zero), `Some(None)` if any part is withheld.
fn cell(cube: &Cube, u: &Unit, month: u8, parts: &[AreaBisogno], m: &str) -> Option<Option<i64>> {
    let groups: Vec<Group> = if parts.is_empty() {
        vec![None]
    } else {
        parts
            .iter()
            .map(|a| Some((Dimension::AreaBisogno, a.to_string())))
            .collect()
    };
    let mut sum: Option<Option<i64>> = None;
    for g in &groups {
        match cube.get(u, month, g, m) {
            None => {}
            Some(None) => return Some(None),
            Some(Some(v)) => sum = Some(Some(sum.flatten().unwrap_or(0) + v)),
        }
    }
    sum
}

/// A published value as JSON: a number, `null` when withheld, 0 when absent (a true zero, or
/// a figure the unit does not report).
fn num(v: Option<Option<i64>>) -> Value {
    match v {
        None => json!(0),
        Some(None) => Value::Null,
        Some(Some(x)) => json!(x),
    }
}

fn as_f64(v: Option<Option<i64>>) -> Option<f64> {
    match v {
        None => Some(0.0),
        Some(None) => None,
        Some(Some(x)) => Some(x as f64),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>, scale: f64, decimals: i32) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => {
            let p = 10f64.powi(decimals);
            json!((a / b * scale * p).round() / p)
        }
        _ => Value::Null,
    }
}

/// The indicators of one unit and area, from one release.
fn indicators(cube: &Cube, u: &Unit, month: u8, parts: &[AreaBisogno]) -> Map<String, Value> {
    // Figures the members send for the epoch only are not known month by month.
    let c = |m: &str| {
        if month > 0 && EPOCH_ONLY.contains(&m) {
            Some(None)
        } else {
            cell(cube, u, month, parts, m)
        }
    };
    let accessi = c("accessi");
    let in_need = c("households_in_need");
    let supported = c("households_supported");
    let mut o = Map::new();
    o.insert("accessi".into(), num(accessi));
    o.insert("households_in_need".into(), num(in_need));
    o.insert("waiting_requests".into(), num(c("waiting_requests")));
    o.insert("households_supported".into(), num(supported));
    // Only the hub can de-duplicate households across members (from the records, for the
    // epoch): a unit's total and each of our areas; not a group of areas (ISTAT's poverty),
    // whose households cannot be told apart from the parts' counts.
    let distinct: Option<Option<Option<i64>>> = match (month, parts) {
        (0, []) => Some(cube.get(u, 0, &None, "households_supported_distinct")),
        (0, [a]) => Some(cube.get(
            u,
            0,
            &Some((Dimension::AreaBisogno, a.to_string())),
            "households_supported_distinct",
        )),
        _ => None,
    };
    o.insert(
        "households_supported_distinct".into(),
        distinct.map_or(Value::Null, num),
    );
    o.insert("interventions".into(), num(c("interventions")));
    o.insert(
        "expenditure".into(),
        match c("expenditure") {
            None => json!(0.0),
            Some(None) => Value::Null,
            Some(Some(x)) => json!(x as f64 / 100.0),
        },
    );
    o.insert(
        "activity_hours".into(),
        ratio(as_f64(c("activity_minutes")), Some(60.0), 1.0, 1),
    );
    // Households supported once however many members support them, where the hub can count
    // them; else the members' sum.
    let covered = distinct.map_or(as_f64(supported), as_f64);
    o.insert("coverage".into(), ratio(covered, as_f64(in_need), 1.0, 4));
    let res = residents(u).map(|r| r as f64);
    o.insert("residents".into(), res.map_or(Value::Null, |r| json!(r)));
    for (name, v) in [
        ("accessi_per_1000", as_f64(accessi)),
        ("households_in_need_per_1000", as_f64(in_need)),
        ("households_supported_per_1000", covered),
    ] {
        o.insert(name.into(), ratio(v, res, 1000.0, 2));
    }
    if parts.is_empty() && month == 0 {
        // The LEPS staffing level: one social worker per 5,000 residents of the zona.
        let sw = cube.get(u, 0, &None, "social_workers");
        o.insert("social_workers".into(), num(sw));
        o.insert(
            "residents_per_social_worker".into(),
            ratio(res, as_f64(sw), 1.0, 0),
        );
        o.insert(
            "leps_met".into(),
            match (as_f64(sw), res) {
                (Some(w), Some(r)) => json!(w * LEPS_RESIDENTS_PER_SOCIAL_WORKER >= r),
                _ => Value::Null,
            },
        );
    }
    if parts.is_empty() {
        let kinds: Map<String, Value> = TipoIntervento::ALL
            .iter()
            .filter_map(|t| {
                let g = Some((Dimension::TipoIntervento, t.to_string()));
                cube.get(u, month, &g, "interventions")
                    .map(|v| (t.to_string(), num(Some(v))))
            })
            .collect();
        o.insert("interventions_by_kind".into(), Value::Object(kinds));
    }
    o
}

/// The fields compared against the Region and the previous epoch.
const COMPARED: [&str; 4] = [
    "coverage",
    "accessi_per_1000",
    "households_in_need_per_1000",
    "households_supported_per_1000",
];

fn compared(o: &Map<String, Value>) -> Value {
    Value::Object(
        COMPARED
            .iter()
            .map(|k| ((*k).to_owned(), o.get(*k).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

fn labels(u: &Unit) -> Map<String, Value> {
    let mut o = Map::new();
    match u {
        Unit::Member(m) => {
            o.insert("comune".into(), json!(m.to_string()));
            o.insert(
                "name".into(),
                json!(siso_shared::comuni::by_istat(&m.to_string())
                    .map_or_else(|| m.to_string(), |c| c.name.clone())),
            );
            o.insert("zona".into(), json!(m.zona()));
        }
        Unit::Zona(z) => {
            o.insert("zona".into(), json!(z));
            o.insert(
                "name".into(),
                json!(siso_shared::comuni::zona(*z).map(|x| x.name())),
            );
        }
        Unit::Region => {
            o.insert("name".into(), json!("Umbria"));
        }
    }
    o
}

/// The rows of a request from `rel`, compared with the Region in the same release and with
/// the same unit and area in `previous` (the previous epoch's release, if any).
pub fn rows(rel: &Release, previous: Option<&Release>, r: &Request) -> Vec<Map<String, Value>> {
    let month = r.month.unwrap_or(0);
    let cube = &rel.cube;
    let mut out = Vec::new();
    for u in crate::stats::units(cube, r.level, r.zona) {
        for (area, parts) in areas(r.classification) {
            if r.area.as_ref().is_some_and(|a| *a != area) {
                continue;
            }
            let ind = indicators(cube, &u, month, &parts);
            let mut row = labels(&u);
            row.insert("area".into(), json!(area));
            let region = indicators(cube, &Unit::Region, month, &parts);
            row.extend(ind.clone());
            row.insert("region".into(), compared(&region));
            // A member without data in the previous epoch has nothing to compare with.
            let known = |p: &&Release| match &u {
                Unit::Member(m) => p.cube.members.contains(m),
                _ => true,
            };
            let prev = previous
                .filter(known)
                .map(|p| compared(&indicators(&p.cube, &u, month, &parts)))
                .unwrap_or(Value::Null);
            row.insert("previous_epoch".into(), prev);
            out.push(row);
        }
    }
    out
}

/// The JSON document: the request, the release (and the previous epoch's, if any), the rows.
pub fn to_json(rel: &Release, previous: Option<&Release>, r: &Request) -> Value {
    json!({
        "epoch": r.epoch,
        "level": crate::stats::level_name(r.level),
        "month": r.month,
        "classification": match r.classification { Classification::Siso => "area_bisogno", Classification::Istat => "istat" },
        "k": rel.cube.k,
        "release": rel.meta.to_json(),
        "previous_release": previous.map(|p| p.meta.to_json()),
        "rows": rows(rel, previous, r).into_iter().map(Value::Object).collect::<Vec<_>>(),
    })
}

/// The columns of the CSV and the spreadsheet, in order, with their Italian headings (nested
/// comparisons flattened as `region_…` and `previous_…`).
pub const COLUMNS: [(&str, &str); 20] = [
    ("accessi", "Accessi"),
    ("households_in_need", "Nuclei in stato di bisogno"),
    ("waiting_requests", "Richieste in attesa"),
    ("households_supported", "Nuclei sostenuti"),
    (
        "households_supported_distinct",
        "Nuclei sostenuti (distinti)",
    ),
    ("interventions", "Interventi"),
    ("expenditure", "Spesa (€)"),
    ("activity_hours", "Ore di attività"),
    ("coverage", "Copertura"),
    ("residents", "Residenti"),
    ("accessi_per_1000", "Accessi per 1.000 residenti"),
    (
        "households_in_need_per_1000",
        "Nuclei in bisogno per 1.000 residenti",
    ),
    (
        "households_supported_per_1000",
        "Nuclei sostenuti per 1.000 residenti",
    ),
    ("social_workers", "Assistenti sociali"),
    (
        "residents_per_social_worker",
        "Residenti per assistente sociale",
    ),
    ("region_coverage", "Copertura (Regione)"),
    (
        "region_households_in_need_per_1000",
        "Nuclei in bisogno per 1.000 (Regione)",
    ),
    ("previous_coverage", "Copertura (anno precedente)"),
    (
        "previous_households_in_need_per_1000",
        "Nuclei in bisogno per 1.000 (anno precedente)",
    ),
    ("leps_met", "LEPS assistenti sociali raggiunto"),
];

/// A row's value of a column ([`COLUMNS`]).
pub fn column<'a>(row: &'a Map<String, Value>, c: &str) -> Option<&'a Value> {
    if let Some(k) = c.strip_prefix("region_") {
        row.get("region").and_then(|o| o.get(k))
    } else if let Some(k) = c.strip_prefix("previous_") {
        row.get("previous_epoch").and_then(|o| o.get(k))
    } else {
        row.get(c)
    }
}

/// A value in Italian CSV: decimal comma (euro with two decimals), empty when withheld.
fn csv_value(column: &str, v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) if column == "expenditure" => {
            format!("{:.2}", n.as_f64().unwrap_or(0.0)).replace('.', ",")
        }
        Some(Value::Number(n)) => n.to_string().replace('.', ","),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "sì" } else { "no" }.into(),
        _ => String::new(),
    }
}

/// The same rows as Italian CSV (for spreadsheets set to Italian): UTF-8 with a byte-order
/// mark, `;` between fields, decimal comma, a header row; withheld figures empty.
pub fn to_csv(rel: &Release, previous: Option<&Release>, r: &Request) -> String {
    let mut out = String::from("\u{feff}");
    let head = ["comune", "zona", "name", "area"];
    out.push_str(
        &head
            .iter()
            .copied()
            .chain(COLUMNS.iter().map(|c| c.0))
            .collect::<Vec<_>>()
            .join(";"),
    );
    out.push_str("\r\n");
    for row in rows(rel, previous, r) {
        let mut fields: Vec<String> = head
            .iter()
            .map(|h| match row.get(*h) {
                Some(Value::String(s)) => s.replace(';', ","),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            })
            .collect();
        for (c, _) in COLUMNS {
            fields.push(csv_value(c, column(&row, c)));
        }
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    out
}
