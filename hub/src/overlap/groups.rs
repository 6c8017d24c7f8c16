//! Groups of linked records: a union-find over record slots plus a circular list per group
//! (`ring`), so that a group's records can be walked and two groups spliced in O(1), and the
//! set of groups changed since the last summary (`dirty`).
//!
//! **Invariant:** `ring` restricted to one group is a single cycle through all of its slots;
//! a root is in `dirty_list` whenever its `dirty` flag is set.

use super::Slot;

/// Union-find, rings and dirty marks, one entry per slot.
#[derive(Debug, Default)]
pub(super) struct Groups {
    /// Union-find parent per slot.
    parent: Vec<Slot>,
    /// Next slot of the same group (a circular list).
    ring: Vec<Slot>,
    /// The group rooted here is not in the totals.
    dirty: Vec<bool>,
    dirty_list: Vec<Slot>,
}

impl Groups {
    /// Makes room for one more slot (a new slot at the end of the slot vector).
    pub(super) fn push(&mut self) {
        self.parent.push(0);
        self.ring.push(0);
        self.dirty.push(false);
    }

    /// Makes `s` a group of its own, not dirty.
    #[inline]
    pub(super) fn reset(&mut self, s: Slot) {
        let i = s as usize;
        self.parent[i] = s;
        self.ring[i] = s;
        self.dirty[i] = false;
    }

    /// The root of `x`'s group, compressing the path.
    #[inline]
    pub(super) fn find(&mut self, mut x: Slot) -> Slot {
        while self.parent[x as usize] != x {
            let next = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = next;
            x = next;
        }
        x
    }

    /// `find` without path compression, for shared access.
    #[inline]
    pub(super) fn root(&self, mut x: Slot) -> Slot {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    /// True if `s` is alone in its group.
    #[inline]
    pub(super) fn alone(&self, s: Slot) -> bool {
        self.ring[s as usize] == s
    }

    /// The slots of the group containing `s`, starting with `s`.
    pub(super) fn group_of(&self, s: Slot) -> Vec<Slot> {
        let mut out = vec![s];
        let mut x = self.ring[s as usize];
        while x != s {
            out.push(x);
            x = self.ring[x as usize];
        }
        out
    }

    /// Joins the group rooted at `rb` into the one rooted at `ra` (both roots, distinct).
    #[inline]
    pub(super) fn link(&mut self, ra: Slot, rb: Slot) {
        self.parent[rb as usize] = ra;
        self.ring.swap(ra as usize, rb as usize);
    }

    /// Whether the group rooted at `r` is marked dirty.
    #[inline]
    pub(super) fn is_dirty(&self, r: Slot) -> bool {
        self.dirty.get(r as usize).copied().unwrap_or(false)
    }

    /// Marks the group rooted at `r` dirty (out of the totals until recounted).
    #[inline]
    pub(super) fn mark_dirty(&mut self, r: Slot) {
        if !self.dirty[r as usize] {
            self.dirty[r as usize] = true;
            self.dirty_list.push(r);
        }
    }

    /// Takes the list of slots marked dirty since the last call (some may since have been
    /// cleared, or stopped being roots).
    pub(super) fn take_dirty(&mut self) -> Vec<Slot> {
        std::mem::take(&mut self.dirty_list)
    }

    /// Clears a dirty mark; false if it was not set.
    #[inline]
    pub(super) fn clear_dirty(&mut self, s: Slot) -> bool {
        match self.dirty.get_mut(s as usize) {
            Some(d) if *d => {
                *d = false;
                true
            }
            _ => false,
        }
    }
}
