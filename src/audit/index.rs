//! The index of a sealed segment: for every record about a proposal, where it is, and for
//! decisions what the idempotency ledger needs to answer a resend. Built once when the
//! segment is sealed (a sealed segment never changes), kept beside it as `<first seq>.idx`.
//!
//! Entries are fixed-size and sorted by the hash of the proposal id, so one proposal's
//! entries are found by binary search with a few reads; a Bloom filter over the same hashes,
//! the only part kept in memory (about 1.5 bytes per record), says for most proposals
//! without any read that a segment holds nothing about them. That is what keeps the
//! service's memory flat however many decisions it must remember, and a proposal's story a
//! matter of milliseconds however long the trail.

use super::record::{Event, Record};
use super::trail::{io_error, write_atomically, Segment};
use super::AuditError;
use crate::contract::Verdict;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"ARBIDX1\n";
const HEADER: usize = 8 + 5 * 8;
const ENTRY: usize = 64;
/// Bloom filter bits per entry: about 1% false positives with 6 bits set per key in one
/// 64-bit word.
const BITS_PER_ENTRY: usize = 12;
/// `verdict` of an entry the ledger does not answer from: not a decision, or a decision
/// never kept (`invalid`, a refused claimed identity).
const NOT_KEPT: u8 = 0xFF;

/// The hash proposals are indexed by: of the id alone, so a story is found for an id
/// whichever agent sent it.
pub fn id_hash(id: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// One record about a proposal.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    pub id_hash: u64,
    /// The ledger's key of (agent, id).
    pub key: u128,
    pub seq: u64,
    /// Where the record starts in its segment.
    pub offset: u64,
    /// For a decision the ledger keeps: its verdict, when, and until when it is remembered.
    pub verdict: Option<Verdict>,
    pub decided_ms: i64,
    pub forget_ms: i64,
}

impl IndexEntry {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend(self.id_hash.to_le_bytes());
        out.extend(self.key.to_le_bytes());
        out.extend(self.seq.to_le_bytes());
        out.extend(self.offset.to_le_bytes());
        out.extend(self.decided_ms.to_le_bytes());
        out.extend(self.forget_ms.to_le_bytes());
        let verdict = self.verdict.map_or(NOT_KEPT, |v| {
            Verdict::ALL.iter().position(|x| *x == v).expect("listed") as u8
        });
        out.push(verdict);
        out.extend([0u8; 7]);
    }

    fn read(b: &[u8]) -> IndexEntry {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        IndexEntry {
            id_hash: u64_at(0),
            key: u128::from_le_bytes(b[8..24].try_into().expect("16 bytes")),
            seq: u64_at(24),
            offset: u64_at(32),
            decided_ms: u64_at(40) as i64,
            forget_ms: u64_at(48) as i64,
            verdict: Verdict::ALL.get(usize::from(b[56])).copied(),
        }
    }

    /// What the entry for record `r`, starting at `offset`, holds.
    pub fn of(r: &Record, offset: u64) -> Option<IndexEntry> {
        let (agent, id) = r.subject()?;
        let mut e = IndexEntry {
            id_hash: id_hash(id),
            key: crate::contract::ProposalKey::of(agent, id).0,
            seq: r.seq,
            offset,
            verdict: None,
            decided_ms: 0,
            forget_ms: i64::MAX,
        };
        if let Event::Decision {
            proposal, decision, ..
        }
        | Event::Carried { proposal, decision } = &r.event
        {
            e.decided_ms = decision.decided_at.millis();
            let refused_identity = decision
                .reasons
                .iter()
                .any(|r| r.code == crate::contract::ReasonCode::SubjectMismatch);
            if decision.verdict != Verdict::Invalid && !refused_identity {
                e.verdict = Some(decision.verdict);
                // A proposal that cannot be read back is remembered for good, as the ledger
                // does.
                if let Ok(p) = crate::contract::parse_proposal(proposal.get().as_bytes()) {
                    e.forget_ms = p.expires_at.plus_millis(crate::engine::GRACE_MS).millis();
                }
            }
        }
        Some(e)
    }
}

/// A Bloom filter that sets and tests all of a key's bits in one 64-bit word: one memory
/// read per segment asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    fn sized(entries: usize) -> Bloom {
        Bloom {
            words: vec![0; (entries * BITS_PER_ENTRY).div_ceil(64).max(1)],
        }
    }

    fn spots(&self, hash: u64) -> (usize, u64) {
        // The id hash is already uniform; a second mix gives the bits within the word.
        let mut h = hash ^ (hash >> 31);
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let word = (hash % self.words.len() as u64) as usize;
        let mut mask = 0u64;
        for i in 0..6 {
            mask |= 1 << ((h >> (i * 6)) & 63);
        }
        (word, mask)
    }

    fn insert(&mut self, hash: u64) {
        let (word, mask) = self.spots(hash);
        self.words[word] |= mask;
    }

    pub fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.spots(hash);
        self.words[word] & mask == mask
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// A sealed segment's index as held in memory: its filter and where to read the rest.
#[derive(Clone, Debug)]
pub struct SegmentIndex {
    pub first_seq: u64,
    pub last_seq: u64,
    /// The segment's records (it may have been archived or removed since).
    pub segment: PathBuf,
    pub path: PathBuf,
    pub entries: u64,
    /// When the last decision it holds may be forgotten (ms since the epoch).
    pub max_forget_ms: i64,
    pub bloom: Bloom,
}

impl SegmentIndex {
    /// Reads a sealed segment and writes its index to `index`.
    pub fn build(segment: &Segment, index: &Path) -> Result<SegmentIndex, AuditError> {
        SegmentIndex::build_visiting(segment, index, None, |_, _| {})
    }

    /// [`SegmentIndex::build`] that also checks the segment's chain from `start` (the seq
    /// and hash it must continue) and hands each record to `visit` with where it starts, in
    /// the same pass: what the service does with each segment it seals. Nothing is written
    /// if the chain is broken.
    pub fn build_visiting(
        segment: &Segment,
        index: &Path,
        start: Option<&super::Start>,
        mut visit: impl FnMut(&Record, u64),
    ) -> Result<SegmentIndex, AuditError> {
        let mut entries = Vec::new();
        let mut last_seq = segment.first_seq.saturating_sub(1);
        let mut chain = start.map(|s| super::chain::Chain::from(Some(s)));
        super::log::for_each_line(&segment.path, false, None, |line, at, text, r| {
            if let Some(chain) = &mut chain {
                chain.link(&segment.path, line, text, &r)?;
            }
            last_seq = r.seq;
            entries.extend(IndexEntry::of(&r, at));
            visit(&r, at);
            Ok(())
        })?;
        SegmentIndex::from_entries(segment, index, last_seq, &mut entries)
    }

    /// Writes the index of a sealed segment whose last record is `last_seq` from the entries
    /// of its records ([`IndexEntry::of`]), gathered as they were written: nothing is read
    /// back.
    pub fn from_entries(
        segment: &Segment,
        index: &Path,
        last_seq: u64,
        entries: &mut [IndexEntry],
    ) -> Result<SegmentIndex, AuditError> {
        entries.sort_by_key(|e| (e.id_hash, e.seq));
        let mut bloom = Bloom::sized(entries.len());
        let mut max_forget_ms = i64::MIN;
        let mut bytes = Vec::with_capacity(HEADER + entries.len() * ENTRY + bloom.bytes());
        bytes.extend(MAGIC);
        for n in [
            segment.first_seq,
            last_seq,
            entries.len() as u64,
            bloom.words.len() as u64,
        ] {
            bytes.extend(n.to_le_bytes());
        }
        for e in entries.iter() {
            bloom.insert(e.id_hash);
            if e.verdict.is_some() {
                max_forget_ms = max_forget_ms.max(e.forget_ms);
            }
        }
        bytes.extend(max_forget_ms.to_le_bytes());
        for e in entries.iter() {
            e.write(&mut bytes);
        }
        for w in &bloom.words {
            bytes.extend(w.to_le_bytes());
        }
        write_atomically(index, &bytes)?;
        Ok(SegmentIndex {
            first_seq: segment.first_seq,
            last_seq,
            segment: segment.path.clone(),
            path: index.to_path_buf(),
            entries: entries.len() as u64,
            max_forget_ms,
            bloom,
        })
    }

    /// Reads an index's header and filter (not its entries).
    pub fn load(index: &Path, segment: &Path) -> Result<SegmentIndex, AuditError> {
        let file = std::fs::File::open(index).map_err(|e| io_error(index, e))?;
        let broken = |problem: &str| AuditError::Unreadable {
            path: index.display().to_string(),
            line: 0,
            message: problem.to_string(),
        };
        let mut header = [0u8; HEADER];
        file.read_exact_at(&mut header, 0)
            .map_err(|_| broken("shorter than an index header"))?;
        if &header[..8] != MAGIC {
            return Err(broken("not an audit index"));
        }
        let n = |i: usize| u64::from_le_bytes(header[8 + i * 8..16 + i * 8].try_into().unwrap());
        let (first_seq, last_seq, entries, words) = (n(0), n(1), n(2), n(3));
        let max_forget_ms = n(4) as i64;
        let len = file.metadata().map_err(|e| io_error(index, e))?.len();
        let bloom_at = HEADER as u64 + entries * ENTRY as u64;
        if len != bloom_at + words * 8 || words == 0 {
            return Err(broken("its length does not match its header"));
        }
        let mut raw = vec![0u8; words as usize * 8];
        file.read_exact_at(&mut raw, bloom_at)
            .map_err(|e| io_error(index, e))?;
        let bloom = Bloom {
            words: raw
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        };
        Ok(SegmentIndex {
            first_seq,
            last_seq,
            segment: segment.to_path_buf(),
            path: index.to_path_buf(),
            entries,
            max_forget_ms,
            bloom,
        })
    }

    /// The entries about proposal ids hashing to `id_hash`, in seq order: none without a
    /// read when the filter rules the segment out.
    pub fn lookup(&self, id_hash: u64) -> Result<Vec<IndexEntry>, AuditError> {
        if !self.bloom.may_contain(id_hash) {
            return Ok(Vec::new());
        }
        let file = std::fs::File::open(&self.path).map_err(|e| io_error(&self.path, e))?;
        let mut buf = [0u8; ENTRY];
        let mut read = |i: u64| -> Result<IndexEntry, AuditError> {
            file.read_exact_at(&mut buf, HEADER as u64 + i * ENTRY as u64)
                .map_err(|e| io_error(&self.path, e))?;
            Ok(IndexEntry::read(&buf))
        };
        // The first entry whose hash is not below the one sought.
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if read(mid)?.id_hash < id_hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < self.entries {
            let e = read(lo)?;
            if e.id_hash != id_hash {
                break;
            }
            out.push(e);
            lo += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let e = IndexEntry {
            id_hash: u64::MAX - 3,
            key: u128::MAX / 7,
            seq: 42,
            offset: 1 << 40,
            verdict: Some(Verdict::Escalated),
            decided_ms: -5,
            forget_ms: i64::MAX,
        };
        let mut b = Vec::new();
        e.write(&mut b);
        assert_eq!(b.len(), ENTRY);
        assert_eq!(IndexEntry::read(&b), e);
        let none = IndexEntry { verdict: None, ..e };
        b.clear();
        none.write(&mut b);
        assert_eq!(IndexEntry::read(&b), none);
    }

    #[test]
    fn the_filter_never_misses_and_rarely_lies() {
        let mut bloom = Bloom::sized(10_000);
        for i in 0..10_000u64 {
            bloom.insert(id_hash(&format!("p-{i}")));
        }
        assert!((0..10_000u64).all(|i| bloom.may_contain(id_hash(&format!("p-{i}")))));
        let lies = (0..100_000u64)
            .filter(|i| bloom.may_contain(id_hash(&format!("q-{i}"))))
            .count();
        assert!(lies < 3_000, "{lies} false positives in 100 000");
    }
}
