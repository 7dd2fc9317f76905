//! Core-NATS feeds the service listens to beside its proposals: telemetry, which updates the
//! world the engine sees as it arrives, and outcomes, handed to the decision loop.

use crate::contract::{Observation, Telemetry};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{nats, NatsError};

/// Observations as they arrive, for the rollback watch. When the decision loop falls behind,
/// older ones are dropped here (the snapshot still has them).
pub type Observations = tokio::sync::mpsc::Receiver<(String, Observation)>;

/// Subscribes to `arbiter.telemetry.>`; valid observations of known services update the
/// returned snapshot and are passed on, anything else is logged and ignored.
pub async fn telemetry(
    client: &async_nats::Client,
    known: HashSet<String>,
) -> Result<(Arc<Mutex<Telemetry>>, Observations), NatsError> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let snapshot = Arc::new(Mutex::new(Telemetry::default()));
    let mut feed = client
        .subscribe(crate::bus::TELEMETRY)
        .await
        .map_err(nats)?;
    let shared = snapshot.clone();
    tokio::spawn(async move {
        while let Some(m) = feed.next().await {
            let service = m
                .subject
                .as_str()
                .trim_start_matches(crate::bus::TELEMETRY_PREFIX)
                .to_string();
            match serde_json::from_slice::<Observation>(&m.payload) {
                Ok(o) if known.contains(&service) && o.bad_numbers().is_empty() => {
                    shared
                        .lock()
                        .expect("telemetry lock")
                        .services
                        .insert(service.clone(), o.clone());
                    let _ = tx.try_send((service, o));
                }
                _ => tracing::warn!(
                    service,
                    "telemetry ignored: not a valid observation of a known service"
                ),
            }
        }
    });
    Ok((snapshot, rx))
}

/// Subscribes to `arbiter.outcomes.>`; each message is handed over as (subject, payload).
pub async fn outcomes(
    client: &async_nats::Client,
) -> Result<tokio::sync::mpsc::Receiver<(String, Vec<u8>)>, NatsError> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut feed = client.subscribe(crate::bus::OUTCOMES).await.map_err(nats)?;
    tokio::spawn(async move {
        while let Some(m) = feed.next().await {
            if tx
                .send((m.subject.to_string(), m.payload.to_vec()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    Ok(rx)
}
