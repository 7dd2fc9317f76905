//! The mixed-integer program of one component, built with `good_lp` and solved with its
//! pure-Rust `microlp` backend, one priority level at a time.
//!
//! Lexicographic optimisation: level k maximises its score subject to every earlier level
//! keeping the optimum found for it. This respects the intent's priority order by
//! construction, with no weights that could overflow or be tuned wrong. Soft constraints get
//! a binary violation variable `z` (big-M); the union of services hurt by disruptive changes
//! gets a binary `y` per service.

use super::problem::{Body, Problem};
use super::solve::{SolveStatus, Solved, SolverConfig};
use good_lp::{variable, Expression, ProblemVariables, SolverModel, Variable};
use std::time::{Duration, Instant};

pub(crate) fn solve(
    p: &Problem,
    floor: &[bool],
    cfg: &SolverConfig,
    budget_left: &mut Duration,
) -> Result<Solved, String> {
    let floor_score = p
        .score(floor)
        .ok_or("greedy floor breaks a hard constraint")?;
    let mut best = floor.to_vec();
    let mut fixed: Vec<f64> = Vec::new();
    let mut status = SolveStatus::Optimal;
    for level in 0..p.levels {
        // Nothing in the component can change this level's score: nothing to optimise.
        let inert = p.values.iter().all(|v| v[level] == 0.0)
            && p.constraints.iter().all(|c| c.soft_level != Some(level));
        if inert {
            let score = p.score(&best).ok_or("selection breaks a hard constraint")?;
            fixed.push(score[level]);
            continue;
        }
        // The floor is a valid lower bound for this level only while it ties every earlier one.
        let floor_ok = fixed
            .iter()
            .zip(&floor_score)
            .all(|(f, s)| (f - s).abs() <= 1e-7 * (1.0 + f.abs()));
        let cutoff = floor_ok.then(|| floor_score[level]);
        let started = Instant::now();
        let outcome = solve_level(p, level, &fixed, cutoff, cfg, *budget_left)?;
        *budget_left = budget_left.saturating_sub(started.elapsed());
        if let Some(x) = outcome.x {
            best = x;
        }
        if let Some(budget) = outcome.stopped {
            if matches!(status, SolveStatus::Optimal) {
                status = SolveStatus::Incomplete {
                    budget,
                    level,
                    gap: outcome.gap,
                };
            }
        }
        let score = p
            .score(&best)
            .ok_or("solver returned a selection breaking a hard constraint")?;
        fixed.push(score[level]);
    }
    Ok(Solved { x: best, status })
}

struct LevelOutcome {
    x: Option<Vec<bool>>,
    stopped: Option<&'static str>,
    gap: Option<f64>,
}

fn objective(p: &Problem, level: usize, xs: &[Variable], zs: &[(usize, Variable)]) -> Expression {
    let mut e = Expression::from(0.0);
    for (v, &x) in xs.iter().enumerate() {
        let c = p.values[v][level];
        if c != 0.0 {
            e += c * x;
        }
    }
    for &(ci, z) in zs {
        if p.constraints[ci].soft_level == Some(level) {
            e -= p.penalty(level) * z;
        }
    }
    e
}

fn solve_level(
    p: &Problem,
    level: usize,
    fixed: &[f64],
    cutoff: Option<f64>,
    cfg: &SolverConfig,
    time_left: Duration,
) -> Result<LevelOutcome, String> {
    let mut vars = ProblemVariables::new();
    let xs: Vec<Variable> = (0..p.len())
        .map(|_| vars.add(variable().binary()))
        .collect();
    let zs: Vec<(usize, Variable)> = p
        .constraints
        .iter()
        .enumerate()
        .filter(|(_, c)| c.soft_level.is_some())
        .map(|(i, _)| (i, vars.add(variable().binary())))
        .collect();
    let mut ys: Vec<Vec<Variable>> = Vec::new();
    for c in &p.constraints {
        ys.push(match &c.body {
            Body::Union(sets) => sets.iter().map(|_| vars.add(variable().binary())).collect(),
            Body::Linear(_) => Vec::new(),
        });
    }
    let goal = objective(p, level, &xs, &zs);
    let mut model = vars.maximise(goal.clone()).using(good_lp::microlp);
    for (ci, c) in p.constraints.iter().enumerate() {
        let mut lhs = Expression::from(0.0);
        match &c.body {
            Body::Linear(terms) => {
                for &(v, a) in terms {
                    lhs += a * xs[v];
                }
            }
            Body::Union(sets) => {
                for (j, (w, members)) in sets.iter().enumerate() {
                    let y = ys[ci][j];
                    for &v in members {
                        model.add_constraint((xs[v] - y).leq(0.0));
                    }
                    lhs += *w * y;
                }
            }
        }
        if c.soft_level.is_some() {
            let z = zs
                .iter()
                .find(|(i, _)| *i == ci)
                .map(|(_, z)| *z)
                .expect("soft has z");
            let big_m = (c.max_lhs() - c.rhs).max(1.0);
            lhs -= big_m * z;
        }
        model.add_constraint(lhs.leq(c.rhs));
    }
    for (k, &value) in fixed.iter().enumerate() {
        let slack = 1e-6 * (1.0 + value.abs());
        model.add_constraint(objective(p, k, &xs, &zs).geq(value - slack));
    }
    if let Some(floor) = cutoff {
        let slack = 1e-6 * (1.0 + floor.abs());
        model.add_constraint(goal.geq(floor - slack));
    }

    let mut opts = microlp::SolveOptions::default();
    opts.node_limit = Some(cfg.node_limit);
    opts.time_limit = Some(time_left.max(Duration::from_millis(1)));
    let outcome = model
        .as_inner()
        .solve_with(opts)
        .map_err(|e| format!("microlp: {e}"))?;
    let stopped = match outcome.termination_reason() {
        microlp::TerminationReason::ProvenOptimal | microlp::TerminationReason::MipGap => None,
        microlp::TerminationReason::NodeLimit => Some("node_limit"),
        microlp::TerminationReason::TimeLimit => Some("deadline"),
        _ => Some("node_limit"),
    };
    let Some(solution) = outcome.solution() else {
        return Ok(LevelOutcome {
            x: None,
            stopped: stopped.or(Some("node_limit")),
            gap: None,
        });
    };
    let values: Vec<f64> = solution.iter().map(|(_, v)| v).collect();
    // The x variables were created first, so they are the first values in creation order.
    let x: Vec<bool> = values[..xs.len()].iter().map(|v| *v > 0.5).collect();
    Ok(LevelOutcome {
        x: p.score(&x).is_some().then_some(x),
        stopped,
        gap: if stopped.is_some() {
            solution.gap()
        } else {
            None
        },
    })
}
