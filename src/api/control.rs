//! Kill switches, the global freeze, and the agents they apply to.

use super::{body, ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ControlRequest {
    /// suspend_agent, resume_agent, suspend_domain, resume_domain, freeze, unfreeze
    action: String,
    #[serde(default)]
    target: Option<String>,
}

pub(super) async fn controls(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<crate::controls::Controls>, ApiError> {
    let (snap, _) = state.read(&headers)?;
    Ok(Json(snap.controls.clone()))
}

pub(super) async fn control(
    State(state): State<AppState>,
    headers: HeaderMap,
    parsed: Result<Json<ControlRequest>, JsonRejection>,
) -> Result<Json<crate::controls::Controls>, ApiError> {
    let (_, who) = state.read(&headers)?;
    let body = body(parsed)?;
    let controls = state
        .writes
        .control(&who, &body.action, body.target.as_deref())
        .await?;
    Ok(Json(controls))
}

/// Every agent with a role or a record: its track record and whether it is suspended.
pub(super) async fn agents(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (snap, _) = state.read(&headers)?;
    let mut records = snap.tracks.to_json();
    let map = records.as_object_mut().expect("an object");
    for (name, role) in &snap.setup.roles.agents {
        let entry = map.entry(name.clone()).or_insert_with(|| {
            serde_json::to_value(crate::track::AgentRecord::default()).expect("serialises")
        });
        entry["domains"] = serde_json::json!(role.domains);
        entry["max_proposals_per_minute"] = serde_json::json!(role.max_proposals_per_minute);
    }
    for (name, entry) in map.iter_mut() {
        let domains: Vec<String> = entry["domains"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        entry["suspended"] = serde_json::json!(
            snap.controls.suspended_agents.contains(name)
                || domains
                    .iter()
                    .any(|d| snap.controls.suspended_domains.contains(d))
        );
    }
    Ok(Json(records))
}
