//! What the groups add up to: the region-wide [`Summary`] as a sum of per-group contributions
//! (kept in running totals, recounted only for dirty groups), and the per-unit facts the
//! statistics are built from ([`UnitFacts`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use siso_shared::{Fingerprint, MemberId};

use super::{EpochState, MemberIx, Members, Rec, Slot};

/// The region-wide overlap summary of an epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// (a, b, households) with a < b by member id: supported records of `a` linked to a
    /// supported record of `b`.
    pub pairs: Vec<(MemberId, MemberId, u64)>,
    /// Groups of linked records holding economic supports of two different members with
    /// overlapping periods.
    pub double_economic_support: u64,
    /// Latent-need records linked to no supported record.
    pub unsupported_need: u64,
    /// Per zona sociale (Comuni of Umbria): (zona, unsupported needs, double economic support
    /// groups touching a Comune of the zona).
    pub by_zona: Vec<(u8, u64, u64)>,
    /// Records stored.
    pub records: u64,
    /// Supported records.
    pub supported_records: u64,
    /// Distinct supported households: groups of linked records with at least one supported
    /// record, each counted once.
    pub supported_distinct: u64,
    /// Groups of linked records supported by two or more members (one household, several
    /// entities).
    pub overlap_groups: u64,
}

/// See [`EpochState::unit_facts`].
#[derive(Debug, Clone, Default)]
pub struct UnitFacts {
    /// Groups of linked records by signature: (members with a supported record in the group,
    /// and — if it has double economic support — every member with a record in it; both
    /// sorted) → how many groups have that signature. Groups with neither are left out.
    pub groups: HashMap<(Vec<MemberIx>, Vec<MemberIx>), u64>,
    /// Supported records per member.
    pub supported_records: HashMap<MemberIx, u64>,
    /// Latent-need records linked to no supported record, per member.
    pub unsupported_need: HashMap<MemberIx, u64>,
    /// Groups with a supported record by the areas each member supports them in: (member, bit
    /// set of `AreaBisogno` positions), sorted by member → how many groups.
    pub areas: HashMap<Vec<(MemberIx, u16)>, u64>,
}

/// The bit of an area in [`UnitFacts::areas`].
fn area_bit(a: siso_shared::AreaBisogno) -> u16 {
    let i = siso_shared::AreaBisogno::ALL
        .iter()
        .position(|x| *x == a)
        .unwrap_or(0);
    1 << i
}

/// A record's areas as bits.
fn area_bits(r: &Rec) -> u16 {
    r.interventions.iter().fold(0, |m, i| m | area_bit(i.area))
}

/// True if economic interventions of two different members overlap in time. A sweep over the
/// periods sorted by start, keeping the latest end seen and the latest end of any other member:
/// O(n log n) even for a very large group. Periods ending before they start overlap nothing
/// (the hub refuses them at ingest).
pub(super) fn economic_conflict<'a>(records: impl Iterator<Item = &'a Rec>) -> bool {
    let mut econ: Vec<(time::Date, time::Date, MemberIx)> = records
        .flat_map(|r| {
            r.interventions
                .iter()
                .filter(|i| i.kind.is_economic())
                .map(move |i| (i.start, i.end.unwrap_or(time::Date::MAX), r.member))
        })
        .filter(|(s, e, _)| s <= e)
        .collect();
    if econ.len() < 2 {
        return false;
    }
    econ.sort_unstable();
    // (end, member) of the latest-ending period so far, and the latest end of any other member.
    let mut best: Option<(time::Date, MemberIx)> = None;
    let mut other: Option<time::Date> = None;
    for (start, end, m) in econ {
        let reach = match best {
            Some((e, bm)) if bm != m => Some(e),
            _ => other,
        };
        if reach.is_some_and(|e| e >= start) {
            return true;
        }
        match best {
            None => best = Some((end, m)),
            Some((e, bm)) if bm == m => best = Some((e.max(end), m)),
            Some((e, _)) => {
                if end > e {
                    other = Some(e);
                    best = Some((end, m));
                } else if other.is_none_or(|o| end > o) {
                    other = Some(end);
                }
            }
        }
    }
    false
}

/// The plain counts of a group's contribution, and of the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) records: u64,
    pub(super) supported_records: u64,
    pub(super) supported_distinct: u64,
    pub(super) overlap_groups: u64,
    pub(super) double_economic_support: u64,
    pub(super) unsupported_need: u64,
}

/// `t += v`, or `t -= v` (saturating).
fn op(t: &mut u64, v: u64, add: bool) {
    if add {
        *t += v;
    } else {
        *t = t.saturating_sub(v);
    }
}

impl Counts {
    fn apply(&mut self, c: &Counts, add: bool) {
        let mine = [
            &mut self.records,
            &mut self.supported_records,
            &mut self.supported_distinct,
            &mut self.overlap_groups,
            &mut self.double_economic_support,
            &mut self.unsupported_need,
        ];
        let theirs = [
            c.records,
            c.supported_records,
            c.supported_distinct,
            c.overlap_groups,
            c.double_economic_support,
            c.unsupported_need,
        ];
        for (t, v) in mine.into_iter().zip(theirs) {
            op(t, v, add);
        }
    }
}

/// What one group adds to the summary totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Contrib {
    pub(super) counts: Counts,
    pairs: Vec<((MemberIx, MemberIx), u64)>,
    /// (zona, unsupported needs, double economic support).
    zona: Vec<(u8, u64, u64)>,
}

/// Running totals: the sum of the counted groups' contributions.
#[derive(Debug, Clone, Default)]
pub(super) struct Totals {
    counts: Counts,
    pairs: HashMap<(MemberIx, MemberIx), u64>,
    zona: BTreeMap<u8, (u64, u64)>,
}

impl Totals {
    fn apply(&mut self, c: &Contrib, add: bool) {
        self.counts.apply(&c.counts, add);
        for &(k, v) in &c.pairs {
            let e = self.pairs.entry(k).or_default();
            op(e, v, add);
            if *e == 0 {
                self.pairs.remove(&k);
            }
        }
        for &(z, u, d) in &c.zona {
            let e = self.zona.entry(z).or_default();
            op(&mut e.0, u, add);
            op(&mut e.1, d, add);
            if *e == (0, 0) {
                self.zona.remove(&z);
            }
        }
    }
}

/// Per-record facts of a group (see [`EpochState::analyse`]).
struct RecordFacts {
    member: MemberIx,
    supported: bool,
    /// Latent need linked to no supported record.
    unsupported_need: bool,
    /// Other members with a supported record linked to this one (sorted, distinct).
    others: Vec<MemberIx>,
}

/// The contribution of a record alone in its group (kept in step with
/// [`EpochState::contribution`], which a test checks).
pub(super) fn singleton(r: &Rec, members: &Members) -> Contrib {
    let supported = u64::from(r.supported());
    let mut c = Contrib {
        counts: Counts {
            records: 1,
            supported_records: supported,
            supported_distinct: supported,
            ..Counts::default()
        },
        ..Contrib::default()
    };
    if r.latent_need {
        c.counts.unsupported_need = 1;
        if let Some(z) = members.zona(r.member) {
            c.zona.push((z, 1, 0));
        }
    }
    c
}

impl EpochState {
    /// Takes the group rooted at `r` out of the totals (before its membership changes).
    pub(super) fn uncount(&mut self, r: Slot, members: &Members) {
        if self.groups.is_dirty(r) {
            return;
        }
        let c = if self.groups.alone(r) {
            self.rec(r).map(|rec| singleton(rec, members))
        } else {
            self.contrib.remove(&r)
        };
        if let Some(c) = c {
            self.totals.apply(&c, false);
        }
        self.groups.mark_dirty(r);
    }

    /// Per-record facts of a group, and whether it has double economic support.
    fn analyse(&self, group: &[Slot]) -> (Vec<RecordFacts>, bool) {
        // Per person held by a supported record: how many supported records hold it, and their
        // members. Built once per group, so a person shared by many records costs its records
        // once, not once per pair.
        let mut per_person: HashMap<&Fingerprint, (u32, Vec<MemberIx>)> = HashMap::new();
        if group.len() > 1 {
            for r in group.iter().filter_map(|&s| self.rec(s)) {
                if r.supported() {
                    for p in r.persons.iter() {
                        let e = per_person.entry(p).or_default();
                        e.0 += 1;
                        e.1.push(r.member);
                    }
                }
            }
            for v in per_person.values_mut() {
                v.1.sort_unstable();
                v.1.dedup();
            }
        }
        let facts = group
            .iter()
            .filter_map(|&s| self.rec(s))
            .map(|r| {
                let own = u32::from(r.supported());
                let mut linked_support = false;
                let mut others: Vec<MemberIx> = Vec::new();
                for p in r.persons.iter() {
                    if let Some((n, ms)) = per_person.get(p) {
                        linked_support |= *n > own;
                        if r.supported() {
                            others.extend(ms.iter().filter(|&&o| o != r.member));
                        }
                    }
                }
                others.sort_unstable();
                others.dedup();
                RecordFacts {
                    member: r.member,
                    supported: r.supported(),
                    unsupported_need: r.latent_need && !linked_support,
                    others,
                }
            })
            .collect();
        let des = group.len() > 1 && economic_conflict(group.iter().filter_map(|&s| self.rec(s)));
        (facts, des)
    }

    /// What the group of `group`'s slots adds to the totals.
    pub(super) fn contribution(&self, group: &[Slot], members: &Members) -> Contrib {
        let (facts, des) = self.analyse(group);
        let mut c = Contrib::default();
        c.counts.records = facts.len() as u64;
        let mut pairs: BTreeMap<(MemberIx, MemberIx), u64> = BTreeMap::new();
        let mut zona: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
        let mut supporters: BTreeSet<MemberIx> = BTreeSet::new();
        for f in &facts {
            if f.supported {
                c.counts.supported_records += 1;
                supporters.insert(f.member);
                let me = members.id(f.member);
                for &o in &f.others {
                    if me < members.id(o) {
                        *pairs.entry((f.member, o)).or_default() += 1;
                    }
                }
            }
            if f.unsupported_need {
                c.counts.unsupported_need += 1;
                if let Some(z) = members.zona(f.member) {
                    zona.entry(z).or_default().0 += 1;
                }
            }
        }
        if !supporters.is_empty() {
            c.counts.supported_distinct = 1;
        }
        if supporters.len() >= 2 {
            c.counts.overlap_groups = 1;
        }
        if des {
            c.counts.double_economic_support = 1;
            let zones: BTreeSet<u8> = facts
                .iter()
                .filter_map(|f| members.zona(f.member))
                .collect();
            for z in zones {
                zona.entry(z).or_default().1 += 1;
            }
        }
        c.pairs = pairs.into_iter().collect();
        c.zona = zona.into_iter().map(|(z, (u, d))| (z, u, d)).collect();
        c
    }

    /// The region-wide summary. Recounts only the groups changed since the last call.
    pub fn summary(&mut self, members: &Members) -> Summary {
        for s in self.groups.take_dirty() {
            if !self.groups.clear_dirty(s) {
                continue;
            }
            if self.rec(s).is_none() || self.groups.find(s) != s {
                continue;
            }
            let c = if self.groups.alone(s) {
                match self.rec(s) {
                    Some(r) => singleton(r, members),
                    None => continue,
                }
            } else {
                let c = self.contribution(&self.groups.group_of(s), members);
                self.contrib.insert(s, c.clone());
                c
            };
            self.totals.apply(&c, true);
        }
        let t = &self.totals;
        let mut pairs: Vec<(MemberId, MemberId, u64)> = t
            .pairs
            .iter()
            .map(|(&(a, b), &n)| (members.id(a).clone(), members.id(b).clone(), n))
            .collect();
        pairs.sort();
        Summary {
            pairs,
            double_economic_support: t.counts.double_economic_support,
            unsupported_need: t.counts.unsupported_need,
            by_zona: t.zona.iter().map(|(&z, &(u, d))| (z, u, d)).collect(),
            records: t.counts.records,
            supported_records: t.counts.supported_records,
            supported_distinct: t.counts.supported_distinct,
            overlap_groups: t.counts.overlap_groups,
        }
    }

    /// Facts for the statistics: per group of linked records, the members supporting it and
    /// whether it has double economic support; per member, its supported records and its
    /// unsupported latent needs. A full pass (the statistics cache it per data version).
    pub fn unit_facts(&self) -> UnitFacts {
        let mut f = UnitFacts::default();
        for s in 0..self.slots.len() as Slot {
            if self.rec(s).is_none() || self.groups.root(s) != s {
                continue;
            }
            if self.groups.alone(s) {
                // Alone in its group: no analysis needed.
                let Some(r) = self.rec(s) else { continue };
                if r.supported() {
                    *f.supported_records.entry(r.member).or_default() += 1;
                    *f.groups.entry((vec![r.member], Vec::new())).or_default() += 1;
                    *f.areas.entry(vec![(r.member, area_bits(r))]).or_default() += 1;
                }
                if r.latent_need {
                    *f.unsupported_need.entry(r.member).or_default() += 1;
                }
                continue;
            }
            let slots = self.groups.group_of(s);
            let (facts, des) = self.analyse(&slots);
            let mut by_member: std::collections::BTreeMap<MemberIx, u16> =
                std::collections::BTreeMap::new();
            for r in slots.iter().filter_map(|&x| self.rec(x)) {
                if r.supported() {
                    *by_member.entry(r.member).or_default() |= area_bits(r);
                }
            }
            if !by_member.is_empty() {
                *f.areas.entry(by_member.into_iter().collect()).or_default() += 1;
            }
            let mut supporters = BTreeSet::new();
            let mut everyone = BTreeSet::new();
            for r in &facts {
                everyone.insert(r.member);
                if r.supported {
                    supporters.insert(r.member);
                    *f.supported_records.entry(r.member).or_default() += 1;
                }
                if r.unsupported_need {
                    *f.unsupported_need.entry(r.member).or_default() += 1;
                }
            }
            let des_members = if des { everyone } else { BTreeSet::new() };
            if !supporters.is_empty() || !des_members.is_empty() {
                *f.groups
                    .entry((
                        supporters.into_iter().collect(),
                        des_members.into_iter().collect(),
                    ))
                    .or_default() += 1;
            }
        }
        f
    }
}
