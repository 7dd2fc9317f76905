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

/// What a change of the intents directory loaded to: the new set, or every problem in it.
type Loaded = Result<crate::intent::LoadedDir, Vec<crate::intent::IntentError>>;

/// The intents directory, watched by a task of its own: reading and hashing its files and
/// loading a changed set happen off the decision loop, which only applies what was loaded.
pub struct IntentWatch {
    changes: tokio::sync::mpsc::Receiver<Loaded>,
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
    /// Watches `dir`, whose current files are the ones in force, until the watch is dropped.
    pub fn new(dir: &Path) -> IntentWatch {
        let (tx, changes) = tokio::sync::mpsc::channel(4);
        let dir = dir.to_path_buf();
        let mut seen = fingerprint(&dir);
        tokio::spawn(async move {
            while !tx.is_closed() {
                tokio::time::sleep(INTENT_POLL).await;
                let at = dir.clone();
                let Ok(current) = tokio::task::spawn_blocking(move || fingerprint(&at)).await
                else {
                    return;
                };
                if current == seen {
                    continue;
                }
                seen = current;
                let at = dir.clone();
                let Ok(loaded) =
                    tokio::task::spawn_blocking(move || crate::intent::load_dir(&at)).await
                else {
                    return;
                };
                if tx.send(loaded).await.is_err() {
                    return;
                }
            }
        });
        IntentWatch { changes }
    }

    /// Applies what the directory changed to since last time, if it changed.
    pub async fn poll(&mut self, st: &mut Shared, now: Timestamp) -> Result<(), NatsError> {
        while let Ok(loaded) = self.changes.try_recv() {
            apply(loaded, st, now).await;
        }
        Ok(())
    }
}

/// Puts a loaded set in force (or refuses an invalid one), audited either way.
async fn apply(loaded: Loaded, st: &mut Shared, now: Timestamp) {
    let (action, detail) = match loaded {
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
}
