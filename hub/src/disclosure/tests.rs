//! Tests of suppression, the LP audit and protection on small hierarchical tables.

use super::*;
use proptest::prelude::*;

/// A table from values, one constraint per list (first = total), all `relation`, all counts.
fn table(values: Vec<i64>, constraints: &[&[usize]], relation: Relation, k: i64) -> Table {
    Table {
        counts: vec![true; values.len()],
        values,
        follows: Vec::new(),
        constraints: constraints
            .iter()
            .map(|c| Constraint {
                total: c[0],
                parts: c[1..].to_vec(),
                relation,
            })
            .collect(),
        k,
        fixed: Vec::new(),
        marked: Vec::new(),
    }
}

/// A two-level hierarchy: `zones` zones of `comuni` Comuni, `groups` groups each, every
/// relation a sum. Cell layout: for each unit (Comuni, then zones, then the region) `groups +
/// 1` cells, the first being the unit's total over its groups.
fn cube(zones: usize, comuni: usize, groups: usize, data: &[i64], k: i64) -> Table {
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
    let mut cons: Vec<Vec<usize>> = Vec::new();
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
    let refs: Vec<&[usize]> = cons.iter().map(Vec::as_slice).collect();
    table(v, &refs, Relation::Sum, k)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn single_small_cell_gets_a_partner() {
    // Totals 10 = 2 + 8: the 2 is suppressed, so is the 8 (else 10 − 8 = 2).
    let t = table(vec![10, 2, 8], &[&[0, 1, 2]], Relation::Sum, 5);
    assert_eq!(suppress(&t, &[]).suppressed, vec![false, true, true]);
    // True zeros and large cells are published.
    let t = table(vec![20, 0, 20], &[&[0, 1, 2]], Relation::Sum, 5);
    assert_eq!(suppress(&t, &[]).suppressed, vec![false, false, false]);
    // A partner is never a zero count: 6 = 4 + 0 + 2 takes the 2, and in 4 = 4 + 0 both 4s are
    // small while the zero stays published.
    let t = table(vec![6, 4, 0, 2], &[&[0, 1, 2, 3]], Relation::Sum, 5);
    assert_eq!(suppress(&t, &[]).suppressed, vec![false, true, false, true]);
    let t = table(vec![4, 4, 0], &[&[0, 1, 2]], Relation::Sum, 5);
    assert_eq!(suppress(&t, &[]).suppressed, vec![true, true, false]);
    // A published total partners a lone suppressed part when no other part is positive.
    let t = table(
        vec![12, 12, 0, 20, 8],
        &[&[0, 1, 2], &[3, 1, 4]],
        Relation::Sum,
        5,
    );
    assert_eq!(
        suppress(&t, &[4]).suppressed,
        vec![true, true, false, false, true]
    );
    // An amount follows its count.
    let t = Table {
        values: vec![3, 500],
        counts: vec![true, false],
        follows: vec![(0, 1)],
        constraints: Vec::new(),
        k: 5,
        fixed: Vec::new(),
        marked: Vec::new(),
    };
    assert_eq!(suppress(&t, &[]).suppressed, vec![true, true]);
}

#[test]
fn malformed_and_inconsistent_tables_are_refused() {
    let t = table(vec![10, 2, 8], &[&[0, 1, 3]], Relation::Sum, 5);
    assert!(matches!(t.check(), Err(AuditError::Malformed(_))));
    let t = table(vec![10, 2, 9], &[&[0, 1, 2]], Relation::Sum, 5);
    assert!(matches!(
        audit(&t, &[false, true, true], Mode::Exact),
        Err(AuditError::Inconsistent(0))
    ));
    // A distinct count above the sum of its parts is impossible too.
    let t = table(vec![12, 2, 9], &[&[0, 1, 2]], Relation::Bound, 5);
    assert!(matches!(t.check(), Err(AuditError::Inconsistent(0))));
    let t = Table {
        counts: vec![true],
        ..table(vec![10, 2, 8], &[&[0, 1, 2]], Relation::Sum, 5)
    };
    assert!(matches!(t.check(), Err(AuditError::Malformed(_))));
}

/// The case the pre-issue suppression fails: subtraction-safe is not LP-safe.
#[test]
fn subtraction_safe_is_not_lp_safe_and_protect_fixes_it() {
    // 16 = 2 + 4 + 10: the 2 and the 4 (both small) are suppressed, which no subtraction
    // recovers — but 2 + 4 = 16 - 10 = 6 with both at least 1 pins the small cell
    // to [1, 5]: four wide, under k = 5.
    let t = table(vec![16, 2, 4, 10], &[&[0, 1, 2, 3]], Relation::Sum, 5);
    let s = suppress(&t, &[]);
    assert_eq!(s.suppressed, vec![false, true, true, false]);
    let a = audit(&t, &s.suppressed, Mode::Exact).unwrap();
    let small = a.intervals[1].unwrap();
    assert!(close(small.min, 1.0) && close(small.max, 5.0), "{small:?}");
    assert!(small.exact && !small.protects(true, 5));
    assert_eq!(a.unprotected(&t), vec![1, 2]);
    // Protection adds the 10, and then every interval is wide.
    let p = protect(&t).unwrap();
    assert_eq!(p.suppression.suppressed, vec![false, true, true, true]);
    // The 2 and the 4 are both small (primary); the 10 is the audit's addition.
    assert_eq!((p.extra_cells, p.extra_total, p.audit_cells), (1, 10, 1));
    assert_eq!(p.primary_cells, 2);
    let a = audit(&t, &p.suppression.suppressed, Mode::Exact).unwrap();
    assert!(a.unprotected(&t).is_empty(), "{a:?}");
    let small = a.intervals[1].unwrap();
    assert!(close(small.min, 1.0) && close(small.max, 14.0), "{small:?}");
}

#[test]
fn distinct_counts_are_only_bounded() {
    // 10 <= a + b, 10 >= a, 10 >= b, with a = 3 and b = 8 suppressed: a in [1, 10].
    let t = table(vec![10, 3, 8], &[&[0, 1, 2]], Relation::Bound, 5);
    let a = audit(&t, &[false, true, true], Mode::Exact).unwrap();
    let iv = a.intervals[1].unwrap();
    assert!(close(iv.min, 1.0) && close(iv.max, 10.0), "{iv:?}");
    // A suppressed total of published parts 3 and 8: at least 8, at most 11.
    let a = audit(&t, &[true, false, false], Mode::Exact).unwrap();
    let iv = a.intervals[0].unwrap();
    assert!(close(iv.min, 8.0) && close(iv.max, 11.0), "{iv:?}");
}

#[test]
fn unbounded_cells_and_amounts() {
    // Two suppressed parts of a suppressed total, nothing else: no upper bound.
    let t = table(vec![9, 2, 7], &[&[0, 1, 2]], Relation::Sum, 5);
    let a = audit(&t, &[true, true, true], Mode::Exact).unwrap();
    let iv = a.intervals[1].unwrap();
    assert!(close(iv.min, 1.0) && iv.max.is_infinite(), "{iv:?}");
    // Amounts (cents) need k euro of width and may be zero.
    let mut t = table(vec![1000, 300, 700], &[&[0, 1, 2]], Relation::Sum, 5);
    t.counts = vec![false; 3];
    let a = audit(&t, &[false, true, true], Mode::Exact).unwrap();
    let iv = a.intervals[1].unwrap();
    assert!(close(iv.min, 0.0) && close(iv.max, 1000.0), "{iv:?}");
    assert!(iv.protects(false, 5));
    assert!(!Interval {
        min: 0.0,
        max: 499.0,
        exact: true
    }
    .protects(false, 5));
}

#[test]
fn an_auditor_solves_each_component_once() {
    let t = cube(2, 3, 3, &[1, 7, 9, 30, 2, 0, 12], 5);
    let s = suppress(&t, &[]);
    let mut auditor = Auditor::new(&t).unwrap();
    let first = auditor.run(&s.suppressed, Mode::Exact).unwrap();
    assert!(first.solves > 0);
    let again = auditor.run(&s.suppressed, Mode::Exact).unwrap();
    assert_eq!(again.solves, 0);
    assert_eq!(first.intervals, again.intervals);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// Every sensitive suppressed cell of a protected table is protected against the full linear
    /// programming attack (all constraints at once), re-audited independently in exact mode;
    /// the true value lies in every interval; no small cell is published and no zero count is
    /// suppressed.
    #[test]
    fn protected_tables_pass_the_lp_audit(
        zones in 1usize..4, comuni in 1usize..4, groups in 1usize..4, k in 3i64..7,
        data in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..30], 1..40),
    ) {
        let t = cube(zones, comuni, groups, &data, k);
        let p = protect(&t).unwrap();
        let a = audit(&t, &p.suppression.suppressed, Mode::Exact).unwrap();
        let sensitive = t.sensitive();
        for (i, x) in a.intervals.iter().enumerate() {
            if let Some(x) = x {
                prop_assert!(x.exact);
                prop_assert!(
                    !sensitive[i] || x.protects(true, k),
                    "sensitive cell {i} = {} pinned to {x:?}", t.values[i]
                );
                let v = t.values[i] as f64;
                prop_assert!(x.min <= v + 1e-6 && v <= x.max + 1e-6, "{v} outside {x:?}");
                prop_assert!(t.values[i] > 0, "zero count {i} suppressed");
            }
        }
        for i in 0..t.len() {
            if t.small(i) {
                prop_assert!(p.suppression.suppressed[i], "small cell {i} published");
            }
        }
        // The sufficient mode's verdicts are the exact mode's.
        let s = audit(&t, &p.suppression.suppressed, Mode::Sufficient).unwrap();
        prop_assert_eq!(s.unprotected(&t), a.unprotected(&t));
    }

    /// Sufficient mode never calls a cell protected that the exact audit does not, on the
    /// plain (pre-issue) suppression, which often leaves cells unprotected.
    #[test]
    fn sufficient_mode_agrees_with_exact(
        zones in 1usize..4, comuni in 1usize..4, groups in 1usize..4, k in 3i64..7,
        data in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..30], 1..40),
    ) {
        let t = cube(zones, comuni, groups, &data, k);
        let s = suppress(&t, &[]);
        let exact = audit(&t, &s.suppressed, Mode::Exact).unwrap();
        let quick = audit(&t, &s.suppressed, Mode::Sufficient).unwrap();
        prop_assert_eq!(quick.unprotected(&t), exact.unprotected(&t));
        for (e, q) in exact.intervals.iter().zip(&quick.intervals) {
            if let (Some(e), Some(q)) = (e, q) {
                // A sufficient interval is inside the exact one.
                prop_assert!(e.min <= q.min + 1e-6 && q.max <= e.max + 1e-6, "{q:?} vs {e:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// No published table leaves a recoverable cell: every small count is suppressed, and no
    /// constraint (row total, column total, Comune within zona, zona within Region) has exactly
    /// one suppressed cell — so an attacker who subtracts published cells from published totals
    /// learns nothing; checked by actually running that attack.
    #[test]
    fn no_recoverable_cell(
        zones in 1usize..4, comuni in 1usize..5, groups in 1usize..5, k in 3i64..8,
        data in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..40], 1..80),
    ) {
        let t = cube(zones, comuni, groups, &data, k);
        let s = suppress(&t, &[]);
        for i in 0..t.len() {
            if t.small(i) {
                prop_assert!(s.suppressed[i], "small cell {i} = {} published", t.values[i]);
            }
        }
        // The subtraction attack, iterated: solve any constraint with one unknown.
        let known: Vec<bool> = s.suppressed.iter().map(|&x| !x).collect();
        for c in &t.constraints {
            let unknown: Vec<usize> = c.cells().filter(|&x| !known[x]).collect();
            prop_assert!(unknown.len() != 1, "cell {} recoverable from {:?}", unknown[0], c);
        }
    }
}

/// A revision: the attacker holds both releases. Zona 10 = A 5 + B 5, all published; then A
/// gains 2 households. Publishing 12 = 7 + 5 would give away that 2 arrived: the joint table
/// withholds A and the zona (both changed by 2 < k), whose intervals are then wide.
#[test]
fn a_small_change_between_releases_is_protected() {
    let old = table(vec![10, 5, 5], &[&[0, 1, 2]], Relation::Sum, 5);
    let new = table(vec![12, 7, 5], &[&[0, 1, 2]], Relation::Sum, 5);
    let same = [Some(0), Some(1), Some(2)];
    let j = joint(&new, &old, &[false; 3], &same);
    assert_eq!((j.new, j.changes, j.table.len()), (3, 2, 5));
    // B is unchanged and was published: known, never a complement; A and the zona are withheld.
    assert_eq!(j.table.fixed(2), Some(false));
    assert_eq!(
        (j.table.fixed(0), j.table.fixed(1)),
        (Some(true), Some(true))
    );
    let p = protect(&j.table).unwrap();
    assert_eq!(&p.suppression.suppressed[..3], &[true, true, false]);
    let a = audit(&j.table, &p.suppression.suppressed, Mode::Exact).unwrap();
    assert!(a.unprotected(&j.table).is_empty(), "{a:?}");
    // A figure that falls is withheld the same way, and stays protected.
    let fell = table(vec![7, 2, 5], &[&[0, 1, 2]], Relation::Sum, 5);
    let j = joint(&fell, &old, &[false; 3], &same);
    let p = protect(&j.table).unwrap();
    let a = audit(&j.table, &p.suppression.suppressed, Mode::Exact).unwrap();
    assert!(a.unprotected(&j.table).is_empty(), "{a:?}");
    // Unchanged figures change nothing and fix what was published.
    let j = joint(&old, &old, &[false; 3], &same);
    assert_eq!((j.table.len(), j.changes), (3, 0));
    assert!(protect(&j.table).unwrap().suppression.count() == 0);
}

/// A cell the previous release withheld stays protected in the joint table: a revision that
/// publishes its partner unchanged would expose it, so the revision keeps withholding.
#[test]
fn a_revision_does_not_expose_what_the_previous_release_withheld() {
    // Zona 30 = A 3 (small) + B 27; the first release withholds A and B.
    let old = table(vec![30, 3, 27], &[&[0, 1, 2]], Relation::Sum, 5);
    let p = protect(&old).unwrap();
    assert_eq!(p.suppression.suppressed, vec![false, true, true]);
    // Only a third Comune C appears (Zona 40 = 3 + 27 + 10): A and B unchanged.
    let new = table(vec![40, 3, 27, 10], &[&[0, 1, 2, 3]], Relation::Sum, 5);
    let j = joint(
        &new,
        &old,
        &p.suppression.suppressed,
        &[Some(0), Some(1), Some(2)],
    );
    let q = protect(&j.table).unwrap();
    let s = &q.suppression.suppressed;
    // B stays withheld (publishing 27 would give A = 30 − 27 through the old release).
    assert!(s[1] && s[2], "{s:?}");
    let a = audit(&j.table, s, Mode::Exact).unwrap();
    assert!(a.unprotected(&j.table).is_empty(), "{a:?}");
}

/// Only sensitive cells need protection: a complement the attacker narrows below `k` discloses
/// nothing about fewer than `k` units. Here the 10 is withheld beside the small 2; a
/// distinct-count bound (10 ≥ its published part 9) and a sum (30 = 10 + 20, the 20 at least
/// its part 18) narrow it to [9, 12], yet the 2 ranges over [1, 22].
#[test]
fn complements_need_no_protection_of_their_own() {
    let sum = |total, parts: &[usize]| Constraint {
        total,
        parts: parts.to_vec(),
        relation: Relation::Sum,
    };
    let bound = |total, parts: &[usize]| Constraint {
        total,
        parts: parts.to_vec(),
        relation: Relation::Bound,
    };
    let t = Table {
        values: vec![32, 2, 10, 20, 9, 6, 30, 20, 18, 7],
        counts: vec![true; 10],
        follows: Vec::new(),
        constraints: vec![
            sum(0, &[1, 2, 3]),
            bound(2, &[4, 5]),
            sum(6, &[2, 7]),
            bound(7, &[8, 9]),
        ],
        k: 5,
        fixed: Vec::new(),
        marked: Vec::new(),
    };
    let mut suppressed = vec![false; 10];
    for c in [1, 2, 3, 7] {
        suppressed[c] = true;
    }
    let a = audit(&t, &suppressed, Mode::Exact).unwrap();
    let iv = |c: usize| a.intervals[c].unwrap();
    assert!(
        close(iv(1).min, 1.0) && close(iv(1).max, 22.0),
        "{:?}",
        iv(1)
    );
    assert!(
        close(iv(2).min, 9.0) && close(iv(2).max, 12.0),
        "{:?}",
        iv(2)
    );
    assert!(a.unprotected(&t).is_empty());
    assert_eq!(a.narrowed(&t), vec![2, 7]);
    // The proof mode computes nothing for complements, and agrees.
    let q = audit(&t, &suppressed, Mode::Sufficient).unwrap();
    assert!(q.unprotected(&t).is_empty() && q.intervals[2].is_none());
    assert!(q.intervals[1].is_some_and(|iv| iv.protects(true, 5)));
    // Marked cells (a revision's small changes) are sensitive, and so is an amount that
    // follows a sensitive count; a marked cell published for good cannot be protected.
    let mut m = t.clone();
    m.marked = vec![false; 10];
    m.marked[2] = true;
    assert_eq!(a.unprotected(&m), vec![2]);
    m.values.push(5000);
    m.counts.push(false);
    m.follows.push((2, 10));
    m.marked.push(false);
    let sensitive = m.sensitive();
    assert!(sensitive[1] && sensitive[2] && sensitive[10] && !sensitive[3]);
    m.fixed = vec![None; 11];
    m.fixed[2] = Some(false);
    assert!(matches!(m.check(), Err(AuditError::Unprotectable(2))));
}
