//! Where a trail's records live: the file named on the command line holds the newest records
//! (the head, the only file ever appended to); when it reaches the segment size it is sealed
//! into `<file>.segments/<first seq>.jsonl` and a new head begins. The hash chain runs on
//! across files: each segment's first record names the last hash of the segment before it.
//!
//! Sealed segments never change again, which is what lets them be indexed once, vouched for
//! by a checkpoint of the state they leave behind, and archived or removed whole.

use super::AuditError;
use std::path::{Path, PathBuf};

/// The files of one trail.
#[derive(Clone, Debug)]
pub struct Layout {
    head: PathBuf,
    dir: PathBuf,
}

/// A sealed segment: records from `first_seq` on, up to the next segment's first.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub first_seq: u64,
    pub path: PathBuf,
}

/// Sealed file names are the first seq, zero-padded so that they sort as numbers do.
const DIGITS: usize = 20;

impl Layout {
    pub fn of(head: &Path) -> Layout {
        let mut dir = head.as_os_str().to_owned();
        dir.push(".segments");
        Layout {
            head: head.to_path_buf(),
            dir: PathBuf::from(dir),
        }
    }

    pub fn head(&self) -> &Path {
        &self.head
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn named(&self, first_seq: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{first_seq:0DIGITS$}.{ext}"))
    }

    pub fn segment(&self, first_seq: u64) -> PathBuf {
        self.named(first_seq, "jsonl")
    }

    pub fn index(&self, first_seq: u64) -> PathBuf {
        self.named(first_seq, "idx")
    }

    /// The checkpoint of the state left by every record before `next_seq`.
    pub fn checkpoint(&self, next_seq: u64) -> PathBuf {
        self.named(next_seq, "state.json")
    }

    /// Files in the segments directory with extension `ext`, by the seq their names carry,
    /// in order. Files that do not follow the naming are left alone.
    pub fn numbered(&self, ext: &str) -> Result<Vec<(u64, PathBuf)>, AuditError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let name = entry.file_name();
            if let Some(seq) = name.to_str().and_then(|n| numbered_name(n, ext)) {
                out.push((seq, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The sealed segments, oldest first.
    pub fn sealed(&self) -> Result<Vec<Segment>, AuditError> {
        Ok(self
            .numbered("jsonl")?
            .into_iter()
            .map(|(first_seq, path)| Segment { first_seq, path })
            .collect())
    }

    /// Every file of the trail in chain order: the sealed segments, then the head.
    pub fn files(&self) -> Result<Vec<PathBuf>, AuditError> {
        let mut files: Vec<PathBuf> = self.sealed()?.into_iter().map(|s| s.path).collect();
        files.push(self.head.clone());
        Ok(files)
    }

    /// Makes the head a sealed segment starting at `first_seq`: the rename is made durable
    /// before a new head is begun, so a crash leaves either the old head or the segment.
    pub fn seal(&self, first_seq: u64) -> Result<PathBuf, AuditError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let to = self.segment(first_seq);
        std::fs::rename(&self.head, &to).map_err(|e| io_error(&self.head, e))?;
        sync_dir(&self.dir)?;
        if let Some(parent) = self.head.parent() {
            sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            })?;
        }
        Ok(to)
    }
}

/// The seq a file name of the segments directory carries, if it is `<20 digits>.<ext>`.
pub fn numbered_name(name: &str, ext: &str) -> Option<u64> {
    let number = name.strip_suffix(ext)?.strip_suffix('.')?;
    if number.len() == DIGITS && number.bytes().all(|b| b.is_ascii_digit()) {
        number.parse().ok()
    } else {
        None
    }
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Makes the names in a directory durable (a rename or a new file in it).
pub fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// Writes a file whole or not at all: to a temporary name, made durable, then renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// [`write_atomically`] of what `write` writes, streamed through a buffer: a large file
/// (a checkpoint) is never held in memory whole.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), AuditError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_listed_in_seq_order_and_strangers_ignored() {
        let dir = std::env::temp_dir().join(format!("arbiter-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let layout = Layout::of(&dir.join("trail.jsonl"));
        std::fs::create_dir_all(layout.dir()).unwrap();
        for seq in [101, 9, 1_000_000] {
            std::fs::write(layout.segment(seq), "").unwrap();
        }
        std::fs::write(layout.dir().join("notes.jsonl"), "").unwrap();
        std::fs::write(layout.index(9), "").unwrap();
        let firsts: Vec<u64> = layout
            .sealed()
            .unwrap()
            .iter()
            .map(|s| s.first_seq)
            .collect();
        assert_eq!(firsts, vec![9, 101, 1_000_000]);
        assert_eq!(layout.files().unwrap().last().unwrap(), layout.head());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
