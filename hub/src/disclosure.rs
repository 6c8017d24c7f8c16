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
