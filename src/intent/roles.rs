//! Agent roles: which domains, action kinds and services each agent may propose for.
//!
//! Zero trust: an agent not named here, or acting outside its role, is answered `unauthorized`.
//! `operators` are the people who run an agent; they may not approve its proposals.
//! `max_proposals_per_minute` is the agent's circuit breaker: an agent caught in a loop is
//! slowed down on its own instead of filling every window and pushing the service into
//! shedding everyone's proposals.

use super::load::IntentError;
use crate::contract::{ActionKind, Domain};
use crate::source::find_line;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub domains: Vec<Domain>,
    /// `None`: every kind.
    pub kinds: Option<Vec<ActionKind>>,
    /// Exact names, or prefixes ending in `*`; `None`: every service.
    pub services: Option<Vec<String>>,
    pub operators: Vec<String>,
    /// New proposals admitted to the engine in any 60 s; `None`: no limit.
    pub max_proposals_per_minute: Option<u32>,
}

impl Role {
    pub fn allows_service(&self, service: &str) -> bool {
        self.services.as_ref().is_none_or(|patterns| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => service.starts_with(prefix),
                None => p == service,
            })
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roles {
    pub agents: BTreeMap<String, Role>,
    pub version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    #[serde(default)]
    agents: BTreeMap<String, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    domains: Vec<String>,
    kinds: Option<Vec<String>>,
    services: Option<Vec<String>>,
    #[serde(default)]
    operators: Vec<String>,
    max_proposals_per_minute: Option<i64>,
}

pub fn parse_roles(file: &str, text: &str) -> Result<Roles, Vec<IntentError>> {
    let raw: RawRoles = super::load::read_toml(file, text)?;
    let mut errors = Vec::new();
    let mut agents = BTreeMap::new();
    for (name, r) in raw.agents {
        let mut err = |field: &str, message: String| {
            errors.push(IntentError {
                at: find_line(file, text, &name),
                field: format!("agents.{name}.{field}"),
                message,
            })
        };
        let mut domains = Vec::new();
        for d in &r.domains {
            match Domain::parse(d) {
                Some(d) => domains.push(d),
                None => err("domains", format!("unknown domain `{d}`")),
            }
        }
        if domains.is_empty() {
            err("domains", "an agent needs at least one domain".into());
        }
        let kinds = r.kinds.map(|ks| {
            ks.iter()
                .filter_map(|k| {
                    let kind = ActionKind::parse(k);
                    if kind.is_none() {
                        err("kinds", format!("unknown action kind `{k}`"));
                    }
                    kind
                })
                .collect()
        });
        let max_proposals_per_minute = r.max_proposals_per_minute.and_then(|m| {
            let limit = u32::try_from(m).ok().filter(|&m| m >= 1);
            if limit.is_none() {
                err(
                    "max_proposals_per_minute",
                    format!("must be a whole number from 1 to {}, not {m}", u32::MAX),
                );
            }
            limit
        });
        agents.insert(
            name,
            Role {
                domains,
                kinds,
                services: r.services,
                operators: r.operators,
                max_proposals_per_minute,
            },
        );
    }
    if errors.is_empty() {
        Ok(Roles {
            agents,
            version: crate::hash::sha256(text.as_bytes()),
        })
    } else {
        Err(errors)
    }
}
