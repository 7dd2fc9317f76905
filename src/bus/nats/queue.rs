//! The queue of escalations waiting for a person, kept in the JetStream key-value bucket
//! `ARBITER_ESCALATIONS` (one entry per waiting proposal, removed when it is answered or
//! expires), where it survives restarts and other tools can watch it.
//!
//! The audit trail stays the evidence: an entry is written after its escalated decision is
//! recorded, so a crash in between leaves a waiting escalation the bucket lacks. On start the
//! bucket is reconciled with what the audit trail says is still waiting.

use super::{nats, NatsError};
use crate::approval::{Escalations, Pending};
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

pub const ESCALATIONS_BUCKET: &str = "ARBITER_ESCALATIONS";

pub struct EscalationQueue {
    store: kv::Store,
}

/// Bucket keys allow few characters; `agent/id` may hold any, so it is written in hex.
fn key(agent_id: &str) -> String {
    agent_id.bytes().map(|b| format!("{b:02x}")).collect()
}

impl EscalationQueue {
    /// Opens the bucket, created or brought to `limits`. Every escalation leaves a marker
    /// when it is answered, so without limits the bucket grows with the number of
    /// escalations ever raised; what a full bucket drops, the audit trail still holds.
    pub async fn open(
        js: &jetstream::Context,
        limits: super::StreamLimits,
    ) -> Result<EscalationQueue, NatsError> {
        let store = js
            .create_or_update_key_value(kv::Config {
                bucket: ESCALATIONS_BUCKET.into(),
                history: 1,
                max_bytes: limits.max_bytes,
                max_age: limits.max_age,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        Ok(EscalationQueue { store })
    }

    pub async fn hold(&self, agent_id: &str, pending: &Pending) -> Result<(), NatsError> {
        let value = serde_json::to_vec(pending).map_err(nats)?;
        self.store
            .put(key(agent_id), value.into())
            .await
            .map_err(nats)?;
        Ok(())
    }

    pub async fn release(&self, agent_id: &str) -> Result<(), NatsError> {
        self.store.delete(key(agent_id)).await.map_err(nats)
    }

    /// The escalations the bucket holds, by `agent/id`.
    pub async fn waiting(&self) -> Result<Escalations, NatsError> {
        let mut out = Escalations::default();
        let mut keys = self.store.keys().await.map_err(nats)?;
        while let Some(k) = keys.next().await {
            let k = k.map_err(nats)?;
            if let Some(bytes) = self.store.get(k).await.map_err(nats)? {
                if let Ok(p) = serde_json::from_slice::<Pending>(&bytes) {
                    out.hold(p.proposal.key(), p);
                }
            }
        }
        Ok(out)
    }

    /// Makes the bucket hold exactly the escalations of `waiting`, the audit trail's
    /// account. Compared by key, from one listing of the bucket's keys: a restart with tens
    /// of thousands waiting does not fetch each one (an entry is written once, after its
    /// record, so one under the right key holds what the trail says).
    pub async fn reconcile(&self, waiting: &Escalations) -> Result<(), NatsError> {
        let mut held = std::collections::HashSet::new();
        let mut keys = self.store.keys().await.map_err(nats)?;
        while let Some(k) = keys.next().await {
            held.insert(k.map_err(nats)?);
        }
        let wanted: std::collections::HashMap<String, &String> =
            waiting.pending.keys().map(|k| (key(k), k)).collect();
        for k in &held {
            if !wanted.contains_key(k) {
                self.store.delete(k).await.map_err(nats)?;
            }
        }
        for (hex, k) in &wanted {
            if held.contains(hex) {
                continue;
            }
            match waiting.get(k) {
                Some(Ok(p)) => self.hold(k, &p).await?,
                Some(Err(e)) => tracing::warn!(key = k.as_str(), "escalation not read back: {e}"),
                None => {}
            }
        }
        Ok(())
    }
}
