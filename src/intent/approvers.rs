//! Who may answer escalations (`intents/approvers.toml`): each approver's bearer token, kept
//! only as its SHA-256, and the domains they answer for. Read with the intents, beside
//! `agents.toml`, so one reload changes all three together.

use super::load::{read_toml, IntentError};
use crate::contract::Domain;
use crate::hash::sha256;
use crate::source::find_line;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, PartialEq)]
pub struct Approver {
    pub name: String,
    pub domains: Vec<Domain>,
}

#[derive(Clone, Debug, Default)]
pub struct Approvers {
    by_token_hash: HashMap<String, Approver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    approvers: BTreeMap<String, RawApprover>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprover {
    token_sha256: String,
    domains: Vec<String>,
}

/// The file of approvers inside an intents directory.
pub const APPROVERS_FILE: &str = "approvers.toml";

pub fn parse_approvers(file: &str, text: &str) -> Result<Approvers, Vec<IntentError>> {
    let raw: RawFile = read_toml(file, text)?;
    let mut errors = Vec::new();
    let mut by_token_hash = HashMap::new();
    for (name, a) in raw.approvers {
        let mut err = |field: &str, message: String| {
            errors.push(IntentError {
                at: find_line(file, text, &name),
                field: format!("approvers.{name}.{field}"),
                message,
            })
        };
        if !a.token_sha256.starts_with("sha256:") || a.token_sha256.len() != 71 {
            err(
                "token_sha256",
                "must be `sha256:` and 64 hex digits of the token's SHA-256".into(),
            );
        }
        let mut domains = Vec::new();
        for d in &a.domains {
            match Domain::parse(d) {
                Some(d) => domains.push(d),
                None => err("domains", format!("unknown domain `{d}`")),
            }
        }
        by_token_hash.insert(a.token_sha256, Approver { name, domains });
    }
    if errors.is_empty() {
        Ok(Approvers { by_token_hash })
    } else {
        Err(errors)
    }
}

impl Approvers {
    pub fn len(&self) -> usize {
        self.by_token_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token_hash.is_empty()
    }

    pub fn authenticate(&self, token: &str) -> Option<&Approver> {
        self.by_token_hash.get(&sha256(token.as_bytes()))
    }
}
