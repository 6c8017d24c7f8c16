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

use super::lp::{local, width, Lp, LOCAL_CAP};
use super::{AuditError, Interval, Table};

/// How much to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both bounds of every suppressed cell (the audit report).
    Exact,
    /// Only as much as proves each sensitive cell ([`Table::sensitive`]) protected or not: a
    /// cell whose feasible points seen so far (the true values, and every optimum of its
    /// component) already span a protected interval is not solved for, and cells that are not
    /// sensitive are not solved for at all (the protection loop).
    Sufficient,
}

/// The outcome of an audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Per cell: its interval if suppressed, `None` if published (or, in [`Mode::Sufficient`],
    /// not sensitive).
    pub intervals: Vec<Option<Interval>>,
    /// Components (independent linear programs).
    pub components: usize,
    /// Cells in the largest component.
    pub largest: usize,
    /// Linear programs solved in this run (cached components and proven cells cost none).
    pub solves: usize,
}

impl Audit {
    /// The suppressed sensitive cells ([`Table::sensitive`]) that the audit finds unprotected:
    /// the audit fails if there is one.
    pub fn unprotected(&self, t: &Table) -> Vec<usize> {
        let sensitive = t.sensitive();
        (0..t.len())
            .filter(|&c| sensitive[c] && self.narrow(t, c))
            .collect()
    }

    /// The suppressed cells that are not sensitive and that the audit narrows to less than a
    /// protected interval: complements an attacker can estimate closely, which discloses
    /// nothing about fewer than `k` units (reported, not a failure; [`Mode::Exact`] only).
    pub fn narrowed(&self, t: &Table) -> Vec<usize> {
        let sensitive = t.sensitive();
        (0..t.len())
            .filter(|&c| !sensitive[c] && self.narrow(t, c))
            .collect()
    }

    fn narrow(&self, t: &Table, c: usize) -> bool {
        self.intervals
            .get(c)
            .copied()
            .flatten()
            .is_some_and(|iv| !iv.protects(t.is_count(c), t.k))
    }
}

/// Audits `suppressed` cells of `t` (one-off; see [`Auditor`] to audit several suppressions of
/// one table).
pub fn audit(t: &Table, suppressed: &[bool], mode: Mode) -> Result<Audit, AuditError> {
    Auditor::new(t)?.run(suppressed, mode)
}

type Solved = Vec<(usize, Interval)>;

/// A cell [`Auditor::widen`] could not prove: its interval if exact, and the published cells
/// that bound it.
pub type Widened = (usize, Option<Interval>, Vec<usize>);

/// Audits suppressions of one table, remembering every component it solved.
#[derive(Debug)]
pub struct Auditor<'a> {
    table: &'a Table,
    member_of: Vec<Vec<usize>>,
    sensitive: Vec<bool>,
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
            sensitive: table.sensitive(),
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
        let member_of = &self.member_of;
        let sensitive = &self.sensitive;
        let solved = on_every_core(self.threads, &todo, |&(cells, share)| {
            let needs = Needs {
                mode,
                proven,
                sensitive,
                share,
            };
            solve_component(t, member_of, &suppressed, cells, &needs).map(|r| (cells, r))
        })?;
        let mut solves = 0;
        let mut results: HashMap<Vec<usize>, Solved> = HashMap::new();
        for (cells, (r, lps)) in solved {
            solves += lps;
            results.entry(cells.clone()).or_default().extend(r);
        }
        for (cells, r) in results {
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
        let member_of = &self.member_of;
        let results = on_every_core(self.threads, &work, |(component, share)| {
            decide_share(t, member_of, suppressed, component, share)
        })?;
        let mut out = Vec::new();
        for (c, iv, proven) in results.into_iter().flatten() {
            if proven {
                self.proven[c] = Some(iv);
            }
            out.push((c, iv));
        }
        out.sort_by_key(|&(c, _)| c);
        Ok(out)
    }

    /// Tries to prove `cells` (suppressed in `suppressed`) protected with neighbourhood
    /// programs of up to `cap` cells (the audit rounds stop at `LOCAL_CAP`), on every core;
    /// those proven count as proven for later [`Mode::Sufficient`] runs on this suppression or a
    /// larger one. Returns the cells still not proven, each with its interval if exact (its
    /// neighbourhood was its whole component: exposed for certain) and the published cells
    /// of the constraints that bound it in its largest program (see [`local`]).
    pub fn widen(
        &mut self,
        suppressed: &[bool],
        cells: &[usize],
        cap: usize,
    ) -> Result<Vec<Widened>, AuditError> {
        let t = self.table;
        let member_of = &self.member_of;
        let results = on_every_core(self.threads, cells, |&c| {
            let mut seen = HashMap::new();
            let mut binding = Vec::new();
            let local = local(
                t,
                member_of,
                suppressed,
                c,
                &mut seen,
                cap,
                true,
                Some(&mut binding),
            )?;
            Ok((c, local, binding))
        })?;
        let mut open = Vec::new();
        for (c, iv, binding) in results {
            match iv {
                Some(iv) if iv.protects(t.is_count(c), t.k) => self.proven[c] = Some(iv),
                other => open.push((c, other, binding)),
            }
        }
        open.sort_by_key(|w| w.0);
        Ok(open)
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

/// `f` of every item, on up to `threads` threads taking the items in order (so items sorted
/// largest first finish together); the first error stops them all. Results in no set order.
fn on_every_core<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R, AuditError> + Sync,
) -> Result<Vec<R>, AuditError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<R>> = Mutex::new(Vec::with_capacity(items.len()));
    let failure: Mutex<Option<AuditError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    break;
                };
                if lock(&failure).is_some() {
                    break;
                }
                match f(item) {
                    Ok(r) => lock(&results).push(r),
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
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()))
}

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

/// What one program of a component must compute.
#[derive(Clone, Copy)]
struct Needs<'a> {
    mode: Mode,
    /// Cells proven protected already.
    proven: &'a [Option<Interval>],
    /// The cells that need protection ([`Table::sensitive`]).
    sensitive: &'a [bool],
    /// Which of the component's cells this program handles.
    share: Share,
}

/// Solves one component. [`Mode::Exact`]: both bounds of each cell on the whole component's
/// program, warm-started from cell to cell. [`Mode::Sufficient`]: for each sensitive cell,
/// neighbourhood programs ([`local`]) until it is proven protected or its neighbourhood
/// outgrows `LOCAL_CAP` cells; such a cell is reported with the interval seen (not proven),
/// and [`Auditor::decide`] settles it on the whole component if protection cannot widen around
/// it. Returns the intervals and the programs solved.
fn solve_component(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    cells: &[usize],
    needs: &Needs,
) -> Result<(Solved, usize), AuditError> {
    let Needs {
        mode,
        proven,
        sensitive,
        share,
    } = *needs;
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
        .filter(|&i| share.has(i) && sensitive[cells[i]] && proven[cells[i]].is_none())
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
    for (_, &c) in cells
        .iter()
        .enumerate()
        .filter(|&(i, &c)| share.has(i) && sensitive[c])
    {
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
        let iv = match local(
            t, member_of, suppressed, c, &mut seen, LOCAL_CAP, false, None,
        )? {
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
