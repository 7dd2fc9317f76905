//! The approvals queue: what waits for a person, and a person's answer.

use super::{approver, body, ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    state.read(&headers)?;
    let waiting = state.view.escalations().clone();
    let now = crate::contract::Timestamp::from_datetime(chrono::Utc::now());
    // Read back outside the service's lock: the decision loop does not wait for the listing.
    let all = tokio::task::spawn_blocking(move || waiting.all())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(
        all.iter()
            .map(|p| {
                serde_json::json!({
                    "agent": p.proposal.agent,
                    "proposal_id": p.proposal.id,
                    "domain": p.proposal.domain,
                    "action": p.proposal.action,
                    "confidence": p.proposal.confidence,
                    "rationale": p.proposal.rationale,
                    "reasons": p.decision.reasons,
                    "recommendation": p.decision.recommendation,
                    "blast_radius": p.decision.blast_radius,
                    "explanation": p.decision.explanation,
                    "escalated_at": p.decision.decided_at,
                    "expires_at": p.deadline,
                    // Counted by the server, so a person's clock being off does not matter.
                    "seconds_left": (now.millis_until(&p.deadline).max(0) as f64 / 1000.0).floor(),
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    approve: bool,
    #[serde(default)]
    comment: String,
}

pub(super) async fn answer(
    State(state): State<AppState>,
    Path((agent, id)): Path<(String, String)>,
    headers: HeaderMap,
    parsed: Result<Json<Answer>, JsonRejection>,
) -> Result<Json<crate::contract::Decision>, ApiError> {
    let mut st = state.state().await?;
    let who = approver(&st.approvers, &headers)?;
    let body = body(parsed)?;
    let key = format!("{agent}/{id}");
    match st.answer(&who, &key, body.approve, &body.comment).await {
        Ok(Ok(d)) => Ok(Json(d)),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )),
    }
}
