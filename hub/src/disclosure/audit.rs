//! The attacker's audit: for every suppressed cell, the interval of values consistent with
//! everything published — every constraint at once — by linear programming with HiGHS.
//!
//! Suppressed cells linked through shared constraints form a component; each component is one
//! linear program, built once, whose objective is switched from cell to cell (minimise, then
//! maximise) so that every solve starts from the previous optimal basis. Components are solved
//! on every core and cached by their cell set, so [`super::protect()`] re-solves only what a
//! round changed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use highs::{HighsModelStatus, Model, RowProblem, Sense};

use super::{AuditError, Interval, Relation, Table};

/// How much to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both bounds of every suppressed cell (the audit report).
    Exact,
    /// Only as much as proves each cell protected or not: a cell whose feasible points seen so
    /// far (the true values, and every optimum of its component) already span a protected
    /// interval is not solved for (the protection loop).
    Sufficient,
}

/// The outcome of an audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Per cell: its interval if suppressed, `None` if published.
    pub intervals: Vec<Option<Interval>>,
    /// Components (independent linear programs).
    pub components: usize,
    /// Cells in the largest component.
    pub largest: usize,
    /// Linear programs solved in this run (cached components not counted).
    pub solves: usize,
}

impl Audit {
    /// The suppressed cells that the audit finds unprotected.
    pub fn unprotected(&self, t: &Table) -> Vec<usize> {
        (0..t.len())
            .filter(|&c| self.intervals[c].is_some_and(|iv| !iv.protects(t.is_count(c), t.k)))
            .collect()
    }
}

/// Audits `suppressed` cells of `t` (one-off; see [`Auditor`] to audit several suppressions of
/// one table).
pub fn audit(t: &Table, suppressed: &[bool], mode: Mode) -> Result<Audit, AuditError> {
    Auditor::new(t)?.run(suppressed, mode)
}

type Solved = Vec<(usize, Interval)>;

/// Audits suppressions of one table, remembering every component it solved.
#[derive(Debug)]
pub struct Auditor<'a> {
    table: &'a Table,
    member_of: Vec<Vec<usize>>,
    cache: HashMap<(Vec<usize>, bool), Solved>,
    threads: usize,
}

impl<'a> Auditor<'a> {
    /// Checks the table ([`Table::check`]) and prepares to audit it.
    pub fn new(table: &'a Table) -> Result<Self, AuditError> {
        table.check()?;
        Ok(Auditor {
            table,
            member_of: table.member_of(),
            cache: HashMap::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Audits one suppression.
    pub fn run(&mut self, suppressed: &[bool], mode: Mode) -> Result<Audit, AuditError> {
        let t = self.table;
        let n = t.len();
        let suppressed: Vec<bool> = (0..n)
            .map(|c| suppressed.get(c).copied().unwrap_or(false))
            .collect();
        let components = self.components(&suppressed);
        let exact = mode == Mode::Exact;
        let mut todo: Vec<&Vec<usize>> = components
            .iter()
            .filter(|c| !self.cache.contains_key(&((*c).clone(), exact)))
            .collect();
        // Largest first, so the threads finish together.
        todo.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(Vec<usize>, Solved)>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<AuditError>> = Mutex::new(None);
        let threads = self.threads.min(todo.len()).max(1);
        let member_of = &self.member_of;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cells) = todo.get(i) else { break };
                    if lock(&failure).is_some() {
                        break;
                    }
                    match solve_component(t, member_of, &suppressed, cells, mode) {
                        Ok(r) => lock(&results).push(((*cells).clone(), r)),
                        Err(e) => {
                            lock(&failure).get_or_insert(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = lock(&failure).take() {
            return Err(e);
        }
        let solves = todo.len();
        for (cells, r) in std::mem::take(&mut *lock(&results)) {
            self.cache.insert((cells, exact), r);
        }
        let mut intervals = vec![None; n];
        for cells in &components {
            if let Some(solved) = self.cache.get(&(cells.clone(), exact)) {
                for &(c, iv) in solved {
                    intervals[c] = Some(iv);
                }
            }
        }
        Ok(Audit {
            intervals,
            components: components.len(),
            largest: components.iter().map(Vec::len).max().unwrap_or(0),
            solves,
        })
    }

    /// Suppressed cells grouped by the constraints they share (union-find), each group sorted.
    fn components(&self, suppressed: &[bool]) -> Vec<Vec<usize>> {
        let n = suppressed.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for c in &self.table.constraints {
            let mut hidden = c.cells().filter(|&x| suppressed[x]);
            if let Some(first) = hidden.next() {
                for x in hidden {
                    let (a, b) = (root(&mut parent, first), root(&mut parent, x));
                    parent[a] = b;
                }
            }
        }
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for x in (0..n).filter(|&x| suppressed[x]) {
            let r = root(&mut parent, x);
            groups.entry(r).or_default().push(x);
        }
        let mut out: Vec<Vec<usize>> = groups.into_values().collect();
        out.sort();
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The attacker's program for one component: a variable per suppressed cell, a row per
/// relation (published cells moved to the right-hand side).
fn program(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    cells: &[usize],
) -> (RowProblem, HashMap<usize, highs::Col>) {
    let mut pb = RowProblem::default();
    let mut col = HashMap::with_capacity(cells.len());
    for &c in cells {
        // A suppressed count is at least 1 (zeros are published; the module's invariant keeps
        // true zeros out of suppression, and `min` keeps the program feasible if one slipped in).
        let lb = if t.is_count(c) {
            t.values[c].clamp(0, 1) as f64
        } else {
            0.0
        };
        col.insert(c, pb.add_column(0.0, lb..));
    }
    let mut constraints: Vec<usize> = cells
        .iter()
        .flat_map(|&c| member_of[c].iter().copied())
        .collect();
    constraints.sort_unstable();
    constraints.dedup();
    for ci in constraints {
        let con = &t.constraints[ci];
        // `total - Σ parts` over variables, and the published cells' share on the right.
        let row = |parts: &[usize]| {
            let mut expr: Vec<(highs::Col, f64)> = Vec::new();
            let mut rhs = 0.0;
            let mut term = |c: usize, sign: f64| match col.get(&c) {
                Some(&v) if suppressed[c] => expr.push((v, sign)),
                _ => rhs -= sign * t.values[c] as f64,
            };
            term(con.total, 1.0);
            for &p in parts {
                term(p, -1.0);
            }
            (expr, rhs)
        };
        match con.relation {
            Relation::Sum => {
                let (expr, rhs) = row(&con.parts);
                if !expr.is_empty() {
                    pb.add_row(rhs..=rhs, expr);
                }
            }
            Relation::Bound => {
                let (expr, rhs) = row(&con.parts);
                if !expr.is_empty() {
                    pb.add_row(..=rhs, expr);
                }
                for p in con.parts.chunks(1) {
                    let (expr, rhs) = row(p);
                    if !expr.is_empty() {
                        pb.add_row(rhs.., expr);
                    }
                }
            }
        }
    }
    (pb, col)
}

/// Solves one component: both bounds of each of its cells (or, in [`Mode::Sufficient`], as
/// few as prove each cell's protection).
fn solve_component(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    cells: &[usize],
    mode: Mode,
) -> Result<Solved, AuditError> {
    let (pb, col) = program(t, member_of, suppressed, cells);
    let first = cells.first().copied().unwrap_or(0);
    let solver = |reason: String| AuditError::Solver {
        cell: first,
        reason,
    };
    let fresh = || -> Result<Model, AuditError> {
        let mut m = pb
            .clone()
            .try_optimise(Sense::Minimise)
            .map_err(|e| solver(format!("{e:?}")))?;
        m.make_quiet();
        // One thread per program: the components are already spread over the cores.
        let _ = m.try_set_option(&b"threads"[..], 1);
        Ok(m)
    };
    let mut model = Some(fresh()?);
    // Feasible points seen so far, per cell: the true values first.
    let mut seen: Vec<(f64, f64)> = cells
        .iter()
        .map(|&c| (t.values[c] as f64, t.values[c] as f64))
        .collect();
    let position: HashMap<usize, usize> = cells.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut out = Vec::with_capacity(cells.len());
    for (i, &c) in cells.iter().enumerate() {
        let v = col[&c];
        let count = t.is_count(c);
        let proven = |seen: &[(f64, f64)]| {
            let (lo, hi) = seen[i];
            mode == Mode::Sufficient
                && Interval {
                    min: lo,
                    max: hi,
                    exact: false,
                }
                .protects(count, t.k)
        };
        if proven(&seen) {
            let (min, max) = seen[i];
            out.push((
                c,
                Interval {
                    min,
                    max,
                    exact: false,
                },
            ));
            continue;
        }
        let mut extreme = |cost: f64,
                           seen: &mut Vec<(f64, f64)>|
         -> Result<Option<f64>, AuditError> {
            let mut m = model.take().ok_or_else(|| solver("no model".into()))?;
            m.change_column_cost(v, cost);
            let failed = |e| AuditError::Solver {
                cell: c,
                reason: format!("{e:?}"),
            };
            let mut solved = m.try_solve().map_err(failed)?;
            if !matches!(
                solved.status(),
                HighsModelStatus::Optimal
                    | HighsModelStatus::Unbounded
                    | HighsModelStatus::UnboundedOrInfeasible
            ) {
                // A warm start can end without a verdict; the same program from scratch then
                // decides.
                let mut m = fresh()?;
                m.change_column_cost(v, cost);
                solved = m.try_solve().map_err(failed)?;
            }
            let status = solved.status();
            let result = match status {
                HighsModelStatus::Optimal => {
                    let x = solved.get_solution();
                    for (&cell, &j) in &position {
                        if let Some(&val) = x.columns().get(col[&cell].index()) {
                            let s = &mut seen[j];
                            s.0 = s.0.min(val);
                            s.1 = s.1.max(val);
                        }
                    }
                    Ok(Some(cost * solved.objective_value()))
                }
                // The true values are feasible (checked), so this can only be unbounded.
                HighsModelStatus::Unbounded | HighsModelStatus::UnboundedOrInfeasible => Ok(None),
                other => Err(AuditError::Solver {
                    cell: c,
                    reason: format!("{other:?}"),
                }),
            };
            let mut m = Model::from(solved);
            m.change_column_cost(v, 0.0);
            model = Some(m);
            result
        };
        let min = extreme(1.0, &mut seen)?.unwrap_or(0.0);
        if proven(&seen) {
            let (lo, hi) = seen[i];
            out.push((
                c,
                Interval {
                    min: lo.min(min),
                    max: hi,
                    exact: false,
                },
            ));
            continue;
        }
        let max = extreme(-1.0, &mut seen)?.unwrap_or(f64::INFINITY);
        out.push((
            c,
            Interval {
                min,
                max,
                exact: true,
            },
        ));
    }
    Ok(out)
}
