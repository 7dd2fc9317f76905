//! Appending to and checking an audit file.

use super::record::{Event, Record, GENESIS};
use super::AuditError;
use crate::contract::{AuditRef, Timestamp};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// An open audit file, positioned after its last record.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    last_hash: String,
    /// Events written ahead of the next append's, in the same flush.
    staged: Vec<Event>,
}

/// What `verify` found in an intact chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub records: u64,
    pub last_hash: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads and checks every record: sequence numbers follow each other from 1, each `prev` is
/// the previous record's hash, and each hash matches its record. The first break is reported
/// with its line.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    check(path, &read(path)?)
}

/// [`verify`] over records already read from `path`.
fn check(path: &Path, records: &[(usize, Record)]) -> Result<Verified, AuditError> {
    let mut prev = GENESIS.to_string();
    for (i, (line, r)) in records.iter().enumerate() {
        let expect_seq = i as u64 + 1;
        let broken = |problem: String| AuditError::Broken {
            path: path.display().to_string(),
            line: *line,
            seq: r.seq,
            problem,
        };
        if r.seq != expect_seq {
            return Err(broken(format!(
                "expected record {expect_seq} here: a record was removed or the records were reordered"
            )));
        }
        if r.prev != prev {
            return Err(broken(
                "its `prev` is not the hash of the record before it: a record before it was removed, reordered or edited".into(),
            ));
        }
        if r.hash != r.expected_hash() {
            return Err(broken(
                "its content does not match its hash: it was edited".into(),
            ));
        }
        prev = r.hash.clone();
    }
    Ok(Verified {
        records: records.len() as u64,
        last_hash: prev,
    })
}

/// A crash while appending can leave a last line without its newline. Its decision was never
/// published (publishing waits for the append), so it is dropped; nothing else is touched.
fn cut_torn_tail(path: &Path) -> Result<(), AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    file.set_len(keep as u64).map_err(io(path))?;
    file.sync_data().map_err(io(path))
}

/// Every record with its line number, in file order.
pub(crate) fn read(path: &Path) -> Result<Vec<(usize, Record)>, AuditError> {
    read_lines(path, false, None)
}

/// The records of a file that mention `needle`, each line checked as [`read`] does; lines
/// without it are skipped unparsed.
pub(crate) fn read_mentioning(
    path: &Path,
    needle: &str,
) -> Result<Vec<(usize, Record)>, AuditError> {
    read_lines(path, false, Some(needle))
}

/// The records of a file another process or task may be appending to that mention
/// `needle`: a last line not yet ended by its newline is being written, and is left out
/// rather than reported as torn. Lines without `needle` are skipped unparsed, which is what
/// makes finding one proposal's records in a long trail cheap.
pub(crate) fn read_settled_mentioning(
    path: &Path,
    needle: &str,
) -> Result<Vec<(usize, Record)>, AuditError> {
    read_lines(path, true, Some(needle))
}

fn read_lines(
    path: &Path,
    settled_only: bool,
    needle: Option<&str>,
) -> Result<Vec<(usize, Record)>, AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut out = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    for i in 0.. {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 || (settled_only && !line.ends_with('\n')) {
            break;
        }
        if line.trim().is_empty() || needle.is_some_and(|n| !line.contains(n)) {
            continue;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| AuditError::Unreadable {
            path: path.display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push((i + 1, r));
    }
    Ok(out)
}

impl AuditLog {
    /// Opens (or creates) an audit file. An existing file must verify: appending to a broken
    /// chain would launder it.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        Ok(AuditLog::open_reading(path)?.0)
    }

    /// [`AuditLog::open`], also returning the records it read to check the chain, for a
    /// caller that rebuilds state from them: the file is read once.
    pub fn open_reading(path: &Path) -> Result<(AuditLog, Vec<Record>), AuditError> {
        cut_torn_tail(path)?;
        let records = read(path)?;
        let v = check(path, &records)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        let log = AuditLog {
            path: path.to_path_buf(),
            file,
            next_seq: v.records + 1,
            last_hash: v.last_hash,
            staged: Vec::new(),
        };
        Ok((log, records.into_iter().map(|(_, r)| r).collect()))
    }

    /// Appends an event and makes it durable before returning its reference.
    pub fn append(&mut self, at: Timestamp, event: Event) -> Result<AuditRef, AuditError> {
        Ok(self
            .append_all(at, vec![event])?
            .pop()
            .expect("one reference per event"))
    }

    /// Queues an event to be written just before the events of the next append, in the same
    /// flush to disk (what the engine saw, ahead of what it decided).
    pub fn stage(&mut self, event: Event) {
        self.staged.push(event);
    }

    /// Appends events in order and makes them durable together, with one flush to disk: a
    /// window's decisions cost one sync, not one each. Staged events go first; the references
    /// returned are those of `events`.
    pub fn append_all(
        &mut self,
        at: Timestamp,
        events: Vec<Event>,
    ) -> Result<Vec<AuditRef>, AuditError> {
        let staged = self.staged.len();
        let events: Vec<Event> = self.staged.drain(..).chain(events).collect();
        let mut text = String::with_capacity(events.len() * 2048);
        let mut refs = Vec::with_capacity(events.len());
        let (mut seq, mut last) = (self.next_seq, self.last_hash.clone());
        for mut event in events {
            // Stored decisions carry no reference to their own record: it is the record's
            // seq, hash and prev, filled in again when they are read.
            if let Event::Decision { decision, .. } = &mut event {
                decision.audit = None;
            }
            let r = Record {
                seq,
                at,
                prev: last,
                hash: String::new(),
                event,
            };
            // One serialisation per record: the hash covers the line with `hash` empty, and
            // the line is that text with the hash put in (`hash` follows `seq`, `at` and
            // `prev`, none of which can contain the empty field).
            let body = serde_json::to_string(&r).expect("records serialise");
            let hash = crate::hash::sha256_parts(&[r.prev.as_bytes(), b"|", body.as_bytes()]);
            text.push_str(&body.replacen("\"hash\":\"\"", &format!("\"hash\":\"{hash}\""), 1));
            text.push('\n');
            refs.push(AuditRef {
                seq,
                hash: hash.clone(),
                prev: r.prev,
            });
            seq += 1;
            last = hash;
        }
        self.file
            .write_all(text.as_bytes())
            .map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.next_seq = seq;
        self.last_hash = last;
        Ok(refs.split_off(staged))
    }
}
