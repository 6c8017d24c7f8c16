//! The overlap engine: household records of every member in one epoch, indexed by person
//! fingerprint. Pure data structures, no I/O; the service applies acknowledged batches to it and
//! the store replays them at start.
//!
//! Two records of different members *overlap* when they share a person fingerprint; records
//! linked directly or through other records form a *group* (one household as several entities
//! see it). Everything is maintained incrementally so that a small change costs time in
//! proportion to the groups it touches, not to the epoch:
//! - the person index ([`index`]) maps a seeded 64-bit hash of a fingerprint to the record
//!   slots under it (one slot inline, more in an overflow list); the records keep the
//!   fingerprints, and a candidate slot counts only if its record really holds the person;
//! - groups ([`groups`]) are a union-find over record slots plus a circular list per group, so
//!   a group's records can be walked and two groups spliced in O(1);
//! - adding a record unions it with the records sharing its persons; removing records splits only
//!   the groups they were in (their survivors are re-linked from scratch);
//! - the region-wide [`Summary`] ([`summary`]) is a sum of per-group contributions. A group whose
//!   membership changes is taken out of the totals at once and marked dirty;
//!   [`EpochState::summary`] recounts only the dirty groups;
//! - [`notices`]: what each member is told about its own households.
//!
//! **Invariant:** `totals` equals the sum of the contributions of every group whose root is not
//! dirty; a group's contribution is a function of its records only, so a singleton's is
//! recomputed from its record and only groups of two or more records keep theirs in `contrib`.

mod groups;
mod index;
mod notices;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use siso_shared::wire::{HouseholdRecord, InterventionSummary};
use siso_shared::{Fingerprint, MemberId, Role};

use groups::Groups;
use index::{PersonIndex, MANY};
use summary::{Contrib, Totals};
pub use summary::{Summary, UnitFacts};

/// Interned member index.
pub type MemberIx = u32;
type Slot = u32;

/// The hash map of the large indices: foldhash, randomly seeded per map (fast on 32-byte keys,
/// and a member cannot choose fingerprints that collide without knowing the seed).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The most records one epoch can hold (slot numbers must stay below the person index's
/// overflow marker).
pub const MAX_RECORDS: usize = (MANY as usize) - 1;

#[derive(Debug, Clone)]
struct Rec {
    member: MemberIx,
    persons: Box<[Fingerprint]>,
    interventions: Box<[InterventionSummary]>,
    latent_need: bool,
    non_resident: bool,
}

impl Rec {
    fn supported(&self) -> bool {
        !self.interventions.is_empty()
    }
}

/// Member interning shared by every epoch.
#[derive(Debug, Default)]
pub struct Members {
    ids: Vec<MemberId>,
    zona: Vec<Option<u8>>,
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
        self.zona.push(m.zona());
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

    fn zona(&self, i: MemberIx) -> Option<u8> {
        self.zona.get(i as usize).copied().flatten()
    }

    /// Every member seen, with its index.
    pub fn all(&self) -> impl Iterator<Item = (MemberIx, &MemberId)> {
        self.ids.iter().enumerate().map(|(i, m)| (i as MemberIx, m))
    }
}

/// All records of one epoch.
#[derive(Debug, Default)]
pub struct EpochState {
    slots: Vec<Option<Rec>>,
    free: Vec<Slot>,
    by_member: HashMap<MemberIx, FastMap<Fingerprint, Slot>>,
    persons: PersonIndex,
    groups: Groups,
    /// Contributions of counted groups of two or more records, by root.
    contrib: HashMap<Slot, Contrib>,
    totals: Totals,
}

impl EpochState {
    fn rec(&self, s: Slot) -> Option<&Rec> {
        self.slots.get(s as usize).and_then(Option::as_ref)
    }

    /// Number of records of a member.
    pub fn member_records(&self, m: MemberIx) -> usize {
        self.by_member.get(&m).map_or(0, FastMap::len)
    }

    /// Total records.
    pub fn records(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether the member has a record with this household key.
    pub fn has(&self, m: MemberIx, key: &Fingerprint) -> bool {
        self.by_member.get(&m).is_some_and(|h| h.contains_key(key))
    }

    /// The records of a member, as submitted (for compaction), sorted by key.
    pub fn member_set(&self, m: MemberIx) -> Vec<HouseholdRecord> {
        let mut out: Vec<HouseholdRecord> = self
            .by_member
            .get(&m)
            .into_iter()
            .flatten()
            .filter_map(|(&key, &s)| self.rec(s).map(|r| (key, r)))
            .map(|(key, r)| HouseholdRecord {
                key,
                persons: r.persons.to_vec(),
                interventions: r.interventions.to_vec(),
                flags: siso_shared::wire::RecordFlags {
                    latent_need: r.latent_need,
                    non_resident: r.non_resident,
                },
            })
            .collect();
        out.sort_by_key(|r| r.key);
        out
    }

    /// Whether the record in slot `t` holds person `p` (its persons are sorted).
    fn holds(&self, t: Slot, p: &Fingerprint) -> bool {
        self.rec(t)
            .is_some_and(|r| r.persons.binary_search(p).is_ok())
    }

    /// The slots holding a person.
    fn slots_of(&self, p: &Fingerprint) -> Vec<Slot> {
        self.persons
            .candidates(p)
            .iter()
            .copied()
            .filter(|&t| self.holds(t, p))
            .collect()
    }

    fn union(&mut self, a: Slot, b: Slot, members: &Members) {
        let (ra, rb) = (self.groups.find(a), self.groups.find(b));
        if ra == rb {
            return;
        }
        self.uncount(ra, members);
        self.uncount(rb, members);
        self.groups.link(ra, rb);
    }

    /// Applies one batch of a member: a snapshot replaces the member's records; otherwise the
    /// keys in `remove` are removed and the records in `add` added or replaced (by key).
    pub fn apply(
        &mut self,
        m: MemberIx,
        snapshot: bool,
        add: Vec<HouseholdRecord>,
        remove: &[Fingerprint],
        members: &Members,
    ) {
        let gone: Vec<Slot> = match self.by_member.get_mut(&m) {
            None => Vec::new(),
            Some(own) if snapshot => own.drain().map(|(_, s)| s).collect(),
            Some(own) => remove
                .iter()
                .chain(add.iter().map(|r| &r.key))
                .filter_map(|k| own.remove(k))
                .collect(),
        };
        self.remove_slots(&gone, members);
        // The member's key map is taken out for the batch: one outer lookup, not one per record.
        let mut own = self.by_member.remove(&m).unwrap_or_default();
        own.reserve(add.len());
        self.slots
            .reserve(add.len().saturating_sub(self.free.len()));
        for r in add {
            self.add(m, &mut own, r, members);
        }
        if !own.is_empty() {
            self.by_member.insert(m, own);
        }
    }

    /// Adds or replaces a member's record (by household key).
    pub fn upsert(&mut self, m: MemberIx, r: &HouseholdRecord, members: &Members) {
        self.apply(m, false, vec![r.clone()], &[], members);
    }

    /// Removes a member's record; true if it existed.
    pub fn remove(&mut self, m: MemberIx, key: &Fingerprint, members: &Members) -> bool {
        let existed = self.has(m, key);
        self.apply(m, false, Vec::new(), std::slice::from_ref(key), members);
        existed
    }

    /// Removes every record of a member.
    pub fn clear_member(&mut self, m: MemberIx, members: &Members) {
        self.apply(m, true, Vec::new(), &[], members);
    }

    fn add(
        &mut self,
        m: MemberIx,
        own: &mut FastMap<Fingerprint, Slot>,
        r: HouseholdRecord,
        members: &Members,
    ) {
        let mut persons = r.persons;
        persons.sort_unstable();
        persons.dedup();
        let rec = Rec {
            member: m,
            persons: persons.into_boxed_slice(),
            interventions: r.interventions.into_boxed_slice(),
            latent_need: r.flags.latent_need,
            non_resident: r.flags.non_resident,
        };
        let s = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.groups.push();
                (self.slots.len() - 1) as Slot
            }
        };
        self.groups.reset(s);
        self.groups.mark_dirty(s);
        for p in rec.persons.iter() {
            for t in self.persons.add(p, s) {
                if self.holds(t, p) {
                    self.union(s, t, members);
                }
            }
        }
        self.slots[s as usize] = Some(rec);
        if let Some(old) = own.insert(r.key, s) {
            // A key repeated within one batch: the later record wins.
            self.remove_slots(&[old], members);
        }
    }

    /// Removes records and re-links the survivors of every group they were in.
    fn remove_slots(&mut self, gone: &[Slot], members: &Members) {
        if gone.is_empty() {
            return;
        }
        let mut roots: HashSet<Slot> = HashSet::new();
        for &s in gone {
            if self.rec(s).is_some() {
                roots.insert(self.groups.find(s));
            }
        }
        let mut affected: Vec<Slot> = Vec::new();
        for &r in &roots {
            self.uncount(r, members);
            affected.extend(self.groups.group_of(r));
        }
        let gone_set: HashSet<Slot> = gone.iter().copied().collect();
        for &s in gone {
            let Some(rec) = self.slots.get_mut(s as usize).and_then(Option::take) else {
                continue;
            };
            for p in rec.persons.iter() {
                self.persons.remove(p, s);
            }
            self.free.push(s);
        }
        for &s in &affected {
            self.groups.reset(s);
            if !gone_set.contains(&s) {
                self.groups.mark_dirty(s);
            }
        }
        for &s in &affected {
            if gone_set.contains(&s) {
                continue;
            }
            let persons: Vec<Fingerprint> =
                self.rec(s).map(|r| r.persons.to_vec()).unwrap_or_default();
            for p in &persons {
                for t in self.slots_of(p) {
                    if t != s {
                        self.union(s, t, members);
                    }
                }
            }
        }
    }

    /// Records of a member after applying a batch, without applying it.
    pub fn count_after(
        &self,
        m: MemberIx,
        snapshot: bool,
        add: &[HouseholdRecord],
        remove: &[Fingerprint],
    ) -> u64 {
        let added: FastSet<&Fingerprint> = add.iter().map(|r| &r.key).collect();
        if snapshot {
            return added.len() as u64;
        }
        let own = self.by_member.get(&m);
        let had = |k: &Fingerprint| own.is_some_and(|h| h.contains_key(k));
        let before = own.map_or(0, FastMap::len) as i64;
        let removed: FastSet<&Fingerprint> = remove.iter().collect();
        let mut delta: i64 = 0;
        for k in added.iter().chain(removed.difference(&added)) {
            let was = had(k);
            let is = added.contains(k);
            delta += i64::from(is) - i64::from(was);
        }
        (before + delta).max(0) as u64
    }

    /// The role a member index has (for callers that hold only the index).
    pub fn role_of(members: &Members, m: MemberIx) -> Role {
        members.id(m).role()
    }
}
