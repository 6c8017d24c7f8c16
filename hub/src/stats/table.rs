//! The cells of a cube as a disclosure-control table: their order, which are counts, which
//! amounts follow which counts, and every linear relation an attacker may assume between them.

use std::collections::{BTreeMap, HashMap};

use siso_shared::wire::Dimension;

use super::{
    CellKey, Group, Unit, ADDITIVE_OVER_MONTHS, AMOUNTS, DISTINCT_AT_THE_HUB, INTEGRATION,
    ONE_GROUP_EACH,
};
use crate::disclosure;

/// Whether the cells of a dimension's groups add up to their total (Sum) or only bound it
/// (a person or household can be in several groups).
fn dimension_relation(measure: &str, d: Dimension) -> disclosure::Relation {
    use disclosure::Relation::{Bound, Sum};
    match d {
        // One age band per person, one type per household.
        Dimension::AgeBand | Dimension::HouseholdType => Sum,
        // One area or type per event and per euro.
        _ if ADDITIVE_OVER_MONTHS.contains(&measure) => Sum,
        _ if ONE_GROUP_EACH.contains(&measure) => Sum,
        _ => Bound,
    }
}

/// The cells of a cube in key order and the linear relations between them, as an attacker
/// sees them: (a) a unit's total over each dimension's groups; (b) the hierarchy, a zona over
/// its Comuni and the Region over its zone and entities — sums of the members' figures, except
/// the hub's distinct counts, which are only bounded; (c) the epoch over its months, a sum for
/// events and amounts and a bound for distinct counts.
pub(super) fn table_of(
    k: u32,
    values: BTreeMap<CellKey, i64>,
) -> (Vec<CellKey>, disclosure::Table) {
    use disclosure::{Constraint, Relation};
    let keys: Vec<CellKey> = values.keys().cloned().collect();
    let index: HashMap<&CellKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let vals: Vec<i64> = keys.iter().map(|k| values[k]).collect();
    let counts: Vec<bool> = keys
        .iter()
        .map(|k| !AMOUNTS.contains(&k.3.as_str()))
        .collect();
    let mut follows = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        // Euro follow the households they were spent on; minutes of activity the persons in
        // charge of the same cell.
        let amount = match key.3.as_str() {
            "households_supported" => "expenditure",
            "persone_in_carico" => "activity_minutes",
            _ => continue,
        };
        let e = (key.0.clone(), key.1, key.2.clone(), amount.to_owned());
        if let Some(&j) = index.get(&e) {
            follows.push((i, j));
        }
    }
    let mut constraints: Vec<Constraint> = Vec::new();
    // (a) a unit's total over each dimension's groups.
    let mut by_total: BTreeMap<(Unit, u8, String, Dimension), Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some((d, _)) = &key.2 {
            by_total
                .entry((key.0.clone(), key.1, key.3.clone(), *d))
                .or_default()
                .push(i);
        }
    }
    for ((u, m, name, d), parts) in by_total {
        let relation = dimension_relation(&name, d);
        if let Some(&total) = index.get(&(u, m, None, name)) {
            constraints.push(Constraint {
                total,
                parts,
                relation,
            });
        }
    }
    // (b) the hierarchy.
    let mut children: BTreeMap<(Unit, u8, Group, String), Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let parent = match &key.0 {
            Unit::Member(m) => match m.zona() {
                Some(z) => Some(Unit::Zona(z)),
                None => Some(Unit::Region),
            },
            Unit::Zona(_) => Some(Unit::Region),
            Unit::Region => None,
        };
        if let Some(p) = parent {
            children
                .entry((p, key.1, key.2.clone(), key.3.clone()))
                .or_default()
                .push(i);
        }
    }
    for (pk, parts) in children {
        let relation = if DISTINCT_AT_THE_HUB.contains(&pk.3.as_str()) {
            Relation::Bound
        } else {
            Relation::Sum
        };
        if let Some(&total) = index.get(&pk) {
            constraints.push(Constraint {
                total,
                parts,
                relation,
            });
        }
    }
    // (d) integration: a unit's distinct households are integrated + social only + health only.
    for (i, key) in keys.iter().enumerate() {
        if key.3 != "households_supported_distinct" || key.1 != 0 || key.2.is_some() {
            continue;
        }
        let parts: Vec<usize> = INTEGRATION
            .iter()
            .filter_map(|m| {
                index
                    .get(&(key.0.clone(), 0, None, (*m).to_owned()))
                    .copied()
            })
            .collect();
        if !parts.is_empty() {
            constraints.push(Constraint {
                total: i,
                parts,
                relation: Relation::Sum,
            });
        }
    }
    // (c) the epoch over its months.
    let mut months: BTreeMap<(Unit, Group, String), Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        if key.1 > 0 {
            months
                .entry((key.0.clone(), key.2.clone(), key.3.clone()))
                .or_default()
                .push(i);
        }
    }
    for ((u, g, name), parts) in months {
        let relation = if ADDITIVE_OVER_MONTHS.contains(&name.as_str()) {
            Relation::Sum
        } else {
            Relation::Bound
        };
        if let Some(&total) = index.get(&(u, 0, g, name)) {
            constraints.push(Constraint {
                total,
                parts,
                relation,
            });
        }
    }
    let table = disclosure::Table {
        values: vals,
        counts,
        follows,
        constraints,
        k: i64::from(k),
        fixed: Vec::new(),
        marked: Vec::new(),
    };
    (keys, table)
}
