//! JSON Schemas of the wire types, generated from the Rust types so they cannot drift.
//!
//! The files under `schema/` are written by `arbiter schema` and checked by a test; agent
//! authors in other languages validate against them.

use super::{Decision, Outcome, Proposal};

pub fn proposal() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Proposal)).expect("schema is JSON")
}

pub fn decision() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Decision)).expect("schema is JSON")
}

pub fn outcome() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Outcome)).expect("schema is JSON")
}

/// Every published schema with the file name it is published under.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("proposal.schema.json", proposal()),
        ("decision.schema.json", decision()),
        ("outcome.schema.json", outcome()),
    ]
}
