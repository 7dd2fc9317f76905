//! The HTTP API (axum): the approvals queue, kill switches and what the dashboard shows, for
//! people; health and Prometheus metrics for machines. The dashboard itself is served at `/`.
//!
//! Everything under `/api` needs `Authorization: Bearer <token>` of an approver. Errors are
//! JSON `{code, message}` with the matching status. Handlers extract, make one call on the
//! shared state, respond. The routes are listed in README.md.

use crate::approval::{ApprovalError, Approver};
use crate::contract::Decision;
use crate::controls::Controls;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod approvals;
mod control;
mod views;

/// A write's answer, as the service gives it.
pub type Written<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// The changes a person makes through the API, answered by whoever holds the decision loop:
/// the leader records them in order with its decisions; a replica standing by refuses them
/// and says where the leader is. The API knows nothing else of the service: reads come from
/// the published [`crate::snapshot::Snapshot`], so no request waits on a window.
pub trait Writes: Send + Sync + 'static {
    /// A person's answer to an escalation: the proposal's final decision.
    fn answer<'a>(
        &'a self,
        who: &'a Approver,
        key: (&'a str, &'a str),
        approve: bool,
        comment: &'a str,
    ) -> Written<'a, Decision>;

    /// A kill switch or the freeze: what is in force afterwards.
    fn control<'a>(
        &'a self,
        who: &'a Approver,
        action: &'a str,
        target: Option<&'a str>,
    ) -> Written<'a, Controls>;
}

/// What the handlers share: where writes go, the published view reads come from, the
/// metrics to render, and whether the service is ready (streams and consumer in place).
#[derive(Clone)]
pub struct AppState {
    pub writes: Arc<dyn Writes>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub health: Arc<crate::health::Health>,
    /// The latest observation of each service, as the telemetry feed keeps it.
    pub telemetry: Arc<std::sync::Mutex<crate::contract::Telemetry>>,
    /// The audit trail's indexes, read for a decision's story.
    pub audit: Option<std::sync::Arc<crate::audit::TrailIndex>>,
    /// What reads are served from: never the decision loop's lock.
    pub view: crate::snapshot::Reader,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/api/whoami", get(views::whoami))
        .route("/api/summary", get(views::summary))
        .route("/api/decisions", get(views::decisions))
        .route("/api/decisions/{agent}/{id}", get(views::decision))
        .route("/api/graph", get(views::graph))
        .route("/api/intent", get(views::intent))
        .route("/api/escalations", get(approvals::list))
        .route("/api/escalations/{agent}/{id}", post(approvals::answer))
        .route(
            "/api/control",
            get(control::controls).post(control::control),
        )
        .route("/api/agents", get(control::agents))
        .merge(crate::dashboard::routes())
        .merge(health_router(state.health.clone()))
        .with_state(state)
}

/// An API error: status, stable code, message.
pub struct ApiError(pub StatusCode, pub &'static str, pub String);

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
            ApprovalError::CommentTooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError(status, e.code(), e.to_string())
    }
}

/// A request body as JSON, or the API's own error: the field and the problem, with the
/// status axum chose (400 malformed, 415 not JSON, 422 wrong fields), as `{code, message}`
/// like every other error.
pub(crate) fn body<T>(
    parsed: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    parsed
        .map(|Json(b)| b)
        .map_err(|e| ApiError(e.status(), "bad_body", e.body_text()))
}

pub(crate) fn approver(
    approvers: &crate::approval::Approvers,
    headers: &HeaderMap,
) -> Result<crate::approval::Approver, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send Authorization: Bearer <token>".into(),
        ))?;
    approvers.authenticate(token).cloned().ok_or(ApiError(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "unknown token".into(),
    ))
}

/// `/healthz` and `/readyz` (200 `ready`, or 503 with every cause that keeps the service
/// from taking work, one per line — `nats: ...`, `audit: ...` — so that whoever looks knows
/// what to fix). Served alone while the service starts, and beside the rest after.
pub fn health_router<S: Clone + Send + Sync + 'static>(
    health: Arc<crate::health::Health>,
) -> Router<S> {
    let asked = health.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let health = health.clone();
                async move { readiness(&health) }
            }),
        )
        .route(
            "/api/replica",
            get(move || {
                let health = asked.clone();
                async move { Json(health.role()) }
            }),
        )
}

fn readiness(health: &crate::health::Health) -> (StatusCode, String) {
    match health.unready() {
        None => (StatusCode::OK, "ready".into()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

impl AppState {
    /// The state as the decision loop last published it, for a request by an approver.
    pub fn read(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Arc<crate::snapshot::Snapshot>, crate::approval::Approver), ApiError> {
        let snapshot = self.view.latest();
        let who = approver(&snapshot.setup.approvers, headers)?;
        Ok((snapshot, who))
    }
}

/// How often histogram samples are folded into their summaries when nobody scrapes.
pub const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps every histogram sample (a few per proposal) until something folds them
/// into their summaries; a scrape does, but a service nobody scrapes would otherwise hold every
/// sample it ever recorded — about a gigabyte a day at 1 000 proposals a second. Runs for
/// as long as the service does.
pub async fn keep_metrics_bounded(metrics: metrics_exporter_prometheus::PrometheusHandle) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    loop {
        every.tick().await;
        metrics.run_upkeep();
    }
}

/// Prometheus text format, rendered as it stands: counters and gauges of a window being
/// decided may be part-way through it.
async fn render_metrics(State(state): State<AppState>) -> Result<String, ApiError> {
    state.metrics.as_ref().map(|m| m.render()).ok_or(ApiError(
        StatusCode::NOT_FOUND,
        "no_metrics",
        "metrics are not recorded in this process".into(),
    ))
}
