//! Loading intent files: parse with spans, then check every field and report every problem.

use super::model::*;
use super::roles::{parse_roles, Roles};
use crate::contract::{ActionKind, Domain, Timestamp};
use crate::hash::sha256;
use crate::source::{line_col, toml_location, Location};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::Spanned;

/// One problem in one intent (or roles) file.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentError {
    pub at: Location,
    /// The field concerned, dotted (`blast_radius.max_entry_traffic_share`), or empty.
    pub field: String,
    pub message: String,
}

impl fmt::Display for IntentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.at, self.message)
        } else {
            write!(f, "{}: {}: {}", self.at, self.field, self.message)
        }
    }
}

impl std::error::Error for IntentError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    name: Spanned<String>,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    description: String,
    window: Option<RawWindow>,
    #[serde(default)]
    priorities: Vec<Spanned<String>>,
    capacity: Option<RawCapacity>,
    #[serde(default)]
    slo: Vec<RawSlo>,
    budget: Option<RawBudget>,
    blast_radius: Option<RawBlast>,
    confidence: Option<RawConfidence>,
    #[serde(default)]
    autonomy: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    freeze: Vec<RawFreeze>,
    escalation: Option<RawEscalation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: Spanned<toml::Value>,
    end: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    headroom: Option<Spanned<f64>>,
    horizon_h: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    service: Spanned<String>,
    p99_latency_ms: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    max_cost_per_hour: Spanned<f64>,
    #[serde(default)]
    soft: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlast {
    max_entry_traffic_share: Option<Spanned<f64>>,
    max_changes_per_service: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfidence {
    autonomous_min: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    name: Spanned<String>,
    start: Spanned<toml::Value>,
    end: Spanned<toml::Value>,
    kinds: Option<Vec<Spanned<String>>>,
    services: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    #[serde(default)]
    contacts: Vec<String>,
    timeout_s: Option<Spanned<i64>>,
    irreversible: Option<bool>,
}

/// Checks fields and gathers errors with their positions.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<IntentError>,
}

impl Checker<'_> {
    fn err(&mut self, span: std::ops::Range<usize>, field: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(IntentError {
            at: Location {
                file: self.file.to_string(),
                line,
                column,
            },
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn time(&mut self, v: &Spanned<toml::Value>, field: &str) -> Option<Timestamp> {
        let text = match v.get_ref() {
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::String(s) => s.clone(),
            other => {
                self.err(
                    v.span(),
                    field,
                    format!("expected a date-time, found {}", other.type_str()),
                );
                return None;
            }
        };
        match Timestamp::parse(&text) {
            Ok(t) => Some(t),
            Err(_) => {
                self.err(
                    v.span(),
                    field,
                    format!("`{text}` is not a full date-time with a time zone (e.g. 2026-11-27T00:00:00Z)"),
                );
                None
            }
        }
    }

    fn number(&mut self, v: &Spanned<f64>, field: &str, ok: bool, rule: &str) -> f64 {
        let x = *v.get_ref();
        if !x.is_finite() || !ok {
            self.err(v.span(), field, format!("must be {rule}, got {x}"));
        }
        x
    }

    fn window(
        &mut self,
        s: &Spanned<toml::Value>,
        e: &Spanned<toml::Value>,
        prefix: &str,
    ) -> Option<(Timestamp, Timestamp)> {
        let start = self.time(s, &format!("{prefix}start"));
        let end = self.time(e, &format!("{prefix}end"));
        match (start, end) {
            (Some(a), Some(b)) if a < b => Some((a, b)),
            (Some(_), Some(_)) => {
                self.err(e.span(), &format!("{prefix}end"), "must be after start");
                None
            }
            _ => None,
        }
    }
}

/// Reads a TOML file of the intents directory into its raw type; a syntax or shape error is
/// located by line and column.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, Vec<IntentError>> {
    let syntax = |e: toml::de::Error| {
        vec![IntentError {
            at: toml_location(file, text, &e),
            field: String::new(),
            message: e.message().to_string(),
        }]
    };
    let de = toml::de::Deserializer::parse(text).map_err(syntax)?;
    // The path names the field a wrong type is in (`agents.x.kinds`), which the TOML error
    // alone does not.
    serde_path_to_error::deserialize(de).map_err(|e| {
        // Fields read with their place (`Spanned`) add a private step to the path.
        let field = e
            .path()
            .to_string()
            .split('.')
            .filter(|step| !step.starts_with("$__serde_spanned"))
            .collect::<Vec<_>>()
            .join(".");
        let e = e.into_inner();
        vec![IntentError {
            at: toml_location(file, text, &e),
            field: if field == "." { String::new() } else { field },
            message: e.message().to_string(),
        }]
    })
}

/// Parses and checks one intent file's text. `file` names it in errors.
pub fn parse_intent(file: &str, text: &str) -> Result<Intent, Vec<IntentError>> {
    let raw: RawIntent = read_toml(file, text)?;
    let mut c = Checker {
        file,
        text,
        errors: Vec::new(),
    };

    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() || name.len() > 128 {
        c.err(raw.name.span(), "name", "must be 1..=128 characters");
    }
    let window = raw
        .window
        .as_ref()
        .and_then(|w| c.window(&w.start, &w.end, "window."));

    let mut priorities = Vec::new();
    for (i, p) in raw.priorities.iter().enumerate() {
        match Objective::parse(p.get_ref()) {
            Some(o) if priorities.contains(&o) => c.err(
                p.span(),
                &format!("priorities[{i}]"),
                format!("`{}` is listed twice", p.get_ref()),
            ),
            Some(o) => priorities.push(o),
            None => c.err(
                p.span(),
                &format!("priorities[{i}]"),
                format!(
                    "unknown objective `{}`; expected one of availability, latency, security, cost",
                    p.get_ref()
                ),
            ),
        }
    }
    let declared_priorities = priorities.len();
    for o in Objective::DEFAULT_ORDER {
        if !priorities.contains(&o) {
            priorities.push(o);
        }
    }

    let cap = raw.capacity.as_ref();
    let headroom = match cap.and_then(|c| c.headroom.as_ref()) {
        Some(v) => {
            let h = *v.get_ref();
            c.number(
                v,
                "capacity.headroom",
                (1.0..=10.0).contains(&h),
                "within [1, 10]",
            )
        }
        None => DEFAULT_HEADROOM,
    };
    let horizon_h = match cap.and_then(|c| c.horizon_h.as_ref()) {
        Some(v) => {
            let h = *v.get_ref();
            c.number(
                v,
                "capacity.horizon_h",
                (0.0..=168.0).contains(&h),
                "within [0, 168] hours",
            )
        }
        None => 1.0,
    };

    let mut slos = Vec::new();
    for (i, s) in raw.slo.iter().enumerate() {
        let ms = *s.p99_latency_ms.get_ref();
        let ms = c.number(
            &s.p99_latency_ms,
            &format!("slo[{i}].p99_latency_ms"),
            ms > 0.0 && ms <= 3.6e6,
            "> 0 ms",
        );
        if !crate::contract::is_service_name_pub(s.service.get_ref()) {
            c.err(
                s.service.span(),
                &format!("slo[{i}].service"),
                "not a service name",
            );
        }
        slos.push(Slo {
            service: s.service.get_ref().clone(),
            p99_latency_ms: ms,
        });
    }

    let max_cost_per_hour = raw.budget.as_ref().map(|b| {
        let v = *b.max_cost_per_hour.get_ref();
        c.number(
            &b.max_cost_per_hour,
            "budget.max_cost_per_hour",
            v >= 0.0,
            ">= 0",
        )
    });

    let mut blast = BlastLimits {
        max_entry_traffic_share: 0.5,
        max_changes_per_service: 1,
    };
    if let Some(b) = &raw.blast_radius {
        if let Some(s) = &b.max_entry_traffic_share {
            let v = *s.get_ref();
            blast.max_entry_traffic_share = c.number(
                s,
                "blast_radius.max_entry_traffic_share",
                (0.0..=1.0).contains(&v),
                "within [0, 1]",
            );
        }
        if let Some(m) = &b.max_changes_per_service {
            let v = *m.get_ref();
            if !(1..=1000).contains(&v) {
                c.err(
                    m.span(),
                    "blast_radius.max_changes_per_service",
                    format!("must be within 1..=1000, got {v}"),
                );
            }
            blast.max_changes_per_service = v.clamp(1, 1000) as u32;
        }
    }

    let autonomous_min_confidence = match &raw.confidence {
        Some(conf) => {
            let v = *conf.autonomous_min.get_ref();
            c.number(
                &conf.autonomous_min,
                "confidence.autonomous_min",
                (0.0..=1.0).contains(&v),
                "within [0, 1]",
            )
        }
        None => 0.8,
    };

    let mut autonomy_default = Zone::Recommend;
    let mut autonomy: BTreeMap<Domain, BTreeMap<String, Zone>> = BTreeMap::new();
    for (key, value) in &raw.autonomy {
        let span = value.span();
        if key == "default" {
            match value.get_ref().as_str().and_then(Zone::parse) {
                Some(z) => autonomy_default = z,
                None => c.err(
                    span,
                    "autonomy.default",
                    "expected one of observe, recommend, approve, autonomous",
                ),
            }
            continue;
        }
        let Some(domain) = Domain::parse(key) else {
            c.err(
                span,
                &format!("autonomy.{key}"),
                "unknown domain; expected cost, security, resilience or application (or `default`)",
            );
            continue;
        };
        let Some(table) = value.get_ref().as_table() else {
            c.err(span, &format!("autonomy.{key}"), "expected a table of tier = zone, e.g. { critical = \"approve\", \"*\" = \"autonomous\" }");
            continue;
        };
        let zones = autonomy.entry(domain).or_default();
        for (tier, z) in table {
            match z.as_str().and_then(Zone::parse) {
                Some(zone) => {
                    zones.insert(tier.clone(), zone);
                }
                None => c.err(
                    span.clone(),
                    &format!("autonomy.{key}.{tier}"),
                    format!(
                        "`{}` is not a zone; expected observe, recommend, approve or autonomous",
                        z.as_str().unwrap_or("(not a string)")
                    ),
                ),
            }
        }
    }

    let mut freezes = Vec::new();
    for (i, f) in raw.freeze.iter().enumerate() {
        let prefix = format!("freeze[{i}].");
        let window = c.window(&f.start, &f.end, &prefix);
        let kinds = f.kinds.as_ref().map(|ks| {
            ks.iter()
                .filter_map(|k| {
                    let kind = ActionKind::parse(k.get_ref());
                    if kind.is_none() {
                        c.err(
                            k.span(),
                            &format!("{prefix}kinds"),
                            format!("unknown action kind `{}`", k.get_ref()),
                        );
                    }
                    kind
                })
                .collect()
        });
        let services = f
            .services
            .as_ref()
            .map(|ss| ss.iter().map(|s| s.get_ref().clone()).collect());
        if let Some((start, end)) = window {
            freezes.push(Freeze {
                name: f.name.get_ref().clone(),
                start,
                end,
                kinds,
                services,
            });
        }
    }

    let mut escalation = Escalation {
        contacts: Vec::new(),
        timeout_s: 900,
        irreversible: true,
    };
    if let Some(e) = &raw.escalation {
        escalation.contacts = e.contacts.clone();
        escalation.irreversible = e.irreversible.unwrap_or(true);
        if let Some(t) = &e.timeout_s {
            let v = *t.get_ref();
            if !(1..=7 * 24 * 3600).contains(&v) {
                c.err(
                    t.span(),
                    "escalation.timeout_s",
                    format!("must be within 1..=604800 seconds, got {v}"),
                );
            }
            escalation.timeout_s = v.clamp(1, 7 * 24 * 3600) as u64;
        }
    }

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(Intent {
        name,
        owner: raw.owner,
        description: raw.description,
        file: file.to_string(),
        version: sha256(text.as_bytes()),
        window,
        priorities,
        declared_priorities,
        headroom,
        horizon_h,
        slos,
        max_cost_per_hour,
        budget_soft: raw.budget.as_ref().is_some_and(|b| b.soft),
        blast,
        autonomous_min_confidence,
        autonomy_default,
        autonomy,
        freezes,
        escalation,
    })
}

/// Everything under an intents directory.
#[derive(Clone, Debug)]
pub struct LoadedDir {
    pub intents: Vec<Intent>,
    pub roles: Roles,
    /// Who may answer escalations (`approvers.toml`; none if the file is absent).
    pub approvers: super::approvers::Approvers,
}

/// The file of agent roles inside an intents directory.
pub const ROLES_FILE: &str = "agents.toml";

/// Loads every `*.toml` of `dir`: intents, and the roles in `agents.toml`. Reports every
/// problem of every file.
pub fn load_dir(dir: &Path) -> Result<LoadedDir, Vec<IntentError>> {
    let at = |file: String| Location {
        file,
        line: 1,
        column: 1,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![IntentError {
            at: at(dir.display().to_string()),
            field: String::new(),
            message: format!("cannot read the intents directory: {e}"),
        }]
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut intents = Vec::new();
    let mut roles = None;
    let mut approvers = super::approvers::Approvers::default();
    for path in &paths {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(IntentError {
                    at: at(file),
                    field: String::new(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if path
            .file_name()
            .is_some_and(|n| n == super::approvers::APPROVERS_FILE)
        {
            match super::approvers::parse_approvers(&file, &text) {
                Ok(a) => approvers = a,
                Err(mut e) => errors.append(&mut e),
            }
        } else if path.file_name().is_some_and(|n| n == ROLES_FILE) {
            match parse_roles(&file, &text) {
                Ok(r) => roles = Some(r),
                Err(mut e) => errors.append(&mut e),
            }
        } else {
            match parse_intent(&file, &text) {
                Ok(i) => intents.push(i),
                Err(mut e) => errors.append(&mut e),
            }
        }
    }
    if intents.is_empty() && errors.is_empty() {
        errors.push(IntentError {
            at: at(dir.display().to_string()),
            field: String::new(),
            message: "no intent files (*.toml) found".into(),
        });
    }
    if roles.is_none() {
        errors.push(IntentError {
            at: at(dir.join(ROLES_FILE).display().to_string()),
            field: String::new(),
            message: "missing: every agent needs a role (domains, kinds, services) before its proposals are accepted".into(),
        });
    }
    // Two intents with the same window cannot be told apart by specificity.
    for (i, a) in intents.iter().enumerate() {
        for b in &intents[i + 1..] {
            if a.window == b.window {
                errors.push(IntentError {
                    at: at(b.file.clone()),
                    field: "window".into(),
                    message: format!(
                        "has the same active window as {}; make one more specific",
                        a.file
                    ),
                });
            }
        }
    }
    match (errors.is_empty(), roles) {
        (true, Some(roles)) => Ok(LoadedDir {
            intents,
            roles,
            approvers,
        }),
        _ => Err(errors),
    }
}
