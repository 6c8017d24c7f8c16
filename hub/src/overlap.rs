//! The overlap engine: household records of every member in one epoch, indexed by person
//! fingerprint. Pure data structures, no I/O; the service applies acknowledged batches to it and
//! the store replays them at start.
//!
//! Two records of different members *overlap* when they share a person fingerprint. The person
//! index is maintained incrementally on every add and remove; per-household answers
//! (`notices_for`) look only at a record's neighbours, and the region-wide summary is recomputed
//! lazily (union-find over records) only when something changed since the last one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use siso_shared::wire::{HouseholdRecord, InterventionSummary, OtherSupport, OverlapNotice};
use siso_shared::{Fingerprint, MemberId, Role};

/// Interned member index.
pub type MemberIx = u32;
type Slot = u32;

#[derive(Debug, Clone)]
struct Rec {
    member: MemberIx,
    key: Fingerprint,
    persons: Vec<Fingerprint>,
    interventions: Vec<InterventionSummary>,
    latent_need: bool,
    non_resident: bool,
}

impl Rec {
    fn supported(&self) -> bool {
        !self.interventions.is_empty()
    }
}

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
    /// Per group of linked records: members with a supported record in it, and (if it has double
    /// economic support) every member with a record in it.
    pub groups: Vec<(BTreeSet<MemberIx>, BTreeSet<MemberIx>)>,
    /// Supported records per member.
    pub supported_records: HashMap<MemberIx, u64>,
    /// Latent-need records linked to no supported record, per member.
    pub unsupported_need: HashMap<MemberIx, u64>,
}

/// All records of one epoch.
#[derive(Debug, Default)]
pub struct EpochState {
    slots: Vec<Option<Rec>>,
    free: Vec<Slot>,
    by_member: HashMap<MemberIx, HashMap<Fingerprint, Slot>>,
    by_person: HashMap<Fingerprint, Vec<Slot>>,
    summary: Option<Summary>,
}

/// Member interning shared by every epoch.
#[derive(Debug, Default)]
pub struct Members {
    ids: Vec<MemberId>,
    index: HashMap<MemberId, MemberIx>,
}

impl Members {
    /// The index of a member, interning it on first sight.
    pub fn intern(&mut self, m: &MemberId) -> MemberIx {
        if let Some(&i) = self.index.get(m) {
            return i;
        }
        let i = self.ids.len() as MemberIx;
        self.ids.push(m.clone());
        self.index.insert(m.clone(), i);
        i
    }

    /// The index of a known member.
    pub fn get(&self, m: &MemberId) -> Option<MemberIx> {
        self.index.get(m).copied()
    }

    /// The member of an index.
    pub fn id(&self, i: MemberIx) -> &MemberId {
        &self.ids[i as usize]
    }

    /// Every member seen, with its index.
    pub fn all(&self) -> impl Iterator<Item = (MemberIx, &MemberId)> {
        self.ids.iter().enumerate().map(|(i, m)| (i as MemberIx, m))
    }
}

fn economic_conflict<'a>(records: impl Iterator<Item = &'a Rec> + Clone) -> bool {
    let econ: Vec<(MemberIx, &InterventionSummary)> = records
        .flat_map(|r| {
            r.interventions
                .iter()
                .filter(|i| i.kind.is_economic())
                .map(move |i| (r.member, i))
        })
        .collect();
    for (x, (ma, a)) in econ.iter().enumerate() {
        for (mb, b) in &econ[x + 1..] {
            if ma != mb && a.overlaps_in_time(b) {
                return true;
            }
        }
    }
    false
}

impl EpochState {
    fn rec(&self, s: Slot) -> Option<&Rec> {
        self.slots.get(s as usize).and_then(Option::as_ref)
    }

    /// Number of records of a member.
    pub fn member_records(&self, m: MemberIx) -> usize {
        self.by_member.get(&m).map_or(0, HashMap::len)
    }

    /// Total records.
    pub fn records(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The records of a member, as submitted (for compaction).
    pub fn member_set(&self, m: MemberIx) -> Vec<HouseholdRecord> {
        let mut out: Vec<HouseholdRecord> = self
            .by_member
            .get(&m)
            .into_iter()
            .flat_map(|h| h.values())
            .filter_map(|&s| self.rec(s))
            .map(|r| HouseholdRecord {
                key: r.key,
                persons: r.persons.clone(),
                interventions: r.interventions.clone(),
                flags: siso_shared::wire::RecordFlags {
                    latent_need: r.latent_need,
                    non_resident: r.non_resident,
                },
            })
            .collect();
        out.sort_by_key(|r| r.key);
        out
    }

    /// Adds or replaces a member's record (by household key).
    pub fn upsert(&mut self, m: MemberIx, r: &HouseholdRecord) {
        self.remove(m, &r.key);
        let mut persons = r.persons.clone();
        persons.sort();
        persons.dedup();
        let rec = Rec {
            member: m,
            key: r.key,
            persons,
            interventions: r.interventions.clone(),
            latent_need: r.flags.latent_need,
            non_resident: r.flags.non_resident,
        };
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as Slot
            }
        };
        for p in &rec.persons {
            self.by_person.entry(*p).or_default().push(slot);
        }
        self.by_member.entry(m).or_default().insert(rec.key, slot);
        self.slots[slot as usize] = Some(rec);
        self.summary = None;
    }

    /// Removes a member's record; true if it existed.
    pub fn remove(&mut self, m: MemberIx, key: &Fingerprint) -> bool {
        let Some(slot) = self.by_member.get_mut(&m).and_then(|h| h.remove(key)) else {
            return false;
        };
        if let Some(rec) = self.slots.get_mut(slot as usize).and_then(Option::take) {
            for p in &rec.persons {
                if let Some(v) = self.by_person.get_mut(p) {
                    v.retain(|&s| s != slot);
                    if v.is_empty() {
                        self.by_person.remove(p);
                    }
                }
            }
        }
        self.free.push(slot);
        self.summary = None;
        true
    }

    /// Removes every record of a member (before a snapshot).
    pub fn clear_member(&mut self, m: MemberIx) {
        let keys: Vec<Fingerprint> = self
            .by_member
            .get(&m)
            .map(|h| h.keys().copied().collect())
            .unwrap_or_default();
        for k in keys {
            self.remove(m, &k);
        }
    }

    fn neighbours(&self, slot: Slot) -> BTreeSet<Slot> {
        let mut out = BTreeSet::new();
        if let Some(r) = self.rec(slot) {
            for p in &r.persons {
                for &s in self.by_person.get(p).into_iter().flatten() {
                    if s != slot {
                        out.insert(s);
                    }
                }
            }
        }
        out
    }

    /// The overlap notices of one member's households: one per household linked to a record of
    /// another member, with double economic support, or an unsupported need. `names_visible`
    /// false (third-sector callers) leaves `others` empty: only the count is told.
    pub fn notices_for(
        &self,
        m: MemberIx,
        members: &Members,
        names_visible: bool,
    ) -> Vec<OverlapNotice> {
        let mut out = Vec::new();
        let Some(own) = self.by_member.get(&m) else {
            return out;
        };
        for (&key, &slot) in own {
            let Some(rec) = self.rec(slot) else { continue };
            let neigh = self.neighbours(slot);
            let linked: Vec<&Rec> = neigh.iter().filter_map(|&s| self.rec(s)).collect();
            let mut supporters: BTreeMap<MemberIx, BTreeSet<siso_shared::TipoIntervento>> =
                BTreeMap::new();
            for l in linked.iter().filter(|l| l.member != m && l.supported()) {
                supporters
                    .entry(l.member)
                    .or_default()
                    .extend(l.interventions.iter().map(|i| i.kind));
            }
            let des = economic_conflict(std::iter::once(rec).chain(linked.iter().copied()));
            let unsupported = rec.latent_need && !linked.iter().any(|l| l.supported());
            if supporters.is_empty() && !des && !unsupported {
                continue;
            }
            let others = if names_visible {
                let mut v: Vec<OtherSupport> = supporters
                    .iter()
                    .map(|(&ix, kinds)| {
                        let id = members.id(ix);
                        OtherSupport {
                            member: id.clone(),
                            role: id.role(),
                            zona: id.zona(),
                            kinds: kinds.iter().copied().collect(),
                        }
                    })
                    .collect();
                v.sort_by(|a, b| a.member.cmp(&b.member));
                v
            } else {
                Vec::new()
            };
            out.push(OverlapNotice {
                household: key,
                others_count: supporters.len() as u32,
                others,
                double_economic_support: des,
                unsupported_need: unsupported,
            });
        }
        out.sort_by_key(|n| n.household);
        out
    }

    /// The region-wide summary (cached until the next change).
    pub fn summary(&mut self, members: &Members) -> Summary {
        if let Some(s) = &self.summary {
            return s.clone();
        }
        let s = self.compute_summary(members);
        self.summary = Some(s.clone());
        s
    }

    /// Groups of records linked (directly or through other records) by shared persons.
    fn groups(&self) -> Vec<Vec<Slot>> {
        let n = self.slots.len();
        // Union-find over slots linked by a shared person.
        let mut parent: Vec<Slot> = (0..n as Slot).collect();
        fn find(p: &mut [Slot], mut x: Slot) -> Slot {
            while p[x as usize] != x {
                let next = p[p[x as usize] as usize];
                p[x as usize] = next;
                x = next;
            }
            x
        }
        for slots in self.by_person.values() {
            if let Some((&first, rest)) = slots.split_first() {
                for &s in rest {
                    let (a, b) = (find(&mut parent, first), find(&mut parent, s));
                    if a != b {
                        parent[a as usize] = b;
                    }
                }
            }
        }
        let mut groups: HashMap<Slot, Vec<Slot>> = HashMap::new();
        for s in 0..n as Slot {
            if self.rec(s).is_some() {
                let root = find(&mut parent, s);
                groups.entry(root).or_default().push(s);
            }
        }
        groups.into_values().collect()
    }

    /// Facts for the statistics: per group of linked records, the members supporting it and
    /// whether it has double economic support; per member, its supported records and its
    /// unsupported latent needs.
    pub fn unit_facts(&self) -> UnitFacts {
        let mut f = UnitFacts::default();
        for g in self.groups() {
            let recs: Vec<&Rec> = g.iter().filter_map(|&s| self.rec(s)).collect();
            let supporters: BTreeSet<MemberIx> = recs
                .iter()
                .filter(|r| r.supported())
                .map(|r| r.member)
                .collect();
            let des = economic_conflict(recs.iter().copied());
            let des_members: BTreeSet<MemberIx> = if des {
                recs.iter().map(|r| r.member).collect()
            } else {
                BTreeSet::new()
            };
            f.groups.push((supporters, des_members));
        }
        for slot in 0..self.slots.len() as Slot {
            let Some(rec) = self.rec(slot) else { continue };
            if rec.supported() {
                *f.supported_records.entry(rec.member).or_default() += 1;
            }
            if rec.latent_need
                && !self
                    .neighbours(slot)
                    .iter()
                    .filter_map(|&s| self.rec(s))
                    .any(Rec::supported)
            {
                *f.unsupported_need.entry(rec.member).or_default() += 1;
            }
        }
        f
    }

    fn compute_summary(&self, members: &Members) -> Summary {
        let n = self.slots.len();
        let groups = self.groups();
        let mut sum = Summary::default();
        let mut pairs: BTreeMap<(MemberIx, MemberIx), u64> = BTreeMap::new();
        let mut zona: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
        for slot in 0..n as Slot {
            let Some(rec) = self.rec(slot) else { continue };
            sum.records += 1;
            let neigh = self.neighbours(slot);
            if rec.supported() {
                sum.supported_records += 1;
                let me = members.id(rec.member);
                let others: BTreeSet<MemberIx> = neigh
                    .iter()
                    .filter_map(|&s| self.rec(s))
                    .filter(|l| l.member != rec.member && l.supported())
                    .map(|l| l.member)
                    .collect();
                for o in others {
                    if me < members.id(o) {
                        *pairs.entry((rec.member, o)).or_default() += 1;
                    }
                }
            }
            if rec.latent_need
                && !neigh
                    .iter()
                    .filter_map(|&s| self.rec(s))
                    .any(Rec::supported)
            {
                sum.unsupported_need += 1;
                if let Some(z) = members.id(rec.member).zona() {
                    zona.entry(z).or_default().0 += 1;
                }
            }
        }
        for slots in &groups {
            let recs = slots.iter().filter_map(|&s| self.rec(s));
            if recs.clone().any(Rec::supported) {
                sum.supported_distinct += 1;
            }
            let supporters: BTreeSet<MemberIx> = recs
                .clone()
                .filter(|r| r.supported())
                .map(|r| r.member)
                .collect();
            if supporters.len() >= 2 {
                sum.overlap_groups += 1;
            }
            if economic_conflict(recs.clone()) {
                sum.double_economic_support += 1;
                let zones: BTreeSet<u8> =
                    recs.filter_map(|r| members.id(r.member).zona()).collect();
                for z in zones {
                    zona.entry(z).or_default().1 += 1;
                }
            }
        }
        let mut pv: Vec<(MemberId, MemberId, u64)> = pairs
            .into_iter()
            .map(|((a, b), c)| (members.id(a).clone(), members.id(b).clone(), c))
            .collect();
        pv.sort();
        sum.pairs = pv;
        sum.by_zona = zona.into_iter().map(|(z, (u, d))| (z, u, d)).collect();
        sum
    }

    /// The role a member index has (for callers that hold only the index).
    pub fn role_of(members: &Members, m: MemberIx) -> Role {
        members.id(m).role()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use siso_shared::wire::RecordFlags;
    use siso_shared::TipoIntervento;
    use time::macros::date;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint([n; 32])
    }

    fn rec(
        key: u8,
        persons: &[u8],
        iv: &[(TipoIntervento, time::Date, Option<time::Date>)],
        latent: bool,
    ) -> HouseholdRecord {
        HouseholdRecord {
            key: fp(key),
            persons: persons.iter().map(|&p| fp(p)).collect(),
            interventions: iv
                .iter()
                .map(|&(kind, start, end)| InterventionSummary { kind, start, end })
                .collect(),
            flags: RecordFlags {
                latent_need: latent,
                non_resident: false,
            },
        }
    }

    #[test]
    fn links_through_one_person_and_unlinks_on_removal() {
        let mut members = Members::default();
        let a = members.intern(&"054039".parse().unwrap());
        let e = members.intern(&"ets-caritas-perugia".parse().unwrap());
        let mut st = EpochState::default();
        let food = [(TipoIntervento::PaccoAlimentare, date!(2026 - 01 - 01), None)];
        // The Comune supports the head (1) of household {1,2}; the ETS the spouse (2) alone.
        st.upsert(a, &rec(10, &[1, 2], &food, false));
        st.upsert(e, &rec(20, &[2], &food, false));
        let n = st.notices_for(a, &members, true);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].others_count, 1);
        assert_eq!(n[0].others[0].member.to_string(), "ets-caritas-perugia");
        // The ETS sees only a count.
        let n = st.notices_for(e, &members, false);
        assert_eq!(n[0].others_count, 1);
        assert!(n[0].others.is_empty());
        let s = st.summary(&members);
        assert_eq!(s.pairs.len(), 1);
        assert_eq!(s.pairs[0].2, 1);
        assert_eq!(s.supported_distinct, 1);
        assert_eq!(s.supported_records, 2);
        assert!(st.remove(e, &fp(20)));
        assert!(st.notices_for(a, &members, true).is_empty());
        assert!(st.summary(&members).pairs.is_empty());
    }

    #[test]
    fn double_economic_support_needs_overlapping_periods() {
        let mut members = Members::default();
        let a = members.intern(&"054039".parse().unwrap());
        let b = members.intern(&"055032".parse().unwrap());
        let mut st = EpochState::default();
        let jan_jun = [(
            TipoIntervento::ContributoEconomico,
            date!(2026 - 01 - 01),
            Some(date!(2026 - 06 - 30)),
        )];
        let jul_dec = [(
            TipoIntervento::SostegnoAffitto,
            date!(2026 - 07 - 01),
            Some(date!(2026 - 12 - 31)),
        )];
        let may = [(
            TipoIntervento::BuoniSpesa,
            date!(2026 - 05 - 01),
            Some(date!(2026 - 05 - 31)),
        )];
        st.upsert(a, &rec(1, &[1, 2], &jan_jun, false));
        st.upsert(b, &rec(2, &[2, 3], &jul_dec, false));
        assert_eq!(st.summary(&members).double_economic_support, 0);
        assert!(!st.notices_for(a, &members, true)[0].double_economic_support);
        st.upsert(b, &rec(2, &[2, 3], &may, false));
        let s = st.summary(&members);
        assert_eq!(s.double_economic_support, 1);
        assert_eq!(s.by_zona, vec![(2, 0, 1), (10, 0, 1)]);
        assert!(st.notices_for(a, &members, true)[0].double_economic_support);
        // Non-economic kinds never make double economic support.
        let meals = [(TipoIntervento::Mensa, date!(2026 - 05 - 01), None)];
        st.upsert(b, &rec(2, &[2, 3], &meals, false));
        assert_eq!(st.summary(&members).double_economic_support, 0);
    }

    #[test]
    fn unsupported_need() {
        let mut members = Members::default();
        let a = members.intern(&"054039".parse().unwrap());
        let e = members.intern(&"ets-banco-alimentare-umbria".parse().unwrap());
        let mut st = EpochState::default();
        st.upsert(a, &rec(1, &[1, 2], &[], true));
        let n = st.notices_for(a, &members, true);
        assert!(n[0].unsupported_need);
        assert_eq!(st.summary(&members).unsupported_need, 1);
        // A latent need with no intervention supports nothing: it never appears as an "other".
        st.upsert(e, &rec(5, &[2], &[], true));
        assert_eq!(st.notices_for(e, &members, false)[0].others_count, 0);
        assert_eq!(st.summary(&members).unsupported_need, 2);
        // Once the ETS supports the spouse, neither need is unsupported.
        let food = [(TipoIntervento::PaccoAlimentare, date!(2026 - 02 - 01), None)];
        st.upsert(e, &rec(5, &[2], &food, false));
        let n = st.notices_for(a, &members, true);
        assert!(!n[0].unsupported_need);
        assert_eq!(n[0].others_count, 1);
        assert_eq!(st.summary(&members).unsupported_need, 0);
    }

    #[test]
    fn snapshot_clear_and_slot_reuse() {
        let mut members = Members::default();
        let a = members.intern(&"054039".parse().unwrap());
        let mut st = EpochState::default();
        for k in 0..10 {
            st.upsert(a, &rec(k, &[k, k + 100], &[], false));
        }
        assert_eq!(st.records(), 10);
        st.clear_member(a);
        assert_eq!(st.records(), 0);
        assert!(st.by_person.is_empty());
        st.upsert(a, &rec(1, &[1], &[], false));
        assert_eq!(st.records(), 1);
        assert_eq!(st.slots.len(), 10);
        assert_eq!(st.member_set(a).len(), 1);
    }
}
