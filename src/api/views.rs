//! What the dashboard reads: who is signed in, the headline figures, the decision feed and
//! one decision's story, the service graph with its live load, and the intent in force.
//! Each reads the snapshot the decision loop last published (and the feed, locked only while
//! a page is cut), never the loop's own state: a person clicking neither waits for a window
//! being recorded nor holds one up.

use super::{ApiError, AppState};
use crate::contract::{Decision, Domain, Timestamp, Verdict};
use crate::dashboard::feed::FeedEntry;
use crate::dashboard::Filter;
use crate::intent::Intent;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Decisions on one page unless the request says otherwise.
const DEFAULT_PAGE: usize = 50;

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

pub(super) async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (snap, who) = state.read(&headers)?;
    let operates: Vec<&String> = snap
        .setup
        .roles
        .agents
        .iter()
        .filter(|(_, r)| r.operators.contains(&who.name))
        .map(|(name, _)| name)
        .collect();
    Ok(Json(json!({
        "name": who.name,
        "domains": who.domains,
        "operates": operates,
        "replica": state.health.role(),
    })))
}

pub(super) async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (snap, _) = state.read(&headers)?;
    let f = &snap.figures;
    let intent = snap
        .setup
        .intents
        .in_force(now())
        .map(|i| json!({"name": i.name, "version": i.version, "file": i.file}));
    let (approved, incidents) = snap.tracks.incidents();
    Ok(Json(json!({
        "decisions": f.overall.total(),
        "approved_changes": approved,
        "incidents_per_1000": (approved > 0).then(|| incidents as f64 * 1000.0 / approved as f64),
        "adherence": f.overall,
        "adherence_by_domain": f.by_domain,
        "escalation_rate": f.escalation_rate(),
        "escalations_answered": f.answered,
        "rollbacks": f.rollbacks,
        "mean_time_to_rollback_s": f.mean_time_to_rollback_s(),
        "capacity_requests": f.capacity_requests,
        "budget_grants": snap.grants.running(now()).collect::<Vec<_>>(),
        "audit_completeness": snap.audit_completeness,
        "pending_approvals": snap.pending_approvals,
        "changes_in_flight": snap.changes_in_flight,
        "controls": snap.controls,
        "intent": intent,
    })))
}

/// `GET /api/decisions`: filters (`domain`, `agent`, `service`, `verdict`), then either a
/// page older than `before` (the first page without it) or what is newer than `after`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedQuery {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    verdict: String,
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

fn entry_json(e: &FeedEntry, d: &Decision) -> Value {
    json!({
        "seq": e.seq,
        "agent": e.agent,
        "proposal_id": e.proposal_id,
        "domain": e.domain,
        "service": e.service,
        "kind": e.kind,
        "verdict": e.verdict,
        "decided_at": e.decided_at,
        "explanation": d.explanation,
        "reasons": d.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
        "recommendation": d.recommendation,
        "blast_radius": d.blast_radius.as_ref().map_or(0, |b| b.services.len()),
    })
}

/// The decisions of `entries`, read back from the trail where that is where they are: off
/// the async threads, since it reads files, and after the feed's lock is let go.
async fn decisions_of(
    state: &AppState,
    entries: Vec<FeedEntry>,
) -> Result<Vec<(FeedEntry, Decision)>, ApiError> {
    let index = state.audit.clone();
    tokio::task::spawn_blocking(move || {
        let recall = index.as_deref().map(|i| i as &dyn crate::engine::Recall);
        entries
            .into_iter()
            .map(|e| {
                let d = e.decision(recall);
                (e, d)
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

pub(super) async fn decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.read(&headers)?;
    let Query(q) =
        query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    known("verdict", &q.verdict, Verdict::ALL.map(|v| v.as_str()))?;
    known("domain", &q.domain, Domain::ALL.map(|d| d.as_str()))?;
    let filter = Filter {
        domain: q.domain,
        agent: q.agent,
        service: q.service,
        verdict: q.verdict,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    let (entries, matching, older, latest) = {
        let feed = state.view.feed();
        let page = match q.after {
            Some(after) => feed.since(&filter, after, limit),
            None => feed.page(&filter, q.before, limit),
        };
        let entries: Vec<FeedEntry> = page.entries.into_iter().cloned().collect();
        (entries, page.matching, page.older, page.latest)
    };
    let entries = decisions_of(&state, entries).await?;
    Ok(Json(json!({
        "entries": entries.iter().map(|(e, d)| entry_json(e, d)).collect::<Vec<_>>(),
        "matching": matching,
        "older": older,
        "latest": latest,
    })))
}

/// A filter on a closed set of values must name one of them: a typo would otherwise match
/// nothing and look like an empty feed.
fn known<const N: usize>(field: &str, value: &str, allowed: [&str; N]) -> Result<(), ApiError> {
    if value.is_empty() || allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError(
        StatusCode::BAD_REQUEST,
        "bad_query",
        format!(
            "{field}: unknown value `{value}`; one of {}",
            allowed.join(", ")
        ),
    ))
}

/// One decision in full with its story from the audit trail (every record about the
/// proposal: the proposal, what the arbiter knew, approvals, outcomes, rollbacks).
pub(super) async fn decision(
    State(state): State<AppState>,
    Path((agent, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.read(&headers)?;
    let entry = state.view.feed().find(&agent, &id).cloned();
    let narrative = match state.audit.clone() {
        Some(index) => {
            let id = id.clone();
            tokio::task::spawn_blocking(move || {
                index
                    .about(&id)
                    .map(|records| crate::audit::tell(&records, &id))
            })
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
            .map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "audit_unreadable",
                    e.to_string(),
                )
            })?
        }
        None => None,
    };
    if entry.is_none() && narrative.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            format!("no decision on {agent}/{id} in the feed or the audit trail"),
        ));
    }
    let whole = decisions_of(&state, entry.into_iter().collect()).await?;
    let whole = whole.first();
    let mut out = whole.map_or_else(|| json!({}), |(e, d)| entry_json(e, d));
    out["decision"] = json!(whole.map(|(_, d)| d));
    out["narrative"] = json!(narrative);
    Ok(Json(out))
}

/// Services with their load against capacity now and their distance from an entry point
/// (for drawing), and who calls whom.
pub(super) async fn graph(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (snap, _) = state.read(&headers)?;
    let g = &snap.setup.graph;
    let telemetry = state.telemetry.lock().expect("telemetry lock").clone();
    let world = crate::world::World::observed(g, &telemetry).map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad_telemetry",
            e.to_string(),
        )
    })?;
    let slos = snap
        .setup
        .intents
        .in_force(now())
        .map(|i| i.slos.clone())
        .unwrap_or_default();
    let depth = depths(g);
    let services: Vec<Value> = (0..g.len())
        .map(|s| {
            let attrs = g.service(s);
            let now = &world.services[s];
            json!({
                "name": attrs.name,
                "tier": attrs.tier,
                "entry": attrs.is_entry,
                "depth": depth[s],
                "replicas": now.replicas,
                "load_rps": now.load_rps,
                "capacity_rps": now.capacity_rps(attrs.capacity_rps_per_replica),
                "p99_ms": now.p99_ms,
                "slo_p99_ms": slos.iter().find(|x| x.service == attrs.name).map(|x| x.p99_latency_ms),
                "healthy": now.healthy,
                "under_attack": now.under_attack,
            })
        })
        .collect();
    let edges: Vec<Value> = (0..g.len())
        .flat_map(|s| {
            g.callees(s)
                .map(move |(c, calls)| json!({"from": s, "to": c, "calls": calls}))
        })
        .collect();
    Ok(Json(json!({
        "version": g.version(),
        "services": services,
        "edges": edges,
    })))
}

/// The column each service is drawn in: on an acyclic graph the longest chain of calls from
/// an entry point (so every arrow points right), else calls from the nearest entry point.
/// Services no entry point reaches are drawn first.
fn depths(g: &crate::graph::ServiceGraph) -> Vec<usize> {
    let mut depth = vec![usize::MAX; g.len()];
    let mut queue: std::collections::VecDeque<usize> = g.entries().iter().copied().collect();
    for &e in g.entries() {
        depth[e] = 0;
    }
    while let Some(s) = queue.pop_front() {
        for (c, _) in g.callees(s) {
            let deeper = depth[s] + 1;
            let unseen = depth[c] == usize::MAX;
            // Without a cycle, a longer chain pushes a service right; it is then looked at
            // again so its callees follow. At most one pass per service on the chain.
            if unseen || (!g.has_cycle() && deeper > depth[c]) {
                depth[c] = deeper;
                queue.push_back(c);
            }
        }
    }
    depth
        .into_iter()
        .map(|d| if d == usize::MAX { 0 } else { d })
        .collect()
}

/// The intent in force, in full, and every loaded intent with its window.
pub(super) async fn intent(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (snap, _) = state.read(&headers)?;
    let set = &snap.setup.intents;
    let in_force = set.in_force(now());
    Ok(Json(json!({
        "in_force": in_force.map(intent_json),
        "loaded": set.all().iter().map(|i| json!({
            "name": i.name,
            "file": i.file,
            "version": i.version,
            "window": i.window,
            "in_force": in_force.is_some_and(|f| f.file == i.file),
        })).collect::<Vec<_>>(),
    })))
}

fn intent_json(i: &Intent) -> Value {
    let autonomy: serde_json::Map<String, Value> = i
        .autonomy
        .iter()
        .map(|(domain, tiers)| {
            let zones: serde_json::Map<String, Value> = tiers
                .iter()
                .map(|(tier, zone)| (tier.clone(), json!(zone.as_str())))
                .collect();
            (domain.as_str().to_string(), Value::Object(zones))
        })
        .collect();
    json!({
        "name": i.name,
        "owner": i.owner,
        "description": i.description,
        "file": i.file,
        "version": i.version,
        "window": i.window,
        "priorities": i.priorities.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "declared_priorities": i.declared_priorities,
        "headroom": i.headroom,
        "horizon_h": i.horizon_h,
        "slos": i.slos.iter().map(|s| json!({"service": s.service, "p99_latency_ms": s.p99_latency_ms})).collect::<Vec<_>>(),
        "max_cost_per_hour": i.max_cost_per_hour,
        "blast": {
            "max_entry_traffic_share": i.blast.max_entry_traffic_share,
            "max_changes_per_service": i.blast.max_changes_per_service,
        },
        "autonomous_min_confidence": i.autonomous_min_confidence,
        "autonomy_default": i.autonomy_default.as_str(),
        "autonomy": autonomy,
        "freezes": i.freezes.iter().map(|f| json!({
            "name": f.name,
            "start": f.start,
            "end": f.end,
            "kinds": f.kinds,
            "services": f.services,
        })).collect::<Vec<_>>(),
        "escalation": {
            "contacts": i.escalation.contacts,
            "timeout_s": i.escalation.timeout_s,
            "irreversible": i.escalation.irreversible,
        },
    })
}
