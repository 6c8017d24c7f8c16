//! Statistical disclosure control (docs/PRIVACY.md): a [`Table`] of every cell the hub would
//! publish for an epoch and the linear relations between them; primary and secondary
//! suppression ([`suppress()`]); the attacker's linear-programming audit ([`audit()`]); and
//! [`protect()`], which extends suppression until the audit passes. Pure functions over plain
//! data, no I/O; the solver is HiGHS (dual simplex, warm-started between the two bounds of a cell
//! and from one cell to the next).
//!
//! The attacker knows every published cell and assumes: counts are non-negative and a
//! suppressed count is at least 1 (zeros are published); events and amounts add up exactly along
//! their constraints ([`Relation::Sum`]); distinct counts are only bounded ([`Relation::Bound`]:
//! a total is at most the sum of its parts and at least each part). Integrality is relaxed,
//! which widens an interval by less than one.
//!
//! **Invariant:** every published table is cut from one protected suppression of the whole
//! table, so two queries can never be subtracted from each other to recover a cell.
//!
//! **Invariant:** a suppressed count cell never holds a true zero (neither [`suppress()`] nor
//! [`protect()`] picks one), so the attacker's "at least 1" is always true and the audit's
//! intervals are the attacker's.

mod audit;
mod lp;
mod protect;
mod revision;
mod suppress;

pub use audit::{audit, Audit, Auditor, Mode};
pub use protect::{protect, Protection, Reason};
pub use revision::{joint, Joint};
pub use suppress::{suppress, Suppression};

/// How the published cube is protected (`[stats] protection` in `hub.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Primary and subtraction-safe secondary suppression ([`suppress()`]): no withheld cell can
    /// be recovered by subtracting published cells, but a linear-programming attacker may narrow
    /// some (`siso-hub sdc audit` measures how many).
    #[default]
    Subtraction,
    /// Suppression extended until the linear-programming audit passes ([`protect()`]).
    Audited,
}

/// The protection of a published suppression `s` as stored with a release: why each cell is
/// withheld and what the audit proved, without the counters of the run that cut it.
pub fn published(
    t: &Table,
    s: Suppression,
    reasons: Vec<Option<Reason>>,
    intervals: Vec<Option<Interval>>,
) -> Protection {
    let mut p = Protection::of(t, &s.clone(), s, None, 0, 0);
    p.reasons = reasons;
    p.intervals = intervals;
    p
}

/// Subtraction-safe suppression as a [`Protection`] (no audit: no intervals).
pub fn subtraction_only(t: &Table) -> Protection {
    let s = suppress(t, &[]);
    Protection::of(t, &s.clone(), s, None, 0, 0)
}

/// How the cells of a constraint are related, as an attacker may assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The total is exactly the sum of the parts (events, amounts, and the hub's sums of its
    /// members' figures).
    Sum,
    /// Distinct counts: the total is at most the sum of the parts and at least each of them (a
    /// person can be in several groups, or months).
    Bound,
}

/// A relation between one total and its parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Constraint {
    /// The total's cell.
    pub total: usize,
    /// The parts' cells.
    pub parts: Vec<usize>,
    /// How they relate.
    pub relation: Relation,
}

impl Constraint {
    /// The total, then the parts.
    pub fn cells(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }

    /// Whether `values` satisfy the relation.
    fn holds(&self, values: &[i64]) -> bool {
        let v = |c: usize| values.get(c).copied().unwrap_or(0);
        let total = v(self.total);
        let sum: i64 = self.parts.iter().map(|&p| v(p)).sum();
        match self.relation {
            Relation::Sum => total == sum,
            Relation::Bound => total <= sum && self.parts.iter().all(|&p| total >= v(p)),
        }
    }
}

/// Everything to be published, as the attacker sees its structure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Every cell's true value (amounts in cents).
    pub values: Vec<i64>,
    /// True where the cell counts units (persons, households, events): those below `k` and
    /// above zero are suppressed. Other cells (amounts) are never primary-suppressed.
    pub counts: Vec<bool>,
    /// `(a, b)`: when `a` is suppressed, so is `b` (an amount follows the count of the units it
    /// was spent on).
    pub follows: Vec<(usize, usize)>,
    /// The linear relations between cells.
    pub constraints: Vec<Constraint>,
    /// The threshold: counts in `1..k` are suppressed; a suppressed count must stay at least
    /// `k` wide to an attacker (an amount, `k` euro).
    pub k: i64,
    /// Cells whose publication is decided already (empty: none): `Some(true)` withheld,
    /// `Some(false)` known to the attacker. A revision's joint table ([`joint()`]) fixes
    /// the previous release's cells this way; suppression never picks a fixed cell.
    pub fixed: Vec<Option<bool>>,
    /// Cells that must be protected besides the small counts (empty: none): a revision's
    /// counts that changed by fewer than `k` ([`joint()`]). See [`Table::sensitive`].
    pub marked: Vec<bool>,
}

impl Table {
    /// Cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No cells.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether cell `c` counts units.
    pub fn is_count(&self, c: usize) -> bool {
        self.counts.get(c).copied().unwrap_or(true)
    }

    /// Whether cell `c`'s publication is decided already (see [`Table::fixed`]).
    pub fn fixed(&self, c: usize) -> Option<bool> {
        self.fixed.get(c).copied().flatten()
    }

    /// Whether suppression may pick cell `c`.
    pub fn free(&self, c: usize) -> bool {
        self.fixed(c).is_none()
    }

    /// Cells exact relations pin to their value whatever is withheld: every other cell of one
    /// of their sums is published for good (fixed published, a zero count) or pinned itself.
    /// Withholding such a cell hides nothing, so suppression never picks one as a complement.
    pub fn pinned(&self) -> Vec<bool> {
        let n = self.len();
        let mut known: Vec<bool> = (0..n)
            .map(|y| self.fixed(y) == Some(false) || (self.is_count(y) && self.values[y] == 0))
            .collect();
        let mut pinned = vec![false; n];
        let member_of = self.member_of();
        let mut queue: Vec<usize> = (0..self.constraints.len()).collect();
        while let Some(ci) = queue.pop() {
            let c = &self.constraints[ci];
            if c.relation != Relation::Sum {
                continue;
            }
            let mut unknown = c.cells().filter(|&y| y < n && !known[y]);
            if let (Some(x), None) = (unknown.next(), unknown.next()) {
                known[x] = true;
                pinned[x] = true;
                queue.extend(member_of[x].iter().copied());
            }
        }
        pinned
    }

    /// The primary-sensitive cells: counts in `1..k`.
    pub fn small(&self, c: usize) -> bool {
        self.is_count(c) && self.values[c] > 0 && self.values[c] < self.k
    }

    /// The *sensitive* cells, those whose withheld value must be protected: small counts,
    /// [`Table::marked`] cells (a revision's small changes), and the amounts that follow either
    /// (what was spent on fewer than `k` households). Other withheld cells — complements,
    /// withheld only to protect these — need no protection of their own: an attacker who
    /// derives that a Comune counted 57 learns nothing about fewer than `k` people (τ-ARGUS and
    /// sdcTable set protection levels on sensitive cells only, Hundepool et al. 2012, §4.2).
    pub fn sensitive(&self) -> Vec<bool> {
        let n = self.len();
        let mut s: Vec<bool> = (0..n)
            .map(|c| self.small(c) || self.marked.get(c).copied().unwrap_or(false))
            .collect();
        let mut followers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in &self.follows {
            if a < n && b < n {
                followers[a].push(b);
            }
        }
        let mut stack: Vec<usize> = (0..n).filter(|&c| s[c]).collect();
        while let Some(a) = stack.pop() {
            for &b in &followers[a] {
                if !s[b] {
                    s[b] = true;
                    stack.push(b);
                }
            }
        }
        s
    }

    /// What withholding each cell costs, to choose the cheapest complement: its value (amounts
    /// in euro), times one plus the number of constraints it is the total of — a total carries
    /// the information of its parts, and the Region's totals are what users read first.
    pub fn costs(&self) -> Vec<i64> {
        let mut totals = vec![0i64; self.len()];
        for c in &self.constraints {
            if let Some(t) = totals.get_mut(c.total) {
                *t += 1;
            }
        }
        (0..self.len())
            .map(|c| {
                let v = if self.is_count(c) {
                    self.values[c]
                } else {
                    self.values[c] / 100
                };
                v.max(0).saturating_mul(1 + totals[c])
            })
            .collect()
    }

    /// For each cell, the constraints it takes part in.
    pub fn member_of(&self) -> Vec<Vec<usize>> {
        let mut m: Vec<Vec<usize>> = vec![Vec::new(); self.len()];
        for (ci, c) in self.constraints.iter().enumerate() {
            for x in c.cells().filter(|&x| x < self.len()) {
                m[x].push(ci);
            }
        }
        m
    }

    /// Checks that the table is well formed (every index in range, one count flag per cell) and
    /// that the true values satisfy every constraint: the audit's intervals are only the
    /// attacker's when the relations it assumes are true.
    pub fn check(&self) -> Result<(), AuditError> {
        if self.counts.len() != self.len() {
            return Err(AuditError::Malformed(format!(
                "{} count flags for {} cells",
                self.counts.len(),
                self.len()
            )));
        }
        let n = self.len();
        if !self.fixed.is_empty() && self.fixed.len() != n {
            return Err(AuditError::Malformed(format!(
                "{} fixed flags for {n} cells",
                self.fixed.len()
            )));
        }
        if !self.marked.is_empty() && self.marked.len() != n {
            return Err(AuditError::Malformed(format!(
                "{} sensitivity marks for {n} cells",
                self.marked.len()
            )));
        }
        let sensitive = self.sensitive();
        if let Some(c) = (0..n).find(|&c| sensitive[c] && self.fixed(c) == Some(false)) {
            return Err(AuditError::Unprotectable(c));
        }
        if let Some(&(a, b)) = self.follows.iter().find(|(a, b)| *a >= n || *b >= n) {
            return Err(AuditError::Malformed(format!(
                "follows ({a}, {b}) out of range"
            )));
        }
        for (ci, c) in self.constraints.iter().enumerate() {
            if c.cells().any(|x| x >= n) {
                return Err(AuditError::Malformed(format!(
                    "constraint {ci} names a cell out of range"
                )));
            }
            if !c.holds(&self.values) {
                return Err(AuditError::Inconsistent(ci));
            }
        }
        Ok(())
    }

    /// The table and a suppression as JSON, for an independent solver (the test that checks
    /// the audit against SciPy's `linprog` reads this).
    pub fn to_json(&self, suppressed: &[bool]) -> serde_json::Value {
        serde_json::json!({
            "k": self.k,
            "cells": (0..self.len()).map(|c| serde_json::json!({
                "value": self.values[c],
                "count": self.is_count(c),
                "suppressed": suppressed.get(c).copied().unwrap_or(false),
            })).collect::<Vec<_>>(),
            "constraints": self.constraints,
        })
    }
}

/// The values an attacker can prove a suppressed cell may take.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub min: f64,
    /// Upper bound (`f64::INFINITY`: none).
    pub max: f64,
    /// Both bounds are the attacker's optimum. `false` in [`Mode::Sufficient`] when the cell was
    /// proven protected by feasible points alone: the attacker's interval contains this one.
    pub exact: bool,
}

impl Interval {
    /// Protected: for a count, at least `k` wide with an upper bound of at least `k` (nobody
    /// can conclude that a small cell is small); for an amount (cents), at least `k` euro wide.
    pub fn protects(&self, count: bool, k: i64) -> bool {
        let k = k as f64;
        // Solver tolerance: bounds are exact to well under a unit.
        let eps = 1e-6;
        if count {
            self.max - self.min >= k - eps && self.max >= k - eps
        } else {
            self.max - self.min >= 100.0 * k - eps
        }
    }
}

/// Why an audit could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The table names cells that do not exist (a bug upstream).
    #[error("malformed table: {0}")]
    Malformed(String),
    /// The true values contradict a constraint (a bug upstream: the relation assumed is wrong).
    #[error("the figures contradict constraint {0}")]
    Inconsistent(usize),
    /// The solver failed.
    #[error("linear programming failed at cell {cell}: {reason}")]
    Solver {
        /// The cell.
        cell: usize,
        /// What the solver said.
        reason: String,
    },
    /// No complementary cell can be found to protect a cell.
    #[error("cell {0} cannot be protected: no publishable cell shares a constraint with it")]
    Unprotectable(usize),
}

#[cfg(test)]
mod tests;
