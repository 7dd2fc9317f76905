//! Choosing the best selection of one component: exactly by enumeration when small, by the
//! MILP otherwise, never worse than a greedy floor.
//!
//! Most components in a real window hold one or a handful of proposals; enumerating their
//! 2^n selections is exact and far cheaper than building a model. Larger, dense conflicts go
//! to the MILP, which is bounded by a deterministic node budget (and a wall-clock deadline as
//! a safety net) and must beat a greedy selection computed first.

use super::milp;
use super::problem::{lex_better, Problem};
use std::time::Duration;

/// How hard the engine may work on one window.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverConfig {
    /// Components with at most this many variables are enumerated exactly.
    pub exhaustive_max: usize,
    /// Branch-and-bound nodes per MILP solve. Deterministic: the same input explores the same
    /// nodes on any machine.
    pub node_limit: u64,
    /// Wall-clock budget for all MILP solves of one window. Only a safety net: when it cuts a
    /// search short the decision says so (`solver_deadline`).
    pub deadline: Duration,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            exhaustive_max: 10,
            node_limit: 400,
            deadline: Duration::from_millis(100),
        }
    }
}

/// How a component's selection was found.
#[derive(Clone, Debug, PartialEq)]
pub enum SolveStatus {
    /// Every selection was compared: the result is optimal.
    Enumerated,
    /// The MILP proved every level optimal.
    Optimal,
    /// A budget ran out: the result is the best found; `gap` is the solver's relative gap
    /// at the level where it stopped, when it knew one.
    Incomplete {
        budget: &'static str,
        level: usize,
        gap: Option<f64>,
    },
    /// The solver failed; the greedy selection was used.
    Fallback { error: String },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Solved {
    pub x: Vec<bool>,
    pub status: SolveStatus,
}

pub(crate) fn solve(p: &Problem, cfg: &SolverConfig, budget_left: &mut Duration) -> Solved {
    if p.len() <= cfg.exhaustive_max {
        return Solved {
            x: enumerate(p),
            status: SolveStatus::Enumerated,
        };
    }
    let floor = greedy(p);
    match milp::solve(p, &floor, cfg, budget_left) {
        Ok(found) => {
            let better_floor = match (p.score(&floor), p.score(&found.x)) {
                (Some(f), Some(m)) => lex_better(&f, &m),
                (Some(_), None) => true,
                _ => false,
            };
            if better_floor {
                Solved {
                    x: floor,
                    status: found.status,
                }
            } else {
                found
            }
        }
        Err(error) => Solved {
            x: floor,
            status: SolveStatus::Fallback { error },
        },
    }
}

/// The lexicographically best selection by trying all of them (first found wins ties).
pub(crate) fn enumerate(p: &Problem) -> Vec<bool> {
    let n = p.len();
    assert!(n < 31, "enumeration is for small components");
    let mut best_x = vec![false; n];
    let mut best = p
        .score(&best_x)
        .expect("selecting nothing breaks no constraint");
    let mut x = vec![false; n];
    for mask in 1u32..(1u32 << n) {
        for (v, slot) in x.iter_mut().enumerate() {
            *slot = mask & (1 << v) != 0;
        }
        if let Some(s) = p.score(&x) {
            if lex_better(&s, &best) {
                best = s;
                best_x.clone_from(&x);
            }
        }
    }
    best_x
}

/// Adds variables in order of their own value, keeping each that improves the selection.
pub(crate) fn greedy(p: &Problem) -> Vec<bool> {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (va, vb) = (&p.values[a], &p.values[b]);
        if lex_better(va, vb) {
            std::cmp::Ordering::Less
        } else if lex_better(vb, va) {
            std::cmp::Ordering::Greater
        } else {
            a.cmp(&b)
        }
    });
    let mut x = vec![false; n];
    let mut best = p.score(&x).expect("selecting nothing breaks no constraint");
    for _pass in 0..2 {
        for &v in &order {
            x[v] = !x[v];
            match p.score(&x) {
                Some(s) if lex_better(&s, &best) => best = s,
                _ => x[v] = !x[v],
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::problem::{Body, Constraint, Guard};
    use proptest::prelude::*;

    fn arb_problem() -> impl Strategy<Value = Problem> {
        (3usize..9).prop_flat_map(|n| {
            let levels = 3;
            let values = proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(0.0), -1.0f64..1.0], levels),
                n,
            );
            let linear = proptest::collection::vec(
                (
                    proptest::collection::vec((0..n, -2.0f64..3.0), 1..5),
                    0.0f64..4.0,
                    prop_oneof![Just(None), (0..levels).prop_map(Some)],
                ),
                0..5,
            );
            let union = proptest::collection::vec(
                (0.05f64..0.6, proptest::collection::vec(0..n, 1..3)),
                0..4,
            );
            let conflicts = proptest::collection::vec((0..n, 0..n), 0..3);
            (values, linear, union, 0.0f64..1.0, conflicts).prop_map(
                move |(mut values, linear, union, blast_rhs, conflicts)| {
                    for v in &mut values {
                        v.push(1.0);
                    }
                    let mut constraints: Vec<Constraint> = linear
                        .into_iter()
                        .map(|(terms, rhs, soft_level)| Constraint {
                            guard: Guard::Budget,
                            body: Body::Linear(terms),
                            rhs,
                            soft_level,
                        })
                        .collect();
                    if !union.is_empty() {
                        constraints.push(Constraint {
                            guard: Guard::Blast,
                            body: Body::Union(union),
                            rhs: blast_rhs,
                            soft_level: None,
                        });
                    }
                    for (a, b) in conflicts.into_iter().filter(|(a, b)| a != b) {
                        constraints.push(Constraint {
                            guard: Guard::Conflict,
                            body: Body::Linear(vec![(a, 1.0), (b, 1.0)]),
                            rhs: 1.0,
                            soft_level: None,
                        });
                    }
                    Problem {
                        values,
                        constraints,
                        levels: levels + 1,
                    }
                },
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// The MILP formulation (big-M soft constraints, union variables, lexicographic levels)
        /// finds selections exactly as good as trying every selection.
        #[test]
        fn milp_matches_enumeration(p in arb_problem()) {
            let exact = p.score(&enumerate(&p)).unwrap();
            let cfg = SolverConfig { exhaustive_max: 0, node_limit: 1_000_000, deadline: Duration::from_secs(30) };
            let mut left = cfg.deadline;
            let solved = solve(&p, &cfg, &mut left);
            prop_assert_eq!(&solved.status, &SolveStatus::Optimal);
            let found = p.score(&solved.x).expect("MILP selection is hard-feasible");
            prop_assert!(!lex_better(&exact, &found), "enumeration {exact:?} beats MILP {found:?}");
            prop_assert!(!lex_better(&found, &exact), "MILP {found:?} beats enumeration {exact:?}");
        }

        /// The greedy floor never breaks a hard constraint.
        #[test]
        fn greedy_is_feasible(p in arb_problem()) {
            prop_assert!(p.score(&greedy(&p)).is_some());
        }
    }
}
