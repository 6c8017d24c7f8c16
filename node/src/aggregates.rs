//! The aggregates a Comune node sends to the hub (`SubmitAggregates`): per month of the epoch
//! (1–12) and for the whole epoch (month 0), counts by area of need, kind of intervention, age
//! band and household type. Distinct counts of the epoch are computed over the epoch, never
//! summed from months. Counts only: nothing personal leaves the node.
//!
//! For the *Piani di zona* (docs/indicators.md): households in need by the area of an open case
//! of a member (else `altro`), requests waiting for a case to open, interventions by kind and
//! area, and minutes of the diary's activities by the area of their case (else `altro`).

use std::collections::{BTreeMap, HashMap, HashSet};

use siso_shared::wire::{AggregateCell, Breakdown, Measure, PeriodAggregates};
use siso_shared::{AgeBand, AreaBisogno, HouseholdType};
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
    // Open cases at the reference date: the area a household's need counts under.
    let mut open_area: HashMap<String, (Date, AreaBisogno)> = HashMap::new();
    for (k, c) in store.scan::<PresaInCarico>(Kind::PresaInCarico, b"")? {
        if c.inizio <= reference && c.fine.is_none_or(|f| f >= reference) {
            let e = open_area.entry(cf_of(&k)).or_insert((c.inizio, c.area));
            // The most recent case, and of two begun the same day the first area in code order.
            if (c.inizio, std::cmp::Reverse(c.area)) > (e.0, std::cmp::Reverse(e.1)) {
                *e = (c.inizio, c.area);
            }
        }
    }
    let mut members_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for (cf, h) in &families {
        members_of
            .entry(h.id.as_str())
            .or_default()
            .push(cf.as_str());
    }
    for h in assessment
        .households
        .iter()
        .filter(|h| !h.eligible.is_empty())
    {
        // A non-resident's household is the person alone (`NR:<cf>`).
        let alone = h.household.strip_prefix("NR:").map(|cf| vec![cf]);
        let area = members_of
            .get(h.household.as_str())
            .cloned()
            .or(alone)
            .into_iter()
            .flatten()
            .filter_map(|cf| open_area.get(cf))
            .max_by_key(|(d, a)| (*d, std::cmp::Reverse(*a)))
            .map_or(AreaBisogno::Altro, |(_, a)| *a);
        for b in [Breakdown::Total, Breakdown::Area(area)] {
            acc.add(0, b, Measure::HouseholdsInNeed, 1);
        }
    }
    // Requests waiting for a case to open; the diary's minutes by the area of their case.
    let mut case_area: HashMap<String, AreaBisogno> = HashMap::new();
    for (k, c) in store.scan::<Caso>(Kind::Caso, b"")? {
        if let Some(id) = k.get(16..) {
            case_area.insert(hex::encode(id), c.area);
        }
        let waiting = c.stato == StatoCaso::Richiesta
            && c.richiesta.is_some_and(|d| d <= reference)
            && c.chiusura.is_none();
        if waiting {
            for b in [Breakdown::Total, Breakdown::Area(c.area)] {
                acc.add(0, b, Measure::WaitingRequests, 1);
            }
        }
    }
    // The plan's supply figures are yearly: sent for the epoch only (month 0), which keeps the
    // hub's disclosure control from carrying twelve more months of them.
    for (_, a) in store.scan::<Attivita>(Kind::Attivita, b"")? {
        if a.data.year() != i32::from(epoch) {
            continue;
        }
        let area = a
            .caso
            .as_ref()
            .and_then(|c| case_area.get(c))
            .copied()
            .unwrap_or(AreaBisogno::Altro);
        for b in [Breakdown::Total, Breakdown::Area(area)] {
            acc.add(0, b, Measure::ActivityMinutes, i64::from(a.durata_minuti));
        }
    }
    for (k, v) in store.scan::<Intervento>(Kind::Intervento, b"")? {
        let cf = cf_of(&k);
        let (hid, ht) = household(&cf);
        let id = hex::encode(&k);
        if !periods(epoch, v.inizio, v.fine).is_empty() {
            for b in [
                Breakdown::Total,
                Breakdown::Tipo(v.tipo),
                Breakdown::Area(v.area),
            ] {
                acc.distinct(0, b, Measure::Interventions, &id);
            }
        }
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
    // The staff: social workers with an enabled account (the LEPS staffing indicator).
    let social_workers = crate::accounts::list(store)
        .map_err(|e| match e {
            crate::accounts::AccountError::Store(s) => s,
            other => StoreError::Corrupt(other.to_string()),
        })?
        .iter()
        .filter(|a| a.role == crate::accounts::OperatorRole::AssistenteSociale && !a.disabled)
        .count();
    if social_workers > 0 {
        acc.add(
            0,
            Breakdown::Total,
            Measure::SocialWorkers,
            social_workers as i64,
        );
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
