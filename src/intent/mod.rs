//! Declared business intent: what executives want the machines to follow.
//!
//! An intent file (`intents/*.toml`) says, for a window of time, which objectives come first,
//! the SLOs, the budget, how much may be disrupted at once, how much autonomy each domain has
//! per service tier, and when changes are frozen. Files load in two stages — TOML with spans,
//! then checked and resolved — so `arbiter check` can name the file, line and column of every
//! problem, not just the first. Beside them, `agents.toml` declares each agent's role.

mod approvers;
mod load;
mod model;
mod roles;
mod select;

pub use approvers::{parse_approvers, Approver, Approvers, APPROVERS_FILE};
pub use load::{load_dir, parse_intent, IntentError, LoadedDir};
pub use model::{BlastLimits, Escalation, Freeze, Intent, Objective, Slo, Zone, DEFAULT_HEADROOM};
pub use roles::{parse_roles, Role, Roles};
pub use select::IntentSet;
