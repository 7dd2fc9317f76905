//! A replica's sealed trail beside the replicated stream: copied into the object store
//! (`bus/nats/archive.rs`) as it is sealed, and fetched from there by a replica that starts
//! on an empty disk.
//!
//! The stream keeps only its newest `--stream-max-bytes`. Without these copies a replica
//! whose disk was lost could join only while the stream still held record 1; with them it
//! starts from the newest checkpoint any replica copied — the segments before it, their
//! indexes and the checkpoint, exactly as that replica holds them, so the positions the
//! checkpoint names read back the same records — and reads the stream from there.
//!
//! Each replica copies its own files under its own name: replicas seal their segments at
//! different records, and a checkpoint points into the segments of the replica that wrote
//! it, so copies of two replicas never mix. A copy mirrors its replica's segments directory:
//! what retention removes there is removed here too. Every replica keeps its copy: when one
//! dies, another's is already current, which a copy begun only then (of a whole trail)
//! would not be for minutes.

use super::archive::{Archive, Stored};
use crate::audit::{io_error as io, numbered_name, Layout};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a replica looks for newly sealed files to copy.
const COPY_EVERY: Duration = Duration::from_secs(2);

/// How fast a replica copies: a 64 MiB segment in 4 s rather than in one burst, and still
/// well above what the trail grows by at thousands of decisions a second (about 6 MB/s at
/// 3 000/s).
const COPY_RATE: u64 = 16 << 20;

/// The kinds of file a replica's copy holds.
const KINDS: [&str; 3] = ["jsonl", "idx", "state.json"];

/// The newest checkpoint a replica copied, and the files a replica starting from it needs.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Copy {
    pub owner: String,
    /// The first record the checkpoint does not cover.
    pub next_seq: u64,
    /// Segments and indexes before `next_seq`, then the checkpoint: name and size.
    pub files: Vec<(String, u64)>,
}

/// Of every replica's copies, the one whose checkpoint reaches furthest (on a tie, the
/// first owner by name): none if no replica copied a checkpoint with a segment before it.
pub(super) fn newest(listed: &[Stored]) -> Option<Copy> {
    let mut owners: Vec<&str> = listed.iter().map(|s| s.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut best: Option<Copy> = None;
    for owner in owners {
        let of = |ext: &str| -> Vec<(u64, &Stored)> {
            let mut v: Vec<(u64, &Stored)> = listed
                .iter()
                .filter(|s| s.owner == owner)
                .filter_map(|s| numbered_name(&s.file, ext).map(|seq| (seq, s)))
                .collect();
            v.sort_by_key(|(seq, _)| *seq);
            v
        };
        let segments = of("jsonl");
        let Some((next_seq, checkpoint)) = of("state.json")
            .into_iter()
            .rev()
            .find(|(next, _)| segments.iter().any(|(first, _)| first < next))
        else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.next_seq >= next_seq) {
            continue;
        }
        let before = |v: Vec<(u64, &Stored)>| {
            v.into_iter()
                .filter(|(seq, _)| *seq < next_seq)
                .map(|(_, s)| (s.file.clone(), s.size))
                .collect::<Vec<_>>()
        };
        let mut files = before(segments);
        files.extend(before(of("idx")));
        files.push((checkpoint.file.clone(), checkpoint.size));
        best = Some(Copy {
            owner: owner.to_string(),
            next_seq,
            files,
        });
    }
    best
}

/// Whether this replica's trail holds nothing at all: no head with records, no sealed file.
pub(super) fn is_empty(layout: &Layout) -> bool {
    let head_empty = std::fs::metadata(layout.head()).map_or(true, |m| m.len() == 0);
    head_empty
        && KINDS
            .iter()
            .all(|ext| layout.numbered(ext).map_or(true, |v| v.is_empty()))
}

#[derive(Debug, thiserror::Error)]
pub(super) enum FetchError {
    #[error(transparent)]
    Nats(#[from] super::NatsError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("the copy of replica {owner} does not hold a whole trail up to its checkpoint: {why}")]
    Incomplete { owner: String, why: String },
}

/// Fills an empty trail from the newest copy in the archive: the files are fetched into a
/// directory beside the trail, their chain checked from their first record to the
/// checkpoint, then moved into place (the checkpoint last). Returns what was fetched, or
/// `None` when there is nothing to start from (the stream is then read from record 1).
pub(super) async fn fetch(archive: &Archive, head: &Path) -> Result<Option<Copy>, FetchError> {
    let layout = Layout::of(head);
    let Some(copy) = newest(&archive.list().await?) else {
        return Ok(None);
    };
    let began = std::time::Instant::now();
    let mut staging_root = head.as_os_str().to_owned();
    staging_root.push(".fetching");
    let staging_root = PathBuf::from(staging_root);
    let _ = std::fs::remove_dir_all(&staging_root);
    let name = head.file_name().unwrap_or_else(|| "audit.jsonl".as_ref());
    let staging = Layout::of(&staging_root.join(name));
    std::fs::create_dir_all(staging.dir()).map_err(|e| io(staging.dir(), e))?;
    std::fs::write(staging.head(), b"").map_err(|e| io(staging.head(), e))?;
    let mut bytes = 0;
    for (file, size) in &copy.files {
        let got = archive
            .get(&copy.owner, file, &staging.dir().join(file))
            .await?;
        if got != *size {
            return Err(FetchError::Incomplete {
                owner: copy.owner.clone(),
                why: format!("{file} is {got} bytes, listed as {size}"),
            });
        }
        bytes += got;
    }
    // The chain of what was fetched, from its first record: the checkpoint must follow its
    // last record, or the files are not a trail to start from.
    let v = crate::audit::verify_from_first(staging.head())?;
    let (checkpoint, _) = super::checkpoint::Checkpoint::latest(&staging);
    let continues = checkpoint
        .as_ref()
        .is_some_and(|c| c.next_seq == v.records + 1 && c.prev == v.last_hash);
    if !continues {
        return Err(FetchError::Incomplete {
            owner: copy.owner.clone(),
            why: format!(
                "its segments end at record {} ({}) and its checkpoint continues at {:?}",
                v.records,
                v.last_hash,
                checkpoint.map(|c| (c.next_seq, c.prev))
            ),
        });
    }
    std::fs::create_dir_all(layout.dir()).map_err(|e| io(layout.dir(), e))?;
    for ext in KINDS {
        for (_, from) in staging.numbered(ext)? {
            let to = layout
                .dir()
                .join(from.file_name().expect("a listed file has a name"));
            std::fs::rename(&from, &to).map_err(|e| io(&to, e))?;
        }
        crate::audit::sync_dir(layout.dir())?;
    }
    let _ = std::fs::remove_dir_all(&staging_root);
    tracing::info!(
        from = copy.owner,
        first = v.first_seq,
        next = copy.next_seq,
        files = copy.files.len(),
        bytes,
        took_ms = began.elapsed().as_millis() as u64,
        "fetched the trail from the archive"
    );
    Ok(Some(copy))
}

/// For a replica whose trail ends before the stream's first record (it was away longer than
/// the stream holds): if a copy in the archive reaches the stream, sets this replica's trail
/// aside — renamed to `<file>.behind-<unix time>` with its segments, whole, for inspection —
/// and returns true: started again, the replica finds an empty trail and fetches that copy.
pub(super) async fn set_aside_if_a_copy_reaches(
    archive: &Archive,
    head: &Path,
    stream_starts: u64,
) -> Result<bool, FetchError> {
    // An empty trail is what a fetch fills: one left empty (the fetch failed) is not set
    // aside again and again.
    let layout = Layout::of(head);
    if is_empty(&layout) {
        return Ok(false);
    }
    let reaches = newest(&archive.list().await?).is_some_and(|c| c.next_seq >= stream_starts);
    if !reaches {
        return Ok(false);
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = head.as_os_str().to_owned();
    aside.push(format!(".behind-{secs}"));
    let aside = Layout::of(Path::new(&aside));
    if layout.dir().exists() {
        std::fs::rename(layout.dir(), aside.dir()).map_err(|e| io(layout.dir(), e))?;
    }
    std::fs::rename(head, aside.head()).map_err(|e| io(head, e))?;
    if let Some(dir) = head.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::audit::sync_dir(dir)?;
    }
    tracing::warn!(
        aside = %aside.head().display(),
        "this replica's trail ends before the replicated trail's first record: set aside"
    );
    Ok(true)
}

/// Copies this replica's sealed files into the archive as they appear, and removes from it
/// what this replica removed, until the process ends. A failure is logged and counted and
/// the copy tried again: deciding never waits for it.
pub(super) fn keep_copied(archive: Archive, layout: Layout, owner: String) {
    tokio::spawn(async move {
        let mut copied: Option<HashMap<String, u64>> = None;
        loop {
            if let Err(e) = copy_once(&archive, &layout, &owner, &mut copied).await {
                metrics::counter!("arbiter_archive_failures_total").increment(1);
                tracing::warn!("copying the trail to the archive (tried again): {e}");
                copied = None;
            }
            tokio::time::sleep(COPY_EVERY).await;
        }
    });
}

/// One pass: what the archive lacks of this replica's files is copied, what this replica no
/// longer holds is removed. `copied` is what the archive holds of this replica, as last seen.
async fn copy_once(
    archive: &Archive,
    layout: &Layout,
    owner: &str,
    copied: &mut Option<HashMap<String, u64>>,
) -> Result<(), FetchError> {
    if copied.is_none() {
        let mine = archive.list().await?;
        *copied = Some(
            mine.into_iter()
                .filter(|s| s.owner == owner)
                .map(|s| (s.file, s.size))
                .collect(),
        );
    }
    let held = copied.as_mut().expect("listed above");
    // In seq order, a checkpoint after the segments and indexes before it: each checkpoint
    // is a start for a joining replica as soon as it is copied, even while more was sealed.
    let mut local = Vec::new();
    for (rank, ext) in KINDS.iter().enumerate() {
        for (seq, path) in layout.numbered(ext)? {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue; // removed since it was listed
            };
            let name = path.file_name().expect("a listed file has a name");
            let name = name.to_string_lossy().to_string();
            let before = if *ext == "state.json" { 0 } else { rank + 1 };
            local.push(((seq, before), name, path, meta.len()));
        }
    }
    local.sort_by_key(|(order, ..)| *order);
    let local: Vec<(String, PathBuf, u64)> =
        local.into_iter().map(|(_, n, p, s)| (n, p, s)).collect();
    // What this replica removed goes first: a copy never holds more than it did.
    let gone: Vec<String> = held
        .keys()
        .filter(|name| !local.iter().any(|(n, _, _)| n == *name))
        .cloned()
        .collect();
    for name in gone {
        archive.delete(owner, &name).await?;
        held.remove(&name);
    }
    let behind = local
        .iter()
        .filter(|(name, _, size)| held.get(name) != Some(size))
        .count();
    metrics::gauge!("arbiter_archive_behind_files").set(behind as f64);
    for (name, path, size) in &local {
        if held.get(name) == Some(size) {
            continue;
        }
        match archive.put(owner, name, path, COPY_RATE).await {
            Ok(n) => {
                metrics::counter!("arbiter_archive_bytes_total").increment(n);
                held.insert(name.clone(), n);
            }
            // Removed between the listing and the copy (the next pass removes what it sent).
            Err(_) if !path.exists() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    metrics::gauge!("arbiter_archive_behind_files").set(0.0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(owner: &str, file: &str) -> Stored {
        Stored {
            owner: owner.into(),
            file: file.into(),
            size: 10,
        }
    }

    fn n(seq: u64, ext: &str) -> String {
        format!("{seq:020}.{ext}")
    }

    #[test]
    fn the_copy_reaching_furthest_is_chosen_with_only_what_its_checkpoint_needs() {
        let listed = vec![
            stored("a", &n(1, "jsonl")),
            stored("a", &n(1, "idx")),
            stored("a", &n(500, "state.json")),
            stored("b", &n(1, "jsonl")),
            stored("b", &n(1, "idx")),
            stored("b", &n(480, "jsonl")),
            stored("b", &n(480, "idx")),
            stored("b", &n(480, "state.json")),
            stored("b", &n(900, "state.json")),
            // Sealed after the newest checkpoint: the stream holds what follows it.
            stored("b", &n(900, "jsonl")),
            stored("b", &n(900, ".tmp")),
        ];
        let copy = newest(&listed).unwrap();
        assert_eq!(copy.owner, "b");
        assert_eq!(copy.next_seq, 900);
        let names: Vec<&str> = copy.files.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            [
                n(1, "jsonl"),
                n(480, "jsonl"),
                n(1, "idx"),
                n(480, "idx"),
                n(900, "state.json")
            ]
        );
    }

    #[test]
    fn a_checkpoint_with_no_segment_before_it_is_no_copy() {
        // A replica that copied its checkpoint but none of its segments yet (or whose
        // segments retention removed while their successor was still being copied).
        assert_eq!(newest(&[stored("a", &n(300, "state.json"))]), None);
        assert_eq!(newest(&[]), None);
        let only_a = newest(&[
            stored("b", &n(700, "state.json")),
            stored("a", &n(1, "jsonl")),
            stored("a", &n(300, "state.json")),
        ])
        .unwrap();
        assert_eq!((only_a.owner.as_str(), only_a.next_seq), ("a", 300));
    }
}
