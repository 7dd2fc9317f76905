//! The optimisation problem of one decision window, independent of how it is solved.
//!
//! Variables are merge groups (one per set of compatible proposals), each selected or not.
//! Constraints are linear (`Σ a·x ≤ rhs`) or a union (`Σ w_s · OR(x in s) ≤ rhs`, for the
//! blast radius: two disruptions of one service hurt it once). A constraint is *hard* (never
//! violated by a selection) or *soft* at one priority level (violating it costs that level
//! more than any selection can gain there). Selections are compared lexicographically by
//! their level scores, in the intent's priority order, with a last level that prefers
//! approving what nothing argues against.

/// What a constraint protects; reasons and explanations are derived from it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Guard {
    /// Capacity after changes ≥ forecast × headroom on a service.
    Capacity { service: usize },
    /// Capacity while changes roll out ≥ the load now.
    Dip { service: usize },
    /// Latency added below an SLO target within its headroom.
    Slo { slo: usize },
    /// Spend within the budget.
    Budget,
    /// Entry traffic touched by disruptive changes within the limit.
    Blast,
    /// Changes in flight per service.
    Concurrency { service: usize },
    /// Two proposals that contradict each other.
    Conflict,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Body {
    Linear(Vec<(usize, f64)>),
    /// (weight, variables any of which touches it)
    Union(Vec<(f64, Vec<usize>)>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Constraint {
    pub guard: Guard,
    pub body: Body,
    pub rhs: f64,
    /// The priority level at which violating this costs; `None`: hard.
    pub soft_level: Option<usize>,
}

const TOL: f64 = 1e-9;

impl Constraint {
    pub fn lhs(&self, x: &[bool]) -> f64 {
        match &self.body {
            Body::Linear(terms) => terms.iter().filter(|(v, _)| x[*v]).map(|(_, a)| a).sum(),
            Body::Union(sets) => sets
                .iter()
                .filter(|(_, vs)| vs.iter().any(|v| x[*v]))
                .map(|(w, _)| w)
                .sum(),
        }
    }

    pub fn violated(&self, x: &[bool]) -> bool {
        self.lhs(x) > self.rhs + TOL * (1.0 + self.rhs.abs())
    }

    /// The most the left side can reach: if that fits, the constraint can never bind.
    pub fn max_lhs(&self) -> f64 {
        match &self.body {
            Body::Linear(terms) => terms.iter().map(|(_, a)| a.max(0.0)).sum(),
            Body::Union(sets) => sets.iter().map(|(w, _)| w.max(0.0)).sum(),
        }
    }

    pub fn redundant(&self) -> bool {
        self.max_lhs() <= self.rhs + TOL * (1.0 + self.rhs.abs())
    }

    /// Whether the constraint involves variable `v` (without allocating).
    pub fn mentions(&self, v: usize) -> bool {
        match &self.body {
            Body::Linear(t) => t.iter().any(|(x, _)| *x == v),
            Body::Union(s) => s.iter().any(|(_, vs)| vs.contains(&v)),
        }
    }

    pub fn vars(&self) -> Vec<usize> {
        let mut v: Vec<usize> = match &self.body {
            Body::Linear(t) => t.iter().map(|(v, _)| *v).collect(),
            Body::Union(s) => s.iter().flat_map(|(_, vs)| vs.iter().copied()).collect(),
        };
        v.sort_unstable();
        v.dedup();
        v
    }

    fn remap(&self, local: &dyn Fn(usize) -> usize) -> Constraint {
        let body = match &self.body {
            Body::Linear(t) => Body::Linear(t.iter().map(|(v, a)| (local(*v), *a)).collect()),
            Body::Union(s) => Body::Union(
                s.iter()
                    .map(|(w, vs)| (*w, vs.iter().map(|v| local(*v)).collect()))
                    .collect(),
            ),
        };
        Constraint {
            guard: self.guard.clone(),
            body,
            rhs: self.rhs,
            soft_level: self.soft_level,
        }
    }
}

/// One connected component of the window: the variables whose choices interact.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Problem {
    /// `values[v][k]`: what selecting `v` gains at level `k` (the last level counts selections).
    pub values: Vec<Vec<f64>>,
    pub constraints: Vec<Constraint>,
    pub levels: usize,
}

impl Problem {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// A soft violation at a level must outweigh every gain there: one more than the total.
    pub fn penalty(&self, level: usize) -> f64 {
        1.0 + self.values.iter().map(|v| v[level].abs()).sum::<f64>()
    }

    pub fn hard_feasible(&self, x: &[bool]) -> bool {
        self.constraints
            .iter()
            .all(|c| c.soft_level.is_some() || !c.violated(x))
    }

    /// Level scores of a selection, or `None` if it breaks a hard constraint.
    pub fn score(&self, x: &[bool]) -> Option<Vec<f64>> {
        if !self.hard_feasible(x) {
            return None;
        }
        let mut s: Vec<f64> = (0..self.levels)
            .map(|k| {
                (0..self.len())
                    .filter(|&v| x[v])
                    .map(|v| self.values[v][k])
                    .sum()
            })
            .collect();
        for c in &self.constraints {
            if let Some(k) = c.soft_level {
                if c.violated(x) {
                    s[k] -= self.penalty(k);
                }
            }
        }
        Some(s)
    }
}

/// Lexicographic comparison with a tolerance, so float noise cannot flip a tie.
pub(crate) fn lex_better(a: &[f64], b: &[f64]) -> bool {
    for (x, y) in a.iter().zip(b) {
        let tol = 1e-7 * (1.0 + x.abs().max(y.abs()));
        if x > &(y + tol) {
            return true;
        }
        if y > &(x + tol) {
            return false;
        }
    }
    false
}

/// The first level where `a` beats `b`, if any.
pub(crate) fn deciding_level(a: &[f64], b: &[f64]) -> Option<usize> {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let tol = 1e-7 * (1.0 + x.abs().max(y.abs()));
        if x > &(y + tol) {
            return Some(k);
        }
        if y > &(x + tol) {
            return None;
        }
    }
    None
}

/// Splits variables into components: two variables are in one component when a constraint
/// that can bind mentions both. Redundant constraints are dropped first, so a budget that no
/// selection can exceed does not tie the whole window together.
pub(crate) fn components(
    values: &[Vec<f64>],
    constraints: Vec<Constraint>,
    levels: usize,
) -> Vec<(Vec<usize>, Problem)> {
    let n = values.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let live: Vec<Constraint> = constraints.into_iter().filter(|c| !c.redundant()).collect();
    for c in &live {
        let vs = c.vars();
        for w in vs.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for v in 0..n {
        let r = find(&mut parent, v);
        members.entry(r).or_default().push(v);
    }
    let mut comp_of = vec![0usize; n];
    let mut local_of = vec![0usize; n];
    let groups: Vec<Vec<usize>> = members.into_values().collect();
    for (k, g) in groups.iter().enumerate() {
        for (i, &v) in g.iter().enumerate() {
            comp_of[v] = k;
            local_of[v] = i;
        }
    }
    let mut per: Vec<Vec<Constraint>> = vec![Vec::new(); groups.len()];
    for c in &live {
        let vs = c.vars();
        if let Some(&v0) = vs.first() {
            per[comp_of[v0]].push(c.remap(&|v| local_of[v]));
        }
    }
    groups
        .into_iter()
        .zip(per)
        .map(|(g, cs)| {
            let values = g.iter().map(|&v| values[v].clone()).collect();
            (
                g,
                Problem {
                    values,
                    constraints: cs,
                    levels,
                },
            )
        })
        .collect()
}
