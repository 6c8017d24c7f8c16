//! Revisions: the attacker who holds the previous release as well as the new one.
//!
//! Both releases' cells go into one *joint* table. A cell whose key and true value are the
//! same in both is one variable (the attacker may assume an unchanged figure is unchanged), so
//! what either release published about it is known; a changed cell is two variables, the old
//! one withheld or published as the old release decided. For every count that changed by less
//! than `k` a *change cell* `d = |new − old|` is added, always withheld and primary-sensitive:
//! the few households that arrived (or left) between two releases must not be derivable any
//! more than a small cell may. The previous release's decisions are fixed ([`Table::fixed`]);
//! [`super::protect()`] may only withhold more of the new release's cells.

use super::{Constraint, Relation, Table};

/// The joint table of a revision and how its cells map back.
#[derive(Debug, Clone)]
pub struct Joint {
    /// The joint table: the new release's cells first (same indices), then the previous
    /// release's changed or dropped cells, then the change cells.
    pub table: Table,
    /// Cells of the new release (`0..new`).
    pub new: usize,
    /// Change cells added (counts that changed by `1..k`).
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
                }
                at.push(c);
            }
            other => {
                let j = values.len();
                values.push(old.values[o]);
                counts.push(old.is_count(o));
                fixed.push(Some(withheld(o)));
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
    for (o, c, j) in changed {
        if !(new.is_count(c) && old.is_count(o)) {
            continue;
        }
        let delta = new.values[c] - old.values[o];
        if delta == 0 || delta.abs() >= new.k {
            continue;
        }
        let d = values.len();
        values.push(delta.abs());
        counts.push(true);
        fixed.push(Some(true));
        let (total, part) = if delta > 0 { (c, j) } else { (j, c) };
        constraints.push(Constraint {
            total,
            parts: vec![part, d],
            relation: Relation::Sum,
        });
        changes += 1;
    }
    Joint {
        table: Table {
            values,
            counts,
            follows: new.follows.clone(),
            constraints,
            k: new.k,
            fixed,
        },
        new: n,
        changes,
    }
}
