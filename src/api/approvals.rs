//! The approvals queue: what waits for a person, and a person's answer.

use super::{body, ApiError, AppState};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

/// How many escalations one listing shows unless asked: a person reads the soonest to
/// expire first, and each one listed is read back from the audit trail.
const DEFAULT_LISTED: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    limit: Option<usize>,
}

/// `GET /api/escalations`: the `limit` (default [`DEFAULT_LISTED`]) soonest to expire,
/// soonest first; the header `x-total-count` says how many wait in all.
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<([(&'static str, String); 1], Json<Vec<serde_json::Value>>), ApiError> {
    state.read(&headers)?;
    let Query(q) =
        query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let (total, listed) = {
        let waiting = state.view.escalations();
        (
            waiting.len(),
            waiting.soonest_part(q.limit.unwrap_or(DEFAULT_LISTED)),
        )
    };
    let now = crate::contract::Timestamp::from_datetime(chrono::Utc::now());
    // Read back outside the service's lock: the decision loop does not wait for the listing.
    let all = tokio::task::spawn_blocking(move || listed.all())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let total = [("x-total-count", total.to_string())];
    Ok((total, Json(
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
    )))
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
    let (_, who) = state.read(&headers)?;
    let body = body(parsed)?;
    let d = state
        .writes
        .answer(&who, (&agent, &id), body.approve, &body.comment)
        .await?;
    Ok(Json(d))
}
