//! Published statistics from the members' aggregates, with primary suppression (cells counting
//! fewer than `k` units are withheld; a true zero is published). This is the first cut used by
//! `StatsQuery`; secondary suppression and the hub-only measures per level come with the
//! statistics issue (see docs/PRIVACY.md when it lands).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use siso_shared::wire::{Breakdown, Dimension, Level, Measure, StatsQuery};
use siso_shared::MemberId;

use crate::service::Hub;
use crate::store::StoreError;

fn measure_name(m: &Measure) -> String {
    match m {
        Measure::Accessi => "accessi".into(),
        Measure::PersoneConAccesso => "persone_con_accesso".into(),
        Measure::PersoneInCarico => "persone_in_carico".into(),
        Measure::HouseholdsSupported => "households_supported".into(),
        Measure::ExpenditureCents => "expenditure".into(),
        Measure::HouseholdsAssessed => "households_assessed".into(),
        Measure::Eligible(r) => format!("eligible_{r}"),
        Measure::LatentNeed => "latent_need".into(),
        Measure::InsufficientData => "insufficient_data".into(),
        Measure::Critical(f) => format!("critical_{f}"),
    }
}

fn breakdown_matches(b: &Breakdown, by: Option<Dimension>) -> Option<Option<String>> {
    match (b, by) {
        (Breakdown::Total, None) => Some(None),
        (Breakdown::Area(a), Some(Dimension::AreaBisogno)) => Some(Some(a.to_string())),
        (Breakdown::Tipo(t), Some(Dimension::TipoIntervento)) => Some(Some(t.to_string())),
        (Breakdown::AgeBand(a), Some(Dimension::AgeBand)) => Some(Some(a.to_string())),
        (Breakdown::HouseholdType(h), Some(Dimension::HouseholdType)) => Some(Some(h.to_string())),
        _ => None,
    }
}

fn dimension_name(d: Dimension) -> &'static str {
    match d {
        Dimension::AreaBisogno => "area_bisogno",
        Dimension::TipoIntervento => "tipo_intervento",
        Dimension::AgeBand => "age_band",
        Dimension::HouseholdType => "household_type",
    }
}

/// The unit a row belongs to at a level.
fn unit(level: Level, m: &MemberId) -> (String, Option<u8>) {
    match level {
        Level::Region => ("region".into(), None),
        Level::Zona => match m.zona() {
            Some(z) => (format!("zona-{z}"), Some(z)),
            None => (m.to_string(), None),
        },
        Level::Comune => (m.to_string(), m.zona()),
    }
}

/// A row: its unit (region, zona or member) and its group within the breakdown.
type RowKey = (String, Option<String>);

/// Builds the statistics document for a query.
pub fn stats_json(hub: &Hub, q: &StatsQuery) -> Result<String, StoreError> {
    let month = q.month.unwrap_or(0);
    let k = i64::from(hub.k);
    let mut rows: BTreeMap<RowKey, (Option<u8>, BTreeMap<String, i64>)> = BTreeMap::new();
    for (member, m, cells) in hub.store().aggregates(q.epoch)? {
        if m != month {
            continue;
        }
        let (u, zona) = unit(q.level, &member);
        for c in cells {
            if let Some(group) = breakdown_matches(&c.breakdown, q.by) {
                let e = rows
                    .entry((u.clone(), group))
                    .or_insert((zona, BTreeMap::new()));
                *e.1.entry(measure_name(&c.measure)).or_default() += c.value;
            }
        }
    }
    let level_name = match q.level {
        Level::Region => "region",
        Level::Zona => "zona",
        Level::Comune => "comune",
    };
    let mut out = Vec::new();
    for ((u, group), (zona, measures)) in rows {
        let mut row = Map::new();
        match q.level {
            Level::Region => {}
            Level::Zona => {
                row.insert(
                    "zona".into(),
                    zona.map_or(Value::String(u.clone()), |z| json!(z)),
                );
            }
            Level::Comune => {
                row.insert("comune".into(), json!(u));
                row.insert("zona".into(), json!(zona));
            }
        }
        if let (Some(d), Some(g)) = (q.by, group) {
            row.insert(dimension_name(d).into(), json!(g));
        }
        let mut suppressed = false;
        for (name, v) in measures {
            let counts_units = name != "expenditure";
            if counts_units && v > 0 && v < k {
                suppressed = true;
                row.insert(name, Value::Null);
            } else if name == "expenditure" {
                row.insert(name, json!(v as f64 / 100.0));
            } else {
                row.insert(name, json!(v));
            }
        }
        if suppressed && row.contains_key("expenditure") {
            // The spending of a group too small to count is as revealing as its count.
            row.insert("expenditure".into(), Value::Null);
        }
        row.insert("suppressed".into(), json!(suppressed));
        out.push(Value::Object(row));
    }
    let doc = json!({
        "epoch": q.epoch,
        "level": level_name,
        "by": q.by.map(dimension_name),
        "month": q.month,
        "k": hub.k,
        "rows": out,
    });
    Ok(doc.to_string())
}
