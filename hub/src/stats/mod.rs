//! Published statistics per Comune (and per third-sector entity), per zona sociale and for the
//! Region, by month and by dimension, through disclosure control.
//!
//! For an epoch the hub builds one *cube*: every unit (members, zone, Region) × period (epoch,
//! months) × group (total, each value of each dimension) × measure, from the members'
//! aggregates and from what only the hub knows (household records of all members). The whole
//! cube is suppressed at once ([`crate::disclosure`]) and cached until new data arrives; every
//! table the API, the dashboard or `StatsQuery` publishes is cut from it (`render.rs`).
//!
//! **Invariant:** `stats` never calls `service`: the service gathers the inputs of a cube (the
//! members' aggregates from the store, [`RecordFacts`] from the overlap engine) and hands them
//! over as plain data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use siso_shared::wire::{AggregateCell, Breakdown, Dimension, Measure};
use siso_shared::{AgeBand, AreaBisogno, HouseholdType, MemberId, Role, TipoIntervento};

use crate::disclosure;
use crate::overlap::{Members, UnitFacts};

mod render;
mod table;

use table::table_of;

pub use render::{level_name, rows, to_csv, to_json, units, Request, Row};

/// A unit of the territorial hierarchy.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Unit {
    /// A member (a Comune, or a third-sector entity reported as its own row).
    Member(MemberId),
    /// A zona sociale.
    Zona(u8),
    /// The Region.
    Region,
}

/// Measures computed by the hub from the household records of all members.
pub const HUB_MEASURES: [&str; 5] = [
    "households_supported_sum",
    "households_supported_distinct",
    "households_shared",
    "double_economic_support",
    "unsupported_need",
];

/// Measures summed over months (events and amounts); the others are distinct counts.
const ADDITIVE_OVER_MONTHS: [&str; 3] = ["accessi", "expenditure", "activity_minutes"];

/// Amounts (euro cents, minutes of activity, the staff's headcount), not counts of the persons
/// or households served: a withheld amount needs an interval `k` wide, and is withheld with the
/// count it follows. The number of a Comune's social workers is public (the LEPS staffing
/// indicator is published per zona), so it is never sensitive by itself.
const AMOUNTS: [&str; 3] = ["expenditure", "activity_minutes", "social_workers"];

/// Distinct counts whose units have exactly one group of each dimension they are broken down
/// by (a household in need counts under one area, an intervention has one kind and one area,
/// a request one area): the groups sum to the total.
const ONE_GROUP_EACH: [&str; 3] = ["households_in_need", "waiting_requests", "interventions"];

/// Measures the hub counts once per unit from the household records (never summed from the
/// members' figures): a zona's value only bounds its Comuni's.
const DISTINCT_AT_THE_HUB: [&str; 6] = [
    "households_supported_distinct",
    "households_shared",
    "double_economic_support",
    "integrated_households",
    "social_only_households",
    "health_only_households",
];

/// Social-health integration, once a health authority (`asl`) is a member: a unit's distinct
/// supported households split into those supported by both sides, by the social side only
/// (Comuni, third-sector entities) and by the health side only. They add up to
/// `households_supported_distinct` of the unit.
pub const INTEGRATION: [&str; 3] = [
    "integrated_households",
    "social_only_households",
    "health_only_households",
];

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
        Measure::OverlapNotices => "overlap_notices".into(),
        Measure::OverlapNoticesResolved => "overlap_notices_resolved".into(),
        Measure::HouseholdsInNeed => "households_in_need".into(),
        Measure::WaitingRequests => "waiting_requests".into(),
        Measure::Interventions => "interventions".into(),
        Measure::ActivityMinutes => "activity_minutes".into(),
        Measure::SocialWorkers => "social_workers".into(),
    }
}

/// The name of a dimension in the API.
pub fn dimension_name(d: Dimension) -> &'static str {
    match d {
        Dimension::AreaBisogno => "area_bisogno",
        Dimension::TipoIntervento => "tipo_intervento",
        Dimension::AgeBand => "age_band",
        Dimension::HouseholdType => "household_type",
    }
}

/// Parses a dimension name.
pub fn parse_dimension(s: &str) -> Option<Dimension> {
    [
        Dimension::AreaBisogno,
        Dimension::TipoIntervento,
        Dimension::AgeBand,
        Dimension::HouseholdType,
    ]
    .into_iter()
    .find(|d| dimension_name(*d) == s)
}

fn group_of(b: &Breakdown) -> Option<(Dimension, String)> {
    match b {
        Breakdown::Total => None,
        Breakdown::Area(a) => Some((Dimension::AreaBisogno, a.to_string())),
        Breakdown::Tipo(t) => Some((Dimension::TipoIntervento, t.to_string())),
        Breakdown::AgeBand(a) => Some((Dimension::AgeBand, a.to_string())),
        Breakdown::HouseholdType(h) => Some((Dimension::HouseholdType, h.to_string())),
    }
}

pub(crate) fn dimension_values(d: Dimension) -> Vec<String> {
    match d {
        Dimension::AreaBisogno => AreaBisogno::ALL.iter().map(|x| x.to_string()).collect(),
        Dimension::TipoIntervento => TipoIntervento::ALL.iter().map(|x| x.to_string()).collect(),
        Dimension::AgeBand => AgeBand::ALL.iter().map(|x| x.to_string()).collect(),
        Dimension::HouseholdType => HouseholdType::ALL.iter().map(|x| x.to_string()).collect(),
    }
}

/// A group of a dimension (`None`: the unit's total).
pub type Group = Option<(Dimension, String)>;
/// A cell: unit, month (0 = the whole epoch), group, measure.
pub type CellKey = (Unit, u8, Group, String);

/// The suppressed cube of one epoch.
#[derive(Debug, Clone)]
pub struct Cube {
    cells: HashMap<CellKey, (i64, bool)>,
    /// The Comuni and entities with data, in id order.
    pub members: Vec<MemberId>,
    /// Measure names present.
    pub measures: BTreeSet<String>,
    /// The k used.
    pub k: u32,
    /// Every cell's key, in the table's order.
    keys: Vec<CellKey>,
    /// The cells and their relations.
    pub table: disclosure::Table,
    /// The suppression published, and what it cost.
    pub protection: disclosure::Protection,
    /// Counts that changed by fewer than `k` since the previous release, protected as a
    /// revision (0 for a first release).
    pub changes: usize,
}

impl Cube {
    /// Every cell's key, in the table's order.
    pub fn keys(&self) -> &[CellKey] {
        &self.keys
    }

    /// A stored release's cube: its cells' keys and true values (in key order), its
    /// suppression, why each cell is withheld and what its audit proved.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        k: u32,
        cells: Vec<(CellKey, i64)>,
        suppressed: Vec<bool>,
        reasons: Vec<Option<disclosure::Reason>>,
        intervals: Vec<Option<disclosure::Interval>>,
        members: Vec<MemberId>,
        measures: BTreeSet<String>,
        changes: usize,
    ) -> Result<Cube, disclosure::AuditError> {
        let n = cells.len();
        if suppressed.len() != n || reasons.len() != n || intervals.len() != n {
            return Err(disclosure::AuditError::Malformed(format!(
                "{n} cells, {} suppression flags, {} reasons, {} intervals",
                suppressed.len(),
                reasons.len(),
                intervals.len()
            )));
        }
        let order: Vec<CellKey> = cells.iter().map(|(k, _)| k.clone()).collect();
        let (keys, mut table) = table_of(k, cells.into_iter().collect());
        // A revision's small changes stay sensitive (the next revision must keep them
        // protected).
        table.marked = marks(&reasons);
        if keys != order {
            return Err(disclosure::AuditError::Malformed(
                "cells not in key order, or named twice".into(),
            ));
        }
        table.check()?;
        let suppression = disclosure::Suppression { suppressed };
        let protection = disclosure::published(&table, suppression, reasons, intervals);
        Ok(Cube {
            cells: cells_of(&keys, &table, &protection),
            members,
            measures,
            k,
            keys,
            table,
            protection,
            changes,
        })
    }

    /// A published value: `Some(None)` if suppressed, `None` if absent.
    pub fn get(&self, unit: &Unit, month: u8, group: &Group, measure: &str) -> Option<Option<i64>> {
        self.cells
            .get(&(unit.clone(), month, group.clone(), measure.to_owned()))
            .map(|&(v, s)| if s { None } else { Some(v) })
    }
}

fn units_of(m: &MemberId) -> Vec<Unit> {
    let mut u = vec![Unit::Member(m.clone())];
    if let Some(z) = m.zona() {
        u.push(Unit::Zona(z));
    }
    u.push(Unit::Region);
    u
}

/// What only the hub knows about an epoch, from the household records of every member, with
/// member ids resolved (plain data, taken under the state lock and used after it is released).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFacts {
    /// Every member known to the hub, regional analysts left out: (member, supported records,
    /// latent-need records linked to no supported record).
    pub members: Vec<(MemberId, u64, u64)>,
    /// Groups of linked records by signature: (members supporting the group, members of a group
    /// with double economic support, how many groups).
    pub groups: Vec<(Vec<MemberId>, Vec<MemberId>, u64)>,
    /// Supported groups by the areas each member supports them in: ((member, bit set of
    /// `AreaBisogno` positions), how many groups).
    pub areas: Vec<(Vec<(MemberId, u16)>, u64)>,
}

impl RecordFacts {
    /// Resolves the overlap engine's facts of an epoch against the member table.
    pub fn of(members: &Members, facts: &UnitFacts) -> RecordFacts {
        let ids = |ixs: &[crate::overlap::MemberIx]| -> Vec<MemberId> {
            ixs.iter().map(|&m| members.id(m).clone()).collect()
        };
        RecordFacts {
            members: members
                .all()
                .filter(|(_, m)| m.role() != Role::Region)
                .map(|(ix, m)| {
                    (
                        m.clone(),
                        facts.supported_records.get(&ix).copied().unwrap_or(0),
                        facts.unsupported_need.get(&ix).copied().unwrap_or(0),
                    )
                })
                .collect(),
            groups: facts
                .groups
                .iter()
                .map(|((supporters, des), &n)| (ids(supporters), ids(des), n))
                .collect(),
            areas: facts
                .areas
                .iter()
                .map(|(sig, &n)| {
                    (
                        sig.iter()
                            .map(|&(m, a)| (members.id(m).clone(), a))
                            .collect(),
                        n,
                    )
                })
                .collect(),
        }
    }
}

/// An epoch's figures before disclosure control: every cell's true value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    values: BTreeMap<CellKey, i64>,
    members: BTreeSet<MemberId>,
    measures: BTreeSet<String>,
}

impl Figures {
    /// The figures of an epoch from the members' aggregates `(member, month, cells)` and, if
    /// the epoch has records, what the hub knows from them.
    pub fn of(
        aggregates: Vec<(MemberId, u8, Vec<AggregateCell>)>,
        records: Option<&RecordFacts>,
    ) -> Figures {
        let mut values: BTreeMap<CellKey, i64> = BTreeMap::new();
        let mut members: BTreeSet<MemberId> = BTreeSet::new();
        let mut measures: BTreeSet<String> = BTreeSet::new();
        for (member, month, cells) in aggregates {
            if member.role() == Role::Region {
                continue;
            }
            members.insert(member.clone());
            for c in cells {
                let name = measure_name(&c.measure);
                measures.insert(name.clone());
                let g = group_of(&c.breakdown);
                for u in units_of(&member) {
                    *values
                        .entry((u, month, g.clone(), name.clone()))
                        .or_default() += c.value;
                }
            }
        }
        // What only the hub knows.
        if let Some(f) = records {
            // Distinct households by area: a group counts once in an area for every unit with a
            // member that supports it in that area.
            for (sig, n) in &f.areas {
                for (bit, area) in AreaBisogno::ALL.iter().enumerate() {
                    let units: BTreeSet<Unit> = sig
                        .iter()
                        .filter(|(_, a)| a & (1 << bit) != 0)
                        .flat_map(|(m, _)| units_of(m))
                        .collect();
                    for u in units {
                        *values
                            .entry((
                                u,
                                0,
                                Some((Dimension::AreaBisogno, area.to_string())),
                                "households_supported_distinct".to_owned(),
                            ))
                            .or_default() += *n as i64;
                    }
                }
            }
            let mut add = |u: Unit, name: &str, v: i64| {
                *values.entry((u, 0, None, name.to_owned())).or_default() += v;
            };
            for (m, supported, unsupported) in &f.members {
                members.insert(m.clone());
                for u in units_of(m) {
                    add(u.clone(), "households_supported_sum", *supported as i64);
                    add(u, "unsupported_need", *unsupported as i64);
                }
            }
            let with_health = f.members.iter().any(|(m, _, _)| m.role() == Role::Asl);
            if with_health {
                for m in INTEGRATION {
                    measures.insert(m.to_owned());
                    add(Unit::Region, m, 0);
                }
            }
            // Distinct households and double economic support: a group counts once per unit
            // it touches, never summed from below.
            for (supporters, des_members, n) in &f.groups {
                if with_health {
                    let health = supporters.iter().any(|m| m.role() == Role::Asl);
                    let social = supporters
                        .iter()
                        .any(|m| matches!(m.role(), Role::Comune | Role::Ets));
                    let side = match (social, health) {
                        (true, true) => Some(INTEGRATION[0]),
                        (true, false) => Some(INTEGRATION[1]),
                        (false, true) => Some(INTEGRATION[2]),
                        (false, false) => None,
                    };
                    if let Some(side) = side {
                        let units: BTreeSet<Unit> = supporters.iter().flat_map(units_of).collect();
                        for u in units {
                            add(u, side, *n as i64);
                        }
                    }
                }
                let n = *n as i64;
                let su: BTreeSet<Unit> = supporters.iter().flat_map(units_of).collect();
                let shared = supporters.len() >= 2;
                for u in su {
                    if shared {
                        // Supported by this unit and by at least one other member, wherever
                        // that member is (another zona, a third-sector entity).
                        add(u.clone(), "households_shared", n);
                    }
                    add(u, "households_supported_distinct", n);
                }
                let du: BTreeSet<Unit> = des_members.iter().flat_map(units_of).collect();
                for u in du {
                    add(u, "double_economic_support", n);
                }
            }
        }
        for m in HUB_MEASURES
            .iter()
            .chain(["accessi", "latent_need", "expenditure"].iter())
        {
            measures.insert((*m).to_owned());
            values
                .entry((Unit::Region, 0, None, (*m).to_owned()))
                .or_insert(0);
        }
        Figures {
            values,
            members,
            measures,
        }
    }

    /// Only the cells of month `m` (a monthly release; the hub's own measures are counted over
    /// the whole epoch and are left out).
    pub fn month(mut self, m: u8) -> Figures {
        self.values.retain(|k, _| k.1 == m);
        self.measures = self.values.keys().map(|k| k.3.clone()).collect();
        self
    }

    /// Cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether these are exactly the figures `cube` was cut from.
    pub fn same_as(&self, cube: &Cube) -> bool {
        self.values.len() == cube.keys.len()
            && self
                .values
                .iter()
                .zip(cube.keys.iter().zip(&cube.table.values))
                .all(|((k, v), (ck, cv))| k == ck && v == cv)
    }

    /// No cells.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Builds and protects the cube of an epoch from the members' aggregates `(member, month,
/// cells)` and, if the epoch has records, what the hub knows from them.
pub fn build_cube(
    k: u32,
    method: disclosure::Method,
    aggregates: Vec<(MemberId, u8, Vec<AggregateCell>)>,
    records: Option<&RecordFacts>,
) -> Result<Cube, disclosure::AuditError> {
    protect(k, method, Figures::of(aggregates, records), None)
}

/// Protects `figures` by `method`. With the `previous` release of the same epoch, as a
/// revision ([`disclosure::joint`]): the attacker holds both, unchanged cells are linked and
/// changes by fewer than `k` are protected like small cells.
pub fn protect(
    k: u32,
    method: disclosure::Method,
    figures: Figures,
    previous: Option<&Cube>,
) -> Result<Cube, disclosure::AuditError> {
    let Figures {
        values,
        members,
        measures,
    } = figures;
    let (keys, table) = table_of(k, values);
    let joint = previous.map(|old| {
        let index: HashMap<&CellKey, usize> =
            keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
        let same: Vec<Option<usize>> = old.keys.iter().map(|k| index.get(k).copied()).collect();
        disclosure::joint(
            &table,
            &old.table,
            &old.protection.suppression.suppressed,
            &same,
        )
    });
    let changes = joint.as_ref().map_or(0, |j| j.changes);
    let unprotectable = |t: &disclosure::Table, e: disclosure::AuditError| {
        if let disclosure::AuditError::Unprotectable(c) = e {
            tracing::error!(cell = ?keys.get(c), value = t.values.get(c), "disclosure control: a cell cannot be protected");
        }
        e
    };
    let protection = match (method, &joint) {
        (disclosure::Method::Subtraction, _) => {
            table.check()?;
            disclosure::subtraction_only(&table)
        }
        (disclosure::Method::Audited, None) => {
            disclosure::protect(&table).map_err(|e| unprotectable(&table, e))?
        }
        (disclosure::Method::Audited, Some(j)) => {
            let p = disclosure::protect(&j.table).map_err(|e| unprotectable(&j.table, e))?;
            restrict(&table, p, j.new)
        }
    };
    let mut table = table;
    // A revision's small changes are sensitive in the release's own table too (as when it is
    // restored from the store), so its checks and the next revision protect them.
    table.marked = marks(&protection.reasons);
    Ok(Cube {
        cells: cells_of(&keys, &table, &protection),
        members: members.into_iter().collect(),
        measures,
        k,
        keys,
        table,
        protection,
        changes,
    })
}

/// Which cells are a revision's small changes ([`disclosure::Table::marked`]; empty if none).
fn marks(reasons: &[Option<disclosure::Reason>]) -> Vec<bool> {
    if !reasons.contains(&Some(disclosure::Reason::Change)) {
        return Vec::new();
    }
    reasons
        .iter()
        .map(|r| *r == Some(disclosure::Reason::Change))
        .collect()
}

/// Every cell's key with its true value and whether it is withheld, for lookups.
fn cells_of(
    keys: &[CellKey],
    table: &disclosure::Table,
    protection: &disclosure::Protection,
) -> HashMap<CellKey, (i64, bool)> {
    keys.iter()
        .cloned()
        .zip(table.values.iter().copied())
        .zip(protection.suppression.suppressed.iter().copied())
        .map(|((k, v), s)| (k, (v, s)))
        .collect()
}

/// The protection of a joint table's first `n` cells (the new release's), with its costs
/// counted on the new release's `table` alone.
fn restrict(
    table: &disclosure::Table,
    p: disclosure::Protection,
    n: usize,
) -> disclosure::Protection {
    let cut = |v: &[bool]| disclosure::Suppression {
        suppressed: v.iter().take(n).copied().collect(),
    };
    let s = cut(&p.suppression.suppressed);
    let base = cut(&p
        .reasons
        .iter()
        .map(|r| {
            matches!(
                r,
                Some(
                    disclosure::Reason::Primary
                        | disclosure::Reason::Secondary
                        | disclosure::Reason::Change
                )
            )
        })
        .collect::<Vec<_>>());
    let audit = disclosure::Audit {
        intervals: p.intervals.iter().take(n).copied().collect(),
        components: p.components,
        largest: p.largest,
        solves: p.solves,
    };
    let reasons = p.reasons.iter().take(n).copied().collect();
    let mut q = disclosure::Protection::of(table, &base, s, Some(audit), p.rounds, p.solves);
    // Why each cell is withheld as the joint table says (a change cell is not small here).
    q.reasons = reasons;
    q
}

/// One suppressed cell of an audit report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditedCell {
    /// `comune:<id>`, `zona:<n>` or `region`.
    pub unit: String,
    /// 0 for the whole epoch.
    pub month: u8,
    /// `dimension=value`, or empty for the unit's total.
    pub group: String,
    /// The measure.
    pub measure: String,
    /// What an attacker can prove.
    pub interval: disclosure::Interval,
    /// Whether that is wide enough.
    pub protected: bool,
    /// Whether it must be (a small count, a small change, or an amount spent on either;
    /// [`disclosure::Table::sensitive`]): a complement need not be.
    pub sensitive: bool,
    /// Why it is withheld.
    pub reason: Option<disclosure::Reason>,
}

/// A cube's audit. [`disclosure::Mode::Sufficient`]: the intervals the protection loop proved
/// when the cube was cut — each spanned by feasible points of the attacker's program, so the
/// attacker's own interval is at least as wide. [`disclosure::Mode::Exact`]: every suppressed
/// cell's exact interval, solved anew (two programs per cell; slow on large components).
pub fn audit(
    cube: &Cube,
    mode: disclosure::Mode,
) -> Result<(disclosure::Audit, Vec<AuditedCell>), disclosure::AuditError> {
    let t = &cube.table;
    let a = match mode {
        disclosure::Mode::Exact => {
            disclosure::audit(t, &cube.protection.suppression.suppressed, mode)?
        }
        disclosure::Mode::Sufficient if cube.protection.rounds > 0 => disclosure::Audit {
            intervals: cube.protection.intervals.clone(),
            components: cube.protection.components,
            largest: cube.protection.largest,
            solves: 0,
        },
        // Not audited when cut: prove what can be proven; the rest is reported unprotected.
        disclosure::Mode::Sufficient => {
            disclosure::audit(t, &cube.protection.suppression.suppressed, mode)?
        }
    };
    let sensitive = t.sensitive();
    let cells = a
        .intervals
        .iter()
        .enumerate()
        .filter_map(|(i, iv)| iv.map(|iv| (i, iv)))
        .map(|(i, interval)| {
            let (unit, month, group, measure) = &cube.keys[i];
            AuditedCell {
                unit: match unit {
                    Unit::Member(m) => format!("comune:{m}"),
                    Unit::Zona(z) => format!("zona:{z}"),
                    Unit::Region => "region".into(),
                },
                month: *month,
                group: group
                    .as_ref()
                    .map(|(d, v)| format!("{}={v}", dimension_name(*d)))
                    .unwrap_or_default(),
                measure: measure.clone(),
                interval,
                protected: interval.protects(t.is_count(i), t.k),
                sensitive: sensitive[i],
                reason: cube.protection.reasons.get(i).copied().flatten(),
            }
        })
        .collect();
    Ok((a, cells))
}
