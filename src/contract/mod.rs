//! The wire contract (`PROTOCOL.md` v1): what agents send and what the arbiter answers.
//!
//! These are the only types that cross the process boundary as JSON. They are strict on the
//! way in (unknown fields, out-of-range numbers and malformed timestamps are refused with a
//! stable reason code) because agents written in other languages must learn about a typo from
//! the arbiter, not from a silently ignored field. Internal modules convert from these types
//! and never see raw JSON.

mod action;
mod control;
mod decision;
mod key;
mod outcome;
mod parse;
mod proposal;
mod reason;
mod salvage;
pub mod schema;
mod telemetry;
mod timestamp;

pub use action::{Action, ActionKind, WafMode};
pub use control::{Control, ControlAction};
pub(crate) use decision::round3;
pub use decision::{AuditRef, BlastRadius, Decision, Estimate, IntentRef, Reason, Verdict};
pub use key::ProposalKey;
pub use outcome::{Outcome, OutcomeStatus};
pub use parse::{parse_outcome, parse_proposal, Invalid, Problem, MAX_PAYLOAD_BYTES};
pub use proposal::{Domain, Evidence, Expected, Proposal};
pub use reason::{ReasonCode, Recommendation};
pub use telemetry::{Observation, Telemetry};
pub use timestamp::Timestamp;

/// The only contract version this build speaks.
pub const VERSION: u32 = 1;

/// Whether a string is a valid service (or tier) name: also used by the graph loader.
pub fn is_service_name_pub(name: &str) -> bool {
    action::is_service_name(name)
}
