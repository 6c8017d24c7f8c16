//! Revisions: the attacker who holds the previous release as well as the new one.
//!
//! Both releases' cells go into one *joint* table. A cell whose key and true value are the
//! same in both is one variable (the attacker may assume an unchanged figure is unchanged), so
//! what either release published about it is known; a changed cell is two variables, the old
//! one withheld or published as the old release decided. The previous release's decisions are
//! fixed ([`Table::fixed`]); [`super::protect()`] may only withhold more of the new release's
//! cells, and every sensitive withheld cell of either release must stay protected in the joint
//! program (the previous release's sensitive cells and the new small changes are
//! [`Table::marked`]).
//!
//! The change of a cell, `new − old`, is what a difference of the two releases shows: a count
//! that changed by fewer than `k` (the few households that arrived, or left, in between) must
//! not be derivable any more than a small cell may. The attacker is not assumed to know the
//! direction of a change, so the change's interval is the new value's minus the old one's, as
//! wide as the two widths added: it is protected as soon as either value is withheld and
//! protected. A cell the previous release withheld is (its old copy stays withheld and must stay
//! protected); a cell it published that changed by fewer than `k` is therefore *withheld* in the
//! new release (fixed), and protect() protects it like a small cell.

use super::{Constraint, Table};

/// The joint table of a revision and how its cells map back.
#[derive(Debug, Clone)]
pub struct Joint {
    /// The joint table: the new release's cells first (same indices), then the previous
    /// release's changed or dropped cells.
    pub table: Table,
    /// Cells of the new release (`0..new`).
    pub new: usize,
    /// Counts the previous release published that changed by `1..k` (withheld now).
    pub changes: usize,
}

/// Builds the joint table of `new` over `old` (published with `old_suppressed`); `same[o]` is
/// the new cell with the key of old cell `o`, if any.
pub fn joint(new: &Table, old: &Table, old_suppressed: &[bool], same: &[Option<usize>]) -> Joint {
    let n = new.len();
    let mut values = new.values.clone();
    let mut counts: Vec<bool> = (0..n).map(|c| new.is_count(c)).collect();
    let mut fixed: Vec<Option<bool>> = (0..n).map(|c| new.fixed(c)).collect();
    let mut constraints = new.constraints.clone();
    let mut marked: Vec<bool> = (0..n)
        .map(|c| new.marked.get(c).copied().unwrap_or(false))
        .collect();
    // The previous release's sensitive cells stay sensitive (they were withheld).
    let old_sensitive = old.sensitive();
    let withheld = |o: usize| old_suppressed.get(o).copied().unwrap_or(false);
    // Where each old cell lives in the joint table.
    let mut at = Vec::with_capacity(old.len());
    let mut changed = Vec::new();
    for o in 0..old.len() {
        match same.get(o).copied().flatten().filter(|&c| c < n) {
            Some(c) if new.values[c] == old.values[o] => {
                if !withheld(o) {
                    // Published before: known, whatever the new release does.
                    fixed[c] = Some(false);
                } else if old_sensitive.get(o).copied().unwrap_or(false) {
                    marked[c] = true;
                }
                at.push(c);
            }
            other => {
                let j = values.len();
                values.push(old.values[o]);
                counts.push(old.is_count(o));
                fixed.push(Some(withheld(o)));
                marked.push(withheld(o) && old_sensitive.get(o).copied().unwrap_or(false));
                at.push(j);
                if let Some(c) = other {
                    changed.push((o, c, j));
                }
            }
        }
    }
    for c in &old.constraints {
        constraints.push(Constraint {
            total: at[c.total],
            parts: c.parts.iter().map(|&p| at[p]).collect(),
            relation: c.relation,
        });
    }
    let mut changes = 0;
    for (o, c, _) in changed {
        if !(new.is_count(c) && old.is_count(o)) || withheld(o) {
            continue;
        }
        let delta = new.values[c] - old.values[o];
        if delta != 0 && delta.abs() < new.k {
            // Published before, changed a little: withheld now.
            fixed[c] = Some(true);
            marked[c] = true;
            changes += 1;
        }
    }
    Joint {
        table: Table {
            values,
            counts,
            follows: new.follows.clone(),
            constraints,
            k: new.k,
            fixed,
            marked,
        },
        new: n,
        changes,
    }
}
