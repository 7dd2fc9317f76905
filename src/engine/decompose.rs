//! Solving a window component by component, with window-wide constraints added only when
//! they bind.
//!
//! Budget, blast radius and SLO headroom span the whole window and would tie every proposal
//! into one problem. Most of the time they do not bind. So: solve the components the local
//! constraints (per-service capacity, concurrency, contradictions) form; if their combined
//! selection satisfies every window-wide constraint it is optimal — the full problem's
//! feasible set lies inside the relaxed one. Otherwise activate the violated constraints,
//! which merges the components they touch, and solve again; components that did not change
//! keep their answer. Each round activates at least one constraint, so it ends.

use super::problem::{components, Constraint, Guard, Problem};
use super::solve::{solve, Solved, SolverConfig};
use std::collections::HashMap;
use std::time::Duration;

fn window_wide(c: &Constraint) -> bool {
    matches!(c.guard, Guard::Budget | Guard::Blast | Guard::Slo { .. })
}

/// A solved window: per component its members, problem and solution; the selection over all
/// variables; and the window-wide constraints that never bound (still needed to explain what
/// a proposal left out would have broken).
pub(crate) struct WindowSolution {
    pub components: Vec<(Vec<usize>, Problem, Solved)>,
    pub x: Vec<bool>,
    pub dormant: Vec<Constraint>,
}

pub(crate) fn solve_window(
    values: &[Vec<f64>],
    constraints: Vec<Constraint>,
    levels: usize,
    cfg: &SolverConfig,
) -> WindowSolution {
    let (wide, local): (Vec<Constraint>, Vec<Constraint>) = constraints
        .into_iter()
        .filter(|c| !c.redundant())
        .partition(window_wide);
    let mut active = vec![false; wide.len()];
    let mut cache: HashMap<Vec<usize>, (Problem, Solved)> = HashMap::new();
    let mut time_left: Duration = cfg.deadline;
    loop {
        let mut in_force = local.clone();
        in_force.extend(
            wide.iter()
                .zip(&active)
                .filter(|(_, a)| **a)
                .map(|(c, _)| c.clone()),
        );
        let mut solved = Vec::new();
        let mut x = vec![false; values.len()];
        for (members, problem) in components(values, in_force, levels) {
            let s = match cache.get(&members) {
                Some((p, s)) if *p == problem => s.clone(),
                _ => {
                    let s = solve(&problem, cfg, &mut time_left);
                    cache.insert(members.clone(), (problem.clone(), s.clone()));
                    s
                }
            };
            for (l, &v) in members.iter().enumerate() {
                x[v] = s.x[l];
            }
            solved.push((members, problem, s));
        }
        let mut changed = false;
        for (c, a) in wide.iter().zip(active.iter_mut()) {
            if !*a && c.violated(&x) {
                *a = true;
                changed = true;
            }
        }
        if !changed {
            let dormant = wide
                .into_iter()
                .zip(active)
                .filter(|(_, a)| !a)
                .map(|(c, _)| c)
                .collect();
            return WindowSolution {
                components: solved,
                x,
                dormant,
            };
        }
    }
}
