//! What an agent reports after executing an approved action (spec section 3).

use super::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub v: u32,
    pub proposal_id: String,
    pub agent: String,
    pub status: OutcomeStatus,
    #[serde(default)]
    pub observed: BTreeMap<String, f64>,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
    RolledBack,
}
