//! Appending to and checking an audit file.

use super::chain::{Opening, Start};
use super::recall::TrailIndex;
use super::record::{Event, Record};
use super::trail::{Layout, Segment};
use super::AuditError;
use crate::contract::{AuditRef, Timestamp};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// An open audit file, positioned after its last record.
pub struct AuditLog {
    layout: Layout,
    path: PathBuf,
    file: File,
    /// The seq of the head's first record (the next record's, while the head is empty).
    head_first: u64,
    /// The head is sealed into a segment once it holds this many bytes (never if `None`).
    segment_bytes: Option<u64>,
    /// Segments sealed since [`AuditLog::take_sealed`] was last asked.
    sealed: Vec<Segment>,
    /// Where records about proposals are noted as they are written, if anyone asks.
    index: Option<std::sync::Arc<TrailIndex>>,
    next_seq: u64,
    last_hash: String,
    /// Events written ahead of the next append's, in the same flush.
    staged: Vec<Event>,
    /// Where the last commit began in the file it was written to.
    last_base: u64,
    /// The file's length after the last durable append: a write that fails (a full disk) is
    /// cut back to it, so the trail never holds half a record or a record not made durable.
    good_len: u64,
    /// With a copy of the replicated trail: what flushes writes in the background.
    flusher: Option<super::flush::Flusher>,
}

/// Records serialised and chained, ready to be written: [`AuditLog::commit`] may be tried
/// again until the disk takes them.
pub struct Prepared {
    text: String,
    /// The seq of the first record in `text`.
    first_seq: u64,
    refs: Vec<AuditRef>,
    /// Where each of `refs`' records starts in `text`.
    starts: Vec<u64>,
    /// (id hash, seq, start in `text`) of every record about a proposal, staged ones included.
    notes: Vec<(u64, u64, u64)>,
    next_seq: u64,
    last_hash: String,
    /// The records themselves, staged ones included, and where each starts in `text`: what
    /// the writer's sealer folds once they are committed ([`AuditLog::committed`]).
    records: Vec<Record>,
    record_starts: Vec<u64>,
}

impl Prepared {
    /// The references of the events given to [`AuditLog::prepare`] (not the staged ones).
    pub fn refs(&self) -> &[AuditRef] {
        &self.refs
    }

    /// The records as written: one JSON line each.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The seq of the first record, and of the record that will follow the last.
    pub fn seqs(&self) -> (u64, u64) {
        (self.first_seq, self.next_seq)
    }
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Hands every record of the trail to `f` in chain order, with its file, line number and
/// where it starts in that file; from `start.next_seq` on if given (whole sealed segments
/// before it are not opened).
pub(crate) fn for_each_in_trail(
    layout: &Layout,
    start: Option<&Start>,
    mut f: impl FnMut(&Path, usize, u64, &str, Record) -> Result<(), AuditError>,
) -> Result<(), AuditError> {
    let from = start.map_or(0, |s| s.next_seq);
    let sealed = layout.sealed()?;
    let mut files: Vec<&Path> = Vec::with_capacity(sealed.len() + 1);
    for (i, segment) in sealed.iter().enumerate() {
        let ends_before = sealed.get(i + 1).is_some_and(|next| next.first_seq <= from);
        if !ends_before {
            files.push(&segment.path);
        }
    }
    files.push(layout.head());
    for file in files {
        for_each_line(file, false, None, |line, at, text, r| {
            if r.seq < from {
                return Ok(());
            }
            f(file, line, at, text, r)
        })?;
    }
    Ok(())
}

fn cut_torn_tail(path: &Path) -> Result<(), AuditError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    let len = file.metadata().map_err(io(path))?.len();
    if len == 0 {
        return Ok(());
    }
    // Only the end of the file is read, backwards, until the last complete line's newline:
    // a trail of any size opens without being read into memory.
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start)).map_err(io(path))?;
        file.read_exact(part).map_err(io(path))?;
        if end == len && part.last() == Some(&b'\n') {
            return Ok(());
        }
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    file.set_len(keep).map_err(io(path))?;
    file.sync_data().map_err(io(path))
}

/// Hands each record of the file to `f` with its line number, in order, one at a time. With
/// `settled_only`, a last line still being written is left out; with `needle`, only lines
/// holding it are parsed. A missing file has no records.
pub(crate) fn for_each_line(
    path: &Path,
    settled_only: bool,
    needle: Option<&str>,
    mut f: impl FnMut(usize, u64, &str, Record) -> Result<(), AuditError>,
) -> Result<(), AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut next_at = 0u64;
    for i in 0.. {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        let at = next_at;
        next_at += n as u64;
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
        f(i + 1, at, &line, r)?;
    }
    Ok(())
}

impl AuditLog {
    /// Opens (or creates) an audit trail. An existing trail must verify: appending to a
    /// broken chain would launder it.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_visiting(path, |_, _| {})
    }

    /// Opens the trail for appending: cuts a torn last line (a write the crash interrupted),
    /// checks the chain across every segment, and hands every record to `visit` in order as
    /// it is checked, with where it starts in its file, so a restart rebuilds its state in
    /// one pass without holding the trail in memory. On a broken chain it stops with the
    /// error, after visiting the records before the break.
    pub fn open_visiting(
        path: &Path,
        visit: impl FnMut(Record, u64),
    ) -> Result<AuditLog, AuditError> {
        AuditLog::open_from(path, None, None, visit)
    }

    /// [`AuditLog::open_visiting`] from `start` on: the records before it are accounted for
    /// by a checkpoint and neither read nor visited.
    /// With `index`, the head's records are noted in it, and so is every record written.
    pub fn open_from(
        path: &Path,
        start: Option<&Start>,
        index: Option<std::sync::Arc<TrailIndex>>,
        mut visit: impl FnMut(Record, u64),
    ) -> Result<AuditLog, AuditError> {
        let layout = Layout::of(path);
        cut_torn_tail(path)?;
        // From a checkpoint, the chain goes on from it; otherwise from the trail's start.
        let mut chain = match start {
            Some(s) => Opening::after(s),
            None => Opening::of(&layout)?,
        };
        let mut head_first = None;
        for_each_in_trail(&layout, start, |file, line, at, text, r| {
            chain.link(file, line, text, &r)?;
            if file == path {
                let first = *head_first.get_or_insert(r.seq);
                if let (Some(ix), Some((_, id))) = (&index, r.subject()) {
                    ix.note(first, [(super::index::id_hash(id), r.seq, at)]);
                }
            }
            visit(r, at);
            Ok(())
        })?;
        let v = chain.verified()?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        let good_len = file.metadata().map_err(io(path))?.len();
        Ok(AuditLog {
            layout,
            path: path.to_path_buf(),
            file,
            head_first: head_first.unwrap_or(v.records + 1),
            segment_bytes: None,
            sealed: Vec::new(),
            index,
            next_seq: v.records + 1,
            last_hash: v.last_hash,
            staged: Vec::new(),
            good_len,
            last_base: good_len,
            flusher: None,
        })
    }

    /// Makes this file a copy of the replicated trail: a commit writes its records without
    /// waiting for the disk to flush them, which happens in the background (`flush.rs`).
    pub fn flushed_in_background(mut self) -> Result<AuditLog, AuditError> {
        self.flusher = Some(super::flush::Flusher::start(&self.file).map_err(io(&self.path))?);
        Ok(self)
    }

    /// Seals the head into a segment whenever it holds `bytes` or more.
    pub fn with_segments(mut self, bytes: u64) -> AuditLog {
        self.segment_bytes = Some(bytes.max(1));
        self
    }

    /// The segments sealed since last asked, oldest first.
    pub fn take_sealed(&mut self) -> Vec<Segment> {
        std::mem::take(&mut self.sealed)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The seq of the first record of the segment being written (the head).
    pub fn head_first(&self) -> u64 {
        self.head_first
    }

    /// Where the chain stands: the next record's seq and the hash it will follow.
    pub fn position(&self) -> Start {
        Start {
            next_seq: self.next_seq,
            prev: self.last_hash.clone(),
        }
    }

    /// Seals the head if it has reached the segment size. A seal that fails (the directory
    /// cannot be written) is tried again after the next append; the head simply grows.
    fn seal_if_full(&mut self) {
        let Some(limit) = self.segment_bytes else {
            return;
        };
        if self.good_len < limit || self.next_seq == self.head_first {
            return;
        }
        // A segment is indexed and checkpointed once sealed: what it holds is flushed first.
        let flushed = match self.flusher {
            Some(_) => self.file.sync_data(),
            None => Ok(()),
        };
        let sealed = flushed
            .map_err(io(&self.path))
            .and_then(|()| self.layout.seal(self.head_first))
            .and_then(|to| {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(io(&self.path))?;
                Ok((to, file))
            });
        match sealed {
            Ok((to, file)) => {
                self.sealed.push(Segment {
                    first_seq: self.head_first,
                    path: to,
                });
                if let Some(f) = &self.flusher {
                    if let Err(e) = f.follow(&file) {
                        tracing::warn!("the new audit head is flushed at its seal only: {e}");
                    }
                }
                self.file = file;
                self.good_len = 0;
                self.head_first = self.next_seq;
            }
            Err(e) => tracing::warn!("audit segment not sealed, tried again later: {e}"),
        }
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
    /// returned are those of `events`. On failure nothing is appended, and the events are
    /// lost: a caller that must not lose them uses [`AuditLog::prepare`] and retries
    /// [`AuditLog::commit`].
    pub fn append_all(
        &mut self,
        at: Timestamp,
        events: Vec<Event>,
    ) -> Result<Vec<AuditRef>, AuditError> {
        let prepared = self.prepare(at, events);
        self.commit(&prepared)?;
        Ok(prepared.refs)
    }

    /// Serialises and chains the staged events and `events` after the last durable record,
    /// without writing them.
    pub fn prepare(&mut self, at: Timestamp, events: Vec<Event>) -> Prepared {
        let staged = self.staged.len();
        let events: Vec<Event> = self.staged.drain(..).chain(events).collect();
        let mut text = String::with_capacity(events.len() * 2048);
        let mut refs = Vec::with_capacity(events.len());
        let mut starts = Vec::with_capacity(events.len());
        let mut records = Vec::with_capacity(events.len());
        let mut notes = Vec::new();
        let (mut seq, mut last) = (self.next_seq, self.last_hash.clone());
        for mut event in events {
            starts.push(text.len() as u64);
            // Stored decisions carry no reference to their own record: it is the record's
            // seq, hash and prev, filled in again when they are read.
            if let Event::Decision { decision, .. } = &mut event {
                decision.audit = None;
            }
            let mut r = Record {
                seq,
                at,
                prev: last,
                hash: String::new(),
                event,
            };
            if let (Some(_), Some((_, id))) = (&self.index, r.subject()) {
                notes.push((super::index::id_hash(id), seq, text.len() as u64));
            }
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
                prev: r.prev.clone(),
            });
            r.hash = hash.clone();
            records.push(r);
            seq += 1;
            last = hash;
        }
        Prepared {
            text,
            first_seq: self.next_seq,
            refs: refs.split_off(staged),
            starts: starts[staged..].to_vec(),
            record_starts: starts,
            records,
            notes,
            next_seq: seq,
            last_hash: last,
        }
    }

    /// Records another writer chained (a leader's, read from the replicated trail), checked
    /// to follow this trail's last record, ready to be committed as they are — the same bytes,
    /// so both copies of the trail are the same chain. Nothing is written. The records are
    /// returned as read, for the reader's fold.
    pub fn adopt(&self, text: &str) -> Result<(Prepared, Vec<Record>), AuditError> {
        let mut chain = super::chain::Chain::from(Some(&self.position()));
        let (mut refs, mut starts, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        let mut records = Vec::new();
        let mut at = 0u64;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let r: Record = serde_json::from_str(line).map_err(|e| AuditError::Unreadable {
                path: format!("{} (replicated)", self.path.display()),
                line: i + 1,
                message: e.to_string(),
            })?;
            if !line.ends_with('\n') {
                return Err(AuditError::Unreadable {
                    path: format!("{} (replicated)", self.path.display()),
                    line: i + 1,
                    message: "an unfinished record".into(),
                });
            }
            chain.link(&self.path, i + 1, line, &r)?;
            if let (Some(_), Some((_, id))) = (&self.index, r.subject()) {
                notes.push((super::index::id_hash(id), r.seq, at));
            }
            refs.push(r.reference());
            starts.push(at);
            at += line.len() as u64;
            records.push(r);
        }
        let v = chain.verified();
        let prepared = Prepared {
            text: text.to_string(),
            first_seq: self.next_seq,
            refs,
            starts,
            notes,
            next_seq: v.records + 1,
            last_hash: v.last_hash,
            records: Vec::new(),
            record_starts: Vec::new(),
        };
        Ok((prepared, records))
    }

    /// Writes prepared records and makes them durable (flushed, or with a copy of the
    /// replicated trail, handed to the background flush); returns where each record of the
    /// events given to `prepare` starts in the file. On failure the file is cut back to its
    /// last durable record, so the same `prepared` can be committed again later.
    pub fn commit(&mut self, prepared: &Prepared) -> Result<Vec<u64>, AuditError> {
        let written = match self.flusher.as_ref().and_then(|f| f.failure()) {
            Some(e) => Err(e),
            None => self
                .file
                .write_all(prepared.text.as_bytes())
                .and_then(|()| match &self.flusher {
                    Some(f) => {
                        f.written();
                        Ok(())
                    }
                    None => self.file.sync_data(),
                }),
        };
        if let Err(e) = written {
            // A failed cut leaves a torn tail that the next start cuts in any case.
            let _ = self.file.set_len(self.good_len);
            return Err(io(&self.path)(e));
        }
        let base = self.good_len;
        self.last_base = base;
        self.good_len += prepared.text.len() as u64;
        self.next_seq = prepared.next_seq;
        self.last_hash = prepared.last_hash.clone();
        let positions = prepared.starts.iter().map(|s| base + s).collect();
        if let Some(ix) = &self.index {
            let notes = prepared.notes.iter();
            ix.note(
                self.head_first,
                notes.map(|&(h, seq, at)| (h, seq, base + at)),
            );
        }
        self.seal_if_full();
        Ok(positions)
    }

    /// The records of `prepared`, committed just now (by the last commit), each with where
    /// it starts in the file it was written to: the writer's own records, for its sealer to
    /// fold and index without reading them back.
    pub fn committed(&self, prepared: Prepared) -> Vec<(Record, u64)> {
        let base = self.last_base;
        let starts = prepared.record_starts.into_iter().map(|s| base + s);
        prepared.records.into_iter().zip(starts).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::cut_torn_tail;

    fn cut(name: &str, content: &[u8]) -> Vec<u8> {
        let path =
            std::env::temp_dir().join(format!("arbiter-torn-{name}-{}.jsonl", std::process::id()));
        std::fs::write(&path, content).unwrap();
        cut_torn_tail(&path).unwrap();
        let left = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        left
    }

    #[test]
    fn only_an_unfinished_last_line_is_cut_however_long() {
        let lines = b"{\"seq\":1}\n{\"seq\":2}\n".to_vec();
        assert_eq!(
            cut("whole", &lines),
            lines,
            "a finished trail is left alone"
        );
        assert_eq!(cut("empty", b""), b"");
        // A torn line longer than the chunks the tail is read in.
        let mut torn = lines.clone();
        torn.extend(std::iter::repeat_n(b'x', 200_000));
        assert_eq!(cut("long", &torn), lines);
        let mut short = lines.clone();
        short.extend(b"{\"seq\":3,\"prev");
        assert_eq!(cut("short", &short), lines);
        // A first line never finished leaves nothing.
        assert_eq!(cut("first", &[b'y'; 70_000]), b"");
        // A newline exactly at a chunk boundary.
        let mut edge = vec![b'z'; 64 * 1024 - 1];
        edge.push(b'\n');
        let kept = edge.clone();
        edge.extend(std::iter::repeat_n(b'w', 64 * 1024));
        assert_eq!(cut("edge", &edge), kept);
    }
}
