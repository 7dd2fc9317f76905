//! The HTTP API (axum): the approvals queue and kill switches for people, health and
//! Prometheus metrics for machines.
//!
//! `GET /api/agents` shows each agent's track record (success and rollback rates) and
//! whether its kill switch is pulled. `GET /api/escalations` lists what waits for a human; `POST /api/escalations/{agent}/{id}`
//! with `{"approve": bool, "comment": "..."}` answers one. Both need `Authorization: Bearer
//! <token>` of an approver. Errors are JSON `{code, message}` with the matching status.
//! Handlers extract, make one call on the shared state, respond.

use crate::approval::ApprovalError;
use crate::bus::nats::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the handlers share: the service state, the metrics to render, and whether the
/// service is ready (streams and consumer in place).
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Mutex<Shared>>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route("/api/escalations", get(list))
        .route("/api/escalations/{agent}/{id}", post(answer))
        .route("/api/control", get(controls).post(control))
        .route("/api/agents", get(agents))
        .with_state(state)
}

/// An API error: status, stable code, message.
pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(serde_json::json!({"code": self.1, "message": self.2})),
        )
            .into_response()
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        let status = match e {
            ApprovalError::NotPending(_) => StatusCode::NOT_FOUND,
            ApprovalError::Domain { .. } | ApprovalError::OwnAgent { .. } => StatusCode::FORBIDDEN,
        };
        ApiError(status, e.code(), e.to_string())
    }
}

fn approver(st: &Shared, headers: &HeaderMap) -> Result<crate::approval::Approver, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send Authorization: Bearer <token>".into(),
        ))?;
    st.approvers.authenticate(token).cloned().ok_or(ApiError(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "unknown token".into(),
    ))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

/// Prometheus text format. Waits for a window being decided to finish, so the figures
/// describe whole windows (counters and gauges together).
async fn render_metrics(State(state): State<AppState>) -> Result<String, ApiError> {
    let _between_windows = state.shared.lock().await;
    state.metrics.as_ref().map(|m| m.render()).ok_or(ApiError(
        StatusCode::NOT_FOUND,
        "no_metrics",
        "metrics are not recorded in this process".into(),
    ))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let st = state.shared.lock().await;
    approver(&st, &headers)?;
    Ok(Json(
        st.escalations
            .pending
            .values()
            .map(|p| {
                serde_json::json!({
                    "agent": p.proposal.agent,
                    "proposal_id": p.proposal.id,
                    "domain": p.proposal.domain,
                    "action": p.proposal.action,
                    "recommendation": p.decision.recommendation,
                    "blast_radius": p.decision.blast_radius,
                    "explanation": p.decision.explanation,
                    "expires_at": p.deadline,
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    approve: bool,
    #[serde(default)]
    comment: String,
}

async fn answer(
    State(state): State<AppState>,
    Path((agent, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Answer>,
) -> Result<Json<crate::contract::Decision>, ApiError> {
    let mut st = state.shared.lock().await;
    let who = approver(&st, &headers)?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlRequest {
    /// suspend_agent, resume_agent, suspend_domain, resume_domain, freeze, unfreeze
    action: String,
    #[serde(default)]
    target: String,
}

async fn controls(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<crate::coordinator::Controls>, ApiError> {
    let st = state.shared.lock().await;
    approver(&st, &headers)?;
    Ok(Json(st.coordinator.controls.clone()))
}

async fn control(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ControlRequest>,
) -> Result<Json<crate::coordinator::Controls>, ApiError> {
    let mut st = state.shared.lock().await;
    let who = approver(&st, &headers)?;
    match st.control(&who, &body.action, &body.target) {
        Ok(Ok(())) => Ok(Json(st.coordinator.controls.clone())),
        Ok(Err(message)) => Err(ApiError(StatusCode::BAD_REQUEST, "bad_control", message)),
        Err(e) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )),
    }
}

/// Every agent with a role or a record: its track record and whether it is suspended.
async fn agents(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let st = state.shared.lock().await;
    approver(&st, &headers)?;
    let c = &st.coordinator;
    let mut records = st.tracks.to_json();
    let map = records.as_object_mut().expect("an object");
    for (name, role) in &c.roles.agents {
        let entry = map.entry(name.clone()).or_insert_with(|| {
            serde_json::to_value(crate::track::AgentRecord::default()).expect("serialises")
        });
        entry["domains"] = serde_json::json!(role.domains);
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
            c.controls.suspended_agents.contains(name)
                || domains
                    .iter()
                    .any(|d| c.controls.suspended_domains.contains(d))
        );
    }
    Ok(Json(records))
}
