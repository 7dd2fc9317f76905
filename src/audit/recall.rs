//! Finding records about one proposal without reading the trail: the indexes of sealed
//! segments, and for the files not indexed yet (the head, a segment being indexed) the
//! positions noted as records are written. What lets the idempotency ledger keep a position
//! instead of a whole decision, then nothing at all, and the dashboard tell a proposal's
//! story in milliseconds on a trail of any length.

use super::index::{id_hash, SegmentIndex};
use super::record::Record;
use super::trail::Layout;
use super::AuditError;
use crate::contract::{Decision, Timestamp};
use crate::engine::Recorded;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// A trail's indexes, shared by the writer (which notes what it writes), the ledger and the
/// API.
pub struct TrailIndex {
    layout: Layout,
    inner: RwLock<Inner>,
}

/// (id hash, seq, offset in its file) of a record about a proposal.
type Note = (u64, u64, u64);

#[derive(Default)]
struct Inner {
    /// Oldest first.
    sealed: Vec<SegmentIndex>,
    /// Per file not indexed yet, by the seq of its first record: (id hash, seq, offset) of
    /// each record about a proposal.
    recent: Vec<(u64, Vec<Note>)>,
    /// Whether a writer notes its records here: otherwise files not indexed are searched.
    live: bool,
}

/// How many segments are indexed, and what their filters hold in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IndexSize {
    pub segments: usize,
    pub entries: u64,
    pub filter_bytes: usize,
}

impl TrailIndex {
    /// The indexes of the trail whose head is `head`, as found on disk (segments without an
    /// index are searched when asked).
    pub fn open(head: &Path) -> Result<TrailIndex, AuditError> {
        let layout = Layout::of(head);
        let mut sealed = Vec::new();
        let segments = layout.sealed()?;
        for s in &segments {
            let path = layout.index(s.first_seq);
            if path.exists() {
                sealed.push(SegmentIndex::load(&path, &s.path)?);
            }
        }
        Ok(TrailIndex {
            layout,
            inner: RwLock::new(Inner {
                sealed,
                ..Inner::default()
            }),
        })
    }

    /// An index with nothing in it yet, for a trail being restored.
    pub fn empty(head: &Path) -> TrailIndex {
        TrailIndex {
            layout: Layout::of(head),
            inner: RwLock::new(Inner::default()),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records about proposals written to the file whose first record is `file_first`:
    /// (id hash, seq, offset) each. From the first note on, files not indexed are found
    /// through the notes, not searched.
    pub(crate) fn note(&self, file_first: u64, records: impl IntoIterator<Item = Note>) {
        let mut inner = self.write();
        inner.live = true;
        if inner.recent.last().is_none_or(|(f, _)| *f != file_first) {
            inner.recent.push((file_first, Vec::new()));
        }
        let (_, notes) = inner.recent.last_mut().expect("just pushed");
        notes.extend(records);
    }

    /// A sealed segment's index is ready: its records are found through it from now on.
    pub fn install(&self, ix: SegmentIndex) {
        let mut inner = self.write();
        inner.recent.retain(|(f, _)| *f != ix.first_seq);
        inner.sealed.retain(|s| s.first_seq != ix.first_seq);
        let at = inner.sealed.partition_point(|s| s.first_seq < ix.first_seq);
        inner.sealed.insert(at, ix);
    }

    /// Whether the segment starting at `first_seq` is indexed.
    pub fn has(&self, first_seq: u64) -> bool {
        self.read().sealed.iter().any(|s| s.first_seq == first_seq)
    }

    pub fn size(&self) -> IndexSize {
        let inner = self.read();
        IndexSize {
            segments: inner.sealed.len(),
            entries: inner.sealed.iter().map(|s| s.entries).sum(),
            filter_bytes: inner.sealed.iter().map(|s| s.bloom.bytes()).sum(),
        }
    }

    /// The indexes, oldest first (what retention looks at).
    pub fn sealed(&self) -> Vec<SegmentIndex> {
        self.read().sealed.clone()
    }

    /// The segment starting at `first_seq` was moved to `to` (archived).
    pub fn moved(&self, first_seq: u64, to: &Path) {
        for s in self.write().sealed.iter_mut() {
            if s.first_seq == first_seq {
                s.segment = to.to_path_buf();
            }
        }
    }

    /// Forgets the index of the segment starting at `first_seq` (its decisions are past
    /// remembering and its file gone).
    pub fn drop_index(&self, first_seq: u64) {
        self.write().sealed.retain(|s| s.first_seq != first_seq);
    }

    /// The record `seq` starting at `at` in its file: the indexed segment that holds it
    /// (where it was archived to, if it was), or the file it was written to — the head, or
    /// the segment the head became.
    pub fn read_at(&self, seq: u64, at: u64) -> Result<Record, String> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        {
            let inner = self.read();
            let holding = inner
                .sealed
                .iter()
                .find(|s| s.first_seq <= seq && seq <= s.last_seq);
            candidates.extend(holding.map(|s| s.segment.clone()));
            let first = inner
                .recent
                .iter()
                .map(|(f, _)| *f)
                .filter(|f| *f <= seq)
                .max();
            candidates.extend(first.map(|f| self.layout.segment(f)));
        }
        candidates.push(self.layout.head().to_path_buf());
        let mut why = Vec::new();
        for path in candidates {
            match read_record(&path, at) {
                Ok(r) if r.seq == seq => return Ok(r),
                Ok(r) => why.push(format!(
                    "{} at byte {at} holds record {}",
                    path.display(),
                    r.seq
                )),
                Err(e) => why.push(e),
            }
        }
        Err(format!("record {seq} not found: {}", why.join("; ")))
    }

    /// Every record about `proposal_id` (of any agent), in chain order. A record still
    /// being written is not included.
    pub fn about(&self, proposal_id: &str) -> Result<Vec<Record>, AuditError> {
        let hash = id_hash(proposal_id);
        let (sealed, notes, live) = {
            let inner = self.read();
            let notes: Vec<(u64, u64)> = inner
                .recent
                .iter()
                .flat_map(|(_, n)| n.iter().filter(|(h, _, _)| *h == hash))
                .map(|&(_, seq, at)| (seq, at))
                .collect();
            (inner.sealed.clone(), notes, inner.live)
        };
        let mut out = Vec::new();
        for s in &sealed {
            for e in s.lookup(hash)? {
                if let Ok(r) = read_record(&s.segment, e.offset) {
                    out.push(r);
                }
            }
        }
        for (seq, at) in notes {
            if let Ok(r) = self.read_at(seq, at) {
                out.push(r);
            }
        }
        if !live {
            // Not written through this index: search what it does not cover.
            let indexed: Vec<u64> = sealed.iter().map(|s| s.first_seq).collect();
            let mut files: Vec<PathBuf> = self
                .layout
                .sealed()?
                .into_iter()
                .filter(|s| !indexed.contains(&s.first_seq))
                .map(|s| s.path)
                .collect();
            files.push(self.layout.head().to_path_buf());
            let needle = serde_json::to_string(proposal_id).expect("a string serialises");
            for f in files {
                super::log::for_each_line(&f, true, Some(&needle), |_, _, _, r| {
                    out.push(r);
                    Ok(())
                })?;
            }
        }
        out.retain(|r| r.subject().is_some_and(|(_, id)| id == proposal_id));
        out.sort_by_key(|r| r.seq);
        out.dedup_by_key(|r| r.seq);
        Ok(out)
    }
}

/// The record whose line starts at byte `at` of `path`.
fn read_record(path: &Path, at: u64) -> Result<Record, String> {
    let where_ = || format!("{} at byte {at}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", where_()))?;
    file.seek(SeekFrom::Start(at))
        .map_err(|e| format!("{}: {e}", where_()))?;
    let mut line = String::new();
    BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| format!("{}: {e}", where_()))?;
    if !line.ends_with('\n') {
        return Err(format!("{}: no whole record", where_()));
    }
    serde_json::from_str(&line).map_err(|e| format!("{}: not a record: {e}", where_()))
}

impl crate::engine::Recall for TrailIndex {
    fn recall(&self, seq: u64, at: u64) -> Result<Decision, String> {
        let r = self.read_at(seq, at)?;
        r.decision()
            .ok_or_else(|| format!("record {} is not a decision", r.seq))
    }

    fn find(&self, agent: &str, id: &str, before_seq: u64, now_ms: i64) -> Option<Recorded> {
        let hash = id_hash(id);
        let key = crate::contract::ProposalKey::of(agent, id).0;
        let inner = self.read();
        for s in inner.sealed.iter().rev() {
            if s.first_seq >= before_seq || !s.bloom.may_contain(hash) || s.max_forget_ms <= now_ms
            {
                continue;
            }
            let entries = match s.lookup(hash) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("audit index unreadable: {e}");
                    continue;
                }
            };
            let latest = entries
                .into_iter()
                .filter(|e| e.key == key && e.forget_ms > now_ms && e.seq < before_seq)
                .filter_map(|e| e.verdict.map(|v| (e, v)))
                .max_by_key(|(e, _)| e.seq);
            if let Some((e, verdict)) = latest {
                return Some(Recorded {
                    verdict,
                    decided_at: Timestamp::from_millis(e.decided_ms),
                    seq: e.seq,
                    at: e.offset,
                });
            }
        }
        None
    }
}

impl crate::approval::ReadBack for TrailIndex {
    fn pending(&self, seq: u64, at: u64) -> Result<(crate::contract::Proposal, Decision), String> {
        let r = self.read_at(seq, at)?;
        let (super::Event::Decision { proposal, .. } | super::Event::Carried { proposal, .. }) =
            &r.event
        else {
            return Err(format!("record {seq} is not a decision"));
        };
        let p = crate::contract::parse_proposal(proposal.get().as_bytes())
            .map_err(|e| format!("record {seq}: its proposal cannot be read: {e}"))?;
        let d = r.decision().expect("a decision record");
        Ok((p, d))
    }
}
