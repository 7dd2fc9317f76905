//! The hash chain: checking that records follow each other, from the trail's first record
//! or from a checkpoint, and what `verify` reports.

use super::log::{for_each_in_trail, io};
use super::record::{Event, Record, GENESIS};
use super::trail::Layout;
use super::AuditError;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What `verify` found in an intact chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The last record's seq (the number of records, unless retention removed the first).
    pub records: u64,
    pub last_hash: String,
    /// The first record kept: 1, or the first after segments retention removed.
    pub first_seq: u64,
}

/// Where reading a trail starts when what came before is already accounted for (a
/// checkpoint): the first record to read and the hash it must follow.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub next_seq: u64,
    pub prev: String,
}

/// Reads and checks every record of the trail whose head is `path`, across its sealed
/// segments: sequence numbers follow each other from 1, each `prev` is the previous record's
/// hash, and each hash matches its record. The first break is reported with its file and
/// line.
///
/// A trail whose oldest segments were removed by its retention setting starts later: it is
/// checked from its first record on, and is intact only if a retention record in it says
/// that the records before were removed, naming the hash the first one kept follows.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    let layout = Layout::of(path);
    let mut opening = Opening::of(&layout)?;
    for_each_in_trail(&layout, None, |file, line, _, text, r| {
        opening.link(file, line, text, &r)
    })?;
    opening.verified()
}

/// Checks the chain of what a copy of a trail holds from its first record on, taking the hash
/// that record follows as given: for a copy of the replicated trail, whose oldest messages
/// may have gone past the stream's size limit (the replicas' files, checked by [`verify`],
/// hold them). `first_seq` says where the copy starts.
pub fn verify_from_first(path: &Path) -> Result<Verified, AuditError> {
    let layout = Layout::of(path);
    let start = match first_record(&layout)? {
        Some((_, r)) => Start {
            next_seq: r.seq,
            prev: r.prev,
        },
        None => Start {
            next_seq: 1,
            prev: GENESIS.to_string(),
        },
    };
    let mut opening = Opening::after(&start);
    for_each_in_trail(&layout, None, |file, line, _, text, r| {
        opening.link(file, line, text, &r)
    })?;
    let mut v = opening.verified()?;
    v.first_seq = start.next_seq;
    Ok(v)
}

/// Checking a trail from its first record — record 1, or the first one kept after retention
/// removed segments, which some retention record must vouch for — or from a checkpoint.
pub(crate) struct Opening {
    chain: Chain,
    first: Option<(PathBuf, Record)>,
    start: Option<Start>,
    vouched: bool,
    /// Retention records naming a record this trail still holds (`through_seq`, its hash):
    /// a replica whose segments are cut at other records than the leader's keeps a few
    /// records the leader removed.
    overlapping: Vec<(u64, String)>,
    layout: Option<Layout>,
}

impl Opening {
    pub(crate) fn of(layout: &Layout) -> Result<Opening, AuditError> {
        let first = first_record(layout)?;
        let start = first
            .as_ref()
            .filter(|(_, r)| r.seq > 1)
            .map(|(_, r)| Start {
                next_seq: r.seq,
                prev: r.prev.clone(),
            });
        Ok(Opening {
            chain: Chain::from(start.as_ref()),
            vouched: start.is_none(),
            first,
            start,
            overlapping: Vec::new(),
            layout: Some(layout.clone()),
        })
    }

    /// Checking from a checkpoint on: what came before was checked when it was made.
    pub(crate) fn after(start: &Start) -> Opening {
        Opening {
            chain: Chain::from(Some(start)),
            first: None,
            start: None,
            vouched: true,
            overlapping: Vec::new(),
            layout: None,
        }
    }

    pub(crate) fn link(
        &mut self,
        file: &Path,
        line: usize,
        text: &str,
        r: &Record,
    ) -> Result<(), AuditError> {
        self.chain.link(file, line, text, r)?;
        if let (
            Event::Retention {
                through_seq,
                last_hash,
                ..
            },
            Some(s),
        ) = (&r.event, &self.start)
        {
            self.vouched |= *through_seq + 1 == s.next_seq && *last_hash == s.prev;
            if *through_seq >= s.next_seq && !self.vouched {
                self.overlapping.push((*through_seq, last_hash.clone()));
            }
        }
        Ok(())
    }

    pub(crate) fn verified(mut self) -> Result<Verified, AuditError> {
        let first_seq = self.start.as_ref().map_or(1, |s| s.next_seq);
        if !self.vouched {
            if let Some(layout) = &self.layout {
                for (seq, hash) in &self.overlapping {
                    if hash_of(layout, *seq)?.as_ref() == Some(hash) {
                        self.vouched = true;
                        break;
                    }
                }
            }
        }
        if let (false, Some((file, r))) = (self.vouched, &self.first) {
            return Err(AuditError::Broken {
                path: file.display().to_string(),
                line: 1,
                seq: r.seq,
                problem: format!(
                    "the trail starts at record {}: records 1 to {} are missing, and no retention record says they were removed",
                    r.seq,
                    r.seq - 1
                ),
            });
        }
        let mut v = self.chain.verified();
        v.first_seq = first_seq;
        Ok(v)
    }
}

/// The hash of record `seq` of a trail, read from the file that holds it on.
fn hash_of(layout: &Layout, seq: u64) -> Result<Option<String>, AuditError> {
    let mut found = None;
    let from = Start {
        next_seq: seq,
        prev: String::new(),
    };
    // Reading stops at the record: an error that is not one says so.
    let read = for_each_in_trail(layout, Some(&from), |_, _, _, _, r| {
        if r.seq == seq {
            found = Some(r.hash);
            return Err(AuditError::Unreadable {
                path: String::new(),
                line: 0,
                message: "found".into(),
            });
        }
        Ok(())
    });
    match (read, found) {
        (_, Some(hash)) => Ok(Some(hash)),
        (Ok(()), None) => Ok(None),
        (Err(e), None) => Err(e),
    }
}

/// The trail's first record, and the file it is in.
fn first_record(layout: &Layout) -> Result<Option<(PathBuf, Record)>, AuditError> {
    for file in layout.files()? {
        if let Some(r) = first_record_of(&file)? {
            return Ok(Some((file, r)));
        }
    }
    Ok(None)
}

/// The first record of one file of a trail (`None` if it is missing or empty).
pub fn first_record_of(file: &Path) -> Result<Option<Record>, AuditError> {
    let f = match File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(file)(e)),
    };
    let mut line = String::new();
    BufReader::new(f).read_line(&mut line).map_err(io(file))?;
    if line.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| AuditError::Unreadable {
            path: file.display().to_string(),
            line: 1,
            message: e.to_string(),
        })
}

/// The hash chain as far as it has been checked: records are checked one at a time, so a
/// trail of any length is verified (and restored) in the memory of one record.
pub(crate) struct Chain {
    records: u64,
    prev: String,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            records: 0,
            prev: GENESIS.to_string(),
        }
    }
}

impl Chain {
    pub(crate) fn from(start: Option<&Start>) -> Chain {
        match start {
            Some(s) => Chain {
                records: s.next_seq - 1,
                prev: s.prev.clone(),
            },
            None => Chain::default(),
        }
    }

    /// Checks that `r`, read from line number `line` whose text is `text`, follows the
    /// records checked so far.
    pub(crate) fn link(
        &mut self,
        path: &Path,
        line: usize,
        text: &str,
        r: &Record,
    ) -> Result<(), AuditError> {
        let expect_seq = self.records + 1;
        let broken = |problem: String| AuditError::Broken {
            path: path.display().to_string(),
            line,
            seq: r.seq,
            problem,
        };
        if r.seq != expect_seq {
            return Err(broken(format!(
                "expected record {expect_seq} here: a record was removed or the records were reordered"
            )));
        }
        if r.prev != self.prev {
            return Err(broken(
                "its `prev` is not the hash of the record before it: a record before it was removed, reordered or edited".into(),
            ));
        }
        if r.hash != r.expected_hash(text.strip_suffix('\n').unwrap_or(text)) {
            return Err(broken(
                "its content does not match its hash: it was edited".into(),
            ));
        }
        self.records = expect_seq;
        self.prev = r.hash.clone();
        Ok(())
    }

    pub(crate) fn verified(self) -> Verified {
        Verified {
            records: self.records,
            last_hash: self.prev,
            first_seq: 1,
        }
    }
}
