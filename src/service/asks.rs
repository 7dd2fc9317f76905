//! The service's side of asking agents for capacity (`crate::coordinator::asks`): looked for at each
//! housekeeping turn against the latest observations; each request is recorded in the trail,
//! then sent on `arbiter.control.<agent>`.

use super::{nats, NatsError, Shared};
use crate::audit::Event;
use crate::contract::{Telemetry, Timestamp};
use crate::world::World;
use std::time::Duration;

/// How often the service looks for short services: a scan of every service against the
/// latest observations, cheap but not for every turn of a busy loop; a shortfall waits at
/// most this long to be asked for.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

impl Shared {
    pub async fn ask_for_capacity(
        &mut self,
        telemetry: &Telemetry,
        now: Timestamp,
    ) -> Result<(), NatsError> {
        let Ok(world) = World::observed(&self.coordinator.graph, telemetry) else {
            return Ok(());
        };
        let requests = self.coordinator.requests(now, &world);
        if requests.is_empty() {
            return Ok(());
        }
        for req in &requests {
            self.write_durably(
                now,
                vec![Event::Request {
                    agent: req.agent.clone(),
                    command: req.command.clone(),
                }],
            )
            .await;
        }
        // Counted and shown before they are sent: whoever receives a request and then asks the
        // API must find it there.
        self.refresh_view(false);
        for req in requests {
            let payload = serde_json::to_vec(&req.command).map_err(nats)?;
            self.js
                .client()
                .publish(crate::bus::control_subject(&req.agent), payload.into())
                .await
                .map_err(nats)?;
            metrics::counter!("arbiter_capacity_requests_total").increment(1);
            tracing::info!(agent = req.agent, action = %serde_json::to_string(&req.action).unwrap_or_default(), "asked for capacity");
        }
        Ok(())
    }
}
