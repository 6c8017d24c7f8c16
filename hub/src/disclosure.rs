//! Statistical disclosure control (docs/PRIVACY.md): primary suppression of small counts and
//! secondary suppression so that no suppressed cell can be recovered from a published total.
//!
//! The input is a set of cells and *constraints*: groups of cells of which the first is the
//! total of the others (a Comune's total over its areas of need; a zona over its Comuni; the
//! Region over its zone; the epoch over its months). A constraint with exactly one suppressed
//! cell would give that cell away by subtraction, so suppression is extended until every
//! constraint has none or at least two suppressed cells, choosing the smallest positive cells
//! (least information lost). Pure functions, no I/O.
//!
//! [`audit`] is the stronger attacker of issue #15 — every constraint at once, by linear
//! programming — and [`protect`] extends suppression until that audit passes. They are tested
//! here but **not yet used for the published cube** (`stats::build_cube` still calls
//! [`suppress`]): wired in as a first attempt, the demo's cube took about 16 minutes and ended
//! in an audit error, so nothing was published. The error is the solver's, not the model's:
//! microlp's dual simplex stalls (no progress in 10,000 iterations) on a degenerate program of
//! one large component. Before wiring them in: a more robust solver, a presolve (fix a cell
//! whose constraint has one unknown), smaller components, a warm-started second bound.
//!
//! **Invariant:** every published table is cut from one suppression of the whole cube, so two
//! queries can never be subtracted from each other to recover a cell.

/// The outcome: which cells are suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// One flag per cell.
    pub suppressed: Vec<bool>,
}

/// Runs primary and secondary suppression.
///
/// - `values`: every cell's value.
/// - `counts`: true where the cell counts units (persons, households, events): those below `k`
///   (and above zero) are suppressed. Other cells (amounts) are never primary-suppressed.
/// - `follows`: `(a, b)`: when `a` is suppressed, so is `b` (an amount follows the count of the
///   units it was spent on).
/// - `constraints`: each a list of cells, the first being the total of the rest.
pub fn suppress(
    values: &[i64],
    counts: &[bool],
    k: i64,
    follows: &[(usize, usize)],
    constraints: &[Vec<usize>],
) -> Suppression {
    suppress_with(values, counts, k, follows, constraints, &[])
}

/// [`suppress`], with `forced` cells suppressed from the start (the complementary cells that
/// [`protect`] adds), and secondary suppression completed around them.
pub fn suppress_with(
    values: &[i64],
    counts: &[bool],
    k: i64,
    follows: &[(usize, usize)],
    constraints: &[Vec<usize>],
    forced: &[usize],
) -> Suppression {
    let n = values.len();
    let mut s = vec![false; n];
    let mut member_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ci, c) in constraints.iter().enumerate() {
        for &cell in c {
            if cell < n {
                member_of[cell].push(ci);
            }
        }
    }
    let mut followers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in follows {
        if a < n && b < n {
            followers[a].push(b);
        }
    }
    let mut queue: Vec<usize> = (0..constraints.len()).collect();
    let mark = |cell: usize, s: &mut Vec<bool>, queue: &mut Vec<usize>| {
        let mut stack = vec![cell];
        while let Some(c) = stack.pop() {
            if s[c] {
                continue;
            }
            s[c] = true;
            queue.extend(member_of[c].iter().copied());
            stack.extend(followers[c].iter().copied());
        }
    };
    for (i, &v) in values.iter().enumerate() {
        if counts.get(i).copied().unwrap_or(false) && v > 0 && v < k {
            mark(i, &mut s, &mut queue);
        }
    }
    for &i in forced.iter().filter(|&&i| i < n) {
        mark(i, &mut s, &mut queue);
    }
    while let Some(ci) = queue.pop() {
        let c = &constraints[ci];
        let suppressed = c.iter().filter(|&&x| x < n && s[x]).count();
        if suppressed != 1 {
            continue;
        }
        // Prefer a part (not the total), the smallest positive value; then any part; then the
        // total.
        let parts = c.iter().skip(1).copied().filter(|&x| x < n && !s[x]);
        let choice = parts
            .clone()
            .filter(|&x| values[x] > 0)
            .min_by_key(|&x| (values[x], x))
            .or_else(|| parts.clone().min_by_key(|&x| x))
            .or_else(|| c.first().copied().filter(|&x| x < n && !s[x]));
        if let Some(x) = choice {
            mark(x, &mut s, &mut queue);
        }
    }
    Suppression { suppressed: s }
}

/// How the cells of a constraint are related, as an attacker may assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The first cell is exactly the sum of the others (events, amounts, and the hub's sums of
    /// its members' figures).
    Sum,
    /// Distinct counts: the first cell is at most the sum of the others and at least each of
    /// them (a person can be in several groups).
    Bound,
}

/// The values an attacker can prove a suppressed cell may take.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub min: f64,
    /// Upper bound (`f64::INFINITY`: none).
    pub max: f64,
}

impl Interval {
    /// Protected: for a count, at least `k` wide with an upper bound of at least `k` (nobody
    /// can conclude that a small cell is small); for an amount (cents), at least `k` euro wide.
    pub fn protects(&self, count: bool, k: i64) -> bool {
        let k = k as f64;
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
    /// The published figures contradict the constraints (a bug upstream).
    #[error("the published figures are inconsistent with the constraints around cell {0}")]
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

/// The attacker's linear program around one group of suppressed cells, built once and solved
/// for each bound of each cell.
struct Component<'a> {
    cells: Vec<usize>,
    constraints: Vec<usize>,
    values: &'a [i64],
    counts: &'a [bool],
}

impl Component<'_> {
    /// The extreme value of `target` (one of `cells`) in `direction`; `None` when unbounded.
    fn extreme(
        &self,
        all: &[Vec<usize>],
        relations: &[Relation],
        suppressed: &[bool],
        target: usize,
        direction: microlp::OptimizationDirection,
    ) -> Result<Option<f64>, AuditError> {
        use microlp::{ComparisonOp, Problem};
        let mut p = Problem::new(direction);
        let mut var = std::collections::HashMap::new();
        for &c in &self.cells {
            // Zeros are published, so a suppressed count is at least 1 (0 for a zero that a
            // secondary suppression had to take, so that the system stays true).
            let count = self.counts.get(c).copied().unwrap_or(true);
            let lb = if count && self.values[c] > 0 {
                1.0
            } else {
                0.0
            };
            let obj = if c == target { 1.0 } else { 0.0 };
            var.insert(c, p.add_var(obj, (lb, f64::INFINITY)));
        }
        // A term of a constraint: a variable, or a published constant.
        let term = |c: usize| -> Result<microlp::Variable, f64> {
            match var.get(&c) {
                Some(&v) if suppressed[c] => Ok(v),
                _ => Err(self.values[c] as f64),
            }
        };
        for &ci in &self.constraints {
            let cells = &all[ci];
            let Some((&total, parts)) = cells.split_first() else {
                continue;
            };
            // `total - Σ parts` as variables and a right-hand side (published cells moved over).
            let row = |parts: &[usize]| {
                let mut expr: Vec<(microlp::Variable, f64)> = Vec::new();
                let mut rhs = 0.0;
                match term(total) {
                    Ok(v) => expr.push((v, 1.0)),
                    Err(k) => rhs -= k,
                }
                for &x in parts {
                    match term(x) {
                        Ok(v) => expr.push((v, -1.0)),
                        Err(k) => rhs += k,
                    }
                }
                (expr, rhs)
            };
            let mut add = |(expr, rhs): (Vec<(microlp::Variable, f64)>, f64), op| {
                if !expr.is_empty() {
                    p.add_constraint(expr.as_slice(), op, rhs);
                }
            };
            match relations.get(ci).copied().unwrap_or(Relation::Bound) {
                // total = Σ parts
                Relation::Sum => add(row(parts), ComparisonOp::Eq),
                // total <= Σ parts, and total >= each part
                Relation::Bound => {
                    add(row(parts), ComparisonOp::Le);
                    for x in parts.chunks(1) {
                        add(row(x), ComparisonOp::Ge);
                    }
                }
            }
        }
        match p.solve() {
            Ok(microlp::SolveOutcome::Solution(s)) => Ok(Some(s.objective())),
            Ok(microlp::SolveOutcome::Interrupted(_)) => Err(AuditError::Solver {
                cell: target,
                reason: "interrupted".into(),
            }),
            Err(microlp::Error::Unbounded) => Ok(None),
            Err(microlp::Error::Infeasible) => Err(AuditError::Inconsistent(target)),
            Err(e) => Err(AuditError::Solver {
                cell: target,
                reason: e.to_string(),
            }),
        }
    }
}

/// The attacker's audit: for every suppressed cell, the interval of values consistent with
/// everything published — every constraint at once, with non-negative counts and suppressed
/// counts at least 1 — by linear programming (integrality relaxed, which only widens the
/// intervals by less than one). Cells linked by constraints through suppressed cells are solved
/// together, each group on its own. `None` for published cells.
pub fn audit(
    values: &[i64],
    counts: &[bool],
    suppressed: &[bool],
    constraints: &[Vec<usize>],
    relations: &[Relation],
) -> Result<Vec<Option<Interval>>, AuditError> {
    let n = values.len();
    // Union-find over suppressed cells sharing a constraint.
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut touching: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ci, c) in constraints.iter().enumerate() {
        let hidden: Vec<usize> = c
            .iter()
            .copied()
            .filter(|&x| x < n && suppressed[x])
            .collect();
        for w in hidden.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            parent[a] = b;
        }
        for &x in &hidden {
            touching[x].push(ci);
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for x in (0..n).filter(|&x| suppressed[x]) {
        let r = root(&mut parent, x);
        groups.entry(r).or_default().push(x);
    }
    let mut out = vec![None; n];
    for cells in groups.into_values() {
        let mut cons: Vec<usize> = cells
            .iter()
            .flat_map(|&c| touching[c].iter().copied())
            .collect();
        cons.sort_unstable();
        cons.dedup();
        let comp = Component {
            cells,
            constraints: cons,
            values,
            counts,
        };
        for &c in &comp.cells {
            use microlp::OptimizationDirection::{Maximize, Minimize};
            let min = comp
                .extreme(constraints, relations, suppressed, c, Minimize)?
                .unwrap_or(0.0);
            let max = comp
                .extreme(constraints, relations, suppressed, c, Maximize)?
                .unwrap_or(f64::INFINITY);
            out[c] = Some(Interval { min, max });
        }
    }
    Ok(out)
}

/// Suppression that passes its own audit, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Protection {
    /// The final suppression.
    pub suppression: Suppression,
    /// Every suppressed cell's interval.
    pub intervals: Vec<Option<Interval>>,
    /// Cells suppressed beyond what [`suppress`] alone suppresses (information loss).
    pub extra_cells: usize,
    /// Their total value.
    pub extra_total: i64,
    /// Audit rounds.
    pub rounds: usize,
}

/// The cheapest publishable cell to suppress beside `w`: searching outwards from `w` through
/// its constraints (and, when they hold nothing publishable, the constraints of the suppressed
/// cells in them), the first ring with a candidate gives the smallest positive part, then the
/// smallest positive total, then a zero.
fn complement(
    w: usize,
    values: &[i64],
    suppressed: &[bool],
    forced: &[usize],
    constraints: &[Vec<usize>],
    member_of: &[Vec<usize>],
) -> Option<usize> {
    let n = values.len();
    let mut seen_cells = vec![false; n];
    let mut seen_cons = vec![false; constraints.len()];
    let mut ring = vec![w];
    seen_cells[w] = true;
    while !ring.is_empty() {
        let mut best: Option<((bool, bool, i64, usize), usize)> = None;
        let mut next = Vec::new();
        for &x in &ring {
            for &ci in &member_of[x] {
                if seen_cons[ci] {
                    continue;
                }
                seen_cons[ci] = true;
                for (pos, &y) in constraints[ci].iter().enumerate() {
                    if y >= n || seen_cells[y] {
                        continue;
                    }
                    seen_cells[y] = true;
                    if suppressed[y] || forced.contains(&y) {
                        next.push(y);
                        continue;
                    }
                    let key = (values[y] <= 0, pos == 0, values[y], y);
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

/// Suppresses, audits, and adds the cheapest complementary cell next to every cell the audit
/// finds unprotected, until the audit passes for every suppressed cell.
pub fn protect(
    values: &[i64],
    counts: &[bool],
    k: i64,
    follows: &[(usize, usize)],
    constraints: &[Vec<usize>],
    relations: &[Relation],
) -> Result<Protection, AuditError> {
    let n = values.len();
    let base = suppress(values, counts, k, follows, constraints);
    let mut forced: Vec<usize> = Vec::new();
    let mut member_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ci, c) in constraints.iter().enumerate() {
        for &x in c.iter().filter(|&&x| x < n) {
            member_of[x].push(ci);
        }
    }
    let mut rounds = 0;
    loop {
        rounds += 1;
        let s = suppress_with(values, counts, k, follows, constraints, &forced);
        let intervals = audit(values, counts, &s.suppressed, constraints, relations)?;
        let weak: Vec<usize> = (0..n)
            .filter(|&x| {
                intervals[x]
                    .is_some_and(|iv| !iv.protects(counts.get(x).copied().unwrap_or(true), k))
            })
            .collect();
        if weak.is_empty() {
            let extra: Vec<usize> = (0..n)
                .filter(|&x| s.suppressed[x] && !base.suppressed[x])
                .collect();
            return Ok(Protection {
                extra_total: extra.iter().map(|&x| values[x]).sum(),
                extra_cells: extra.len(),
                suppression: s,
                intervals,
                rounds,
            });
        }
        let before = forced.len();
        let mut widened: Vec<usize> = Vec::new();
        let first = weak.first().copied().unwrap_or(0);
        for w in weak {
            // One new cell per constraint and round: the next audit says whether it sufficed.
            if member_of[w].iter().any(|ci| widened.contains(ci)) {
                continue;
            }
            // Nothing left around it this round: the cells forced for its neighbours may do.
            let Some(pick) = complement(w, values, &s.suppressed, &forced, constraints, &member_of)
            else {
                continue;
            };
            forced.push(pick);
            widened.extend(member_of[pick].iter().copied());
            widened.extend(member_of[w].iter().copied());
        }
        if forced.len() == before {
            return Err(AuditError::Unprotectable(first));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A two-level hierarchy: `zones` zones of `comuni` Comuni, `groups` groups each.
    /// Cell layout: for each unit (Comuni, then zones, then the region) `groups + 1` cells, the
    /// first being the unit's total over its groups.
    fn cube(
        zones: usize,
        comuni: usize,
        groups: usize,
        data: &[i64],
    ) -> (Vec<i64>, Vec<Vec<usize>>) {
        let w = groups + 1;
        let nc = zones * comuni;
        let units = nc + zones + 1;
        let mut v = vec![0i64; units * w];
        for c in 0..nc {
            for g in 0..groups {
                v[c * w + 1 + g] = data[(c * groups + g) % data.len()];
            }
        }
        for z in 0..zones {
            for c in 0..comuni {
                for j in 1..w {
                    v[(nc + z) * w + j] += v[(z * comuni + c) * w + j];
                }
            }
        }
        for z in 0..zones {
            for j in 1..w {
                v[(nc + zones) * w + j] += v[(nc + z) * w + j];
            }
        }
        for u in 0..units {
            v[u * w] = (1..w).map(|j| v[u * w + j]).sum();
        }
        let mut cons = Vec::new();
        for u in 0..units {
            cons.push((0..w).map(|j| u * w + j).collect());
        }
        for j in 0..w {
            for z in 0..zones {
                let mut c = vec![(nc + z) * w + j];
                c.extend((0..comuni).map(|i| (z * comuni + i) * w + j));
                cons.push(c);
            }
            let mut c = vec![(nc + zones) * w + j];
            c.extend((0..zones).map(|z| (nc + z) * w + j));
            cons.push(c);
        }
        (v, cons)
    }

    #[test]
    fn single_small_cell_gets_a_partner() {
        // Totals 10 = 2 + 8: the 2 is suppressed, so is the 8 (else 10 − 8 = 2).
        let s = suppress(&[10, 2, 8], &[true; 3], 5, &[], &[vec![0, 1, 2]]);
        assert_eq!(s.suppressed, vec![false, true, true]);
        // True zeros and large cells are published.
        let s = suppress(&[20, 0, 20], &[true; 3], 5, &[], &[vec![0, 1, 2]]);
        assert_eq!(s.suppressed, vec![false, false, false]);
        // An amount follows its count.
        let s = suppress(&[3, 500], &[true, false], 5, &[(0, 1)], &[]);
        assert_eq!(s.suppressed, vec![true, true]);
    }

    #[test]
    fn subtraction_safe_is_not_lp_safe_and_protect_fixes_it() {
        // 16 = 2 + 4 + 10: the 2 (small) and the 4 (its partner) are suppressed, which no
        // subtraction recovers — but 2 + 4 = 16 - 10 = 6 with both at least 1 pins the small
        // cell to [1, 5]: four wide, under k = 5.
        let (v, c, rel) = (
            vec![16, 2, 4, 10],
            vec![vec![0, 1, 2, 3]],
            vec![Relation::Sum],
        );
        let counts = vec![true; 4];
        let s = suppress(&v, &counts, 5, &[], &c);
        assert_eq!(s.suppressed, vec![false, true, true, false]);
        let iv = audit(&v, &counts, &s.suppressed, &c, &rel).unwrap();
        let small = iv[1].unwrap();
        assert!(
            (small.min - 1.0).abs() < 1e-6 && (small.max - 5.0).abs() < 1e-6,
            "{small:?}"
        );
        assert!(!small.protects(true, 5));
        // Protection adds the 10, and then every interval is wide.
        let p = protect(&v, &counts, 5, &[], &c, &rel).unwrap();
        assert_eq!(p.suppression.suppressed, vec![false, true, true, true]);
        assert_eq!((p.extra_cells, p.extra_total), (1, 10));
        for (i, x) in p.intervals.iter().enumerate() {
            if let Some(x) = x {
                assert!(x.protects(true, 5), "cell {i}: {x:?}");
            }
        }
        // Distinct counts only bound their total: 10 <= a + b, 10 >= a, 10 >= b.
        let (v, c) = (vec![10, 3, 8], vec![vec![0, 1, 2]]);
        let s = vec![false, true, true];
        let iv = audit(&v, &[true; 3], &s, &c, &[Relation::Bound]).unwrap();
        let a = iv[1].unwrap();
        assert!(
            (a.min - 1.0).abs() < 1e-6 && (a.max - 10.0).abs() < 1e-6,
            "{a:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

        /// Every suppressed cell of a protected table is protected against the full linear
        /// programming attack (all constraints at once), re-audited independently.
        #[test]
        fn protected_tables_pass_the_lp_audit(
            zones in 1usize..4, comuni in 1usize..4, groups in 1usize..4, k in 3i64..7,
            data in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..30], 1..40),
        ) {
            let (v, cons) = cube(zones, comuni, groups, &data);
            let rel = vec![Relation::Sum; cons.len()];
            let counts = vec![true; v.len()];
            let p = protect(&v, &counts, k, &[], &cons, &rel).unwrap();
            let iv = audit(&v, &counts, &p.suppression.suppressed, &cons, &rel).unwrap();
            for (i, x) in iv.iter().enumerate() {
                if let Some(x) = x {
                    prop_assert!(x.protects(true, k), "cell {i} = {} pinned to {x:?}", v[i]);
                    prop_assert!(x.min <= v[i] as f64 + 1e-6 && v[i] as f64 <= x.max + 1e-6);
                }
            }
            for (i, &x) in v.iter().enumerate() {
                if x > 0 && x < k {
                    prop_assert!(p.suppression.suppressed[i], "small cell {i} = {x} published");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// No published table leaves a recoverable cell: every small count is suppressed, and
        /// no constraint (row total, column total, Comune within zona, zona within Region) has
        /// exactly one suppressed cell — so an attacker who subtracts published cells from
        /// published totals learns nothing; checked by actually running that attack.
        #[test]
        fn no_recoverable_cell(
            zones in 1usize..4, comuni in 1usize..5, groups in 1usize..5, k in 3i64..8,
            data in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..40], 1..80),
        ) {
            let (v, cons) = cube(zones, comuni, groups, &data);
            let s = suppress(&v, &vec![true; v.len()], k, &[], &cons);
            for (i, &x) in v.iter().enumerate() {
                if x > 0 && x < k {
                    prop_assert!(s.suppressed[i], "small cell {i} = {x} published");
                }
            }
            // The subtraction attack, iterated: solve any constraint with one unknown.
            let mut known: Vec<bool> = s.suppressed.iter().map(|&x| !x).collect();
            loop {
                let mut progress = false;
                for c in &cons {
                    let unknown: Vec<usize> = c.iter().copied().filter(|&x| !known[x]).collect();
                    if unknown.len() == 1 {
                        known[unknown[0]] = true;
                        progress = true;
                        prop_assert!(false, "cell {} recoverable from constraint {:?}", unknown[0], c);
                    }
                }
                if !progress { break; }
            }
        }
    }
}
