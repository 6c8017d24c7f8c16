//! Disclosure control on cubes built from synthetic members' aggregates over the real zona and
//! Comune hierarchy: the audit's exact intervals agree with an independent solver (SciPy's
//! `linprog` on the whole system, hub/tests/sdc/linprog_check.py); subtraction-safe suppression
//! alone fails the audit on such data while the published (protected) cube passes it.

use std::collections::BTreeMap;
use std::process::Command;

use proptest::prelude::*;
use siso_hub::disclosure::{self, Method, Mode};
use siso_hub::stats;
use siso_shared::wire::{AggregateCell, Breakdown, Measure};
use siso_shared::{AreaBisogno, MemberId, TipoIntervento};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n.max(1)) as i64
    }

    /// A small count, zero 40% of the time.
    fn count(&mut self, max: u64) -> i64 {
        if self.below(10) < 4 {
            0
        } else {
            1 + self.below(max)
        }
    }
}

/// Comuni from the first `zone` zone, `per_zona` each.
fn comuni(zone: u8, per_zona: usize) -> Vec<MemberId> {
    (1..=zone)
        .flat_map(|z| siso_shared::comuni::in_zona(z).take(per_zona))
        .map(|c| MemberId::comune(&c.istat).expect("a real ISTAT code"))
        .collect()
}

fn cell(breakdown: Breakdown, measure: Measure, value: i64) -> AggregateCell {
    AggregateCell {
        breakdown,
        measure,
        value,
    }
}

/// What each member would send: accessi by area and month (events: sums), expenditure by type
/// of intervention and month (amounts: sums), persons with an access and households supported
/// by group over the epoch (distinct counts: a total at least each group and at most their sum).
fn aggregates(
    seed: u64,
    members: &[MemberId],
    months: u8,
) -> Vec<(MemberId, u8, Vec<AggregateCell>)> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for m in members {
        let mut epoch: BTreeMap<u8, Vec<AggregateCell>> = BTreeMap::new();
        let mut accessi_year = vec![0i64; AreaBisogno::ALL.len()];
        let mut spent_year = vec![0i64; TipoIntervento::ALL.len()];
        for month in 1..=months {
            let mut cells = Vec::new();
            let accessi: Vec<i64> = AreaBisogno::ALL.iter().map(|_| rng.count(6)).collect();
            for (i, a) in AreaBisogno::ALL.iter().enumerate() {
                cells.push(cell(Breakdown::Area(*a), Measure::Accessi, accessi[i]));
                accessi_year[i] += accessi[i];
            }
            cells.push(cell(
                Breakdown::Total,
                Measure::Accessi,
                accessi.iter().sum(),
            ));
            let spent: Vec<i64> = TipoIntervento::ALL
                .iter()
                .map(|_| rng.count(3) * 12_345)
                .collect();
            for (i, t) in TipoIntervento::ALL.iter().enumerate() {
                cells.push(cell(
                    Breakdown::Tipo(*t),
                    Measure::ExpenditureCents,
                    spent[i],
                ));
                spent_year[i] += spent[i];
            }
            cells.push(cell(
                Breakdown::Total,
                Measure::ExpenditureCents,
                spent.iter().sum(),
            ));
            out.push((m.clone(), month, cells));
        }
        let year = epoch.entry(0).or_default();
        for (i, a) in AreaBisogno::ALL.iter().enumerate() {
            year.push(cell(Breakdown::Area(*a), Measure::Accessi, accessi_year[i]));
        }
        year.push(cell(
            Breakdown::Total,
            Measure::Accessi,
            accessi_year.iter().sum(),
        ));
        for (i, t) in TipoIntervento::ALL.iter().enumerate() {
            year.push(cell(
                Breakdown::Tipo(*t),
                Measure::ExpenditureCents,
                spent_year[i],
            ));
        }
        year.push(cell(
            Breakdown::Total,
            Measure::ExpenditureCents,
            spent_year.iter().sum(),
        ));
        // Distinct counts: the total is at least the largest group and at most their sum.
        let persons: Vec<i64> = AreaBisogno::ALL.iter().map(|_| rng.count(7)).collect();
        let (max, sum) = (
            *persons.iter().max().unwrap_or(&0),
            persons.iter().sum::<i64>(),
        );
        for (i, a) in AreaBisogno::ALL.iter().enumerate() {
            year.push(cell(
                Breakdown::Area(*a),
                Measure::PersoneConAccesso,
                persons[i],
            ));
        }
        let total = max + rng.below((sum - max + 1) as u64);
        year.push(cell(Breakdown::Total, Measure::PersoneConAccesso, total));
        out.extend(
            epoch
                .into_iter()
                .map(|(month, cells)| (m.clone(), month, cells)),
        );
    }
    out
}

fn python_intervals(table: &disclosure::Table, suppressed: &[bool]) -> BTreeMap<usize, (f64, f64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("table.json");
    std::fs::write(&path, table.to_json(suppressed).to_string()).expect("write table");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdc/linprog_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs (CI installs scipy: .ci/run)");
    assert!(
        out.status.success(),
        "linprog_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: BTreeMap<String, (Option<f64>, Option<f64>)> =
        serde_json::from_slice(&out.stdout).expect("JSON from linprog_check.py");
    doc.into_iter()
        .map(|(c, (min, max))| {
            (
                c.parse().expect("a cell index"),
                (
                    min.unwrap_or(f64::NEG_INFINITY),
                    max.unwrap_or(f64::INFINITY),
                ),
            )
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_infinite() && b.is_infinite() && a.signum() == b.signum()) || (a - b).abs() < 1e-5
}

#[test]
fn the_audit_agrees_with_scipy_and_plain_suppression_fails_it() {
    let members = comuni(2, 3);
    let mut plain_failed = 0;
    for seed in 1..=3 {
        let cube = stats::build_cube(5, Method::Audited, aggregates(seed, &members, 3), None)
            .expect("protected");
        let t = &cube.table;
        // The published suppression: every interval agrees with SciPy's, to the unit and
        // well below, and every cell is protected.
        let published = &cube.protection.suppression.suppressed;
        let (audit, _) = stats::audit(&cube, Mode::Exact).expect("audit");
        assert!(
            audit.unprotected(t).is_empty(),
            "seed {seed}: {:?}",
            audit.unprotected(t)
        );
        let reference = python_intervals(t, published);
        assert_eq!(reference.len(), published.iter().filter(|&&s| s).count());
        for (c, (min, max)) in &reference {
            let iv = audit.intervals[*c].expect("a suppressed cell has an interval");
            assert!(
                same(iv.min, *min) && same(iv.max, *max),
                "seed {seed} cell {c}: hub [{}, {}], scipy [{min}, {max}]",
                iv.min,
                iv.max
            );
        }
        // Subtraction-safe suppression alone, on the same table.
        let plain = disclosure::suppress(t, &[]);
        let a = disclosure::audit(t, &plain.suppressed, Mode::Exact).expect("audit");
        let weak = a.unprotected(t);
        if !weak.is_empty() {
            plain_failed += 1;
            // SciPy sees the same weakness.
            let reference = python_intervals(t, &plain.suppressed);
            for c in weak {
                let (min, max) = reference[&c];
                assert!(
                    !disclosure::Interval {
                        min,
                        max,
                        exact: true
                    }
                    .protects(t.is_count(c), t.k),
                    "seed {seed} cell {c}: scipy finds [{min}, {max}] protected"
                );
            }
        }
        assert!(cube.protection.audit_cells > 0 || a.unprotected(t).is_empty());
    }
    assert!(
        plain_failed > 0,
        "no seed showed subtraction-safe suppression failing the audit"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Random populations over the real hierarchy: the published cube passes both audits — the
    /// proof mode the hub publishes with, and the exact one — for every sensitive cell.
    #[test]
    fn every_published_cube_passes_the_audit(seed in any::<u64>(), zone in 1u8..4, per in 1usize..4, months in 1u8..4) {
        let members = comuni(zone, per);
        let cube = stats::build_cube(5, Method::Audited, aggregates(seed, &members, months), None).expect("protected");
        let t = &cube.table;
        let (quick, _) = stats::audit(&cube, Mode::Sufficient).expect("audit");
        prop_assert!(quick.unprotected(t).is_empty());
        let (exact, cells) = stats::audit(&cube, Mode::Exact).expect("audit");
        prop_assert!(exact.unprotected(t).is_empty());
        // Every sensitive withheld cell's exact interval is protected (complements need not be),
        // and the exact audit reports every withheld cell.
        prop_assert!(cells.iter().all(|c| !c.sensitive || c.protected));
        prop_assert_eq!(cells.len(), cube.protection.suppression.count());
        for (c, &s) in cube.protection.suppression.suppressed.iter().enumerate() {
            if t.small(c) {
                prop_assert!(s, "small cell {c} published");
            }
            if s && t.is_count(c) {
                prop_assert!(t.values[c] > 0, "zero count {c} suppressed");
            }
        }
    }
}

/// The attacker's view of a revision: both releases' cells, linked as `disclosure::joint` links
/// them, withheld as the two releases withheld them.
fn joint_view(
    new: &siso_hub::release::Release,
    old: &siso_hub::release::Release,
) -> (disclosure::Table, Vec<bool>) {
    let index: BTreeMap<&stats::CellKey, usize> = new
        .cube
        .keys()
        .iter()
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect();
    let same: Vec<Option<usize>> = old
        .cube
        .keys()
        .iter()
        .map(|k| index.get(k).copied())
        .collect();
    let j = disclosure::joint(
        &new.cube.table,
        &old.cube.table,
        &old.cube.protection.suppression.suppressed,
        &same,
    );
    let withheld = (0..j.table.len())
        .map(|c| {
            j.table.fixed(c).unwrap_or_else(|| {
                new.cube
                    .protection
                    .suppression
                    .suppressed
                    .get(c)
                    .copied()
                    .unwrap_or(false)
            })
        })
        .collect();
    (j.table, withheld)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Random populations over the real hierarchy, released twice — the second time with one
    /// more month of data, so some figures change a little, some a lot and some not at all:
    /// both releases pass the exact audit on their own, and the revision passes it jointly with
    /// the release before it (nothing either withheld is narrowed below k by combining them,
    /// and no change of fewer than k is derivable). On data this sparse the joint program can
    /// pin a changed small cell whatever the revision withholds; then the revision is refused
    /// (it waits for more data) and the first release stays published.
    #[test]
    fn every_release_and_revision_passes_the_audit(seed in any::<u64>(), zone in 1u8..3, per in 1usize..4, months in 1u8..3) {
        use siso_hub::release::{cut, Period, ReleaseError};
        let members = comuni(zone, per);
        let period = Period { epoch: 2026, month: None };
        let first = cut(1, period, 0, 5, stats::Figures::of(aggregates(seed, &members, months), None), None)
            .expect("first release");
        let second = match cut(2, period, 1, 5, stats::Figures::of(aggregates(seed, &members, months + 1), None), Some(&first)) {
            Ok(r) => r,
            Err(ReleaseError::Audit(disclosure::AuditError::Unprotectable(_))) => return Ok(()),
            Err(e) => panic!("revision: {e}"),
        };
        prop_assert_eq!(second.meta.previous, Some(1));
        for r in [&first, &second] {
            let t = &r.cube.table;
            let a = disclosure::audit(t, &r.cube.protection.suppression.suppressed, Mode::Exact).expect("audit");
            prop_assert!(a.unprotected(t).is_empty(), "release {} alone", r.meta.id);
            // Every sensitive withheld cell was proven; a revision's small changes are sensitive.
            let sensitive = t.sensitive();
            let must = (0..t.len()).filter(|&c| sensitive[c] && r.cube.protection.suppression.suppressed[c]).count();
            prop_assert_eq!(r.meta.report.proven, must);
        }
        let (t, withheld) = joint_view(&second, &first);
        // The revision's small changes are sensitive in its own table (its checks, and the
        // next revision, protect them).
        let own = second.cube.table.sensitive();
        let n = second.cube.table.len();
        prop_assert!((0..n).all(|c| !t.marked.get(c).copied().unwrap_or(false) || own[c]));
        let a = disclosure::audit(&t, &withheld, Mode::Exact).expect("joint audit");
        prop_assert!(a.unprotected(&t).is_empty(), "revision against its predecessor: {:?}", a.unprotected(&t));
    }
}
