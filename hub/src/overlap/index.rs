//! The person index of an epoch: a seeded 64-bit hash of each person fingerprint → the record
//! slots under it, one slot inline and more in an overflow list.
//!
//! Keyed by a 64-bit seeded hash rather than the 32-byte fingerprint (a third of the memory at
//! ten million persons). The index knows nothing of records: the slots under a key are a
//! superset of the slots holding the person, and the caller checks each candidate against its
//! record, so a rare 64-bit collision links nothing.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use siso_shared::Fingerprint;

use super::Slot;

/// Values with this bit set are overflow-list indices, not slots.
pub(super) const MANY: u32 = 1 << 31;

/// A hasher for keys that are already seeded random 64-bit values (see [`PersonIndex::key`]).
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Person key → the slot holding it, or `MANY | i` for `overflow[i]`.
#[derive(Debug)]
pub(super) struct PersonIndex {
    by_key: KeyMap<u32>,
    seed: foldhash::fast::RandomState,
    /// `u64::MAX`; tests narrow it to force key collisions.
    pub(super) mask: u64,
    overflow: Vec<Vec<Slot>>,
    overflow_free: Vec<u32>,
}

impl Default for PersonIndex {
    fn default() -> Self {
        PersonIndex {
            by_key: KeyMap::default(),
            seed: foldhash::fast::RandomState::default(),
            mask: u64::MAX,
            overflow: Vec::new(),
            overflow_free: Vec::new(),
        }
    }
}

impl PersonIndex {
    /// The key of a fingerprint.
    #[inline]
    fn key(&self, p: &Fingerprint) -> u64 {
        use std::hash::BuildHasher;
        self.seed.hash_one(p) & self.mask
    }

    /// No person is indexed.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The slots under a person's key: a superset of the slots holding it.
    #[inline]
    pub(super) fn candidates(&self, p: &Fingerprint) -> &[Slot] {
        match self.by_key.get(&self.key(p)) {
            None => &[],
            Some(v) if v & MANY == 0 => std::slice::from_ref(v),
            Some(v) => self
                .overflow
                .get((v & !MANY) as usize)
                .map_or(&[], Vec::as_slice),
        }
    }

    /// Adds `s` under person `p`'s key; returns the slots that were under it before (callers
    /// check which of them hold `p`).
    #[inline]
    pub(super) fn add(&mut self, p: &Fingerprint, s: Slot) -> Vec<Slot> {
        let key = self.key(p);
        match self.by_key.entry(key) {
            Entry::Vacant(e) => {
                e.insert(s);
                Vec::new()
            }
            Entry::Occupied(mut e) => {
                let v = *e.get();
                if v & MANY == 0 {
                    if v == s {
                        // Two persons of one record under one key.
                        return Vec::new();
                    }
                    let list = vec![v, s];
                    let ix = match self.overflow_free.pop() {
                        Some(ix) => {
                            self.overflow[ix as usize] = list;
                            ix
                        }
                        None => {
                            self.overflow.push(list);
                            (self.overflow.len() - 1) as u32
                        }
                    };
                    *e.get_mut() = MANY | ix;
                    vec![v]
                } else if let Some(l) = self.overflow.get_mut((v & !MANY) as usize) {
                    let before: Vec<Slot> = l.iter().copied().filter(|&x| x != s).collect();
                    if before.len() == l.len() {
                        l.push(s);
                    }
                    before
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Removes `s` from under person `p`'s key (`s` is being removed with all its persons).
    #[inline]
    pub(super) fn remove(&mut self, p: &Fingerprint, s: Slot) {
        let key = self.key(p);
        let Some(&v) = self.by_key.get(&key) else {
            return;
        };
        if v & MANY == 0 {
            if v == s {
                self.by_key.remove(&key);
            }
            return;
        }
        let ix = v & !MANY;
        let Some(l) = self.overflow.get_mut(ix as usize) else {
            return;
        };
        l.retain(|&x| x != s);
        let single = match l.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => return,
        };
        *l = Vec::new();
        self.overflow_free.push(ix);
        match single {
            Some(one) => {
                self.by_key.insert(key, one);
            }
            None => {
                self.by_key.remove(&key);
            }
        }
    }
}
