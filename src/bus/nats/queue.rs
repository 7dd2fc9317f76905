//! The queue of escalations waiting for a person, copied to the JetStream key-value bucket
//! `ARBITER_ESCALATIONS` (one entry per waiting proposal, removed when it is answered or
//! expires, under the 32 hex digits of its proposal's key), where other tools can watch it.
//!
//! The audit trail is the evidence and the service's own account; the bucket is a copy. It is
//! written by one task, in the order the service asks — first the reconciliation with the
//! trail's account of what waits (a crash between recording an escalation and copying it
//! leaves a difference), then each hold and release — so the decision loop never waits for
//! the bucket, a restart is not held up by it, and a bucket that refuses a write (full, or the
//! server away) costs a warning, never an answer.

use super::{nats, NatsError};
use crate::approval::{Escalations, Pending};
use crate::contract::ProposalKey;
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use tokio::sync::mpsc;

pub const ESCALATIONS_BUCKET: &str = "ARBITER_ESCALATIONS";

/// What the writer task is asked to do, in order.
enum Op {
    Hold(ProposalKey, Vec<u8>),
    Release(ProposalKey),
    Reconcile(Escalations),
}

#[derive(Clone)]
pub struct EscalationQueue {
    store: kv::Store,
    ops: mpsc::UnboundedSender<Op>,
}

impl EscalationQueue {
    /// Opens the bucket, created or brought to `limits`, and starts its writer. Every
    /// escalation leaves a marker when it is answered, so without limits the bucket grows
    /// with the number of escalations ever raised; what a full bucket refuses, the audit
    /// trail still holds.
    pub async fn open(
        js: &jetstream::Context,
        limits: super::StreamLimits,
    ) -> Result<EscalationQueue, NatsError> {
        let store = super::replicated(js, &format!("KV_{ESCALATIONS_BUCKET}"), |replicas| {
            js.create_or_update_key_value(kv::Config {
                bucket: ESCALATIONS_BUCKET.into(),
                history: 1,
                max_bytes: limits.max_bytes,
                max_age: limits.max_age,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
        })
        .await
        .map_err(nats)?;
        let (ops, queued) = mpsc::unbounded_channel();
        tokio::spawn(write(store.clone(), queued));
        Ok(EscalationQueue { store, ops })
    }

    pub fn hold(&self, pending: &Pending) {
        let value = serde_json::to_vec(pending).expect("an escalation serialises");
        let _ = self.ops.send(Op::Hold(pending.proposal.filed_as(), value));
    }

    pub fn release(&self, key: ProposalKey) {
        let _ = self.ops.send(Op::Release(key));
    }

    /// Brings the bucket to exactly the escalations of `waiting` (the audit trail's
    /// account), before any hold or release asked later.
    pub fn reconcile(&self, waiting: Escalations) {
        let _ = self.ops.send(Op::Reconcile(waiting));
    }

    /// The escalations the bucket holds, by `agent/id`: the queue of a service that keeps no
    /// audit trail.
    pub async fn waiting(&self) -> Result<Escalations, NatsError> {
        let mut out = Escalations::default();
        let mut keys = self.store.keys().await.map_err(nats)?;
        while let Some(k) = keys.next().await {
            let k = k.map_err(nats)?;
            if let Some(bytes) = self.store.get(k).await.map_err(nats)? {
                if let Ok(p) = serde_json::from_slice::<Pending>(&bytes) {
                    out.hold(p);
                }
            }
        }
        Ok(out)
    }
}

/// The bucket's one writer.
async fn write(store: kv::Store, mut ops: mpsc::UnboundedReceiver<Op>) {
    while let Some(op) = ops.recv().await {
        let done = match op {
            Op::Hold(k, value) => store
                .put(k.to_string(), value.into())
                .await
                .map(|_| ())
                .map_err(|e| format!("{k}: {e}")),
            Op::Release(k) => store
                .delete(k.to_string())
                .await
                .map_err(|e| format!("{k}: {e}")),
            Op::Reconcile(waiting) => reconcile(&store, &waiting).await,
        };
        if let Err(e) = done {
            metrics::counter!("arbiter_escalations_bucket_failures_total").increment(1);
            tracing::warn!("escalations bucket not updated (the audit trail holds it): {e}");
        }
        metrics::gauge!("arbiter_escalations_bucket_backlog").set(ops.len() as f64);
    }
}

/// Compared by key, from one listing of the bucket's keys: a restart with tens of thousands
/// waiting does not fetch each one (an entry is written once, after its record, so one under
/// the right key holds what the trail says). A write that fails is reported and the rest go
/// on.
async fn reconcile(store: &kv::Store, waiting: &Escalations) -> Result<(), String> {
    let mut held = std::collections::HashSet::new();
    let mut keys = store.keys().await.map_err(|e| e.to_string())?;
    while let Some(k) = keys.next().await {
        held.insert(k.map_err(|e| e.to_string())?);
    }
    let wanted: std::collections::HashMap<String, ProposalKey> =
        waiting.keys().map(|k| (k.to_string(), k)).collect();
    let mut failed = 0usize;
    for k in held.iter().filter(|k| !wanted.contains_key(*k)) {
        failed += usize::from(store.delete(k).await.is_err());
    }
    for (hex, k) in wanted.iter().filter(|(hex, _)| !held.contains(*hex)) {
        let Some(Ok(p)) = waiting.get(*k) else {
            failed += 1;
            continue;
        };
        let value = serde_json::to_vec(&p).expect("an escalation serialises");
        failed += usize::from(store.put(hex, value.into()).await.is_err());
    }
    match failed {
        0 => Ok(()),
        n => Err(format!("{n} entries not reconciled with the audit trail")),
    }
}
