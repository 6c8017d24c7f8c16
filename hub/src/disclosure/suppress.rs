//! Primary suppression (counts in `1..k`) and secondary suppression against subtraction: a
//! constraint with exactly one suppressed cell would give that cell away, so suppression is
//! extended until every constraint has none or at least two, choosing the smallest positive
//! cells (least information lost). The LP audit ([`super::audit()`]) is the stronger test.

use super::Table;

/// The outcome: which cells are suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// One flag per cell.
    pub suppressed: Vec<bool>,
}

impl Suppression {
    /// How many cells are suppressed.
    pub fn count(&self) -> usize {
        self.suppressed.iter().filter(|&&s| s).count()
    }
}

/// Runs primary and secondary suppression, with `forced` cells suppressed from the start (the
/// complementary cells that [`super::protect()`] adds).
pub fn suppress(t: &Table, forced: &[usize]) -> Suppression {
    let n = t.len();
    let mut s = vec![false; n];
    let member_of = t.member_of();
    let cost = t.costs();
    let pinned = t.pinned();
    let mut followers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &t.follows {
        if a < n && b < n {
            followers[a].push(b);
        }
    }
    let mut queue: Vec<usize> = (0..t.constraints.len()).collect();
    let mark = |cell: usize, s: &mut Vec<bool>, queue: &mut Vec<usize>| {
        let mut stack = vec![cell];
        while let Some(c) = stack.pop() {
            if s[c] || t.fixed(c) == Some(false) {
                continue;
            }
            s[c] = true;
            queue.extend(member_of[c].iter().copied());
            stack.extend(followers[c].iter().copied());
        }
    };
    let sensitive = t.sensitive();
    for i in (0..n).filter(|&i| sensitive[i]) {
        mark(i, &mut s, &mut queue);
    }
    for i in (0..n).filter(|&i| t.fixed(i) == Some(true)) {
        mark(i, &mut s, &mut queue);
    }
    for &i in forced.iter().filter(|&&i| i < n) {
        mark(i, &mut s, &mut queue);
    }
    while let Some(ci) = queue.pop() {
        let c = &t.constraints[ci];
        if c.cells().filter(|&x| x < n && s[x]).count() != 1 {
            continue;
        }
        // The cheapest positive cell ([`Table::costs`]: parts before their total at equal
        // value); then an amount that is zero. Never a count that is zero: the attacker assumes
        // suppressed counts are at least 1. (A constraint whose other cells are all zero counts
        // cannot have exactly one positive suppressed cell, so this always finds one.)
        let open = |x: &usize| *x < n && !s[*x] && t.free(*x) && !pinned[*x];
        let choice = c
            .cells()
            .filter(open)
            .filter(|&x| t.values[x] > 0)
            .min_by_key(|&x| (cost[x], x == c.total, x))
            .or_else(|| c.cells().filter(open).find(|&x| !t.is_count(x)));
        if let Some(x) = choice {
            mark(x, &mut s, &mut queue);
        }
    }
    Suppression { suppressed: s }
}
