//! The aggregates a Comune node sends to the hub (`SubmitAggregates`): per month of the epoch
//! (1–12) and for the whole epoch (month 0), counts by area of need, kind of intervention, age
//! band and household type. Distinct counts of the epoch are computed over the epoch, never
//! summed from months. Counts only: nothing personal leaves the node.

use std::collections::{BTreeMap, HashMap, HashSet};

use siso_shared::wire::{AggregateCell, Breakdown, Measure, PeriodAggregates};
use siso_shared::{AgeBand, HouseholdType};
use time::{Date, Month};

use crate::assess::Assessment;
use crate::household::household_of;
use crate::model::*;
use crate::store::{Kind, Store, StoreError};

fn month_bounds(epoch: u16, m: u8) -> Option<(Date, Date)> {
    let y = i32::from(epoch);
    let month = Month::try_from(m).ok()?;
    let start = Date::from_calendar_date(y, month, 1).ok()?;
    let end = Date::from_calendar_date(y, month, month.length(y)).ok()?;
    Some((start, end))
}

/// The periods (0 = the epoch, 1–12 = months) a span of days touches within the epoch.
fn periods(epoch: u16, start: Date, end: Option<Date>) -> Vec<u8> {
    let mut out = Vec::new();
    for m in 1..=12u8 {
        if let Some((a, b)) = month_bounds(epoch, m) {
            if start <= b && end.is_none_or(|e| e >= a) {
                out.push(m);
            }
        }
    }
    if !out.is_empty() {
        out.insert(0, 0);
    }
    out
}

#[derive(Default)]
struct Acc {
    sums: BTreeMap<(u8, Breakdown, Measure), i64>,
    sets: HashMap<(u8, Breakdown, Measure), HashSet<String>>,
}

impl Acc {
    fn add(&mut self, period: u8, b: Breakdown, m: Measure, v: i64) {
        *self.sums.entry((period, b, m)).or_default() += v;
    }
    fn distinct(&mut self, period: u8, b: Breakdown, m: Measure, id: &str) {
        self.sets
            .entry((period, b, m))
            .or_default()
            .insert(id.to_owned());
    }
}

/// Computes the aggregates of an epoch from the store and the assessment.
pub fn compute(
    store: &Store,
    assessment: &Assessment,
    epoch: u16,
    reference: Date,
) -> Result<Vec<PeriodAggregates>, StoreError> {
    let families = household_of(store)?;
    let mut ages: HashMap<String, u32> = HashMap::new();
    for (_, p) in store.scan::<Person>(Kind::Person, b"")? {
        ages.insert(p.cf.clone(), age_on(p.data_nascita, reference));
    }
    let household = |cf: &str| -> (String, HouseholdType) {
        match families.get(cf) {
            Some(h) => {
                let a: Vec<u32> = h
                    .members
                    .iter()
                    .map(|m| ages.get(m).copied().unwrap_or(40))
                    .collect();
                (h.id.clone(), HouseholdType::classify(&a))
            }
            None => (
                format!("NR:{cf}"),
                HouseholdType::classify(&[ages.get(cf).copied().unwrap_or(40)]),
            ),
        }
    };
    let band = |cf: &str| AgeBand::of_age(ages.get(cf).copied().unwrap_or(40));
    let cf_of = |k: &[u8]| String::from_utf8_lossy(&k[..16.min(k.len())]).into_owned();
    let mut acc = Acc::default();

    for (k, a) in store.scan::<Accesso>(Kind::Accesso, b"")? {
        let cf = cf_of(&k);
        let (_, ht) = household(&cf);
        for p in periods(epoch, a.data, Some(a.data)) {
            for b in [
                Breakdown::Total,
                Breakdown::Area(a.area),
                Breakdown::AgeBand(band(&cf)),
                Breakdown::HouseholdType(ht),
            ] {
                acc.add(p, b, Measure::Accessi, 1);
                acc.distinct(p, b, Measure::PersoneConAccesso, &cf);
            }
        }
    }
    for (k, c) in store.scan::<PresaInCarico>(Kind::PresaInCarico, b"")? {
        let cf = cf_of(&k);
        let (_, ht) = household(&cf);
        for p in periods(epoch, c.inizio, c.fine) {
            for b in [
                Breakdown::Total,
                Breakdown::Area(c.area),
                Breakdown::AgeBand(band(&cf)),
                Breakdown::HouseholdType(ht),
            ] {
                acc.distinct(p, b, Measure::PersoneInCarico, &cf);
            }
        }
    }
    for (k, v) in store.scan::<Intervento>(Kind::Intervento, b"")? {
        let cf = cf_of(&k);
        let (hid, ht) = household(&cf);
        let breakdowns = [
            Breakdown::Total,
            Breakdown::Tipo(v.tipo),
            Breakdown::Area(v.area),
            Breakdown::HouseholdType(ht),
        ];
        for p in periods(epoch, v.inizio, v.fine) {
            for b in breakdowns {
                acc.distinct(p, b, Measure::HouseholdsSupported, &hid);
            }
        }
        // Expenditure is counted in the month the intervention starts.
        if v.inizio.year() == i32::from(epoch) {
            for p in [0u8, v.inizio.month() as u8] {
                for b in breakdowns {
                    acc.add(p, b, Measure::ExpenditureCents, v.importo);
                }
            }
        }
    }
    // What operators did about the hub's notices (counts only).
    let (open, resolved) = crate::cartella::caseload::notice_counts(store)?;
    acc.add(
        0,
        Breakdown::Total,
        Measure::OverlapNotices,
        (open + resolved) as i64,
    );
    acc.add(
        0,
        Breakdown::Total,
        Measure::OverlapNoticesResolved,
        resolved as i64,
    );
    let c = &assessment.counts;
    acc.add(
        0,
        Breakdown::Total,
        Measure::HouseholdsAssessed,
        c.assessed as i64,
    );
    acc.add(
        0,
        Breakdown::Total,
        Measure::LatentNeed,
        c.latent_need as i64,
    );
    acc.add(
        0,
        Breakdown::Total,
        Measure::InsufficientData,
        c.insufficient_data as i64,
    );
    for (rule, n) in &c.eligible {
        acc.add(
            0,
            Breakdown::Total,
            Measure::Eligible(rule.clone()),
            *n as i64,
        );
    }
    for (flag, n) in &c.critical {
        acc.add(
            0,
            Breakdown::Total,
            Measure::Critical(flag.clone()),
            *n as i64,
        );
    }

    let mut by_period: BTreeMap<u8, Vec<AggregateCell>> =
        (0..=12).map(|m| (m, Vec::new())).collect();
    for ((p, b, m), v) in acc.sums {
        by_period.entry(p).or_default().push(AggregateCell {
            breakdown: b,
            measure: m,
            value: v,
        });
    }
    for ((p, b, m), set) in acc.sets {
        by_period.entry(p).or_default().push(AggregateCell {
            breakdown: b,
            measure: m,
            value: set.len() as i64,
        });
    }
    Ok(by_period
        .into_iter()
        .map(|(month, mut cells)| {
            cells.sort_by(|a, b| (a.breakdown, &a.measure).cmp(&(b.breakdown, &b.measure)));
            PeriodAggregates { month, cells }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn periods_of_spans() {
        assert_eq!(
            periods(2026, date!(2026 - 03 - 15), Some(date!(2026 - 03 - 15))),
            vec![0, 3]
        );
        assert_eq!(
            periods(2026, date!(2025 - 11 - 01), Some(date!(2026 - 02 - 01))),
            vec![0, 1, 2]
        );
        assert_eq!(periods(2026, date!(2026 - 11 - 01), None), vec![0, 11, 12]);
        assert!(periods(2026, date!(2024 - 01 - 01), Some(date!(2025 - 12 - 31))).is_empty());
    }
}
