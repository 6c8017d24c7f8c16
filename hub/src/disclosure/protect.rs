//! Suppression that passes its own audit: suppress, audit, and next to every cell the audit
//! finds unprotected suppress the cheapest complementary cell; repeat until every sensitive
//! suppressed cell is protected. Each round re-solves only the components that changed.

use std::collections::HashMap;

use super::{AuditError, Auditor, Interval, Mode, Suppression, Table};

/// Suppression that passes its own audit, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Protection {
    /// The final suppression.
    pub suppression: Suppression,
    /// Every suppressed cell's interval, as far as the protection loop computed it (see
    /// [`Mode::Sufficient`]).
    pub intervals: Vec<Option<Interval>>,
    /// Cells suppressed because they are small (primary suppression).
    pub primary_cells: usize,
    /// Cells suppressed beyond the primary ones (information loss)…
    pub extra_cells: usize,
    /// …the units they count (count cells)…
    pub extra_total: i64,
    /// …and the amounts they hide, in cents (amount cells).
    pub extra_amount: i64,
    /// Of those, cells added because the audit found subtraction-safe suppression not enough.
    pub audit_cells: usize,
    /// Why each cell is withheld: `None` published; see [`Reason`].
    pub reasons: Vec<Option<Reason>>,
    /// Audit rounds.
    pub rounds: usize,
    /// Linear programs solved, all rounds.
    pub solves: usize,
    /// Components of the final suppression (independent programs)…
    pub components: usize,
    /// …and the cells of the largest.
    pub largest: usize,
}

impl Protection {
    /// The outcome `s` of a protection that started from the subtraction-safe suppression
    /// `base`, with the final audit if there was one, and what it cost.
    pub fn of(
        t: &Table,
        base: &Suppression,
        s: Suppression,
        audit: Option<super::Audit>,
        rounds: usize,
        solves: usize,
    ) -> Protection {
        let n = t.len();
        let extra: Vec<usize> = (0..n).filter(|&x| s.suppressed[x] && !t.small(x)).collect();
        let sum = |count: bool| -> i64 {
            extra
                .iter()
                .filter(|&&x| t.is_count(x) == count)
                .map(|&x| t.values[x])
                .sum()
        };
        let marked = |x: usize| t.marked.get(x).copied().unwrap_or(false);
        let reasons = (0..n)
            .map(|x| {
                if !s.suppressed[x] {
                    None
                } else if t.small(x) {
                    Some(Reason::Primary)
                } else if marked(x) {
                    Some(Reason::Change)
                } else if base.suppressed[x] {
                    Some(Reason::Secondary)
                } else {
                    Some(Reason::Audit)
                }
            })
            .collect();
        let (intervals, components, largest) = match audit {
            Some(a) => (a.intervals, a.components, a.largest),
            None => (vec![None; n], 0, 0),
        };
        Protection {
            primary_cells: (0..n).filter(|&x| t.small(x)).count(),
            extra_total: sum(true),
            extra_amount: sum(false),
            extra_cells: extra.len(),
            audit_cells: (0..n)
                .filter(|&x| s.suppressed[x] && !base.suppressed[x])
                .count(),
            reasons,
            suppression: s,
            intervals,
            rounds,
            solves,
            components,
            largest,
        }
    }
}

/// Why a cell is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A count in `1..k` (or an amount spent on one).
    Primary,
    /// Subtraction-safe secondary suppression.
    Secondary,
    /// Added because the linear-programming audit found a cell unprotected.
    Audit,
    /// A count the previous release published that changed by fewer than `k`
    /// ([`super::joint()`]): sensitive, protected like a small count.
    Change,
}

/// The cheapest publishable cell to suppress beside `w`: searching outwards from `w` through
/// its constraints (and, when they hold nothing publishable, the constraints of the suppressed
/// cells in them), the first ring with a candidate gives the cheapest positive cell
/// ([`Table::costs`]). Zero counts are never candidates (the module's invariant).
fn complement(
    t: &Table,
    w: usize,
    suppressed: &[bool],
    member_of: &[Vec<usize>],
    cost: &[i64],
    pinned: &[bool],
) -> Option<usize> {
    let n = t.len();
    let mut seen_cells = vec![false; n];
    let mut seen_cons = vec![false; t.constraints.len()];
    let mut ring = vec![w];
    seen_cells[w] = true;
    while !ring.is_empty() {
        let mut best: Option<((bool, i64, bool, usize), usize)> = None;
        let mut next = Vec::new();
        for &x in &ring {
            for &ci in &member_of[x] {
                if seen_cons[ci] {
                    continue;
                }
                seen_cons[ci] = true;
                let c = &t.constraints[ci];
                for (pos, y) in c.cells().enumerate() {
                    if seen_cells[y] {
                        continue;
                    }
                    seen_cells[y] = true;
                    if suppressed[y] {
                        next.push(y);
                        continue;
                    }
                    if !open(t, y, suppressed, pinned) {
                        continue;
                    }
                    let key = (t.values[y] <= 0, cost[y], pos == 0, y);
                    if best.is_none_or(|(b, _)| key < b) {
                        best = Some((key, y));
                    }
                }
            }
        }
        if let Some((_, y)) = best {
            return Some(y);
        }
        ring = next;
    }
    None
}

/// Whether cell `y` may become a complement: published now, free, not pinned by published
/// figures, and not a zero count (the module's invariant).
fn open(t: &Table, y: usize, suppressed: &[bool], pinned: &[bool]) -> bool {
    let zero_count = t.is_count(y) && t.values[y] <= 0;
    !suppressed[y] && t.free(y) && !pinned[y] && !zero_count
}

/// Rounds in which a constraint gets at most one new complement.
const EACH_AFTER: usize = 3;

/// After those rounds, when at most this many cells are left unproven, larger neighbourhoods
/// (of up to each of [`WIDER`] cells) are tried before suppression widens around them.
const WIDEN_AT: usize = 256;
const WIDER: [usize; 2] = [400, 2000];

/// Suppresses, audits, and adds the cheapest complementary cell next to every cell the audit
/// finds unprotected, until the audit passes for every sensitive suppressed cell
/// ([`Table::sensitive`]).
pub fn protect(t: &Table) -> Result<Protection, AuditError> {
    let n = t.len();
    let mut auditor = Auditor::new(t)?;
    let member_of = t.member_of();
    let cost = t.costs();
    let pinned = t.pinned();
    let base = super::suppress(t, &[]);
    let mut forced: Vec<usize> = Vec::new();
    let mut rounds = 0;
    let mut solves = 0;
    loop {
        rounds += 1;
        let started = std::time::Instant::now();
        // Every round suppresses a superset of the last (the last round's cells are forced), so
        // the auditor's proofs carry over and only undecided cells are solved again.
        let s = super::suppress(t, &forced);
        let audit = auditor.run(&s.suppressed, Mode::Sufficient)?;
        solves += audit.solves;
        let mut weak = audit.unprotected(t);
        tracing::debug!(
            round = rounds,
            suppressed = s.count(),
            unprotected = weak.len(),
            components = audit.components,
            largest = audit.largest,
            solved = audit.solves,
            seconds = started.elapsed().as_secs_f64(),
            "disclosure control: audit round"
        );
        if weak.is_empty() {
            return Ok(Protection::of(t, &base, s, Some(audit), rounds, solves));
        }
        // Few cells left after the first rounds: try larger neighbourhoods before widening
        // suppression around them. The audit's neighbourhoods may have been too small to prove
        // them, and a complement next to a cell already protected is information lost and one
        // more round.
        let mut binding: HashMap<usize, Vec<usize>> = HashMap::new();
        if rounds > EACH_AFTER && weak.len() <= WIDEN_AT {
            let before = weak.len();
            for cap in WIDER {
                let open = auditor.widen(&s.suppressed, &weak, cap)?;
                solves += weak.len();
                weak = open.iter().map(|w| w.0).collect();
                binding = open.into_iter().map(|(c, _, b)| (c, b)).collect();
            }
            tracing::debug!(
                round = rounds,
                tried = before,
                proven = before - weak.len(),
                "disclosure control: larger neighbourhoods"
            );
            if weak.len() < before {
                // Proven now (the auditor remembers): audit the same suppression again.
                forced = (0..n).filter(|&x| s.suppressed[x]).collect();
                continue;
            }
        }
        forced = (0..n).filter(|&x| s.suppressed[x]).collect();
        let before = forced.len();
        let mut widened = vec![false; t.constraints.len()];
        let first = weak.first().copied().unwrap_or(0);
        // Forced cells are suppressed already; picks of this round join them.
        let mut now = s.suppressed.clone();
        let mut stuck = Vec::new();
        for w in weak {
            // One new cell per constraint and round at first: the next audit says whether it
            // sufficed (one complement often protects several cells). Later rounds give every
            // cell still exposed its own complement, so the loop ends in a few rounds even when
            // thousands of cells need one.
            if rounds <= EACH_AFTER && member_of[w].iter().any(|&ci| widened[ci]) {
                continue;
            }
            // Where larger neighbourhoods found what bounds the cell, the cheapest published
            // cell of those constraints; else the cheapest nearby.
            let bound_by = binding.get(&w).and_then(|b| {
                b.iter()
                    .copied()
                    .filter(|&y| open(t, y, &now, &pinned))
                    .min_by_key(|&y| (cost[y], y))
            });
            let Some(pick) =
                bound_by.or_else(|| complement(t, w, &now, &member_of, &cost, &pinned))
            else {
                stuck.push(w);
                continue;
            };
            forced.push(pick);
            now[pick] = true;
            for &ci in member_of[pick].iter().chain(&member_of[w]) {
                widened[ci] = true;
            }
        }
        tracing::debug!(
            round = rounds,
            added = forced.len() - before,
            stuck = stuck.len(),
            "disclosure control: complements"
        );
        if forced.len() == before {
            // Nothing left to suppress around the cells not proven: decide them exactly (the
            // neighbourhood programs may have been too small to prove them).
            let decided = auditor.decide(&s.suppressed, &stuck)?;
            solves += 2 * decided.len();
            if let Some(&(c, _)) = decided
                .iter()
                .find(|(c, iv)| !iv.protects(t.is_count(*c), t.k))
            {
                return Err(AuditError::Unprotectable(c));
            }
            if decided.is_empty() {
                return Err(AuditError::Unprotectable(first));
            }
        }
    }
}
