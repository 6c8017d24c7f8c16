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
    /// Linear programs solved in this run (cached components and proven cells cost none).
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
    /// Cells proven protected by a [`Mode::Sufficient`] run, and the suppression that run
    /// audited: suppressing more cells only widens every interval (a published cell becomes a
    /// free variable), so the proofs hold for any superset of that suppression.
    proven: Vec<Option<Interval>>,
    proven_under: Vec<bool>,
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
            proven: vec![None; table.len()],
            proven_under: vec![false; table.len()],
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
        let grows = self
            .proven_under
            .iter()
            .zip(&suppressed)
            .all(|(&before, &now)| !before || now);
        if exact || !grows {
            self.proven = vec![None; n];
        }
        let proven = &self.proven;
        let mut todo: Vec<&Vec<usize>> = components
            .iter()
            .filter(|c| !self.cache.contains_key(&((*c).clone(), exact)))
            .collect();
        // Largest first, so the threads finish together.
        todo.sort_by_key(|c| std::cmp::Reverse(c.len()));
        tracing::debug!(
            components = components.len(),
            to_solve = todo.len(),
            largest = todo.first().map_or(0, |c| c.len()),
            cells = todo.iter().map(|c| c.len()).sum::<usize>(),
            "disclosure control: auditing"
        );
        // A large component is shared between the cores (each share its own copy of the
        // program, its own cells), so one component does not keep one core busy alone.
        let todo: Vec<(&Vec<usize>, Share)> = todo
            .into_iter()
            .flat_map(|c| {
                let of = if c.len() >= SPLIT { self.threads } else { 1 };
                (0..of).map(move |index| (c, Share { index, of }))
            })
            .collect();
        let next = AtomicUsize::new(0);
        let solved_lps = AtomicUsize::new(0);
        let results: Mutex<HashMap<Vec<usize>, Solved>> = Mutex::new(HashMap::new());
        let failure: Mutex<Option<AuditError>> = Mutex::new(None);
        let threads = self.threads.min(todo.len()).max(1);
        let member_of = &self.member_of;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(cells, share)) = todo.get(i) else {
                        break;
                    };
                    if lock(&failure).is_some() {
                        break;
                    }
                    match solve_component(t, member_of, &suppressed, cells, mode, proven, share) {
                        Ok((r, n)) => {
                            solved_lps.fetch_add(n, Ordering::Relaxed);
                            lock(&results).entry(cells.clone()).or_default().extend(r);
                        }
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
        let solves = solved_lps.into_inner();
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
        if !exact {
            for (c, iv) in self.proven.iter().enumerate() {
                if iv.is_some() && suppressed[c] {
                    intervals[c] = *iv;
                }
            }
            for (c, iv) in intervals.iter().enumerate() {
                if let Some(iv) = iv.filter(|iv| iv.protects(t.is_count(c), t.k)) {
                    self.proven[c] = Some(iv);
                }
            }
            self.proven_under = suppressed;
        }
        Ok(Audit {
            intervals,
            components: components.len(),
            largest: components.iter().map(Vec::len).max().unwrap_or(0),
            solves,
        })
    }

    /// Decides `cells` (suppressed in `suppressed`) exactly, each on its whole component's
    /// program; those found protected count as proven for later [`Mode::Sufficient`] runs on
    /// this suppression or a larger one. The cells of a component are split between the
    /// cores, each with its own copy of the component's program.
    pub fn decide(
        &mut self,
        suppressed: &[bool],
        cells: &[usize],
    ) -> Result<Vec<(usize, Interval)>, AuditError> {
        let t = self.table;
        let components = self.components(suppressed);
        let mut work: Vec<(&Vec<usize>, Vec<usize>)> = Vec::new();
        for component in &components {
            let wanted: Vec<usize> = (0..component.len())
                .filter(|&i| cells.contains(&component[i]))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            // Interleaved, so that each share holds cells from all over the component.
            let shares = self.threads.min(wanted.len()).max(1);
            for s in 0..shares {
                let share: Vec<usize> = wanted.iter().copied().skip(s).step_by(shares).collect();
                work.push((component, share));
            }
        }
        // Largest first, so the threads finish together.
        work.sort_by_key(|(c, w)| std::cmp::Reverse(c.len() * w.len()));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Interval, bool)>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<AuditError>> = Mutex::new(None);
        let member_of = &self.member_of;
        std::thread::scope(|scope| {
            for _ in 0..self.threads.min(work.len()).max(1) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((component, share)) = work.get(i) else {
                        break;
                    };
                    if lock(&failure).is_some() {
                        break;
                    }
                    match decide_share(t, member_of, suppressed, component, share) {
                        Ok(r) => lock(&results).extend(r),
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
        let mut out = Vec::new();
        for (c, iv, proven) in std::mem::take(&mut *lock(&results)) {
            if proven {
                self.proven[c] = Some(iv);
            }
            out.push((c, iv));
        }
        out.sort_by_key(|&(c, _)| c);
        Ok(out)
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

/// Decides the cells at positions `wanted` of `component` on the component's whole program:
/// all pushed up, then down, together (where nothing published holds them, one program proves
/// them all); random-sign boxed batches; then each cell's own upper bound, and its lower bound
/// only if still needed. Returns each cell's interval and whether it is protected.
fn decide_share(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    component: &[usize],
    wanted: &[usize],
) -> Result<Vec<(usize, Interval, bool)>, AuditError> {
    let mut lp = Lp::new(t, member_of, suppressed, component)?;
    for up in [true, false] {
        let costs: Vec<(usize, f64)> = wanted
            .iter()
            .map(|&i| (i, if up { -1.0 } else { 1.0 }))
            .collect();
        let bounds: Vec<(usize, f64, f64)> = wanted
            .iter()
            .map(|&i| {
                let c = component[i];
                let (v, w) = (t.values[c] as f64, width(t, c));
                if up {
                    (i, lp.lower[i], v + w)
                } else {
                    (i, (v - w).max(lp.lower[i]), f64::INFINITY)
                }
            })
            .collect();
        lp.solve(&costs, &bounds)?;
    }
    lp.batches(wanted.to_vec())?;
    let mut out = Vec::with_capacity(wanted.len());
    for &i in wanted {
        let c = component[i];
        // Proven by the batches, or by its own upper bound: the lower one is not needed.
        let mut max = f64::NAN;
        if !lp.proven(i) {
            max = lp.solve(&[(i, -1.0)], &[])?.map_or(f64::INFINITY, |o| -o);
        }
        if lp.proven(i) {
            let (min, max) = lp.seen[i];
            out.push((
                c,
                Interval {
                    min,
                    max,
                    exact: false,
                },
                true,
            ));
            continue;
        }
        let min = lp.solve(&[(i, 1.0)], &[])?.unwrap_or(0.0);
        let iv = Interval {
            min,
            max,
            exact: true,
        };
        out.push((c, iv, iv.protects(t.is_count(c), t.k)));
    }
    Ok(out)
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

/// The width a cell's interval needs: `k` for a count, `k` euro for an amount (cents).
fn width(t: &Table, c: usize) -> f64 {
    if t.is_count(c) {
        t.k as f64
    } else {
        100.0 * t.k as f64
    }
}

/// One component's program in HiGHS, kept warm between solves, and the feasible points seen.
struct Lp<'a> {
    t: &'a Table,
    cells: &'a [usize],
    /// The program as built (a fresh start when a warm start fails).
    problem: RowProblem,
    /// Column of `cells[i]` is `cols[i]`.
    cols: Vec<highs::Col>,
    /// Lower bound of each column as built.
    lower: Vec<f64>,
    model: Option<Model>,
    /// Per cell, the least and greatest value of a feasible point seen (the true values first).
    seen: Vec<(f64, f64)>,
    solves: usize,
}

impl<'a> Lp<'a> {
    fn new(
        t: &'a Table,
        member_of: &[Vec<usize>],
        suppressed: &[bool],
        cells: &'a [usize],
    ) -> Result<Self, AuditError> {
        let (problem, col) = program(t, member_of, suppressed, cells);
        let cols: Vec<highs::Col> = cells.iter().map(|c| col[c]).collect();
        let lower = cells
            .iter()
            .map(|&c| {
                if t.is_count(c) {
                    t.values[c].clamp(0, 1) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let mut lp = Lp {
            t,
            cells,
            problem,
            cols,
            lower,
            model: None,
            seen: cells
                .iter()
                .map(|&c| (t.values[c] as f64, t.values[c] as f64))
                .collect(),
            solves: 0,
        };
        lp.model = Some(lp.fresh()?);
        Ok(lp)
    }

    fn error(&self, i: usize, reason: String) -> AuditError {
        AuditError::Solver {
            cell: self.cells.get(i).copied().unwrap_or(0),
            reason,
        }
    }

    fn fresh(&self) -> Result<Model, AuditError> {
        let mut m = self
            .problem
            .clone()
            .try_optimise(Sense::Minimise)
            .map_err(|e| self.error(0, format!("{e:?}")))?;
        m.make_quiet();
        // One thread per program: the components are already spread over the cores. No
        // presolve: it would undo the warm start of every solve after the first.
        let _ = m.try_set_option(&b"threads"[..], 1);
        let _ = m.try_set_option(&b"presolve"[..], "off");
        Ok(m)
    }

    /// Batches: every cell of `open` boxed to its true value ± its width and pushed up or down
    /// by a pseudo-random sign; at the optimum (a vertex) many cells sit on an edge of their
    /// box, which proves them. Repeated on the rest, up to six times, while a round proves at
    /// least a twentieth of it. Returns the cells still unproven.
    fn batches(&mut self, mut open: Vec<usize>) -> Result<Vec<usize>, AuditError> {
        for round in 0..6u64 {
            open.retain(|&i| !self.proven(i));
            let before = open.len();
            if before == 0 {
                break;
            }
            let costs: Vec<(usize, f64)> = open
                .iter()
                .map(|&i| {
                    let c = self.cells[i];
                    let (v, w) = (self.t.values[c] as f64, width(self.t, c));
                    // A cell that cannot go a whole width down (a small count) is proven only
                    // upwards; the others go either way.
                    if v - w < self.lower[i] {
                        return (i, -1.0);
                    }
                    let h = (i as u64 ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    (i, if (h >> 33) & 1 == 0 { -1.0 } else { 1.0 })
                })
                .collect();
            let bounds: Vec<(usize, f64, f64)> = open
                .iter()
                .map(|&i| {
                    let c = self.cells[i];
                    let (v, w) = (self.t.values[c] as f64, width(self.t, c));
                    (i, (v - w).max(self.lower[i]), v + w)
                })
                .collect();
            if !self.solve_once(&costs, &bounds)? {
                // Out of time: the neighbourhood programs (or the whole component) take over.
                break;
            }
            open.retain(|&i| !self.proven(i));
            if (before - open.len()) * 20 < before {
                break;
            }
        }
        Ok(open)
    }

    /// One program from scratch with presolve, leaving the warm model alone: a batch moves the
    /// bounds of thousands of columns at once, which a warm start handles worse than presolve.
    fn solve_once(
        &mut self,
        costs: &[(usize, f64)],
        bounds: &[(usize, f64, f64)],
    ) -> Result<bool, AuditError> {
        let at = costs.first().map_or(0, |c| c.0);
        let mut m = self
            .problem
            .clone()
            .try_optimise(Sense::Minimise)
            .map_err(|e| self.error(at, format!("{e:?}")))?;
        m.make_quiet();
        let _ = m.try_set_option(&b"threads"[..], 1);
        // A batch only saves work: on a very large component it may cost more than it saves.
        // (An iteration limit, not a time limit: the outcome must not depend on the machine.)
        let _ = m.try_set_option(&b"simplex_iteration_limit"[..], BATCH_ITERATIONS);
        for &(i, c) in costs {
            m.change_column_cost(self.cols[i], c);
        }
        for &(i, lo, hi) in bounds {
            m.change_column_bounds(self.cols[i], lo..=hi);
        }
        self.solves += 1;
        let solved = m
            .try_solve()
            .map_err(|e| self.error(at, format!("{e:?}")))?;
        if solved.status() != HighsModelStatus::Optimal {
            return Ok(false);
        }
        let x = solved.get_solution();
        for (i, s) in self.seen.iter_mut().enumerate() {
            if let Some(&val) = x.columns().get(self.cols[i].index()) {
                s.0 = s.0.min(val);
                s.1 = s.1.max(val);
            }
        }
        Ok(true)
    }

    /// Whether cell `i`'s feasible points already span a protected interval.
    fn proven(&self, i: usize) -> bool {
        let (lo, hi) = self.seen[i];
        Interval {
            min: lo,
            max: hi,
            exact: false,
        }
        .protects(self.t.is_count(self.cells[i]), self.t.k)
    }

    /// Minimises `Σ cost·x` over the columns named, with the bounds given for some columns
    /// (others keep theirs); records the optimum as a feasible point; restores costs and bounds.
    /// `None` when unbounded.
    fn solve(
        &mut self,
        costs: &[(usize, f64)],
        bounds: &[(usize, f64, f64)],
    ) -> Result<Option<f64>, AuditError> {
        let at = costs.first().map_or(0, |c| c.0);
        let mut m = self
            .model
            .take()
            .ok_or_else(|| self.error(at, "no model".into()))?;
        let set = |m: &mut Model, on: bool| {
            for &(i, c) in costs {
                m.change_column_cost(self.cols[i], if on { c } else { 0.0 });
            }
            for &(i, lo, hi) in bounds {
                if on {
                    m.change_column_bounds(self.cols[i], lo..=hi);
                } else {
                    m.change_column_bounds(self.cols[i], self.lower[i]..);
                }
            }
        };
        set(&mut m, true);
        self.solves += 1;
        let mut solved = m
            .try_solve()
            .map_err(|e| self.error(at, format!("{e:?}")))?;
        if !matches!(
            solved.status(),
            HighsModelStatus::Optimal
                | HighsModelStatus::Unbounded
                | HighsModelStatus::UnboundedOrInfeasible
        ) {
            // A warm start can end without a verdict; the same program from scratch decides.
            let mut m = self.fresh()?;
            set(&mut m, true);
            solved = m
                .try_solve()
                .map_err(|e| self.error(at, format!("{e:?}")))?;
        }
        let result = match solved.status() {
            HighsModelStatus::Optimal => {
                let x = solved.get_solution();
                for (i, s) in self.seen.iter_mut().enumerate() {
                    if let Some(&val) = x.columns().get(self.cols[i].index()) {
                        s.0 = s.0.min(val);
                        s.1 = s.1.max(val);
                    }
                }
                Ok(Some(solved.objective_value()))
            }
            // The true values are feasible (checked), so this can only be unbounded.
            HighsModelStatus::Unbounded | HighsModelStatus::UnboundedOrInfeasible => Ok(None),
            other => Err(self.error(at, format!("{other:?}"))),
        };
        let mut m = Model::from(solved);
        set(&mut m, false);
        self.model = Some(m);
        result
    }
}

/// Cells in a neighbourhood program at most: a cell that no neighbourhood up to this size
/// proves protected is reported not proven in [`Mode::Sufficient`] (protection then widens
/// suppression around it; the exact mode decides it on the whole component).
const LOCAL_CAP: usize = 60;

/// Tries to prove cell `c` protected with feasible points that move only its neighbourhood:
/// the suppressed cells within 1, 2, … constraints of it, every other cell held at its true
/// value (so each point is feasible for the whole system). Records every point in `seen`.
/// Returns the interval and whether it is exact (the neighbourhood grew to the whole component).
fn local(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    c: usize,
    seen: &mut HashMap<usize, (f64, f64)>,
) -> Result<Option<Interval>, AuditError> {
    let protects = |seen: &HashMap<usize, (f64, f64)>| {
        seen.get(&c).is_some_and(|&(min, max)| {
            Interval {
                min,
                max,
                exact: false,
            }
            .protects(t.is_count(c), t.k)
        })
    };
    let mut ball = vec![c];
    let mut inside: std::collections::HashSet<usize> = [c].into_iter().collect();
    let mut frontier = vec![c];
    let mut cons_seen: std::collections::HashSet<usize> = Default::default();
    loop {
        let mut next = Vec::new();
        for &x in &frontier {
            for &ci in &member_of[x] {
                if !cons_seen.insert(ci) {
                    continue;
                }
                for y in t.constraints[ci].cells() {
                    if suppressed[y] && inside.insert(y) {
                        next.push(y);
                    }
                }
            }
        }
        let whole = next.is_empty();
        // The first ring always (a cell in a long constraint has no smaller neighbourhood).
        if ball.len() > 1 && ball.len() + next.len() > LOCAL_CAP {
            return Ok(None);
        }
        ball.extend(next.iter().copied());
        frontier = next;
        let (pb, col) = program(t, member_of, suppressed, &ball);
        let v = col[&c];
        let mut bounds = [f64::INFINITY, f64::NEG_INFINITY];
        for (k, cost) in [-1.0, 1.0].into_iter().enumerate() {
            // A fresh program per bound: small, so building costs less than a warm start.
            let mut m =
                pb.clone()
                    .try_optimise(Sense::Minimise)
                    .map_err(|e| AuditError::Solver {
                        cell: c,
                        reason: format!("{e:?}"),
                    })?;
            m.make_quiet();
            let _ = m.try_set_option(&b"threads"[..], 1);
            m.change_column_cost(v, cost);
            let solved = m.try_solve().map_err(|e| AuditError::Solver {
                cell: c,
                reason: format!("{e:?}"),
            })?;
            match solved.status() {
                HighsModelStatus::Optimal => {
                    let x = solved.get_solution();
                    for &y in &ball {
                        if let Some(&val) = x.columns().get(col[&y].index()) {
                            let s = seen
                                .entry(y)
                                .or_insert((t.values[y] as f64, t.values[y] as f64));
                            s.0 = s.0.min(val);
                            s.1 = s.1.max(val);
                        }
                    }
                    bounds[k] = cost * solved.objective_value();
                }
                HighsModelStatus::Unbounded | HighsModelStatus::UnboundedOrInfeasible => {
                    bounds[k] = -cost * f64::INFINITY;
                    if cost < 0.0 {
                        // Unbounded above: as wide as anyone needs.
                        let s = seen
                            .entry(c)
                            .or_insert((t.values[c] as f64, t.values[c] as f64));
                        s.1 = f64::INFINITY;
                    }
                }
                other => {
                    return Err(AuditError::Solver {
                        cell: c,
                        reason: format!("{other:?}"),
                    })
                }
            }
            if protects(seen) {
                let (min, max) = seen[&c];
                return Ok(Some(Interval {
                    min,
                    max,
                    exact: false,
                }));
            }
        }
        if whole {
            return Ok(Some(Interval {
                min: bounds[1],
                max: bounds[0],
                exact: true,
            }));
        }
    }
}

/// Solves one component. [`Mode::Exact`]: both bounds of each cell on the whole component's
/// program, warm-started from cell to cell. [`Mode::Sufficient`]: neighbourhood programs
/// ([`local`]) until each cell is proven protected or its neighbourhood outgrows
/// [`LOCAL_CAP`]; such a cell is reported with the interval seen (not proven), and
/// [`Auditor::decide`] settles it on the whole component if protection cannot widen around it.
/// Returns the intervals and the programs solved.
/// Simplex iterations a batch program may take before it is abandoned.
const BATCH_ITERATIONS: i32 = 20_000;

/// Components of at least this many cells are shared between the cores.
const SPLIT: usize = 1000;

/// Which of a component's cells one program handles: positions `index`, `index + of`, ….
#[derive(Debug, Clone, Copy)]
struct Share {
    index: usize,
    of: usize,
}

impl Share {
    fn has(&self, position: usize) -> bool {
        position % self.of.max(1) == self.index
    }
}

fn solve_component(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    cells: &[usize],
    mode: Mode,
    proven: &[Option<Interval>],
    share: Share,
) -> Result<(Solved, usize), AuditError> {
    let mut out = Vec::with_capacity(cells.len() / share.of.max(1) + 1);
    if mode == Mode::Exact {
        let mut lp = Lp::new(t, member_of, suppressed, cells)?;
        for (i, &c) in cells.iter().enumerate().filter(|(i, _)| share.has(*i)) {
            let max = lp.solve(&[(i, -1.0)], &[])?.map_or(f64::INFINITY, |o| -o);
            let min = lp.solve(&[(i, 1.0)], &[])?.unwrap_or(0.0);
            out.push((
                c,
                Interval {
                    min,
                    max,
                    exact: true,
                },
            ));
        }
        return Ok((out, lp.solves));
    }
    let mut solves = 0;
    // Feasible points of earlier programs prove many cells for free.
    let mut seen: HashMap<usize, (f64, f64)> = HashMap::new();
    let open: Vec<usize> = (0..cells.len())
        .filter(|&i| share.has(i) && proven[cells[i]].is_none())
        .collect();
    let started = std::time::Instant::now();
    if open.len() > 8 {
        // Batches first: every open cell boxed to its true value ± its width and pushed up or
        // down by a pseudo-random sign; at the optimum (a vertex) many cells sit on an edge of
        // their box, which proves them. Repeated on the rest while it proves enough.
        let mut lp = Lp::new(t, member_of, suppressed, cells)?;
        lp.batches(open.clone())?;
        for (i, &c) in cells.iter().enumerate() {
            seen.insert(c, lp.seen[i]);
        }
        solves += lp.solves;
    }
    let batched = started.elapsed().as_secs_f64();
    let mut locals = 0;
    for (_, &c) in cells.iter().enumerate().filter(|(i, _)| share.has(*i)) {
        if let Some(iv) = proven[c] {
            out.push((c, iv));
            continue;
        }
        if let Some(&(min, max)) = seen.get(&c) {
            let iv = Interval {
                min,
                max,
                exact: false,
            };
            if iv.protects(t.is_count(c), t.k) {
                out.push((c, iv));
                continue;
            }
        }
        solves += 1;
        locals += 1;
        let iv = match local(t, member_of, suppressed, c, &mut seen)? {
            Some(iv) => iv,
            None => {
                let v = t.values[c] as f64;
                let (min, max) = seen.get(&c).copied().unwrap_or((v, v));
                Interval {
                    min,
                    max,
                    exact: false,
                }
            }
        };
        out.push((c, iv));
    }
    if cells.len() >= SPLIT {
        tracing::debug!(
            cells = cells.len(),
            open = open.len(),
            batched_s = batched,
            locals,
            seconds = started.elapsed().as_secs_f64(),
            "disclosure control: large component"
        );
    }
    Ok((out, solves))
}
