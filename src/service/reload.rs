//! Intents hot-reload: the intents directory is polled; a changed set of files is validated
//! and applied, an invalid one refused with its errors while the last good intents stay in
//! force. Both are audited.

use super::{NatsError, Shared};
use crate::audit::Event;
use crate::contract::Timestamp;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the intents directory is checked for changes.
pub const INTENT_POLL: Duration = Duration::from_millis(250);

pub struct IntentWatch {
    dir: PathBuf,
    seen: String,
}

/// A fingerprint of every `*.toml` in the directory: names and contents.
fn fingerprint(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend_from_slice(f.display().to_string().as_bytes());
        all.extend_from_slice(&std::fs::read(&f).unwrap_or_default());
    }
    crate::hash::sha256(&all)
}

impl IntentWatch {
    /// Watches `dir`, whose current files are the ones in force.
    pub fn new(dir: &Path) -> IntentWatch {
        IntentWatch {
            dir: dir.to_path_buf(),
            seen: fingerprint(dir),
        }
    }

    /// Applies a change of the directory, if there is one.
    pub async fn poll(&mut self, st: &mut Shared, now: Timestamp) -> Result<(), NatsError> {
        let current = fingerprint(&self.dir);
        if current == self.seen {
            return Ok(());
        }
        self.seen = current;
        let (action, detail) = match crate::intent::load_dir(&self.dir) {
            Ok(loaded) => {
                let versions: Vec<String> = loaded
                    .intents
                    .iter()
                    .map(|i| format!("{} {}", i.name, i.version))
                    .collect();
                tracing::info!(intents = %versions.join(", "), "intents reloaded");
                st.coordinator.intents = crate::intent::IntentSet::new(loaded.intents);
                st.coordinator.roles = loaded.roles;
                st.approvers = loaded.approvers;
                ("intents_reloaded", versions.join(", "))
            }
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                tracing::warn!(
                    "intents refused, the previous ones stay in force:\n{}",
                    text.join("\n")
                );
                ("intents_refused", text.join("; "))
            }
        };
        st.write_durably(
            now,
            vec![Event::Control {
                action: action.into(),
                detail,
            }],
        )
        .await;
        st.refresh_view(true);
        Ok(())
    }
}
