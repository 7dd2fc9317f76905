//! The audit trail: every decision is evidence.
//!
//! An append-only file of JSON lines, one record per event (a decision, a human's answer, an
//! outcome, a control action). Each record carries a sequence number, the hash of its
//! predecessor and its own hash — `sha256(prev | the line with its hash emptied)` — so editing,
//! removing or reordering any record breaks the chain at that point, and `verify` says where.
//! Decisions sent to agents carry `{seq, hash, prev}`: every agent holds anchors into the
//! chain, which also exposes a truncated tail.
//!
//! A long trail is kept in segments (`trail`), each sealed one indexed by proposal
//! (`index`), so that a proposal's story and a resend's answer are found without reading
//! the trail.

mod chain;
mod flush;
mod index;
mod log;
mod narrative;
mod payload;
mod recall;
mod record;
mod trail;

pub use chain::{first_record_of, verify, verify_from_first, Start, Verified};
pub use flush::FLUSH_EVERY;
pub use index::{Bloom, IndexEntry, SegmentIndex};
pub use log::{AuditLog, Prepared};
pub(crate) use trail::io_error;
pub use trail::{
    numbered_name, sync_dir, write_atomically, write_atomically_with, Layout, Segment,
};

/// Hands every record of a trail (every segment, then the head) to `f`, in order, one at a
/// time (a trail of any length is read in the memory of one record).
pub fn for_each(path: &std::path::Path, mut f: impl FnMut(Record)) -> Result<(), AuditError> {
    log::for_each_in_trail(&Layout::of(path), None, |_, _, _, _, r| {
        f(r);
        Ok(())
    })
}

pub use narrative::{narrative, tell};
pub use payload::Payload;
pub use recall::{IndexSize, TrailIndex};
pub use record::{Event, Record, GENESIS};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: record {seq}: {problem}")]
    Broken {
        path: String,
        line: usize,
        seq: u64,
        problem: String,
    },
    #[error("{path}:{line}: not an audit record: {message}")]
    Unreadable {
        path: String,
        line: usize,
        message: String,
    },
}
