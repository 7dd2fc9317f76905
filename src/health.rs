//! Whether the service can take work now and, if not, why.
//!
//! A coordinator in the change path must not exit over a fault that may pass: a NATS server
//! restarting, a JetStream timeout, a full disk. It keeps its state, retries with backoff,
//! and says it is unready (`/readyz` 503 with the causes) until every cause has cleared, so
//! that a load balancer or a supervisor sees it and a person knows what to fix.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What keeps the service from being ready, by cause.
#[derive(Debug)]
pub struct Health {
    causes: Mutex<BTreeMap<&'static str, String>>,
    role: Mutex<Role>,
}

/// Which part this process plays (`/api/replica`, `/api/whoami`): the only one, or one replica of several,
/// leading or standing by.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Role {
    /// `single`, `leader` or `standby`.
    pub role: &'static str,
    /// This replica's name (`--replica`), if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The replica that leads, as far as this one knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

impl Health {
    /// Not ready until [`Health::clear`] of `starting`.
    pub fn starting() -> Health {
        let h = Health {
            causes: Mutex::new(BTreeMap::new()),
            role: Mutex::new(Role {
                role: "single",
                ..Role::default()
            }),
        };
        h.fail("starting", "starting");
        h
    }

    /// Records a cause; it holds until cleared. Logged when it appears or changes.
    pub fn fail(&self, cause: &'static str, why: impl Into<String>) {
        let why = why.into();
        let mut causes = self.causes.lock().expect("health lock");
        if causes.get(cause) != Some(&why) {
            if cause != "starting" && cause != "restoring" {
                tracing::warn!(cause, "unready: {why}");
            }
            causes.insert(cause, why);
        }
        metrics::gauge!("arbiter_ready").set(0.0);
    }

    pub fn clear(&self, cause: &'static str) {
        let mut causes = self.causes.lock().expect("health lock");
        if causes.remove(cause).is_some() {
            if cause != "starting" && cause != "restoring" {
                tracing::info!(cause, "recovered");
            }
            if causes.is_empty() {
                metrics::gauge!("arbiter_ready").set(1.0);
            }
        }
    }

    pub fn set_role(&self, role: Role) {
        *self.role.lock().expect("health lock") = role;
    }

    pub fn role(&self) -> Role {
        self.role.lock().expect("health lock").clone()
    }

    /// `None` when ready; otherwise every cause, one per line.
    pub fn unready(&self) -> Option<String> {
        let causes = self.causes.lock().expect("health lock");
        (!causes.is_empty()).then(|| {
            causes
                .iter()
                .map(|(c, why)| format!("{c}: {why}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }
}

/// Waits between attempts at something that failed: 100 ms, doubling, at most 5 s.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn delay(&mut self) -> std::time::Duration {
        let ms = 100u64.saturating_mul(1 << self.failures.min(6)).min(5_000);
        self.failures += 1;
        std::time::Duration::from_millis(ms)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Whether the last attempt failed.
    pub fn failed(&self) -> bool {
        self.failures > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_cause_has_cleared() {
        let h = Health::starting();
        assert_eq!(h.unready().as_deref(), Some("starting: starting"));
        h.clear("starting");
        assert_eq!(h.unready(), None);
        h.fail("audit", "disk full");
        h.fail("nats", "disconnected");
        assert_eq!(
            h.unready().as_deref(),
            Some("audit: disk full\nnats: disconnected")
        );
        h.clear("nats");
        assert_eq!(h.unready().as_deref(), Some("audit: disk full"));
        h.clear("audit");
        assert_eq!(h.unready(), None);
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        let mut b = Backoff::default();
        let d: Vec<u64> = (0..8).map(|_| b.delay().as_millis() as u64).collect();
        assert_eq!(d, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.delay().as_millis(), 100);
    }
}
