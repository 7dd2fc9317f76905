//! The API's writes on a leader: a person's answer or kill switch waits for the decision loop
//! to let go of the state, then is recorded in order with the decisions.

use super::Shared;
use crate::api::{ApiError, Writes, Written};
use crate::approval::Approver;
use crate::controls::ControlError;
use crate::health::Health;
use axum::http::StatusCode;
use std::sync::Arc;
use tokio::sync::{Mutex, MutexGuard};

/// How long a write waits for the decision loop to let go of the state: a window takes
/// milliseconds; longer means the loop is stalled on a fault (a full disk, a lost server).
const STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Leader {
    pub shared: Arc<Mutex<Shared>>,
    pub health: Arc<Health>,
}

impl Leader {
    /// The state, or 503 `unavailable` with what is wrong when the decision loop has held it
    /// for longer than [`STATE_WAIT`]: a request never hangs on a stalled loop.
    async fn state(&self) -> Result<MutexGuard<'_, Shared>, ApiError> {
        match tokio::time::timeout(STATE_WAIT, self.shared.lock()).await {
            Ok(guard) => Ok(guard),
            Err(_) => Err(unavailable(format!(
                "the service is busy or stalled: {}",
                self.health
                    .unready()
                    .unwrap_or_else(|| "no cause reported".into())
                    .replace('\n', "; ")
            ))),
        }
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

impl Writes for Leader {
    fn answer<'a>(
        &'a self,
        who: &'a Approver,
        key: (&'a str, &'a str),
        approve: bool,
        comment: &'a str,
    ) -> Written<'a, crate::contract::Decision> {
        Box::pin(async move {
            let mut st = self.state().await?;
            match st.answer(who, key, approve, comment).await {
                Ok(answered) => Ok(answered?),
                Err(e) => Err(unavailable(e.to_string())),
            }
        })
    }

    fn control<'a>(
        &'a self,
        who: &'a Approver,
        action: &'a str,
        target: Option<&'a str>,
    ) -> Written<'a, crate::controls::Controls> {
        Box::pin(async move {
            let mut st = self.state().await?;
            match st.control(who, action, target).await {
                Ok(Ok(())) => Ok(st.coordinator.controls.clone()),
                Ok(Err(e)) => {
                    let status = match e {
                        ControlError::NotAllowed { .. } => StatusCode::FORBIDDEN,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    Err(ApiError(status, e.code(), e.to_string()))
                }
                Err(e) => Err(unavailable(e.to_string())),
            }
        })
    }
}

/// The API's writes on a replica standing by: refused, naming the leader, so a person's
/// answer or switch is never recorded twice or out of order with the leader's decisions.
pub struct Standby {
    pub health: Arc<Health>,
}

impl Standby {
    fn refuse(&self) -> ApiError {
        let role = self.health.role();
        let me = role.replica.unwrap_or_else(|| "this replica".into());
        let leader = match role.leader {
            Some(l) => format!("the leader, {l}"),
            None => "the leader (none holds the lease now; try again shortly)".into(),
        };
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_leader",
            format!("{me} stands by and serves reads only; send changes to {leader}"),
        )
    }
}

impl Writes for Standby {
    fn answer<'a>(
        &'a self,
        _: &'a Approver,
        _: (&'a str, &'a str),
        _: bool,
        _: &'a str,
    ) -> Written<'a, crate::contract::Decision> {
        let refused = self.refuse();
        Box::pin(async move { Err(refused) })
    }

    fn control<'a>(
        &'a self,
        _: &'a Approver,
        _: &'a str,
        _: Option<&'a str>,
    ) -> Written<'a, crate::controls::Controls> {
        let refused = self.refuse();
        Box::pin(async move { Err(refused) })
    }
}
