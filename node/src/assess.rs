//! Needs assessment at the node, on local data only: an ISEE-like economic indicator per
//! household, benefit eligibility, latent needs and critical situations (docs/assessment.md).
//! Only flags and counts leave the node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use time::Date;

use crate::model::*;
use crate::rules::Rules;
use crate::store::{Kind, Store, StoreError};

/// The ISEE equivalence scale for `members` persons, before the increments.
pub fn base_scale(members: usize) -> f64 {
    match members {
        0 | 1 => 1.00,
        2 => 1.57,
        3 => 2.04,
        4 => 2.46,
        5 => 2.85,
        n => 2.85 + 0.35 * (n - 5) as f64,
    }
}

/// One member's facts, as the assessment needs them.
#[derive(Debug, Clone, Default)]
pub struct MemberFacts {
    /// Age on the reference date.
    pub age: u32,
    /// Incomes by year, euro.
    pub incomes: BTreeMap<u16, f64>,
    /// Invalidity ≥ 67% or law 104.
    pub disabled: bool,
    /// Not self-sufficient.
    pub non_autosufficiente: bool,
    /// Properties other than the main home: (rendita euro, share percent).
    pub other_properties: Vec<(f64, f64)>,
    /// Rent arrears on a lease.
    pub rent_arrears: bool,
    /// Local taxes due minus paid, euro (positive part, all years).
    pub tax_arrears: f64,
}

/// The indicator's parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    /// Income of the latest year present, euro.
    pub income: f64,
    /// The year of that income.
    pub income_year: Option<u16>,
    /// Property value (non-main homes), euro.
    pub property: f64,
    /// Equivalence scale.
    pub scale: f64,
    /// (income + 0.2 × property) / scale.
    pub value: f64,
}

/// Computes the indicator, or `None` (insufficient data) if no adult has an income row.
pub fn indicator(members: &[MemberFacts]) -> Option<Indicator> {
    let adults_with_income = members.iter().any(|m| m.age >= 18 && !m.incomes.is_empty());
    if !adults_with_income {
        return None;
    }
    let year = members.iter().flat_map(|m| m.incomes.keys().copied()).max();
    let income: f64 = match year {
        Some(y) => members.iter().filter_map(|m| m.incomes.get(&y)).sum(),
        None => 0.0,
    };
    let property: f64 = members
        .iter()
        .flat_map(|m| &m.other_properties)
        .map(|(rendita, quota)| rendita * 1.05 * 160.0 * quota / 100.0)
        .sum();
    let minors = members.iter().filter(|m| m.age < 18).count();
    let disabled = members.iter().filter(|m| m.disabled).count();
    let scale =
        base_scale(members.len()) + if minors >= 3 { 0.2 } else { 0.0 } + 0.5 * disabled as f64;
    Some(Indicator {
        income,
        income_year: year,
        property,
        scale,
        value: (income + 0.2 * property) / scale,
    })
}

/// The assessment of one household.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdAssessment {
    /// Local household id.
    pub household: String,
    /// Members.
    pub members: usize,
    /// The indicator (absent: insufficient data).
    pub indicator: Option<Indicator>,
    /// Benefit rules met.
    pub eligible: Vec<String>,
    /// Critical flags.
    pub flags: Vec<String>,
    /// An intervention of this node in the epoch.
    pub supported_here: bool,
    /// Supported by another member, according to the last sync.
    pub supported_elsewhere: bool,
    /// Eligible and not supported here.
    pub latent_need: bool,
}

/// Counts for the aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AssessmentCounts {
    /// Households assessed.
    pub assessed: u64,
    /// Eligible, per rule.
    pub eligible: BTreeMap<String, u64>,
    /// Latent need.
    pub latent_need: u64,
    /// Insufficient data.
    pub insufficient_data: u64,
    /// Per critical flag.
    pub critical: BTreeMap<String, u64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Epoch.
    pub epoch: u16,
    /// Reference date for ages and thresholds.
    pub reference_date: String,
    /// Households.
    pub households: Vec<HouseholdAssessment>,
    /// Counts.
    pub counts: AssessmentCounts,
}

impl Assessment {
    /// Local ids of the latent-need households (what sync flags).
    pub fn latent_ids(&self) -> BTreeSet<String> {
        self.households
            .iter()
            .filter(|h| h.latent_need)
            .map(|h| h.household.clone())
            .collect()
    }
}

fn cf_of(k: &[u8]) -> String {
    String::from_utf8_lossy(&k[..16.min(k.len())]).into_owned()
}

/// Judges one household from its members' facts: indicator, eligibility, critical flags,
/// support here and latent need.
fn judge(
    id: String,
    members: &[MemberFacts],
    supported_here: bool,
    supported_elsewhere: bool,
    rules: &Rules,
    reference: Date,
) -> HouseholdAssessment {
    let ind = indicator(members);
    let mut eligible = Vec::new();
    if let Some(i) = &ind {
        for b in &rules.benefits {
            let Some(max) = b.threshold_on(reference) else {
                continue;
            };
            let frail_ok = !b.requires_frail_member
                || members
                    .iter()
                    .any(|m| m.age < 18 || m.disabled || m.age >= b.frail_min_age);
            if i.value < max && frail_ok {
                eligible.push(b.name.clone());
            }
        }
    }
    let c = &rules.critical;
    let mut flags = Vec::new();
    let minors = members.iter().any(|m| m.age < 18);
    if c.rent_arrears_with_minors && minors && members.iter().any(|m| m.rent_arrears) {
        flags.push("morosita_con_minori".to_owned());
    }
    if c.elderly_alone_not_self_sufficient
        && members.len() == 1
        && members[0].age >= c.elderly_age
        && members[0].non_autosufficiente
    {
        flags.push("anziano_solo_non_autosufficiente".to_owned());
    }
    let arrears: f64 = members.iter().map(|m| m.tax_arrears).sum();
    if c.tax_arrears_with_hardship
        && arrears > c.tax_arrears_min
        && eligible.contains(&c.tax_arrears_hardship_rule)
    {
        flags.push("morosita_tributi_con_disagio".to_owned());
    }
    let latent = !eligible.is_empty() && !supported_here;
    HouseholdAssessment {
        supported_elsewhere,
        household: id,
        members: members.len(),
        indicator: ind,
        eligible,
        flags,
        supported_here,
        latent_need: latent,
    }
}

fn add_reddito(f: &mut MemberFacts, r: &Reddito) {
    f.incomes.insert(r.anno, r.importo as f64 / 100.0);
}

fn add_sanitaria(f: &mut MemberFacts, s: &Sanitaria) {
    f.disabled = s.invalidita >= 67 || s.legge_104;
    f.non_autosufficiente = s.non_autosufficiente;
}

fn add_immobile(f: &mut MemberFacts, i: &Immobile) {
    if !i.abitazione_principale {
        f.other_properties
            .push((i.rendita as f64 / 100.0, f64::from(i.quota) / 100.0));
    }
}

fn add_locazione(f: &mut MemberFacts, l: &Locazione, epoch: u16) {
    if l.morosita && in_epoch(l.inizio, l.fine, epoch) {
        f.rent_arrears = true;
    }
}

fn add_tributo(f: &mut MemberFacts, t: &Tributo) {
    f.tax_arrears += ((t.dovuto - t.versato).max(0)) as f64 / 100.0;
}

/// Assesses one household (the card of the web app), reading only its members' facts.
pub fn assess_household(
    store: &Store,
    rules: &Rules,
    epoch: u16,
    today: Date,
    household: &crate::household::LocalHousehold,
) -> Result<HouseholdAssessment, StoreError> {
    let reference = reference_date(epoch, today);
    let mut members = Vec::with_capacity(household.members.len());
    let mut supported_here = false;
    for cf in &household.members {
        let p = cf.as_bytes();
        let mut f = MemberFacts::default();
        if let Some(person) = store.get::<Person>(Kind::Person, p)? {
            f.age = age_on(person.data_nascita, reference);
        }
        store.for_each::<Reddito>(Kind::Reddito, p, |_, r| add_reddito(&mut f, &r))?;
        if let Some(s) = store.get::<Sanitaria>(Kind::Sanitaria, p)? {
            add_sanitaria(&mut f, &s);
        }
        store.for_each::<Immobile>(Kind::Immobile, p, |_, i| add_immobile(&mut f, &i))?;
        store.for_each::<Locazione>(Kind::Locazione, p, |_, l| add_locazione(&mut f, &l, epoch))?;
        store.for_each::<Tributo>(Kind::Tributo, p, |_, t| add_tributo(&mut f, &t))?;
        store.for_each::<Intervento>(Kind::Intervento, p, |_, v| {
            supported_here |= in_epoch(v.inizio, v.fine, epoch);
        })?;
        members.push(f);
    }
    let mut elsewhere = false;
    store.for_each::<StoredNotice>(Kind::Notice, b"", |_, n| {
        elsewhere |= n.household == household.id && n.notice.others_count > 0;
    })?;
    Ok(judge(
        household.id.clone(),
        &members,
        supported_here,
        elsewhere,
        rules,
        reference,
    ))
}

/// Assesses every anagrafe family of the node.
pub fn assess(
    store: &Store,
    rules: &Rules,
    epoch: u16,
    today: Date,
) -> Result<Assessment, StoreError> {
    let reference = reference_date(epoch, today);
    let mut facts: HashMap<String, MemberFacts> = HashMap::new();
    for (k, p) in store.scan::<Person>(Kind::Person, b"")? {
        facts.entry(cf_of(&k)).or_default().age = age_on(p.data_nascita, reference);
    }
    for (k, r) in store.scan::<Reddito>(Kind::Reddito, b"")? {
        add_reddito(facts.entry(cf_of(&k)).or_default(), &r);
    }
    for (k, s) in store.scan::<Sanitaria>(Kind::Sanitaria, b"")? {
        add_sanitaria(facts.entry(cf_of(&k)).or_default(), &s);
    }
    for (k, i) in store.scan::<Immobile>(Kind::Immobile, b"")? {
        add_immobile(facts.entry(cf_of(&k)).or_default(), &i);
    }
    for (k, l) in store.scan::<Locazione>(Kind::Locazione, b"")? {
        add_locazione(facts.entry(cf_of(&k)).or_default(), &l, epoch);
    }
    for (k, t) in store.scan::<Tributo>(Kind::Tributo, b"")? {
        add_tributo(facts.entry(cf_of(&k)).or_default(), &t);
    }
    let mut supported: BTreeSet<String> = BTreeSet::new();
    for (k, v) in store.scan::<Intervento>(Kind::Intervento, b"")? {
        if in_epoch(v.inizio, v.fine, epoch) {
            supported.insert(cf_of(&k));
        }
    }
    let elsewhere: BTreeSet<String> = store
        .scan::<StoredNotice>(Kind::Notice, b"")?
        .into_iter()
        .filter(|(_, n)| n.notice.others_count > 0)
        .map(|(_, n)| n.household)
        .collect();

    let mut out = Assessment {
        epoch,
        reference_date: reference.to_string(),
        households: Vec::new(),
        counts: AssessmentCounts::default(),
    };
    for (_, fam) in store.scan::<Family>(Kind::Family, b"")? {
        let id = format!("F:{}", fam.id);
        let members: Vec<MemberFacts> = fam
            .members
            .iter()
            .map(|cf| facts.get(cf).cloned().unwrap_or_default())
            .collect();
        let supported_here = fam.members.iter().any(|cf| supported.contains(cf));
        let supported_elsewhere = elsewhere.contains(&id);
        let h = judge(
            id,
            &members,
            supported_here,
            supported_elsewhere,
            rules,
            reference,
        );
        let counts = &mut out.counts;
        counts.assessed += 1;
        if h.indicator.is_none() {
            counts.insufficient_data += 1;
        }
        for e in &h.eligible {
            *counts.eligible.entry(e.clone()).or_default() += 1;
        }
        for f in &h.flags {
            *counts.critical.entry(f.clone()).or_default() += 1;
        }
        counts.latent_need += u64::from(h.latent_need);
        out.households.push(h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn adult(income: Option<f64>) -> MemberFacts {
        let mut m = MemberFacts {
            age: 40,
            ..Default::default()
        };
        if let Some(i) = income {
            m.incomes.insert(2025, i);
        }
        m
    }

    fn child() -> MemberFacts {
        MemberFacts {
            age: 8,
            ..Default::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn scale_table() {
        for (n, s) in [
            (1, 1.0),
            (2, 1.57),
            (3, 2.04),
            (4, 2.46),
            (5, 2.85),
            (6, 3.20),
            (7, 3.55),
        ] {
            assert!(close(base_scale(n), s), "{n}");
        }
    }

    #[test]
    fn indicator_branches() {
        // One adult, 9000 €: 9000 / 1.
        let i = indicator(&[adult(Some(9000.0))]).unwrap();
        assert!(close(i.value, 9000.0));
        // Couple with three minors: scale 2.85 + 0.2 (three minors) = 3.05.
        let i = indicator(&[
            adult(Some(10_000.0)),
            adult(Some(5_250.0)),
            child(),
            child(),
            child(),
        ])
        .unwrap();
        assert!(close(i.scale, 3.05));
        assert!(close(i.value, 15_250.0 / 3.05));
        // A disabled member adds 0.5.
        let mut d = adult(Some(12_000.0));
        d.disabled = true;
        let i = indicator(&[d]).unwrap();
        assert!(close(i.scale, 1.5));
        assert!(close(i.value, 8_000.0));
        // A second home: rendita 500 at 50% → 500 × 1.05 × 160 × 0.5 = 42 000; 20% counts.
        let mut p = adult(Some(1_000.0));
        p.other_properties.push((500.0, 50.0));
        let i = indicator(&[p]).unwrap();
        assert!(close(i.property, 42_000.0));
        assert!(close(i.value, 1_000.0 + 8_400.0));
        // Only the latest year counts.
        let mut m = adult(Some(1_000.0));
        m.incomes.insert(2024, 50_000.0);
        m.incomes.insert(2026, 2_000.0);
        let i = indicator(&[m, adult(Some(3_000.0))]).unwrap();
        assert_eq!(i.income_year, Some(2026));
        assert!(close(i.income, 2_000.0));
        // No adult with an income row: insufficient data (a minor's income does not count).
        let mut c = child();
        c.incomes.insert(2025, 100.0);
        assert!(indicator(&[adult(None), c]).is_none());
    }

    #[test]
    fn ages_and_reference_date() {
        assert_eq!(age_on(date!(2000 - 12 - 31), date!(2026 - 12 - 30)), 25);
        assert_eq!(age_on(date!(2000 - 12 - 31), date!(2026 - 12 - 31)), 26);
        assert_eq!(
            reference_date(2026, date!(2026 - 11 - 29)),
            date!(2026 - 11 - 29)
        );
        assert_eq!(
            reference_date(2025, date!(2026 - 11 - 29)),
            date!(2025 - 12 - 31)
        );
    }
}
