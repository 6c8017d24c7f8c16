//! One component's linear program in HiGHS ([`Lp`]: built once, kept warm between solves, the
//! feasible points seen), the boxed batch programs that prove many cells at once, and the
//! neighbourhood programs ([`local`]) that prove one cell from the cells around it.

use std::collections::HashMap;

use highs::{HighsModelStatus, Model, RowProblem, Sense};

use super::{AuditError, Interval, Relation, Table};

/// Simplex iterations a batch program may take before it is abandoned.
const BATCH_ITERATIONS: i32 = 20_000;

/// The attacker's program for one component: a variable per suppressed cell, a row per
/// relation (published cells moved to the right-hand side).
pub(super) fn program(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    cells: &[usize],
) -> (RowProblem, HashMap<usize, highs::Col>, Vec<usize>) {
    let mut pb = RowProblem::default();
    // The constraint of each row.
    let mut rows = Vec::new();
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
                    rows.push(ci);
                }
            }
            Relation::Bound => {
                let (expr, rhs) = row(&con.parts);
                if !expr.is_empty() {
                    pb.add_row(..=rhs, expr);
                    rows.push(ci);
                }
                for p in con.parts.chunks(1) {
                    let (expr, rhs) = row(p);
                    if !expr.is_empty() {
                        pb.add_row(rhs.., expr);
                        rows.push(ci);
                    }
                }
            }
        }
    }
    (pb, col, rows)
}

/// The width a cell's interval needs: `k` for a count, `k` euro for an amount (cents).
pub(super) fn width(t: &Table, c: usize) -> f64 {
    if t.is_count(c) {
        t.k as f64
    } else {
        100.0 * t.k as f64
    }
}

/// One component's program in HiGHS, kept warm between solves, and the feasible points seen.
pub(super) struct Lp<'a> {
    pub(super) t: &'a Table,
    pub(super) cells: &'a [usize],
    /// The program as built (a fresh start when a warm start fails).
    pub(super) problem: RowProblem,
    /// Column of `cells[i]` is `cols[i]`.
    pub(super) cols: Vec<highs::Col>,
    /// Lower bound of each column as built.
    pub(super) lower: Vec<f64>,
    pub(super) model: Option<Model>,
    /// Per cell, the least and greatest value of a feasible point seen (the true values first).
    pub(super) seen: Vec<(f64, f64)>,
    pub(super) solves: usize,
}

impl<'a> Lp<'a> {
    pub(super) fn new(
        t: &'a Table,
        member_of: &[Vec<usize>],
        suppressed: &[bool],
        cells: &'a [usize],
    ) -> Result<Self, AuditError> {
        let (problem, col, _) = program(t, member_of, suppressed, cells);
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
    pub(super) fn batches(&mut self, mut open: Vec<usize>) -> Result<Vec<usize>, AuditError> {
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
    pub(super) fn solve_once(
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
    pub(super) fn proven(&self, i: usize) -> bool {
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
    pub(super) fn solve(
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

/// Cells in a neighbourhood program at most, in an audit round: a cell that no neighbourhood up
/// to this size proves protected is reported not proven in [`Mode::Sufficient`] (protection
/// then tries larger neighbourhoods, [`super::Auditor::widen`], before it widens suppression
/// around it; the exact mode decides it on the whole component).
pub(super) const LOCAL_CAP: usize = 60;

/// Tries to prove cell `c` protected with feasible points that move only its neighbourhood:
/// the suppressed cells within 1, 2, … constraints of it, every other cell held at its true
/// value (so each point is feasible for the whole system), up to `cap` cells. With `fill`, the
/// ring that would outgrow `cap` is taken in part (its first cells, nearest constraints first)
/// for one last program: any set of cells gives feasible points. Records every point in
/// `seen`. Returns the interval, exact if the neighbourhood grew to the whole component; `None`
/// if it outgrew `cap` before proving the cell. With `binding`, leaves there the published cells
/// of the constraints that bound the cell in the last program (a non-zero dual value): the
/// complements that would widen it.
#[allow(clippy::too_many_arguments)]
pub(super) fn local(
    t: &Table,
    member_of: &[Vec<usize>],
    suppressed: &[bool],
    c: usize,
    seen: &mut HashMap<usize, (f64, f64)>,
    cap: usize,
    fill: bool,
    mut binding: Option<&mut Vec<usize>>,
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
        let mut last = false;
        // The first ring always (a cell in a long constraint has no smaller neighbourhood).
        if ball.len() > 1 && ball.len() + next.len() > cap {
            if !fill || ball.len() >= cap {
                return Ok(None);
            }
            next.truncate(cap - ball.len());
            last = true;
        }
        ball.extend(next.iter().copied());
        frontier = next;
        let (pb, col, rows) = program(t, member_of, suppressed, &ball);
        let v = col[&c];
        if let Some(b) = binding.as_deref_mut() {
            b.clear();
        }
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
                    if let Some(b) = binding.as_deref_mut() {
                        for (r, &d) in x.dual_rows().iter().enumerate() {
                            if d.abs() > 1e-9 {
                                if let Some(&ci) = rows.get(r) {
                                    b.extend(t.constraints[ci].cells().filter(|&y| !suppressed[y]));
                                }
                            }
                        }
                    }
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
        if last {
            return Ok(None);
        }
    }
}
