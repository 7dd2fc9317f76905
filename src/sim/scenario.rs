//! Scenario files (`scenarios/*.toml`): the shop, the intents, the traffic, the injected
//! events, the agents and the human approver of one simulated day.
//!
//! Paths inside a scenario are relative to the scenario file. Errors name the file, line and
//! field.

use super::traffic::Profile;
use crate::graph::{GraphError, ServiceGraph};
use crate::intent::{load_dir, IntentError, IntentSet, Roles};
use crate::source::{find_line, toml_location, Location};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A file or directory the suite writes its cases into.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{at}: {field}: {message}")]
    Invalid {
        at: Location,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Graph(#[from] GraphError),
    #[error("intents are not valid:\n{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Intents(Vec<IntentError>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub seed: u64,
    pub duration_h: f64,
    #[serde(default = "default_tick")]
    pub tick_s: f64,
    /// When the simulated day starts (RFC 3339).
    pub start: String,
    pub graph: GraphFiles,
    /// Directory of intents and agents.toml.
    pub intents: PathBuf,
    pub traffic: BTreeMap<String, Profile>,
    #[serde(default, rename = "event")]
    pub events: Vec<Event>,
    #[serde(default)]
    pub agents: Agents,
    #[serde(default)]
    pub approver: Approver,
    #[serde(default)]
    pub economics: Economics,
    /// How wrong the traffic forecast every planning strategy is given is.
    #[serde(default)]
    pub forecast: super::forecast::ForecastError,
}

fn default_tick() -> f64 {
    60.0
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphFiles {
    pub links: PathBuf,
    pub overlay: Option<PathBuf>,
}

/// Something that happens to the shop.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// Credential stuffing: bots hammer an entry point's login.
    BotAttack {
        at_h: f64,
        duration_h: f64,
        entry: String,
        rps: f64,
    },
    /// A release that makes a service fail a share of its requests until rolled back.
    BadDeploy {
        at_h: f64,
        service: String,
        error_rate: f64,
    },
    /// A zone's share of every service's capacity is lost for a while.
    ZoneLoss {
        at_h: f64,
        duration_h: f64,
        share: f64,
    },
    /// A service starts leaking memory: it fails some requests until restarted.
    Leak { at_h: f64, service: String },
}

impl Event {
    pub fn at_h(&self) -> f64 {
        match self {
            Event::BotAttack { at_h, .. }
            | Event::BadDeploy { at_h, .. }
            | Event::ZoneLoss { at_h, .. }
            | Event::Leak { at_h, .. } => *at_h,
        }
    }
}

/// Parameters of the domain agents; each acts every `period_min` on what it sees.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Agents {
    pub period_min: f64,
    /// Cost: remove replicas where utilisation is below this.
    pub cost_low_utilisation: f64,
    /// Cost: never go below this many replicas.
    pub cost_min_replicas: u32,
    /// Cost: a spend target per hour; above it the least used service gives up a replica
    /// even above `cost_low_utilisation` (up to 60%). `None`: no target.
    pub cost_budget_per_hour: Option<f64>,
    /// Resilience: add replicas where utilisation is above this.
    pub resilience_high_utilisation: f64,
    /// Resilience: roll back a service whose error rate exceeds this.
    pub resilience_error_rate: f64,
    /// Resilience: restart unhealthy services in one go (`false`: rolling).
    pub resilience_full_restart: bool,
    /// Security: the bot share of entry traffic that counts as an attack.
    pub security_bot_share: f64,
    /// Security: latency the WAF rule it deploys adds, ms.
    pub security_waf_ms: f64,
    /// Security: rotate the entry point's session secret during an attack (restarts it).
    pub security_rotate: bool,
    /// Application: switch off recommendations when the entry's latency exceeds this, ms.
    pub application_latency_ms: f64,
    /// Application: lengthen the cache of a service it tunes above this utilisation. The
    /// services it tunes are those its role (`app-tuner-1` in the intents' `agents.toml`)
    /// lists; a role that lists none may tune any.
    pub application_cache_utilisation: f64,
    /// Application: the feature flag it switches off when pages get slow, if the shop has one.
    pub flag: Option<Flag>,
}

/// A feature flag that sheds an optional call: while it is off, the entry points stop
/// calling `stops_calling` and convert `conversion_off` times as well.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    pub name: String,
    pub stops_calling: String,
    #[serde(default = "Flag::default_conversion")]
    pub conversion_off: f64,
}

impl Flag {
    fn default_conversion() -> f64 {
        0.98
    }
}

impl Default for Agents {
    fn default() -> Self {
        Agents {
            period_min: 5.0,
            cost_low_utilisation: 0.35,
            cost_min_replicas: 1,
            cost_budget_per_hour: None,
            resilience_high_utilisation: 0.8,
            resilience_error_rate: 0.05,
            resilience_full_restart: true,
            security_bot_share: 0.2,
            security_waf_ms: 40.0,
            security_rotate: true,
            application_latency_ms: 800.0,
            application_cache_utilisation: 0.85,
            flag: None,
        }
    }
}

/// The simulated human who answers escalations.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Approver {
    pub delay_min: f64,
    /// `follow` (the arbiter's recommendation), `approve` or `deny`.
    pub policy: String,
}

impl Default for Approver {
    fn default() -> Self {
        Approver {
            delay_min: 10.0,
            policy: "follow".into(),
        }
    }
}

/// Money: what an order is worth and how latency hurts conversion.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Economics {
    /// The service whose requests are orders.
    pub order_service: String,
    pub order_value: f64,
    /// Conversion is untouched up to this entry latency, ms...
    pub free_latency_ms: f64,
    /// ...and halves for every this many ms beyond it.
    pub half_conversion_ms: f64,
    /// Start-up delay of a new replica, s.
    pub startup_s: f64,
    /// How long a restart or rollback keeps replicas out, s.
    pub restart_s: f64,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            order_service: "checkoutservice".into(),
            order_value: 80.0,
            free_latency_ms: 300.0,
            half_conversion_ms: 1500.0,
            startup_s: 180.0,
            restart_s: 120.0,
        }
    }
}

/// A loaded, checked scenario with its graph and intents.
pub struct Scenario {
    pub file: String,
    pub raw: RawScenario,
    pub graph: ServiceGraph,
    pub intents: IntentSet,
    pub roles: Roles,
    pub start: crate::contract::Timestamp,
    /// Traffic profile per entry, in `graph.entries()` order.
    pub profiles: Vec<Profile>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: file.clone(),
            source,
        })?;
        let raw: RawScenario = toml::from_str(&text).map_err(|e| ScenarioError::Invalid {
            at: toml_location(&file, &text, &e),
            field: String::new(),
            message: e.message().to_string(),
        })?;
        let bad = |needle: &str, field: &str, message: String| ScenarioError::Invalid {
            at: find_line(&file, &text, needle),
            field: field.to_string(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let graph = ServiceGraph::from_files(
            &base.join(&raw.graph.links),
            raw.graph.overlay.as_ref().map(|o| base.join(o)).as_deref(),
        )?;
        let loaded = load_dir(&base.join(&raw.intents)).map_err(ScenarioError::Intents)?;
        let start =
            crate::contract::Timestamp::parse(&raw.start).map_err(|m| bad("start", "start", m))?;
        if !(raw.duration_h > 0.0 && raw.duration_h <= 24.0 * 14.0) {
            return Err(bad(
                "duration_h",
                "duration_h",
                format!("must be within (0, 336] hours, got {}", raw.duration_h),
            ));
        }
        if !(raw.tick_s >= 1.0 && raw.tick_s <= 3600.0) {
            return Err(bad(
                "tick_s",
                "tick_s",
                format!("must be within [1, 3600] seconds, got {}", raw.tick_s),
            ));
        }
        let mut profiles = Vec::new();
        for &e in graph.entries() {
            let name = &graph.service(e).name;
            let p = raw.traffic.get(name).ok_or_else(|| {
                bad(
                    "[traffic",
                    &format!("traffic.{name}"),
                    format!("entry point `{name}` needs a traffic profile"),
                )
            })?;
            p.check().map_err(|(f, m)| {
                bad(
                    &format!("[traffic.{name}]"),
                    &format!("traffic.{name}.{f}"),
                    m,
                )
            })?;
            profiles.push(p.clone());
        }
        for name in raw.traffic.keys() {
            let is_entry = graph
                .index_of(name)
                .is_some_and(|i| graph.service(i).is_entry);
            if !is_entry {
                return Err(bad(
                    &format!("[traffic.{name}]"),
                    &format!("traffic.{name}"),
                    format!("`{name}` is not an entry point of the graph"),
                ));
            }
        }
        for (i, ev) in raw.events.iter().enumerate() {
            let field = format!("event[{i}]");
            let needle = "[[event]]";
            let service_ok = |s: &str| graph.index_of(s).is_some();
            let problem = match ev {
                Event::BotAttack {
                    entry,
                    rps,
                    duration_h,
                    ..
                } => (!service_ok(entry))
                    .then(|| format!("entry `{entry}` is not in the graph"))
                    .or_else(|| {
                        (*rps < 0.0 || *duration_h <= 0.0)
                            .then(|| "rps must be >= 0 and duration_h > 0".into())
                    }),
                Event::BadDeploy {
                    service,
                    error_rate,
                    ..
                } => (!service_ok(service))
                    .then(|| format!("service `{service}` is not in the graph"))
                    .or_else(|| {
                        (!(0.0..=1.0).contains(error_rate))
                            .then(|| "error_rate must be within [0, 1]".into())
                    }),
                Event::ZoneLoss {
                    share, duration_h, ..
                } => (!(0.0..1.0).contains(share) || *duration_h <= 0.0)
                    .then(|| "share must be within [0, 1) and duration_h > 0".into()),
                Event::Leak { service, .. } => (!service_ok(service))
                    .then(|| format!("service `{service}` is not in the graph")),
            };
            if let Some(message) = problem {
                return Err(bad(needle, &field, message));
            }
        }
        raw.forecast
            .check()
            .map_err(|(f, m)| bad(f, &format!("forecast.{f}"), m))?;
        if !["follow", "approve", "deny"].contains(&raw.approver.policy.as_str()) {
            return Err(bad(
                "policy",
                "approver.policy",
                format!("`{}` is not follow, approve or deny", raw.approver.policy),
            ));
        }
        if let Some(flag) = &raw.agents.flag {
            if graph.index_of(&flag.stops_calling).is_none() {
                return Err(bad(
                    "stops_calling",
                    "agents.flag.stops_calling",
                    format!("`{}` is not in the graph", flag.stops_calling),
                ));
            }
            if !(flag.conversion_off > 0.0 && flag.conversion_off <= 1.0) {
                return Err(bad(
                    "conversion_off",
                    "agents.flag.conversion_off",
                    format!("{} is not in (0, 1]", flag.conversion_off),
                ));
            }
        }
        if graph.index_of(&raw.economics.order_service).is_none() {
            return Err(bad(
                "order_service",
                "economics.order_service",
                format!("`{}` is not in the graph", raw.economics.order_service),
            ));
        }
        Ok(Scenario {
            file,
            graph,
            intents: IntentSet::new(loaded.intents),
            roles: loaded.roles,
            start,
            profiles,
            raw,
        })
    }

    pub fn ticks(&self) -> u64 {
        (self.raw.duration_h * 3600.0 / self.raw.tick_s).round() as u64
    }
}
